//! End to end over WebTransport on 127.0.0.1 (wtransport, quinn): calls through the generated
//! client, raw streams with bad input, and the session limits.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use rpc_core::wire::{self, ErrorCode};
use rpc_core::{Code, Endpoint, MetadataMap, Request, Response, Server, Status, Streaming};
use rpc_webtransport::dev::BrowserDevCertificate;
use rpc_webtransport::{WebTransportCall, WebTransportConnector, WebTransportServer};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Num {
    #[prost(uint32, tag = "1")]
    pub n: u32,
    #[prost(string, tag = "2")]
    pub note: String,
}

type NumStream = Pin<Box<dyn futures_util::Stream<Item = Result<Num, Status>> + Send>>;

#[rpc_core::service(package = "test", name = "Counter")]
pub trait Counter {
    async fn echo(&self, request: Request<Num>) -> Result<Response<Num>, Status>;
    async fn count(
        &self,
        request: Request<Num>,
    ) -> Result<Response<impl futures_util::Stream<Item = Result<Num, Status>>>, Status>;
    async fn fail(&self, request: Request<Num>) -> Result<Response<Num>, Status>;
    async fn hang(&self, request: Request<Num>) -> Result<Response<Num>, Status>;
}

/// Handlers of `Hang` that started, and that were dropped.
static HANGING: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);

struct CountDrop;

impl Drop for CountDrop {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

struct Svc;

impl Counter for Svc {
    type CountStream = NumStream;

    async fn echo(&self, request: Request<Num>) -> Result<Response<Num>, Status> {
        let call = request.extensions().get::<WebTransportCall>().cloned();
        let who = request.metadata().get("x-who").unwrap_or("").to_owned();
        let mut num = request.into_inner();
        num.note = match call {
            Some(call) => format!("{who} via {}", call.path),
            None => format!("{who} not over WebTransport"),
        };
        Ok(Response::new(num))
    }

    async fn count(&self, request: Request<Num>) -> Result<Response<NumStream>, Status> {
        let n = request.into_inner().n;
        let items = (0..n).map(|i| {
            Ok(Num {
                n: i,
                note: String::new(),
            })
        });
        Ok(Response::new(Box::pin(futures_util::stream::iter(items))))
    }

    async fn fail(&self, _request: Request<Num>) -> Result<Response<Num>, Status> {
        Err(Status::failed_precondition("not today"))
    }

    async fn hang(&self, _request: Request<Num>) -> Result<Response<Num>, Status> {
        let _guard = CountDrop;
        HANGING.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

struct Harness {
    cert: BrowserDevCertificate,
    url: String,
    addr: SocketAddr,
    handle: rpc_core::server::ServerHandle,
}

/// A server with the Counter service, on QUIC and WebTransport; `wt` configures the latter.
fn start(
    builder: impl FnOnce(rpc_core::ServerBuilder) -> rpc_core::ServerBuilder,
    wt: impl FnOnce(WebTransportServer) -> WebTransportServer,
) -> Harness {
    let cert = BrowserDevCertificate::loopback().unwrap();
    let server = builder(Server::builder())
        .tls_config(cert.server_config().unwrap())
        .add_service(counter_server::CounterServer::new(Svc))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let handle = server.handle();
    let bound = wt(WebTransportServer::new(handle.clone()))
        .bind(
            "127.0.0.1:0".parse().unwrap(),
            cert.server_config().unwrap(),
        )
        .unwrap();
    let url = bound.url();
    let addr = bound.local_addr();
    tokio::spawn(bound.serve());
    tokio::spawn(server.serve());
    Harness {
        cert,
        url,
        addr,
        handle,
    }
}

async fn channel(h: &Harness) -> rpc_core::Channel {
    let connector = WebTransportConnector::with_certificate_hash(&h.url, h.cert.sha256()).unwrap();
    Endpoint::from_connector(connector).connect().await.unwrap()
}

/// A raw WebTransport session, pinned to the harness's certificate, from a page of `origin`.
async fn raw_session_from(
    h: &Harness,
    url: &str,
    origin: Option<&str>,
) -> Result<wtransport::Connection, ConnectingError> {
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes([wtransport::tls::Sha256Digest::new(h.cert.sha256())])
        .build();
    let endpoint = wtransport::Endpoint::client(config).unwrap();
    let mut options = wtransport::endpoint::ConnectOptions::builder(url);
    if let Some(origin) = origin {
        options = options.add_header("origin", origin);
    }
    endpoint.connect(options.build()).await
}

async fn raw_session(h: &Harness, url: &str) -> Result<wtransport::Connection, ConnectingError> {
    raw_session_from(h, url, None).await
}

/// Bounds a step that must happen: a hang is a failure, not a wait.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result in 20 s"))
}

/// What a raw stream's response held: its frames until FIN, or the reset code.
#[derive(Debug)]
enum Outcome {
    Frames(Vec<(u8, Bytes)>),
    Reset(u64),
}

async fn read_response(recv: &mut wtransport::RecvStream) -> Outcome {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match recv.read(&mut chunk).await {
            Ok(Some(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(None) => break,
            Err(wtransport::error::StreamReadError::Reset(code)) => {
                return Outcome::Reset(code.into_inner())
            }
            Err(e) => panic!("reading the response: {e}"),
        }
    }
    let mut frames = Vec::new();
    let mut rest = &buf[..];
    while !rest.is_empty() {
        assert!(rest.len() >= 6, "truncated frame header");
        let len = u32::from_be_bytes(rest[2..6].try_into().unwrap()) as usize;
        frames.push((rest[0], Bytes::copy_from_slice(&rest[6..6 + len])));
        rest = &rest[6 + len..];
    }
    Outcome::Frames(frames)
}

/// The status of a trailers-only response.
fn trailers_only(outcome: Outcome) -> Status {
    match outcome {
        Outcome::Frames(frames) => {
            let (ty, payload) = frames.last().expect("no frame").clone();
            assert_eq!(ty, 0x02, "the last frame is TRAILERS: {frames:?}");
            wire::head::decode_trailers(payload).unwrap()
        }
        Outcome::Reset(code) => panic!("stream reset with {code:#x} instead of a status"),
    }
}

/// A request head frame for `path` (no deadline, no metadata), then `rest`.
fn request(path: &str, rest: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    wire::encode::request_head_parts(
        path,
        None,
        0,
        &MetadataMap::new(),
        Default::default(),
        &mut out,
    );
    out.extend_from_slice(rest);
    out.to_vec()
}

/// An empty MESSAGE frame.
const EMPTY_MESSAGE: [u8; 6] = [0x00, 0, 0, 0, 0, 0];

/// WebTransport's image of a qrpc stream error code (PROTOCOL.md §19.4).
fn h3(code: ErrorCode) -> u64 {
    let n = u64::from(code.0);
    0x52e4_a40f_a8db + n + n / 0x1e
}

#[tokio::test]
async fn unary_and_server_streaming_through_the_generated_client() {
    let h = start(|b| b, |w| w);
    let client = counter_client::CounterClient::new(channel(&h).await);

    let mut request = Request::new(Num {
        n: 7,
        note: String::new(),
    });
    request.metadata_mut().insert("x-who", "ada").unwrap();
    let reply = client.echo(request).await.unwrap().into_inner();
    assert_eq!(
        reply,
        Num {
            n: 7,
            note: "ada via /qrpc".into()
        }
    );

    let stream: Streaming<Num> = client
        .count(Num {
            n: 5,
            note: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let got: Vec<u32> = stream.map(|r| r.unwrap().n).collect().await;
    assert_eq!(got, vec![0, 1, 2, 3, 4]);

    let err = client.fail(Num::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.message(), "not today");

    // The server's deadline: 0 µs has passed on arrival (§8), a reset with 0x2.
    let mut request = Request::new(Num::default());
    request.set_timeout(Duration::ZERO);
    let err = client.echo(request).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    h.handle.shutdown();
}

#[tokio::test]
async fn garbage_and_oversize_get_clear_statuses_and_the_session_goes_on() {
    let h = start(|b| b, |w| w);
    let session = within("session", raw_session(&h, &h.url)).await.unwrap();

    // A HEADERS frame whose payload is not a RequestHead: INTERNAL (S3).
    let (mut send, mut recv) = session.open_bi().await.unwrap().await.unwrap();
    send.write_all(&[0x01, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    send.finish().await.unwrap();
    let status = trailers_only(within("garbage", read_response(&mut recv)).await);
    assert_eq!(status.code(), Code::Internal, "{status:?}");

    // A MESSAGE before any head: INTERNAL (S1).
    let (mut send, mut recv) = session.open_bi().await.unwrap().await.unwrap();
    send.write_all(&[0x00, 0, 0, 0, 0, 1, 0x42]).await.unwrap();
    send.finish().await.unwrap();
    let status = trailers_only(within("message first", read_response(&mut recv)).await);
    assert_eq!(status.code(), Code::Internal, "{status:?}");

    // A message declared past the 4 MiB limit: refused on its 6-byte header, before any
    // payload (S9); nothing more is sent.
    let (mut send, mut recv) = session.open_bi().await.unwrap().await.unwrap();
    // MESSAGE, 5 MiB.
    let framed = request("/test.Counter/Echo", &[0x00, 0, 0x00, 0x50, 0x00, 0x00]);
    send.write_all(&framed).await.unwrap();
    let status = trailers_only(within("oversize", read_response(&mut recv)).await);
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // An unknown method: UNIMPLEMENTED, and the session still serves a good call.
    let (mut send, mut recv) = session.open_bi().await.unwrap().await.unwrap();
    let framed = request("/test.Counter/Nope", &EMPTY_MESSAGE);
    send.write_all(&framed).await.unwrap();
    send.finish().await.unwrap();
    let status = trailers_only(within("unknown method", read_response(&mut recv)).await);
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");

    let client = counter_client::CounterClient::new(channel(&h).await);
    let reply = client.echo(Num::default()).await.unwrap().into_inner();
    assert_eq!(reply.note, " via /qrpc");
    h.handle.shutdown();
}

#[tokio::test]
async fn stalled_streams_are_reset_and_other_sessions_are_served() {
    let h = start(
        |b| b.header_timeout(Duration::from_millis(200)),
        |w| w.max_concurrent_streams(2),
    );
    let stalled = within("session", raw_session(&h, &h.url)).await.unwrap();
    // Two streams, all the session may have, that never send a request head.
    let mut held = Vec::new();
    for _ in 0..2 {
        let (mut send, recv) = stalled.open_bi().await.unwrap().await.unwrap();
        // wtransport sends the stream header with the first write; an empty write flushes
        // it without a byte of qrpc.
        send.write_all(&[]).await.unwrap();
        held.push((send, recv));
    }

    // Another session is served all along.
    let client = counter_client::CounterClient::new(channel(&h).await);
    let reply = client
        .echo(Num {
            n: 1,
            note: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().n, 1);

    // The server gives up on each stalled stream: reset with CANCELLED (S8)...
    for (_, recv) in &mut held {
        match within("stalled stream", read_response(recv)).await {
            Outcome::Reset(code) => assert_eq!(code, h3(ErrorCode::CANCELLED)),
            other => panic!("expected a reset, got {other:?}"),
        }
    }
    // ...which gives the stalled session its stream credit back.
    drop(held);
    let (mut send, mut recv) = within("credit back", async {
        stalled.open_bi().await.unwrap().await.unwrap()
    })
    .await;
    let framed = request("/test.Counter/Fail", &EMPTY_MESSAGE);
    send.write_all(&framed).await.unwrap();
    send.finish().await.unwrap();
    let status = trailers_only(within("call after the stall", read_response(&mut recv)).await);
    assert_eq!(status.code(), Code::FailedPrecondition);
    h.handle.shutdown();
}

#[tokio::test]
async fn a_connection_that_never_asks_for_a_session_is_dropped() {
    let h = start(|b| b, |w| w.handshake_timeout(Duration::from_millis(300)));
    // A bare QUIC connection with ALPN h3 that completes its handshake and says nothing.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(
            rustls::pki_types::CertificateDer::from_pem_slice(h.cert.cert_pem().as_bytes())
                .unwrap(),
        )
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(std::sync::Arc::new(crypto)));
    let conn = endpoint
        .connect(h.addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let reason = within("the server drops it", conn.closed()).await;
    // Closed by the server (not our idle timeout, nor the server's 30 s one).
    assert!(
        matches!(reason, quinn::ConnectionError::ApplicationClosed(_)),
        "{reason:?}"
    );

    // The server goes on serving sessions.
    let client = counter_client::CounterClient::new(channel(&h).await);
    client.echo(Num::default()).await.unwrap();
    h.handle.shutdown();
}

#[tokio::test]
async fn sessions_beyond_the_limit_wrong_paths_and_origins_are_refused() {
    let h = start(|b| b, |w| w.allow_origins(["https://app.example"]));
    // Once origins are restricted, other pages (HTTP 403) and clients that send no origin
    // are refused; the listed origin is served.
    for origin in [None, Some("https://evil.example")] {
        let err = within("origin", raw_session_from(&h, &h.url, origin)).await;
        assert!(
            matches!(err, Err(ConnectingError::SessionRejected)),
            "{origin:?}: {err:?}"
        );
    }
    within(
        "allowed origin",
        raw_session_from(&h, &h.url, Some("https://app.example")),
    )
    .await
    .unwrap();
    h.handle.shutdown();

    let h = start(|b| b, |w| w.max_sessions(1));
    let wrong = h.url.replace("/qrpc", "/other");
    let err = within("wrong path", raw_session(&h, &wrong)).await;
    assert!(
        matches!(err, Err(ConnectingError::SessionRejected)),
        "{err:?}"
    );

    // One session at most: a second handshake is refused while the first is open.
    let first = within("first", raw_session(&h, &h.url)).await.unwrap();
    let err = within("second", raw_session(&h, &h.url)).await;
    assert!(refused(&err), "{err:?}");
    drop(first);
    h.handle.shutdown();
}

#[tokio::test]
async fn clients_asked_to_prove_their_address_are_served() {
    // Every handshake goes through a QUIC Retry first.
    let h = start(|b| b, |w| w.retry_after_handshakes(0));
    let client = counter_client::CounterClient::new(channel(&h).await);
    let reply = client
        .echo(Num {
            n: 3,
            note: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().n, 3);
    h.handle.shutdown();
}

#[tokio::test]
async fn shutdown_refuses_new_sessions() {
    let h = start(|b| b, |w| w);
    let client = counter_client::CounterClient::new(channel(&h).await);
    client.echo(Num::default()).await.unwrap();
    h.handle.shutdown();
    within("shutdown starts", h.handle.shutdown_started()).await;
    // New handshakes are refused while the sessions already open drain.
    let err = within("after shutdown", raw_session(&h, &h.url)).await;
    assert!(refused(&err), "{err:?}");
}

/// Whether a session attempt was refused in the QUIC handshake (`CONNECTION_REFUSED`).
fn refused(result: &Result<wtransport::Connection, ConnectingError>) -> bool {
    match result {
        Err(ConnectingError::ConnectionError(e)) => e.to_string().contains("refused"),
        _ => false,
    }
}

use rustls::pki_types::pem::PemObject as _;
use wtransport::error::ConnectingError;

#[tokio::test]
async fn a_browser_style_stop_drops_the_handler() {
    let h = start(|b| b, |w| w);
    let session = within("session", raw_session(&h, &h.url)).await.unwrap();
    let (mut send, recv) = session.open_bi().await.unwrap().await.unwrap();
    send.write_all(&request("/test.Counter/Hang", &EMPTY_MESSAGE))
        .await
        .unwrap();
    send.finish().await.unwrap();
    within("the handler starts", async {
        while HANGING.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // What a page's `readable.cancel()` with streamErrorCode 1 sends: STOP_SENDING with
    // CANCELLED in WebTransport's HTTP/3 range (§19.4); the server drops the handler (§9.2).
    recv.stop(wtransport::VarInt::try_from_u64(h3(ErrorCode::CANCELLED)).unwrap());
    within("the handler is dropped", async {
        while DROPPED.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    h.handle.shutdown();
}
