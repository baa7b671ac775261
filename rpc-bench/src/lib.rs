//! # rpc-bench: a load generator for rpc-core
//!
//! Benchmarks the bundled echo service (`proto/echo.proto`) like `ghz` does for gRPC:
//! closed-loop or open-loop (`--rate`) calls of any kind, an HDR histogram of latencies,
//! errors by status code, CPU time per call, a table, JSON or an SVG chart.
//!
//! ```text
//! cargo run --release -p rpc-bench --                         # self-contained suite
//! cargo run --release -p rpc-bench -- serve --addr 127.0.0.1:50051
//! cargo run --release -p rpc-bench -- --target 127.0.0.1:50051 --insecure-dev \
//!     --call unary -c 64 -z 5s --payload 64
//! ```
//!
//! The library part is what the baseline load generators of the `benches` crate (raw
//! quinn, tonic) reuse: the same [`cli::LoadArgs`], the same [`load`] loop behind the
//! [`driver::Driver`] trait, the same [`report`]s.
#![deny(missing_docs)]

pub mod cli;
pub mod cpu;
pub mod driver;
pub mod load;
pub mod report;
pub mod server;

pub use cli::{LoadArgs, NetOptions, ServeArgs};
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

/// Prints the reports (table or JSON, per `args`) and writes the SVG chart if asked.
pub fn output(reports: &[Report], args: &LoadArgs, cpu_scope: &str) -> std::io::Result<()> {
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::json(reports, cpu_scope))
                .map_err(std::io::Error::other)?
        );
    } else {
        print!("{}", report::table(reports, cpu_scope));
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, report::svg(reports))?;
        if !args.json {
            println!("latency chart written to {}", path.display());
        }
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
