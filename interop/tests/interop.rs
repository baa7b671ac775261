//! Every interop case against an in-process interop server on 127.0.0.1, and the two
//! binaries against each other as separate processes.

use interop::client::{self, Case, Context};
use interop::server::{self, CallStats};
use rpc_core::server::ServerHandle;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::Endpoint;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Running {
    ctx: Context,
    stats: Arc<CallStats>,
    handle: ServerHandle,
    serving: tokio::task::JoinHandle<()>,
}

async fn start(soak_iterations: u32) -> Running {
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let bound = server::bind(
        "127.0.0.1:0".parse().unwrap(),
        cert.server_config().unwrap(),
    )
    .unwrap();
    let addr = bound.server.local_addr();
    let serving = tokio::spawn(bound.server.serve());
    let endpoint = Endpoint::from_addr(addr).tls_config(cert.client_config());
    let ctx = Context::connect(endpoint, soak_iterations).await.unwrap();
    Running {
        ctx,
        stats: bound.stats,
        handle: bound.handle,
        serving,
    }
}

impl Running {
    /// Waits (bounded) until the server has no call in flight, then stops it.
    async fn stop(self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while (self.stats.in_flight() > 0 || self.handle.active_calls() > 0)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(self.stats.in_flight(), 0, "handlers still running");
        assert_eq!(self.handle.active_calls(), 0, "call tasks still running");
        self.ctx.channel.close();
        self.handle.shutdown();
        tokio::time::timeout(Duration::from_secs(5), self.serving)
            .await
            .expect("server stops")
            .unwrap();
    }
}

async fn case(case: Case) {
    let running = start(3).await;
    let outcome = client::run(case, &running.ctx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.calls >= 1);
    running.stop().await;
}

macro_rules! cases {
    ($($name:ident => $case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                case(Case::$case).await;
            }
        )*
    };
}

cases! {
    empty_unary => EmptyUnary,
    large_unary => LargeUnary,
    client_streaming => ClientStreaming,
    server_streaming => ServerStreaming,
    ping_pong => PingPong,
    empty_stream => EmptyStream,
    custom_metadata => CustomMetadata,
    status_code_and_message => StatusCodeAndMessage,
    special_status_message => SpecialStatusMessage,
    unimplemented_method => UnimplementedMethod,
    unimplemented_service => UnimplementedService,
    timeout_on_sleeping_server => TimeoutOnSleepingServer,
    rpc_soak => RpcSoak,
    channel_soak => ChannelSoak,
}

/// The cancellation cases, plus: the server saw each cancelled call end without completing
/// (its handler was dropped), and no handler or call task is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_begin() {
    let running = start(0).await;
    client::run(Case::CancelAfterBegin, &running.ctx)
        .await
        .unwrap();
    wait_abandoned(&running.stats, 1).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_first_response() {
    let running = start(0).await;
    client::run(Case::CancelAfterFirstResponse, &running.ctx)
        .await
        .unwrap();
    wait_abandoned(&running.stats, 1).await;
    running.stop().await;
}

async fn wait_abandoned(stats: &CallStats, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.abandoned() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        stats.abandoned(),
        n,
        "cancelled calls the server saw end unfinished ({stats:?})"
    );
}

/// `all`, in order, on one connection: every case passes and every call ends on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_cases_in_sequence() {
    let running = start(5).await;
    let mut calls = 0;
    for case in Case::ALL {
        calls += client::run(case, &running.ctx)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .calls;
    }
    // 19 calls for the 14 single cases, plus the two soak runs.
    assert_eq!(calls, 19 + 2 * 5, "calls made");
    running.stop().await;
}

/// The binaries, as separate processes: `interop-client --test_case all` against
/// `interop-server`, with a certificate given as PEM files.
#[test]
fn binaries_run_all_cases() {
    let dir = std::env::temp_dir().join(format!("interop-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert_pem()).unwrap();
    std::fs::write(&key_path, cert.key_pem()).unwrap();

    let mut server = Command::new(env!("CARGO_BIN_EXE_interop-server"))
        .args(["--port", "0", "--tls_cert"])
        .arg(&cert_path)
        .arg("--tls_key")
        .arg(&key_path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the server whatever happens below.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let server = Kill(server);
    let first = lines.next().expect("server prints its address").unwrap();
    let addr: std::net::SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_interop-client"))
        .args(["--server_host", "127.0.0.1", "--server_port"])
        .arg(addr.port().to_string())
        .args(["--test_case", "all", "--soak_iterations", "5", "--ca_cert"])
        .arg(&cert_path)
        .output()
        .unwrap();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client failed ({:?})\n{stdout}\n{stderr}",
        out.status
    );
    let passes = stdout.lines().filter(|l| l.starts_with("PASS ")).count();
    assert_eq!(passes, Case::ALL.len(), "{stdout}");
}

/// Beyond the named cases: the other method and the other echo paths of the server.
mod extras {
    use super::*;
    use futures_util::stream;
    use interop::pb::test_service_client::TestServiceClient;
    use interop::pb::{EchoStatus, ResponseParameters, SimpleRequest, StreamingOutputCallRequest};
    use rpc_core::{Code, Request};

    fn params(sizes: &[i32], interval_us: i32) -> Vec<ResponseParameters> {
        sizes
            .iter()
            .map(|&size| ResponseParameters {
                size,
                interval_us,
                ..ResponseParameters::default()
            })
            .collect()
    }

    /// `HalfDuplexCall`: every response comes after the requests end, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn half_duplex_answers_after_the_requests() {
        let running = start(0).await;
        let client = TestServiceClient::new(running.ctx.channel.clone());
        let requests: Vec<_> = [[10, 20], [30, 40]]
            .iter()
            .map(|sizes| StreamingOutputCallRequest {
                response_parameters: params(sizes, 0),
                ..StreamingOutputCallRequest::default()
            })
            .collect();
        let mut responses = client
            .half_duplex_call(stream::iter(requests))
            .await
            .unwrap()
            .into_inner();
        let mut sizes = Vec::new();
        while let Some(r) = responses.message().await.unwrap() {
            sizes.push(r.payload.unwrap().body.len());
        }
        assert_eq!(sizes, [10, 20, 30, 40]);
        running.stop().await;
    }

    /// An error status carries the echoed trailing metadata; the responses asked for before
    /// it arrive first, spaced by `interval_us`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn error_statuses_carry_trailing_metadata_after_the_responses() {
        let running = start(0).await;
        let client = TestServiceClient::new(running.ctx.channel.clone());
        let status = EchoStatus {
            code: Code::Aborted as i32,
            message: "after two".into(),
        };
        let mut request = Request::new(StreamingOutputCallRequest {
            response_parameters: params(&[5, 6], 20_000),
            response_status: Some(status.clone()),
            ..StreamingOutputCallRequest::default()
        });
        request
            .metadata_mut()
            .insert_bin(interop::ECHO_TRAILING_KEY, &b"\x00\xff"[..])
            .unwrap();
        let started = Instant::now();
        let mut responses = client
            .streaming_output_call(request)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            responses
                .message()
                .await
                .unwrap()
                .unwrap()
                .payload
                .unwrap()
                .body
                .len(),
            5
        );
        assert_eq!(
            responses
                .message()
                .await
                .unwrap()
                .unwrap()
                .payload
                .unwrap()
                .body
                .len(),
            6
        );
        let err = responses.message().await.unwrap_err();
        assert!(
            started.elapsed() >= Duration::from_millis(40),
            "intervals ignored"
        );
        assert_eq!((err.code(), err.message()), (Code::Aborted, "after two"));
        assert_eq!(
            err.metadata()
                .get_bin(interop::ECHO_TRAILING_KEY)
                .map(|b| &b[..]),
            Some(&b"\x00\xff"[..])
        );

        let mut request = Request::new(SimpleRequest {
            response_status: Some(status),
            ..SimpleRequest::default()
        });
        request
            .metadata_mut()
            .insert_bin(interop::ECHO_TRAILING_KEY, &b"\x01"[..])
            .unwrap();
        let err = client.unary_call(request).await.unwrap_err();
        assert_eq!(err.code(), Code::Aborted);
        assert_eq!(
            err.metadata()
                .get_bin(interop::ECHO_TRAILING_KEY)
                .map(|b| &b[..]),
            Some(&b"\x01"[..])
        );
        running.stop().await;
    }

    /// A negative size is refused with `INVALID_ARGUMENT`; the call and connection stay sane.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn negative_sizes_are_invalid_arguments() {
        let running = start(0).await;
        let client = TestServiceClient::new(running.ctx.channel.clone());
        let err = client
            .unary_call(SimpleRequest {
                response_size: -1,
                ..SimpleRequest::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        client.empty_call(interop::pb::Empty {}).await.unwrap();
        running.stop().await;
    }

    /// 32 `large_unary` calls at once on one connection (about 19 MB in flight, more than the
    /// connection's 16 MiB window): all complete.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_large_unary_calls_complete() {
        let running = start(0).await;
        let client = TestServiceClient::new(running.ctx.channel.clone());
        let calls = (0..32).map(|_| {
            let client = client.clone();
            tokio::spawn(async move { interop::client::large_unary(&client).await })
        });
        let results = tokio::time::timeout(
            Duration::from_secs(30),
            futures_util::future::join_all(calls),
        )
        .await
        .expect("32 concurrent calls finish");
        for r in results {
            r.unwrap().unwrap();
        }
        assert_eq!(running.stats.completed(), 32);
        running.stop().await;
    }

    /// Dropping a response stream while the server is blocked on flow control (10 MB asked,
    /// 1 MiB stream window) ends the call on the server: its handler is dropped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_a_blocked_response_stream_ends_the_server_call() {
        let running = start(0).await;
        let client = TestServiceClient::new(running.ctx.channel.clone());
        let request = StreamingOutputCallRequest {
            response_parameters: params(&[100_000; 100], 0),
            ..StreamingOutputCallRequest::default()
        };
        let mut responses = client
            .streaming_output_call(request)
            .await
            .unwrap()
            .into_inner();
        responses.message().await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(responses);
        wait_abandoned(&running.stats, 1).await;
        running.stop().await;
    }

    /// A response of exactly the default 4 MiB limit passes; one byte more is
    /// `RESOURCE_EXHAUSTED` at the client, and the connection keeps working.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn message_size_limit_is_exact() {
        use prost::Message;
        let running = start(0).await;
        let client = TestServiceClient::new(running.ctx.channel.clone());
        let limit = rpc_core::DEFAULT_MAX_MESSAGE_SIZE;
        // SimpleResponse { payload: { body: n bytes } } encodes to n + 10 bytes near 4 MiB.
        let n = (limit - 10) as i32;
        let reply = client
            .unary_call(SimpleRequest {
                response_size: n,
                ..SimpleRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.encoded_len(), limit);
        let err = client
            .unary_call(SimpleRequest {
                response_size: n + 1,
                ..SimpleRequest::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        client.empty_call(interop::pb::Empty {}).await.unwrap();
        running.stop().await;
    }

    /// Header blocks over the 16 KiB default limit, both ways, end the call with
    /// `RESOURCE_EXHAUSTED` (no hang), and the connection keeps working.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn oversize_header_blocks_are_resource_exhausted() {
        let running = start(0).await;
        let client = TestServiceClient::new(running.ctx.channel.clone());
        let big = "x".repeat(rpc_core::DEFAULT_MAX_HEADER_LIST_SIZE + 1);
        // Request metadata over the server's limit.
        let mut request = Request::new(SimpleRequest::default());
        request.metadata_mut().insert("x-big", &big).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), client.unary_call(request))
            .await
            .expect("no hang")
            .unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        // A status message over the client's limit.
        let request = SimpleRequest {
            response_status: Some(EchoStatus {
                code: Code::Aborted as i32,
                message: big.clone(),
            }),
            ..SimpleRequest::default()
        };
        let err = tokio::time::timeout(Duration::from_secs(10), client.unary_call(request))
            .await
            .expect("no hang")
            .unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        client.empty_call(interop::pb::Empty {}).await.unwrap();
        running.stop().await;
    }

    /// A deadline that passes mid-stream: the responses before it arrive, then
    /// `DEADLINE_EXCEEDED`, and the server drops the handler.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deadline_mid_stream() {
        let running = start(0).await;
        let client = TestServiceClient::new(running.ctx.channel.clone());
        let mut request = Request::new(StreamingOutputCallRequest {
            response_parameters: params(&[1; 20], 50_000),
            ..StreamingOutputCallRequest::default()
        });
        request.set_timeout(Duration::from_millis(220));
        let started = Instant::now();
        let mut responses = client
            .streaming_output_call(request)
            .await
            .unwrap()
            .into_inner();
        let mut got = 0;
        let err = loop {
            match responses.message().await {
                Ok(Some(_)) => got += 1,
                Ok(None) => panic!("stream ended OK after {got} responses"),
                Err(s) => break s,
            }
        };
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
        assert!(
            (1..=5).contains(&got),
            "{got} responses before the deadline"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        wait_abandoned(&running.stats, 1).await;
        running.stop().await;
    }
}
