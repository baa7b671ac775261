//! A channel's connectivity: its state ([`ConnectivityState`], as gRPC's), the backoff between
//! connection attempts ([`BackoffConfig`], gRPC's connection backoff), and what a call does
//! while there is no connection ([`WaitForReady`]). PROTOCOL.md §11.3.

use std::time::Duration;
use tokio::time::Instant;

/// Where a [`Channel`](super::Channel) stands with its connection, as gRPC's connectivity
/// states. Read it with [`Channel::state`](super::Channel::state), follow it with
/// [`Channel::watch_state`](super::Channel::watch_state).
///
/// ```text
///            call / connect()            handshake done
///   Idle ─────────────────────▶ Connecting ─────────────▶ Ready
///    ▲                            │    ▲                    │ connection lost, drained
///    │                    failed  ▼    │ backoff over,      │ by the server, keep-alive
///    │                  TransientFailure  next call         │ timeout
///    └──────────────────────────────────────────────────────┘
///   close(): Shutdown, from any state, for good.
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectivityState {
    /// No connection and no attempt under way: before the first call of a lazy channel, and
    /// after a connection ended (lost, or drained by the server, PROTOCOL.md §12). The next
    /// call connects.
    Idle,
    /// A connection attempt (QUIC and TLS handshake) is under way.
    Connecting,
    /// Connected: calls go out at once.
    Ready,
    /// The last attempt failed; the next waits for the backoff ([`BackoffConfig`]).
    /// Meanwhile calls fail fast with `UNAVAILABLE`, unless they wait for ready
    /// ([`WaitForReady`]).
    TransientFailure,
    /// [`Channel::close`](super::Channel::close) was called: every call fails.
    Shutdown,
}

/// In a request's extensions, says what the call does while the channel has no connection
/// (gRPC's wait-for-ready); overrides [`Endpoint::wait_for_ready`](super::Endpoint::wait_for_ready).
///
/// * `WaitForReady(false)`, the default (gRPC's *fail fast*): a call on an idle channel
///   starts a connection attempt and waits for it; while the channel is in
///   [`TransientFailure`](ConnectivityState::TransientFailure) (backing off after a failed
///   attempt) the call fails at once with `UNAVAILABLE`.
/// * `WaitForReady(true)`: the call waits through failed attempts and backoffs until a
///   connection is up or its deadline passes (`DEADLINE_EXCEEDED`; without a deadline it
///   waits as long as it takes, or until the channel is closed).
///
/// Either way, nothing is sent before the connection is up, and a call is never replayed.
///
/// ```
/// use rpc_core::{client::WaitForReady, Request};
/// use std::time::Duration;
/// let mut request = Request::new(());
/// request.extensions_mut().insert(WaitForReady(true));
/// request.set_timeout(Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WaitForReady(pub bool);

/// The pauses between a channel's connection attempts after failures: gRPC's connection
/// backoff (`connection-backoff.md`). Set with
/// [`Endpoint::connect_backoff`](super::Endpoint::connect_backoff).
///
/// After the first failed attempt the next one starts `base_delay` after the first
/// *started* (exactly); each further failure multiplies the pause by `multiplier`, up to `max_delay`,
/// and spreads it by ±`jitter` (a fraction), so that clients of a restarted server do not
/// come back in lockstep. A successful connection resets it. Attempts are lazy: the call
/// that finds the pause over makes the next attempt (a waiting call, [`WaitForReady`], makes
/// it as soon as the pause is over).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The first pause (gRPC: 1 s).
    pub base_delay: Duration,
    /// The factor each further pause grows by (gRPC: 1.6).
    pub multiplier: f64,
    /// How much a pause is spread either way, as a fraction of it (gRPC: 0.2).
    pub jitter: f64,
    /// The longest pause (gRPC: 120 s).
    pub max_delay: Duration,
    /// How long an attempt may take at least, when no handshake timeout is set
    /// ([`Endpoint::connect_timeout`](super::Endpoint::connect_timeout)) and the server is
    /// not on a loopback address (gRPC: 20 s; loopback: 2 s).
    pub min_connect_timeout: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base_delay: Duration::from_secs(1),
            multiplier: 1.6,
            jitter: 0.2,
            max_delay: Duration::from_secs(120),
            min_connect_timeout: Duration::from_secs(20),
        }
    }
}

impl BackoffConfig {
    /// gRPC's defaults: 1 s, x1.6, ±20 %, at most 120 s; attempts of at least 20 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the first pause.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// Sets the growth factor of each further pause (at least 1).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Sets the spread of a pause, a fraction of it (0 to 1; 0: exact pauses).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Sets the longest pause.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets how long an attempt may take at least (see the field).
    pub fn min_connect_timeout(mut self, timeout: Duration) -> Self {
        self.min_connect_timeout = timeout;
        self
    }

    /// The pause after a failure, given the one before (`ZERO` for the first failure),
    /// before jitter.
    pub(crate) fn next(&self, previous: Duration) -> Duration {
        if previous.is_zero() {
            return self.base_delay.min(self.max_delay);
        }
        previous
            .mul_f64(self.multiplier)
            .min(self.max_delay)
            .max(previous.min(self.max_delay))
    }

    /// `pause` spread by the jitter: uniform in `pause x [1 - jitter, 1 + jitter]`.
    pub(crate) fn jittered(&self, pause: Duration) -> Duration {
        if self.jitter == 0.0 {
            return pause;
        }
        let factor = 1.0 + self.jitter * (fastrand::f64() * 2.0 - 1.0);
        pause.mul_f64(factor.max(0.0))
    }
}

/// A channel's backoff bookkeeping, under its reconnect lock.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// The last pause (before jitter); `ZERO` until an attempt failed.
    pub(crate) pause: Duration,
    /// When the next attempt may start, after a failure.
    pub(crate) until: Option<Instant>,
    /// Why the last attempt failed.
    pub(crate) last_error: Option<String>,
}

impl Backoff {
    /// Records a failed attempt that started at `started`.
    pub(crate) fn failed(&mut self, config: &BackoffConfig, started: Instant, err: &crate::Error) {
        // As gRPC: the first pause is exact, later ones are spread.
        let first = self.pause.is_zero();
        self.pause = config.next(self.pause);
        let pause = if first {
            self.pause
        } else {
            config.jittered(self.pause)
        };
        self.until = Some(started + pause);
        self.last_error = Some(err.to_string());
    }

    /// Records a connection made.
    pub(crate) fn succeeded(&mut self) {
        *self = Backoff::default();
    }

    /// The last error, while the pause after it is not over.
    pub(crate) fn pausing(&self, now: Instant) -> Option<(Instant, &str)> {
        match (self.until, &self.last_error) {
            (Some(until), Some(err)) if now < until => Some((until, err.as_str())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_by_the_multiplier_up_to_the_cap() {
        let c = BackoffConfig::default();
        let mut pause = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..14 {
            pause = c.next(pause);
            seen.push(pause.as_millis());
        }
        assert_eq!(&seen[..5], &[1000, 1600, 2560, 4096, 6553]);
        assert_eq!(seen[13], 120_000);
        let c = c.base_delay(Duration::from_millis(100)).multiplier(2.0);
        let c = c.max_delay(Duration::from_secs(5));
        assert_eq!(c.next(Duration::from_millis(3200)), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let c = BackoffConfig::default();
        let pause = Duration::from_secs(10);
        let (mut low, mut high) = (false, false);
        for _ in 0..1000 {
            let j = c.jittered(pause);
            assert!(
                j >= Duration::from_secs(8) && j <= Duration::from_secs(12),
                "{j:?}"
            );
            low |= j < Duration::from_millis(9500);
            high |= j > Duration::from_millis(10500);
        }
        assert!(low && high, "the jitter does not spread pauses");
        assert_eq!(c.jitter(0.0).jittered(pause), pause);
    }
}
