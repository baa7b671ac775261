//! Results: a table for people, JSON for machines, an SVG latency chart (and the HTML
//! report of [`crate::html`]).

use crate::chart::{self, Plot};
use crate::driver::failure_reason;
use crate::load::{CallKind, Plan, Stats};
use crate::schedule::{Ramp, Schedule};
use crate::timeline::{Interval, Timeline};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Percentiles shown in the table, the JSON and the HTML report.
pub const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
    ("max", 100.0),
];

/// The result of one benchmark run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The run's name.
    pub label: String,
    /// `unary`, `server-stream`, ... (the name of `kind`).
    pub call: &'static str,
    /// The kind of call made.
    pub kind: CallKind,
    /// Payload bytes per message.
    pub payload: usize,
    /// Messages per streaming call.
    pub stream_messages: u32,
    /// Calls in flight.
    pub concurrency: usize,
    /// Connections.
    pub connections: usize,
    /// Open loop: the schedule calls started by.
    pub schedule: Option<Schedule>,
    /// How long the run was to measure (`None` for a number of calls).
    pub duration: Option<Duration>,
    /// What was measured.
    pub stats: Stats,
    /// What was measured, interval by interval.
    pub timeline: Timeline,
    /// Measured wall time.
    pub elapsed: Duration,
    /// CPU time of this process over the measured interval.
    pub cpu: Option<Duration>,
    /// CPU time of the server process (`--server-pid`) over the measured interval.
    pub server_cpu: Option<Duration>,
    /// What the connections did on the wire over the measured interval (`--stats`), when
    /// the transport keeps statistics.
    pub path: Option<crate::driver::PathStats>,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

impl Report {
    /// Builds a report from a run's measurements.
    pub fn new(
        plan: &Plan,
        stats: Stats,
        elapsed: Duration,
        cpu: Option<Duration>,
        server_cpu: Option<Duration>,
        timeline: Timeline,
    ) -> Self {
        Report {
            label: plan.label.clone(),
            call: plan.kind.name(),
            kind: plan.kind,
            payload: plan.payload,
            stream_messages: plan.stream_messages,
            concurrency: plan.concurrency,
            connections: plan.connections,
            schedule: plan.schedule.clone(),
            duration: plan.duration,
            stats,
            timeline,
            elapsed,
            cpu,
            server_cpu,
            path: None,
        }
    }

    /// The `--stats` lines: datagrams per call each way (the client's sent datagrams are
    /// the server's received ones), system calls per datagram (GSO/GRO), path MTU, RTT,
    /// congestion window, losses. `None` without statistics.
    pub fn path_lines(&self) -> Option<String> {
        let p = self.path.as_ref()?;
        let calls = (self.stats.ok + self.stats.errors.values().sum::<u64>()).max(1) as f64;
        let per = |n: u64| n as f64 / calls;
        let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
        Some(format!(
            "{}: {} connection(s); per call: client->server {:.3} datagrams ({:.3} packets, {:.0} B), \
             server->client {:.3} datagrams ({:.0} B); datagrams per syscall: send {:.2}, receive {:.2} \
             (>1: GSO/GRO); path MTU {} B, RTT {:.1} µs, cwnd {} B, lost packets {}\n",
            self.label,
            p.connections,
            per(p.sent_datagrams),
            per(p.sent_packets),
            per(p.sent_bytes),
            per(p.received_datagrams),
            per(p.received_bytes),
            ratio(p.sent_datagrams, p.sent_ios),
            ratio(p.received_datagrams, p.received_ios),
            p.path_mtu,
            p.rtt.as_secs_f64() * 1e6,
            p.cwnd,
            p.lost_packets,
        ))
    }

    /// Successful calls per second.
    pub fn calls_per_sec(&self) -> f64 {
        self.stats.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Payload megabytes (10^6 bytes, both directions) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.stats.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Failed calls.
    pub fn error_count(&self) -> u64 {
        self.stats.errors.values().sum()
    }

    /// Latency percentile in microseconds (`100.0` is the maximum).
    pub fn latency_us(&self, percentile: f64) -> f64 {
        let h = &self.stats.latency;
        if h.is_empty() {
            return 0.0;
        }
        if percentile >= 100.0 {
            us(h.max())
        } else {
            us(h.value_at_percentile(percentile))
        }
    }

    /// Total CPU time measured: this process plus the server process when known.
    pub fn total_cpu(&self) -> Option<Duration> {
        match (self.cpu, self.server_cpu) {
            (Some(a), Some(b)) => Some(a + b),
            (a, None) => a,
            (None, b) => b,
        }
    }

    /// CPU microseconds per successful call.
    pub fn cpu_per_call_us(&self) -> Option<f64> {
        let cpu = self.total_cpu()?;
        (self.stats.ok > 0).then(|| cpu.as_secs_f64() * 1e6 / self.stats.ok as f64)
    }

    /// CPU milliseconds per payload megabyte.
    pub fn cpu_per_mb_ms(&self) -> Option<f64> {
        let cpu = self.total_cpu()?;
        (self.stats.bytes > 0).then(|| cpu.as_secs_f64() * 1e3 / (self.stats.bytes as f64 / 1e6))
    }

    /// The constant open-loop rate, if calls started at one.
    pub fn rate(&self) -> Option<f64> {
        let s = self.schedule.as_ref()?;
        (s.ramp() == Ramp::Constant).then(|| s.start_rate())
    }

    /// The timeline's intervals with their times and scheduled rates.
    pub fn timeline_points(&self) -> Vec<TimelinePoint<'_>> {
        let width = self.timeline.width();
        self.timeline
            .intervals()
            .iter()
            .enumerate()
            .map(|(i, interval)| {
                let start = width * u32::try_from(i).unwrap_or(u32::MAX);
                // Mostly after: widths divide the duration, up to nanoseconds of rounding.
                let after_end = self.duration.is_some_and(|d| start + width / 2 >= d);
                TimelinePoint {
                    start,
                    width,
                    interval,
                    scheduled_rate: self.scheduled_rate(start, start + width, after_end),
                    after_end,
                }
            })
            .collect()
    }

    /// The mean scheduled rate over the part of `[a, b)` within the measured duration; none
    /// after it.
    fn scheduled_rate(&self, a: Duration, b: Duration, after_end: bool) -> Option<f64> {
        let schedule = self.schedule.as_ref().filter(|_| !after_end)?;
        let b = self.duration.map_or(b, |d| b.min(d));
        Some(schedule.mean_rate(a, b))
    }

    /// The timeline in machine-readable form: the interval width and, per interval, its
    /// start, successful calls, failures by label, latency percentiles (`null` without
    /// successful calls) and the scheduled rate (`null` without a schedule).
    pub fn timeline_json(&self) -> Value {
        let intervals: Vec<Value> = self
            .timeline_points()
            .iter()
            .map(|p| {
                let iv = p.interval;
                json!({
                    "t_s": p.start.as_secs_f64(),
                    "ok": iv.ok,
                    "errors": iv.errors,
                    "p50_us": iv.latency_us(50.0),
                    "p90_us": iv.latency_us(90.0),
                    "p99_us": iv.latency_us(99.0),
                    // Rounded: float noise (100.00000000000003) reads as a bug.
                    "scheduled_rps": p.scheduled_rate.map(|r| (r * 1e3).round() / 1e3),
                })
            })
            .collect();
        json!({
            "interval_s": self.timeline.width().as_secs_f64(),
            "intervals": intervals,
        })
    }

    /// Machine-readable form.
    pub fn to_json(&self) -> Value {
        let latency: serde_json::Map<String, Value> = PERCENTILES
            .iter()
            .map(|(name, p)| (format!("{name}_us"), json!(self.latency_us(*p))))
            .chain([(
                "mean_us".to_owned(),
                json!(us(self.stats.latency.mean() as u64)),
            )])
            .collect();
        json!({
            "label": self.label,
            "call": self.call,
            "payload_bytes": self.payload,
            "stream_messages": self.stream_messages,
            "concurrency": self.concurrency,
            "connections": self.connections,
            "rate": self.rate(),
            "schedule": self.schedule.as_ref().map(Schedule::to_json),
            "ok": self.stats.ok,
            "errors": self.stats.errors,
            "error_count": self.error_count(),
            "duration_s": self.duration.map(|d| d.as_secs_f64()),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "calls_per_sec": self.calls_per_sec(),
            "mb_per_sec": self.mb_per_sec(),
            "payload_bytes_total": self.stats.bytes,
            "latency": latency,
            "cpu_s": self.cpu.map(|d| d.as_secs_f64()),
            "server_cpu_s": self.server_cpu.map(|d| d.as_secs_f64()),
            "cpu_per_call_us": self.cpu_per_call_us(),
            "cpu_per_mb_ms": self.cpu_per_mb_ms(),
            "timeline": self.timeline_json(),
        })
    }
}

/// One interval of a report's timeline, placed in time.
#[derive(Debug, Clone, Copy)]
pub struct TimelinePoint<'a> {
    /// When it starts, from the start of measuring.
    pub start: Duration,
    /// How long it is.
    pub width: Duration,
    /// What ended in it.
    pub interval: &'a Interval,
    /// Open loop: the mean scheduled rate (calls per second) over the part of it within the
    /// measured duration.
    pub scheduled_rate: Option<f64>,
    /// Whether it starts after the measured duration: it then holds only calls that were in
    /// flight when the duration ended, so its calls per second are not a throughput.
    pub after_end: bool,
}

impl TimelinePoint<'_> {
    /// Successful calls per second.
    pub fn ok_per_sec(&self) -> f64 {
        self.interval.ok as f64 / self.width.as_secs_f64().max(1e-9)
    }

    /// Failed calls per second.
    pub fn errors_per_sec(&self) -> f64 {
        self.interval.error_count() as f64 / self.width.as_secs_f64().max(1e-9)
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// The table printed after a run. `cpu_scope` says whose CPU time the CPU columns count.
pub fn table(reports: &[Report], cpu_scope: &str) -> String {
    let mut rows = vec![[
        "scenario",
        "calls",
        "errors",
        "calls/s",
        "MB/s",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "CPU/call µs",
        "CPU/MB ms",
    ]
    .map(str::to_owned)];
    for r in reports {
        let lat = |p| format!("{:.1}", r.latency_us(p));
        rows.push([
            r.label.clone(),
            r.stats.ok.to_string(),
            r.error_count().to_string(),
            format!("{:.0}", r.calls_per_sec()),
            format!("{:.1}", r.mb_per_sec()),
            lat(50.0),
            lat(90.0),
            lat(99.0),
            lat(99.9),
            lat(100.0),
            opt(r.cpu_per_call_us(), 1),
            opt(r.cpu_per_mb_ms(), 2),
        ]);
    }
    let mut widths = [0usize; 12];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        for (j, (cell, w)) in row.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if j == 0 {
                let _ = write!(out, "{cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, "  {}{cell}", " ".repeat(pad));
            }
        }
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    let mut errors: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in reports {
        for (code, n) in &r.stats.errors {
            errors
                .entry(&r.label)
                .or_default()
                .push(format!("{code}: {n}"));
        }
    }
    for (label, list) in errors {
        let _ = writeln!(out, "errors in {label}: {}", list.join(", "));
    }
    let _ = writeln!(
        out,
        "latency: successful calls, from start (or scheduled start with --rps) to the last \
         response; MB/s: payload bytes both ways (10^6 B); CPU: user+sys of {cpu_scope}"
    );
    out
}

/// Why a run failed as a whole, in one line, when no call succeeded and some failed (the
/// table alone would show zeros): `target` is the server's address. `None` when any call
/// succeeded, or none was made.
///
/// The reason follows the failures' codes: all `Unimplemented` means the target does not
/// serve the echo methods; all `Unavailable` or connection failures, that it could not be
/// reached; else the most common code and its first message.
pub fn all_failed(reports: &[Report], target: &str) -> Option<String> {
    let ok: u64 = reports.iter().map(|r| r.stats.ok).sum();
    let failed: u64 = reports.iter().map(Report::error_count).sum();
    if ok > 0 || failed == 0 {
        return None;
    }
    // Failures by label over every scenario, with the first details of each label.
    let mut by_label: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
    for r in reports {
        for (label, n) in &r.stats.errors {
            let entry = by_label.entry(label).or_insert((0, ""));
            entry.0 += n;
            if entry.1.is_empty() {
                entry.1 = r.stats.first_errors.get(label).map_or("", String::as_str);
            }
        }
    }
    // The most common label; the first in order among equals.
    let (label, count, details) =
        by_label.iter().fold(
            ("", 0, ""),
            |best, (l, (n, d))| {
                if *n > best.1 {
                    (*l, *n, *d)
                } else {
                    best
                }
            },
        );
    let reason = failure_reason(label, details);
    if by_label.keys().all(|l| *l == "Unimplemented") {
        let mut methods: Vec<String> = Vec::new();
        for r in reports.iter().filter(|r| r.error_count() > 0) {
            let m = format!("echo.Echo/{}", r.kind.echo_method());
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        let said = if details.is_empty() {
            String::new()
        } else {
            format!(": {details}")
        };
        return Some(format!(
            "{target} does not serve {} (Unimplemented{said}): rpc-bench drives only the \
             echo.Echo service of proto/echo.proto, as `rpc-bench serve` runs it; see --help",
            methods.join(", ")
        ));
    }
    if by_label
        .keys()
        .all(|l| *l == "Unavailable" || l.starts_with("connect"))
    {
        return Some(format!("could not reach {target}: {reason}"));
    }
    let mut line = if reason == label {
        format!("every call failed: {label}")
    } else {
        format!("every call failed: {label} ({reason})")
    };
    let others = failed - count;
    if others > 0 {
        let _ = write!(line, "; {others} of the {failed} failures had other codes");
    }
    Some(line)
}

/// All reports as one JSON document.
pub fn json(reports: &[Report], cpu_scope: &str) -> Value {
    json!({
        "cpu_scope": cpu_scope,
        "results": reports.iter().map(Report::to_json).collect::<Vec<_>>(),
    })
}

/// A latency-by-percentile chart (HdrHistogram style: the x axis stretches the tail) of
/// every report, as a self-contained SVG document.
pub fn svg(reports: &[Report]) -> String {
    // x = log10(1 / (1 - p)): 0 at p0, 1 at p90, 2 at p99, 3 at p99.9, 4 at p99.99.
    let ticks = [
        (0.0, "0%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
        (5.0, "max"),
    ]
    .map(|(x, name)| (x, name.to_owned()));
    let points: Vec<Vec<Option<(f64, f64)>>> = reports
        .iter()
        .map(|r| {
            let mut v = Vec::new();
            let mut x = 0.0;
            while x < 5.0 {
                let p = 100.0 * (1.0 - 10f64.powf(-x));
                v.push(Some((x, r.latency_us(p))));
                x += 0.05;
            }
            v.push(Some((5.0, r.latency_us(100.0))));
            v
        })
        .collect();
    let ymax = points
        .iter()
        .flatten()
        .flatten()
        .map(|p| p.1)
        .fold(1.0f64, f64::max);
    let mut plot = Plot::new(
        (860.0, 480.0),
        [70.0, 210.0, 30.0, 50.0],
        (0.0, 5.0),
        (0.0, chart::nice_max(ymax, 5)),
        "Latency by percentile (µs)",
    );
    plot.x_ticks(&ticks);
    plot.y_grid(5);
    plot.x_label("percentile");
    for (i, (r, pts)) in reports.iter().zip(&points).enumerate() {
        let color = chart::COLORS[i % chart::COLORS.len()];
        plot.line(pts, color, false);
        plot.legend(i, color, &r.label, false);
    }
    plot.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::split_failure;

    fn report(kind: CallKind, ok: u64, failures: &[(&str, u64)]) -> Report {
        let plan = Plan {
            label: kind.name().to_owned(),
            kind,
            concurrency: 1,
            connections: 1,
            duration: None,
            requests: Some(10),
            warmup: Duration::ZERO,
            schedule: None,
            payload: 64,
            stream_messages: 1,
            max_time: Duration::from_secs(1),
            progress: false,
        };
        let mut stats = Stats::new();
        stats.ok = ok;
        for (failure, n) in failures {
            let (label, details) = split_failure(failure);
            stats.errors.insert(label.to_owned(), *n);
            if !details.is_empty() {
                stats
                    .first_errors
                    .insert(label.to_owned(), details.to_owned());
            }
        }
        Report::new(
            &plan,
            stats,
            Duration::from_secs(1),
            None,
            None,
            Timeline::new(Duration::from_millis(100)),
        )
    }

    #[test]
    fn timeline_points_carry_the_scheduled_rate_until_the_end() {
        let mut r = report(CallKind::Unary, 0, &[]);
        r.duration = Some(Duration::from_millis(300));
        r.schedule = Some(Schedule::steps(10.0, 30.0, 3, Duration::from_millis(300)).unwrap());
        let part = Interval {
            ok: 1,
            ..Interval::default()
        };
        for i in 0..4 {
            r.timeline.add(i, &part);
        }
        let points = r.timeline_points();
        let rates: Vec<Option<f64>> = points.iter().map(|p| p.scheduled_rate).collect();
        let near = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(near(rates[0], 10.0) && near(rates[1], 20.0) && near(rates[2], 30.0));
        assert_eq!(rates[3], None);
        assert!(!points[2].after_end && points[3].after_end);
        assert_eq!(points[3].start, Duration::from_millis(300));
        assert!((points[0].ok_per_sec() - 10.0).abs() < 1e-9);
        let json = r.timeline_json();
        assert_eq!(json["interval_s"], 0.1);
        assert_eq!(json["intervals"][1]["scheduled_rps"], 20.0);
        assert_eq!(json["intervals"][3]["scheduled_rps"], Value::Null);
        assert_eq!(r.rate(), None);
    }

    #[test]
    fn all_failed_only_when_no_call_succeeded() {
        let t = "10.0.0.1:4433";
        assert_eq!(all_failed(&[], t), None);
        assert_eq!(all_failed(&[report(CallKind::Unary, 0, &[])], t), None);
        // Some calls succeeded: the errors are reported, the run is not a failure.
        let some = [
            report(CallKind::Unary, 5, &[("Unavailable\nconnection lost", 5)]),
            report(CallKind::Bidi, 0, &[("Unimplemented\nunknown method", 3)]),
        ];
        assert_eq!(all_failed(&some, t), None);
    }

    #[test]
    fn all_failed_says_why_from_the_codes() {
        let t = "10.0.0.1:4433";
        let unimplemented = [
            report(
                CallKind::Connect,
                0,
                &[("Unimplemented\nunknown service", 2)],
            ),
            report(CallKind::Bidi, 0, &[("Unimplemented", 2)]),
            report(CallKind::Unary, 0, &[("Unimplemented", 2)]),
        ];
        let line = all_failed(&unimplemented, t).unwrap();
        assert!(
            line.starts_with(
                "10.0.0.1:4433 does not serve echo.Echo/Unary, echo.Echo/Bidi \
                 (Unimplemented: unknown service): rpc-bench drives only"
            ),
            "{line}"
        );

        let unreachable = [report(
            CallKind::Unary,
            0,
            &[("Unavailable\nconnection lost: timed out", 4)],
        )];
        assert_eq!(
            all_failed(&unreachable, t).unwrap(),
            "could not reach 10.0.0.1:4433: connection lost: timed out"
        );
        let connect = [report(
            CallKind::Connect,
            0,
            &[("connect: no handshake", 2), ("Unavailable", 1)],
        )];
        assert_eq!(
            all_failed(&connect, t).unwrap(),
            "could not reach 10.0.0.1:4433: no handshake"
        );

        let mixed = [
            report(CallKind::Unary, 0, &[("DeadlineExceeded\ntoo slow", 7)]),
            report(
                CallKind::Unary,
                0,
                &[("Internal\nboom", 2), ("Unimplemented", 1)],
            ),
        ];
        assert_eq!(
            all_failed(&mixed, t).unwrap(),
            "every call failed: DeadlineExceeded (too slow); 3 of the 10 failures had other codes"
        );
        let bare = [report(CallKind::Unary, 0, &[("Internal", 3)])];
        assert_eq!(all_failed(&bare, t).unwrap(), "every call failed: Internal");
    }
}
