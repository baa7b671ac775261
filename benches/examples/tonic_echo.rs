//! The tonic baseline (gRPC over HTTP/2) as a load generator, with rpc-bench's options and
//! loop. `--tls` for TLS (development certificate of `SelfSigned::loopback()`), else h2c.
//!
//! ```text
//! cargo run --release -p benches --example tonic_echo -- serve --addr 127.0.0.1:50053
//! cargo run --release -p benches --example tonic_echo -- --target 127.0.0.1:50053 --call unary -c 64
//! cargo run --release -p benches --example tonic_echo -- --tls    # in-process server, suite
//! ```

#[path = "../tonic/mod.rs"]
mod tonic_echo;

use clap::{Parser, Subcommand};
use rpc_bench::{LoadArgs, ServeArgs};
use rpc_core::tls::dev::SelfSigned;
use std::net::SocketAddr;
use std::process::ExitCode;
use tonic_echo::TonicDriver;

/// tonic echo baseline.
#[derive(Debug, Parser)]
#[command(name = "tonic_echo")]
struct Cli {
    /// Use TLS (else plaintext h2c).
    #[arg(long, global = true)]
    tls: bool,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the tonic echo server alone.
    Serve(ServeArgs),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Some(Command::Serve(args)) => serve(args, cli.tls),
        None => bench(cli.load, cli.tls),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tonic_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs, tls: bool) -> Result<(), BoxError> {
    let cert = if tls {
        Some(SelfSigned::loopback()?)
    } else {
        None
    };
    let rt = rpc_bench::server::runtime(args.workers)?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr).await?;
        println!(
            "tonic echo server ({}) listening on {} (pid {})",
            if tls { "TLS" } else { "h2c" },
            listener.local_addr()?,
            std::process::id()
        );
        let limit = args
            .exit_after
            .unwrap_or(std::time::Duration::from_secs(24 * 3600));
        tonic_echo::serve(listener, cert.as_ref(), async move {
            let _ = tokio::time::timeout(limit, std::future::pending::<()>()).await;
        })
        .await
    })
}

fn bench(load: LoadArgs, tls: bool) -> Result<(), BoxError> {
    let plans = load.plans();
    let cert = if tls {
        Some(match load.target {
            None => SelfSigned::generate(&["localhost"])?,
            Some(_) => SelfSigned::loopback()?,
        })
    } else {
        None
    };
    let (local, addr) = match &load.target {
        None => {
            let server = tonic_echo::BackgroundServer::start("127.0.0.1:0".parse()?, cert.clone())?;
            let addr = server.local_addr();
            (Some(server), addr)
        }
        Some(t) => (None, t.parse::<SocketAddr>()?),
    };
    let domain = load.domain.clone().unwrap_or_else(|| "localhost".into());
    let reports = rpc_bench::run_plans(
        || Ok(TonicDriver::new(addr, cert.as_ref(), &domain)),
        &plans,
        load.workers,
        load.server_pid,
    )?;
    let scope = rpc_bench::cpu_scope(local.is_some(), load.server_pid);
    drop(local);
    rpc_bench::output(&reports, &load, &scope)?;
    Ok(())
}
