//! The raw quinn baseline as a load generator, with rpc-bench's options and loop.
//!
//! ```text
//! cargo run --release -p benches --example quinn_echo -- serve --addr 127.0.0.1:50052
//! cargo run --release -p benches --example quinn_echo -- --target 127.0.0.1:50052 --call unary -c 64
//! cargo run --release -p benches --example quinn_echo --          # in-process server, suite
//! ```
//! Both sides trust the development certificate of `SelfSigned::loopback()`.

use benches::quinn_echo::{self, QuinnDriver};
use clap::{Parser, Subcommand};
use rpc_bench::{LoadArgs, NetOptions, ServeArgs};
use rpc_core::tls::dev::SelfSigned;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Raw quinn echo baseline (one stream per call, length-prefixed prost messages).
#[derive(Debug, Parser)]
#[command(name = "quinn_echo", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    net: NetOptions,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the quinn echo server alone.
    Serve(ServeArgs),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        None => bench(cli.load, cli.net),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quinn_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), BoxError> {
    let cert = SelfSigned::loopback()?;
    let rt = rpc_bench::server::runtime(args.workers)?;
    rt.block_on(async {
        let ep = quinn_echo::bind_server(args.addr, &cert, &args.net)?;
        println!(
            "quinn echo server listening on {} (pid {})",
            ep.local_addr()?,
            std::process::id()
        );
        let limit = args
            .exit_after
            .unwrap_or(std::time::Duration::from_secs(24 * 3600));
        let _ = tokio::time::timeout(limit, quinn_echo::serve(ep)).await;
        Ok(())
    })
}

fn bench(load: LoadArgs, net: NetOptions) -> Result<(), BoxError> {
    let plans = load.plans();
    let (cert, local, addr) = match &load.target {
        None => {
            let cert = SelfSigned::generate(&["localhost"])?;
            let server = quinn_echo::BackgroundServer::start("127.0.0.1:0".parse()?, &cert, &net)?;
            let addr = server.local_addr();
            (cert, Some(server), addr)
        }
        Some(t) => (SelfSigned::loopback()?, None, t.parse::<SocketAddr>()?),
    };
    let domain = load.domain.clone().unwrap_or_else(|| "localhost".into());
    let reports = rpc_bench::run_plans(
        || QuinnDriver::new(addr, &domain, &cert, &net).map_err(|e| e.to_string()),
        &plans,
        load.workers,
        load.server_pid,
    )?;
    let scope = rpc_bench::cpu_scope(local.is_some(), load.server_pid);
    drop(local);
    rpc_bench::output(&reports, &load, &scope)?;
    Ok(())
}
