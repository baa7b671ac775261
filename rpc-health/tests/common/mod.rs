//! A server with the health service on 127.0.0.1, and a client for it.
#![allow(dead_code)]

use rpc_core::server::{NamedService, ServerHandle};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Server};
use rpc_health::pb::health_client::HealthClient;
use rpc_health::{HealthCheckRequest, HealthReporter};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// A service name to report on (the health service only needs the name).
pub struct Greeter;

impl NamedService for Greeter {
    const NAME: &'static str = "helloworld.Greeter";
}

pub fn cert() -> &'static SelfSigned {
    static CERT: OnceLock<SelfSigned> = OnceLock::new();
    CERT.get_or_init(|| SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap())
}

pub struct HealthServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub reporter: HealthReporter,
    pub task: tokio::task::JoinHandle<()>,
}

/// Serves a fresh health service (drained on shutdown) with `cert`'s certificate.
pub fn start_with(cert: &SelfSigned, grace: Duration) -> HealthServer {
    let (reporter, service) = rpc_health::health_reporter();
    let server = Server::builder()
        .tls_config(cert.server_config().unwrap())
        .shutdown_grace_period(grace)
        .add_service(service)
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    reporter.set_not_serving_on_shutdown(&handle);
    let task = tokio::spawn(server.serve());
    HealthServer {
        addr,
        handle,
        reporter,
        task,
    }
}

pub fn start() -> HealthServer {
    start_with(cert(), Duration::from_secs(30))
}

pub async fn client(addr: SocketAddr) -> HealthClient {
    let channel = Endpoint::from_addr(addr)
        .tls_config(cert().client_config())
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

pub fn req(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}
