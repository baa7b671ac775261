//! The retry decisions, sans-IO: the throttle's token bucket, the server's pushback, and
//! whether (and after how long) a failed attempt is tried again. No clock, no randomness:
//! the caller passes a uniform random number in `[0, 1)`.

use super::config::RetryPolicy;
use super::RETRY_PUSHBACK;
use crate::metadata::{MetadataMap, MetadataValue};
use crate::status::Status;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// gRPC A6's retry throttle: a token bucket per channel, in thousandths of a token.
#[derive(Debug)]
pub(crate) struct Throttle {
    max: u32,
    ratio: u32,
    tokens: AtomicU32,
}

impl Throttle {
    pub(crate) fn new(max_tokens: f64, token_ratio: f64) -> Self {
        let max = (max_tokens * 1000.0).round() as u32;
        Throttle {
            max,
            // A6: "up to 3 decimal places", the rest ignored.
            ratio: (token_ratio * 1000.0).floor() as u32,
            tokens: AtomicU32::new(max),
        }
    }

    /// A failure with a retryable (or non-fatal) code: one token less. Returns whether
    /// retries are throttled now (tokens at or below half the bucket).
    pub(crate) fn failure(&self) -> bool {
        let before = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_sub(1000))
            })
            .unwrap_or(0);
        !Self::above(before.saturating_sub(1000), self.max)
    }

    /// A call that did not fail: `token_ratio` more, up to the bucket's size.
    pub(crate) fn success(&self) {
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(self.ratio).min(self.max))
            });
    }

    /// Whether a retry or hedge may be sent now.
    pub(crate) fn allows(&self) -> bool {
        Self::above(self.tokens.load(Ordering::Acquire), self.max)
    }

    /// Tokens left, as a number of tokens.
    pub(crate) fn tokens(&self) -> f64 {
        f64::from(self.tokens.load(Ordering::Acquire)) / 1000.0
    }

    /// `tokens > max / 2`, exactly, in thousandths.
    fn above(tokens: u32, max: u32) -> bool {
        u64::from(tokens) * 2 > u64::from(max)
    }
}

/// What the server said about retrying, in the trailer `qrpc-retry-pushback-ms`
/// (PROTOCOL.md §9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushback {
    /// Nothing: the policy's backoff applies.
    None,
    /// Retry after this long, no sooner and no later.
    After(Duration),
    /// Do not retry: a negative value, garbage, or more than one value.
    Stop,
}

pub(crate) fn pushback(trailers: &MetadataMap) -> Pushback {
    let mut values = trailers.get_all(RETRY_PUSHBACK);
    let Some(first) = values.next() else {
        return Pushback::None;
    };
    if values.next().is_some() {
        return Pushback::Stop;
    }
    let MetadataValue::Ascii(text) = first else {
        return Pushback::Stop;
    };
    // A non-negative decimal integer, nothing else (no sign, no spaces).
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Pushback::Stop;
    }
    match text.parse::<u64>() {
        Ok(ms) => Pushback::After(Duration::from_millis(ms)),
        // More digits than a u64 holds: "later than ever" is "don't".
        Err(_) => Pushback::Stop,
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Next {
    /// The status is the outcome.
    Stop,
    /// Try again after this long; `pushback`: the server chose the delay (the backoff
    /// starts again from its initial bound).
    After { delay: Duration, pushback: bool },
}

/// Whether a failed attempt is retried under `policy` (gRPC A6, with the idempotency rule
/// of PROTOCOL.md §9.3). `attempts`: attempts made so far that count toward
/// `maxAttempts`; `since_pushback`: retries since the last pushback; `unit`: uniform in
/// `[0, 1)`, the jitter.
pub(crate) fn after_failure(
    policy: &RetryPolicy,
    status: &Status,
    idempotent: bool,
    attempts: u32,
    since_pushback: u32,
    throttle: Option<&Throttle>,
    unit: f64,
) -> Next {
    // A call that may have reached a handler runs again only if its method may run twice.
    if !status.never_processed() && !idempotent && !policy.non_idempotent {
        return Next::Stop;
    }
    let pushback = pushback(status.metadata());
    if pushback == Pushback::Stop {
        // The server said no: a failure for the throttle too.
        if let Some(t) = throttle {
            t.failure();
        }
        return Next::Stop;
    }
    if !policy.codes.contains(status.code()) {
        return Next::Stop;
    }
    // Counted as a failure only when the code is retryable (A6).
    if throttle.is_some_and(Throttle::failure) {
        return Next::Stop;
    }
    if attempts >= policy.max_attempts {
        return Next::Stop;
    }
    match pushback {
        Pushback::After(delay) => Next::After {
            delay,
            pushback: true,
        },
        _ => Next::After {
            delay: policy
                .backoff_bound(since_pushback)
                .mul_f64(unit.clamp(0.0, 1.0)),
            pushback: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Code;

    fn unavailable() -> Status {
        Status::unavailable("down")
    }

    fn with_pushback(values: &[&str]) -> Status {
        let mut s = unavailable();
        for v in values {
            s.metadata_mut().append(RETRY_PUSHBACK, v).unwrap();
        }
        s
    }

    #[test]
    fn throttle_follows_a6() {
        // maxTokens 10, ratio 0.5: retries stop once tokens <= 5.
        let t = Throttle::new(10.0, 0.5);
        assert!(t.allows());
        for _ in 0..4 {
            assert!(!t.failure(), "9..6 tokens left: not throttled");
        }
        assert!(t.failure(), "5 tokens: throttled");
        assert!(!t.allows());
        t.success();
        assert_eq!(t.tokens(), 5.5);
        assert!(t.allows());
        for _ in 0..100 {
            t.success();
        }
        assert_eq!(t.tokens(), 10.0, "capped at maxTokens");
        for _ in 0..100 {
            t.failure();
        }
        assert_eq!(t.tokens(), 0.0, "never below zero");
        // Thousandths: the ratio's fourth decimal is ignored.
        assert_eq!(Throttle::new(1.0, 0.1239).ratio, 123);
    }

    #[test]
    fn pushback_values() {
        assert_eq!(pushback(&MetadataMap::new()), Pushback::None);
        let one = |v: &str| pushback(with_pushback(&[v]).metadata());
        assert_eq!(one("0"), Pushback::After(Duration::ZERO));
        assert_eq!(one("1500"), Pushback::After(Duration::from_millis(1500)));
        for bad in [
            "-1",
            "",
            "1.5",
            " 1",
            "+1",
            "1e3",
            "abc",
            "99999999999999999999999",
        ] {
            assert_eq!(one(bad), Pushback::Stop, "{bad:?}");
        }
        assert_eq!(
            pushback(with_pushback(&["1", "2"]).metadata()),
            Pushback::Stop
        );
    }

    #[test]
    fn retries_only_what_the_policy_allows() {
        let p = RetryPolicy::new(3).retryable_codes([Code::Unavailable]);
        let next = |s: &Status, idem, n| after_failure(&p, s, idem, n, 0, None, 0.5);
        assert!(matches!(next(&unavailable(), true, 1), Next::After { .. }));
        assert!(matches!(next(&unavailable(), true, 2), Next::After { .. }));
        assert_eq!(next(&unavailable(), true, 3), Next::Stop, "max attempts");
        assert_eq!(next(&Status::internal("x"), true, 1), Next::Stop, "code");
        // Not idempotent: only when it never reached a handler.
        assert_eq!(next(&unavailable(), false, 1), Next::Stop);
        assert!(matches!(
            next(&unavailable().unprocessed(), false, 1),
            Next::After { .. }
        ));
        let opted = p.clone().retry_non_idempotent(true);
        assert!(matches!(
            after_failure(&opted, &unavailable(), false, 1, 0, None, 0.5),
            Next::After { .. }
        ));
        // Pushback replaces the backoff; garbage stops.
        assert_eq!(
            next(&with_pushback(&["250"]), true, 1),
            Next::After {
                delay: Duration::from_millis(250),
                pushback: true
            }
        );
        assert_eq!(next(&with_pushback(&["-1"]), true, 1), Next::Stop);
    }

    #[test]
    fn backoff_is_jittered_below_the_bound() {
        let p = RetryPolicy::new(5)
            .initial_backoff(Duration::from_millis(100))
            .backoff_multiplier(3.0)
            .max_backoff(Duration::from_secs(1));
        let delay = |n, unit| match after_failure(&p, &unavailable(), true, 1, n, None, unit) {
            Next::After { delay, .. } => delay,
            Next::Stop => panic!("stopped"),
        };
        assert_eq!(delay(0, 0.0), Duration::ZERO);
        assert_eq!(delay(0, 0.5), Duration::from_millis(50));
        assert_eq!(delay(1, 0.5), Duration::from_millis(150));
        assert_eq!(delay(5, 0.5), Duration::from_millis(500), "capped at max");
    }

    #[test]
    fn throttled_retries_stop() {
        let p = RetryPolicy::new(5);
        let t = Throttle::new(2.0, 1.0);
        // 2 tokens: the first failure leaves 1 = max/2: throttled.
        assert_eq!(
            after_failure(&p, &unavailable(), true, 1, 0, Some(&t), 0.5),
            Next::Stop
        );
        // Non-retryable codes take no token.
        t.success();
        let before = t.tokens();
        after_failure(&p, &Status::internal("x"), true, 1, 0, Some(&t), 0.5);
        assert_eq!(t.tokens(), before);
    }
}
