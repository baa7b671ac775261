//! The client side: a [`Channel`] whose calls go to a standard gRPC server over HTTP/2.
//!
//! [`GrpcConnector`] is a [`Connector`] of rpc-core's transport seam: each connection is one
//! HTTP/2 connection (TLS with ALPN `h2`, or cleartext h2c), each stream one HTTP request.
//! The channel writes qrpc frames as always; the request head becomes the request's headers
//! (`grpc-timeout` from the deadline, metadata with `-bin` values in base64), messages become
//! gRPC's length-prefixed messages; the response's headers, messages and trailers come back
//! as qrpc frames. Deadlines, cancellation (dropping a call resets its HTTP/2 stream), limits
//! and statuses are the channel's own, as over QUIC.

use crate::frames::{
    pipe, Framing, GoawayScanner, GrpcReader, Item, PipeBody, PipeTx, QEvent, QrpcReader,
};
use crate::mapping;
use crate::server::code_of_reason;
use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Response, Uri};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rpc_core::tls::ClientTlsConfig;
use rpc_core::transport::{
    Connection, ConnectionError, Connector, RecvStream, Security, SendStream, StreamError,
};
use rpc_core::wire::{self, ErrorCode, RequestHead};
use rpc_core::{Channel, Endpoint, Status};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<Incoming>, hyper::Error>> + Send + 'static>>;

/// Connects a [`Channel`] to a gRPC server over HTTP/2: tonic, grpc-go, grpcio, or an
/// rpc-core server's [`GrpcServer`](crate::GrpcServer) port.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let channel = rpc_grpc::GrpcConnector::new("http://127.0.0.1:50051")?
///     .connect()
///     .await?;
/// // let client = GreeterClient::new(channel);
/// # let _ = channel;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GrpcConnector {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
    security: Security,
    connect_timeout: Duration,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for GrpcConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcConnector")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a [`GrpcConnector`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The address is not `http://host:port` or `https://host:port`.
    #[error("invalid gRPC server address {0:?}: want http://host:port or https://host:port")]
    Address(String),
    /// The TLS settings could not be used.
    #[error(transparent)]
    Tls(#[from] rpc_core::tls::TlsError),
}

impl GrpcConnector {
    /// Connects to `uri`: `http://host:port` for cleartext HTTP/2 (h2c, prior knowledge),
    /// `https://host:port` for TLS, which needs [`tls_config`](Self::tls_config).
    pub fn new(uri: impl AsRef<str>) -> Result<Self, ConnectorError> {
        let text = uri.as_ref();
        let bad = || ConnectorError::Address(text.to_owned());
        let uri: Uri = text.parse().map_err(|_| bad())?;
        let scheme = uri.scheme().cloned().ok_or_else(bad)?;
        let authority = uri.authority().cloned().ok_or_else(bad)?;
        if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            return Err(bad());
        }
        Ok(GrpcConnector {
            scheme,
            authority,
            tls: None,
            security: Security::Unknown,
            connect_timeout: Duration::from_secs(10),
            user_agent: HeaderValue::from_static(concat!("rpc-grpc/", env!("CARGO_PKG_VERSION"))),
        })
    }

    /// TLS settings (trusted roots, name to verify, client certificate): the same as a
    /// QUIC [`Endpoint`]'s. The address's scheme becomes `https`.
    pub fn tls_config(mut self, tls: ClientTlsConfig) -> Result<Self, ConnectorError> {
        let mut cfg = tls.to_rustls()?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        let host = tls
            .server_name()
            .unwrap_or_else(|| self.authority.host())
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let name = rustls_pki_types::ServerName::try_from(host)
            .map_err(|_| ConnectorError::Address(self.authority.to_string()))?;
        self.tls = Some((tokio_rustls::TlsConnector::from(Arc::new(cfg)), name));
        self.scheme = http::uri::Scheme::HTTPS;
        // A development certificate's trust is reported as such, as over QUIC.
        self.security = tls.security_for(self.authority.host());
        Ok(self)
    }

    /// How long connecting (TCP and TLS) may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// An [`Endpoint`] over this connector, for the channel's settings (timeouts, limits,
    /// interceptors).
    pub fn endpoint(self) -> Endpoint {
        Endpoint::from_connector(self)
    }

    /// Connects a channel with default settings.
    pub async fn connect(self) -> Result<Channel, rpc_core::Error> {
        self.endpoint().connect().await
    }

    async fn open(&self) -> Result<ClientConn, String> {
        let host = self
            .authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = self
            .authority
            .port_u16()
            .unwrap_or(if self.tls.is_some() { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.authority))?;
        let _ = tcp.set_nodelay(true);
        let remote = tcp.peer_addr().ok();
        match &self.tls {
            None => self.handshake(tcp, remote).await,
            Some((tls, name)) => {
                let stream = tls
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {}: {e}", self.authority))?;
                if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return Err(format!(
                        "{} did not agree to HTTP/2 (ALPN h2)",
                        self.authority
                    ));
                }
                self.handshake(stream, remote).await
            }
        }
    }

    async fn handshake<I>(&self, io: I, remote: Option<SocketAddr>) -> Result<ClientConn, String>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let goaway = CancellationToken::new();
        let io = GoawayWatch {
            io,
            scanner: GoawayScanner::default(),
            goaway: goaway.clone(),
        };
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true)
            .handshake::<_, PipeBody>(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP/2 handshake with {}: {e}", self.authority))?;
        let close = CancellationToken::new();
        let ended = CancellationToken::new();
        let reason = Arc::new(Mutex::new(None));
        let driver_reason = reason.clone();
        let driver_close = close.clone();
        let driver_ended = ended.clone().drop_guard();
        tokio::spawn(async move {
            let message = tokio::select! {
                res = conn => match res {
                    Ok(()) => "HTTP/2 connection closed".to_owned(),
                    Err(e) => format!("HTTP/2 connection lost: {e}"),
                },
                _ = driver_close.cancelled() => "HTTP/2 connection closed by the client".to_owned(),
            };
            let mut reason = driver_reason.lock().unwrap_or_else(|e| e.into_inner());
            reason.get_or_insert_with(|| ConnectionError::new(message));
            drop(driver_ended);
        });
        Ok(ClientConn {
            sender,
            close,
            ended,
            goaway,
            reason,
            remote,
            scheme: self.scheme.clone(),
            authority: self.authority.clone(),
            user_agent: self.user_agent.clone(),
        })
    }
}

impl Connector for GrpcConnector {
    type Connection = ClientConn;

    async fn connect(&self) -> Result<ClientConn, rpc_core::Error> {
        match tokio::time::timeout(self.connect_timeout, self.open()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(rpc_core::Error::connect_failed(e)),
            Err(_) => Err(rpc_core::Error::connect_timed_out(format!(
                "connecting to {} timed out",
                self.authority
            ))),
        }
    }

    fn security(&self) -> Security {
        self.security
    }
}

/// One HTTP/2 connection to a gRPC server, as a channel uses it.
pub struct ClientConn {
    sender: hyper::client::conn::http2::SendRequest<PipeBody>,
    close: CancellationToken,
    /// Cancelled when the connection's driver ended.
    ended: CancellationToken,
    /// Cancelled when the server sent `GOAWAY`: no new calls on this connection.
    goaway: CancellationToken,
    reason: Arc<Mutex<Option<ConnectionError>>>,
    remote: Option<SocketAddr>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for ClientConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConn")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl ClientConn {
    fn reason(&self) -> Option<ConnectionError> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

type Bidi = (ClientSend, ClientRecv);

impl Connection for ClientConn {
    type SendStream = ClientSend;
    type RecvStream = ClientRecv;

    async fn open_bi(&self) -> Result<Bidi, ConnectionError> {
        if self.goaway.is_cancelled() {
            // Drained (PROTOCOL.md §12.1): the channel opens a new connection for the call.
            return Err(ConnectionError::new("the server sent GOAWAY"));
        }
        let mut sender = self.sender.clone();
        if let Err(e) = std::future::poll_fn(|cx| sender.poll_ready(cx)).await {
            return Err(self
                .reason()
                .unwrap_or_else(|| ConnectionError::new(format!("HTTP/2 connection: {e}"))));
        }
        let (response_tx, response_rx) = oneshot::channel();
        let shared = Arc::new(ClientShared {
            finished: AtomicBool::new(false),
            gone: CancellationToken::new(),
        });
        let send = ClientSend {
            sender: Some(sender),
            reader: QrpcReader::new(),
            events: Vec::new(),
            response: Some(response_tx),
            pipe: None,
            shared: shared.clone(),
            scheme: self.scheme.clone(),
            authority: self.authority.clone(),
            user_agent: self.user_agent.clone(),
        };
        let recv = ClientRecv {
            state: RecvState::Waiting(response_rx),
            reader: GrpcReader::default(),
            pending: VecDeque::new(),
            trailers: false,
        };
        Ok((send, recv))
    }

    fn accept_bi(&self) -> impl Future<Output = Result<Bidi, ConnectionError>> + Send + '_ {
        std::future::ready(Err(ConnectionError::new(
            "a gRPC server opens no streams to its client",
        )))
    }

    fn close(&self, code: ErrorCode, _reason: &[u8]) {
        {
            let mut reason = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            reason.get_or_insert_with(|| ConnectionError::closed(code, "closed by the client"));
        }
        self.close.cancel();
    }

    fn close_reason(&self) -> Option<ConnectionError> {
        if self.sender.is_closed() {
            return Some(
                self.reason()
                    .unwrap_or_else(|| ConnectionError::new("HTTP/2 connection closed")),
            );
        }
        self.reason()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    async fn closed(&self) {
        self.ended.cancelled().await
    }

    /// Resolves once the server sent `GOAWAY` (graceful shutdown, maximum connection age):
    /// HTTP/2's drain notice (PROTOCOL.md §12.1, §16.5). Calls in flight finish on the
    /// connection; new ones go on a new one.
    ///
    /// # Cancel safety
    /// Cancel safe.
    async fn drained(&self) {
        self.goaway.cancelled().await
    }
}

/// The connection's byte stream, watched for the server's `GOAWAY` (hyper handles it but
/// does not report it until the connection ends).
struct GoawayWatch<I> {
    io: I,
    scanner: GoawayScanner,
    goaway: CancellationToken,
}

impl<I: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for GoawayWatch<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.scanner.push(&buf.filled()[before..]) {
            this.goaway.cancel();
        }
        read
    }
}

impl<I: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for GoawayWatch<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

struct ClientShared {
    /// The request body ended (or was reset) on the client's side.
    finished: AtomicBool,
    /// Cancelled when hyper dropped the request body.
    gone: CancellationToken,
}

/// The sending half of a call: qrpc frames in, an HTTP/2 request out.
pub struct ClientSend {
    sender: Option<hyper::client::conn::http2::SendRequest<PipeBody>>,
    reader: QrpcReader,
    events: Vec<QEvent>,
    response: Option<oneshot::Sender<ResponseFuture>>,
    pipe: Option<PipeTx>,
    shared: Arc<ClientShared>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for ClientSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSend")
    }
}

impl ClientSend {
    /// Sends the request: headers from the qrpc request head, the body a pipe.
    fn start(&mut self, payload: Bytes) -> Result<(), StreamError> {
        let (head, compression) = RequestHead::decode_with_compression(payload)
            .map_err(|e| StreamError::ConnectionLost(ConnectionError::new(e.to_string())))?;
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(head.path.as_str())
            .build()
            .map_err(|e| StreamError::ConnectionLost(ConnectionError::new(e.to_string())))?;
        let (tx, mut body) = pipe(Framing::Http);
        body.set_guard(self.shared.gone.clone().drop_guard());
        let mut request = Request::post(uri)
            .body(body)
            .map_err(|e| StreamError::ConnectionLost(ConnectionError::new(e.to_string())))?;
        let h = request.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        h.insert(http::header::TE, HeaderValue::from_static("trailers"));
        h.insert(http::header::USER_AGENT, self.user_agent.clone());
        if let Some(timeout) = head.timeout {
            if let Ok(v) = HeaderValue::from_str(&mapping::format_timeout(timeout)) {
                h.insert(mapping::GRPC_TIMEOUT, v);
            }
        }
        // The channel's compression (PROTOCOL.md §16.6): the request's messages with the
        // COMPRESSED flag use `encoding`; `accept` is what it decompresses in the response.
        if let Some(encoding) = compression.encoding {
            h.insert(mapping::GRPC_ENCODING, mapping::encoding_value(encoding));
        }
        if let Some(accept) = mapping::accept_encoding_value(compression.accept) {
            h.insert(mapping::GRPC_ACCEPT_ENCODING, accept);
        }
        mapping::put_metadata(&head.metadata, h);
        let Some(mut sender) = self.sender.take() else {
            return Err(StreamError::Closed);
        };
        let future: ResponseFuture = Box::pin(sender.send_request(request));
        self.pipe = Some(tx);
        if let Some(response) = self.response.take() {
            // The receive half gone: the call is over; dropping the future cancels it.
            let _ = response.send(future);
        }
        Ok(())
    }
}

impl SendStream for ClientSend {
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
                return Poll::Ready(Err(StreamError::Stopped(ErrorCode::NO_ERROR)));
            }
        }
        let chunk = std::mem::take(data);
        let mut events = std::mem::take(&mut self.events);
        if let Err(e) = self.reader.push(chunk, &mut events) {
            return Poll::Ready(Err(StreamError::ConnectionLost(ConnectionError::new(e))));
        }
        let mut result = Ok(());
        for event in events.drain(..) {
            if result.is_err() {
                break;
            }
            result = match event {
                QEvent::Head(payload) => self.start(payload),
                QEvent::Data(data) => match &self.pipe {
                    Some(pipe) if pipe.send(Item::Data(data)) => Ok(()),
                    Some(_) => Err(StreamError::Stopped(ErrorCode::NO_ERROR)),
                    None => Err(StreamError::Closed),
                },
                QEvent::Trailers(_) => Err(StreamError::Closed),
            };
        }
        self.events = events;
        Poll::Ready(result)
    }

    fn finish(&mut self) {
        self.shared.finished.store(true, Ordering::Release);
        self.pipe = None;
    }

    fn reset(&mut self, _code: ErrorCode) {
        self.shared.finished.store(true, Ordering::Release);
        // hyper resets the HTTP/2 stream with the error's reason.
        if let Some(pipe) = self.pipe.take() {
            pipe.send(Item::Reset(h2::Reason::CANCEL));
        }
        self.response = None;
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
                Ok(Some(ErrorCode::NO_ERROR))
            }
        }
    }
}

enum RecvState {
    Waiting(oneshot::Receiver<ResponseFuture>),
    Response(ResponseFuture),
    Body(Incoming),
    Done,
}

/// The receiving half of a call: an HTTP/2 response in, qrpc frames out.
pub struct ClientRecv {
    state: RecvState,
    reader: GrpcReader,
    pending: VecDeque<Bytes>,
    trailers: bool,
}

impl std::fmt::Debug for ClientRecv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientRecv")
    }
}

fn trailers_frame(status: &Status) -> Bytes {
    let mut buf = BytesMut::new();
    wire::encode::trailers(status, &mut buf);
    buf.freeze()
}

/// The stream error of a failed response.
fn response_error(e: &hyper::Error) -> StreamError {
    if e.is_canceled() {
        // hyper never sent the request (the connection was closing): unprocessed.
        return StreamError::Reset(ErrorCode::REFUSED_STREAM);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            if h2.is_go_away() && h2.is_remote() {
                // A stream above the server's GOAWAY's last stream id: not processed
                // (RFC 9113 §6.8), so it may go again on a new connection (§12.1).
                return StreamError::Reset(ErrorCode::REFUSED_STREAM);
            }
            if h2.is_go_away() || h2.is_io() {
                break;
            }
            if let Some(reason) = h2.reason() {
                return StreamError::Reset(code_of_reason(reason));
            }
        }
        source = err.source();
    }
    StreamError::ConnectionLost(ConnectionError::new(format!("HTTP/2: {e}")))
}

impl ClientRecv {
    /// The response's headers: the call's response head, or its whole status.
    fn head(&mut self, response: Response<Incoming>) {
        let (parts, body) = response.into_parts();
        if parts.status != http::StatusCode::OK {
            let status = if parts.headers.contains_key(mapping::GRPC_STATUS) {
                mapping::status_from_headers(&parts.headers)
            } else {
                mapping::status_from_http(parts.status)
            };
            self.pending.push_back(trailers_frame(&status));
            self.trailers = true;
            self.state = RecvState::Done;
            return;
        }
        let grpc = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/grpc"));
        if parts.headers.contains_key(mapping::GRPC_STATUS) {
            // Trailers-only.
            let status = mapping::status_from_headers(&parts.headers);
            self.pending.push_back(trailers_frame(&status));
            self.trailers = true;
            self.state = RecvState::Done;
            return;
        }
        if !grpc {
            let status = Status::internal(format!(
                "the server answered with content type {:?}, not application/grpc",
                parts.headers.get(CONTENT_TYPE)
            ));
            self.pending.push_back(trailers_frame(&status));
            self.trailers = true;
            self.state = RecvState::Done;
            return;
        }
        // The channel checks the algorithm against what it accepts (PROTOCOL.md §15.3); one
        // this build does not know cannot be named to it, so it fails the call here.
        let encoding = match mapping::encoding_of(&parts.headers) {
            Ok(encoding) => encoding,
            Err(name) => {
                let status =
                    Status::internal(format!("the server compressed with unknown {name:?}"));
                self.pending.push_back(trailers_frame(&status));
                self.trailers = true;
                self.state = RecvState::Done;
                return;
            }
        };
        let metadata = mapping::metadata_from_headers(&parts.headers).unwrap_or_default();
        let mut head = BytesMut::new();
        wire::encode::response_head_with(&metadata, encoding, &mut head);
        self.pending.push_back(head.freeze());
        self.state = RecvState::Body(body);
    }
}

impl RecvStream for ClientRecv {
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamError>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Poll::Ready(Ok(Some(chunk)));
            }
            match &mut self.state {
                RecvState::Done => return Poll::Ready(Ok(None)),
                RecvState::Waiting(rx) => match Pin::new(rx).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(future)) => self.state = RecvState::Response(future),
                    Poll::Ready(Err(_)) => {
                        self.state = RecvState::Done;
                        return Poll::Ready(Err(StreamError::Reset(ErrorCode::CANCELLED)));
                    }
                },
                RecvState::Response(future) => match future.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(response)) => self.head(response),
                    Poll::Ready(Err(e)) => {
                        self.state = RecvState::Done;
                        return Poll::Ready(Err(response_error(&e)));
                    }
                },
                RecvState::Body(body) => match Pin::new(body).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) => self.reader.push(data, &mut self.pending),
                        Err(frame) => {
                            if let Ok(trailers) = frame.into_trailers() {
                                if !self.reader.in_message() {
                                    let status = mapping::status_from_headers(&trailers);
                                    self.pending.push_back(trailers_frame(&status));
                                    self.trailers = true;
                                }
                                self.state = RecvState::Done;
                            }
                        }
                    },
                    Poll::Ready(None) => {
                        self.reader.finish(&mut self.pending);
                        if !self.trailers && !self.reader.in_message() {
                            let status =
                                Status::internal("the server ended the response without a status");
                            self.pending.push_back(trailers_frame(&status));
                        }
                        self.state = RecvState::Done;
                    }
                    Poll::Ready(Some(Err(e))) => {
                        self.state = RecvState::Done;
                        return Poll::Ready(Err(response_error(&e)));
                    }
                },
            }
        }
    }

    fn stop(&mut self, _code: ErrorCode) {
        // Dropping the response (future or body) resets the HTTP/2 stream (CANCEL).
        self.state = RecvState::Done;
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a connector reports follows its trust, as a QUIC endpoint's does: a development
    /// certificate is never reported as verified.
    #[test]
    fn security_follows_the_tls_config_and_host() {
        let dev = rpc_core::tls::dev::SelfSigned::generate(&["localhost", "example.com"])
            .unwrap()
            .client_config();
        let at = |url: &str, tls: &ClientTlsConfig| {
            GrpcConnector::new(url)
                .unwrap()
                .tls_config(tls.clone())
                .unwrap()
                .security()
        };
        assert_eq!(at("https://127.0.0.1:1", &dev), Security::DevLoopback);
        assert_eq!(at("https://localhost:1", &dev), Security::DevLoopback);
        assert_eq!(at("https://[::1]:1", &dev), Security::DevLoopback);
        assert_eq!(at("https://example.com:1", &dev), Security::DevRemote);
        let roots = ClientTlsConfig::new();
        assert_eq!(at("https://example.com:1", &roots), Security::Verified);
        // Cleartext h2c says nothing it cannot vouch for.
        assert_eq!(
            GrpcConnector::new("http://127.0.0.1:1").unwrap().security(),
            Security::Unknown
        );
    }
}
