//! The server: a builder, a router of services, a task per call that has to wait (see
//! `start`), graceful shutdown.

mod admission;
mod call;
pub(crate) mod layer;

pub use admission::{
    AddressValidation, AdmissionStats, DEFAULT_HANDSHAKE_BURST, DEFAULT_HANDSHAKE_RATE,
    DEFAULT_MAX_HANDSHAKES, DEFAULT_MAX_HANDSHAKES_PER_ADDRESS, DEFAULT_MAX_TRACKED_ADDRESSES,
    DEFAULT_RETRY_THRESHOLD,
};
pub use call::{
    client_streaming, server_streaming, streaming, unary, unimplemented, CallFuture, CallOutcome,
    ServerCall,
};
pub use layer::BoxCallService;

use crate::config::{settings_setters, Settings};
use crate::error::{Error, Kind};
use crate::interceptor::{Interceptor, Interceptors};
use crate::request::PeerInfo;
use crate::status::Status;
use crate::tls::ServerTlsConfig;
use crate::transport::erased::DynListener;
use crate::transport::{quic, AnyConn, AnyRecv, AnySend, Listener, Peer, RecvHalf, SendHalf};
use crate::wire::machine::ServerCallState;
use crate::wire::{head::split_path, ErrorCode, FrameLimits, ServerEvent, ServerRecv};
use call::CallMeta;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A service's fully qualified protobuf name, `package.Service`; generated servers implement it.
pub trait NamedService {
    /// `package.Service`.
    const NAME: &'static str;
}

/// A service: dispatches a call to the handler of its method ([`ServerCall::method`]).
/// Generated servers implement it; calls with a method the service lacks go to
/// [`unimplemented()`].
pub trait Service: Send + Sync + 'static {
    /// Starts the call: returns the future that runs it, which the server spawns.
    fn call(&self, call: ServerCall) -> CallFuture;

    /// The methods the service serves (generated servers list theirs). The server then
    /// refuses a call of any other method with `UNIMPLEMENTED` before its layers run, so a
    /// layer (an authorization policy) only ever sees calls the router will dispatch.
    /// `None` (the default): the service answers unknown methods itself, after the layers.
    fn methods(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// The methods that may run twice with the effect of once (protobuf `idempotency_level`
    /// `IDEMPOTENT` or `NO_SIDE_EFFECTS`; generated servers list theirs). With
    /// [`ServerBuilder::zero_rtt`], only these run when their call arrives in 0-RTT data,
    /// which can be replayed; any other early call is refused with `TOO_EARLY` and the client
    /// sends it again after the handshake (PROTOCOL.md §3.5). Default: none.
    fn idempotent_methods(&self) -> &'static [&'static str] {
        &[]
    }
}

/// In a call's extensions ([`Request::extensions`](crate::Request::extensions),
/// [`ServerCall::extensions`]) when the call arrived in 0-RTT data, before the handshake
/// completed (like HTTP's `Early-Data: 1`, RFC 8470): it may be a replay, and it runs only
/// because its method is idempotent (PROTOCOL.md §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EarlyData;

/// Entry point: `Server::builder()`.
///
/// # Where handlers run
///
/// Every call runs concurrently with the others of its connection. On a multi-threaded
/// tokio runtime each call is a task of its own. On a current-thread runtime, where all
/// tasks share one thread anyway, a call's first step (up to its handler's first `.await`
/// that waits) runs in its connection's task, and the call becomes a task only if it has to
/// wait: a call answered at once then costs no task. Handlers see no difference, except
/// that `tokio::task::id()` may name the connection's task during that first step.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with default settings and no services.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            settings: Settings::server(),
            tls: None,
            routes: HashMap::new(),
            grace: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            interceptors: Interceptors::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            layers: None,
            admission: admission::Config::default(),
            reset_key: None,
            max_connection_age: None,
            max_connection_age_grace: Duration::from_secs(10),
        }
    }
}

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT) or, on Unix, SIGTERM (what
/// `kill`, systemd, Docker and Kubernetes send). For
/// [`ServerBuilder::serve_with_shutdown`], so that a server drains gracefully however it is
/// stopped:
///
/// ```no_run
/// # async fn demo(builder: rpc_core::ServerBuilder) -> Result<(), rpc_core::Error> {
/// builder
///     .serve_with_shutdown("[::]:50051".parse().unwrap(), rpc_core::server::shutdown_signal())
///     .await
/// # }
/// ```
///
/// The signal handlers are installed when the future is first polled; until then a SIGTERM
/// ends the process as usual. If a handler cannot be installed, that signal is not waited
/// for (the other still is).
///
/// # Cancel safety
/// Cancel safe.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => drop(term.recv().await),
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("interrupted: shutting down"),
        () = terminate => tracing::info!("terminated (SIGTERM): shutting down"),
    }
}

pub use crate::config::DEFAULT_MAX_CONNECTIONS;

/// Configures and starts a server.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use rpc_core::{tls::dev::SelfSigned, Server};
///
/// let cert = SelfSigned::loopback()?;
/// Server::builder()
///     .tls_config(cert.server_config()?)
///     // .add_service(GreeterServer::new(MyGreeter))
///     .serve("127.0.0.1:50051".parse()?)
///     .await?;
/// # Ok(()) }
/// ```
pub struct ServerBuilder {
    settings: Settings,
    tls: Option<ServerTlsConfig>,
    routes: HashMap<String, Arc<dyn Service>>,
    grace: Duration,
    header_timeout: Duration,
    interceptors: Interceptors,
    max_connections: usize,
    layers: Option<layer::MakeStack>,
    /// Limits on connection attempts before their handshake (`admission`).
    admission: admission::Config,
    /// The stateless reset key, when set (else random per process).
    reset_key: Option<Vec<u8>>,
    max_connection_age: Option<Duration>,
    max_connection_age_grace: Duration,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("services", &self.routes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// The certificate the server presents (required: QUIC always runs TLS).
    pub fn tls_config(mut self, tls: ServerTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Serves `service` under its protobuf name. A second service of the same name replaces
    /// the first.
    pub fn add_service<S: Service + NamedService>(mut self, service: S) -> Self {
        self.routes.insert(S::NAME.to_owned(), Arc::new(service));
        self
    }

    /// Adds an interceptor that sees every call before its handler runs (in the order added)
    /// and may reject it with a status; see [`Interceptor`].
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> Self {
        self.interceptors.push(interceptor);
        self
    }

    /// Wraps every call in a tower layer, which sees the call ([`ServerCall`]: path,
    /// metadata, deadline, peer, extensions) before its service, and the call's outcome
    /// ([`CallOutcome`]) after. The first layer added is the outermost. An error from a
    /// layer ends the call with its status ([`Status::from_error`]).
    ///
    /// Each connection gets its own stack, built when it is accepted: a layer that is not
    /// `Clone` (tower's `RateLimit`) limits per connection, one sharing state between clones
    /// (`ConcurrencyLimit`) limits across them. While the stack is not ready, the connection
    /// accepts no call. Without layers, calls go straight to their service.
    ///
    /// ```
    /// use std::time::Duration;
    /// let _builder = rpc_core::Server::builder()
    ///     .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(30)))
    ///     .layer(tower::limit::ConcurrencyLimitLayer::new(256));
    /// ```
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower_layer::Layer<BoxCallService> + Send + Sync + 'static,
        L::Service: tower_service::Service<ServerCall, Response = CallOutcome> + Send + 'static,
        <L::Service as tower_service::Service<ServerCall>>::Error: Into<layer::BoxError>,
        <L::Service as tower_service::Service<ServerCall>>::Future: Send + 'static,
    {
        use tower::ServiceExt;
        let this: layer::MakeStack =
            Arc::new(move |inner| BoxCallService::new(layer.layer(inner).map_err(Into::into)));
        self.layers = Some(match self.layers.take() {
            None => this,
            Some(outer) => Arc::new(move |inner| outer(this(inner))),
        });
        self
    }

    /// Adds an interceptor that may wait (a token lookup) and sees every call before its
    /// handler runs, in the order added with the synchronous ones; see
    /// [`AsyncInterceptor`](crate::interceptor::AsyncInterceptor).
    pub fn async_interceptor(
        mut self,
        interceptor: impl crate::interceptor::AsyncInterceptor,
    ) -> Self {
        self.interceptors.push_async(interceptor);
        self
    }

    /// How many calls one connection may have open at once (default 1024). Further calls wait
    /// at the client (QUIC stream credit), they are not refused.
    pub fn max_concurrent_calls(mut self, calls: u32) -> Self {
        self.settings.max_concurrent_calls = calls;
        self
    }

    /// How many connections the server accepts at once (default 1024); handshakes beyond are
    /// refused. With the per-connection receive window this bounds the memory peers can make
    /// the server hold: `max_connections x connection_receive_window`.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// How long in-flight calls may run after shutdown starts (default 10 s).
    pub fn shutdown_grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The key stateless resets are derived from (RFC 9000 §10.3; any length, at least 32
    /// random bytes recommended), instead of a random one per process. With the same key
    /// after a restart, the server answers packets of its previous incarnation's connections
    /// with a stateless reset, and their clients learn at once that the connection is gone
    /// (their calls fail with `Unavailable` and the channel reconnects) instead of at the
    /// keep-alive or idle timeout. Keep it secret: whoever knows it can reset the server's
    /// connections. Servers behind one address (a load balancer) share it.
    pub fn stateless_reset_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.reset_key = Some(key.as_ref().to_vec());
        self
    }

    /// Drains each connection once it is this old (±10 % jitter, so that connections made
    /// together do not all drain together; default never): the server sends the drain notice
    /// (PROTOCOL.md §12), after which the client makes its new calls on a new connection,
    /// for example to pick up new servers behind a load balancer or DNS name. Calls in
    /// flight get [`max_connection_age_grace`](Self::max_connection_age_grace) to finish.
    /// As gRPC's `MAX_CONNECTION_AGE`.
    pub fn max_connection_age(mut self, age: Duration) -> Self {
        self.max_connection_age = Some(age);
        self
    }

    /// How long calls in flight on a connection past its maximum age may still run (default
    /// 10 s): the connection is closed then, unless the client closed it first (it does once
    /// its last call on it ended). As gRPC's `MAX_CONNECTION_AGE_GRACE`.
    pub fn max_connection_age_grace(mut self, grace: Duration) -> Self {
        self.max_connection_age_grace = grace;
        self
    }

    /// How long a client has to send a call's head after opening its stream (default 10 s).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Accepts 0-RTT data from clients resuming a TLS session (default off): their calls
    /// of idempotent methods ([`Service::idempotent_methods`]) then run one round trip
    /// sooner, and other calls in early data are refused with `TOO_EARLY`, which clients
    /// send again after the handshake (PROTOCOL.md §3.5).
    ///
    /// Off by default because early data can be replayed by anyone who captured it (RFC 9001
    /// §9.2): an idempotent method may then run more than once per call, and its handler
    /// runs before the client has proven it holds the session (see [`EarlyData`]). Ignored
    /// when the TLS config requests client certificates.
    pub fn zero_rtt(mut self, enabled: bool) -> Self {
        self.settings.zero_rtt = enabled;
        self
    }

    settings_setters!();

    /// Binds the UDP socket; the returned server knows its address (useful with port 0).
    pub fn bind(self, addr: SocketAddr) -> Result<BoundServer, Error> {
        let socket = quic::server::Acceptor::bind(addr, &self.settings)?;
        self.bind_socket(socket)
    }

    /// Serves on a socket you provide: any [`AsyncUdpSocket`](quic::AsyncUdpSocket), for
    /// example one that simulates loss and delay in tests, or one shared with other
    /// protocols.
    pub fn bind_socket(self, socket: Arc<dyn quic::AsyncUdpSocket>) -> Result<BoundServer, Error> {
        let tls = self.tls.as_ref().ok_or_else(|| {
            Error::new(
                Kind::Tls,
                "a server needs a certificate: set one with tls_config (for local development, tls::dev::SelfSigned)",
            )
        })?;
        let reset_key = self.reset_key.as_deref();
        let (acceptor, local_addr) =
            quic::server::Acceptor::new(socket, &self.settings, tls, reset_key)?;
        Ok(self.bound(Acceptor::Quic(acceptor), local_addr))
    }

    /// Serves the connections `listener` yields instead of binding a QUIC socket: for example
    /// [`transport::mem`](crate::transport::mem) in tests, or a transport of your own. No
    /// certificate is needed (the listener's transport secures its connections, or not).
    /// [`BoundServer::local_addr`] is the listener's address, or `0.0.0.0:0` if it has none.
    pub fn listen(self, listener: impl Listener) -> BoundServer {
        let local_addr = listener
            .local_addr()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        self.bound(Acceptor::Dyn(Box::new(listener)), local_addr)
    }

    fn bound(self, acceptor: Acceptor, local_addr: SocketAddr) -> BoundServer {
        let shared = Arc::new(Shared {
            routes: Routes::new(self.routes),
            limits: self.settings.frame_limits(),
            max_send: self.settings.max_encoding_message_size,
            compression: self.settings.compression,
            handshake_timeout: self.settings.handshake_timeout_for(None),
            header_timeout: self.header_timeout,
            interceptors: self.interceptors,
            max_connections: self.max_connections,
            admission: Arc::new(admission::Gate::new(self.admission)),
            layers: self.layers,
            calls: TaskTracker::new(),
            conns: TaskTracker::new(),
            live: std::sync::Mutex::new(HashMap::new()),
            next_id: AtomicUsize::new(0),
            shutdown: CancellationToken::new(),
            stopping: AtomicBool::new(false),
            keep_alive_silence: self.settings.keep_alive_silence(),
            max_age: self
                .max_connection_age
                .map(|age| (age, self.max_connection_age_grace)),
            max_datagram_queue: self.settings.max_datagram_queue,
        });
        BoundServer {
            acceptor,
            local_addr,
            shared,
            grace: self.grace,
        }
    }

    /// Binds and serves until the process ends.
    ///
    /// # Cancel safety
    /// Dropping the future stops accepting at once, without a graceful shutdown: prefer
    /// [`ServerBuilder::serve_with_shutdown`].
    pub async fn serve(self, addr: SocketAddr) -> Result<(), Error> {
        self.bind(addr)?.serve().await;
        Ok(())
    }

    /// Binds and serves until `signal` completes, then shuts down gracefully.
    pub async fn serve_with_shutdown(
        self,
        addr: SocketAddr,
        signal: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        self.bind(addr)?.serve_with_shutdown(signal).await;
        Ok(())
    }
}

/// Services by name, sorted for binary search: a lookup per call compares a few bytes
/// instead of hashing the name.
struct Routes(Vec<Route>);

struct Route {
    name: String,
    service: Arc<dyn Service>,
    /// The service's methods, sorted; `None` when it does not list them.
    methods: Option<Vec<&'static str>>,
    /// Its idempotent methods, sorted (run from 0-RTT data).
    idempotent: Vec<&'static str>,
}

impl Routes {
    fn new(map: HashMap<String, Arc<dyn Service>>) -> Self {
        let mut routes: Vec<_> = map
            .into_iter()
            .map(|(name, service)| {
                let methods = service.methods().map(|m| {
                    let mut m = m.to_vec();
                    m.sort_unstable();
                    m
                });
                let mut idempotent = service.idempotent_methods().to_vec();
                idempotent.sort_unstable();
                Route {
                    name,
                    service,
                    methods,
                    idempotent,
                }
            })
            .collect();
        routes.sort_by(|a, b| a.name.cmp(&b.name));
        Routes(routes)
    }

    fn get(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.route(name).map(|r| &r.service)
    }

    fn route(&self, name: &str) -> Option<&Route> {
        self.0
            .binary_search_by(|r| r.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.0[i])
    }

    /// Whether the server knows `service`/`method` to be idempotent (run from 0-RTT data).
    fn idempotent(&self, service: &str, method: &str) -> bool {
        self.route(service)
            .is_some_and(|r| r.idempotent.binary_search(&method).is_ok())
    }

    /// Why a call of `service`/`method` cannot be dispatched, if it cannot: byte-exact
    /// comparison, as dispatch does (PROTOCOL.md §5.1).
    fn refusal(&self, service: &str, method: &str, path: &str) -> Option<Status> {
        let Some(route) = self.route(service) else {
            return Some(Status::unimplemented(format!("unknown service {service}")));
        };
        match &route.methods {
            Some(methods) if methods.binary_search(&method).is_err() => {
                Some(Status::unimplemented(format!("unknown method {path}")))
            }
            _ => None,
        }
    }
}

pub(crate) struct Shared {
    routes: Routes,
    limits: FrameLimits,
    max_send: usize,
    compression: crate::compression::CompressionConfig,
    handshake_timeout: Duration,
    header_timeout: Duration,
    interceptors: Interceptors,
    max_connections: usize,
    admission: Arc<admission::Gate>,
    layers: Option<layer::MakeStack>,
    calls: TaskTracker,
    conns: TaskTracker,
    /// The established connections: shutdown reads their round-trip times and closes them.
    live: std::sync::Mutex<HashMap<usize, AnyConn>>,
    next_id: AtomicUsize,
    shutdown: CancellationToken,
    /// Set with `shutdown`: one load per accepted call, where polling the token's future
    /// costs as much as routing the call.
    stopping: AtomicBool,
    /// Keep-alive interval plus timeout: a connection silent this long is closed (§3.4).
    keep_alive_silence: Option<Duration>,
    /// Maximum connection age and its grace period.
    max_age: Option<(Duration, Duration)>,
    /// Received datagrams a call holds (PROTOCOL.md §18.4).
    max_datagram_queue: usize,
}

/// A server bound to its socket, ready to serve.
pub struct BoundServer {
    acceptor: Acceptor,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    grace: Duration,
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Observes and stops a running server.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("active_calls", &self.active_calls())
            .field("active_connections", &self.active_connections())
            .finish()
    }
}

impl ServerHandle {
    /// Calls whose task is still running.
    pub fn active_calls(&self) -> usize {
        self.shared.calls.len()
    }

    /// Connections being served.
    pub fn active_connections(&self) -> usize {
        self.shared.conns.len()
    }

    /// The statistics of each established connection whose transport keeps any (QUIC
    /// does: RTT, congestion window, losses, datagrams and bytes each way, path MTU), in
    /// no particular order. Counters only grow over a connection's life: sum two snapshots'
    /// differences for what the server did between them.
    pub fn connection_stats(&self) -> Vec<crate::transport::ConnectionStats> {
        let live = self.shared.live.lock().unwrap_or_else(|e| e.into_inner());
        live.values().filter_map(|c| c.stats()).collect()
    }

    /// Starts a graceful shutdown (same as the shutdown signal completing).
    pub fn shutdown(&self) {
        self.shared.begin_shutdown();
    }

    /// Resolves once a graceful shutdown has started (the server then refuses new calls),
    /// so that, say, a health service can report `NOT_SERVING` while calls drain.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub fn shutdown_started(&self) -> impl Future<Output = ()> + Send + 'static {
        let token = self.shared.shutdown.clone();
        async move { token.cancelled().await }
    }

    /// Whether a graceful shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.stopping.load(Ordering::Relaxed)
    }

    /// Serves one connection of another transport (gRPC over HTTP/2, say) with this
    /// server's services, layers, interceptors and limits, next to the connections it
    /// accepts itself; resolves when the connection ends. The connection counts toward
    /// [`ServerBuilder::max_connections`] (beyond it, it is closed at once) and takes part in
    /// the graceful shutdown: its new calls are refused once the shutdown starts, and it is
    /// closed with the others at its end. Whoever accepts such connections stops doing so
    /// once [`shutdown_started`](Self::shutdown_started) resolves.
    pub fn serve_connection(
        &self,
        conn: impl crate::transport::Connection,
    ) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.shared.clone();
        let conn = AnyConn::new(conn);
        let refused = shared.conns.len() >= shared.max_connections || self.is_shutting_down();
        let tracked = shared.conns.clone();
        tracked.track_future(async move {
            if refused {
                conn.close(ErrorCode::REFUSED_STREAM, b"");
                return;
            }
            serve_connection(Incoming::Ready(conn), shared).await
        })
    }
}

impl BoundServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to observe and stop the server.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Serves until [`ServerHandle::shutdown`] is called.
    ///
    /// # Cancel safety
    /// Dropping the future stops accepting at once, without a graceful shutdown: prefer
    /// [`ServerHandle::shutdown`].
    pub async fn serve(self) {
        self.serve_with_shutdown(std::future::pending()).await
    }

    /// Serves until `signal` completes (or [`ServerHandle::shutdown`] is called), then shuts
    /// down gracefully: new connections and calls are refused, calls in flight get the grace
    /// period to finish, then every connection is closed (calls still running end with
    /// `Unavailable` at the client). When all calls finished, the close waits (at most half a
    /// second) for their last responses to be acknowledged; see `docs/RELIABILITY.md`.
    pub async fn serve_with_shutdown(self, signal: impl Future<Output = ()>) {
        let BoundServer {
            mut acceptor,
            shared,
            grace,
            ..
        } = self;
        let mut signal = std::pin::pin!(signal);
        loop {
            tokio::select! {
                _ = &mut signal => break,
                _ = shared.shutdown.cancelled() => break,
                incoming = acceptor.accept() => match incoming {
                    Some(incoming) if shared.conns.len() >= shared.max_connections => {
                        tracing::debug!("connection limit reached; refusing a connection");
                        incoming.refuse();
                    }
                    Some(incoming) => {
                        // Retried or refused here, or on to its handshake with a ticket.
                        if let Some(incoming) = admission::admit(incoming, &shared.admission) {
                            let shared = shared.clone();
                            shared.conns.clone().spawn(serve_connection(incoming, shared));
                        }
                    }
                    None => break,
                },
            }
        }
        shared.begin_shutdown();
        // Refuse new connections while the calls in flight finish.
        let quic = acceptor.quic();
        let refuser = tokio::spawn(async move {
            while let Some(incoming) = acceptor.accept().await {
                incoming.refuse();
            }
        });
        shared.calls.close();
        let finished = tokio::time::timeout(grace, shared.calls.wait())
            .await
            .is_ok();
        let code = if finished {
            ErrorCode::NO_ERROR
        } else {
            ErrorCode::SHUTDOWN
        };
        if finished {
            tokio::time::sleep(shared.close_settle()).await;
        }
        // The code says it all (PROTOCOL.md §12); clients turn it into their message.
        shared.close_all(code);
        if let Some(quic) = &quic {
            // Also those still in their handshake.
            quic.close(code);
        }
        refuser.abort();
        shared.conns.close();
        shared.conns.wait().await;
        if let Some(quic) = quic {
            // Let the CONNECTION_CLOSE frames go out; bounded in case a peer never answers.
            quic.wait_idle(Duration::from_secs(1)).await;
        }
    }
}

/// Where a server's connections come from.
enum Acceptor {
    Quic(quic::server::Acceptor),
    Dyn(Box<dyn DynListener>),
}

/// A connection arriving at a server.
enum Incoming {
    /// A QUIC connection attempt, before its handshake (boxed: it is large, and one per
    /// connection), with its admission ticket once admitted (held through the handshake).
    Quic(Box<quic::server::Incoming>, Option<admission::Ticket>),
    /// A connection of another transport, ready to use.
    Ready(AnyConn),
}

impl Acceptor {
    /// # Cancel safety
    /// Cancel safe.
    async fn accept(&mut self) -> Option<Incoming> {
        match self {
            Acceptor::Quic(quic) => quic
                .accept()
                .await
                .map(|i| Incoming::Quic(Box::new(i), None)),
            Acceptor::Dyn(listener) => listener.accept().await.map(Incoming::Ready),
        }
    }

    fn quic(&self) -> Option<quic::server::Acceptor> {
        match self {
            Acceptor::Quic(quic) => Some(quic.clone()),
            Acceptor::Dyn(_) => None,
        }
    }
}

impl Incoming {
    fn refuse(self) {
        match self {
            Incoming::Quic(incoming, _) => incoming.refuse(),
            Incoming::Ready(conn) => conn.close(ErrorCode::REFUSED_STREAM, b""),
        }
    }

    /// The connection, once its handshake (if any) is done.
    async fn establish(self, timeout: Duration) -> Option<AnyConn> {
        match self {
            Incoming::Ready(conn) => Some(conn),
            // The ticket counts the handshake until it ends.
            Incoming::Quic(incoming, _ticket) => incoming.establish(timeout).await,
        }
    }
}

impl Shared {
    fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.shutdown.cancel();
    }

    /// How long to wait before closing connections whose calls have all finished.
    ///
    /// quinn-proto 0.11 does not send CONNECTION_CLOSE from a connection whose congestion
    /// window is full of unacknowledged data (quinn-rs/quinn#2785, fixed upstream after
    /// 0.11.19): its client would learn of the close only at its idle timeout, and calls it
    /// makes meanwhile would hang. So the last responses get time to be acknowledged first:
    /// two round trips plus twice QUIC's default ACK delay, at most half a second.
    /// Closes every connection being served with `code`.
    fn close_all(&self, code: ErrorCode) {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        for conn in live.values() {
            conn.close(code, b"");
        }
    }

    fn close_settle(&self) -> Duration {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        match live.values().filter_map(AnyConn::rtt).max() {
            Some(rtt) => (rtt * 2 + Duration::from_millis(50)).min(Duration::from_millis(500)),
            None => Duration::ZERO,
        }
    }
}

/// Keeps a connection in [`Shared::live`] while it is served.
struct Live<'a> {
    shared: &'a Shared,
    id: usize,
}

impl<'a> Live<'a> {
    fn register(shared: &'a Shared, conn: &AnyConn) -> Self {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut live = shared.live.lock().unwrap_or_else(|e| e.into_inner());
        live.insert(id, conn.clone());
        Live { shared, id }
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        let mut live = self.shared.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(conn) = live.remove(&self.id) {
            // The next connection from this peer starts at the path MTU this one found.
            crate::transport::quic::pmtu::remember_any(&conn);
        }
    }
}

async fn serve_connection(incoming: Incoming, shared: Arc<Shared>) {
    let Some(conn) = incoming.establish(shared.handshake_timeout).await else {
        return;
    };
    // Parsed once here, shared by the connection's calls.
    let peer = conn.peer_info(shared.max_datagram_queue);
    let _live = Live::register(&shared, &conn);
    if let Some(watching) = shared
        .keep_alive_silence
        .and_then(|s| conn.watch_liveness(s))
    {
        // A dead client is noticed at the keep-alive timeout: its handlers are dropped.
        tokio::spawn(watching);
    }
    // Maximum connection age (PROTOCOL.md §12.2): drained once old; a client that cannot be
    // told (it predates the drain notice) is served on until the grace period ends instead,
    // then its connection is closed: refusing its calls meanwhile would fail them all.
    let mut aging = shared.max_age.is_some();
    let mut aged = std::pin::pin!(tokio::time::sleep(
        shared
            .max_age
            .map_or(Duration::ZERO, |(age, _)| jittered_age(age))
    ));
    let mut old = false;
    let mut closing = false;
    let mut stack = shared
        .layers
        .as_ref()
        .map(|make| layer::ConnStack::new(make, &shared));
    // Made once: a new one per call would register with the token each time.
    let mut shutdown = std::pin::pin!(shared.shutdown.cancelled());
    let inline = runs_calls_inline();
    loop {
        let layered = stack.is_some();
        let call = tokio::select! {
            biased;
            stream = conn.accept_bi() => match stream {
                Ok(stream) => Next::Stream(stream),
                Err(_) => return,
            },
            Some(call) = next_late(&mut stack), if layered => Next::Late(call),
            _ = &mut shutdown => break,
            () = &mut aged, if aging => {
                let grace = shared.max_age.map_or(Duration::ZERO, |(_, grace)| grace);
                if closing {
                    conn.close(ErrorCode::NO_ERROR, b"");
                    aging = false;
                    continue;
                }
                if conn.send_drain() {
                    old = true;
                    break;
                }
                tracing::debug!("connection past its maximum age, client without drain notice");
                closing = true;
                aged.as_mut().reset(Instant::now() + grace);
                continue;
            }
        };
        let call = match call {
            // A stream ready to accept goes first, so the shutdown watch is polled only when
            // there is none; the flag catches a shutdown while streams were ready: no call is
            // accepted once it started (PROTOCOL.md §12).
            Next::Stream(stream) if shared.stopping.load(Ordering::Relaxed) => {
                refuse(stream);
                break;
            }
            Next::Stream((send, recv)) => {
                accept_call(send, recv, &peer, &shared, stack.as_ref(), inline)
            }
            Next::Late(call) => Some(call),
        };
        if let (Some(call), Some(stack)) = (call, stack.as_mut()) {
            stack.run(call, &shared).await;
        }
    }
    // Draining (shutting down, or the connection is old): the client is told, so it makes
    // its next calls elsewhere (PROTOCOL.md §12); calls it sent meanwhile are refused.
    if !old {
        conn.send_drain();
    }
    let refusing = async {
        while let Ok(stream) = conn.accept_bi().await {
            refuse(stream);
        }
    };
    match shared.max_age {
        Some((_, grace)) if old => {
            tracing::debug!("connection past its maximum age: draining");
            // The client closes the connection after its last call on it; else at the end
            // of the grace period, the server does.
            if tokio::time::timeout(grace, refusing).await.is_err() {
                conn.close(ErrorCode::NO_ERROR, b"");
            }
        }
        // Until the server closes the connection.
        _ => refusing.await,
    }
}

/// `age` spread by ±10 %, as gRPC's `MAX_CONNECTION_AGE`.
fn jittered_age(age: Duration) -> Duration {
    age.mul_f64(0.9 + fastrand::f64() * 0.2)
}

/// Refuses a call before reading it (PROTOCOL.md §12): safe for the client to retry.
fn refuse((mut send, mut recv): (AnySend, AnyRecv)) {
    send.reset(ErrorCode::REFUSED_STREAM);
    recv.stop(ErrorCode::REFUSED_STREAM);
}

/// What a connection's loop takes next.
enum Next {
    Stream((AnySend, AnyRecv)),
    Late(Box<ServerCall>),
}

/// # Cancel safety
/// Cancel safe.
async fn next_late(stack: &mut Option<layer::ConnStack>) -> Option<Box<ServerCall>> {
    match stack {
        Some(stack) => stack.next_late().await,
        None => None,
    }
}

/// What routing a call gave: its task, or (with layers) the call for the stack.
enum Routed {
    Run(CallFuture),
    /// Boxed: the direct path returns only the call's future.
    Layered(Box<ServerCall>),
}

/// Starts a call. The head usually arrives with the stream: then the call is routed here and
/// its future is the handler's own, with nothing wrapped around it. With layers, the routed
/// call is returned for the connection's stack. `inline`: see [`start`].
fn accept_call(
    send: AnySend,
    recv: AnyRecv,
    peer: &Arc<PeerInfo>,
    shared: &Arc<Shared>,
    stack: Option<&layer::ConnStack>,
    inline: bool,
) -> Option<Box<ServerCall>> {
    let send = SendHalf::new(send, Peer::Client);
    let mut rx = ServerRecv::new(shared.limits);
    rx.set_accept_encoding(shared.compression.accept);
    let mut recv = RecvHalf::new(recv, rx, Peer::Client);
    let layered = stack.is_some();
    let call = match futures_util::FutureExt::now_or_never(recv.next_event()) {
        Some(event) => {
            match route(
                send,
                recv,
                event,
                ServerCallState::new(),
                peer.clone(),
                shared,
                layered,
            ) {
                Routed::Run(call) => call,
                Routed::Layered(call) => return Some(call),
            }
        }
        None => {
            let late = stack.map(layer::ConnStack::late_sender);
            Box::pin(await_head(send, recv, peer.clone(), shared.clone(), late))
        }
    };
    start(shared, call, inline);
    None
}

/// Whether calls take their first step in their connection's task ([`start`]): on a
/// current-thread runtime only, where every task runs on the one thread anyway. On a
/// multi-threaded runtime each call is a task from the start, so that a handler busy in its
/// first step never holds up the next call of its connection.
fn runs_calls_inline() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

/// Runs a call as a task that shutdown waits for. `inline`: its first step runs here first,
/// and only a call that has to wait becomes a task; a call whose message came with its head
/// and whose handler answers at once (most unary calls) ends here, without the cost of a
/// task (an aligned allocation, scheduling, its wake-ups). The first step is polled with a
/// no-op waker; the task's first poll registers the real ones, as every future must on each
/// poll.
fn start(shared: &Shared, mut call: CallFuture, inline: bool) {
    if inline {
        // Handlers' panics are caught inside the call; this guards the rest of its first
        // step, as a task of its own would: the call is dropped, so its streams are reset.
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures_util::FutureExt::now_or_never(&mut call)
        }));
        match first {
            Ok(Some(_outcome)) => return,
            Ok(None) => {}
            Err(_) => {
                tracing::error!("a call panicked; it was reset");
                return;
            }
        }
    }
    shared.calls.spawn(call);
}

/// Waits (bounded by the header timeout, PROTOCOL.md §10) for a head that did not come with
/// the stream.
async fn await_head(
    mut send: SendHalf,
    mut recv: RecvHalf<ServerRecv>,
    peer: Arc<PeerInfo>,
    shared: Arc<Shared>,
    late: Option<tokio::sync::mpsc::UnboundedSender<Box<ServerCall>>>,
) -> CallOutcome {
    let mut state = ServerCallState::new();
    state.await_head(Instant::now().into_std() + shared.header_timeout);
    let at = state
        .poll_timeout()
        .map_or_else(Instant::now, Instant::from_std);
    let event = tokio::select! {
        event = recv.next_event() => event,
        () = tokio::time::sleep_until(at) => {
            // A client that opens a stream and sends nothing: no status, just let it go.
            state.handle_timeout(Instant::now().into_std());
            call::apply(&mut state, &mut send, Some(&mut recv));
            return CallOutcome::Reset(ErrorCode::CANCELLED);
        }
    };
    match route(send, recv, event, state, peer, &shared, late.is_some()) {
        Routed::Run(call) => call.await,
        Routed::Layered(call) => {
            // Back to the connection, whose stack runs it (dropped there if the connection
            // is gone: the call is then reset).
            if let Some(late) = late {
                let _ = late.send(call);
            }
            CallOutcome::Reset(ErrorCode::CANCELLED)
        }
    }
}

/// Reads the call's head into a [`ServerCall`]: its task, or (`layered`) the call itself.
fn route(
    mut send: SendHalf,
    mut recv: RecvHalf<ServerRecv>,
    event: Result<Option<ServerEvent>, Status>,
    mut state: ServerCallState,
    peer: Arc<PeerInfo>,
    shared: &Arc<Shared>,
    layered: bool,
) -> Routed {
    let head = match event {
        Ok(Some(ServerEvent::Head(head))) => head,
        Ok(_) => {
            let status = Status::internal("missing request head");
            return Routed::Run(call::reject(send, recv, state, status));
        }
        Err(status) => return Routed::Run(call::reject(send, recv, state, status)),
    };
    if !state.start(head.timeout, || Instant::now().into_std()) {
        // Expired on arrival: reset without running the handler (PROTOCOL.md §8).
        call::apply(&mut state, &mut send, Some(&mut recv));
        let outcome = CallOutcome::Reset(ErrorCode::DEADLINE_EXCEEDED);
        return Routed::Run(Box::pin(std::future::ready(outcome)));
    }
    let deadline = state.deadline().map(Instant::from_std);
    let Some((service, method)) = split_path(&head.path) else {
        // Checked when decoding; kept for safety.
        let status = Status::unimplemented(format!("invalid method path {:?}", head.path));
        return Routed::Run(call::reject(send, recv, state, status));
    };
    let early = recv.is_early();
    if early {
        // PROTOCOL.md §3.5: "A server MUST NOT run an early call unless it knows the method
        // to be idempotent from its own service definitions"; refused before any layer.
        let idempotent = shared.routes.idempotent(service, method);
        if let Err(code) = crate::wire::early::admit(true, idempotent) {
            send.reset(code);
            recv.stop(code);
            return Routed::Run(Box::pin(std::future::ready(CallOutcome::Reset(code))));
        }
    }
    if layered {
        // Refused before the layers: they see only calls the router dispatches, byte for
        // byte (PROTOCOL.md §5.1). Without layers, dispatch refuses the same calls.
        if let Some(status) = shared.routes.refusal(service, method, &head.path) {
            return Routed::Run(call::reject(send, recv, state, status));
        }
    }
    let method_at = head.path.len() - method.len();
    let mut extensions = http::Extensions::new();
    if let Some(from_transport) = recv.take_extensions() {
        extensions.extend(from_transport);
    }
    if early {
        extensions.insert(EarlyData);
    }
    // Responses are compressed only with an algorithm the client accepts (PROTOCOL.md §15.3).
    let accepted = recv.receiver().compression().accept;
    let compression = crate::compression::SendCompression {
        encoding: shared.compression.send.filter(|&e| accepted.contains(e)),
        threshold: shared.compression.threshold,
    };
    let meta = CallMeta {
        head,
        method_at,
        deadline,
        peer: Some(peer),
        max_send: shared.max_send,
        compression,
        extensions,
        interceptors: (!shared.interceptors.is_empty()).then(|| shared.interceptors.clone()),
        datagrams: None,
    };
    let call = ServerCall {
        send,
        recv,
        meta,
        state,
    };
    if layered {
        return Routed::Layered(Box::new(call));
    }
    Routed::Run(dispatch(shared, call))
}

/// Hands a call to its service.
#[inline]
pub(crate) fn dispatch(shared: &Shared, call: ServerCall) -> CallFuture {
    let service_name = call.service_name();
    let Some(service) = shared.routes.get(service_name) else {
        let status = Status::unimplemented(format!("unknown service {service_name}"));
        let ServerCall {
            send, recv, state, ..
        } = call;
        return call::reject(send, recv, state, status);
    };
    // `call` runs in the connection's task: a panicking (hand-written) dispatch must not
    // take the connection down. Its streams are dropped, so the call is reset.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service.call(call))).unwrap_or_else(
        |_| {
            tracing::error!("a service's dispatch panicked; the call was reset");
            Box::pin(std::future::ready(CallOutcome::Reset(
                ErrorCode::INTERNAL_ERROR,
            )))
        },
    )
}
