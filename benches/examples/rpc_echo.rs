//! `rpc_echo serve`: rpc-bench's echo server on rpc-core, alone in a binary of the same
//! kind as `quinn_echo serve` (the same command line, no load generator, HTML report,
//! HTTP/2 server or metrics), for comparisons where the binary itself counts: peak RSS
//! includes the pages of code a process touched, and `rpc-bench` carries much more code
//! than the raw quinn baseline. The calls take exactly the path they take under
//! `rpc-bench serve`.
//!
//! ```text
//! cargo run --release -p benches --example rpc_echo -- serve --addr 127.0.0.1:50061
//! ```

use clap::{Parser, Subcommand};
use rpc_bench::{server, ServeArgs};
use rpc_core::tls::dev::SelfSigned;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "rpc_echo")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the rpc-core echo server.
    Serve(ServeArgs),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let Command::Serve(args) = Cli::parse().command;
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rpc_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), BoxError> {
    if args.h2_addr.is_some() {
        return Err("no HTTP/2 server here: use `rpc-bench serve --h2-addr`".into());
    }
    let tls = SelfSigned::loopback()?.server_config()?;
    let rt = server::runtime(args.workers)?;
    rt.block_on(async {
        let server = server::builder(tls, &args.net).bind(args.addr)?;
        println!(
            "rpc-core echo server listening on {} (pid {})",
            server.local_addr(),
            std::process::id()
        );
        let limit = args.exit_after.unwrap_or(Duration::from_secs(24 * 3600));
        server
            .serve_with_shutdown(async move {
                tokio::select! {
                    () = rpc_core::server::shutdown_signal() => {}
                    () = tokio::time::sleep(limit) => {}
                }
            })
            .await;
        Ok::<_, BoxError>(())
    })
}
