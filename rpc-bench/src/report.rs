//! Results: a table for people, JSON for machines, an SVG latency chart.

use crate::load::{Plan, Stats};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Percentiles shown in the table and the JSON.
const PERCENTILES: [(&str, f64); 5] = [
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
    /// `unary`, `server-stream`, ...
    pub call: &'static str,
    /// Payload bytes per message.
    pub payload: usize,
    /// Messages per streaming call.
    pub stream_messages: u32,
    /// Calls in flight.
    pub concurrency: usize,
    /// Connections.
    pub connections: usize,
    /// Open-loop rate, if any.
    pub rate: Option<f64>,
    /// What was measured.
    pub stats: Stats,
    /// Measured wall time.
    pub elapsed: Duration,
    /// CPU time of this process over the measured interval.
    pub cpu: Option<Duration>,
    /// CPU time of the server process (`--server-pid`) over the measured interval.
    pub server_cpu: Option<Duration>,
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
    ) -> Self {
        Report {
            label: plan.label.clone(),
            call: plan.kind.name(),
            payload: plan.payload,
            stream_messages: plan.stream_messages,
            concurrency: plan.concurrency,
            connections: plan.connections,
            rate: plan.rate,
            stats,
            elapsed,
            cpu,
            server_cpu,
        }
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
            "rate": self.rate,
            "ok": self.stats.ok,
            "errors": self.stats.errors,
            "error_count": self.error_count(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "calls_per_sec": self.calls_per_sec(),
            "mb_per_sec": self.mb_per_sec(),
            "payload_bytes_total": self.stats.bytes,
            "latency": latency,
            "cpu_s": self.cpu.map(|d| d.as_secs_f64()),
            "server_cpu_s": self.server_cpu.map(|d| d.as_secs_f64()),
            "cpu_per_call_us": self.cpu_per_call_us(),
            "cpu_per_mb_ms": self.cpu_per_mb_ms(),
        })
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
        "latency: successful calls, from start (or scheduled start with --rate) to the last \
         response; MB/s: payload bytes both ways (10^6 B); CPU: user+sys of {cpu_scope}"
    );
    out
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
    const W: f64 = 860.0;
    const H: f64 = 480.0;
    const L: f64 = 70.0;
    const R: f64 = 210.0;
    const T: f64 = 30.0;
    const B: f64 = 50.0;
    const COLORS: [&str; 8] = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    ];
    // x = log10(1 / (1 - p)): 0 at p0, 1 at p90, 2 at p99, 3 at p99.9, 4 at p99.99.
    let ticks = [
        (0.0, "0%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
        (5.0, "max"),
    ];
    let points: Vec<Vec<(f64, f64)>> = reports
        .iter()
        .map(|r| {
            let mut v = Vec::new();
            let mut x = 0.0;
            while x < 5.0 {
                let p = 100.0 * (1.0 - 10f64.powf(-x));
                v.push((x, r.latency_us(p)));
                x += 0.05;
            }
            v.push((5.0, r.latency_us(100.0)));
            v
        })
        .collect();
    let ymax = points.iter().flatten().map(|p| p.1).fold(1.0f64, f64::max) * 1.05;
    let px = |x: f64| L + x / 5.0 * (W - L - R);
    let py = |y: f64| H - B - y / ymax * (H - T - B);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="18" text-anchor="middle" font-size="14">Latency by percentile (µs)</text>"#,
        (W - R + L) / 2.0
    );
    for (x, name) in ticks {
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#ddd"/><text x="{0:.1}" y="{3}" text-anchor="middle">{name}</text>"##,
            px(x),
            T,
            H - B,
            H - B + 18.0
        );
    }
    for i in 0..=5 {
        let y = ymax * f64::from(i) / 5.0;
        let _ = writeln!(
            s,
            r##"<line x1="{L}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ddd"/><text x="{2}" y="{3:.1}" text-anchor="end">{y:.0}</text>"##,
            py(y),
            W - R,
            L - 6.0,
            py(y) + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile</text>"#,
        (W - R + L) / 2.0,
        H - 12.0
    );
    for (i, (r, pts)) in reports.iter().zip(&points).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        let ly = T + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
            W - R + 12.0,
            ly - 10.0,
            W - R + 30.0,
            ly,
            escape(&r.label)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
