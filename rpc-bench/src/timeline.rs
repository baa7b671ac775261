//! Measurements per time interval of a run: successful calls, failures by label and the
//! latency percentiles of the calls that ended in each interval.
//!
//! Memory stays bounded whatever the run's length and concurrency: each worker keeps one
//! [`Interval`] (the one its calls are ending in) and adds it to the shared [`Timeline`] when
//! its calls move on to the next interval, so the per-call path takes no lock. The timeline
//! keeps at most [`MAX_INTERVALS`]; past that it merges neighbours and doubles its width.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Most intervals a timeline keeps.
pub const MAX_INTERVALS: usize = 128;

/// Narrowest interval: finer is noise at the rates a loopback run reaches.
const MIN_WIDTH: Duration = Duration::from_millis(100);

/// Most intervals over a planned duration.
const TARGET_INTERVALS: u128 = 60;

/// The interval width for a run planned to measure for `planned` (`None`: unknown, as with
/// a closed-loop `-n`): up to 60 intervals of at least 100 ms (one for shorter runs), a
/// whole number of them in `planned` so that none straddles its end, where the calls in
/// flight trickle in.
///
/// `RPC_BENCH_TIMELINE_MS` overrides it: instruction counts under callgrind set it high, so
/// the timeline's upkeep does not grow with the slowed-down wall time (benches/README.md).
pub fn interval_for(planned: Option<Duration>) -> Duration {
    let forced = std::env::var("RPC_BENCH_TIMELINE_MS").ok();
    if let Some(ms) = forced.and_then(|v| v.parse().ok()) {
        return Duration::from_millis(ms);
    }
    let Some(planned) = planned else {
        return MIN_WIDTH;
    };
    let n = (planned.as_nanos() / MIN_WIDTH.as_nanos()).clamp(1, TARGET_INTERVALS);
    planned / u32::try_from(n).unwrap_or(1)
}

/// What one interval saw.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Latency of its successful calls, in nanoseconds (2 significant digits: percentiles
    /// within 1%, at a twelfth of the whole run's histogram's size).
    pub latency: Histogram<u32>,
    /// Successful calls.
    pub ok: u64,
    /// Failed calls by label (status code name, or another short label).
    pub errors: BTreeMap<String, u64>,
}

impl Default for Interval {
    fn default() -> Self {
        Interval {
            latency: Histogram::new_with_bounds(1, 120_000_000_000, 2)
                .expect("valid histogram bounds"),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }
}

impl Interval {
    /// Whether nothing ended in it.
    pub fn is_empty(&self) -> bool {
        self.ok == 0 && self.errors.is_empty()
    }

    /// Failed calls.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Latency percentile in microseconds; `None` without successful calls.
    pub fn latency_us(&self, percentile: f64) -> Option<f64> {
        (!self.latency.is_empty())
            .then(|| self.latency.value_at_percentile(percentile) as f64 / 1000.0)
    }

    fn add(&mut self, other: &Interval) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        for (label, n) in &other.errors {
            *self.errors.entry(label.clone()).or_default() += n;
        }
    }

    fn clear(&mut self) {
        self.latency.reset();
        self.ok = 0;
        self.errors.clear();
    }
}

/// A run's intervals, from the start of measuring.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// The width workers index by.
    base: Duration,
    /// Each kept interval covers `2^shift` base intervals.
    shift: u32,
    intervals: Vec<Interval>,
}

impl Timeline {
    /// An empty timeline of intervals `width` wide (at least 1 ms).
    pub fn new(width: Duration) -> Self {
        Timeline {
            base: width.max(Duration::from_millis(1)),
            shift: 0,
            intervals: Vec::new(),
        }
    }

    /// The width of each interval.
    pub fn width(&self) -> Duration {
        self.base * (1u32 << self.shift)
    }

    /// The intervals in order; the last one holds the last call that ended.
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    /// Adds what ended in base interval `index` (a [`Recorder`]'s flush, under the lock of
    /// the shared timeline).
    pub fn add(&mut self, index: u64, part: &Interval) {
        while index >> self.shift >= MAX_INTERVALS as u64 {
            self.coarsen();
        }
        let slot = (index >> self.shift) as usize;
        if self.intervals.len() <= slot {
            self.intervals.resize_with(slot + 1, Interval::default);
        }
        self.intervals[slot].add(part);
    }

    /// Merges neighbouring intervals: half as many, twice as wide.
    fn coarsen(&mut self) {
        let mut merged = Vec::with_capacity(self.intervals.len().div_ceil(2));
        let mut it = std::mem::take(&mut self.intervals).into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.add(&b);
            }
            merged.push(a);
        }
        self.intervals = merged;
        self.shift += 1;
    }
}

/// A worker's side of the timeline: the interval its calls are ending in.
#[derive(Debug)]
pub struct Recorder {
    base: Duration,
    index: u64,
    /// Where interval `index` starts and ends: the common case, a call ending in the same
    /// interval as the previous one, is two comparisons (no division).
    span: (Duration, Duration),
    current: Interval,
}

impl Recorder {
    /// A recorder for `timeline`'s intervals.
    pub fn new(timeline: &Timeline) -> Self {
        Recorder {
            base: timeline.base,
            index: 0,
            span: (Duration::ZERO, timeline.base),
            current: Interval::default(),
        }
    }

    /// The interval of a call that ended `since` after measuring started, after handing the
    /// previous one to `flush` when the call is in a new interval.
    pub fn at(&mut self, since: Duration, flush: impl FnOnce(u64, &Interval)) -> &mut Interval {
        if since < self.span.0 || since >= self.span.1 {
            self.flush(flush);
            let base = self.base.as_nanos();
            self.index = u64::try_from(since.as_nanos() / base).unwrap_or(u64::MAX);
            let start = self
                .base
                .saturating_mul(u32::try_from(self.index).unwrap_or(u32::MAX));
            self.span = (start, start.saturating_add(self.base));
        }
        &mut self.current
    }

    /// Hands the current interval to `flush` (when anything ended in it) and starts afresh.
    pub fn flush(&mut self, flush: impl FnOnce(u64, &Interval)) {
        if !self.current.is_empty() {
            flush(self.index, &self.current);
            self.current.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn width_follows_the_planned_duration() {
        assert_eq!(interval_for(None), ms(100));
        assert_eq!(interval_for(Some(ms(1000))), ms(100));
        assert_eq!(interval_for(Some(Duration::from_secs(60))), ms(1000));
        assert_eq!(interval_for(Some(ms(50))), ms(50));
        let w = interval_for(Some(Duration::from_secs(10)));
        assert_eq!(w.as_nanos(), 166_666_666);
        assert_eq!(
            interval_for(Some(ms(1234))),
            Duration::from_nanos(102_833_333)
        );
    }

    /// Records one call per (end ms, latency µs or failure label) through two recorders.
    fn record(timeline: &mut Timeline, calls: &[(u64, Result<u64, &str>)]) {
        let mut recorders = [Recorder::new(timeline), Recorder::new(timeline)];
        for (n, (end, outcome)) in calls.iter().enumerate() {
            let rec = &mut recorders[n % 2];
            let interval = rec.at(ms(*end), |i, part| timeline.add(i, part));
            match outcome {
                Ok(us) => {
                    interval.latency.saturating_record(us * 1000);
                    interval.ok += 1;
                }
                Err(label) => *interval.errors.entry((*label).to_owned()).or_default() += 1,
            }
        }
        for rec in &mut recorders {
            rec.flush(|i, part| timeline.add(i, part));
        }
    }

    #[test]
    fn calls_land_in_the_interval_they_ended_in() {
        let mut t = Timeline::new(ms(100));
        record(
            &mut t,
            &[
                (0, Ok(10)),
                (50, Ok(30)),
                (99, Err("Unavailable")),
                (150, Ok(20)),
                (120, Ok(40)),
                (420, Err("Internal")),
                (430, Err("Internal")),
            ],
        );
        assert_eq!(t.width(), ms(100));
        let iv = t.intervals();
        assert_eq!(iv.len(), 5);
        assert_eq!((iv[0].ok, iv[0].error_count()), (2, 1));
        assert_eq!(iv[0].errors["Unavailable"], 1);
        assert_eq!(iv[1].ok, 2);
        assert!(iv[2].is_empty() && iv[3].is_empty());
        assert_eq!(iv[2].latency_us(50.0), None);
        assert_eq!(iv[4].errors["Internal"], 2);
        assert_eq!(iv[4].ok, 0);
        let p99 = iv[1].latency_us(99.0).unwrap();
        assert!((39.5..=40.5).contains(&p99), "{p99}");
        let p50 = iv[0].latency_us(50.0).unwrap();
        assert!((9.9..=10.1).contains(&p50), "{p50}");
    }

    #[test]
    fn long_runs_merge_neighbours_and_stay_bounded() {
        let mut t = Timeline::new(ms(100));
        // 30 s of one call per 100 ms: 300 base intervals.
        let calls: Vec<(u64, Result<u64, &str>)> = (0..300).map(|i| (i * 100, Ok(5))).collect();
        record(&mut t, &calls);
        assert!(t.intervals().len() <= MAX_INTERVALS);
        assert_eq!(t.width(), ms(400));
        assert_eq!(t.intervals().len(), 75);
        assert!(t.intervals().iter().all(|i| i.ok == 4));
        let total: u64 = t.intervals().iter().map(|i| i.ok).sum();
        assert_eq!(total, 300);
    }
}
