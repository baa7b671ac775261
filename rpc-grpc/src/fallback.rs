//! Transport fallback: QUIC when the network lets it through, gRPC over HTTP/2 when it does
//! not, as browsers do for HTTP/3 (PROTOCOL.md §20).
//!
//! Some networks drop UDP. A [`FallbackConnector`] knows a server's QUIC address and its
//! HTTP/2 address (a [`GrpcServer`](crate::GrpcServer) port next to the QUIC port) and races
//! them when a channel connects: QUIC starts first, HTTP/2 after a head start (300 ms, or at
//! once when QUIC fails), the first connection made wins and the other attempt is dropped
//! (RFC 8305's spirit). When HTTP/2 won, QUIC is remembered as broken for that host for a
//! while (5 minutes): connects then go straight to HTTP/2, and probe QUIC in the background
//! now and then, so that new connections use QUIC again once UDP gets through.
//!
//! Every response of a channel over it says which transport carried its call
//! ([`Transport`] in [`Response::extensions`](rpc_core::Response::extensions)), and
//! [`FallbackConnector::transport`] says which one its last connection uses.

use crate::client::{ConnectorError, GrpcConnector};
use bytes::Bytes;
use futures_util::future::Either;
use rpc_core::tls::ClientTlsConfig;
use rpc_core::transport::quic::QuicConnector;
use rpc_core::transport::{
    BidiStream, Connection, ConnectionError, ConnectionStats, Connector, RecvStream, Security,
    SendStream, StreamError,
};
use rpc_core::wire::ErrorCode;
use rpc_core::{Channel, Endpoint};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// The transport that carried a call: in the extensions of every response on a channel over
/// a [`FallbackConnector`] (`response.extensions().get::<Transport>()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// QUIC (`qrpc/1`, PROTOCOL.md §3).
    Quic,
    /// gRPC over HTTP/2 (PROTOCOL.md §16), the fallback.
    Http2,
}

/// What a [`FallbackConnector`] learned about hosts whose QUIC did not work: shared by the
/// connector's clones, and by other connectors given the same memory
/// ([`FallbackConnector::memory`]). Cheap to clone; clones share it.
#[derive(Clone, Default)]
pub struct FallbackMemory(Arc<Mutex<HashMap<String, Broken>>>);

impl std::fmt::Debug for FallbackMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackMemory").finish_non_exhaustive()
    }
}

/// QUIC to a host lost a race or failed: connects skip it until `until`.
#[derive(Debug, Clone, Copy)]
struct Broken {
    until: Instant,
    /// When QUIC was last probed in the background.
    probed: Option<Instant>,
}

impl FallbackMemory {
    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Broken>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether QUIC to `host` is known broken at `now` (an expired entry is dropped).
    fn is_broken(&self, host: &str, now: Instant) -> bool {
        let mut map = self.lock();
        match map.get(host) {
            Some(b) if b.until > now => true,
            Some(_) => {
                map.remove(host);
                false
            }
            None => false,
        }
    }

    fn mark_broken(&self, host: &str, until: Instant) {
        let mut map = self.lock();
        let probed = map.get(host).and_then(|b| b.probed);
        map.insert(host.to_owned(), Broken { until, probed });
    }

    fn forget(&self, host: &str) {
        self.lock().remove(host);
    }

    /// Whether to probe QUIC to a broken `host` now: not probed within `interval`. Notes
    /// the probe.
    fn take_probe(&self, host: &str, now: Instant, interval: Duration) -> bool {
        let mut map = self.lock();
        let Some(broken) = map.get_mut(host) else {
            return false;
        };
        if broken.probed.is_some_and(|at| now < at + interval) {
            return false;
        }
        broken.probed = Some(now);
        true
    }
}

/// How long HTTP/2 waits for QUIC before it starts too (Chrome's head start for QUIC).
pub(crate) const DEFAULT_HEAD_START: Duration = Duration::from_millis(300);
/// How long QUIC is skipped for a host after it lost a race or failed.
pub(crate) const DEFAULT_BROKEN_TTL: Duration = Duration::from_secs(300);
/// How often QUIC is probed in the background while skipped.
pub(crate) const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(30);

/// A [`Connector`] that races QUIC and gRPC over HTTP/2 and remembers which works
/// (PROTOCOL.md §20): QUIC when UDP gets through, HTTP/2 when it does not.
///
/// `Q` and `H` are the two transports' connectors; the defaults are rpc-core's QUIC
/// ([`QuicConnector`]) and [`GrpcConnector`]. Clones share the memory of broken hosts and
/// [`transport`](Self::transport).
///
/// Security is never weakened: [`for_host`](Self::for_host) uses TLS (ALPN `h2`) with the
/// same trust settings on both transports; cleartext h2c only happens when you give
/// [`new`](Self::new) a `GrpcConnector` for an `http://` address yourself, and then
/// [`Connector::security`] says so ([`Security::Unknown`]: credential layers refuse it).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use rpc_core::tls::ClientTlsConfig;
/// use rpc_grpc::{FallbackConnector, Transport};
///
/// // QUIC on UDP 443, gRPC over HTTP/2 (TLS) on TCP 443.
/// let connector = FallbackConnector::for_host("example.com", 443, 443, ClientTlsConfig::new())?;
/// let channel = connector.clone().connect().await?;
/// // let reply = GreeterClient::new(channel).say_hello(..).await?;
/// // reply.extensions().get::<Transport>() says which one carried the call.
/// println!("connected over {:?}", connector.transport());
/// # let _ = channel;
/// # Ok(()) }
/// ```
pub struct FallbackConnector<Q = QuicConnector, H = GrpcConnector> {
    quic: Arc<Q>,
    http2: Arc<H>,
    /// The key of the memory: the QUIC target's `host:port`.
    host: Arc<str>,
    head_start: Duration,
    broken_ttl: Duration,
    probe_interval: Duration,
    memory: FallbackMemory,
    current: Arc<Mutex<Option<Transport>>>,
}

impl<Q, H> Clone for FallbackConnector<Q, H> {
    fn clone(&self) -> Self {
        FallbackConnector {
            quic: self.quic.clone(),
            http2: self.http2.clone(),
            host: self.host.clone(),
            head_start: self.head_start,
            broken_ttl: self.broken_ttl,
            probe_interval: self.probe_interval,
            memory: self.memory.clone(),
            current: self.current.clone(),
        }
    }
}

impl<Q, H> std::fmt::Debug for FallbackConnector<Q, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackConnector")
            .field("host", &self.host)
            .field("head_start", &self.head_start)
            .field("broken_ttl", &self.broken_ttl)
            .field("transport", &self.transport())
            .finish_non_exhaustive()
    }
}

impl FallbackConnector {
    /// Races QUIC to `quic` (its host, port, TLS and QUIC settings) and gRPC over HTTP/2
    /// with `http2`. Use the same trust settings for both (as [`for_host`](Self::for_host)
    /// does): the fallback must not be weaker than QUIC.
    pub fn new(quic: Endpoint, http2: GrpcConnector) -> Self {
        let host = format!("{}:{}", quic.host(), quic.port());
        Self::from_connectors(host, QuicConnector::new(quic), http2)
    }

    /// One host that serves QUIC on UDP `quic_port` and gRPC over HTTP/2 with TLS (ALPN
    /// `h2`) on TCP `http2_port`, both verified with `tls`.
    pub fn for_host(
        host: &str,
        quic_port: u16,
        http2_port: u16,
        tls: ClientTlsConfig,
    ) -> Result<Self, ConnectorError> {
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let endpoint = Endpoint::new(format!("{host}:{quic_port}"))
            .map_err(|_| ConnectorError::Address(host.clone()))?
            .tls_config(tls.clone());
        let http2 = GrpcConnector::new(format!("https://{host}:{http2_port}"))?.tls_config(tls)?;
        Ok(Self::new(endpoint, http2))
    }
}

impl<Q, H> FallbackConnector<Q, H> {
    /// How long QUIC runs alone before HTTP/2 starts too (default 300 ms). A QUIC attempt
    /// that fails sooner starts HTTP/2 at once.
    pub fn head_start(mut self, head_start: Duration) -> Self {
        self.head_start = head_start;
        self
    }

    /// How long connects skip QUIC after it lost a race or failed (default 5 minutes).
    pub fn broken_ttl(mut self, ttl: Duration) -> Self {
        self.broken_ttl = ttl;
        self
    }

    /// How often, while QUIC is skipped, a connect also probes it in the background
    /// (default 30 s): a probe that succeeds ends the skipping, so the next connect races
    /// again (and QUIC, with its head start, wins).
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Shares what is learned about broken hosts with other connectors given this memory
    /// (by default each connector has its own, shared by its clones).
    pub fn memory(mut self, memory: FallbackMemory) -> Self {
        self.memory = memory;
        self
    }

    /// The transport of the last connection this connector (or a clone) made, `None`
    /// before the first.
    pub fn transport(&self) -> Option<Transport> {
        *self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether connects skip QUIC now (it lost a race or failed within the TTL, and no
    /// probe has seen it work since).
    pub fn is_quic_broken(&self) -> bool {
        self.memory.is_broken(&self.host, Instant::now())
    }

    fn connected(&self, transport: Transport) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(transport);
    }
}

impl<Q: Connector, H: Connector> FallbackConnector<Q, H> {
    /// Races any two connectors: `quic` first, `http2` as the fallback; `host` names the
    /// target in the memory of broken hosts.
    pub fn from_connectors(host: impl Into<String>, quic: Q, http2: H) -> Self {
        FallbackConnector {
            quic: Arc::new(quic),
            http2: Arc::new(http2),
            host: host.into().into(),
            head_start: DEFAULT_HEAD_START,
            broken_ttl: DEFAULT_BROKEN_TTL,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            memory: FallbackMemory::default(),
            current: Default::default(),
        }
    }

    /// An [`Endpoint`] over this connector, for the channel's settings (timeouts, limits,
    /// interceptors).
    pub fn endpoint(self) -> Endpoint {
        Endpoint::from_connector(self)
    }

    /// Connects a channel with default settings.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons both attempts.
    pub async fn connect(self) -> Result<Channel, rpc_core::Error> {
        self.endpoint().connect().await
    }

    /// QUIC first, HTTP/2 after the head start or once QUIC failed; the first connection
    /// made wins, the other attempt is dropped.
    async fn race(&self) -> Result<Via<Q::Connection, H::Connection>, rpc_core::Error> {
        let quic_failed = tokio::sync::Notify::new();
        let quic = async {
            let result = self.quic.connect().await;
            if result.is_err() {
                quic_failed.notify_one();
            }
            result
        };
        let http2 = async {
            tokio::select! {
                () = tokio::time::sleep(self.head_start) => {}
                () = quic_failed.notified() => {}
            }
            self.http2.connect().await
        };
        let (mut quic, mut http2) = (std::pin::pin!(quic), std::pin::pin!(http2));
        let (mut quic_err, mut http2_err) = (None, None);
        loop {
            tokio::select! {
                biased;
                result = &mut quic, if quic_err.is_none() => match result {
                    Ok(conn) => {
                        self.memory.forget(&self.host);
                        return Ok(Via::Quic(conn));
                    }
                    Err(e) => quic_err = Some(e),
                },
                result = &mut http2, if http2_err.is_none() => match result {
                    Ok(conn) => {
                        let why = quic_err.as_ref().map_or_else(
                            || format!("no handshake within {:?}", self.head_start),
                            ToString::to_string,
                        );
                        tracing::info!("QUIC to {} lost to HTTP/2 ({why})", self.host);
                        self.memory.mark_broken(&self.host, Instant::now() + self.broken_ttl);
                        return Ok(Via::Http2(conn));
                    }
                    Err(e) => http2_err = Some(e),
                },
            }
            if let (Some(q), Some(h)) = (&quic_err, &http2_err) {
                return Err(both_failed(q, h));
            }
        }
    }

    /// QUIC is known broken: HTTP/2 alone (QUIC probed in the background), QUIC only when
    /// HTTP/2 fails too.
    async fn skip_quic(&self) -> Result<Via<Q::Connection, H::Connection>, rpc_core::Error> {
        self.probe();
        let http2_err = match self.http2.connect().await {
            Ok(conn) => return Ok(Via::Http2(conn)),
            Err(e) => e,
        };
        match self.quic.connect().await {
            Ok(conn) => {
                self.memory.forget(&self.host);
                Ok(Via::Quic(conn))
            }
            Err(quic_err) => Err(both_failed(&quic_err, &http2_err)),
        }
    }

    /// Probes QUIC in the background, at most once per probe interval: a connection made
    /// (then closed) ends the skipping. A probe gets one interval to complete.
    fn probe(&self) {
        let now = Instant::now();
        if !self.memory.take_probe(&self.host, now, self.probe_interval) {
            return;
        }
        let (quic, memory, host) = (self.quic.clone(), self.memory.clone(), self.host.clone());
        let limit = self.probe_interval;
        tokio::spawn(async move {
            match tokio::time::timeout(limit, quic.connect()).await {
                Ok(Ok(conn)) => {
                    tracing::info!("QUIC to {host} works again");
                    conn.close(ErrorCode::NO_ERROR, b"probe");
                    memory.forget(&host);
                }
                Ok(Err(e)) => tracing::debug!("QUIC probe to {host}: {e}"),
                Err(_) => tracing::debug!("QUIC probe to {host}: no handshake within {limit:?}"),
            }
        });
    }
}

/// The error when neither transport connected: both causes; a timeout only if both timed
/// out.
fn both_failed(quic: &rpc_core::Error, http2: &rpc_core::Error) -> rpc_core::Error {
    let message = format!("QUIC: {quic}; HTTP/2: {http2}");
    if quic.is_timeout() && http2.is_timeout() {
        rpc_core::Error::connect_timed_out(message)
    } else {
        rpc_core::Error::connect_failed(message)
    }
}

/// The weaker of two transports' protections: a call may go over either.
fn weaker(a: Security, b: Security) -> Security {
    fn rank(s: Security) -> Option<u8> {
        match s {
            Security::Verified => Some(3),
            Security::DevLoopback => Some(2),
            Security::DevRemote => Some(1),
            _ => None,
        }
    }
    if a == b {
        return a;
    }
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) if x <= y => a,
        (Some(_), Some(_)) => b,
        // Not comparable (in-process beside a network transport, or unknown): say nothing.
        _ => Security::Unknown,
    }
}

impl<Q: Connector, H: Connector> Connector for FallbackConnector<Q, H> {
    type Connection = Via<Q::Connection, H::Connection>;

    async fn connect(&self) -> Result<Self::Connection, rpc_core::Error> {
        let conn = if self.memory.is_broken(&self.host, Instant::now()) {
            self.skip_quic().await?
        } else {
            self.race().await?
        };
        self.connected(conn.transport());
        Ok(conn)
    }

    /// The weaker of the two transports' protections: the channel's next connection may use
    /// either, and credential layers must not send a secret that only one protects.
    fn security(&self) -> Security {
        weaker(self.quic.security(), self.http2.security())
    }
}

/// A connection, or a stream half, of one of a [`FallbackConnector`]'s transports: the
/// transport traits are implemented by dispatching to the one it is.
#[derive(Debug)]
pub enum Via<Q, H> {
    /// Over QUIC.
    Quic(Q),
    /// Over gRPC/HTTP/2.
    Http2(H),
}

impl<Q, H> Via<Q, H> {
    /// The transport it is carried by.
    pub fn transport(&self) -> Transport {
        match self {
            Via::Quic(_) => Transport::Quic,
            Via::Http2(_) => Transport::Http2,
        }
    }
}

/// `$e` on whichever transport `$via` is.
macro_rules! on {
    ($via:expr, $x:ident => $e:expr) => {
        match $via {
            Via::Quic($x) => $e,
            Via::Http2($x) => $e,
        }
    };
}

impl<Q: SendStream, H: SendStream> SendStream for Via<Q, H> {
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<(), StreamError>> {
        on!(self, s => s.poll_write(cx, data))
    }

    fn finish(&mut self) {
        on!(self, s => s.finish())
    }

    fn reset(&mut self, code: ErrorCode) {
        on!(self, s => s.reset(code))
    }

    fn stopped(
        &self,
    ) -> impl Future<Output = Result<Option<ErrorCode>, StreamError>> + Send + 'static + use<Q, H>
    {
        match self {
            Via::Quic(s) => Either::Left(s.stopped()),
            Via::Http2(s) => Either::Right(s.stopped()),
        }
    }

    fn set_priority(&mut self, priority: i32) {
        on!(self, s => s.set_priority(priority))
    }
}

impl<Q: RecvStream, H: RecvStream> RecvStream for Via<Q, H> {
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamError>> {
        on!(self, r => r.poll_read(cx))
    }

    fn stop(&mut self, code: ErrorCode) {
        on!(self, r => r.stop(code))
    }

    /// The transport's own, and the [`Transport`] that carried the call.
    fn take_extensions(&mut self) -> Option<http::Extensions> {
        let transport = self.transport();
        let mut extensions = on!(self, r => r.take_extensions()).unwrap_or_default();
        extensions.insert(transport);
        Some(extensions)
    }
}

impl<Q: Connection, H: Connection> Connection for Via<Q, H> {
    type SendStream = Via<Q::SendStream, H::SendStream>;
    type RecvStream = Via<Q::RecvStream, H::RecvStream>;

    async fn open_bi(&self) -> Result<BidiStream<Self>, ConnectionError> {
        Ok(match self {
            Via::Quic(c) => {
                let (send, recv) = c.open_bi().await?;
                (Via::Quic(send), Via::Quic(recv))
            }
            Via::Http2(c) => {
                let (send, recv) = c.open_bi().await?;
                (Via::Http2(send), Via::Http2(recv))
            }
        })
    }

    async fn accept_bi(&self) -> Result<BidiStream<Self>, ConnectionError> {
        Ok(match self {
            Via::Quic(c) => {
                let (send, recv) = c.accept_bi().await?;
                (Via::Quic(send), Via::Quic(recv))
            }
            Via::Http2(c) => {
                let (send, recv) = c.accept_bi().await?;
                (Via::Http2(send), Via::Http2(recv))
            }
        })
    }

    fn close(&self, code: ErrorCode, reason: &[u8]) {
        on!(self, c => c.close(code, reason))
    }

    fn close_reason(&self) -> Option<ConnectionError> {
        on!(self, c => c.close_reason())
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        on!(self, c => c.remote_addr())
    }

    fn rtt(&self) -> Option<Duration> {
        on!(self, c => c.rtt())
    }

    fn peer_identity(&self) -> Option<rpc_core::tls::PeerIdentity> {
        on!(self, c => c.peer_identity())
    }

    async fn closed(&self) {
        on!(self, c => c.closed().await)
    }

    fn send_drain(&self) -> bool {
        on!(self, c => c.send_drain())
    }

    async fn drained(&self) {
        on!(self, c => c.drained().await)
    }

    fn stats(&self) -> Option<ConnectionStats> {
        on!(self, c => c.stats())
    }
}

#[cfg(test)]
mod tests {
    //! The race and the memory, deterministic: paused time, in-memory connections standing
    //! in for QUIC and HTTP/2 whose connects succeed, fail at once, hang or take a while.
    use super::*;
    use rpc_core::transport::mem::{self, MemConnection, MemConnector, MemListener};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, Clone, Copy)]
    enum Behaviour {
        Works,
        FailsFast,
        Hangs,
        After(Duration),
    }

    /// A connector that behaves as told, and counts its attempts.
    #[derive(Clone)]
    struct Scripted {
        target: MemConnector,
        behaviour: Arc<Mutex<Behaviour>>,
        attempts: Arc<AtomicUsize>,
    }

    impl Scripted {
        fn new(behaviour: Behaviour) -> (Self, MemListener) {
            let (target, listener) = mem::listener();
            let scripted = Scripted {
                target,
                behaviour: Arc::new(Mutex::new(behaviour)),
                attempts: Arc::default(),
            };
            (scripted, listener)
        }

        fn set(&self, behaviour: Behaviour) {
            *self.behaviour.lock().unwrap() = behaviour;
        }

        fn attempts(&self) -> usize {
            self.attempts.load(Ordering::SeqCst)
        }
    }

    impl Connector for Scripted {
        type Connection = MemConnection;

        async fn connect(&self) -> Result<MemConnection, rpc_core::Error> {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let behaviour = *self.behaviour.lock().unwrap();
            match behaviour {
                Behaviour::Works => {}
                Behaviour::FailsFast => {
                    return Err(rpc_core::Error::connect_failed("network unreachable"))
                }
                Behaviour::Hangs => std::future::pending().await,
                Behaviour::After(delay) => tokio::time::sleep(delay).await,
            }
            self.target.connect().await
        }

        fn security(&self) -> Security {
            Security::InProcess
        }
    }

    struct Race {
        quic: Scripted,
        http2: Scripted,
        connector: FallbackConnector<Scripted, Scripted>,
        _listeners: (MemListener, MemListener),
    }

    fn race(quic: Behaviour, http2: Behaviour) -> Race {
        let (q, ql) = Scripted::new(quic);
        let (h, hl) = Scripted::new(http2);
        let connector = FallbackConnector::from_connectors("example.com:443", q.clone(), h.clone())
            .broken_ttl(Duration::from_secs(60))
            .probe_interval(Duration::from_secs(3600));
        Race {
            quic: q,
            http2: h,
            connector,
            _listeners: (ql, hl),
        }
    }

    /// Connects; returns the transport and how long it took.
    async fn connect(connector: &FallbackConnector<Scripted, Scripted>) -> (Transport, Duration) {
        let start = Instant::now();
        let conn = Connector::connect(connector).await.expect("connects");
        (conn.transport(), start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn quic_that_answers_wins_and_http2_never_starts() {
        let r = race(
            Behaviour::After(Duration::from_millis(100)),
            Behaviour::Works,
        );
        let (transport, took) = connect(&r.connector).await;
        assert_eq!(transport, Transport::Quic);
        assert_eq!(took, Duration::from_millis(100));
        assert_eq!(
            r.http2.attempts(),
            0,
            "HTTP/2 started within QUIC's head start"
        );
        assert!(!r.connector.is_quic_broken());
        assert_eq!(r.connector.transport(), Some(Transport::Quic));
    }

    #[tokio::test(start_paused = true)]
    async fn silent_quic_loses_to_http2_after_the_head_start() {
        let r = race(Behaviour::Hangs, Behaviour::Works);
        let (transport, took) = connect(&r.connector).await;
        assert_eq!(transport, Transport::Http2);
        assert_eq!(
            took, DEFAULT_HEAD_START,
            "HTTP/2 starts after the head start"
        );
        assert!(r.connector.is_quic_broken());
        assert_eq!(r.connector.transport(), Some(Transport::Http2));

        // Remembered: straight to HTTP/2, no waiting (QUIC only probed in the background).
        let (transport, took) = connect(&r.connector).await;
        assert_eq!((transport, took), (Transport::Http2, Duration::ZERO));
        assert_eq!(r.http2.attempts(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn quic_failing_fast_starts_http2_at_once() {
        let r = race(Behaviour::FailsFast, Behaviour::Works);
        let (transport, took) =
            connect(&r.connector.clone().head_start(Duration::from_secs(5))).await;
        assert_eq!((transport, took), (Transport::Http2, Duration::ZERO));
        assert!(r.connector.is_quic_broken(), "clones share the memory");
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_connection_made_wins_and_the_other_attempt_is_dropped() {
        // QUIC at 400 ms; HTTP/2 starts at 300 ms and would be done at 500 ms.
        let r = race(
            Behaviour::After(Duration::from_millis(400)),
            Behaviour::After(Duration::from_millis(200)),
        );
        let (transport, took) = connect(&r.connector).await;
        assert_eq!(
            (transport, took),
            (Transport::Quic, Duration::from_millis(400))
        );
        assert_eq!(r.http2.attempts(), 1);
        assert!(!r.connector.is_quic_broken());

        // The other way round: HTTP/2 first; QUIC, still handshaking, is abandoned.
        r.quic.set(Behaviour::After(Duration::from_secs(2)));
        let (transport, took) = connect(&r.connector).await;
        assert_eq!(
            (transport, took),
            (Transport::Http2, Duration::from_millis(500))
        );
        assert!(r.connector.is_quic_broken());
    }

    #[tokio::test(start_paused = true)]
    async fn the_memory_expires_and_quic_is_used_again() {
        let r = race(Behaviour::FailsFast, Behaviour::Works);
        assert_eq!(connect(&r.connector).await.0, Transport::Http2);
        assert_eq!(r.quic.attempts(), 1);

        // Within the TTL: HTTP/2 without trying QUIC in line; one background probe, which
        // hangs (UDP still dropped) and is abandoned after the probe interval.
        r.quic.set(Behaviour::Hangs);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(connect(&r.connector).await.0, Transport::Http2);
        tokio::task::yield_now().await;
        assert_eq!(r.quic.attempts(), 2, "one probe");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(connect(&r.connector).await.0, Transport::Http2);
        tokio::task::yield_now().await;
        assert_eq!(
            r.quic.attempts(),
            2,
            "no second probe within the probe interval"
        );

        // UDP is back; past the TTL the race runs again and QUIC wins.
        r.quic.set(Behaviour::Works);
        tokio::time::advance(Duration::from_secs(41)).await;
        assert!(!r.connector.is_quic_broken());
        assert_eq!(connect(&r.connector).await.0, Transport::Quic);
        assert_eq!(r.connector.transport(), Some(Transport::Quic));
    }

    #[tokio::test(start_paused = true)]
    async fn a_background_probe_that_succeeds_ends_the_skipping() {
        let r = race(Behaviour::FailsFast, Behaviour::Works);
        let connector = r.connector.clone().probe_interval(Duration::from_secs(5));
        assert_eq!(connect(&connector).await.0, Transport::Http2);
        r.quic.set(Behaviour::After(Duration::from_millis(50)));
        // Skipping: this connect is HTTP/2, and starts the probe.
        assert_eq!(connect(&connector).await.0, Transport::Http2);
        assert!(connector.is_quic_broken());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!connector.is_quic_broken(), "the probe saw QUIC work");
        assert_eq!(connect(&connector).await.0, Transport::Quic);
    }

    #[tokio::test(start_paused = true)]
    async fn http2_failing_while_quic_is_skipped_tries_quic() {
        let r = race(Behaviour::FailsFast, Behaviour::Works);
        assert_eq!(connect(&r.connector).await.0, Transport::Http2);
        r.http2.set(Behaviour::FailsFast);
        r.quic.set(Behaviour::Works);
        assert_eq!(connect(&r.connector).await.0, Transport::Quic);
        assert!(!r.connector.is_quic_broken());
    }

    #[tokio::test(start_paused = true)]
    async fn neither_working_is_one_error_naming_both() {
        let r = race(Behaviour::FailsFast, Behaviour::FailsFast);
        let err = Connector::connect(&r.connector).await.expect_err("fails");
        assert!(err.is_connect() && !err.is_timeout(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("QUIC: ") && text.contains("HTTP/2: "),
            "{text}"
        );
        assert_eq!(r.connector.transport(), None);
    }

    #[test]
    fn security_is_the_weaker_of_the_two() {
        use Security::*;
        assert_eq!(weaker(Verified, Verified), Verified);
        assert_eq!(weaker(Verified, DevLoopback), DevLoopback);
        assert_eq!(weaker(DevRemote, DevLoopback), DevRemote);
        assert_eq!(weaker(Verified, Unknown), Unknown);
        assert_eq!(weaker(InProcess, InProcess), InProcess);
        assert_eq!(weaker(InProcess, Verified), Unknown);
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Msg {
        #[prost(string, tag = "1")]
        pub text: String,
    }

    type Replies =
        std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Msg, rpc_core::Status>> + Send>>;

    #[rpc_core::service(package = "test", name = "Echo")]
    pub trait Echo {
        async fn unary(
            &self,
            request: rpc_core::Request<Msg>,
        ) -> Result<rpc_core::Response<Msg>, rpc_core::Status>;

        async fn collect(
            &self,
            request: rpc_core::Request<rpc_core::Streaming<Msg>>,
        ) -> Result<rpc_core::Response<Msg>, rpc_core::Status>;

        async fn chat(
            &self,
            request: rpc_core::Request<rpc_core::Streaming<Msg>>,
        ) -> Result<
            rpc_core::Response<impl futures_util::Stream<Item = Result<Msg, rpc_core::Status>>>,
            rpc_core::Status,
        >;
    }

    struct EchoImpl;

    impl Echo for EchoImpl {
        async fn unary(
            &self,
            request: rpc_core::Request<Msg>,
        ) -> Result<rpc_core::Response<Msg>, rpc_core::Status> {
            Ok(rpc_core::Response::new(request.into_inner()))
        }

        async fn collect(
            &self,
            request: rpc_core::Request<rpc_core::Streaming<Msg>>,
        ) -> Result<rpc_core::Response<Msg>, rpc_core::Status> {
            let mut requests = request.into_inner();
            let mut text = String::new();
            while let Some(msg) = requests.message().await? {
                text.push_str(&msg.text);
            }
            Ok(rpc_core::Response::new(Msg { text }))
        }

        type ChatStream = Replies;
        async fn chat(
            &self,
            request: rpc_core::Request<rpc_core::Streaming<Msg>>,
        ) -> Result<rpc_core::Response<Replies>, rpc_core::Status> {
            use futures_util::StreamExt;
            Ok(rpc_core::Response::new(request.into_inner().boxed()))
        }
    }

    /// Serves the echo service on `listener`.
    fn serve(listener: MemListener) -> rpc_core::server::ServerHandle {
        let server = rpc_core::Server::builder()
            .add_service(echo_server::EchoServer::new(EchoImpl))
            .listen(listener);
        let handle = server.handle();
        tokio::spawn(server.serve());
        handle
    }

    /// Each response says which transport carried its call, and the channel reconnects
    /// over the other once it is the one that works.
    #[tokio::test(start_paused = true)]
    async fn each_call_reports_its_transport() {
        let (quic, quic_listener) = Scripted::new(Behaviour::Hangs);
        let (http2, http2_listener) = Scripted::new(Behaviour::Works);
        let servers = [serve(quic_listener), serve(http2_listener)];
        let connector = FallbackConnector::from_connectors("test:1", quic.clone(), http2)
            .broken_ttl(Duration::from_secs(60))
            .probe_interval(Duration::from_secs(3600));
        let channel = connector.clone().connect().await.unwrap();
        assert_eq!(channel.transport_security(), Security::InProcess);
        let client = echo_client::EchoClient::new(channel.clone());
        let reply = client.unary(Msg { text: "a".into() }).await.unwrap();
        assert_eq!(
            reply.extensions().get::<Transport>(),
            Some(&Transport::Http2)
        );
        assert_eq!(reply.into_inner().text, "a");
        // Every kind of call: the streamed responses' extensions too.
        let words = || futures_util::stream::iter(["x", "y"].map(|t| Msg { text: t.into() }));
        let reply = client.collect(words()).await.unwrap();
        assert_eq!(
            reply.extensions().get::<Transport>(),
            Some(&Transport::Http2)
        );
        assert_eq!(reply.into_inner().text, "xy");
        let replies = client.chat(words()).await.unwrap();
        assert_eq!(
            replies.extensions().get::<Transport>(),
            Some(&Transport::Http2)
        );
        let mut replies = replies.into_inner();
        assert_eq!(replies.message().await.unwrap().unwrap().text, "x");

        // The connection ends; past the TTL, with UDP back, the next call goes over QUIC.
        quic.set(Behaviour::Works);
        servers[1].shutdown();
        tokio::time::advance(Duration::from_secs(61)).await;
        let mut state = channel.watch_state();
        let _ = state
            .wait_for(|s| *s != rpc_core::client::ConnectivityState::Ready)
            .await;
        let reply = client.unary(Msg { text: "b".into() }).await.unwrap();
        assert_eq!(
            reply.extensions().get::<Transport>(),
            Some(&Transport::Quic)
        );
        assert_eq!(connector.transport(), Some(Transport::Quic));
        servers[0].shutdown();
    }
}
