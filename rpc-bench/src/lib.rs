//! # rpc-bench: a load generator for rpc-core
//!
//! Benchmarks the bundled echo service (`proto/echo.proto`) like `ghz` does for gRPC:
//! closed-loop or open-loop (`--rps`, with an optional linear or step ramp) calls of any
//! kind, an HDR histogram of latencies, errors by status code, CPU time per call, a
//! timeline per interval, and a table, JSON, an SVG chart or a self-contained HTML report.
//!
//! ```text
//! cargo run --release -p rpc-bench --                         # self-contained suite
//! cargo run --release -p rpc-bench -- serve --addr 127.0.0.1:50051
//! cargo run --release -p rpc-bench -- --target 127.0.0.1:50051 --insecure-dev \
//!     --call unary -c 64 -z 5s --payload 64
//! # Open loop, ramping from 1000 to 20000 calls/s over 10 s in 4 steps; HTML report:
//! cargo run --release -p rpc-bench -- --call unary -c 64 -z 10s \
//!     --rps 1000..20000 --ramp step --ramp-steps 4 --html report.html
//! ```
//!
//! The library part is what the baseline load generators of the `benches` crate (raw
//! quinn, tonic) reuse: the same [`cli::LoadArgs`], the same [`load`] loop behind the
//! [`driver::Driver`] trait, the same [`report`]s. Other load generators can flatten
//! [`cli::RateArgs`] and [`cli::OutputArgs`] into their own commands, build [`load::Plan`]s
//! (with a [`schedule::Schedule`] from [`cli::RateArgs::schedule`]), run them with
//! [`load::run`] and their own [`driver::Driver`], and write the results with
//! [`write_outputs`].
#![deny(missing_docs)]

pub mod balance;
pub mod breakdown;
mod chart;
pub mod cli;
pub mod cpu;
pub mod driver;
pub mod html;
pub mod load;
pub mod report;
pub mod schedule;
pub mod server;
pub mod timeline;

pub use cli::{LoadArgs, NetOptions, OutputArgs, RateArgs, ServeArgs};
pub use load::RunError;

/// Code generated from `proto/echo.proto` by rpc-codegen.
#[allow(missing_docs)]
pub mod echo {
    rpc_core::include_proto!("echo");
}

use driver::Driver;
use load::Plan;
use report::Report;
use std::sync::Arc;

/// Applies `net` to a client endpoint.
pub fn apply_net(mut ep: rpc_core::Endpoint, net: &NetOptions) -> rpc_core::Endpoint {
    if let Some(n) = net.max_udp_payload {
        ep = ep.max_udp_payload_size(n);
    }
    if let Some(n) = net.initial_mtu {
        ep = ep.initial_mtu(n);
    }
    if let Some(n) = net.udp_buffer {
        ep = ep.udp_socket_buffer_size(n);
    }
    if net.zero_rtt {
        ep = ep.zero_rtt(true);
    }
    ep
}

/// Runs every plan in turn on a client runtime of `workers` threads (0: current thread),
/// with the driver `make` builds inside that runtime.
///
/// Fails with [`RunError::Connect`] when a scenario cannot make its connections. A run whose
/// calls all failed is not an error here: see [`report::all_failed`].
pub fn run_plans<D, F>(
    make: F,
    plans: &[Plan],
    workers: usize,
    server_pid: Option<u32>,
) -> Result<Vec<Report>, RunError>
where
    D: Driver,
    F: FnOnce() -> Result<D, String>,
{
    let rt = server::runtime(workers)
        .map_err(|e| RunError::Other(format!("cannot start a runtime: {e}")))?;
    rt.block_on(async move {
        let driver = Arc::new(make().map_err(RunError::Other)?);
        let mut reports = Vec::with_capacity(plans.len());
        for plan in plans {
            reports.push(load::run(driver.clone(), plan, server_pid).await?);
        }
        Ok(reports)
    })
}

/// Prints the reports (table or JSON, per `args`) and writes the SVG chart and the HTML
/// report if asked: [`write_outputs`] as `rpc-bench`.
pub fn output(reports: &[Report], args: &LoadArgs, cpu_scope: &str) -> std::io::Result<()> {
    write_outputs(reports, &args.output, cpu_scope, "rpc-bench")?;
    if args.stats {
        // After the JSON too, on stderr then, so stdout stays one JSON document.
        for line in reports.iter().filter_map(Report::path_lines) {
            if args.output.json {
                eprint!("{line}");
            } else {
                print!("{line}");
            }
        }
    }
    Ok(())
}

/// Prints the reports (a table, or JSON with `--json`) and writes the files `out` asks for:
/// the SVG chart (`--svg`) and the HTML report (`--html`, titled after `tool`).
/// `cpu_scope` says whose CPU time the CPU figures count (see [`cpu_scope`]).
pub fn write_outputs(
    reports: &[Report],
    out: &OutputArgs,
    cpu_scope: &str,
    tool: &str,
) -> std::io::Result<()> {
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::json(reports, cpu_scope))
                .map_err(std::io::Error::other)?
        );
    } else {
        print!("{}", report::table(reports, cpu_scope));
    }
    if let Some(path) = &out.svg {
        write_file(path, &report::svg(reports), "latency chart", out.json)?;
    }
    if let Some(path) = &out.html {
        let page = html::page(tool, reports, cpu_scope);
        write_file(path, &page, "HTML report", out.json)?;
    }
    Ok(())
}

/// Writes `what` to `path`, saying so unless stdout is JSON. The error names the file.
fn write_file(
    path: &std::path::Path,
    contents: &str,
    what: &str,
    json: bool,
) -> std::io::Result<()> {
    std::fs::write(path, contents).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
    })?;
    if !json {
        println!("{what} written to {}", path.display());
    }
    Ok(())
}

/// What the CPU columns count, in words.
pub fn cpu_scope(in_process: bool, server_pid: Option<u32>) -> String {
    match (in_process, server_pid) {
        (true, _) => "the whole process (client and in-process server)".to_owned(),
        (false, Some(pid)) => format!("the client process + the server process (pid {pid})"),
        (false, None) => "the client process only (add --server-pid for the server's)".to_owned(),
    }
}
