//! The interop server: serves `grpc.testing.TestService` until Ctrl-C.
//!
//! ```text
//! interop-server --port 50052 [--host 127.0.0.1] [--tls_cert cert.pem --tls_key key.pem]
//!                [--h2_port 50053 [--h2_tls]]
//! ```
//!
//! With `--h2_port`, the same service is also served as standard gRPC over HTTP/2 on that TCP
//! port (cleartext h2c, or TLS with `--h2_tls`), for gRPC clients of other implementations.
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
    /// Also serve gRPC over HTTP/2 on this TCP port (0: any free port).
    #[arg(long = "h2_port", alias = "h2-port")]
    h2_port: Option<u16>,
    /// Serve the HTTP/2 port over TLS (the QUIC port's certificate) instead of h2c.
    #[arg(long = "h2_tls", alias = "h2-tls")]
    h2_tls: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let tls = interop::server_tls(args.tls_cert.as_deref(), args.tls_key.as_deref())?;
    let server = interop::server::bind(SocketAddr::new(args.host, args.port), tls.clone())?;
    let addr = server.server.local_addr();
    println!("listening on {addr}");
    if let Some(port) = args.h2_port {
        let mut h2 = rpc_grpc::GrpcServer::new(server.handle.clone()).grpc_web(true);
        if args.h2_tls {
            h2 = h2.tls_config(tls);
        }
        let h2 = h2.bind(SocketAddr::new(args.host, port)).await?;
        println!("listening for gRPC over HTTP/2 on {}", h2.local_addr());
        tokio::spawn(h2.serve());
    }
    std::io::stdout().flush()?;
    server
        .server
        // Drains gracefully (PROTOCOL.md §12) on Ctrl-C or SIGTERM.
        .serve_with_shutdown(rpc_core::server::shutdown_signal())
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
