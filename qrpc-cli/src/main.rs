//! `qrpc`: a grpcurl-like command line client for rpc-core servers (gRPC over QUIC).
//!
//! Lists services, describes symbols and calls methods with JSON in and out, using the
//! server's reflection service (`grpc.reflection.v1`) or `.proto` files compiled on the fly.
//! Run `qrpc --help` for the flags and examples.

mod bench;
mod codec;
mod describe;
mod source;
mod template;

use clap::{Parser, Subcommand};
use codec::DynamicCodec;
use futures_util::{stream, Stream, StreamExt};
use prost_reflect::{DynamicMessage, MessageDescriptor, MethodDescriptor, SerializeOptions};
use rpc_core::metadata::{MetadataMap, MetadataValue};
use rpc_core::tls::{Certificate, ClientTlsConfig, Identity};
use rpc_core::{Channel, Endpoint, Request, Status};
use source::Source;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Exit code of usage, connection, descriptor and input errors.
const FAILURE: u8 = 1;
/// A failed call exits with this plus its status code (`NOT_FOUND` = 5: 69).
const STATUS_BASE: u8 = 64;

const EXAMPLES: &str = "\
Examples (the route_guide example server: `cargo run -p examples --bin route_guide -- server`):
  qrpc --addr localhost:10000 --insecure-dev list
  qrpc --addr localhost:10000 --insecure-dev list routeguide.RouteGuide
  qrpc --addr localhost:10000 --insecure-dev describe routeguide.RouteGuide.GetFeature
  qrpc --addr localhost:10000 --insecure-dev describe routeguide.Point
  qrpc --addr localhost:10000 --insecure-dev call routeguide.RouteGuide/GetFeature \\
       -d '{\"latitude\": 409146138, \"longitude\": -746188906}'
  echo '{\"latitude\": 1} {\"latitude\": 2}' | \\
       qrpc --addr localhost:10000 --insecure-dev call routeguide.RouteGuide/RecordRoute -d @
  qrpc --proto proto/route_guide.proto -I proto describe routeguide.Feature
  qrpc --addr localhost:10000 --insecure-dev --proto route_guide.proto -I proto \\
       -H 'authorization: Bearer t0k3n' --deadline 2s call -v routeguide.RouteGuide.GetFeature
  qrpc --addr localhost:10000 --insecure-dev bench routeguide.RouteGuide/GetFeature \\
       -d '{\"latitude\": {{randomInt 0 1000}}}' -c 16 -z 10s --html report.html

Descriptors come from the server's reflection service (grpc.reflection.v1), or, with
--proto, from .proto files compiled on the fly (then list and describe need no --addr).

JSON follows the protobuf JSON mapping: lowerCamelCase or proto field names, 64-bit
integers as strings, enums by name, well-known types in their JSON forms. Responses
are printed on stdout, pretty (or one per line with --compact), one per message.

Exit codes: 0 success; 1 usage, connection, descriptor or input error; for a call
that failed, 64 + its gRPC status code (e.g. 69 NOT_FOUND, 68 DEADLINE_EXCEEDED,
76 UNIMPLEMENTED, 78 UNAVAILABLE).";

/// A grpcurl-like client for rpc-core servers (gRPC over QUIC).
#[derive(Parser, Debug)]
#[command(name = "qrpc", version, after_help = EXAMPLES)]
struct Cli {
    /// The server address, host:port.
    #[arg(short, long, global = true, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// Take descriptors from this .proto file instead of server reflection (repeatable).
    #[arg(long, global = true, value_name = "FILE")]
    proto: Vec<PathBuf>,
    /// Where --proto files and their imports are looked up (repeatable; default: each
    /// --proto file's folder).
    #[arg(short = 'I', long, global = true, value_name = "DIR")]
    import_path: Vec<PathBuf>,
    /// Request metadata, `key: value` (repeatable); sent on reflection calls too.
    #[arg(short = 'H', long = "header", global = true, value_name = "KEY: VALUE")]
    headers: Vec<String>,
    /// Trust rpc-core's development certificate (the one `tls::dev::SelfSigned::loopback`
    /// keeps in $TMPDIR/rpc-core-dev/), and nothing else. Not for production.
    #[arg(long, global = true)]
    insecure_dev: bool,
    /// Trust the CA certificate(s) in this PEM file instead of the Mozilla roots.
    #[arg(long, global = true, value_name = "PATH")]
    cacert: Option<PathBuf>,
    /// The name to verify in the server's certificate (default: the host of --addr).
    #[arg(long, global = true, value_name = "NAME")]
    servername: Option<String>,
    /// A client certificate chain (PEM) to present to servers that ask for one (mutual
    /// TLS); with --key.
    #[arg(long, global = true, value_name = "PATH", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, global = true, value_name = "PATH", requires = "cert")]
    key: Option<PathBuf>,
    /// How long connecting may take (e.g. 500ms, 5s, 1m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "5s",
          value_parser = parse_duration)]
    connect_timeout: Duration,
    /// The deadline of the call (and of each reflection call), e.g. 500ms, 5s, 1m.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    deadline: Option<Duration>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Lists the services, or the methods of SERVICE.
    List {
        /// A service, fully qualified (package.Service).
        service: Option<String>,
    },
    /// Describes a service, method, message, enum or field, as .proto text.
    Describe {
        /// The symbol, fully qualified (package.Service, package.Service.Method,
        /// package.Message, package.Message.field).
        symbol: String,
    },
    /// Calls a method (any of the four kinds) with JSON requests; prints JSON responses.
    Call {
        /// The method: package.Service/Method (or package.Service.Method).
        method: String,
        /// The request(s) as JSON. Streaming requests take several objects (concatenated or
        /// one per line); `@` reads them from stdin as they come. Without -d: one empty
        /// request (unary and server streaming) or none (client streaming and bidi).
        #[arg(short, long, value_name = "JSON|@")]
        data: Option<String>,
        /// Print fields that have their default value too.
        #[arg(long)]
        emit_defaults: bool,
        /// One line per response instead of pretty JSON.
        #[arg(long)]
        compact: bool,
        /// Print the response headers, trailers and status (on stderr).
        #[arg(short, long)]
        verbose: bool,
    },
    /// Load-tests a method (like ghz): calls in flight or per second, latency histogram,
    /// errors by status, CPU per call; a table, JSON, SVG or HTML report.
    Bench(bench::BenchArgs),
    /// Prints a shell completion script, e.g. `qrpc completions bash > ~/.local/share/bash-completion/completions/qrpc`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// `1.5s`, `500ms`, `2m`, or a number of seconds; not zero.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let duration = rpc_bench::cli::parse_duration(s)?;
    if duration.is_zero() {
        return Err(format!("invalid duration {s:?}: must be positive"));
    }
    Ok(duration)
}

/// Why qrpc failed: its exit code and what to print on stderr.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// A usage, connection, descriptor or input error (exit code 1).
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            code: FAILURE,
            message: message.into(),
        }
    }

    /// A failed call, printed as grpcurl does (exit code 64 + the status code).
    fn status(status: &Status) -> Self {
        Failure {
            code: STATUS_BASE + status.code() as u8,
            message: format!(
                "ERROR:\n  Code: {}\n  Message: {}",
                status.code(),
                status.message()
            ),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(FAILURE);
        }
    };
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        clap_complete::generate(shell, &mut Cli::command(), "qrpc", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return ExitCode::from(FAILURE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let metadata = parse_headers(&cli.headers)?;
    // bench connects first too, for the same connection errors and hints as call.
    let need_channel =
        matches!(cli.command, Command::Call { .. } | Command::Bench(_)) || cli.proto.is_empty();
    let channel = if need_channel {
        Some(connect(&cli).await?)
    } else {
        None
    };
    let mut source = if cli.proto.is_empty() {
        let channel = channel
            .clone()
            .ok_or_else(|| Failure::new("Error: no channel"))?;
        Source::reflection(channel, metadata.clone(), cli.deadline)
    } else {
        Source::files(&cli.proto, &cli.import_path)?
    };
    // Only bench connects again, with the same address and TLS.
    let endpoint = endpoint(&cli);
    match cli.command {
        Command::List { service: None } => {
            for service in source.list_services().await? {
                println!("{service}");
            }
            Ok(())
        }
        Command::List {
            service: Some(service),
        } => {
            let pool = source.pool_for(&service).await?;
            let service = pool.get_service_by_name(&service).ok_or_else(|| {
                Failure::new(format!(
                    "Error: {service:?} is not a service (see `qrpc list`)"
                ))
            })?;
            for method in service.methods() {
                println!("{}", method.full_name());
            }
            Ok(())
        }
        Command::Describe { symbol } => {
            let symbol = symbol.trim_start_matches('.').replace('/', ".");
            let pool = source.pool_for(&symbol).await?;
            let text = describe::describe(&pool, &symbol).ok_or_else(|| {
                Failure::new(format!(
                    "Error: unknown symbol {symbol:?} (see `qrpc list`)"
                ))
            })?;
            print!("{text}");
            Ok(())
        }
        Command::Call {
            method,
            data,
            emit_defaults,
            compact,
            verbose,
        } => {
            let method = source.method(&method).await?;
            let channel = channel.ok_or_else(|| Failure::new("Error: no channel"))?;
            let output = Output {
                options: SerializeOptions::new().skip_default_fields(!emit_defaults),
                compact,
                verbose,
            };
            call(
                &channel,
                &method,
                data.as_deref(),
                metadata,
                cli.deadline,
                &output,
            )
            .await
        }
        Command::Bench(args) => {
            let method = source.method(&args.method).await?;
            drop(channel);
            bench::run(args, &method, endpoint?, metadata, cli.deadline).await
        }
        // Handled before anything connects.
        Command::Completions { .. } => Ok(()),
    }
}

/// `key: value` pairs as request metadata.
fn parse_headers(headers: &[String]) -> Result<MetadataMap, Failure> {
    let mut metadata = MetadataMap::new();
    for header in headers {
        let (key, value) = header
            .split_once(':')
            .ok_or_else(|| Failure::new(format!("Error: -H {header:?}: expected `key: value`")))?;
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        let added = if key.ends_with("-bin") {
            metadata.append_bin(
                &key,
                decode_base64(value).map_err(|e| {
                    Failure::new(format!(
                        "Error: -H {header:?}: the value of a -bin key is base64: {e}"
                    ))
                })?,
            )
        } else {
            metadata.append(&key, value)
        };
        added.map_err(|e| Failure::new(format!("Error: -H {header:?}: {e}")))?;
    }
    Ok(metadata)
}

/// Standard or URL-safe base64, padded or not (grpcurl takes both).
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    let text = text.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(text)
        .or_else(|e| URL_SAFE_NO_PAD.decode(text).map_err(|_| e))
}

fn tls_config(cli: &Cli) -> Result<ClientTlsConfig, Failure> {
    let mut tls = ClientTlsConfig::new();
    if cli.insecure_dev {
        let path = std::env::temp_dir().join("rpc-core-dev").join("cert.pem");
        let cert = Certificate::from_pem_file(&path).map_err(|e| {
            Failure::new(format!(
                "Error: --insecure-dev: cannot load the development certificate {}: {e}",
                path.display()
            ))
        })?;
        tls = tls.with_webpki_roots(false).ca_certificate(cert);
    }
    if let Some(path) = &cli.cacert {
        let cert = Certificate::from_pem_file(path).map_err(|e| {
            Failure::new(format!(
                "Error: --cacert: cannot load {}: {e}",
                path.display()
            ))
        })?;
        tls = tls.with_webpki_roots(false).ca_certificate(cert);
    }
    if let Some(name) = &cli.servername {
        tls = tls.domain_name(name);
    }
    if let (Some(cert), Some(key)) = (&cli.cert, &cli.key) {
        let identity = Identity::from_pem_files(cert, key)
            .map_err(|e| Failure::new(format!("Error: --cert/--key: {e}")))?;
        tls = tls.identity(identity);
    }
    Ok(tls)
}

/// The server's address, TLS and connect timeout.
fn endpoint(cli: &Cli) -> Result<Endpoint, Failure> {
    let addr = cli.addr.as_deref().ok_or_else(|| {
        Failure::new("Error: --addr is required (for list and describe, unless --proto is given)")
    })?;
    Ok(Endpoint::new(addr)
        .map_err(|e| Failure::new(format!("Error: --addr {addr:?}: {e}")))?
        .tls_config(tls_config(cli)?)
        .connect_timeout(cli.connect_timeout))
}

async fn connect(cli: &Cli) -> Result<Channel, Failure> {
    let addr = cli.addr.as_deref().unwrap_or_default();
    endpoint(cli)?.connect().await.map_err(|e| {
        // rpc-core's message names the address; its hints name the library's API.
        let text = e.to_string();
        let mut message = if text.starts_with("failed to connect") {
            format!("Error: {text}")
        } else {
            format!("Error: failed to connect to {addr}: {text}")
        };
        if text.contains("ca_certificate") {
            message.push_str(
                "\n  hint: pass the server's CA with --cacert PATH, or --insecure-dev for a \
                 server using rpc-core's development certificate",
            );
        }
        if text.contains("connect_timeout") {
            message.push_str("\n  hint: wait longer with --connect-timeout");
        }
        Failure::new(message)
    })
}

/// How responses are printed.
struct Output {
    options: SerializeOptions,
    compact: bool,
    verbose: bool,
}

impl Output {
    fn print(&self, message: &DynamicMessage) -> Result<(), Failure> {
        let mut buf = Vec::new();
        let result = if self.compact {
            let mut ser = serde_json::Serializer::new(&mut buf);
            message.serialize_with_options(&mut ser, &self.options)
        } else {
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"  ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
            message.serialize_with_options(&mut ser, &self.options)
        };
        result.map_err(|e| Failure::new(format!("Error: cannot print a response: {e}")))?;
        println!("{}", String::from_utf8_lossy(&buf));
        Ok(())
    }

    fn metadata(&self, title: &str, metadata: &MetadataMap) {
        if !self.verbose {
            return;
        }
        eprintln!("\n{title}:");
        if metadata.is_empty() {
            eprintln!("(empty)");
        }
        for (key, value) in metadata.iter() {
            match value {
                MetadataValue::Ascii(text) => eprintln!("{key}: {text}"),
                MetadataValue::Binary(bytes) => {
                    use base64::Engine as _;
                    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
                    eprintln!("{key}: {text}")
                }
            }
        }
    }
}

type MessageStream = Pin<Box<dyn Stream<Item = DynamicMessage> + Send>>;

/// Parses every JSON value of `text` as a `desc`.
fn parse_messages(text: &str, desc: &MessageDescriptor) -> Result<Vec<DynamicMessage>, Failure> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .enumerate()
        .map(|(at, value)| {
            let value = value.map_err(|e| {
                Failure::new(format!("Error: request {}: invalid JSON: {e}", at + 1))
            })?;
            to_message(desc, value, at).map_err(Failure::new)
        })
        .collect()
}

fn to_message(
    desc: &MessageDescriptor,
    value: serde_json::Value,
    at: usize,
) -> Result<DynamicMessage, String> {
    codec::message_from_json(desc, value).map_err(|e| {
        format!(
            "Error: request {} does not match {}: {e}",
            at + 1,
            desc.full_name()
        )
    })
}

/// The requests of a streaming call, read from stdin as they come by a thread; an invalid
/// one is sent to the returned receiver and holds the stream open, so that the call is
/// cancelled rather than half-closed.
fn stdin_requests(
    desc: MessageDescriptor,
) -> (MessageStream, tokio::sync::oneshot::Receiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Option<DynamicMessage>>(16);
    let (err_tx, err_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin().lock();
        let values = serde_json::Deserializer::from_reader(stdin).into_iter::<serde_json::Value>();
        for (at, value) in values.enumerate() {
            let message = value
                .map_err(|e| format!("Error: request {}: invalid JSON: {e}", at + 1))
                .and_then(|value| to_message(&desc, value, at));
            match message {
                Ok(message) => {
                    if tx.blocking_send(Some(message)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = err_tx.send(e);
                    let _ = tx.blocking_send(None);
                    return;
                }
            }
        }
    });
    let requests = stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Some(Some(message)) => Some((message, rx)),
            Some(None) => std::future::pending().await,
            None => None,
        }
    });
    (Box::pin(requests), err_rx)
}

async fn call(
    channel: &Channel,
    method: &MethodDescriptor,
    data: Option<&str>,
    metadata: MetadataMap,
    deadline: Option<Duration>,
    output: &Output,
) -> Result<(), Failure> {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let input = method.input();
    let codec = DynamicCodec::new(method.output());
    let sent = Arc::new(AtomicUsize::new(0));
    let mut received = 0usize;

    let outcome = if method.is_client_streaming() {
        let (requests, mut input_error) = match data {
            Some("@") => stdin_requests(input),
            Some(text) => {
                let messages = parse_messages(text, &input)?;
                let never = tokio::sync::oneshot::channel().1;
                (Box::pin(stream::iter(messages)) as MessageStream, never)
            }
            None => (
                Box::pin(stream::empty()) as MessageStream,
                tokio::sync::oneshot::channel().1,
            ),
        };
        let counter = sent.clone();
        let requests = requests.inspect(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let request = with_parts(requests, &metadata, deadline);
        let run = async {
            if method.is_server_streaming() {
                let response = channel.streaming(&path, request, codec).await?;
                print_stream(response, output, &mut received).await
            } else {
                let response = channel.client_streaming(&path, request, codec).await?;
                print_single(response, output, &mut received)
            }
        };
        tokio::select! {
            outcome = run => outcome,
            Ok(error) = &mut input_error => return Err(Failure::new(error)),
        }
    } else {
        let message = match data {
            None => DynamicMessage::new(input.clone()),
            Some(data) => {
                let text;
                let text = if data == "@" {
                    text = std::io::read_to_string(std::io::stdin())
                        .map_err(|e| Failure::new(format!("Error: cannot read stdin: {e}")))?;
                    text.as_str()
                } else {
                    data
                };
                let mut messages = parse_messages(text, &input)?;
                if messages.len() != 1 {
                    return Err(Failure::new(format!(
                        "Error: {} takes exactly one request message, got {}",
                        method.full_name(),
                        messages.len()
                    )));
                }
                messages.remove(0)
            }
        };
        sent.fetch_add(1, Ordering::Relaxed);
        let request = with_parts(message, &metadata, deadline);
        if method.is_server_streaming() {
            match channel.server_streaming(&path, request, codec).await {
                Ok(response) => print_stream(response, output, &mut received).await,
                Err(status) => Err(status),
            }
        } else {
            match channel.unary(&path, request, codec).await {
                Ok(response) => print_single(response, output, &mut received),
                Err(status) => Err(status),
            }
        }
    };
    let summary = |received: usize| {
        let sent = sent.load(Ordering::Relaxed);
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        format!(
            "Sent {sent} request{} and received {received} response{}",
            plural(sent),
            plural(received)
        )
    };
    match outcome {
        Ok(()) => {
            if output.verbose {
                eprintln!("\nStatus: OK\n{}", summary(received));
            }
            Ok(())
        }
        Err(status) => {
            if output.verbose {
                output.metadata("Response trailers received", status.metadata());
                eprintln!("{}", summary(received));
            }
            Err(Failure::status(&status))
        }
    }
}

/// A request with the call's metadata and deadline.
fn with_parts<T>(message: T, metadata: &MetadataMap, deadline: Option<Duration>) -> Request<T> {
    let mut request = Request::new(message);
    *request.metadata_mut() = metadata.clone();
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    request
}

fn print_single(
    response: rpc_core::Response<DynamicMessage>,
    output: &Output,
    received: &mut usize,
) -> Result<(), Status> {
    output.metadata("Response headers received", response.metadata());
    *received += 1;
    output
        .print(response.get_ref())
        .map_err(|f| Status::internal(f.message))?;
    output.metadata("Response trailers received", response.trailers());
    Ok(())
}

async fn print_stream(
    response: rpc_core::Response<rpc_core::Streaming<DynamicMessage>>,
    output: &Output,
    received: &mut usize,
) -> Result<(), Status> {
    output.metadata("Response headers received", response.metadata());
    let mut messages = response.into_inner();
    while let Some(message) = messages.message().await? {
        *received += 1;
        output
            .print(&message)
            .map_err(|f| Status::internal(f.message))?;
    }
    if let Some(trailers) = messages.trailers() {
        output.metadata("Response trailers received", trailers);
    }
    Ok(())
}
