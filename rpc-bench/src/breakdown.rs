//! `--breakdown`: where each call's time went, by phase, as the client's
//! [`CallInfo`](rpc_core::CallInfo) reports it (the server's handler time comes from the
//! server, in the trailers).

use hdrhistogram::Histogram;
use rpc_core::CallInfo;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// The phases, in the order a call goes through them.
const PHASES: [&str; 7] = [
    "encode",
    "queue",
    "network",
    "  server handler",
    "  network only",
    "decode",
    "total",
];

/// Histograms of each phase's duration over the calls of a run, in microseconds.
#[derive(Debug)]
pub struct Breakdown {
    phases: Mutex<Vec<Histogram<u64>>>,
}

impl Default for Breakdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Breakdown {
    /// Empty histograms (1 µs to 100 s, 3 significant digits).
    pub fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid bounds");
        Breakdown {
            phases: Mutex::new(PHASES.iter().map(|_| histogram()).collect()),
        }
    }

    /// Adds one call's phases.
    pub fn record(&self, info: &CallInfo) {
        let t = &info.timings;
        let values = [
            Some(t.encode),
            Some(t.queue),
            Some(t.network),
            t.server,
            t.server.map(|_| t.network_only()),
            Some(t.decode),
            Some(t.total),
        ];
        let mut phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        for (histogram, value) in phases.iter_mut().zip(values) {
            if let Some(value) = value {
                histogram.saturating_record(micros(value));
            }
        }
    }

    /// The calls recorded.
    pub fn calls(&self) -> u64 {
        let phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        phases.last().map_or(0, Histogram::len)
    }

    /// A table of each phase's percentiles (µs).
    pub fn table(&self) -> String {
        let phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<18} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "phase (µs)", "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, h) in PHASES.iter().zip(phases.iter()) {
            if h.is_empty() {
                let _ = writeln!(out, "{name:<18} {:>9}", "-");
                continue;
            }
            let q = |p: f64| h.value_at_quantile(p);
            let _ = writeln!(
                out,
                "{name:<18} {:>9} {:>9} {:>9} {:>9} {:>9}",
                q(0.5),
                q(0.9),
                q(0.99),
                q(0.999),
                h.max()
            );
        }
        out
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}
