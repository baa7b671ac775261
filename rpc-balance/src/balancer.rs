//! [`BalancedChannel`]: the picker, the resolver's task, and the `Service` generated
//! clients call through.

use crate::endpoint::{self, Conn, EndpointStats, Ep};
use crate::resolve::{Resolve, ResolveError, StaticList};
use crate::{Config, Policy};
use arc_swap::ArcSwap;
use rpc_core::client::service::{CallRequest, CallResponse, MethodKind};
use rpc_core::{Channel, Endpoint, Status};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use tower_service::Service;

pub(crate) type MakeEndpoint = Arc<dyn Fn(SocketAddr) -> Endpoint + Send + Sync + 'static>;

/// Why a balanced channel could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No resolver and no address list was given.
    #[error("no target: give a list of addresses or a resolver")]
    NoTarget,
    /// The target is invalid (an empty list, a malformed name).
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Setting(&'static str),
    /// Not inside a tokio runtime (the balancer runs background tasks).
    #[error("a balanced channel must be built inside a tokio runtime")]
    NoRuntime,
}

/// Builds a [`BalancedChannel`]; see the [crate docs](crate).
pub struct Builder {
    make: MakeEndpoint,
    resolver: Option<Arc<dyn Resolve>>,
    config: Config,
    error: Option<BuildError>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Builder {
    pub(crate) fn new(make: MakeEndpoint) -> Self {
        Builder {
            make,
            resolver: None,
            config: Config::default(),
            error: None,
        }
    }

    /// Balances over these addresses (a fixed list). An empty list fails at
    /// [`build`](Self::build).
    pub fn addrs(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        match StaticList::new(addrs) {
            Ok(list) => self.resolver = Some(Arc::new(list)),
            Err(e) => self.error = Some(e.into()),
        }
        self
    }

    /// Balances over what `resolver` finds: a [`DnsResolver`](crate::DnsResolver) or a
    /// registry of your own.
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// How calls are spread (default [`Policy::PeakEwma`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.config.policy = policy;
        self
    }

    /// Endpoints that appear after the first resolution take this long to reach their full
    /// share, starting at a tenth (default 10 s; zero turns slow start off).
    pub fn slow_start(mut self, window: Duration) -> Self {
        self.config.slow_start = window;
        self
    }

    /// How many calls one connection carries before the balancer opens another to the same
    /// server (default 1024, the server's default stream limit, `max_concurrent_streams`):
    /// set it to the servers' limit.
    pub fn max_calls_per_connection(mut self, calls: usize) -> Self {
        self.config.max_calls_per_connection = calls;
        self
    }

    /// How many connections one server may get (default 8): beyond
    /// `connections x max_calls_per_connection` calls in flight, calls queue for a stream.
    pub fn max_connections_per_endpoint(mut self, connections: usize) -> Self {
        self.config.max_connections_per_endpoint = connections;
        self
    }

    /// Outlier ejection: after `consecutive_failures` failures in a row (`UNAVAILABLE`,
    /// lost connection, failed connect) an endpoint is taken out for `base_time`, doubled on
    /// each further ejection up to `max_time`; then one call probes it (a failure ejects it
    /// again at once). The last healthy endpoint is never ejected. Default 5 failures, 10 s,
    /// 300 s; zero failures turns ejection off.
    pub fn ejection(
        mut self,
        consecutive_failures: u32,
        base_time: Duration,
        max_time: Duration,
    ) -> Self {
        self.config.ejection = crate::Ejection {
            consecutive_failures,
            base_time,
            max_time,
        };
        self
    }

    /// Bounds on how often the resolver is asked (default 1 s and 30 s): after a TTL,
    /// clamped to these, and on a connection failure no sooner than the lower bound after
    /// the last time.
    pub fn refresh(mut self, min: Duration, max: Duration) -> Self {
        self.config.min_refresh = min;
        self.config.max_refresh = max;
        self
    }

    /// Pauses between reconnects to a server that went away (default 100 ms, x1.6 with
    /// jitter, at most 10 s).
    pub fn reconnect_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.config.reconnect_base = base;
        self.config.reconnect_max = max;
        self
    }

    /// Whether calls that never reached a server (refused, connection lost before it was
    /// sent: [`Status::never_processed`](rpc_core::Status::never_processed)) go to another endpoint, up to twice (default on).
    pub fn transparent_retry(mut self, enabled: bool) -> Self {
        self.config.transparent_retry = enabled;
        self
    }

    /// Peak EWMA: the latency assumed for a server before its first call ends (default
    /// 1 ms) and how fast old latencies are forgotten (default 10 s).
    pub fn ewma(mut self, default_rtt: Duration, decay: Duration) -> Self {
        self.config.default_rtt = default_rtt;
        self.config.decay = decay;
        self
    }

    /// Starts the balancer: resolves the target and connects to every server in the
    /// background. Calls made before the first connection is up wait for it; calls when
    /// every server is down fail with `UNAVAILABLE`.
    pub fn build(self) -> Result<BalancedChannel, BuildError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let resolver = self.resolver.ok_or(BuildError::NoTarget)?;
        let c = &self.config;
        if c.max_calls_per_connection == 0 {
            return Err(BuildError::Setting(
                "max_calls_per_connection must be at least 1",
            ));
        }
        if c.max_connections_per_endpoint == 0 {
            return Err(BuildError::Setting(
                "max_connections_per_endpoint must be at least 1",
            ));
        }
        if c.min_refresh > c.max_refresh || c.max_refresh.is_zero() {
            return Err(BuildError::Setting(
                "refresh bounds: need 0 < max and min <= max",
            ));
        }
        if c.decay.is_zero() {
            return Err(BuildError::Setting("EWMA decay must not be zero"));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let cancel = CancellationToken::new();
        let shared = Arc::new_cyclic(|me| Shared {
            config: self.config,
            endpoints: ArcSwap::from_pointee(Vec::new()),
            changed: Notify::new(),
            kick: Notify::new(),
            rr: AtomicUsize::new(0),
            epoch: Instant::now(),
            resolved: AtomicBool::new(false),
            last_error: Mutex::new(None),
            describe: resolver.describe(),
            cancel: cancel.clone(),
            me: me.clone(),
        });
        runtime.spawn(resolve_loop(shared.clone(), resolver, self.make));
        Ok(BalancedChannel {
            shared,
            _owner: Arc::new(cancel.drop_guard()),
        })
    }
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    /// The endpoints in the resolver's order; replaced on each resolution.
    endpoints: ArcSwap<Vec<Arc<Ep>>>,
    /// Anything a waiting call cares about changed: a connection up or down, an endpoint
    /// added, a resolution done, room freed on a full endpoint.
    pub(crate) changed: Notify,
    /// Asks the resolver's task to resolve again (a connection failed).
    pub(crate) kick: Notify,
    rr: AtomicUsize,
    epoch: Instant,
    resolved: AtomicBool,
    last_error: Mutex<Option<ResolveError>>,
    describe: String,
    cancel: CancellationToken,
    pub(crate) me: Weak<Shared>,
}

impl Shared {
    pub(crate) fn millis(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// Whether ejecting `ep` leaves another endpoint to call.
    pub(crate) fn may_eject(&self, ep: &Ep, now_ms: u64) -> bool {
        self.endpoints
            .load()
            .iter()
            .any(|e| !std::ptr::eq(&**e, ep) && e.pickable(now_ms))
    }

    /// Picks an endpoint and a connection with room, or says why not.
    fn try_pick(&self, excluded: &[SocketAddr]) -> Pick {
        let now = Instant::now();
        let now_ms = self.millis(now);
        let all = self.endpoints.load();
        let usable = |e: &Arc<Ep>| e.pickable(now_ms) && !excluded.contains(&e.addr);
        // The common case, every endpoint usable, picks over the table as it is.
        let ep = if !all.is_empty() && all.iter().all(usable) {
            self.choose(all.len(), |i| &all[i], now)
        } else {
            let mut candidates: Vec<&Arc<Ep>> = all.iter().filter(|e| usable(e)).collect();
            if candidates.is_empty() && !excluded.is_empty() {
                // Nothing else: the excluded ones are better than failing.
                candidates = all.iter().filter(|e| e.pickable(now_ms)).collect();
            }
            if candidates.is_empty() {
                let connecting = all.iter().any(|e| e.is_connecting());
                if connecting || !self.resolved.load(Ordering::Acquire) {
                    return Pick::Wait(None);
                }
                return Pick::Fail(self.unavailable(&all));
            }
            self.choose(candidates.len(), |i| candidates[i], now)
        };
        match ep.reserve(&self.config) {
            Ok(conn) => Pick::Got(ep.clone(), conn),
            Err(_) => Pick::Wait(Some(ep.clone())),
        }
    }

    /// The policy's choice among `n` candidates, the `i`th being `get(i)`.
    fn choose<'a>(
        &self,
        n: usize,
        get: impl Fn(usize) -> &'a Arc<Ep>,
        now: Instant,
    ) -> &'a Arc<Ep> {
        if n == 1 {
            return get(0);
        }
        let config = &self.config;
        match config.policy {
            Policy::PickFirst => get(0),
            Policy::RoundRobin => {
                // Slow start: a new endpoint's turn is skipped in proportion to its weight.
                for _ in 0..n {
                    let ep = get(self.rr.fetch_add(1, Ordering::Relaxed) % n);
                    let w = ep.weight(config, now);
                    if w >= 1.0 || fastrand::f64() < w {
                        return ep;
                    }
                }
                get(self.rr.fetch_add(1, Ordering::Relaxed) % n)
            }
            Policy::PowerOfTwoChoices | Policy::PeakEwma => {
                let i = fastrand::usize(..n);
                let mut j = fastrand::usize(..n - 1);
                if j >= i {
                    j += 1;
                }
                let (a, b) = (get(i), get(j));
                let (la, lb) = (self.load(a, now), self.load(b, now));
                if la < lb || (la == lb && fastrand::bool()) {
                    a
                } else {
                    b
                }
            }
        }
    }

    /// The load the two-choice policies compare.
    fn load(&self, ep: &Ep, now: Instant) -> f64 {
        let pending = ep.in_flight.load(Ordering::Relaxed) as f64 + 1.0;
        let w = ep.weight(&self.config, now);
        match self.config.policy {
            Policy::PeakEwma => ep.latency_ns(&self.config, now) * pending / w,
            _ => pending / w,
        }
    }

    fn unavailable(&self, all: &[Arc<Ep>]) -> Status {
        let error = self
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let message = match (all.is_empty(), error) {
            (true, Some(e)) => format!("no server to call: {e}"),
            (true, None) => format!("no server to call: {} resolved to nothing", self.describe),
            (false, _) => format!(
                "no server to call: all {} endpoints of {} are down or ejected",
                all.len(),
                self.describe
            ),
        };
        // The call never left: a retry layer above may send it again, whatever its method.
        Status::unavailable(message).mark_never_processed()
    }

    /// Applies a resolution: keeps the endpoints still listed, adds new ones (with slow
    /// start after the first resolution), removes the others (their calls in flight end on
    /// their connections).
    fn apply(self: &Arc<Self>, addrs: &[SocketAddr], make: &MakeEndpoint) {
        let first = !self.resolved.load(Ordering::Acquire);
        let old = self.endpoints.load_full();
        let mut next = Vec::with_capacity(addrs.len());
        for addr in addrs {
            if let Some(ep) = old.iter().find(|e| e.addr == *addr) {
                next.push(ep.clone());
                continue;
            }
            let ep = Arc::new(Ep::new(*addr, !first, self.cancel.child_token()));
            tokio::spawn(endpoint::run(ep.clone(), self.clone(), make.clone()));
            tracing::debug!(%addr, "endpoint added");
            next.push(ep);
        }
        for ep in old.iter() {
            if !addrs.contains(&ep.addr) {
                tracing::debug!(addr = %ep.addr, "endpoint removed");
                ep.cancel.cancel();
            }
        }
        self.endpoints.store(Arc::new(next));
        self.resolved.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }
}

enum Pick {
    Got(Arc<Ep>, Arc<Conn>),
    /// Nothing to pick yet (connecting; or the endpoint picked is full and gets another
    /// connection).
    Wait(Option<Arc<Ep>>),
    Fail(Status),
}

async fn resolve_loop(shared: Arc<Shared>, resolver: Arc<dyn Resolve>, make: MakeEndpoint) {
    let config = &shared.config;
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            () = shared.cancel.cancelled() => return,
            r = resolver.resolve() => r,
        };
        let next = match result {
            Ok(r) if !r.addrs.is_empty() => {
                *shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                shared.apply(&r.addrs, &make);
                r.ttl
                    .unwrap_or(config.max_refresh)
                    .clamp(config.min_refresh, config.max_refresh)
            }
            Ok(_) | Err(_) => {
                let error = match result {
                    Err(e) => e,
                    Ok(_) => ResolveError::NotFound {
                        name: resolver.describe(),
                        reason: "no address".to_owned(),
                    },
                };
                tracing::warn!(error = %error, "resolution failed; keeping the previous addresses");
                *shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                // Calls waiting for a first resolution fail now.
                shared.resolved.store(true, Ordering::Release);
                shared.changed.notify_waiters();
                config.min_refresh.max(Duration::from_millis(100))
            }
        };
        tokio::select! {
            () = shared.cancel.cancelled() => return,
            () = tokio::time::sleep(next) => {}
            () = shared.kick.notified() => {
                // Not sooner than the lower bound after the last resolution.
                tokio::select! {
                    () = shared.cancel.cancelled() => return,
                    () = tokio::time::sleep_until(started + config.min_refresh) => {}
                }
            }
        }
    }
}

/// One channel over many servers: a tower `Service` like [`Channel`], so generated clients
/// take it as they are (`FooClient::new(balanced)`), and layers (retries, timeouts, the
/// [response cache](crate::cache)) go above it. Cheap to clone; clones share the
/// endpoints. Dropping the last clone stops its background tasks and closes its idle
/// connections.
///
/// # Cancel safety
/// Dropping a call's future (or its response stream) cancels the call as on a
/// [`Channel`](rpc_core::Channel), and ends it in the balancer's counts at once.
#[derive(Clone)]
pub struct BalancedChannel {
    shared: Arc<Shared>,
    _owner: Arc<DropGuard>,
}

impl std::fmt::Debug for BalancedChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BalancedChannel")
            .field("target", &self.shared.describe)
            .field("policy", &self.shared.config.policy)
            .finish_non_exhaustive()
    }
}

impl BalancedChannel {
    /// A builder; `endpoint` makes the [`Endpoint`] (TLS, timeouts, settings) for each
    /// server address found.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), rpc_balance::BuildError> {
    /// use rpc_core::Endpoint;
    /// let balanced = rpc_balance::BalancedChannel::builder(Endpoint::from_addr)
    ///     .addrs(["127.0.0.2:4433".parse().unwrap(), "127.0.0.3:4433".parse().unwrap()])
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(endpoint: impl Fn(SocketAddr) -> Endpoint + Send + Sync + 'static) -> Builder {
        Builder::new(Arc::new(endpoint))
    }

    /// The endpoints now, in the resolver's order, with their state and counters: the
    /// distribution of calls, connections, ejections.
    pub fn endpoints(&self) -> Vec<EndpointStats> {
        let now_ms = self.shared.millis(Instant::now());
        self.shared
            .endpoints
            .load()
            .iter()
            .map(|e| e.stats(now_ms, &self.shared.config))
            .collect()
    }

    /// Waits until at least `n` endpoints are connected (or as many as were resolved, if
    /// fewer): `true`. `false` as soon as that cannot happen without a retry: the
    /// resolution failed, or every endpoint's first connection attempt is over.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn ready(&self, n: usize) -> bool {
        loop {
            let changed = self.shared.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let now_ms = self.shared.millis(Instant::now());
            let all = self.shared.endpoints.load();
            let up = all.iter().filter(|e| e.pickable(now_ms)).count();
            if self.shared.resolved.load(Ordering::Acquire) {
                if up >= n.min(all.len().max(1)) {
                    return true;
                }
                if !all.iter().any(|e| e.is_connecting()) {
                    return false;
                }
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    /// Runs one call: picks an endpoint and a connection (waiting while the first
    /// connections are made or a full endpoint gets another), calls it, and follows the
    /// call to its end for the endpoint's load and health.
    async fn run(shared: Arc<Shared>, mut call: CallRequest) -> Result<CallResponse, Status> {
        let transparent = shared.config.transparent_retry && call.kind().single_request_kind();
        let deadline = call
            .request()
            .timeout()
            .and_then(|t| Instant::now().checked_add(t));
        let mut excluded: Vec<SocketAddr> = Vec::new();
        for attempt in 0..3 {
            let copy = if transparent && attempt < 2 {
                call.try_clone()
            } else {
                None
            };
            let (ep, conn) = pick(&shared, &excluded, deadline).await?;
            ep.calls.fetch_add(1, Ordering::Relaxed);
            ep.in_flight.fetch_add(1, Ordering::Relaxed);
            let guard = Guard {
                ep: ep.clone(),
                conn: conn.clone(),
                shared: shared.clone(),
                started: Instant::now(),
                done: false,
            };
            let mut channel: Channel = conn.channel.clone();
            match channel.call(call).await {
                Ok(response) => {
                    return Ok(response.map(|body| body.on_end(move |failed| guard.finish(failed))))
                }
                Err(status) => {
                    guard.finish(Some(&status));
                    match copy {
                        Some(mut again) if status.never_processed() => {
                            excluded.push(ep.addr);
                            // The call's deadline covers every attempt.
                            if let Some(deadline) = deadline {
                                let left = deadline.saturating_duration_since(Instant::now());
                                again.request_mut().set_timeout(left);
                            }
                            call = again;
                        }
                        _ => return Err(status),
                    }
                }
            }
        }
        // Every attempt was refused before any server read it.
        Err(Status::unavailable("no server took the call").mark_never_processed())
    }
}

trait SingleRequest {
    fn single_request_kind(self) -> bool;
}

impl SingleRequest for MethodKind {
    fn single_request_kind(self) -> bool {
        matches!(self, MethodKind::Unary | MethodKind::ServerStreaming)
    }
}

/// Picks, waiting while nothing can be picked yet, up to the call's deadline.
async fn pick(
    shared: &Shared,
    excluded: &[SocketAddr],
    deadline: Option<Instant>,
) -> Result<(Arc<Ep>, Arc<Conn>), Status> {
    loop {
        // Most calls pick at once, without registering for a wake-up.
        match shared.try_pick(excluded) {
            Pick::Got(ep, conn) => return Ok((ep, conn)),
            Pick::Fail(status) => return Err(status),
            Pick::Wait(_) => {}
        }
        let changed = shared.changed.notified();
        let mut changed = std::pin::pin!(changed);
        changed.as_mut().enable();
        let full = match shared.try_pick(excluded) {
            Pick::Got(ep, conn) => return Ok((ep, conn)),
            Pick::Fail(status) => return Err(status),
            Pick::Wait(full) => full,
        };
        // A full endpoint wakes waiters when a call there ends.
        if let Some(ep) = &full {
            ep.waiting.fetch_add(1, Ordering::AcqRel);
        }
        let waited = async {
            tokio::select! {
                () = changed => {}
                // A notification lost between the try and the wait costs at most this.
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        };
        let timed_out = match deadline {
            Some(d) => tokio::time::timeout_at(d, waited).await.is_err(),
            None => {
                waited.await;
                false
            }
        };
        if let Some(ep) = &full {
            ep.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        if timed_out {
            return Err(Status::deadline_exceeded(
                "deadline exceeded while waiting for a server",
            ));
        }
    }
}

/// A call in flight on an endpoint's connection: ends it there when dropped or finished.
struct Guard {
    ep: Arc<Ep>,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
    started: Instant,
    done: bool,
}

impl Guard {
    fn finish(mut self, failed: Option<&Status>) {
        self.end(failed, true);
    }

    /// Ends the call there; `answered`: the call came to an end (not dropped before an
    /// answer), so its time is a latency sample.
    fn end(&mut self, failed: Option<&Status>, answered: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let unavailable = failed.is_some_and(|s| s.code() == rpc_core::Code::Unavailable);
        self.conn.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.ep.in_flight.fetch_sub(1, Ordering::AcqRel);
        let rtt = answered.then(|| self.started.elapsed());
        self.ep.finished(&self.shared, rtt, unavailable);
        if self.ep.waiting.load(Ordering::Acquire) > 0 {
            self.shared.changed.notify_waiters();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Dropped before an answer: the call was cancelled, which says nothing of the server.
        self.end(None, false);
    }
}

impl Service<CallRequest> for BalancedChannel {
    type Response = CallResponse;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<CallResponse, Status>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: CallRequest) -> Self::Future {
        Box::pin(BalancedChannel::run(self.shared.clone(), call))
    }
}
