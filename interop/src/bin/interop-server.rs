//! The interop server: serves `grpc.testing.TestService` until Ctrl-C.
//!
//! ```text
//! interop-server --port 50052 [--host 127.0.0.1] [--tls_cert cert.pem --tls_key key.pem]
//! ```
//!
//! Without a certificate it presents the shared development certificate
//! (`rpc_core::tls::dev::SelfSigned::loopback`). It prints `listening on ADDR` once bound
//! (with `--port 0`, ADDR tells the port chosen).

use clap::Parser;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(about = "gRPC interop test server (grpc.testing.TestService) over QUIC")]
struct Args {
    /// UDP port to listen on (0: any free port).
    #[arg(long, default_value_t = 50052)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// PEM certificate chain to present (with --tls_key).
    #[arg(long = "tls_cert", alias = "tls-cert")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long = "tls_key", alias = "tls-key")]
    tls_key: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let tls = interop::server_tls(args.tls_cert.as_deref(), args.tls_key.as_deref())?;
    let server = interop::server::bind(SocketAddr::new(args.host, args.port), tls)?;
    let addr = server.server.local_addr();
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    server
        .server
        .serve_with_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    let stats = &server.stats;
    println!(
        "calls: {} started, {} completed, {} cancelled or expired",
        stats.started(),
        stats.completed(),
        stats.abandoned()
    );
    Ok(())
}
