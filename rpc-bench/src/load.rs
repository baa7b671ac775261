//! The load loop: workers take tickets (closed loop, or paced by a [`Schedule`]), perform
//! one call each through a [`Driver`], and record latency in an HDR histogram and in a
//! [`Timeline`] of intervals.

use crate::cpu::process_cpu;
use crate::driver::{failure_reason, split_failure, Driver, Failure, PathStats};
use crate::report::Report;
use crate::schedule::Schedule;
use crate::timeline::{self, Recorder, Timeline};
use bytes::Bytes;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The kind of call a benchmark makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CallKind {
    /// One request, one response (echo of the payload).
    Unary,
    /// One request, `--stream-messages` responses of `--payload` bytes.
    ServerStream,
    /// `--stream-messages` requests of `--payload` bytes, one response.
    ClientStream,
    /// Ping-pong of `--payload` bytes on one open bidirectional call per worker.
    Bidi,
    /// A new connection (QUIC or TCP + TLS handshake) and one unary call on it.
    Connect,
}

impl CallKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Unary => "unary",
            CallKind::ServerStream => "server-stream",
            CallKind::ClientStream => "client-stream",
            CallKind::Bidi => "bidi",
            CallKind::Connect => "connect",
        }
    }

    /// The method of `echo.Echo` (`proto/echo.proto`) this kind of call drives.
    pub fn echo_method(self) -> &'static str {
        match self {
            CallKind::Unary | CallKind::Connect => "Unary",
            CallKind::ServerStream => "ServerStream",
            CallKind::ClientStream => "ClientStream",
            CallKind::Bidi => "Bidi",
        }
    }
}

/// Why a benchmark stopped before reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError {
    /// A scenario's connections could not be made (the driver's failure).
    Connect(Failure),
    /// Anything else (the runtime, the driver's setup, a worker).
    Other(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Connect(failure) => {
                let (label, details) = split_failure(failure);
                write!(f, "could not connect: {}", failure_reason(label, details))
            }
            RunError::Other(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for RunError {}

/// One benchmark run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// A name for the report.
    pub label: String,
    /// What each call does.
    pub kind: CallKind,
    /// Calls in flight (workers).
    pub concurrency: usize,
    /// Connections the workers are spread over.
    pub connections: usize,
    /// How long to measure (after the warm-up); `None` with `requests` set.
    pub duration: Option<Duration>,
    /// How many calls to measure (after the warm-up).
    pub requests: Option<u64>,
    /// Time spent calling before measuring starts.
    pub warmup: Duration,
    /// Open loop: when calls start (latency counts from the scheduled start). The warm-up
    /// runs at the schedule's start rate; the schedule's time starts when measuring does.
    pub schedule: Option<Schedule>,
    /// Payload bytes per message.
    pub payload: usize,
    /// Messages per streaming call.
    pub stream_messages: u32,
    /// Hard limit on the whole run, whatever else is asked.
    pub max_time: Duration,
    /// Show a progress bar.
    pub progress: bool,
}

/// A call outcome per ticket.
struct Ticket {
    /// When the call should start (its latency counts from here).
    start: Instant,
    /// Whether it counts (issued after the warm-up).
    measured: bool,
}

struct Shared {
    begin: Instant,
    measure_from: Instant,
    stop_at: Option<Instant>,
    hard_stop: Instant,
    requests: Option<u64>,
    /// The plan's schedule from the start of the warm-up.
    pacing: Option<Schedule>,
    issued: AtomicU64,
    issued_measured: AtomicU64,
    completed: AtomicU64,
    timeline: Mutex<Timeline>,
}

impl Shared {
    /// Adds a worker's interval to the shared timeline.
    fn add_interval(&self, index: u64, part: &timeline::Interval) {
        self.timeline
            .lock()
            .expect("timeline lock")
            .add(index, part);
    }

    async fn take(&self) -> Option<Ticket> {
        let start = match &self.pacing {
            Some(schedule) => {
                let i = self.issued.fetch_add(1, Ordering::Relaxed);
                let at = self.begin + schedule.start_of(i)?;
                if at >= self.hard_stop || self.stop_at.is_some_and(|s| at >= s) {
                    return None;
                }
                tokio::time::sleep_until(at).await;
                at
            }
            None => Instant::now(),
        };
        if start >= self.hard_stop || self.stop_at.is_some_and(|s| start >= s) {
            return None;
        }
        let measured = start >= self.measure_from;
        if measured {
            if let Some(n) = self.requests {
                if self.issued_measured.fetch_add(1, Ordering::Relaxed) >= n {
                    return None;
                }
            }
        }
        Some(Ticket { start, measured })
    }
}

/// What the workers measured.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of successful calls, in nanoseconds.
    pub latency: Histogram<u64>,
    /// Successful calls.
    pub ok: u64,
    /// Failed calls by status code (or failure label).
    pub errors: BTreeMap<String, u64>,
    /// The details of the first failure of each label (the status message), when it had any.
    pub first_errors: BTreeMap<String, String>,
    /// Payload bytes sent and received by successful calls.
    pub bytes: u64,
    /// When the last measured call ended.
    pub last: Option<Instant>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Stats {
            latency: Histogram::new_with_bounds(1_000, 120_000_000_000, 3)
                .expect("valid histogram bounds"),
            ok: 0,
            errors: BTreeMap::new(),
            first_errors: BTreeMap::new(),
            bytes: 0,
            last: None,
        }
    }

    fn merge(&mut self, other: &Stats) {
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.first_errors {
            self.first_errors
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        self.bytes += other.bytes;
        self.last = self.last.max(other.last);
    }
}

/// Runs `plan` with `driver`; `server_pid` adds that process's CPU time to the report.
pub async fn run<D: Driver>(
    driver: Arc<D>,
    plan: &Plan,
    server_pid: Option<u32>,
) -> Result<Report, RunError> {
    let conns = if plan.kind == CallKind::Connect {
        Vec::new()
    } else {
        let mut v = Vec::with_capacity(plan.connections.max(1));
        for _ in 0..plan.connections.max(1) {
            v.push(driver.connect().await.map_err(RunError::Connect)?);
        }
        v
    };
    let begin = Instant::now();
    let measure_from = begin + plan.warmup;
    let shared = Arc::new(Shared {
        begin,
        measure_from,
        stop_at: plan.duration.map(|d| measure_from + d),
        hard_stop: begin + plan.max_time,
        requests: plan.requests,
        pacing: plan.schedule.as_ref().map(|s| s.after_warmup(plan.warmup)),
        issued: AtomicU64::new(0),
        issued_measured: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        timeline: Mutex::new(Timeline::new(timeline::interval_for(planned_duration(
            plan,
        )))),
    });

    // CPU (and the connections' statistics) are sampled when measuring starts and after
    // the last call.
    let cpu_start = {
        let (driver, conns) = (driver.clone(), conns.clone());
        let sample = move || {
            (
                Instant::now(),
                process_cpu(None),
                server_pid.map(|p| process_cpu(Some(p))),
                path_stats(&*driver, &conns),
            )
        };
        if plan.warmup.is_zero() {
            let s = sample();
            tokio::spawn(async move { s })
        } else {
            tokio::spawn(async move {
                tokio::time::sleep_until(measure_from).await;
                sample()
            })
        }
    };

    let progress = progress_bar(plan, shared.clone());
    let mut workers = Vec::with_capacity(plan.concurrency.max(1));
    let payload = Bytes::from(vec![0xa5u8; plan.payload]);
    for i in 0..plan.concurrency.max(1) {
        let conn = conns.get(i % conns.len().max(1)).cloned();
        workers.push(tokio::spawn(worker(
            driver.clone(),
            conn,
            shared.clone(),
            plan.clone(),
            payload.clone(),
        )));
    }
    let mut locals = Vec::with_capacity(workers.len());
    for w in workers {
        match w.await {
            Ok(local) => locals.push(local),
            Err(e) => return Err(RunError::Other(format!("worker failed: {e}"))),
        }
    }
    let end = Instant::now();
    let (cpu_end, server_end) = (process_cpu(None), server_pid.map(|p| process_cpu(Some(p))));
    if let Some((pb, ticker)) = progress {
        ticker.abort();
        pb.finish_and_clear();
    }
    let (t0, cpu0, server0, path0) = cpu_start
        .await
        .map_err(|e| RunError::Other(e.to_string()))?;
    let path = path_stats(&*driver, &conns)
        .zip(path0)
        .map(|(b, a)| b.since(&a));
    drop(conns);

    // Merged only now: a worker merging its histograms when it is done would delay the
    // calls other workers still have in flight (and the CPU figures would count it).
    let mut stats = Stats::new();
    for local in &mut locals {
        stats.merge(&local.stats);
        local.timeline.flush(|i, part| shared.add_interval(i, part));
    }
    let timeline = shared.timeline.lock().expect("timeline lock").clone();
    let last = stats.last.unwrap_or(end).max(t0);
    let elapsed = last.saturating_duration_since(t0.max(measure_from));
    let delta = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let mut report = Report::new(
        plan,
        stats,
        elapsed,
        delta(cpu0, cpu_end),
        delta(server0.flatten(), server_end.flatten()),
        timeline,
    );
    report.path = path;
    Ok(report)
}

/// The sum of the connections' statistics, when the driver's transport keeps any.
fn path_stats<D: Driver>(driver: &D, conns: &[D::Conn]) -> Option<PathStats> {
    conns
        .iter()
        .filter_map(|c| driver.path_stats(c))
        .reduce(|a, b| a.plus(&b))
}

/// How long `plan` should measure, when known: its duration, or its request count at a
/// constant rate.
fn planned_duration(plan: &Plan) -> Option<Duration> {
    plan.duration.or_else(|| {
        let schedule = plan.schedule.as_ref()?;
        let n = plan.requests? as f64;
        Duration::try_from_secs_f64(n / schedule.end_rate()).ok()
    })
}

/// A worker's own measurements, merged when every worker is done (its timeline's intervals
/// also when its calls move to a new one).
struct Local {
    stats: Stats,
    timeline: Recorder,
}

async fn worker<D: Driver>(
    driver: Arc<D>,
    conn: Option<D::Conn>,
    shared: Arc<Shared>,
    plan: Plan,
    payload: Bytes,
) -> Local {
    let mut local = Local {
        stats: Stats::new(),
        timeline: Recorder::new(&shared.timeline.lock().expect("timeline lock")),
    };
    let mut bidi: Option<D::Bidi> = None;
    let size = payload.len() as u32;
    let count = plan.stream_messages.max(1);
    let sent = match plan.kind {
        CallKind::ServerStream => 0,
        CallKind::ClientStream => payload.len() as u64 * u64::from(count),
        _ => payload.len() as u64,
    };
    while let Some(ticket) = shared.take().await {
        let outcome = match (&conn, plan.kind) {
            (_, CallKind::Connect) => match driver.connect().await {
                Ok(c) => driver.unary(&c, payload.clone()).await,
                Err(e) => Err(e),
            },
            (None, _) => Err("NoConnection".to_owned()),
            (Some(c), CallKind::Unary) => driver.unary(c, payload.clone()).await,
            (Some(c), CallKind::ServerStream) => driver.server_stream(c, size, count).await,
            (Some(c), CallKind::ClientStream) => {
                driver.client_stream(c, payload.clone(), count).await
            }
            (Some(c), CallKind::Bidi) => {
                if bidi.is_none() {
                    match driver.open_bidi(c).await {
                        Ok(b) => bidi = Some(b),
                        Err(e) => {
                            record(&mut local, &shared, &ticket, Err(e), 0);
                            continue;
                        }
                    }
                }
                let b = bidi.as_mut().expect("opened above");
                let res = driver.ping(b, payload.clone()).await;
                if res.is_err() {
                    bidi = None;
                }
                res
            }
        };
        record(&mut local, &shared, &ticket, outcome, sent);
    }
    local
}

fn record(
    local: &mut Local,
    shared: &Shared,
    ticket: &Ticket,
    outcome: Result<u64, Failure>,
    sent: u64,
) {
    let now = Instant::now();
    shared.completed.fetch_add(1, Ordering::Relaxed);
    if !ticket.measured {
        return;
    }
    let stats = &mut local.stats;
    stats.last = Some(now);
    let interval = local.timeline.at(
        now.saturating_duration_since(shared.measure_from),
        |i, part| shared.add_interval(i, part),
    );
    match outcome {
        Ok(received) => {
            let ns = now.saturating_duration_since(ticket.start).as_nanos();
            let ns = u64::try_from(ns).unwrap_or(u64::MAX);
            stats.latency.saturating_record(ns);
            stats.ok += 1;
            stats.bytes += sent + received;
            interval.latency.saturating_record(ns);
            interval.ok += 1;
        }
        Err(failure) => {
            let (label, details) = split_failure(&failure);
            if !stats.errors.contains_key(label) && !details.is_empty() {
                // On one line: it may end up in the one-line reason of a failed run.
                stats
                    .first_errors
                    .insert(label.to_owned(), details.replace(['\r', '\n'], " "));
            }
            count(&mut stats.errors, label);
            count(&mut interval.errors, label);
        }
    }
}

/// Counts one more `label`, allocating its key only the first time.
fn count(counts: &mut BTreeMap<String, u64>, label: &str) {
    match counts.get_mut(label) {
        Some(n) => *n += 1,
        None => {
            counts.insert(label.to_owned(), 1);
        }
    }
}

fn progress_bar(
    plan: &Plan,
    shared: Arc<Shared>,
) -> Option<(indicatif::ProgressBar, tokio::task::JoinHandle<()>)> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if !plan.progress {
        return None;
    }
    let by_count = plan.requests.is_some();
    let len = match plan.requests {
        Some(n) => n,
        None => (plan.warmup + plan.duration.unwrap_or(plan.max_time)).as_millis() as u64,
    };
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(10));
    let template = if by_count {
        "{prefix:>28} [{bar:30}] {pos}/{len} calls {msg}"
    } else {
        "{prefix:>28} [{bar:30}] {elapsed} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(plan.label.clone());
    let bar = pb.clone();
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let done = shared.completed.load(Ordering::Relaxed);
            if by_count {
                bar.set_position(shared.issued_measured.load(Ordering::Relaxed));
            } else {
                bar.set_position(shared.begin.elapsed().as_millis() as u64);
                bar.set_message(format!("{done} calls"));
            }
        }
    });
    Some((pb, ticker))
}
