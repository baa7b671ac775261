//! Command-line options, shared with the baseline load generators of the `benches` crate.

use crate::load::{CallKind, Plan};
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
    /// Open loop: start this many calls per second (at most `--concurrency` in flight);
    /// latency then counts from each call's scheduled start.
    #[arg(long)]
    pub rate: Option<f64>,
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
    /// Client tokio worker threads; 0 runs everything on one thread (current-thread runtime).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Print JSON instead of the table (and no progress bar).
    #[arg(long)]
    pub json: bool,
    /// Write a latency-by-percentile chart of every scenario to this SVG file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Name of the scenario in the output (single scenario only).
    #[arg(long)]
    pub label: Option<String>,
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
    pub fn plans(&self) -> Vec<Plan> {
        let progress = !self.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let plan = |kind: CallKind, payload: usize, concurrency: usize, messages: u32, suite| {
            let duration = match self.requests {
                Some(_) => None,
                None => Some(self.duration.unwrap_or(if suite {
                    Duration::from_secs(1)
                } else {
                    Duration::from_secs(3)
                })),
            };
            let mut label = format!("{} {}", kind.name(), size_label(payload));
            if matches!(kind, CallKind::ServerStream | CallKind::ClientStream) {
                label.push_str(&format!(" x{messages}"));
            }
            label.push_str(&format!(" c={concurrency}"));
            if let Some(r) = self.rate {
                label.push_str(&format!(" @{r}/s"));
            }
            Plan {
                label: self.label.clone().filter(|_| !suite).unwrap_or(label),
                kind,
                concurrency,
                connections: self.connections.max(1),
                duration,
                requests: self.requests,
                warmup: self.warmup,
                rate: self.rate,
                payload,
                stream_messages: messages,
                max_time: self.max_time,
                progress,
            }
        };
        match self.call {
            Some(kind) => vec![plan(
                kind,
                self.payload.unwrap_or(64),
                self.concurrency.unwrap_or(1),
                self.stream_messages.unwrap_or(100),
                false,
            )],
            None => {
                let messages = self.stream_messages.unwrap_or(16);
                vec![
                    plan(
                        CallKind::Unary,
                        self.payload.unwrap_or(64),
                        1,
                        messages,
                        true,
                    ),
                    plan(
                        CallKind::Unary,
                        self.payload.unwrap_or(64),
                        64,
                        messages,
                        true,
                    ),
                    plan(CallKind::Unary, 16 * 1024, 16, messages, true),
                    plan(CallKind::ServerStream, 64 * 1024, 1, messages, true),
                ]
            }
        }
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
}
