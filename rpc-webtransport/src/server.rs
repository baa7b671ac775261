//! The server side: an rpc-core server's services over WebTransport, on a UDP port.

use crate::conn::{WebTransportCall, WebTransportConnection};
use rpc_core::server::ServerHandle;
use rpc_core::tls::ServerTlsConfig;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Default for [`WebTransportServer::path`].
pub const DEFAULT_PATH: &str = "/qrpc";
/// Default for [`WebTransportServer::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: usize = 256;
/// Default for [`WebTransportServer::max_concurrent_streams`].
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Default for [`WebTransportServer::handshake_timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`WebTransportServer::retry_after_handshakes`].
pub const DEFAULT_RETRY_AFTER_HANDSHAKES: usize = 64;
/// Default for [`WebTransportServer::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a [`WebTransportServer`] could not be bound.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The TLS configuration cannot be used.
    #[error("tls: {0}")]
    Tls(String),
    /// The UDP socket could not be bound.
    #[error("binding the UDP socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves an rpc-core server's services over WebTransport (HTTP/3 on QUIC), so browsers call
/// them in the qrpc/1 framing (PROTOCOL.md §19): one session per page, one bidirectional
/// stream per call. Calls go through the server's own routing, layers, interceptors,
/// deadlines, limits and shutdown; a handler can tell them by the
/// [`WebTransportCall`] in their extensions.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use rpc_core::Server;
/// use rpc_webtransport::{dev::BrowserDevCertificate, WebTransportServer};
///
/// let cert = BrowserDevCertificate::loopback()?;
/// let server = Server::builder()
///     .tls_config(cert.server_config()?)
///     // .add_service(GreeterServer::new(MyGreeter))
///     .bind("127.0.0.1:50051".parse()?)?;
/// let wt = WebTransportServer::new(server.handle())
///     .bind("127.0.0.1:4433".parse()?, cert.server_config()?)?;
/// println!("{} sha-256 {}", wt.url(), cert.sha256_hex());
/// tokio::spawn(wt.serve());
/// server.serve().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct WebTransportServer {
    handle: ServerHandle,
    path: String,
    allowed_origins: Option<Vec<String>>,
    max_sessions: usize,
    max_concurrent_streams: u32,
    handshake_timeout: Duration,
    retry_after_handshakes: usize,
    idle_timeout: Duration,
    keep_alive_interval: Option<Duration>,
}

impl WebTransportServer {
    /// Serves the services of the server `handle` belongs to.
    pub fn new(handle: ServerHandle) -> Self {
        WebTransportServer {
            handle,
            path: DEFAULT_PATH.to_owned(),
            allowed_origins: None,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            retry_after_handshakes: DEFAULT_RETRY_AFTER_HANDSHAKES,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            keep_alive_interval: Some(Duration::from_secs(10)),
        }
    }

    /// The path of the session request (`https://host:port/qrpc` by default); other paths are
    /// answered HTTP 404.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Accepts sessions only from pages of these origins (`https://app.example.com`,
    /// compared exactly); others are answered HTTP 403, as are clients that send no origin.
    /// Default: any origin, and clients that send none. WebTransport has no CORS: the server
    /// decides whom it serves. Browsers send no cookies or HTTP authentication with a
    /// session, so a page can only use credentials it holds itself (metadata); restrict
    /// origins when the server trusts something else a browser has, such as its network.
    pub fn allow_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// How many sessions may be open or being set up at once (default 256); further QUIC
    /// handshakes are refused (`CONNECTION_REFUSED`). Sessions also count toward the rpc-core
    /// server's `max_connections`.
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.max_sessions = sessions.min(u32::MAX as usize);
        self
    }

    /// How many calls (bidirectional streams) one session may have open at once (QUIC
    /// `MAX_STREAMS`, default 100); a client's further streams wait for credit. A stream
    /// whose request head does not arrive within the rpc-core server's header timeout is
    /// reset, which returns its credit.
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// How long a client has, from its first packet, to complete the QUIC handshake and its
    /// session request (default 10 s); then the connection is dropped.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// From how many handshakes in progress a client must prove its address first (a QUIC
    /// Retry, one more round trip) before it holds a place (default 64): so that packets
    /// with forged source addresses cannot fill the sessions for the handshake timeout.
    /// `0`: always.
    pub fn retry_after_handshakes(mut self, handshakes: usize) -> Self {
        self.retry_after_handshakes = handshakes;
        self
    }

    /// How long a session may stay silent (no packet at all, QUIC's `max_idle_timeout`)
    /// before it is closed (default 30 s). Browsers acknowledge the server's keep-alives, so
    /// a live page's session stays open.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// QUIC `PING` interval on idle sessions (default 10 s; `None`: never).
    pub fn keep_alive_interval(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive_interval = interval;
        self
    }

    /// Binds a UDP socket on `addr`, serving TLS 1.3 with ALPN `h3` with `tls`'s certificate
    /// (for browsers pinning a hash: [`BrowserDevCertificate`](crate::dev::BrowserDevCertificate)).
    pub fn bind(
        self,
        addr: SocketAddr,
        tls: ServerTlsConfig,
    ) -> Result<BoundWebTransportServer, BindError> {
        let mut rustls = tls.to_rustls().map_err(|e| BindError::Tls(e.to_string()))?;
        rustls.alpn_protocols = vec![wtransport::tls::WEBTRANSPORT_ALPN.to_vec()];
        rustls.max_early_data_size = 0;
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(rustls)
            .map_err(|e| BindError::Tls(e.to_string()))?;
        let mut quic = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        quic.transport_config(Arc::new(self.transport()));
        let endpoint = quinn::Endpoint::server(quic, addr)?;
        let local_addr = endpoint.local_addr()?;
        Ok(BoundWebTransportServer {
            endpoint,
            local_addr,
            config: Arc::new(self),
        })
    }

    fn transport(&self) -> quinn::TransportConfig {
        let mut t = quinn::TransportConfig::default();
        // The session request (HTTP/3 `CONNECT`) is a bidirectional stream too, open as
        // long as the session.
        let streams = self.max_concurrent_streams.saturating_add(1);
        t.max_concurrent_bidi_streams(streams.into())
            // HTTP/3's control and QPACK streams (three each way), and a little room: qrpc
            // uses no unidirectional WebTransport streams.
            .max_concurrent_uni_streams(8u32.into())
            .max_idle_timeout(quinn::IdleTimeout::try_from(self.idle_timeout).ok())
            .keep_alive_interval(self.keep_alive_interval)
            // Browsers require datagram support for WebTransport; qrpc sends none, and what a
            // peer sends is bounded here (older datagrams are dropped).
            .datagram_receive_buffer_size(Some(64 * 1024));
        t
    }

    fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match (&self.allowed_origins, origin) {
            (None, _) => true,
            (Some(allowed), Some(origin)) => allowed.iter().any(|a| a == origin),
            (Some(_), None) => false,
        }
    }
}

/// A [`WebTransportServer`] bound to its UDP port.
pub struct BoundWebTransportServer {
    endpoint: quinn::Endpoint,
    local_addr: SocketAddr,
    config: Arc<WebTransportServer>,
}

impl std::fmt::Debug for BoundWebTransportServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundWebTransportServer")
            .field("local_addr", &self.local_addr)
            .field("path", &self.config.path)
            .finish_non_exhaustive()
    }
}

impl BoundWebTransportServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL a page connects to: `https://<local address><path>`.
    pub fn url(&self) -> String {
        format!("https://{}{}", self.local_addr, self.config.path)
    }

    /// Accepts sessions until the rpc-core server starts its graceful shutdown; the sessions
    /// take part in it (new calls refused, closed at its end). Resolves once they are all
    /// over, refusing new ones meanwhile.
    ///
    /// # Cancel safety
    /// Dropping the future stops accepting; sessions already accepted go on.
    pub async fn serve(self) {
        let shutdown = self.config.handle.shutdown_started();
        let mut shutdown = std::pin::pin!(shutdown);
        let sessions = Arc::new(Semaphore::new(self.config.max_sessions));
        let handshakes = Arc::new(AtomicUsize::new(0));
        loop {
            let incoming = tokio::select! {
                _ = &mut shutdown => break,
                incoming = self.endpoint.accept() => match incoming {
                    Some(incoming) => incoming,
                    None => return, // the endpoint was closed
                },
            };
            let busy = handshakes.load(Ordering::Relaxed) >= self.config.retry_after_handshakes;
            if busy && !incoming.remote_address_validated() {
                if let Err(e) = incoming.retry() {
                    e.into_incoming().refuse();
                }
                continue;
            }
            // Counted from the first packet: a client that proves nothing holds a place
            // only until the handshake timeout.
            let Ok(place) = sessions.clone().try_acquire_owned() else {
                tracing::debug!(
                    "WebTransport session from {} refused: {} sessions open",
                    incoming.remote_address(),
                    self.config.max_sessions
                );
                incoming.refuse();
                continue;
            };
            let config = self.config.clone();
            let handshaking = HandshakeGuard::new(&handshakes);
            tokio::spawn(async move {
                let _place = place;
                let timeout = config.handshake_timeout;
                let session = tokio::time::timeout(timeout, establish(incoming, &config)).await;
                drop(handshaking);
                if let Ok(Some(session)) = session {
                    config.handle.serve_connection(session).await;
                }
            });
        }
        // Sessions being served take part in the shutdown; new handshakes are refused
        // (`CONNECTION_REFUSED`, at once) until they are all over.
        let all = u32::try_from(self.config.max_sessions).unwrap_or(u32::MAX);
        let mut drained = std::pin::pin!(sessions.acquire_many(all));
        loop {
            tokio::select! {
                _ = &mut drained => break,
                incoming = self.endpoint.accept() => match incoming {
                    Some(incoming) => incoming.refuse(),
                    None => break,
                },
            }
        }
        self.endpoint.set_server_config(None);
    }
}

/// Counts a handshake in progress while it lives.
struct HandshakeGuard(Arc<AtomicUsize>);

impl HandshakeGuard {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        HandshakeGuard(count.clone())
    }
}

impl Drop for HandshakeGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Completes the handshake and the session request of `incoming`, checking its path and
/// origin; `None` when refused.
async fn establish(
    incoming: quinn::Incoming,
    config: &WebTransportServer,
) -> Option<WebTransportConnection> {
    let remote = incoming.remote_address();
    let request =
        match wtransport::endpoint::IncomingSessionFuture::with_quic_incoming(incoming).await {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!("WebTransport session from {remote} failed: {e}");
                return None;
            }
        };
    // The path without its query: a page may add one (cache busting, a token for a layer).
    let path = request.path().split('?').next().unwrap_or("");
    if path != config.path {
        request.not_found().await;
        return None;
    }
    if !config.origin_allowed(request.origin()) {
        tracing::debug!(
            "WebTransport session from {remote} refused: origin {:?}",
            request.origin()
        );
        request.forbidden().await;
        return None;
    }
    let call = WebTransportCall {
        authority: request.authority().to_owned(),
        path: request.path().to_owned(),
        origin: request.origin().map(str::to_owned),
    };
    match request.accept().await {
        Ok(conn) => Some(WebTransportConnection::new(conn, Some(call))),
        Err(e) => {
            tracing::debug!("WebTransport session from {remote} failed: {e}");
            None
        }
    }
}
