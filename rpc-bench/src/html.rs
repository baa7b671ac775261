//! The HTML report (`--html`): one self-contained file, inline CSS and SVG only (no script,
//! font or stylesheet to fetch: it opens offline). Per scenario: a summary with the latency
//! percentiles, a latency histogram, percentiles and throughput over time, and the status
//! codes with their counts and first messages.
//!
//! The markup is also well-formed XML (every element closed, every attribute quoted), so
//! tools without an HTML parser can read it.

use crate::chart::{self, escape, Plot};
use crate::report::{Report, TimelinePoint, PERCENTILES};
use hdrhistogram::Histogram;
use std::fmt::Write as _;

/// Latency histogram buckets per decade (log-spaced).
const BUCKETS_PER_DECADE: f64 = 5.0;

/// Chart size and margins (left, right for the legend, top, bottom).
const SIZE: (f64, f64) = (860.0, 300.0);
const MARGINS: [f64; 4] = [70.0, 150.0, 30.0, 50.0];

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 900px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #1f77b4; padding-bottom: .2em; }
h3 { font-size: 1.05em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
svg { max-width: 100%; height: auto; }
.note { color: #666; font-size: .9em; }
";

/// The whole report: `title` (the tool's name), every scenario's section, and a note on
/// whose CPU time the CPU figures count (`cpu_scope`).
pub fn page(title: &str, reports: &[Report], cpu_scope: &str) -> String {
    let mut out = String::new();
    let title = escape(title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{title} report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>{title} report</h1>\n"
    );
    if reports.len() > 1 {
        out.push_str("<nav><ul>\n");
        for (i, r) in reports.iter().enumerate() {
            let _ = writeln!(out, "<li><a href=\"#s{i}\">{}</a></li>", escape(&r.label));
        }
        out.push_str("</ul></nav>\n");
    }
    for (i, r) in reports.iter().enumerate() {
        scenario(&mut out, i, r);
    }
    let _ = write!(
        out,
        "<p class=\"note\">Latency: successful calls, from their start (or scheduled start, \
         open loop) to the last response. Timelines: calls by the interval they ended in. \
         CPU: user+sys of {}.</p>\n</body>\n</html>\n",
        escape(cpu_scope)
    );
    out
}

/// Section `i`: one scenario.
fn scenario(out: &mut String, i: usize, r: &Report) {
    let _ = writeln!(
        out,
        "<section id=\"s{i}\">\n<h2>{}</h2>\n<h3>Summary</h3>",
        escape(&r.label)
    );
    summary(out, i, r);
    out.push_str("<h3>Latency histogram</h3>\n");
    out.push_str(&latency_histogram(r));
    // The charts over time stop at the measured duration: after it, only the calls in
    // flight when it ended trickle in, which would read as a collapse of throughput.
    let points: Vec<TimelinePoint<'_>> = r
        .timeline_points()
        .into_iter()
        .filter(|p| !p.after_end)
        .collect();
    out.push_str("<h3>Percentiles over time</h3>\n");
    out.push_str(&percentiles_over_time(r, &points));
    out.push_str("<h3>Throughput over time</h3>\n");
    out.push_str(&throughput_over_time(&points));
    tail_note(out, r);
    out.push_str("<h3>Status codes</h3>\n");
    status_counts(out, r);
    out.push_str("</section>\n");
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// The run's figures, then its latency percentiles; cells carry ids (`s0-ok`...) for tools.
fn summary(out: &mut String, i: usize, r: &Report) {
    let load = match &r.schedule {
        Some(s) => format!("open loop, {}", s.describe()),
        None => "closed loop".to_owned(),
    };
    let rows = [
        ("call", "call", r.call.to_owned()),
        ("payload", "payload (bytes)", r.payload.to_string()),
        ("concurrency", "concurrency", r.concurrency.to_string()),
        ("connections", "connections", r.connections.to_string()),
        ("load", "load", load),
        (
            "elapsed",
            "measured (s)",
            format!("{:.3}", r.elapsed.as_secs_f64()),
        ),
        ("calls", "calls", (r.stats.ok + r.error_count()).to_string()),
        ("ok", "ok", r.stats.ok.to_string()),
        ("errors", "errors", r.error_count().to_string()),
        (
            "rps",
            "throughput (ok calls/s)",
            format!("{:.0}", r.calls_per_sec()),
        ),
        ("mbps", "payload MB/s", format!("{:.1}", r.mb_per_sec())),
        ("cpu", "CPU per call (µs)", opt(r.cpu_per_call_us(), 1)),
    ];
    out.push_str("<table>\n");
    for (id, name, value) in rows {
        let _ = writeln!(
            out,
            "<tr><th class=\"text\">{name}</th><td id=\"s{i}-{id}\">{}</td></tr>",
            escape(&value)
        );
    }
    out.push_str("</table>\n<table>\n<tr>");
    for (name, _) in PERCENTILES {
        let _ = write!(out, "<th>{name} µs</th>");
    }
    out.push_str("<th>mean µs</th></tr>\n<tr>");
    for (name, p) in PERCENTILES {
        let _ = write!(out, "<td id=\"s{i}-{name}\">{:.1}</td>", r.latency_us(p));
    }
    let mean = if r.stats.latency.is_empty() {
        0.0
    } else {
        r.stats.latency.mean() / 1000.0
    };
    let _ = writeln!(out, "<td id=\"s{i}-mean\">{mean:.1}</td></tr>\n</table>");
}

/// Latency bucket `k` spans `[10^(k/5), 10^((k+1)/5))` µs: the count of successful calls per
/// bucket, from the lowest bucket holding a call to the highest, as (from µs, to µs, calls).
pub fn latency_buckets(h: &Histogram<u64>) -> Vec<(f64, f64, u64)> {
    let bucket =
        |ns: u64| ((ns.max(1) as f64 / 1000.0).log10() * BUCKETS_PER_DECADE).floor() as i32;
    let mut counts: Vec<(i32, u64)> = Vec::new();
    for v in h.iter_recorded() {
        let k = bucket(h.median_equivalent(v.value_iterated_to()));
        match counts.last_mut() {
            Some((last, n)) if *last == k => *n += v.count_at_value(),
            _ => counts.push((k, v.count_at_value())),
        }
    }
    let (Some(first), Some(last)) = (counts.first(), counts.last()) else {
        return Vec::new();
    };
    let edge = |k: i32| 10f64.powf(f64::from(k) / BUCKETS_PER_DECADE);
    (first.0..=last.0)
        .map(|k| {
            let n = counts.iter().filter(|(b, _)| *b == k).map(|(_, n)| n).sum();
            (edge(k), edge(k + 1), n)
        })
        .collect()
}

/// A latency in words: `250 µs`, `1.5 ms`, `2 s`.
fn duration_label(us: f64) -> String {
    if us >= 1e6 {
        format!("{} s", chart::tick_label(us / 1e6))
    } else if us >= 1e3 {
        format!("{} ms", chart::tick_label(us / 1e3))
    } else {
        format!("{} µs", chart::tick_label(us))
    }
}

/// Bars of calls over log-spaced latency buckets.
fn latency_histogram(r: &Report) -> String {
    let buckets = latency_buckets(&r.stats.latency);
    if buckets.is_empty() {
        return "<p class=\"note\">No successful calls.</p>\n".to_owned();
    }
    let (lo, hi) = (buckets[0].0.log10(), buckets[buckets.len() - 1].1.log10());
    let top = buckets.iter().map(|b| b.2).max().unwrap_or(1) as f64;
    let mut plot = Plot::new(
        SIZE,
        MARGINS,
        (lo, hi),
        (0.0, chart::nice_max(top, 4)),
        "Successful calls by latency",
    );
    // 1, 2 and 5 times each power of ten within the range.
    let ticks: Vec<(f64, String)> = (lo.floor() as i32..=hi.ceil() as i32)
        .flat_map(|d| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(d)))
        .filter(|us| (lo - 1e-9..=hi + 1e-9).contains(&us.log10()))
        .map(|us| (us.log10(), duration_label(us)))
        .collect();
    plot.x_ticks(&ticks);
    plot.y_grid(4);
    plot.x_label("latency (log scale)");
    for (from, to, n) in &buckets {
        let tip = format!(
            "{} to {}: {n} calls",
            duration_label(*from),
            duration_label(*to)
        );
        plot.bar(
            (from.log10(), to.log10()),
            *n as f64,
            chart::COLORS[0],
            &tip,
        );
    }
    plot.finish()
}

/// The middle of an interval, in seconds from the start of measuring.
fn middle(p: &TimelinePoint<'_>) -> f64 {
    (p.start + p.width / 2).as_secs_f64()
}

/// The x range of the timeline charts: the whole timeline.
fn time_range(points: &[TimelinePoint<'_>]) -> (f64, f64) {
    let end = points
        .last()
        .map_or(1.0, |p| (p.start + p.width).as_secs_f64());
    (0.0, end.max(1e-3))
}

/// A line of a chart over time.
struct Series {
    name: &'static str,
    color: &'static str,
    dashed: bool,
    /// (seconds, value) per interval; `None` breaks the line.
    points: Vec<Option<(f64, f64)>>,
}

impl Series {
    fn new(name: &'static str, color: &'static str, points: Vec<Option<(f64, f64)>>) -> Self {
        Series {
            name,
            color,
            dashed: false,
            points,
        }
    }
}

/// Lines over the timeline's intervals, from 0 up.
fn time_chart(
    title: &str,
    x_label: &str,
    points: &[TimelinePoint<'_>],
    series: &[Series],
) -> String {
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().flatten().map(|(_, y)| *y))
        .fold(1.0, f64::max);
    let mut plot = Plot::new(
        SIZE,
        MARGINS,
        time_range(points),
        (0.0, chart::nice_max(top, 4)),
        title,
    );
    plot.x_grid(8);
    plot.y_grid(4);
    plot.x_label(x_label);
    for (i, s) in series.iter().enumerate() {
        plot.line(&s.points, s.color, s.dashed);
        plot.legend(i, s.color, s.name, s.dashed);
    }
    plot.finish()
}

/// Says how many calls the charts over time leave out (see [`TimelinePoint::after_end`]).
fn tail_note(out: &mut String, r: &Report) {
    let (mut calls, mut failed) = (0, 0);
    for p in r.timeline_points().iter().filter(|p| p.after_end) {
        calls += p.interval.ok + p.interval.error_count();
        failed += p.interval.error_count();
    }
    if calls > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">Not in these charts: {calls} calls ({failed} failed) that ended \
             after the measured {:.3} s, in flight when it ended (they count in the totals).</p>",
            r.duration.unwrap_or_default().as_secs_f64()
        );
    }
}

/// p50, p90 and p99 per interval, over time.
fn percentiles_over_time(r: &Report, points: &[TimelinePoint<'_>]) -> String {
    if points.iter().all(|p| p.interval.ok == 0) {
        return "<p class=\"note\">No successful calls.</p>\n".to_owned();
    }
    let series: Vec<Series> = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)]
        .into_iter()
        .enumerate()
        .map(|(i, (name, pct))| {
            let line = points
                .iter()
                .map(|p| p.interval.latency_us(pct).map(|us| (middle(p), us)))
                .collect();
            Series::new(name, chart::COLORS[i], line)
        })
        .collect();
    let x_label = format!(
        "time (s), intervals of {:.0} ms",
        r.timeline.width().as_secs_f64() * 1e3
    );
    time_chart(
        "Latency percentiles per interval (µs)",
        &x_label,
        points,
        &series,
    )
}

/// Successful and failed calls per second per interval, and the scheduled rate.
fn throughput_over_time(points: &[TimelinePoint<'_>]) -> String {
    if points.is_empty() {
        return "<p class=\"note\">No calls.</p>\n".to_owned();
    }
    let per_sec = |f: fn(&TimelinePoint<'_>) -> f64| -> Vec<Option<(f64, f64)>> {
        points.iter().map(|p| Some((middle(p), f(p)))).collect()
    };
    let mut series = vec![Series::new(
        "ok",
        chart::COLORS[2],
        per_sec(|p| p.ok_per_sec()),
    )];
    if points.iter().any(|p| p.interval.error_count() > 0) {
        series.push(Series::new(
            "failed",
            chart::COLORS[1],
            per_sec(|p| p.errors_per_sec()),
        ));
    }
    if points.iter().any(|p| p.scheduled_rate.is_some()) {
        let line = points
            .iter()
            .map(|p| p.scheduled_rate.map(|rate| (middle(p), rate)))
            .collect();
        series.push(Series {
            dashed: true,
            ..Series::new("scheduled", "#555", line)
        });
    }
    time_chart(
        "Calls per second per interval",
        "time (s), by the interval calls ended in",
        points,
        &series,
    )
}

/// OK and every failure label with its count and first message, most common first.
fn status_counts(out: &mut String, r: &Report) {
    let mut rows: Vec<(&str, u64, &str)> = r
        .stats
        .errors
        .iter()
        .map(|(label, n)| {
            let first = r.stats.first_errors.get(label).map_or("", String::as_str);
            (label.as_str(), *n, first)
        })
        .collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    rows.insert(0, ("OK", r.stats.ok, ""));
    out.push_str(
        "<table>\n<tr><th class=\"text\">code</th><th>calls</th>\
         <th class=\"text\">first message</th></tr>\n",
    );
    for (code, n, message) in rows {
        let _ = writeln!(
            out,
            "<tr><td class=\"text\">{}</td><td>{n}</td><td class=\"text\">{}</td></tr>",
            escape(code),
            escape(message)
        );
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_log_spaced_and_count_every_call() {
        let mut h = Histogram::<u64>::new_with_bounds(1_000, 120_000_000_000, 3).unwrap();
        // Away from bucket edges: the histogram's resolution is 512 ns below 1 ms.
        for us in [12, 13, 14, 50, 1100] {
            h.record(us * 1000).unwrap();
        }
        let b = latency_buckets(&h);
        assert_eq!(b.iter().map(|b| b.2).sum::<u64>(), 5);
        // 10 µs .. 1.58 ms at 5 per decade: 11 buckets, empty ones included.
        assert_eq!(b.len(), 11, "{b:?}");
        assert!((b[0].0 - 10.0).abs() < 1e-9 && b[0].2 == 3);
        assert!(b.windows(2).all(|w| (w[0].1 - w[1].0).abs() < 1e-9));
        assert_eq!(b[10].2, 1);
        assert!(latency_buckets(&Histogram::new(2).unwrap()).is_empty());
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(duration_label(1.0), "1 µs");
        assert_eq!(duration_label(1000.0), "1 ms");
        assert_eq!(duration_label(2.5e6), "2.5 s");
    }
}
