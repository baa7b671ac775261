//! The interop client: runs interop cases by name against an interop server.
//!
//! ```text
//! interop-client --server_port 50052 --test_case large_unary
//! interop-client --server_port 50052 --test_case all --soak_iterations 100
//! ```
//!
//! Exits non-zero if any case fails. Without `--ca_cert` it trusts the shared development
//! certificate (`rpc_core::tls::dev::SelfSigned::loopback`).

use clap::Parser;
use interop::client::{self, Case, Context};
use rpc_core::Endpoint;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(about = "gRPC interop test client over QUIC")]
struct Args {
    /// Server address (an IP address or a host name).
    #[arg(
        long = "server_host",
        alias = "server-host",
        default_value = "127.0.0.1"
    )]
    server_host: String,
    /// Server port.
    #[arg(long = "server_port", alias = "server-port", default_value_t = 50052)]
    server_port: u16,
    /// Name to verify in the server's certificate, if not the host.
    #[arg(long = "server_host_override", alias = "server-host-override")]
    server_host_override: Option<String>,
    /// PEM certificate to trust (default: the shared development certificate).
    #[arg(long = "ca_cert", alias = "ca-cert")]
    ca_cert: Option<PathBuf>,
    /// Case to run, or `all`.
    #[arg(long = "test_case", alias = "test-case", default_value = "large_unary")]
    test_case: String,
    /// Calls of each soak case.
    #[arg(
        long = "soak_iterations",
        alias = "soak-iterations",
        default_value_t = 10
    )]
    soak_iterations: u32,
}

async fn run(args: Args) -> Result<bool, interop::Failure> {
    let cases: Vec<Case> = if args.test_case == "all" {
        Case::ALL.to_vec()
    } else {
        args.test_case
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()?
    };
    let mut tls = interop::client_tls(args.ca_cert.as_deref())?;
    if let Some(name) = args.server_host_override {
        tls = tls.domain_name(name);
    }
    let host = if args.server_host.contains(':') {
        format!("[{}]", args.server_host)
    } else {
        args.server_host
    };
    let endpoint = Endpoint::new(format!("{host}:{}", args.server_port))?.tls_config(tls);
    let ctx = Context::connect(endpoint, args.soak_iterations).await?;
    let (mut passed, mut failed) = (0, 0);
    for case in cases {
        match client::run(case, &ctx).await {
            Ok(outcome) => {
                passed += 1;
                match outcome.soak {
                    Some(soak) => println!("PASS {case}: {soak}"),
                    None => println!("PASS {case} ({} calls)", outcome.calls),
                }
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {e}");
            }
        }
    }
    ctx.channel.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), ctx.channel.wait_idle()).await;
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("interop-client: {e}");
            ExitCode::from(2)
        }
    }
}
