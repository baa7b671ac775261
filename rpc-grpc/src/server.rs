//! The server side: an rpc-core server's services on a TCP port, as gRPC over HTTP/2 and
//! gRPC-Web.
//!
//! Each accepted TCP connection (TLS with ALPN `h2`, or cleartext h2c; HTTP/1.1 too for
//! gRPC-Web) becomes one [`Connection`] of rpc-core's transport seam, handed to
//! [`ServerHandle::serve_connection`]; each HTTP request on it becomes one of its streams.
//! The request's headers are translated into a qrpc request head, its body's messages into
//! qrpc `MESSAGE` frames, and the qrpc frames the server writes back into response headers,
//! gRPC messages and trailers. So a call over HTTP/2 goes through exactly the code a QUIC call
//! does: routing, layers, interceptors, deadlines, limits.

use crate::cors::{Cors, Verdict};
use crate::frames::{
    pipe, Base64Stream, Framing, GrpcReader, Item, PipeBody, PipeTx, QEvent, QrpcReader,
};
use crate::mapping;
use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rpc_core::server::ServerHandle;
use rpc_core::tls::ServerTlsConfig;
use rpc_core::transport::{Connection, ConnectionError, RecvStream, SendStream, StreamError};
use rpc_core::wire::{self, ErrorCode};
use rpc_core::Status;
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// In the extensions of a call that came over HTTP (gRPC over HTTP/2, or gRPC-Web), so a
/// handler can tell, if it asks (`request.extensions().get::<HttpCall>()`); calls over QUIC
/// have none.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpCall {
    /// Which protocol carried the call.
    pub protocol: Protocol,
    /// The HTTP version of the request (HTTP/2, or HTTP/1.1 for gRPC-Web).
    pub version: http::Version,
    /// The request's `:authority` (or `Host`), when it had one.
    pub authority: Option<String>,
}

/// The protocols a call may arrive in on the HTTP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// Standard gRPC over HTTP/2 (`application/grpc`).
    Grpc,
    /// gRPC-Web, binary (`application/grpc-web`).
    GrpcWeb,
    /// gRPC-Web, base64 (`application/grpc-web-text`).
    GrpcWebText,
}

impl Protocol {
    fn framing(self) -> Framing {
        match self {
            Protocol::Grpc => Framing::Http,
            Protocol::GrpcWeb => Framing::Web,
            Protocol::GrpcWebText => Framing::WebText,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Protocol::Grpc => "application/grpc",
            Protocol::GrpcWeb => "application/grpc-web+proto",
            Protocol::GrpcWebText => "application/grpc-web-text+proto",
        }
    }
}

/// Serves an rpc-core server's services as gRPC over HTTP/2 (and, if enabled, gRPC-Web) on a
/// TCP port, next to its QUIC port.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use rpc_core::{tls::dev::SelfSigned, Server};
///
/// let cert = SelfSigned::loopback()?;
/// let server = Server::builder()
///     .tls_config(cert.server_config()?)
///     // .add_service(GreeterServer::new(MyGreeter))
///     .bind("127.0.0.1:50051".parse()?)?;
/// let http = rpc_grpc::GrpcServer::new(server.handle())
///     .tls_config(cert.server_config()?)
///     .grpc_web(true)
///     .bind("127.0.0.1:50051".parse()?)
///     .await?;
/// tokio::spawn(http.serve());
/// server.serve().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GrpcServer {
    handle: ServerHandle,
    tls: Option<ServerTlsConfig>,
    grpc_web: bool,
    cors: Cors,
    max_concurrent_streams: u32,
    max_pending_accept_reset_streams: usize,
    max_local_error_reset_streams: usize,
    max_header_list_size: u32,
    keep_alive_interval: Option<Duration>,
    handshake_timeout: Duration,
}

/// TLS handshakes in progress at once on one port; connections beyond are dropped.
const MAX_HANDSHAKES: usize = 256;

/// Default for [`GrpcServer::max_pending_accept_reset_streams`].
pub const DEFAULT_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
/// Default for [`GrpcServer::max_local_error_reset_streams`].
pub const DEFAULT_MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;

impl GrpcServer {
    /// Serves the services of the server `handle` belongs to, in cleartext (h2c) unless
    /// [`tls_config`](Self::tls_config) is set.
    pub fn new(handle: ServerHandle) -> Self {
        GrpcServer {
            handle,
            tls: None,
            grpc_web: false,
            cors: Cors::default(),
            max_concurrent_streams: rpc_core::DEFAULT_MAX_CONCURRENT_CALLS,
            max_pending_accept_reset_streams: DEFAULT_MAX_PENDING_ACCEPT_RESET_STREAMS,
            max_local_error_reset_streams: DEFAULT_MAX_LOCAL_ERROR_RESET_STREAMS,
            max_header_list_size: 32 * 1024,
            keep_alive_interval: Some(Duration::from_secs(10)),
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// Serves over TLS (1.3, ALPN `h2`, and `http/1.1` with gRPC-Web) with this certificate:
    /// typically the QUIC side's own config.
    pub fn tls_config(mut self, tls: ServerTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Also answers gRPC-Web requests (`application/grpc-web[+proto]`,
    /// `application/grpc-web-text`), over HTTP/1.1 and HTTP/2, with CORS for browsers as
    /// [`cors`](Self::cors) says (default off).
    pub fn grpc_web(mut self, enabled: bool) -> Self {
        self.grpc_web = enabled;
        self
    }

    /// Which origins' pages may call gRPC-Web from a browser (default
    /// [`Cors::any_origin`]: any page, without credentials).
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = cors;
        self
    }

    /// How many calls one connection may have open at once (HTTP/2
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`, default 1024).
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// How many streams a client may reset before the server has accepted them, at once,
    /// before the connection is closed with `ENHANCE_YOUR_CALM` (default 20): the defence
    /// against "rapid reset" floods (CVE-2023-44487, RUSTSEC-2023-0034).
    pub fn max_pending_accept_reset_streams(mut self, streams: usize) -> Self {
        self.max_pending_accept_reset_streams = streams;
        self
    }

    /// How many streams the server may reset for protocol errors of the client before it
    /// closes the connection (default 1024).
    pub fn max_local_error_reset_streams(mut self, streams: usize) -> Self {
        self.max_local_error_reset_streams = streams;
        self
    }

    /// The largest request header list accepted (HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE`,
    /// default 32 KiB); the server's own max header list size then applies to the
    /// metadata.
    pub fn max_header_list_size(mut self, bytes: u32) -> Self {
        self.max_header_list_size = bytes;
        self
    }

    /// HTTP/2 `PING` interval on idle connections (default 10 s; `None`: never).
    pub fn keep_alive_interval(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive_interval = interval;
        self
    }

    /// Binds a TCP listener on `addr`.
    pub async fn bind(self, addr: SocketAddr) -> std::io::Result<BoundGrpcServer> {
        let listener = TcpListener::bind(addr).await?;
        self.listen(listener)
    }

    /// Serves the connections of `listener`.
    pub fn listen(self, listener: TcpListener) -> std::io::Result<BoundGrpcServer> {
        let local_addr = listener.local_addr()?;
        let tls = match &self.tls {
            Some(tls) => {
                let mut cfg = tls.to_rustls().map_err(std::io::Error::other)?;
                cfg.alpn_protocols = vec![b"h2".to_vec()];
                if self.grpc_web {
                    cfg.alpn_protocols.push(b"http/1.1".to_vec());
                }
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
            }
            None => None,
        };
        Ok(BoundGrpcServer {
            config: Arc::new(self),
            listener,
            local_addr,
            tls,
        })
    }

    fn builder(&self) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        if !self.grpc_web {
            builder = builder.http2_only();
        }
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.handshake_timeout)
            .max_buf_size(64 * 1024);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.max_concurrent_streams)
            .max_pending_accept_reset_streams(self.max_pending_accept_reset_streams)
            .max_local_error_reset_streams(self.max_local_error_reset_streams)
            .max_header_list_size(self.max_header_list_size)
            .keep_alive_interval(self.keep_alive_interval)
            .keep_alive_timeout(Duration::from_secs(20));
        builder
    }
}

/// A [`GrpcServer`] bound to its TCP port.
pub struct BoundGrpcServer {
    config: Arc<GrpcServer>,
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for BoundGrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundGrpcServer")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl BoundGrpcServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Accepts connections until the rpc-core server starts its graceful shutdown; the
    /// connections take part in it (new calls refused, `GOAWAY`, closed at its end).
    ///
    /// # Cancel safety
    /// Dropping the future stops accepting; connections already accepted go on.
    pub async fn serve(self) {
        let shutdown = self.config.handle.shutdown_started();
        let mut shutdown = std::pin::pin!(shutdown);
        let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        loop {
            let (tcp, remote) = tokio::select! {
                _ = &mut shutdown => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::debug!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let config = self.config.clone();
            let tls = self.tls.clone();
            // Handshakes in progress are capped: each holds TLS state until it completes or
            // times out, for a peer that has proven nothing yet.
            let Ok(ticket) = handshakes.clone().try_acquire_owned() else {
                tracing::debug!("too many TLS handshakes in progress; connection dropped");
                continue;
            };
            tokio::spawn(async move {
                match tls {
                    None => {
                        drop(ticket);
                        serve_tcp(tcp, remote, None, config).await
                    }
                    Some(tls) => {
                        let handshake =
                            tokio::time::timeout(config.handshake_timeout, tls.accept(tcp)).await;
                        drop(ticket);
                        match handshake {
                            Ok(Ok(stream)) => {
                                // The client's certificate, verified in the handshake (mutual
                                // TLS): the calls' peer identity, as over QUIC.
                                let identity =
                                    stream.get_ref().1.peer_certificates().and_then(|chain| {
                                        rpc_core::tls::PeerIdentity::from_chain(chain.to_vec()).ok()
                                    });
                                serve_tcp(stream, remote, identity, config).await
                            }
                            Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        }
                    }
                }
            });
        }
    }
}

/// One HTTP request translated into a call: its two halves.
type Bidi = (ServerSend, ServerRecv);

/// Serves one TCP (or TLS) connection: hyper drives HTTP, the rpc-core server serves the
/// calls.
async fn serve_tcp<I>(
    io: I,
    remote: SocketAddr,
    identity: Option<rpc_core::tls::PeerIdentity>,
    config: Arc<GrpcServer>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (calls_tx, calls_rx) = mpsc::channel(config.max_concurrent_streams.max(1) as usize);
    let close = CancellationToken::new();
    let drain = CancellationToken::new();
    let reason = Arc::new(Mutex::new(None));
    let conn = ServerConn {
        calls: Mutex::new(calls_rx),
        close: close.clone(),
        drain: drain.clone(),
        reason: reason.clone(),
        remote,
        identity,
    };
    tokio::spawn(config.handle.serve_connection(conn));
    let ctx = Arc::new(ConnCtx {
        calls: calls_tx,
        grpc_web: config.grpc_web,
        cors: config.cors.clone(),
    });
    let service = hyper::service::service_fn(move |req| handle(req, ctx.clone()));
    let builder = config.builder();
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let shutdown = config.handle.shutdown_started();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut draining = false;
    let result = loop {
        tokio::select! {
            res = conn.as_mut() => break res,
            _ = &mut shutdown, if !draining => {
                // GOAWAY: the client sends no new calls; those in flight finish.
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = drain.cancelled(), if !draining => {
                // The server drains this connection (its maximum age): GOAWAY too.
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = close.cancelled() => {
                if !draining {
                    conn.as_mut().graceful_shutdown();
                }
                break tokio::time::timeout(Duration::from_secs(1), conn.as_mut())
                    .await
                    .unwrap_or(Ok(()));
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!("HTTP connection from {remote} ended: {e}");
    }
    let mut reason = reason.lock().unwrap_or_else(|e| e.into_inner());
    reason.get_or_insert_with(|| ConnectionError::new("HTTP connection closed"));
}

struct ConnCtx {
    calls: mpsc::Sender<Bidi>,
    grpc_web: bool,
    cors: Cors,
}

/// An HTTP connection as rpc-core's server sees it: a source of streams.
struct ServerConn {
    /// Polled by the connection's task alone: a plain lock, held only while polling.
    calls: Mutex<mpsc::Receiver<Bidi>>,
    close: CancellationToken,
    /// Sends `GOAWAY`: no new calls, those in flight finish.
    drain: CancellationToken,
    reason: Arc<Mutex<Option<ConnectionError>>>,
    remote: SocketAddr,
    identity: Option<rpc_core::tls::PeerIdentity>,
}

impl ServerConn {
    fn reason(&self) -> Option<ConnectionError> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Connection for ServerConn {
    type SendStream = ServerSend;
    type RecvStream = ServerRecv;

    fn open_bi(&self) -> impl Future<Output = Result<Bidi, ConnectionError>> + Send + '_ {
        std::future::ready(Err(ConnectionError::new(
            "a server opens no streams over HTTP/2",
        )))
    }

    async fn accept_bi(&self) -> Result<Bidi, ConnectionError> {
        let next = std::future::poll_fn(|cx| {
            self.calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .poll_recv(cx)
        });
        match next.await {
            Some(bidi) => Ok(bidi),
            None => Err(self
                .reason()
                .unwrap_or_else(|| ConnectionError::new("HTTP connection closed"))),
        }
    }

    fn close(&self, code: ErrorCode, _reason: &[u8]) {
        {
            let mut reason = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            reason.get_or_insert_with(|| ConnectionError::closed(code, "closed by the server"));
        }
        self.close.cancel();
    }

    fn close_reason(&self) -> Option<ConnectionError> {
        self.reason()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.remote)
    }

    fn peer_identity(&self) -> Option<rpc_core::tls::PeerIdentity> {
        self.identity.clone()
    }

    fn send_drain(&self) -> bool {
        // HTTP/2's GOAWAY says it (PROTOCOL.md §16.5).
        self.drain.cancel();
        true
    }
}

/// An HTTP response or an HTTP/2 reset, from the call's send half to the request's handler.
type Head = Result<Response<PipeBody>, h2::Reason>;

/// What a call's two halves and its HTTP handler share.
struct CallShared {
    /// The status went out (or the call is otherwise over from the server's side).
    finished: AtomicBool,
    /// Cancelled when the response is gone: sent completely, or dropped by hyper after the
    /// client reset the stream.
    gone: CancellationToken,
}

/// Handles one HTTP request: checks it, hands it to the server as a call, answers with what
/// the call writes.
async fn handle(req: Request<Incoming>, ctx: Arc<ConnCtx>) -> Result<Response<PipeBody>, BoxError> {
    let (parts, body) = req.into_parts();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ctx.grpc_web && parts.method == Method::OPTIONS {
        let (status, headers) = ctx.cors.preflight(&parts.headers);
        let mut response = http_error(status);
        response.headers_mut().extend(headers);
        return Ok(response);
    }
    let Some(protocol) = protocol_of(content_type) else {
        return Ok(http_error(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    };
    let web = protocol != Protocol::Grpc;
    if web && !ctx.grpc_web {
        return Ok(http_error(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    if parts.method != Method::POST {
        return Ok(http_error(StatusCode::METHOD_NOT_ALLOWED));
    }
    if !web && parts.version != http::Version::HTTP_2 {
        return Ok(http_error(StatusCode::HTTP_VERSION_NOT_SUPPORTED));
    }
    // A page of an origin the policy does not allow gets no call run (§16.7).
    let cors = match web.then(|| ctx.cors.for_call(&parts.headers)) {
        Some(Verdict::Refused) => return Ok(http_error(StatusCode::FORBIDDEN)),
        Some(Verdict::Allowed(headers)) => headers,
        Some(Verdict::NoOrigin) | None => HeaderMap::new(),
    };
    let reply = |status: Status| Ok(trailers_only(&status, protocol, &cors));
    if !web
        && parts
            .headers
            .get(http::header::TE)
            .map(HeaderValue::as_bytes)
            != Some(b"trailers")
    {
        // PROTOCOL-HTTP2 requires `te: trailers` (it detects proxies that would drop the
        // status); grpc-core refuses requests without it, so do we.
        return reply(Status::internal("missing \"te: trailers\" header"));
    }
    let timeout = match parts.headers.get(mapping::GRPC_TIMEOUT) {
        Some(v) => match mapping::parse_timeout(v.as_bytes()) {
            Ok(t) => Some(t),
            Err(e) => return reply(Status::internal(e.to_string())),
        },
        None => None,
    };
    // Compression as over QUIC (PROTOCOL.md §15, §16.6): the server decompresses the
    // request's messages, and compresses the response's, as its settings say, with an
    // algorithm the client accepts.
    let compression = wire::head::HeadCompression {
        encoding: match mapping::encoding_of(&parts.headers) {
            Ok(encoding) => encoding,
            Err(name) => {
                return reply(Status::unimplemented(format!(
                    "grpc-encoding {name:?} is not supported"
                )))
            }
        },
        accept: mapping::accepted_encodings(&parts.headers),
    };
    let metadata = match mapping::metadata_from_headers(&parts.headers) {
        Ok(md) => md,
        Err(status) => return reply(status),
    };
    let mut head = BytesMut::new();
    wire::encode::request_head_parts(
        parts.uri.path(),
        timeout,
        0,
        &metadata,
        compression,
        &mut head,
    );
    let authority = parts.uri.authority().map(|a| a.to_string()).or_else(|| {
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    });
    let mut extensions = http::Extensions::new();
    extensions.insert(HttpCall {
        protocol,
        version: parts.version,
        authority,
    });
    let shared = Arc::new(CallShared {
        finished: AtomicBool::new(false),
        gone: CancellationToken::new(),
    });
    let guard = shared.gone.clone().drop_guard();
    let (head_tx, head_rx) = oneshot::channel();
    let recv = ServerRecv {
        first: Some(head.freeze()),
        body: Some(body),
        reader: GrpcReader::default(),
        text: (protocol == Protocol::GrpcWebText).then(Base64Stream::default),
        pending: VecDeque::new(),
        done: false,
        extensions: Some(extensions),
    };
    let send = ServerSend {
        reader: QrpcReader::new(),
        events: Vec::new(),
        head: Some(head_tx),
        pipe: None,
        protocol,
        cors,
        shared,
    };
    if ctx.calls.send((send, recv)).await.is_err() {
        return Err(h2::Error::from(h2::Reason::REFUSED_STREAM).into());
    }
    match head_rx.await {
        Ok(Ok(mut response)) => {
            response.body_mut().set_guard(guard);
            Ok(response)
        }
        Ok(Err(reason)) => Err(h2::Error::from(reason).into()),
        Err(_) => Err(h2::Error::from(h2::Reason::INTERNAL_ERROR).into()),
    }
}

/// The protocol a content type names, if one the port serves (`+proto` or no codec suffix).
fn protocol_of(content_type: &str) -> Option<Protocol> {
    // What gRPC clients send, without a lowercase copy.
    if content_type == "application/grpc" {
        return Some(Protocol::Grpc);
    }
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let ct = ct.to_ascii_lowercase();
    let (base, codec) = match ct.split_once('+') {
        Some((base, codec)) => (base, Some(codec)),
        None => (ct.as_str(), None),
    };
    if !matches!(codec, None | Some("proto")) {
        return None;
    }
    match base {
        "application/grpc" => Some(Protocol::Grpc),
        "application/grpc-web" => Some(Protocol::GrpcWeb),
        "application/grpc-web-text" => Some(Protocol::GrpcWebText),
        _ => None,
    }
}

/// An HTTP error without a gRPC status (the request was not a gRPC call).
fn http_error(status: StatusCode) -> Response<PipeBody> {
    let mut response = Response::new(PipeBody::empty());
    *response.status_mut() = status;
    response
}

/// The response headers of a call: 200, the content type, `cors` (gRPC-Web's CORS headers).
fn response_headers(protocol: Protocol, cors: &HeaderMap) -> Response<()> {
    let mut response = Response::new(());
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(protocol.content_type()),
    );
    // What the server decompresses in requests (PROTOCOL-HTTP2 `grpc-accept-encoding`),
    // made once: it is the same on every response.
    static ACCEPTED: std::sync::OnceLock<Option<HeaderValue>> = std::sync::OnceLock::new();
    let accepted = ACCEPTED
        .get_or_init(|| mapping::accept_encoding_value(rpc_core::compression::EncodingSet::all()));
    if let Some(v) = accepted {
        h.insert(mapping::GRPC_ACCEPT_ENCODING, v.clone());
    }
    h.extend(cors.clone());
    response
}

/// A response that is only a status: trailers-only (HTTP/2 `HEADERS` with `END_STREAM`), or
/// for gRPC-Web a body holding just the trailers frame.
fn trailers_only(status: &Status, protocol: Protocol, cors: &HeaderMap) -> Response<PipeBody> {
    let (mut parts, ()) = response_headers(protocol, cors).into_parts();
    if protocol == Protocol::Grpc {
        mapping::put_status(status, &mut parts.headers);
        return Response::from_parts(parts, PipeBody::empty());
    }
    let mut trailers = HeaderMap::new();
    mapping::put_status(status, &mut trailers);
    let frame = crate::frames::web_trailers_frame(&trailers);
    Response::from_parts(parts, PipeBody::full(frame, protocol.framing()))
}

/// The receiving half of a call over HTTP: the request's body as qrpc frames, after the
/// request head made from its headers.
pub(crate) struct ServerRecv {
    first: Option<Bytes>,
    body: Option<Incoming>,
    reader: GrpcReader,
    text: Option<Base64Stream>,
    pending: VecDeque<Bytes>,
    done: bool,
    extensions: Option<http::Extensions>,
}

/// The stream error of a failed HTTP body.
fn stream_error(e: &hyper::Error) -> StreamError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            if let Some(reason) = h2.reason() {
                if h2.is_reset() || h2.is_remote() {
                    return StreamError::Reset(code_of_reason(reason));
                }
            }
            if h2.is_go_away() || h2.is_io() {
                return StreamError::ConnectionLost(ConnectionError::new(h2.to_string()));
            }
        }
        source = err.source();
    }
    StreamError::ConnectionLost(ConnectionError::new(e.to_string()))
}

/// The qrpc code an HTTP/2 reset reason stands for (PROTOCOL.md §16).
pub(crate) fn code_of_reason(reason: h2::Reason) -> ErrorCode {
    match reason {
        h2::Reason::CANCEL | h2::Reason::NO_ERROR => ErrorCode::CANCELLED,
        h2::Reason::REFUSED_STREAM => ErrorCode::REFUSED_STREAM,
        h2::Reason::ENHANCE_YOUR_CALM => ErrorCode::RESOURCE_EXHAUSTED,
        _ => ErrorCode::INTERNAL_ERROR,
    }
}

impl RecvStream for ServerRecv {
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamError>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Ok(Some(first)));
        }
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Poll::Ready(Ok(Some(chunk)));
            }
            if self.done {
                return Poll::Ready(Ok(None));
            }
            let Some(body) = self.body.as_mut() else {
                return Poll::Ready(Ok(None));
            };
            match Pin::new(body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // request trailers: nothing in gRPC
                    };
                    let data = match self.text.as_mut() {
                        Some(text) => match text.push(&data) {
                            Ok(data) => data,
                            Err(_) => {
                                // Not base64: the message cannot be read; ends as truncated.
                                self.done = true;
                                self.pending.push_back(Bytes::from_static(&[0, 0]));
                                continue;
                            }
                        },
                        None => data,
                    };
                    self.reader.push(data, &mut self.pending);
                }
                Poll::Ready(None) => {
                    self.done = true;
                    self.body = None;
                    if self.text.as_ref().is_some_and(|t| !t.is_empty()) {
                        // Base64 cut short: the message cannot be complete.
                        self.pending.push_back(Bytes::from_static(&[0, 0]));
                    }
                    self.reader.finish(&mut self.pending);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.body = None;
                    self.done = true;
                    return Poll::Ready(Err(stream_error(&e)));
                }
            }
        }
    }

    fn stop(&mut self, _code: ErrorCode) {
        // Dropping the body tells h2 the rest is not wanted.
        self.body = None;
        self.done = true;
        self.pending.clear();
    }

    fn take_extensions(&mut self) -> Option<http::Extensions> {
        self.extensions.take()
    }
}

/// The sending half of a call over HTTP: the qrpc frames the server writes, as HTTP response
/// headers, gRPC messages and trailers.
pub(crate) struct ServerSend {
    reader: QrpcReader,
    events: Vec<QEvent>,
    /// Until the response headers went out.
    head: Option<oneshot::Sender<Head>>,
    pipe: Option<PipeTx>,
    protocol: Protocol,
    /// gRPC-Web's CORS headers, for the response.
    cors: HeaderMap,
    shared: Arc<CallShared>,
}

impl ServerSend {
    fn gone() -> StreamError {
        StreamError::Stopped(ErrorCode::CANCELLED)
    }

    /// Sends the response headers (with `metadata`, and the algorithm of the compressed
    /// messages that follow), opening the body.
    fn open(
        &mut self,
        metadata: &rpc_core::MetadataMap,
        encoding: Option<rpc_core::CompressionEncoding>,
    ) -> Result<(), StreamError> {
        let Some(head) = self.head.take() else {
            return Ok(());
        };
        let parts = self.response_parts(metadata, encoding);
        let (tx, body) = pipe(self.protocol.framing());
        self.pipe = Some(tx);
        head.send(Ok(Response::from_parts(parts, body)))
            .map_err(|_| Self::gone())
    }

    /// The response headers: 200, content type, `grpc-encoding`, metadata.
    fn response_parts(
        &self,
        metadata: &rpc_core::MetadataMap,
        encoding: Option<rpc_core::CompressionEncoding>,
    ) -> http::response::Parts {
        let (mut parts, ()) = response_headers(self.protocol, &self.cors).into_parts();
        if let Some(encoding) = encoding {
            let value = mapping::encoding_value(encoding);
            parts.headers.insert(mapping::GRPC_ENCODING, value);
        }
        mapping::put_metadata(metadata, &mut parts.headers);
        parts
    }

    /// A whole response written at once before its headers went out (a unary call's
    /// message and status, typically): one response with a body made of it, no channel.
    fn whole(&mut self, events: &mut Vec<QEvent>) -> Result<(), StreamError> {
        let malformed =
            |what: &str| StreamError::ConnectionLost(ConnectionError::new(what.to_owned()));
        let mut head = None;
        let mut items = VecDeque::new();
        let mut status = None;
        for event in events.drain(..) {
            match event {
                QEvent::Head(payload) => {
                    let head_parts = wire::head::decode_response_head_with(payload)
                        .map_err(|_| malformed("malformed response head"))?;
                    head = Some(head_parts);
                }
                QEvent::Data(data) => items.push_back(Item::Data(data)),
                QEvent::Trailers(payload) => {
                    let decoded = wire::head::decode_trailers(payload)
                        .map_err(|_| malformed("malformed trailers"))?;
                    status = Some(decoded);
                }
            }
        }
        let status = status.unwrap_or_else(|| Status::internal("no status"));
        if head.is_none() && items.is_empty() {
            return self.status(&status);
        }
        self.shared.finished.store(true, Ordering::Release);
        let (metadata, encoding) = head.unwrap_or_default();
        let parts = self.response_parts(&metadata, encoding);
        let mut trailers = HeaderMap::new();
        mapping::put_status(&status, &mut trailers);
        items.push_back(Item::Trailers(trailers));
        let body = PipeBody::whole(items, self.protocol.framing());
        match self.head.take() {
            Some(tx) => tx
                .send(Ok(Response::from_parts(parts, body)))
                .map_err(|_| Self::gone()),
            None => Err(Self::gone()),
        }
    }

    /// Ends the call with `status`, in the trailers or as a trailers-only response.
    fn status(&mut self, status: &Status) -> Result<(), StreamError> {
        self.shared.finished.store(true, Ordering::Release);
        if let Some(head) = self.head.take() {
            let response = trailers_only(status, self.protocol, &self.cors);
            return head.send(Ok(response)).map_err(|_| Self::gone());
        }
        let mut trailers = HeaderMap::new();
        mapping::put_status(status, &mut trailers);
        match self.pipe.take() {
            Some(pipe) if pipe.send(Item::Trailers(trailers)) => Ok(()),
            _ => Err(Self::gone()),
        }
    }

    fn handle(&mut self, event: QEvent) -> Result<(), StreamError> {
        let malformed =
            |what: &str| StreamError::ConnectionLost(ConnectionError::new(what.to_owned()));
        match event {
            QEvent::Head(payload) => {
                let (md, encoding) = wire::head::decode_response_head_with(payload)
                    .map_err(|_| malformed("malformed response head"))?;
                self.open(&md, encoding)
            }
            QEvent::Data(data) => {
                // No head: no compressed message either (PROTOCOL.md §15.3).
                self.open(&rpc_core::MetadataMap::new(), None)?;
                match &self.pipe {
                    Some(pipe) if pipe.send(Item::Data(data)) => Ok(()),
                    _ => Err(Self::gone()),
                }
            }
            QEvent::Trailers(payload) => {
                let status = wire::head::decode_trailers(payload)
                    .map_err(|_| malformed("malformed trailers"))?;
                self.status(&status)
            }
        }
    }
}

impl SendStream for ServerSend {
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<(), StreamError>> {
        if let Some(pipe) = &self.pipe {
            if pipe.poll_ready(cx).is_pending() {
                return Poll::Pending;
            }
            if pipe.is_closed() {
                return Poll::Ready(Err(Self::gone()));
            }
        } else if self.head.as_ref().is_some_and(oneshot::Sender::is_closed) {
            return Poll::Ready(Err(Self::gone()));
        }
        let chunk = std::mem::take(data);
        let mut events = std::mem::take(&mut self.events);
        if let Err(e) = self.reader.push(chunk, &mut events) {
            tracing::error!("the server wrote a frame that cannot go over HTTP/2: {e}");
            self.reset(ErrorCode::INTERNAL_ERROR);
            return Poll::Ready(Err(StreamError::Closed));
        }
        // Headers not sent yet and the status already written: the response is whole.
        let whole = self.head.is_some() && matches!(events.last(), Some(QEvent::Trailers(_)));
        let mut result = Ok(());
        if whole {
            result = self.whole(&mut events);
        }
        for event in events.drain(..) {
            if result.is_ok() {
                result = self.handle(event);
            }
        }
        self.events = events;
        Poll::Ready(result)
    }

    fn finish(&mut self) {
        self.shared.finished.store(true, Ordering::Release);
        self.pipe = None;
        self.head = None;
    }

    fn reset(&mut self, code: ErrorCode) {
        if self.shared.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        // A deadline or a limit is a status gRPC clients expect in trailers; at a message
        // boundary it can still be sent as one (PROTOCOL.md §16.4).
        let status = match code {
            ErrorCode::DEADLINE_EXCEEDED => Some(Status::deadline_exceeded("deadline exceeded")),
            ErrorCode::RESOURCE_EXHAUSTED => Some(Status::resource_exhausted("limit exceeded")),
            _ => None,
        };
        if let Some(status) = status.filter(|_| !self.reader.in_message()) {
            let _ = self.status(&status);
            return;
        }
        let reason = match code {
            ErrorCode::REFUSED_STREAM | ErrorCode::TOO_EARLY => h2::Reason::REFUSED_STREAM,
            ErrorCode::CANCELLED | ErrorCode::DEADLINE_EXCEEDED => h2::Reason::CANCEL,
            _ => h2::Reason::INTERNAL_ERROR,
        };
        if let Some(head) = self.head.take() {
            let _ = head.send(Err(reason));
        } else if let Some(pipe) = self.pipe.take() {
            pipe.send(Item::Reset(reason));
        }
    }

    fn stopped(
        &self,
    ) -> impl Future<Output = Result<Option<ErrorCode>, StreamError>> + Send + 'static + use<> {
        let shared = self.shared.clone();
        async move {
            shared.gone.cancelled().await;
            if shared.finished.load(Ordering::Acquire) {
                Ok(None)
            } else {
                Ok(Some(ErrorCode::CANCELLED))
            }
        }
    }
}

impl Drop for ServerSend {
    fn drop(&mut self) {
        if !self.shared.finished.load(Ordering::Acquire) {
            self.reset(ErrorCode::CANCELLED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(protocol_of("application/grpc"), Some(Protocol::Grpc));
        assert_eq!(protocol_of("application/grpc+proto"), Some(Protocol::Grpc));
        assert_eq!(
            protocol_of("application/grpc; charset=utf-8"),
            Some(Protocol::Grpc)
        );
        assert_eq!(protocol_of("application/grpc+json"), None);
        assert_eq!(protocol_of("application/json"), None);
        assert_eq!(protocol_of(""), None);
        assert_eq!(protocol_of("application/grpc-web"), Some(Protocol::GrpcWeb));
        assert_eq!(
            protocol_of("application/grpc-web+proto"),
            Some(Protocol::GrpcWeb)
        );
        assert_eq!(
            protocol_of("application/grpc-web-text"),
            Some(Protocol::GrpcWebText)
        );
    }

    #[test]
    fn reasons_map_to_codes() {
        assert_eq!(code_of_reason(h2::Reason::CANCEL), ErrorCode::CANCELLED);
        assert_eq!(
            code_of_reason(h2::Reason::REFUSED_STREAM),
            ErrorCode::REFUSED_STREAM
        );
        assert_eq!(
            code_of_reason(h2::Reason::PROTOCOL_ERROR),
            ErrorCode::INTERNAL_ERROR
        );
    }
}
