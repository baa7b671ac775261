//! Command-line options, shared with the baseline load generators of the `benches` crate
//! and reusable by other load generators: [`RateArgs`] (open loop and ramps) and
//! [`OutputArgs`] (JSON, SVG, HTML) are `clap::Args` to flatten into a command.

use crate::load::{CallKind, Plan};
use crate::schedule::Schedule;
use std::path::PathBuf;
use std::time::Duration;

/// Options of a benchmark run (client side).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Server to benchmark (host:port). Without it, an echo server is started in-process on
    /// 127.0.0.1 (on its own thread and runtime).
    #[arg(long)]
    pub target: Option<String>,
    /// Call kind. Without it, a short suite runs: unary 64 B at 1 and 64 in flight, unary
    /// 16 KiB at 16 in flight, server-streaming 64 KiB messages.
    #[arg(long, value_enum)]
    pub call: Option<CallKind>,
    /// Calls in flight (one worker each).
    #[arg(short = 'c', long)]
    pub concurrency: Option<usize>,
    /// Connections the calls are spread over.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// How long to measure each scenario, e.g. `3s`, `500ms` (default 3s, 1s per suite
    /// scenario).
    #[arg(short = 'z', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Number of calls to measure per scenario (instead of a duration).
    #[arg(short = 'n', long, conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Calls made before measuring starts (connection warm-up, congestion window).
    #[arg(long, value_parser = parse_duration, default_value = "200ms")]
    pub warmup: Duration,
    /// Payload bytes per message, e.g. `64`, `16KiB`, `1MiB` (default 64).
    #[arg(long, value_parser = parse_size)]
    pub payload: Option<usize>,
    /// Open loop: the rate calls start at, and its ramp.
    #[command(flatten)]
    pub rate: RateArgs,
    /// Messages per streaming call (default 100; 16 in the suite).
    #[arg(long)]
    pub stream_messages: Option<u32>,
    /// How long connecting may take: the QUIC and TLS handshake (rpc-core only; default
    /// rpc-core's).
    #[arg(long, value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// Per-call deadline (rpc-core only; `0` sends calls without a deadline).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// Hard limit on each scenario's run time, whatever else is asked.
    #[arg(long, value_parser = parse_duration, default_value = "120s")]
    pub max_time: Duration,
    /// Trust this CA certificate (PEM) for --target.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Name to verify in the server certificate (default: the target's host).
    #[arg(long)]
    pub domain: Option<String>,
    /// Trust the development certificate of `rpc_core::tls::dev::SelfSigned::loopback()`
    /// (what `rpc-bench serve` presents by default).
    #[arg(long)]
    pub insecure_dev: bool,
    /// Also count the CPU time of this process id (the server's, on the same machine).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// After the table, what each scenario's connections did on the wire (QUIC statistics
    /// over the measured interval): datagrams per call each way, GSO/GRO, path MTU, RTT,
    /// congestion window, losses.
    #[arg(long)]
    pub stats: bool,
    /// Client tokio worker threads; 0 runs everything on one thread (current-thread runtime).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Output formats and files.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl AsRef<OutputArgs> for LoadArgs {
    fn as_ref(&self) -> &OutputArgs {
        &self.output
    }
}

/// Open-loop load: `--rps` (alias `--rate`), `--ramp`, `--ramp-steps`. Without `--rps`, the
/// load is closed-loop: each worker starts its next call when the previous one ends.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RateArgs {
    /// Open loop: start R calls per second (at most `--concurrency` in flight), or ramp the
    /// rate from START to END over the measured duration (`-z`), e.g. `--rps 100..2000`.
    /// Latency counts from each call's scheduled start; the warm-up runs at the start rate.
    #[arg(
        long = "rps",
        visible_alias = "rate",
        value_name = "R|START..END",
        value_parser = parse_rps
    )]
    pub rps: Option<RateSpec>,
    /// How a range of `--rps` moves: `linear` (the default) or in equal `step`s.
    #[arg(long, value_enum, value_name = "SHAPE", requires = "rps")]
    pub ramp: Option<RampKind>,
    /// Steps of `--ramp step`, the first at START and the last at END [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..), requires = "ramp")]
    pub ramp_steps: Option<u32>,
}

/// An open-loop rate as given to `--rps`: one rate, or a range to ramp over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSpec {
    /// Calls per second (where a ramp starts); above 0.
    pub start: f64,
    /// Where a ramp ends (`START..END`); above 0.
    pub end: Option<f64>,
}

/// The shape of a ramp (`--ramp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RampKind {
    /// The rate grows (or falls) evenly from START to END.
    Linear,
    /// The rate moves in `--ramp-steps` equal-length steps from START to END.
    Step,
}

impl RateArgs {
    /// Steps of `--ramp step` without `--ramp-steps`.
    pub const DEFAULT_STEPS: u32 = 5;

    /// The schedule these options describe over a run measuring for `duration` (`None`:
    /// closed loop). A ramp needs a duration: `duration` is `None` for a run measuring a
    /// number of calls (`-n`), and that is an error with a ramp, as are `--ramp` without a
    /// range and `--ramp-steps` without `--ramp step`. The message names the options.
    pub fn schedule(&self, duration: Option<Duration>) -> Result<Option<Schedule>, String> {
        let Some(spec) = self.rps else {
            return Ok(None);
        };
        if self.ramp_steps.is_some() && self.ramp != Some(RampKind::Step) {
            return Err("--ramp-steps needs --ramp step".to_owned());
        }
        let Some(end) = spec.end else {
            if let Some(ramp) = self.ramp {
                let name = clap::ValueEnum::to_possible_value(&ramp)
                    .map_or_else(String::new, |v| v.get_name().to_owned());
                return Err(format!(
                    "--ramp {name} needs a range of rates: --rps START..END, e.g. --rps 100..2000"
                ));
            }
            return Schedule::constant(spec.start)
                .map(Some)
                .map_err(|e| e.to_string());
        };
        let Some(over) = duration else {
            return Err(format!(
                "a ramp (--rps {}..{end}) runs over the measured duration: give -z (a \
                 duration), not -n (a number of calls)",
                spec.start
            ));
        };
        let schedule = match self.ramp.unwrap_or(RampKind::Linear) {
            RampKind::Linear => Schedule::linear(spec.start, end, over),
            RampKind::Step => Schedule::steps(
                spec.start,
                end,
                self.ramp_steps.unwrap_or(Self::DEFAULT_STEPS),
                over,
            ),
        };
        schedule.map(Some).map_err(|e| e.to_string())
    }
}

/// Parses `--rps`: calls per second (`500`, `12.5`) or a range `START..END` (`100..2000`),
/// every rate above 0.
pub fn parse_rps(s: &str) -> Result<RateSpec, String> {
    let rate = |t: &str| -> Result<f64, String> {
        let v: f64 = t.trim().parse().map_err(|_| {
            format!(
                "invalid rate {t:?}: expected calls per second (e.g. 500) or a range \
                 START..END (e.g. 100..2000)"
            )
        })?;
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(format!(
                "the rate must be above 0 calls per second, not {}",
                t.trim()
            ))
        }
    };
    match s.split_once("..") {
        None => Ok(RateSpec {
            start: rate(s)?,
            end: None,
        }),
        Some((a, b)) if a.trim().is_empty() || b.trim().is_empty() => Err(format!(
            "invalid range {s:?}: expected START..END, both calls per second (e.g. 100..2000)"
        )),
        Some((a, b)) => Ok(RateSpec {
            start: rate(a)?,
            end: Some(rate(b)?),
        }),
    }
}

/// Where results go: `--json`, `--svg`, `--html`, `--label`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArgs {
    /// Print JSON instead of the table (and no progress bar); it includes each scenario's
    /// timeline (calls, failures and latency percentiles per interval).
    #[arg(long)]
    pub json: bool,
    /// Write a latency-by-percentile chart of every scenario to this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Write a self-contained HTML report to this file (opens offline): per scenario a
    /// summary, a latency histogram, percentiles and throughput over time, status codes.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Name of the scenario in the output (single scenario only).
    #[arg(long)]
    pub label: Option<String>,
}

impl AsRef<OutputArgs> for OutputArgs {
    fn as_ref(&self) -> &OutputArgs {
        self
    }
}

/// QUIC and socket settings, applied to the client and to the server started here.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NetOptions {
    /// Largest UDP payload sent and accepted (default
    /// [`rpc_core::DEFAULT_MAX_UDP_PAYLOAD_SIZE`]); loopback allows far more.
    #[arg(long, help = max_udp_payload_help())]
    pub max_udp_payload: Option<u16>,
    /// Initial QUIC packet size before path MTU discovery (default 1200).
    #[arg(long)]
    pub initial_mtu: Option<u16>,
    /// UDP socket send/receive buffer size request, e.g. `4MiB`.
    #[arg(long, value_parser = parse_size)]
    pub udp_buffer: Option<usize>,
    /// Concurrent calls the server allows per connection.
    #[arg(long)]
    pub max_calls: Option<u32>,
    /// Allow 0-RTT: a resumed connection's idempotent calls go in early data (client), and
    /// are accepted from it (server). Off by default, as in rpc-core.
    #[arg(long)]
    pub zero_rtt: bool,
}

/// The help of `--max-udp-payload`, with rpc-core's default.
fn max_udp_payload_help() -> String {
    format!(
        "Largest UDP payload sent and accepted (rpc-core default {}); loopback allows far more",
        rpc_core::DEFAULT_MAX_UDP_PAYLOAD_SIZE
    )
}

/// Options of `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub addr: std::net::SocketAddr,
    /// Certificate chain (PEM); default: the development certificate of
    /// `SelfSigned::loopback()`.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of `--cert`.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Tokio worker threads; 0 runs everything on one thread (current-thread runtime).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub exit_after: Option<Duration>,
    /// Also serve the echo service as gRPC over HTTP/2 (cleartext h2c, rpc-grpc's
    /// `GrpcServer`) on this address, for `rpc-bench --http2` and gRPC clients.
    #[arg(long)]
    pub h2_addr: Option<std::net::SocketAddr>,
    /// QUIC and socket settings.
    #[command(flatten)]
    pub net: NetOptions,
}

/// Parses `3s`, `250ms`, `100us`, `2m` or plain seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        "m" | "min" => n * 60.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use s, ms, us or m)"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Parses `64`, `16KiB`, `16k`, `1MiB`, `1m` (binary units).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return Err(format!("invalid size unit in {s:?} (use KiB or MiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} too large"))
}

fn size_label(n: usize) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} B")
    }
}

impl LoadArgs {
    /// The scenarios to run: the default suite, or the one described by the options.
    ///
    /// Exits the process with a usage error when the options contradict each other (see
    /// [`LoadArgs::try_plans`]), as a parse error would.
    pub fn plans(&self) -> Vec<Plan> {
        self.try_plans().unwrap_or_else(|e| {
            clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, format!("{e}\n")).exit()
        })
    }

    /// The scenarios to run, or why the options contradict each other (a ramp with
    /// `-n`, `--ramp` without a range...: see [`RateArgs::schedule`]).
    pub fn try_plans(&self) -> Result<Vec<Plan>, String> {
        match self.call {
            Some(kind) => Ok(vec![self.plan(
                kind,
                self.payload.unwrap_or(64),
                self.concurrency.unwrap_or(1),
                self.stream_messages.unwrap_or(100),
                false,
            )?]),
            None => {
                let messages = self.stream_messages.unwrap_or(16);
                let payload = self.payload.unwrap_or(64);
                Ok(vec![
                    self.plan(CallKind::Unary, payload, 1, messages, true)?,
                    self.plan(CallKind::Unary, payload, 64, messages, true)?,
                    self.plan(CallKind::Unary, 16 * 1024, 16, messages, true)?,
                    self.plan(CallKind::ServerStream, 64 * 1024, 1, messages, true)?,
                ])
            }
        }
    }

    /// One scenario; `suite` for those of the default suite (shorter, named by their shape).
    fn plan(
        &self,
        kind: CallKind,
        payload: usize,
        concurrency: usize,
        messages: u32,
        suite: bool,
    ) -> Result<Plan, String> {
        let duration = match self.requests {
            Some(_) => None,
            None => Some(self.duration.unwrap_or(if suite {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(3)
            })),
        };
        let schedule = self.rate.schedule(duration)?;
        let mut label = format!("{} {}", kind.name(), size_label(payload));
        if matches!(kind, CallKind::ServerStream | CallKind::ClientStream) {
            label.push_str(&format!(" x{messages}"));
        }
        label.push_str(&format!(" c={concurrency}"));
        if let Some(s) = &schedule {
            label.push_str(&format!(" @{}", s.describe()));
        }
        Ok(Plan {
            label: self
                .output
                .label
                .clone()
                .filter(|_| !suite)
                .unwrap_or(label),
            kind,
            concurrency,
            connections: self.connections.max(1),
            duration,
            requests: self.requests,
            warmup: self.warmup,
            schedule,
            payload,
            stream_messages: messages,
            max_time: self.max_time,
            progress: !self.output.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_durations() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("16KiB"), Ok(16384));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert!(parse_size("1x").is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-1s").is_err());
        assert_eq!(size_label(65536), "64 KiB");
    }

    #[test]
    fn parses_rates_and_ranges() {
        let one = |s| parse_rps(s).map(|r| (r.start, r.end));
        assert_eq!(one("500"), Ok((500.0, None)));
        assert_eq!(one("12.5"), Ok((12.5, None)));
        assert_eq!(one("100..2000"), Ok((100.0, Some(2000.0))));
        assert_eq!(one("2000..100"), Ok((2000.0, Some(100.0))));
        for bad in ["0", "-5", "10..", "..10", "1..0", "fast", "inf", "NaN"] {
            assert!(parse_rps(bad).is_err(), "{bad}");
        }
        assert!(parse_rps("0").unwrap_err().contains("above 0"));
        assert!(parse_rps("10..").unwrap_err().contains("START..END"));
    }

    fn rate(rps: &str, ramp: Option<RampKind>, steps: Option<u32>) -> RateArgs {
        RateArgs {
            rps: Some(parse_rps(rps).unwrap()),
            ramp,
            ramp_steps: steps,
        }
    }

    #[test]
    fn schedules_from_rate_options() {
        let z = Some(Duration::from_secs(2));
        assert_eq!(RateArgs::default().schedule(z), Ok(None));
        let s = rate("50", None, None).schedule(None).unwrap().unwrap();
        assert_eq!(s.describe(), "50/s");
        let s = rate("50..150", None, None).schedule(z).unwrap().unwrap();
        assert_eq!(s.ramp(), crate::schedule::Ramp::Linear);
        assert_eq!(s.ramp_duration(), Duration::from_secs(2));
        let s = rate("50..150", Some(RampKind::Step), None)
            .schedule(z)
            .unwrap()
            .unwrap();
        assert_eq!(s.ramp(), crate::schedule::Ramp::Step(5));

        let err = |r: RateArgs, d| r.schedule(d).unwrap_err();
        assert!(err(rate("50..150", None, None), None).contains("not -n (a number of calls)"));
        assert!(err(rate("50", Some(RampKind::Step), None), z).contains("--rps START..END"));
        assert!(err(rate("50..150", Some(RampKind::Linear), Some(3)), z)
            .contains("--ramp-steps needs --ramp step"));
    }
}
