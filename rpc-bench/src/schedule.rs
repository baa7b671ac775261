//! Open-loop load schedules (`--rps`): a constant rate, or a ramp from one rate to another,
//! linear or in equal steps, like ghz's load schedules.
//!
//! A [`Schedule`] is piecewise linear in rate. Its cumulative call count `N(t)` (the area under
//! the rate) is piecewise quadratic, so the scheduled start of call `i` is where `N(t) = i`:
//! one square root for a linear segment, a division for a constant one. Pure functions of
//! time, no clock: the load loop adds them to its start instant.

use serde_json::{json, Value};
use std::time::Duration;

/// How a schedule moves from its start rate to its end rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ramp {
    /// One rate throughout.
    Constant,
    /// The rate grows (or falls) linearly over the ramp's duration.
    Linear,
    /// The rate moves in this many equal-length steps, the first at the start rate and the
    /// last at the end rate.
    Step(u32),
}

/// Why a schedule cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError(String);

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScheduleError {}

/// A stretch of constant or linearly changing rate.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    /// Start, in seconds from the schedule's start.
    at: f64,
    /// Length in seconds; infinite for the last segment, which keeps its rate forever.
    len: f64,
    /// Rate at `at`, calls per second.
    from: f64,
    /// Rate at `at + len` (equal to `from` when `len` is infinite).
    to: f64,
    /// Calls scheduled before `at`: `N(at)`.
    calls_before: f64,
}

impl Segment {
    /// Rate change per second.
    fn slope(&self) -> f64 {
        if self.len.is_finite() && self.len > 0.0 {
            (self.to - self.from) / self.len
        } else {
            0.0
        }
    }

    /// Calls scheduled from `at` to `at + tau`.
    fn calls_within(&self, tau: f64) -> f64 {
        self.from * tau + self.slope() * tau * tau / 2.0
    }

    /// The `tau` at which `calls_within(tau) = k`: the positive root of
    /// `slope/2 tau^2 + from tau - k = 0`, in the form that stays exact for slope 0 and
    /// does not cancel for falling rates.
    fn time_of(&self, k: f64) -> f64 {
        let root = (self.from * self.from + 2.0 * self.slope() * k)
            .max(0.0)
            .sqrt();
        let denom = self.from + root;
        if denom > 0.0 {
            2.0 * k / denom
        } else {
            0.0
        }
    }
}

/// When open-loop calls start: a rate (calls per second) as a function of time.
///
/// Built by [`Schedule::constant`], [`Schedule::linear`] or [`Schedule::steps`]; rates must be
/// finite and above zero. After the ramp's duration the rate stays at the end rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    ramp: Ramp,
    from: f64,
    to: f64,
    over: Duration,
    segments: Vec<Segment>,
}

fn check_rate(rate: f64) -> Result<f64, ScheduleError> {
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(ScheduleError(format!(
            "the rate must be a number of calls per second above 0, not {rate}"
        )))
    }
}

impl Schedule {
    /// `rate` calls per second, forever.
    pub fn constant(rate: f64) -> Result<Schedule, ScheduleError> {
        let rate = check_rate(rate)?;
        Ok(Schedule {
            ramp: Ramp::Constant,
            from: rate,
            to: rate,
            over: Duration::ZERO,
            segments: vec![Segment {
                at: 0.0,
                len: f64::INFINITY,
                from: rate,
                to: rate,
                calls_before: 0.0,
            }],
        })
    }

    /// From `from` to `to` calls per second linearly over `over`, then `to`.
    pub fn linear(from: f64, to: f64, over: Duration) -> Result<Schedule, ScheduleError> {
        let (from, to) = (check_rate(from)?, check_rate(to)?);
        let over = check_over(over)?;
        Ok(Schedule::from_pieces(
            Ramp::Linear,
            over,
            &[(over.as_secs_f64(), from, to)],
        ))
    }

    /// From `from` to `to` calls per second in `steps` equal-length constant steps over
    /// `over` (at least 2 steps: the first at `from`, the last at `to`), then `to`.
    pub fn steps(
        from: f64,
        to: f64,
        steps: u32,
        over: Duration,
    ) -> Result<Schedule, ScheduleError> {
        let (from, to) = (check_rate(from)?, check_rate(to)?);
        let over = check_over(over)?;
        if steps < 2 {
            return Err(ScheduleError(format!(
                "a step ramp needs at least 2 steps, not {steps}"
            )));
        }
        let len = over.as_secs_f64() / f64::from(steps);
        let pieces: Vec<(f64, f64, f64)> = (0..steps)
            .map(|j| {
                let rate = from + (to - from) * f64::from(j) / f64::from(steps - 1);
                (len, rate, rate)
            })
            .collect();
        Ok(Schedule::from_pieces(Ramp::Step(steps), over, &pieces))
    }

    /// Segments of (length, start rate, end rate) in order, then the last rate forever.
    fn from_pieces(ramp: Ramp, over: Duration, pieces: &[(f64, f64, f64)]) -> Schedule {
        let mut segments = Vec::with_capacity(pieces.len() + 1);
        let (mut at, mut calls) = (0.0, 0.0);
        for &(len, from, to) in pieces {
            let seg = Segment {
                at,
                len,
                from,
                to,
                calls_before: calls,
            };
            calls += seg.calls_within(len);
            at += len;
            segments.push(seg);
        }
        let (from, to) = (pieces[0].1, pieces[pieces.len() - 1].2);
        segments.push(Segment {
            at,
            len: f64::INFINITY,
            from: to,
            to,
            calls_before: calls,
        });
        Schedule {
            ramp,
            from,
            to,
            over,
            segments,
        }
    }

    /// The same schedule after `warmup` at the start rate: what the load loop paces by,
    /// from the start of the warm-up.
    pub fn after_warmup(&self, warmup: Duration) -> Schedule {
        let w = warmup.as_secs_f64();
        if w <= 0.0 {
            return self.clone();
        }
        let head = Segment {
            at: 0.0,
            len: w,
            from: self.from,
            to: self.from,
            calls_before: 0.0,
        };
        let shift = head.calls_within(w);
        let rest = self.segments.iter().map(|s| Segment {
            at: s.at + w,
            calls_before: s.calls_before + shift,
            ..s.clone()
        });
        Schedule {
            segments: std::iter::once(head).chain(rest).collect(),
            ..self.clone()
        }
    }

    /// How the rate moves.
    pub fn ramp(&self) -> Ramp {
        self.ramp
    }

    /// The start rate (calls per second).
    pub fn start_rate(&self) -> f64 {
        self.from
    }

    /// The end rate (calls per second); the start rate of a constant schedule.
    pub fn end_rate(&self) -> f64 {
        self.to
    }

    /// How long the ramp takes (zero for a constant rate).
    pub fn ramp_duration(&self) -> Duration {
        self.over
    }

    /// The segment in force at `secs` from the start.
    fn segment_at(&self, secs: f64) -> &Segment {
        let i = self.segments.partition_point(|s| s.at <= secs);
        &self.segments[i.saturating_sub(1)]
    }

    /// The scheduled rate at `t` from the start (the start rate before it).
    pub fn rate_at(&self, t: Duration) -> f64 {
        let secs = t.as_secs_f64();
        let s = self.segment_at(secs);
        s.from + s.slope() * (secs - s.at)
    }

    /// Calls scheduled from the start until `t`: `N(t)`, fractional.
    pub fn calls_until(&self, t: Duration) -> f64 {
        let secs = t.as_secs_f64();
        let s = self.segment_at(secs);
        s.calls_before + s.calls_within(secs - s.at)
    }

    /// The mean scheduled rate from `a` to `b` (the rate at `a` when they are equal).
    pub fn mean_rate(&self, a: Duration, b: Duration) -> f64 {
        if b <= a {
            return self.rate_at(a);
        }
        (self.calls_until(b) - self.calls_until(a)) / (b - a).as_secs_f64()
    }

    /// When call `i` (from 0) is scheduled to start, from the schedule's start: where
    /// `N(t) = i`. `None` past what a `Duration` holds.
    pub fn start_of(&self, i: u64) -> Option<Duration> {
        let k = i as f64;
        let idx = self.segments.partition_point(|s| s.calls_before <= k);
        let s = &self.segments[idx.saturating_sub(1)];
        Duration::try_from_secs_f64(s.at + s.time_of(k - s.calls_before)).ok()
    }

    /// A short description for labels: `100/s`, `100..2000/s`, `100..2000/s in 5 steps`.
    pub fn describe(&self) -> String {
        match self.ramp {
            Ramp::Constant => format!("{}/s", self.from),
            Ramp::Linear => format!("{}..{}/s", self.from, self.to),
            Ramp::Step(n) => format!("{}..{}/s in {n} steps", self.from, self.to),
        }
    }

    /// Machine-readable form: `{"ramp": "constant" | "linear" | "step", "from", "to",
    /// "steps", "over_s"}`.
    pub fn to_json(&self) -> Value {
        let (ramp, steps) = match self.ramp {
            Ramp::Constant => ("constant", None),
            Ramp::Linear => ("linear", None),
            Ramp::Step(n) => ("step", Some(n)),
        };
        json!({
            "ramp": ramp,
            "from": self.from,
            "to": self.to,
            "steps": steps,
            "over_s": self.over.as_secs_f64(),
        })
    }
}

fn check_over(over: Duration) -> Result<Duration, ScheduleError> {
    if over.is_zero() {
        Err(ScheduleError(
            "a ramp needs a duration above zero to ramp over".to_owned(),
        ))
    } else {
        Ok(over)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// Calls of the first `n` whose start falls in `[a, b)` seconds.
    fn starts_within(s: &Schedule, n: u64, a: f64, b: f64) -> u64 {
        (0..n)
            .filter_map(|i| s.start_of(i))
            .filter(|t| (a..b).contains(&t.as_secs_f64()))
            .count() as u64
    }

    fn assert_monotonic(s: &Schedule, n: u64) {
        let mut last = Duration::ZERO;
        for i in 0..n {
            let t = s
                .start_of(i)
                .unwrap_or_else(|| panic!("call {i} has no start"));
            assert!(t >= last, "call {i} at {t:?} before {last:?}");
            last = t;
        }
    }

    #[test]
    fn constant_is_i_over_rate() {
        let s = Schedule::constant(250.0).unwrap();
        assert_eq!(s.start_of(0), Some(Duration::ZERO));
        assert_eq!(s.start_of(250), Some(secs(1.0)));
        assert_eq!(s.start_of(1), Some(secs(0.004)));
        assert_eq!(s.rate_at(secs(100.0)), 250.0);
        assert_eq!(s.calls_until(secs(2.0)), 500.0);
        assert_eq!(starts_within(&s, 2000, 1.0, 2.0), 250);
        assert_monotonic(&s, 2000);
        assert_eq!(s.describe(), "250/s");
    }

    #[test]
    fn linear_counts_follow_the_rate() {
        // 100/s to 300/s over 2 s: 400 calls, 150 in the first second, 250 in the second.
        let s = Schedule::linear(100.0, 300.0, secs(2.0)).unwrap();
        assert!((s.calls_until(secs(2.0)) - 400.0).abs() < 1e-9);
        assert!((s.rate_at(secs(1.0)) - 200.0).abs() < 1e-9);
        assert!((s.mean_rate(secs(0.0), secs(1.0)) - 150.0).abs() < 1e-9);
        assert!(starts_within(&s, 1000, 0.0, 1.0).abs_diff(150) <= 1);
        assert!(starts_within(&s, 1000, 1.0, 2.0).abs_diff(250) <= 1);
        // Then the end rate.
        assert!(starts_within(&s, 1000, 2.0, 3.0).abs_diff(300) <= 1);
        assert_monotonic(&s, 1000);
        for i in [0, 1, 57, 399, 400, 401] {
            let t = s.start_of(i).unwrap().as_secs_f64();
            assert!(
                (s.calls_until(secs(t)) - i as f64).abs() < 1e-6,
                "call {i} at {t}"
            );
        }
    }

    #[test]
    fn falling_linear_ramp() {
        let s = Schedule::linear(1000.0, 10.0, secs(1.0)).unwrap();
        assert!((s.calls_until(secs(1.0)) - 505.0).abs() < 1e-9);
        assert_monotonic(&s, 600);
        assert!(starts_within(&s, 600, 0.0, 0.5).abs_diff(377) <= 1);
        assert!(starts_within(&s, 600, 0.5, 1.0).abs_diff(128) <= 1);
    }

    #[test]
    fn steps_hold_each_rate_for_an_equal_share() {
        // 50, 125, 200 /s for 1/3 s each: 125 calls.
        let s = Schedule::steps(50.0, 200.0, 3, secs(1.0)).unwrap();
        assert!((s.calls_until(secs(1.0)) - 125.0).abs() < 1e-9);
        assert_eq!(s.rate_at(secs(0.1)), 50.0);
        assert_eq!(s.rate_at(secs(0.5)), 125.0);
        assert_eq!(s.rate_at(secs(0.9)), 200.0);
        assert_eq!(s.rate_at(secs(5.0)), 200.0);
        let third = 1.0 / 3.0;
        assert!(starts_within(&s, 500, 0.0, third).abs_diff(17) <= 1);
        assert!(starts_within(&s, 500, third, 2.0 * third).abs_diff(42) <= 1);
        assert!(starts_within(&s, 500, 2.0 * third, 1.0).abs_diff(67) <= 1);
        assert_monotonic(&s, 500);
        assert_eq!(s.describe(), "50..200/s in 3 steps");
    }

    #[test]
    fn warmup_runs_at_the_start_rate_then_the_schedule() {
        let s = Schedule::linear(100.0, 300.0, secs(2.0)).unwrap();
        let w = s.after_warmup(secs(0.5));
        assert_eq!(w.start_of(50), Some(secs(0.5)));
        assert_eq!(w.rate_at(secs(0.2)), 100.0);
        assert!((w.rate_at(secs(1.5)) - 200.0).abs() < 1e-9);
        assert!((w.calls_until(secs(2.5)) - 450.0).abs() < 1e-9);
        assert_monotonic(&w, 1000);
        assert_eq!(s.after_warmup(Duration::ZERO), s);
    }

    #[test]
    fn bad_rates_and_ramps_are_refused() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Schedule::constant(rate).is_err(), "{rate}");
            assert!(Schedule::linear(rate, 10.0, secs(1.0)).is_err(), "{rate}");
            assert!(Schedule::steps(10.0, rate, 3, secs(1.0)).is_err(), "{rate}");
        }
        assert!(Schedule::linear(1.0, 10.0, Duration::ZERO).is_err());
        assert!(Schedule::steps(1.0, 10.0, 1, secs(1.0)).is_err());
        let e = Schedule::constant(0.0).unwrap_err().to_string();
        assert!(e.contains("above 0"), "{e}");
    }

    #[test]
    fn tiny_rates_stay_finite() {
        let s = Schedule::linear(1e-9, 1e-6, secs(1.0)).unwrap();
        for i in 0..3 {
            // Far in the future, but a number (or None past Duration::MAX), never a panic.
            let _ = s.start_of(i);
        }
        assert_eq!(s.start_of(0), Some(Duration::ZERO));
        assert_eq!(Schedule::constant(1e-300).unwrap().start_of(5), None);
    }
}
