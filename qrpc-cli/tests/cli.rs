//! Runs the `qrpc` binary against in-process servers of a small test service
//! (tests/protos/qrpctest/echo.proto) with and without reflection.

use futures_util::{stream, Stream, StreamExt};
use rpc_core::tls::dev::{DevCa, SelfSigned};
use rpc_core::{Code, Request, Response, Server, Status, Streaming};
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod pb {
    rpc_core::include_proto!("qrpctest");

    pub const FILE_DESCRIPTOR_SET: &[u8] = rpc_reflection::include_file_descriptor_set!("qrpctest");
}

use pb::echo_server::{Echo, EchoServer};
use pb::{EchoReply, EchoRequest};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

struct TestEcho;

fn reply(request: &EchoRequest, header: String, index: u32) -> EchoReply {
    EchoReply {
        message: request.message.clone(),
        big: request.big,
        mood: request.mood,
        index,
        header,
    }
}

fn check(request: &EchoRequest) -> Result<(), Status> {
    match request.fail_code {
        0 => Ok(()),
        code => Err(Status::new(Code::from_u32(code), "failing as asked")),
    }
}

impl Echo for TestEcho {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let key = &request.get_ref().echo_header;
        let header = match key.ends_with("-bin") {
            // Binary values come back as hex, to show the bytes the server got.
            true => request
                .metadata()
                .get_bin(key)
                .map_or_else(String::new, |b| {
                    b.iter().map(|byte| format!("{byte:02x}")).collect()
                }),
            false => request.metadata().get(key).unwrap_or_default().to_owned(),
        };
        let request = request.into_inner();
        check(&request)?;
        if request.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(request.sleep_ms.into())).await;
        }
        let mut response = Response::new(reply(&request, header, 0));
        response
            .metadata_mut()
            .insert("x-served-by", "qrpc-test")
            .unwrap();
        response.trailers_mut().insert("x-trailer", "done").unwrap();
        response
            .trailers_mut()
            .insert_bin("x-trailer-bin", vec![0u8, 1, 0xfe, 0xff])
            .unwrap();
        Ok(response)
    }

    type ServerStreamStream = BoxStream<EchoReply>;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<Self::ServerStreamStream>, Status> {
        let request = request.into_inner();
        check(&request)?;
        let replies: Vec<_> = (0..request.repeat)
            .map(|i| Ok(reply(&request, String::new(), i)))
            .collect();
        Ok(Response::new(Box::pin(stream::iter(replies))))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut requests = request.into_inner();
        let (mut messages, mut count, mut big) = (Vec::new(), 0, 0);
        while let Some(request) = requests.message().await? {
            check(&request)?;
            messages.push(request.message);
            count += 1;
            big += request.big;
        }
        Ok(Response::new(EchoReply {
            message: messages.join(","),
            big,
            index: count,
            ..EchoReply::default()
        }))
    }

    type BidiStream = BoxStream<EchoReply>;

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Self::BidiStream>, Status> {
        let mut index = 0;
        let replies = request.into_inner().map(move |request| {
            let request = request?;
            check(&request)?;
            index += 1;
            Ok(reply(&request, String::new(), index))
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

struct Servers {
    /// Echo and reflection.
    reflecting: u16,
    /// Echo only.
    bare: u16,
    cert: SelfSigned,
}

/// The servers, started once on a runtime of their own.
fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        // The certificate `--insecure-dev` trusts.
        let cert = SelfSigned::loopback().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let server_cert = cert.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let reflection = rpc_reflection::Builder::configure()
                    .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                    .build_v1()
                    .unwrap();
                let reflecting = Server::builder()
                    .tls_config(server_cert.server_config().unwrap())
                    .add_service(EchoServer::new(TestEcho))
                    .add_service(reflection)
                    .bind("127.0.0.1:0".parse().unwrap())
                    .unwrap();
                let bare = Server::builder()
                    .tls_config(server_cert.server_config().unwrap())
                    .add_service(EchoServer::new(TestEcho))
                    .bind("127.0.0.1:0".parse().unwrap())
                    .unwrap();
                tx.send((reflecting.local_addr().port(), bare.local_addr().port()))
                    .unwrap();
                let _ = tokio::join!(reflecting.serve(), bare.serve());
            });
        });
        let (reflecting, bare) = rx.recv().unwrap();
        Servers {
            reflecting,
            bare,
            cert,
        }
    })
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> String {
        assert_eq!(self.code, 0, "qrpc failed: {}", self.stderr);
        self.stdout
    }

    fn fails(self, code: i32, expected: &[&str]) -> String {
        eprintln!("--- exit {}:\n{}", self.code, self.stderr);
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        for text in expected {
            assert!(
                self.stderr.contains(text),
                "{text:?} not in stderr: {}",
                self.stderr
            );
        }
        self.stderr
    }

    fn json(self) -> serde_json::Value {
        serde_json::from_str(&self.ok()).unwrap()
    }
}

/// Runs qrpc with `args`, writing `stdin` to its standard input.
fn qrpc_with_stdin(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qrpc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn qrpc(args: &[&str]) -> Run {
    qrpc_with_stdin(args, "")
}

/// `--addr localhost:PORT --insecure-dev` for the reflecting server, then `args`.
fn at_server(args: &[&str]) -> Run {
    at_server_with_stdin(args, "")
}

fn at_server_with_stdin(args: &[&str], stdin: &str) -> Run {
    let addr = format!("localhost:{}", servers().reflecting);
    let mut all = vec!["--addr", &addr, "--insecure-dev"];
    all.extend_from_slice(args);
    qrpc_with_stdin(&all, stdin)
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn list_services_and_methods() {
    assert_eq!(
        lines(&at_server(&["list"]).ok()),
        ["grpc.reflection.v1.ServerReflection", "qrpctest.Echo"]
    );
    assert_eq!(
        lines(&at_server(&["list", "qrpctest.Echo"]).ok()),
        [
            "qrpctest.Echo.Unary",
            "qrpctest.Echo.ServerStream",
            "qrpctest.Echo.ClientStream",
            "qrpctest.Echo.Bidi"
        ]
    );
    at_server(&["list", "qrpctest.Nope"]).fails(1, &["does not know the symbol", "qrpc list"]);
}

#[test]
fn describe_service_method_message_and_enum() {
    let service = at_server(&["describe", "qrpctest.Echo"]).ok();
    assert!(
        service.starts_with("qrpctest.Echo is a service:\nservice Echo {\n"),
        "{service}"
    );
    assert!(
        service.contains(
            "  rpc Bidi ( stream .qrpctest.EchoRequest ) returns ( stream .qrpctest.EchoReply );"
        ),
        "{service}"
    );
    let method = at_server(&["describe", "qrpctest.Echo/ServerStream"]).ok();
    assert_eq!(
        method,
        "qrpctest.Echo.ServerStream is a method:\n\
         // Echoes the request `repeat` times.\n\
         rpc ServerStream ( .qrpctest.EchoRequest ) returns ( stream .qrpctest.EchoReply );\n"
    );
    // Options, and comments at every level, when the descriptors have them.
    let method = at_server(&["describe", "qrpctest.Echo.Unary"]).ok();
    assert_eq!(
        method,
        "qrpctest.Echo.Unary is a method:\n\
         // Echoes the request once.\n\
         rpc Unary ( .qrpctest.EchoRequest ) returns ( .qrpctest.EchoReply ) {\n  \
         option idempotency_level = NO_SIDE_EFFECTS;\n}\n"
    );
    assert!(
        service.contains("  // Joins the messages of every request.\n  rpc ClientStream"),
        "{service}"
    );
    let message = at_server(&["describe", "qrpctest.EchoRequest"]).ok();
    for line in [
        "qrpctest.EchoRequest is a message:",
        "message EchoRequest {",
        "  string message = 1;",
        "  int64 big = 2;",
        "  .qrpctest.Mood mood = 3;",
        "  // Fail the call with this status code, if not 0.",
        "  repeated string tags = 7 [deprecated = true];",
        "  map<string, int32> counts = 8;",
        "}",
    ] {
        assert!(
            lines(&message).contains(&line),
            "{line:?} not in:\n{message}"
        );
    }
    let enumeration = at_server(&["describe", "qrpctest.Mood"]).ok();
    assert!(
        enumeration.contains(
            "enum Mood {\n  MOOD_UNSPECIFIED = 0;\n  HAPPY = 1;\n  GRUMPY = 2 [deprecated = true];"
        ),
        "{enumeration}"
    );
    at_server(&["describe", "qrpctest.Nothing"]).fails(1, &["does not know the symbol"]);
}

#[test]
fn unary_call_with_json_mapping() {
    let reply = at_server(&[
        "call",
        "qrpctest.Echo/Unary",
        "-d",
        r#"{"message": "hi", "big": "12345678901234567", "mood": "HAPPY"}"#,
    ])
    .json();
    // int64 as a string, the enum by name, default fields left out.
    assert_eq!(
        reply,
        serde_json::json!({"message": "hi", "big": "12345678901234567", "mood": "HAPPY"})
    );
    // The dotted method form, --emit-defaults and --compact.
    let out = at_server(&[
        "call",
        "qrpctest.Echo.Unary",
        "--emit-defaults",
        "--compact",
        "-d",
        r#"{"big": 7}"#,
    ])
    .ok();
    assert_eq!(
        out,
        "{\"message\":\"\",\"big\":\"7\",\"mood\":\"MOOD_UNSPECIFIED\",\"index\":0,\"header\":\"\"}\n"
    );
}

#[test]
fn server_streaming_prints_one_json_per_message() {
    let out = at_server(&[
        "call",
        "qrpctest.Echo/ServerStream",
        "--compact",
        "-d",
        r#"{"message": "m", "repeat": 3}"#,
    ])
    .ok();
    assert_eq!(
        lines(&out),
        [
            r#"{"message":"m"}"#,
            r#"{"message":"m","index":1}"#,
            r#"{"message":"m","index":2}"#
        ]
    );
    // Pretty by default: three objects, each over several lines.
    let pretty = at_server(&[
        "call",
        "qrpctest.Echo/ServerStream",
        "-d",
        r#"{"repeat": 2}"#,
    ])
    .ok();
    let values: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&pretty)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(values.len(), 2, "{pretty}");
    assert!(pretty.contains("{\n  \"index\": 1\n}"), "{pretty}");
}

#[test]
fn client_streaming_from_stdin_and_from_data() {
    let stdin = "{\"message\": \"a\", \"big\": 1}\n{\"message\": \"b\", \"big\": \"2\"} {\"message\": \"c\"}\n";
    let reply =
        at_server_with_stdin(&["call", "qrpctest.Echo/ClientStream", "-d", "@"], stdin).json();
    assert_eq!(
        reply,
        serde_json::json!({"message": "a,b,c", "big": "3", "index": 3})
    );
    let reply = at_server(&[
        "call",
        "qrpctest.Echo/ClientStream",
        "-d",
        r#"{"message": "x"}{"message": "y"}"#,
    ])
    .json();
    assert_eq!(reply, serde_json::json!({"message": "x,y", "index": 2}));
    // No -d: no request at all.
    let reply = at_server(&["call", "qrpctest.Echo/ClientStream"]).json();
    assert_eq!(reply, serde_json::json!({}));
}

#[test]
fn bidi_from_stdin() {
    let out = at_server_with_stdin(
        &["call", "qrpctest.Echo/Bidi", "--compact", "-d", "@"],
        "{\"message\": \"one\"}\n{\"message\": \"two\", \"mood\": \"GRUMPY\"}\n",
    )
    .ok();
    assert_eq!(
        lines(&out),
        [
            r#"{"message":"one","index":1}"#,
            r#"{"message":"two","mood":"GRUMPY","index":2}"#
        ]
    );
}

#[test]
fn headers_reach_the_server_and_verbose_shows_the_response_metadata() {
    let run = at_server(&[
        "call",
        "qrpctest.Echo/Unary",
        "-H",
        "X-Token: s3cret",
        "-H",
        "other: 1",
        "-v",
        "-d",
        r#"{"echoHeader": "x-token"}"#,
    ]);
    let stderr = run.stderr.clone();
    assert_eq!(run.json(), serde_json::json!({"header": "s3cret"}));
    for text in [
        "Response headers received:\nx-served-by: qrpc-test\n",
        "Response trailers received:\nx-trailer: done\n",
        "Status: OK",
        "Sent 1 request and received 1 response",
    ] {
        assert!(stderr.contains(text), "{text:?} not in:\n{stderr}");
    }
    at_server(&["call", "qrpctest.Echo/Unary", "-H", "no-colon"]).fails(1, &["key: value"]);
}

#[test]
fn binary_metadata_is_base64_both_ways() {
    // Padded standard base64 and unpadded URL-safe base64 are both taken, as grpcurl does.
    for value in ["AAH+/w==", "AAH-_w"] {
        let run = at_server(&[
            "call",
            "qrpctest.Echo/Unary",
            "-H",
            &format!("x-data-bin: {value}"),
            "-v",
            "-d",
            r#"{"echoHeader": "x-data-bin"}"#,
        ]);
        let stderr = run.stderr.clone();
        assert_eq!(run.json(), serde_json::json!({"header": "0001feff"}));
        assert!(stderr.contains("x-trailer-bin: AAH+/w==\n"), "{stderr}");
    }
    at_server(&[
        "call",
        "qrpctest.Echo/Unary",
        "-H",
        "x-data-bin: not base64!",
    ])
    .fails(
        1,
        &[
            "x-data-bin: not base64!",
            "the value of a -bin key is base64",
        ],
    );
}

#[test]
fn proto_files_instead_of_reflection() {
    let addr = format!("localhost:{}", servers().bare);
    let proto = [
        "--proto",
        "tests/protos/qrpctest/echo.proto",
        "-I",
        "tests/protos",
    ];
    let mut args = vec!["--addr", &addr, "--insecure-dev"];
    args.extend_from_slice(&proto);
    args.extend_from_slice(&["call", "qrpctest.Echo/Unary", "-d", r#"{"message": "p"}"#]);
    assert_eq!(qrpc(&args).json(), serde_json::json!({"message": "p"}));
    // list and describe need no server then; the folder of the file is the default import path.
    assert_eq!(
        lines(&qrpc(&["--proto", "tests/protos/qrpctest/echo.proto", "list"]).ok()),
        ["qrpctest.Echo"]
    );
    let described = qrpc(&[&proto[..], &["describe", "qrpctest.EchoReply"]].concat()).ok();
    assert!(described.contains("message EchoReply {"), "{described}");
}

#[test]
fn server_without_reflection_says_to_pass_proto() {
    let addr = format!("localhost:{}", servers().bare);
    qrpc(&["--addr", &addr, "--insecure-dev", "list"])
        .fails(1, &["does not serve reflection", "--proto"]);
    qrpc(&[
        "--addr",
        &addr,
        "--insecure-dev",
        "call",
        "qrpctest.Echo/Unary",
    ])
    .fails(1, &["does not serve reflection", "--proto"]);
}

#[test]
fn unknown_service_or_method() {
    at_server(&["call", "qrpctest.Nope/Unary"])
        .fails(1, &["unknown service \"qrpctest.Nope\"", "qrpc list"]);
    at_server(&["call", "qrpctest.Echo/Nope"]).fails(
        1,
        &[
            "has no method \"Nope\"",
            "Unary, ServerStream",
            "qrpc list qrpctest.Echo",
        ],
    );
    at_server(&["call", "Unary"]).fails(1, &["not a method name"]);
}

#[test]
fn json_that_does_not_match_the_message() {
    at_server(&["call", "qrpctest.Echo/Unary", "-d", r#"{"mesage": "typo"}"#]).fails(
        1,
        &[
            "does not match qrpctest.EchoRequest",
            "unrecognized field name 'mesage'",
        ],
    );
    at_server(&["call", "qrpctest.Echo/Unary", "-d", r#"{"repeat": "many"}"#])
        .fails(1, &["does not match qrpctest.EchoRequest: field `repeat`"]);
    at_server(&["call", "qrpctest.Echo/Unary", "-d", r#"{"message": "#])
        .fails(1, &["invalid JSON"]);
    at_server(&["call", "qrpctest.Echo/Unary", "-d", "{} {}"])
        .fails(1, &["exactly one request message, got 2"]);
    // A bad message in the middle of a stream ends the call.
    at_server_with_stdin(
        &["call", "qrpctest.Echo/Bidi", "-d", "@"],
        "{\"message\": \"ok\"}\n{\"mood\": \"SLEEPY\"}\n",
    )
    .fails(1, &["request 2 does not match"]);
}

#[test]
fn failed_calls_print_the_status_and_exit_64_plus_its_code() {
    let stderr =
        at_server(&["call", "qrpctest.Echo/Unary", "-d", r#"{"failCode": 5}"#]).fails(69, &[]);
    assert_eq!(
        stderr,
        "ERROR:\n  Code: NotFound\n  Message: failing as asked\n"
    );
    at_server(&[
        "call",
        "qrpctest.Echo/ServerStream",
        "-d",
        r#"{"failCode": 7}"#,
    ])
    .fails(71, &["Code: PermissionDenied"]);
    at_server(&[
        "call",
        "qrpctest.Echo/Unary",
        "--deadline",
        "200ms",
        "-d",
        r#"{"sleepMs": 3000}"#,
    ])
    .fails(68, &["Code: DeadlineExceeded"]);
}

#[test]
fn unreachable_address_fails_within_the_connect_timeout() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let start = Instant::now();
    qrpc(&[
        "--addr",
        &addr,
        "--insecure-dev",
        "--connect-timeout",
        "300ms",
        "list",
    ])
    .fails(1, &["failed to connect to 127.0.0.1:", "--connect-timeout"]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn proto_syntax_error_has_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("qrpc-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bad.proto"),
        "syntax = \"proto3\";\n\nmessage Bad {\n  int32 x = ;\n}\n",
    )
    .unwrap();
    let path = dir.join("bad.proto");
    qrpc(&["--proto", path.to_str().unwrap(), "list"]).fails(1, &["bad.proto:4:"]);
    qrpc(&["--proto", "no/such.proto", "list"]).fails(1, &["such.proto"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cacert_and_servername() {
    let servers = servers();
    let dir = std::env::temp_dir().join(format!("qrpc-cacert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca: PathBuf = dir.join("ca.pem");
    std::fs::write(&ca, servers.cert.cert_pem()).unwrap();
    let addr = format!("127.0.0.1:{}", servers.reflecting);
    let ca = ca.to_str().unwrap();
    let out = qrpc(&[
        "--addr",
        &addr,
        "--cacert",
        ca,
        "--servername",
        "localhost",
        "list",
    ])
    .ok();
    assert!(out.contains("qrpctest.Echo"), "{out}");
    // A name the certificate does not have.
    qrpc(&[
        "--addr",
        &addr,
        "--cacert",
        ca,
        "--servername",
        "example.com",
        "list",
    ])
    .fails(1, &["failed to connect"]);
    // Without a CA that trusts it.
    qrpc(&["--addr", &addr, "--connect-timeout", "1s", "list"]).fails(
        1,
        &[
            "failed to connect",
            "hint: pass the server's CA with --cacert",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_errors_exit_1_and_help_has_examples() {
    qrpc(&["list"]).fails(1, &["--addr is required"]);
    qrpc(&["frobnicate"]).fails(1, &[]);
    let help = qrpc(&["--help"]).ok();
    for text in ["Examples", "qrpc --addr", "Exit codes", "64 +", "call"] {
        assert!(help.contains(text), "{text:?} not in help:\n{help}");
    }
}

#[test]
fn bidi_answers_each_stdin_message_as_it_comes() {
    use std::io::{BufRead, BufReader};
    let addr = format!("localhost:{}", servers().reflecting);
    let mut child = Command::new(env!("CARGO_BIN_EXE_qrpc"))
        .args([
            "--addr",
            &addr,
            "--insecure-dev",
            "call",
            "qrpctest.Echo/Bidi",
        ])
        .args(["--compact", "-d", "@"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let timeout = Duration::from_secs(5);
    // The first reply comes while stdin is still open.
    input.write_all(b"{\"message\": \"first\"}\n").unwrap();
    input.flush().unwrap();
    assert_eq!(
        rx.recv_timeout(timeout).unwrap(),
        r#"{"message":"first","index":1}"#
    );
    input.write_all(b"{\"message\": \"second\"}").unwrap();
    drop(input);
    assert_eq!(
        rx.recv_timeout(timeout).unwrap(),
        r#"{"message":"second","index":2}"#
    );
    assert!(child.wait().unwrap().success());
}

#[test]
fn completions_for_each_shell() {
    let bash = qrpc(&["completions", "bash"]).ok();
    assert!(bash.contains("_qrpc()"), "{bash}");
    for verb in ["list", "describe", "call", "--insecure-dev"] {
        assert!(bash.contains(verb), "{verb} not completed:\n{bash}");
    }
    let zsh = qrpc(&["completions", "zsh"]).ok();
    assert!(zsh.starts_with("#compdef qrpc"), "{zsh}");
    qrpc(&["completions", "tcsh"]).fails(1, &["invalid value 'tcsh'"]);
}

/// A server that requires client certificates, on a runtime of its own.
fn mtls_server(ca: &DevCa) -> u16 {
    let server_tls = rpc_core::tls::ServerTlsConfig::new(
        ca.issue("server", &["localhost", "127.0.0.1"])
            .unwrap()
            .identity()
            .unwrap(),
    )
    .client_ca_root(ca.certificate());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let reflection = rpc_reflection::Builder::configure()
                .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                .build_v1()
                .unwrap();
            let server = Server::builder()
                .tls_config(server_tls)
                .add_service(reflection)
                .bind("127.0.0.1:0".parse().unwrap())
                .unwrap();
            tx.send(server.local_addr().port()).unwrap();
            let _ = server.serve().await;
        });
    });
    rx.recv().unwrap()
}

#[test]
fn cert_and_key_present_a_client_certificate() {
    let ca = DevCa::generate("qrpc test ca").unwrap();
    let addr = format!("127.0.0.1:{}", mtls_server(&ca));
    let dir = std::env::temp_dir().join(format!("qrpc-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let client = ca.issue("qrpc", &["spiffe://example.org/qrpc"]).unwrap();
    let path = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (ca_pem, cert, key) = (
        path("ca.pem", ca.cert_pem()),
        path("client.pem", client.cert_pem()),
        path("client.key", client.key_pem()),
    );
    let base = ["--addr", &addr, "--cacert", &ca_pem];
    let with_cert = [&base[..], &["--cert", &cert, "--key", &key, "list"]].concat();
    let out = qrpc(&with_cert).ok();
    assert!(out.contains("grpc.reflection.v1.ServerReflection"), "{out}");
    qrpc(&[&base[..], &["list"]].concat()).fails(1, &["requires a client certificate"]);
    qrpc(&[&base[..], &["--cert", &cert, "list"]].concat()).fails(1, &["--key"]);
    let _ = std::fs::remove_dir_all(&dir);
}
