//! One server of a balanced channel: its connections (one or more, A105 style), its load
//! (calls in flight, peak-EWMA latency), its health (outlier ejection) and slow start.

use crate::Config;
use rpc_core::client::ConnectivityState;
use rpc_core::{Channel, Endpoint};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where an endpoint of a balanced channel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndpointState {
    /// Its first connection is being made: not picked yet.
    Connecting,
    /// Connected and healthy: picked by the policy.
    Ready,
    /// No connection (the last attempt failed, or it was lost, drained by the server, or
    /// is being replaced): not picked; the balancer reconnects with backoff.
    TransientFailure,
    /// Taken out after repeated failures, until its ejection time is over; then probed.
    Ejected,
}

/// What a balanced channel knows about one of its endpoints
/// ([`BalancedChannel::endpoints`](crate::BalancedChannel::endpoints)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndpointStats {
    /// The server's address.
    pub addr: SocketAddr,
    /// Where it stands.
    pub state: EndpointState,
    /// Calls sent to it (attempts, so a call retried elsewhere counts on both).
    pub calls: u64,
    /// Calls that failed there with `UNAVAILABLE` (the server or its connection was lost).
    pub failures: u64,
    /// Calls in flight there now.
    pub in_flight: usize,
    /// Its connections now.
    pub connections: usize,
    /// Connections opened to it so far.
    pub connections_opened: u64,
    /// Times it was ejected.
    pub ejections: u64,
    /// The peak-EWMA latency estimate, once a call ended there.
    pub latency: Option<Duration>,
}

/// One connection to the endpoint and its calls in flight.
pub(crate) struct Conn {
    pub(crate) channel: Channel,
    pub(crate) in_flight: AtomicUsize,
}

/// Peak EWMA of call latencies (Finagle's, as `tower::load::PeakEwma`): a slower call
/// raises the estimate at once, faster ones lower it gradually, and an idle endpoint's
/// estimate decays so that it is tried again.
struct Ewma {
    estimate_ns: f64,
    at: Instant,
    sampled: bool,
}

impl Ewma {
    fn observe(&mut self, rtt: Duration, now: Instant, decay: Duration) {
        let rtt = rtt.as_nanos() as f64;
        if !self.sampled || rtt > self.estimate_ns {
            self.estimate_ns = rtt;
        } else {
            let elapsed = now.saturating_duration_since(self.at).as_nanos() as f64;
            let w = (-elapsed / decay.as_nanos().max(1) as f64).exp();
            self.estimate_ns = self.estimate_ns * w + rtt * (1.0 - w);
        }
        self.sampled = true;
        self.at = now;
    }

    /// The estimate now; decayed towards zero while nothing is in flight.
    fn read(&self, now: Instant, decay: Duration, idle: bool, default: Duration) -> f64 {
        if !self.sampled {
            return default.as_nanos() as f64;
        }
        if !idle {
            return self.estimate_ns;
        }
        let elapsed = now.saturating_duration_since(self.at).as_nanos() as f64;
        self.estimate_ns * (-elapsed / decay.as_nanos().max(1) as f64).exp()
    }
}

#[derive(Default)]
struct Health {
    consecutive: u32,
    ejections: u32,
    /// Back from an ejection: the next failure ejects it again, for longer.
    probing: bool,
}

/// A server of the balanced channel.
pub(crate) struct Ep {
    pub(crate) addr: SocketAddr,
    pub(crate) conns: Mutex<Vec<Arc<Conn>>>,
    /// `conns.len()`, read by every pick without the lock.
    live: AtomicUsize,
    pub(crate) in_flight: AtomicUsize,
    /// Calls waiting for a connection with room (A105).
    pub(crate) waiting: AtomicUsize,
    /// Asks the endpoint's task for one more connection.
    more: Notify,
    health: Mutex<Health>,
    /// Whether `health` has anything to reset after a success (failures counted, or a
    /// probe): successes skip its lock otherwise.
    unhealthy: AtomicBool,
    /// Milliseconds since the channel's epoch until which it is ejected; 0: not.
    ejected_until: AtomicU64,
    ewma: Mutex<Ewma>,
    /// Weight ramp start (slow start), for endpoints added after the first resolution.
    slow_start_from: std::sync::OnceLock<Instant>,
    slow_start: bool,
    connecting: AtomicBool,
    pub(crate) calls: AtomicU64,
    failures: AtomicU64,
    ejections: AtomicU64,
    opened: AtomicU64,
    pub(crate) cancel: CancellationToken,
}

impl Ep {
    pub(crate) fn new(addr: SocketAddr, slow_start: bool, cancel: CancellationToken) -> Self {
        Ep {
            addr,
            conns: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            more: Notify::new(),
            health: Mutex::new(Health::default()),
            unhealthy: AtomicBool::new(false),
            ejected_until: AtomicU64::new(0),
            ewma: Mutex::new(Ewma {
                estimate_ns: 0.0,
                at: Instant::now(),
                sampled: false,
            }),
            slow_start_from: std::sync::OnceLock::new(),
            slow_start,
            connecting: AtomicBool::new(true),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            cancel,
        }
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn has_connection(&self) -> bool {
        self.live.load(Ordering::Acquire) > 0
    }

    pub(crate) fn is_ejected(&self, now_ms: u64) -> bool {
        now_ms < self.ejected_until.load(Ordering::Relaxed)
    }

    /// Whether the policy may pick it now.
    pub(crate) fn pickable(&self, now_ms: u64) -> bool {
        !self.cancel.is_cancelled() && !self.is_ejected(now_ms) && self.has_connection()
    }

    pub(crate) fn is_connecting(&self) -> bool {
        self.connecting.load(Ordering::Relaxed) && !self.cancel.is_cancelled()
    }

    /// Its slow-start weight in (0, 1]: 1 unless added late and within the window.
    pub(crate) fn weight(&self, config: &Config, now: Instant) -> f64 {
        if !self.slow_start || config.slow_start.is_zero() {
            return 1.0;
        }
        match self.slow_start_from.get().copied() {
            None => 1.0,
            Some(from) => {
                let ramp = now.saturating_duration_since(from).as_secs_f64()
                    / config.slow_start.as_secs_f64();
                ramp.clamp(0.1, 1.0)
            }
        }
    }

    /// The latency estimate in nanoseconds (peak EWMA).
    pub(crate) fn latency_ns(&self, config: &Config, now: Instant) -> f64 {
        let idle = self.in_flight.load(Ordering::Relaxed) == 0;
        self.ewma.lock().unwrap_or_else(|e| e.into_inner()).read(
            now,
            config.decay,
            idle,
            config.default_rtt,
        )
    }

    /// A connection with room for one more call, reserving it; `Err(true)` when every
    /// connection is full and another may be opened, `Err(false)` when none may.
    pub(crate) fn reserve(&self, config: &Config) -> Result<Arc<Conn>, bool> {
        let conns = self.conns();
        let best = conns
            .iter()
            .min_by_key(|c| c.in_flight.load(Ordering::Relaxed))
            .ok_or(false)?;
        let max = config.max_calls_per_connection;
        let reserved = best
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            });
        if reserved.is_ok() {
            return Ok(best.clone());
        }
        if conns.len() < config.max_connections_per_endpoint {
            drop(conns);
            self.more.notify_one();
            return Err(true);
        }
        // At the limit of connections: the call waits for a stream on the least busy one.
        best.in_flight.fetch_add(1, Ordering::AcqRel);
        Ok(best.clone())
    }

    /// A call ended there: its latency and whether it found the server gone.
    /// `rtt`: the call's time, `None` for a call dropped before its answer (cancelled,
    /// a hedge that lost), which says nothing of the server.
    pub(crate) fn finished(
        &self,
        shared: &crate::Shared,
        rtt: Option<Duration>,
        unavailable: bool,
    ) {
        let now = Instant::now();
        if unavailable {
            self.failures.fetch_add(1, Ordering::Relaxed);
            self.failure(shared, now);
        } else if let Some(rtt) = rtt {
            self.ewma.lock().unwrap_or_else(|e| e.into_inner()).observe(
                rtt,
                now,
                shared.config.decay,
            );
            if !self.unhealthy.load(Ordering::Acquire) {
                return;
            }
            let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
            health.consecutive = 0;
            if health.probing {
                health.probing = false;
                health.ejections = health.ejections.saturating_sub(1);
            }
            self.unhealthy.store(false, Ordering::Release);
        }
    }

    /// A failure there (a call's `UNAVAILABLE`, a lost connection, a failed connect): may
    /// eject it (outlier detection).
    pub(crate) fn failure(&self, shared: &crate::Shared, now: Instant) {
        let config = &shared.config.ejection;
        let now_ms = shared.millis(now);
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        self.unhealthy.store(true, Ordering::Release);
        health.consecutive = health.consecutive.saturating_add(1);
        let until = self.ejected_until.load(Ordering::Relaxed);
        if until != 0 {
            if now_ms < until {
                return;
            }
            // Its ejection is over: this is the probe's verdict.
            self.ejected_until.store(0, Ordering::Relaxed);
            health.probing = true;
        }
        if config.consecutive_failures == 0
            || !(health.probing || health.consecutive >= config.consecutive_failures)
        {
            return;
        }
        if !shared.may_eject(self, now_ms) {
            return;
        }
        health.ejections = health.ejections.saturating_add(1);
        let factor = 1u32 << health.ejections.saturating_sub(1).min(16);
        let time = config.base_time.saturating_mul(factor).min(config.max_time);
        self.ejected_until
            .store(now_ms + time.as_millis() as u64 + 1, Ordering::Relaxed);
        health.consecutive = 0;
        health.probing = false;
        self.ejections.fetch_add(1, Ordering::Relaxed);
        tracing::info!(addr = %self.addr, ?time, "endpoint ejected");
        drop(health);
        shared.changed.notify_waiters();
        // Back in the running after `time`: waiting calls look again.
        let shared_changed = shared.me.clone();
        let cancel = self.cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(time) => {}
                () = cancel.cancelled() => return,
            }
            if let Some(shared) = shared_changed.upgrade() {
                shared.changed.notify_waiters();
            }
        });
    }

    pub(crate) fn state(&self, now_ms: u64) -> EndpointState {
        if self.is_ejected(now_ms) {
            EndpointState::Ejected
        } else if self.has_connection() {
            EndpointState::Ready
        } else if self.is_connecting() {
            EndpointState::Connecting
        } else {
            EndpointState::TransientFailure
        }
    }

    pub(crate) fn stats(&self, now_ms: u64, config: &Config) -> EndpointStats {
        let ewma = self.ewma.lock().unwrap_or_else(|e| e.into_inner());
        let latency = ewma.sampled.then(|| {
            Duration::from_nanos(
                ewma.read(Instant::now(), config.decay, false, config.default_rtt) as u64,
            )
        });
        drop(ewma);
        EndpointStats {
            addr: self.addr,
            state: self.state(now_ms),
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            connections: self.conns().len(),
            connections_opened: self.opened.load(Ordering::Relaxed),
            ejections: self.ejections.load(Ordering::Relaxed),
            latency,
        }
    }
}

/// Keeps an endpoint connected until it is removed: its first connection, reconnects with
/// backoff after a loss (a drained or lost connection leaves the pool at once, so it is
/// never picked), and extra connections when every one is full (A105).
pub(crate) async fn run(ep: Arc<Ep>, shared: Arc<crate::Shared>, make: crate::MakeEndpoint) {
    let mut backoff = shared.config.reconnect_base;
    let lost = Arc::new(Notify::new());
    // When the last connection came up: one lost within a second (a server that drains or
    // closes each new connection) is followed by a pause, not by another at once.
    let mut up_since: Option<Instant> = None;
    // Made once: its clones share the TLS configuration, so reconnects resume TLS sessions.
    let endpoint: Endpoint = make(ep.addr);
    loop {
        if ep.cancel.is_cancelled() {
            break;
        }
        let want = if ep.has_connection() {
            // Wait for a loss or a request for one more connection.
            tokio::select! {
                () = ep.cancel.cancelled() => break,
                () = lost.notified() => {
                    if !ep.has_connection() {
                        let lived = up_since.is_some_and(|t| t.elapsed() >= Duration::from_secs(1));
                        if lived {
                            backoff = shared.config.reconnect_base;
                        } else {
                            let pause = backoff.mul_f64(0.8 + 0.4 * fastrand::f64());
                            backoff = backoff.mul_f64(1.6).min(shared.config.reconnect_max);
                            tokio::select! {
                                () = ep.cancel.cancelled() => break,
                                () = tokio::time::sleep(pause) => {}
                            }
                        }
                    }
                    continue;
                }
                () = ep.more.notified() => {}
            }
            let conns = ep.conns().len();
            let full = ep.conns().iter().all(|c| {
                c.in_flight.load(Ordering::Relaxed) >= shared.config.max_calls_per_connection
            });
            conns < shared.config.max_connections_per_endpoint && full
        } else {
            true
        };
        if !want {
            continue;
        }
        let connected = tokio::select! {
            () = ep.cancel.cancelled() => break,
            c = endpoint.connect() => c,
        };
        match connected {
            Ok(channel) => {
                up_since = Some(Instant::now());
                let conn = Arc::new(Conn {
                    channel,
                    in_flight: AtomicUsize::new(0),
                });
                ep.opened.fetch_add(1, Ordering::Relaxed);
                let first = {
                    let mut conns = ep.conns();
                    conns.push(conn.clone());
                    ep.live.store(conns.len(), Ordering::Release);
                    conns.len() == 1
                };
                if first && ep.slow_start {
                    let _ = ep.slow_start_from.set(Instant::now());
                }
                ep.connecting.store(false, Ordering::Relaxed);
                watch(ep.clone(), conn, lost.clone(), shared.clone());
                shared.changed.notify_waiters();
            }
            Err(e) => {
                tracing::debug!(addr = %ep.addr, error = %e, "connect failed");
                ep.connecting.store(false, Ordering::Relaxed);
                if !ep.has_connection() {
                    ep.failure(&shared, Instant::now());
                    shared.kick.notify_one();
                    shared.changed.notify_waiters();
                }
                let pause = backoff.mul_f64(0.8 + 0.4 * fastrand::f64());
                backoff = backoff.mul_f64(1.6).min(shared.config.reconnect_max);
                tokio::select! {
                    () = ep.cancel.cancelled() => break,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
    // Removed: calls in flight keep their connection (their guards hold it) and end there.
    ep.conns().clear();
    ep.live.store(0, Ordering::Release);
}

/// Takes `conn` out of the pool as soon as it stops being `Ready` (lost, drained by the
/// server, keep-alive timeout), and tells the endpoint's task.
fn watch(ep: Arc<Ep>, conn: Arc<Conn>, lost: Arc<Notify>, shared: Arc<crate::Shared>) {
    let mut state = conn.channel.watch_state();
    let cancel = ep.cancel.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = state.wait_for(|s| *s != ConnectivityState::Ready) => {}
        }
        let empty = {
            let mut conns = ep.conns();
            conns.retain(|c| !Arc::ptr_eq(c, &conn));
            ep.live.store(conns.len(), Ordering::Release);
            conns.is_empty()
        };
        if empty {
            ep.failure(&shared, Instant::now());
            shared.kick.notify_one();
        }
        lost.notify_one();
        shared.changed.notify_waiters();
    });
}
