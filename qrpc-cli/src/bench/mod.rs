//! `qrpc bench`: load on any method (like ghz), through rpc-bench's loop and reports.
//!
//! The method comes from reflection or `--proto` like `qrpc call`; the requests from a JSON
//! template (`crate::template`) filled in per call.

pub mod driver;

use crate::Failure;
use driver::DynamicDriver;
use prost_reflect::MethodDescriptor;
use rpc_bench::cli::{parse_duration, OutputArgs, RateArgs};
use rpc_bench::load::{CallKind, Plan};
use rpc_core::metadata::MetadataMap;
use rpc_core::Endpoint;
use std::sync::Arc;
use std::time::Duration;

/// The options of `qrpc bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The method: package.Service/Method (or package.Service.Method).
    pub method: String,
    /// The request(s) of each call as JSON, with placeholders filled in per call:
    /// {{.RequestNumber}}, {{.TimestampUnix}}, {{.TimestampUnixMilli}}, {{newUUID}},
    /// {{randomInt MIN MAX}}, {{randomString N}}. Streaming requests take several objects;
    /// `@` reads the template from stdin, `@FILE` from a file. Default: one empty request.
    #[arg(short, long, value_name = "JSON|@|@FILE")]
    pub data: Option<String>,
    /// Calls in flight (one worker each).
    #[arg(short, long, default_value_t = 1)]
    pub concurrency: usize,
    /// Connections the calls are spread over.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// How long to measure, e.g. 10s, 1m (default 3s).
    #[arg(short = 'z', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Number of calls to measure, instead of a duration.
    #[arg(short = 'n', long = "total", conflicts_with = "duration")]
    pub total: Option<u64>,
    /// Calls made before measuring starts (connection warm-up).
    #[arg(long, value_parser = parse_duration, default_value = "200ms")]
    pub warmup: Duration,
    /// Open loop: the rate calls start at, and its ramp.
    #[command(flatten)]
    pub rate: RateArgs,
    /// Hard limit on the run time, whatever else is asked.
    #[arg(long, value_parser = parse_duration, default_value = "120s")]
    pub max_time: Duration,
    /// Output formats and files.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The template text of `--data`: inline, `@` for stdin, `@FILE` for a file.
fn template_text(data: Option<&str>) -> Result<String, Failure> {
    match data {
        None => Ok("{}".to_owned()),
        Some("@") => std::io::read_to_string(std::io::stdin())
            .map_err(|e| Failure::new(format!("Error: cannot read stdin: {e}"))),
        Some(text) => match text.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| Failure::new(format!("Error: -d @{path}: {e}"))),
            None => Ok(text.to_owned()),
        },
    }
}

fn plan(
    args: &BenchArgs,
    method: &MethodDescriptor,
    kind: CallKind,
    first: &[bytes::Bytes],
) -> Result<Plan, Failure> {
    let duration = match args.total {
        Some(_) => None,
        None => Some(args.duration.unwrap_or(Duration::from_secs(3))),
    };
    let schedule = args
        .rate
        .schedule(duration)
        .map_err(|e| Failure::new(format!("Error: {e}")))?;
    let mut label = format!("{} c={}", method.full_name(), args.concurrency);
    if let Some(schedule) = &schedule {
        label.push_str(&format!(" @{}", schedule.describe()));
    }
    // The load loop counts `payload * stream_messages` bytes sent per call (the request
    // bytes of a server-streaming call are not counted).
    let request_bytes = first.iter().map(bytes::Bytes::len).sum();
    Ok(Plan {
        label: args.output.label.clone().unwrap_or(label),
        kind,
        concurrency: args.concurrency.max(1),
        connections: args.connections.max(1),
        duration,
        requests: args.total,
        warmup: args.warmup,
        schedule,
        payload: request_bytes,
        stream_messages: 1,
        max_time: args.max_time,
        progress: !args.output.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    })
}

/// Runs the benchmark of `args` against `endpoint`, prints its report.
pub async fn run(
    args: BenchArgs,
    method: &MethodDescriptor,
    endpoint: Endpoint,
    metadata: MetadataMap,
    deadline: Option<Duration>,
) -> Result<(), Failure> {
    let text = template_text(args.data.as_deref())?;
    let (driver, first) = DynamicDriver::new(endpoint, method, &text, metadata, deadline)
        .map_err(|e| Failure::new(format!("Error: {e}")))?;
    let plan = plan(&args, method, driver.kind(), &first)?;
    let report = rpc_bench::load::run(Arc::new(driver), &plan, None)
        .await
        .map_err(|e| Failure::new(format!("Error: {e}")))?;
    let reports = [report];
    let scope = rpc_bench::cpu_scope(false, None);
    rpc_bench::write_outputs(&reports, &args.output, &scope, "qrpc bench")
        .map_err(|e| Failure::new(format!("Error: cannot write the report: {e}")))?;
    match rpc_bench::report::all_failed(&reports, method.full_name()) {
        Some(reason) => Err(Failure::new(format!("Error: {reason}"))),
        None => Ok(()),
    }
}
