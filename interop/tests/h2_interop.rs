//! The interop cases over standard gRPC on HTTP/2 (rpc-grpc), with third-party peers:
//!
//! * Python's grpcio (the C-core implementation), installed by `interop/python/setup.sh` in a
//!   venv, runs the cases against the interop server's HTTP/2 port. If the install fails,
//!   the test fails: it never skips.
//! * The project's own client, over `rpc_grpc::GrpcConnector`, runs them against a tonic
//!   server, and against the interop server's own HTTP/2 port.
//! * Compression both ways (PROTOCOL.md §16.6) with tonic and grpcio, checked on the wire
//!   where the peer lets us see it, and tonic's graceful shutdown (`GOAWAY`) draining our
//!   channel's connection (§16.5).

use interop::client::{self, Case, Context};
use interop::server::{self, CallStats};
use rpc_core::server::ServerHandle;
use rpc_core::tls::dev::SelfSigned;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cases of gRPC's interop descriptions that every peer here runs.
const CASES: [Case; 14] = [
    Case::EmptyUnary,
    Case::LargeUnary,
    Case::ClientStreaming,
    Case::ServerStreaming,
    Case::PingPong,
    Case::EmptyStream,
    Case::CustomMetadata,
    Case::StatusCodeAndMessage,
    Case::SpecialStatusMessage,
    Case::UnimplementedMethod,
    Case::UnimplementedService,
    Case::CancelAfterBegin,
    Case::CancelAfterFirstResponse,
    Case::TimeoutOnSleepingServer,
];

struct Running {
    h2: SocketAddr,
    stats: Arc<CallStats>,
    handle: ServerHandle,
    serving: tokio::task::JoinHandle<()>,
}

/// The interop server, QUIC and HTTP/2 (h2c) ports.
async fn start() -> Running {
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let bound = server::bind(
        "127.0.0.1:0".parse().unwrap(),
        cert.server_config().unwrap(),
    )
    .unwrap();
    let h2 = rpc_grpc::GrpcServer::new(bound.handle.clone())
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let h2_addr = h2.local_addr();
    tokio::spawn(h2.serve());
    let serving = tokio::spawn(bound.server.serve());
    Running {
        h2: h2_addr,
        stats: bound.stats,
        handle: bound.handle,
        serving,
    }
}

impl Running {
    /// Waits (bounded) until no call is in flight, then stops the server.
    async fn stop(self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while (self.stats.in_flight() > 0 || self.handle.active_calls() > 0)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(self.stats.in_flight(), 0, "handlers still running");
        assert_eq!(self.handle.active_calls(), 0, "call tasks still running");
        self.handle.shutdown();
        tokio::time::timeout(Duration::from_secs(15), self.serving)
            .await
            .expect("server stops")
            .unwrap();
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Installs grpcio (once per machine; the venv is kept under target/) and returns the venv's
/// python. Panics, failing the test, if the install fails.
fn grpcio_python() -> PathBuf {
    let root = workspace_root();
    let out = Command::new("bash")
        .arg(root.join("interop/python/setup.sh"))
        .output()
        .expect("run interop/python/setup.sh");
    assert!(
        out.status.success(),
        "installing grpcio failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("setup.sh prints the python")
            .trim(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_runs_the_interop_cases_against_the_http2_port() {
    let python = tokio::task::spawn_blocking(grpcio_python).await.unwrap();
    let running = start().await;
    let root = workspace_root();
    let stubs = python.parent().unwrap().parent().unwrap().join("stubs");
    let server = running.h2.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(root.join("interop/python/grpcio_client.py"))
            .arg("--server")
            .arg(server)
            .env("PYTHONPATH", stubs)
            .output()
            .expect("run the grpcio client")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "grpcio interop cases failed:\n{stdout}"
    );
    for case in CASES.iter().map(|c| c.name()).chain(["gzip_requests"]) {
        assert!(
            stdout.contains(&format!("PASS {case} (")),
            "{case} did not pass:\n{stdout}"
        );
    }
    // Cancelled and expired calls ended on the server too.
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_calls_the_http2_port_over_tls() {
    let python = tokio::task::spawn_blocking(grpcio_python).await.unwrap();
    let cert = SelfSigned::generate(&["localhost"]).unwrap();
    let bound = server::bind(
        "127.0.0.1:0".parse().unwrap(),
        cert.server_config().unwrap(),
    )
    .unwrap();
    let h2 = rpc_grpc::GrpcServer::new(bound.handle.clone())
        .tls_config(cert.server_config().unwrap())
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = h2.local_addr().port();
    tokio::spawn(h2.serve());
    let serving = tokio::spawn(bound.server.serve());
    let ca = std::env::temp_dir().join(format!("rpc-grpc-ca-{}-{port}.pem", std::process::id()));
    std::fs::write(&ca, cert.cert_pem()).unwrap();
    let root = workspace_root();
    let stubs = python.parent().unwrap().parent().unwrap().join("stubs");
    let ca_arg = ca.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(root.join("interop/python/grpcio_client.py"))
            .args(["--server", &format!("localhost:{port}")])
            .arg("--tls_ca")
            .arg(ca_arg)
            .args([
                "--case",
                "empty_unary",
                "--case",
                "large_unary",
                "--case",
                "ping_pong",
            ])
            .args([
                "--case",
                "custom_metadata",
                "--case",
                "cancel_after_first_response",
            ])
            .env("PYTHONPATH", stubs)
            .output()
            .expect("run the grpcio client")
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(ca);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "grpcio over TLS failed:\n{stdout}");
    assert!(stdout.contains("5 passed, 0 failed"), "{stdout}");
    bound.handle.shutdown();
    tokio::time::timeout(Duration::from_secs(15), serving)
        .await
        .expect("server stops")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_http2_channel_runs_the_interop_cases_against_our_http2_port() {
    let running = start().await;
    let endpoint = rpc_grpc::GrpcConnector::new(format!("http://{}", running.h2))
        .unwrap()
        .endpoint();
    let ctx = Context::connect(endpoint, 3).await.unwrap();
    for case in CASES.into_iter().chain([Case::RpcSoak, Case::ChannelSoak]) {
        client::run(case, &ctx)
            .await
            .unwrap_or_else(|f| panic!("{case}: {f}"));
    }
    ctx.channel.close();
    running.stop().await;
}

mod tonic_server {
    //! `grpc.testing.TestService` on tonic, as gRPC's interop descriptions define it.

    #![allow(clippy::all, missing_docs, unreachable_pub)]
    pub mod pb {
        include!(concat!(env!("OUT_DIR"), "/tonic/grpc.testing.rs"));
    }

    use futures_util::stream::{self, BoxStream, StreamExt};
    use pb::test_service_server::TestService;
    use pb::*;
    use std::collections::VecDeque;
    use std::time::Duration;
    use tonic::{Code, Request, Response, Status, Streaming};

    const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
    pub const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

    pub struct Impl;

    fn payload(size: i32) -> Result<Payload, Status> {
        let size = usize::try_from(size)
            .map_err(|_| Status::invalid_argument(format!("negative payload size {size}")))?;
        Ok(Payload {
            r#type: PayloadType::Compressable as i32,
            body: vec![0; size],
        })
    }

    fn echoed(status: Option<&EchoStatus>) -> Option<Status> {
        let s = status.filter(|s| s.code != 0)?;
        Some(Status::new(Code::from(s.code), s.message.clone()))
    }

    fn with_initial<T, U>(request: &Request<U>, message: T) -> Response<T> {
        let mut response = Response::new(message);
        if let Some(v) = request.metadata().get(ECHO_INITIAL) {
            response.metadata_mut().insert(ECHO_INITIAL, v.clone());
        }
        response
    }

    type Out = BoxStream<'static, Result<StreamingOutputCallResponse, Status>>;

    fn output(
        first: Option<StreamingOutputCallRequest>,
        requests: Option<Streaming<StreamingOutputCallRequest>>,
    ) -> Out {
        struct State {
            queue: VecDeque<ResponseParameters>,
            end: Option<Status>,
            requests: Option<Streaming<StreamingOutputCallRequest>>,
            done: bool,
        }
        impl State {
            fn take(&mut self, r: StreamingOutputCallRequest) {
                self.queue.extend(r.response_parameters);
                if self.end.is_none() {
                    self.end = echoed(r.response_status.as_ref());
                }
            }
        }
        let mut state = State {
            queue: VecDeque::new(),
            end: None,
            requests,
            done: false,
        };
        if let Some(first) = first {
            state.take(first);
        }
        stream::unfold(state, |mut st| async move {
            loop {
                if st.done {
                    return None;
                }
                if let Some(p) = st.queue.pop_front() {
                    if p.interval_us > 0 {
                        tokio::time::sleep(Duration::from_micros(p.interval_us as u64)).await;
                    }
                    let item = payload(p.size).map(|payload| StreamingOutputCallResponse {
                        payload: Some(payload),
                    });
                    return Some((item, st));
                }
                if let Some(status) = st.end.take() {
                    st.done = true;
                    return Some((Err(status), st));
                }
                let Some(requests) = st.requests.as_mut() else {
                    return None;
                };
                match requests.message().await {
                    Ok(Some(r)) => st.take(r),
                    Ok(None) => st.requests = None,
                    Err(s) => {
                        st.done = true;
                        return Some((Err(s), st));
                    }
                }
            }
        })
        .boxed()
    }

    #[tonic::async_trait]
    impl TestService for Impl {
        async fn empty_call(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
            Ok(with_initial(&request, Empty {}))
        }

        async fn unary_call(
            &self,
            request: Request<SimpleRequest>,
        ) -> Result<Response<SimpleResponse>, Status> {
            if let Some(status) = echoed(request.get_ref().response_status.as_ref()) {
                return Err(status);
            }
            let response = SimpleResponse {
                payload: Some(payload(request.get_ref().response_size)?),
                ..SimpleResponse::default()
            };
            Ok(with_initial(&request, response))
        }

        type StreamingOutputCallStream = Out;

        async fn streaming_output_call(
            &self,
            request: Request<StreamingOutputCallRequest>,
        ) -> Result<Response<Out>, Status> {
            let out = output(Some(request.get_ref().clone()), None);
            Ok(with_initial(&request, out))
        }

        async fn streaming_input_call(
            &self,
            request: Request<Streaming<StreamingInputCallRequest>>,
        ) -> Result<Response<StreamingInputCallResponse>, Status> {
            let mut total = 0;
            let mut requests = request.into_inner();
            while let Some(r) = requests.message().await? {
                total += r.payload.map_or(0, |p| p.body.len()) as i32;
            }
            Ok(Response::new(StreamingInputCallResponse {
                aggregated_payload_size: total,
            }))
        }

        type FullDuplexCallStream = Out;

        async fn full_duplex_call(
            &self,
            request: Request<Streaming<StreamingOutputCallRequest>>,
        ) -> Result<Response<Out>, Status> {
            let mut response = with_initial(&request, ());
            let out = output(None, Some(request.into_inner()));
            let md = std::mem::take(response.metadata_mut());
            let mut response = Response::new(out);
            *response.metadata_mut() = md;
            Ok(response)
        }

        type HalfDuplexCallStream = Out;

        async fn half_duplex_call(
            &self,
            _request: Request<Streaming<StreamingOutputCallRequest>>,
        ) -> Result<Response<Out>, Status> {
            Err(Status::unimplemented("not needed here"))
        }

        async fn unimplemented_call(
            &self,
            _request: Request<Empty>,
        ) -> Result<Response<Empty>, Status> {
            Err(Status::unimplemented("UnimplementedCall"))
        }
    }
}

/// Echoes the trailing `-bin` metadata in the response's trailers: tonic's handlers have no
/// way to set trailers of a successful response, so tonic's own interop server does it in a
/// layer too.
mod echo_trailers {
    use http_body::{Body, Frame};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    #[derive(Clone)]
    pub struct Layer<S>(pub S);

    pub struct EchoBody<B> {
        inner: B,
        value: Option<http::HeaderValue>,
    }

    impl<B: Body + Unpin> Body for EchoBody<B> {
        type Data = B::Data;
        type Error = B::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
            let this = &mut *self;
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let frame = match frame.into_trailers() {
                        Ok(mut trailers) => {
                            if let Some(v) = this.value.take() {
                                trailers.insert(super::tonic_server::ECHO_TRAILING, v);
                            }
                            Frame::trailers(trailers)
                        }
                        Err(frame) => frame,
                    };
                    Poll::Ready(Some(Ok(frame)))
                }
                other => other,
            }
        }
        fn is_end_stream(&self) -> bool {
            self.inner.is_end_stream()
        }
        fn size_hint(&self) -> http_body::SizeHint {
            self.inner.size_hint()
        }
    }

    impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for Layer<S>
    where
        S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
        S::Future: Send + 'static,
        ResBody: Body + Unpin,
    {
        type Response = http::Response<EchoBody<ResBody>>;
        type Error = S::Error;
        type Future =
            Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
            let value = request
                .headers()
                .get(super::tonic_server::ECHO_TRAILING)
                .cloned();
            let future = self.0.call(request);
            Box::pin(async move {
                let response = future.await?;
                Ok(response.map(|inner| EchoBody { inner, value }))
            })
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_http2_channel_runs_the_interop_cases_against_tonic() {
    use tonic_server::pb::test_service_server::TestServiceServer;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tower_layer::layer_fn(echo_trailers::Layer))
            .add_service(TestServiceServer::new(tonic_server::Impl))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stop_rx.await;
            }),
    );
    let endpoint = rpc_grpc::GrpcConnector::new(format!("http://{addr}"))
        .unwrap()
        .endpoint();
    let ctx = Context::connect(endpoint, 3).await.unwrap();
    for case in CASES.into_iter().chain([Case::RpcSoak, Case::ChannelSoak]) {
        client::run(case, &ctx)
            .await
            .unwrap_or_else(|f| panic!("{case} against tonic: {f}"));
    }
    ctx.channel.close();
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("tonic stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_client_calls_the_http2_port() {
    use tonic_server::pb::test_service_client::TestServiceClient;
    use tonic_server::pb::*;
    let running = start().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", running.h2))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = TestServiceClient::new(channel);

    // large_unary, with custom metadata echoed (initial ASCII, trailing binary).
    let mut request = tonic::Request::new(SimpleRequest {
        response_size: 314_159,
        payload: Some(Payload {
            r#type: 0,
            body: vec![0; 271_828],
        }),
        ..SimpleRequest::default()
    });
    request
        .metadata_mut()
        .insert("x-grpc-test-echo-initial", "hello".parse().unwrap());
    request.metadata_mut().insert_bin(
        "x-grpc-test-echo-trailing-bin",
        tonic::metadata::MetadataValue::from_bytes(b"\xab\xab"),
    );
    request.set_timeout(Duration::from_secs(5));
    let response = client.unary_call(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-grpc-test-echo-initial").unwrap(),
        "hello"
    );
    assert_eq!(
        response.get_ref().payload.as_ref().unwrap().body.len(),
        314_159
    );
    // tonic merges a unary call's trailers into its response metadata.
    let trailing = response.metadata().get_bin("x-grpc-test-echo-trailing-bin");
    assert_eq!(trailing.unwrap().to_bytes().unwrap().as_ref(), b"\xab\xab");

    // server_streaming.
    let request = StreamingOutputCallRequest {
        response_parameters: [31_415, 9, 2_653, 58_979]
            .map(|size| ResponseParameters {
                size,
                ..ResponseParameters::default()
            })
            .to_vec(),
        ..StreamingOutputCallRequest::default()
    };
    let mut stream = client
        .streaming_output_call(request)
        .await
        .unwrap()
        .into_inner();
    let mut sizes = Vec::new();
    while let Some(r) = stream.message().await.unwrap() {
        sizes.push(r.payload.unwrap().body.len());
    }
    assert_eq!(sizes, [31_415, 9, 2_653, 58_979]);

    // client_streaming.
    let requests = [27_182, 8, 1_828, 45_904].map(|n| StreamingInputCallRequest {
        payload: Some(Payload {
            r#type: 0,
            body: vec![0; n],
        }),
        ..StreamingInputCallRequest::default()
    });
    let reply = client
        .streaming_input_call(tokio_stream::iter(requests))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().aggregated_payload_size, 74_922);

    // A status and its message; an unimplemented method; a deadline.
    let status = client
        .unary_call(SimpleRequest {
            response_status: Some(EchoStatus {
                code: 2,
                message: interop::client::SPECIAL_STATUS_MESSAGE.into(),
            }),
            ..SimpleRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unknown);
    assert_eq!(status.message(), interop::client::SPECIAL_STATUS_MESSAGE);
    let status = client.unimplemented_call(Empty {}).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(StreamingOutputCallRequest::default())
        .await
        .unwrap();
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    request.set_timeout(Duration::from_millis(20));
    let outcome = match client.full_duplex_call(request).await {
        Ok(response) => response.into_inner().message().await.map(|_| ()),
        Err(status) => Err(status),
    };
    assert_eq!(outcome.unwrap_err().code(), tonic::Code::DeadlineExceeded);
    drop(tx);
    running.stop().await;
}

/// Records the headers of each request and of its response, as a tower layer of a tonic
/// server: what went over the wire.
mod record_headers {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    pub type Log = Arc<Mutex<Vec<(http::HeaderMap, http::HeaderMap)>>>;

    #[derive(Clone)]
    pub struct Layer<S>(pub S, pub Log);

    impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for Layer<S>
    where
        S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
        S::Future: Send + 'static,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future =
            Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
            let sent = request.headers().clone();
            let log = self.1.clone();
            let future = self.0.call(request);
            Box::pin(async move {
                let response = future.await?;
                log.lock().unwrap().push((sent, response.headers().clone()));
                Ok(response)
            })
        }
    }
}

/// A tonic `TestService` server on `listener` that compresses with gzip for clients that
/// accept it, recording headers in `log`; stops when `stop` resolves.
fn tonic_gzip_server(
    listener: tokio::net::TcpListener,
    log: record_headers::Log,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<Result<(), tonic::transport::Error>> {
    use tonic::codec::CompressionEncoding::Gzip;
    use tonic_server::pb::test_service_server::TestServiceServer;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let service = TestServiceServer::new(tonic_server::Impl)
        .send_compressed(Gzip)
        .accept_compressed(Gzip);
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tower_layer::layer_fn(move |s| {
                record_headers::Layer(s, log.clone())
            }))
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, stop),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_http2_channel_and_tonic_compress_both_ways() {
    use rpc_core::CompressionEncoding::Gzip;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = record_headers::Log::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tonic_gzip_server(listener, log.clone(), async {
        let _ = stop_rx.await;
    });
    let endpoint = rpc_grpc::GrpcConnector::new(format!("http://{addr}"))
        .unwrap()
        .endpoint()
        .send_compressed(Gzip)
        .accept_compressed(Gzip);
    let ctx = Context::connect(endpoint, 1).await.unwrap();
    for case in [
        Case::LargeUnary,
        Case::ClientStreaming,
        Case::ServerStreaming,
        Case::PingPong,
    ] {
        client::run(case, &ctx)
            .await
            .unwrap_or_else(|f| panic!("{case} against tonic with gzip: {f}"));
    }
    // Every call went compressed both ways: our requests named gzip (tonic decompressed
    // them), tonic's responses too (our channel decompressed them).
    let log = std::mem::take(&mut *log.lock().unwrap());
    assert_eq!(log.len(), 4);
    // (server_streaming's one small request goes plain: below the threshold, the call is
    // an uncompressed one, PROTOCOL.md §15.4.)
    let named = |h: &http::HeaderMap| {
        h.get("grpc-encoding")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let gzip = Some("gzip".to_owned());
    let sent: Vec<_> = log.iter().map(|(request, _)| named(request)).collect();
    assert_eq!(sent, [gzip.clone(), gzip.clone(), None, gzip.clone()]);
    for (request, response) in &log {
        assert_eq!(request["grpc-accept-encoding"], "gzip,identity");
        assert_eq!(named(response), gzip, "{response:?}");
    }
    ctx.channel.close();
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("tonic stops")
        .unwrap()
        .unwrap();
}

/// An interop server (HTTP/2 port) that compresses its responses with gzip for clients that
/// accept it.
async fn start_gzip() -> (SocketAddr, ServerHandle, tokio::task::JoinHandle<()>) {
    let cert = SelfSigned::generate(&["localhost"]).unwrap();
    let server = rpc_core::Server::builder()
        .tls_config(cert.server_config().unwrap())
        .send_compressed(rpc_core::CompressionEncoding::Gzip)
        .add_service(interop::pb::test_service_server::TestServiceServer::new(
            server::TestServiceImpl::new(),
        ))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let handle = server.handle();
    let h2 = rpc_grpc::GrpcServer::new(handle.clone())
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = h2.local_addr();
    tokio::spawn(h2.serve());
    (addr, handle, tokio::spawn(server.serve()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_reads_compressed_responses_of_the_http2_port() {
    // grpcio accepts gzip in every request (`grpc-accept-encoding: identity,deflate,gzip`):
    // the server compresses the large responses for it.
    let python = tokio::task::spawn_blocking(grpcio_python).await.unwrap();
    let (h2, handle, serving) = start_gzip().await;
    let root = workspace_root();
    let stubs = python.parent().unwrap().parent().unwrap().join("stubs");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(root.join("interop/python/grpcio_client.py"))
            .args(["--server", &h2.to_string()])
            .args(["--case", "large_unary", "--case", "server_streaming"])
            .args(["--case", "ping_pong", "--case", "gzip_requests"])
            .env("PYTHONPATH", stubs)
            .output()
            .expect("run the grpcio client")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "grpcio with gzip failed:\n{stdout}");
    assert!(stdout.contains("4 passed, 0 failed"), "{stdout}");
    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(15), serving)
        .await
        .expect("server stops")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_client_gets_compressed_responses_from_the_http2_port() {
    use tonic_server::pb::test_service_client::TestServiceClient;
    use tonic_server::pb::*;
    use tower::ServiceExt;
    let (h2, handle, serving) = start_gzip().await;
    let url = format!("http://{h2}");

    let encodings = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = encodings.clone();
    let channel = tonic::transport::Channel::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap()
        .map_response(move |response: http::Response<tonic::body::Body>| {
            let encoding = response.headers().get("grpc-encoding").cloned();
            seen.lock().unwrap().push(encoding);
            response
        });
    let large = || SimpleRequest {
        response_size: 314_159,
        payload: Some(Payload {
            r#type: 0,
            body: vec![0; 271_828],
        }),
        ..SimpleRequest::default()
    };
    // Compressed both ways.
    let mut client = TestServiceClient::new(channel.clone())
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let reply = client.unary_call(large()).await.unwrap();
    assert_eq!(
        reply.get_ref().payload.as_ref().unwrap().body.len(),
        314_159
    );
    let request = StreamingOutputCallRequest {
        response_parameters: [31_415, 9, 2_653]
            .map(|size| ResponseParameters {
                size,
                ..ResponseParameters::default()
            })
            .to_vec(),
        ..StreamingOutputCallRequest::default()
    };
    let mut stream = client
        .streaming_output_call(request.clone())
        .await
        .unwrap()
        .into_inner();
    let mut sizes = Vec::new();
    while let Some(r) = stream.message().await.unwrap() {
        sizes.push(r.payload.unwrap().body.len());
    }
    assert_eq!(sizes, [31_415, 9, 2_653]);
    // A client that accepts no compression gets none (tonic fails a compressed message it
    // did not ask for).
    let mut plain = TestServiceClient::new(channel);
    let reply = plain.unary_call(large()).await.unwrap();
    assert_eq!(
        reply.get_ref().payload.as_ref().unwrap().body.len(),
        314_159
    );
    let gzip = Some(http::HeaderValue::from_static("gzip"));
    assert_eq!(*encodings.lock().unwrap(), [gzip.clone(), gzip, None]);
    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(15), serving)
        .await
        .expect("server stops")
        .unwrap();
}

/// Binds `addr` again once the server that had it let it go.
async fn rebind(addr: SocketAddr) -> tokio::net::TcpListener {
    for _ in 0..200 {
        if let Ok(listener) = tokio::net::TcpListener::bind(addr).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{addr} stays taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonics_goaway_drains_our_http2_channel() {
    use interop::pb::{
        test_service_client::TestServiceClient, ResponseParameters, SimpleRequest,
        StreamingOutputCallRequest,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let a = tonic_gzip_server(listener, Default::default(), async {
        let _ = stopped_a.await;
    });
    let channel = rpc_grpc::GrpcConnector::new(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = TestServiceClient::new(channel.clone());
    let ping = |size| StreamingOutputCallRequest {
        response_parameters: vec![ResponseParameters {
            size,
            ..ResponseParameters::default()
        }],
        ..StreamingOutputCallRequest::default()
    };
    // A ping-pong call in flight: it answers each request as it comes.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(ping(1)).await.unwrap();
    let mut call = client
        .full_duplex_call(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let first = call.message().await.unwrap().unwrap();
    assert_eq!(first.payload.unwrap().body.len(), 1);

    // tonic shuts down gracefully: GOAWAY. The channel takes the connection out of use.
    let _ = stop_a.send(());
    for _ in 0..500 {
        if channel.state() != rpc_core::client::ConnectivityState::Ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_ne!(channel.state(), rpc_core::client::ConnectivityState::Ready);

    // A new tonic server on the same port: the next call connects to it and succeeds.
    let (stop_b, stopped_b) = tokio::sync::oneshot::channel::<()>();
    let b = tonic_gzip_server(rebind(addr).await, Default::default(), async {
        let _ = stopped_b.await;
    });
    let reply = client
        .unary_call(SimpleRequest {
            response_size: 7,
            ..SimpleRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().payload.unwrap().body.len(), 7);

    // The call in flight goes on, on the old connection, to its end.
    tx.send(ping(2)).await.unwrap();
    let second = call.message().await.unwrap().unwrap();
    assert_eq!(second.payload.unwrap().body.len(), 2);
    drop(tx);
    assert!(call.message().await.unwrap().is_none());
    tokio::time::timeout(Duration::from_secs(10), a)
        .await
        .expect("the old tonic stops once its call ended")
        .unwrap()
        .unwrap();

    // No server: the next call fails cleanly.
    let _ = stop_b.send(());
    tokio::time::timeout(Duration::from_secs(10), b)
        .await
        .expect("tonic stops")
        .unwrap()
        .unwrap();
    let status = client
        .unary_call(SimpleRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), rpc_core::Code::Unavailable, "{status:?}");
}
