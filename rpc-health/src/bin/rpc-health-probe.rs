//! `rpc-health-probe`: checks the health of an rpc-core server, like `grpc_health_probe`.
//!
//! ```text
//! rpc-health-probe --addr localhost:50051 [--service NAME]
//!                  [--insecure-dev | --ca-cert PATH] [--tls-server-name NAME]
//!                  [--connect-timeout 1s] [--timeout 1s]
//! ```
//!
//! Prints one line and exits with `grpc_health_probe`'s codes: 0 the service is `SERVING`,
//! 1 invalid arguments, 2 connection failure, 3 the health call failed (`NOT_FOUND` for an
//! unknown service, `UNIMPLEMENTED` when the server has no health service), 4 the service
//! is not `SERVING`.

use clap::Parser;
use rpc_core::tls::{Certificate, ClientTlsConfig};
use rpc_core::{Code, Endpoint, Request};
use rpc_health::{HealthCheckRequest, HealthClient, ServingStatus};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const INVALID_ARGUMENTS: u8 = 1;
const CONNECTION_FAILURE: u8 = 2;
const RPC_FAILURE: u8 = 3;
const UNHEALTHY: u8 = 4;

/// Checks the health of an rpc-core server (grpc.health.v1.Health/Check).
///
/// Exit codes: 0 SERVING, 1 invalid arguments, 2 connection failure, 3 RPC failure
/// (NOT_FOUND: unknown service), 4 not SERVING.
#[derive(Parser, Debug)]
#[command(name = "rpc-health-probe", version)]
struct Args {
    /// The server address, host:port.
    #[arg(long)]
    addr: String,
    /// The service to check (package.Service); empty for the server as a whole.
    #[arg(long, default_value = "")]
    service: String,
    /// Trust rpc-core's development certificate (the one `tls::dev::SelfSigned::loopback`
    /// keeps in $TMPDIR/rpc-core-dev/), and nothing else. Not for production.
    #[arg(long)]
    insecure_dev: bool,
    /// Trust the CA certificate(s) in this PEM file instead of the Mozilla roots.
    #[arg(long, value_name = "PATH")]
    ca_cert: Option<PathBuf>,
    /// The name to verify in the server's certificate (default: the host of --addr).
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
    /// How long connecting may take (e.g. 500ms, 1s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// How long the health call may take.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    timeout: Duration,
}

/// `1.5s`, `500ms`, `2m`, or a number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (expected e.g. 500ms, 1s, 2m)"))?;
    Duration::try_from_secs_f64(value * scale)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("invalid duration {s:?}: must be positive"))
}

/// Why the probe failed: an exit code and its one-line message.
struct Failure(u8, String);

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help, --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message, on one line: up to the usage.
            let text = e.to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("{} (see --help)", line.join(" "));
            return ExitCode::from(INVALID_ARGUMENTS);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(CONNECTION_FAILURE);
        }
    };
    match runtime.block_on(probe(&args)) {
        Ok(()) => {
            println!("status: SERVING");
            ExitCode::SUCCESS
        }
        Err(Failure(code, message)) => {
            eprintln!("{message}");
            ExitCode::from(code)
        }
    }
}

fn tls_config(args: &Args) -> Result<ClientTlsConfig, Failure> {
    let invalid = |message: String| Failure(INVALID_ARGUMENTS, message);
    let mut tls = ClientTlsConfig::new();
    if args.insecure_dev {
        let path = std::env::temp_dir().join("rpc-core-dev").join("cert.pem");
        let cert = Certificate::from_pem_file(&path).map_err(|e| {
            invalid(format!(
                "error: --insecure-dev: cannot load the development certificate {}: {e}",
                path.display()
            ))
        })?;
        tls = tls.with_webpki_roots(false).ca_certificate(cert);
    }
    if let Some(path) = &args.ca_cert {
        let cert = Certificate::from_pem_file(path).map_err(|e| {
            invalid(format!(
                "error: --ca-cert: cannot load {}: {e}",
                path.display()
            ))
        })?;
        tls = tls.with_webpki_roots(false).ca_certificate(cert);
    }
    if let Some(name) = &args.tls_server_name {
        tls = tls.domain_name(name);
    }
    Ok(tls)
}

async fn probe(args: &Args) -> Result<(), Failure> {
    let endpoint = Endpoint::new(&args.addr)
        .map_err(|e| Failure(INVALID_ARGUMENTS, format!("error: --addr: {e}")))?
        .tls_config(tls_config(args)?)
        .connect_timeout(args.connect_timeout);
    let channel = endpoint.connect().await.map_err(|e| {
        Failure(
            CONNECTION_FAILURE,
            format!("error: failed to connect to {:?}: {e}", args.addr),
        )
    })?;
    let client = HealthClient::new(channel);
    let mut request = Request::new(HealthCheckRequest {
        service: args.service.clone(),
    });
    request.set_timeout(args.timeout);
    let reply = match client.check(request).await {
        Ok(reply) => reply.into_inner(),
        Err(status) if status.code() == Code::Unimplemented => {
            return Err(Failure(
                RPC_FAILURE,
                "error: this server does not implement the grpc.health.v1 health service"
                    .to_owned(),
            ))
        }
        Err(status) if status.code() == Code::DeadlineExceeded => {
            return Err(Failure(
                RPC_FAILURE,
                format!(
                    "error: timeout: health call did not complete within {:?}",
                    args.timeout
                ),
            ))
        }
        Err(status) => {
            return Err(Failure(
                RPC_FAILURE,
                format!(
                    "error: health call failed: code={:?} message={:?}",
                    status.code(),
                    status.message()
                ),
            ))
        }
    };
    match reply.status() {
        ServingStatus::Serving => Ok(()),
        other => Err(Failure(
            UNHEALTHY,
            format!(
                "service unhealthy (responded with {:?})",
                other.as_str_name()
            ),
        )),
    }
}
