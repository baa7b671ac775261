//! The standard gRPC health service, `grpc.health.v1.Health`, for rpc-core servers: the
//! same semantics and API shape as `tonic-health`.
//!
//! [`health_reporter`] returns a [`HealthReporter`] (cheap to clone, keep one wherever a
//! service's health changes) and the [`HealthServer`] to add to a server. The server as a
//! whole is reported under the empty service name `""`, `SERVING` from the start.
//!
//! * `Check` answers the current status of a service, and fails with `NOT_FOUND` for a
//!   service whose status was never set.
//! * `Watch` sends the current status at once, then every change. For a service whose
//!   status is not set it sends `SERVICE_UNKNOWN` and keeps the call open, so the watcher
//!   sees the service once it is registered. Each watcher holds only the latest status
//!   (a [`tokio::sync::watch`] channel per service): a slow watcher skips intermediate
//!   values instead of buffering them.
//! * Draining: [`HealthReporter::set_not_serving_on_shutdown`] reports every service as
//!   `NOT_SERVING` as soon as the server's graceful shutdown starts, while calls drain; each
//!   `Watch` call then ends with `UNAVAILABLE` after sending `NOT_SERVING`, so watchers do not
//!   hold the shutdown for its whole grace period.
//!
//! The `rpc-health-probe` command of this crate checks a server from the command line, like
//! `grpc_health_probe` (`rpc-health-probe --addr localhost:50051 --insecure-dev`).
//!
//! # Example
//!
//! ```
//! use rpc_core::tls::dev::SelfSigned;
//! use rpc_core::{Endpoint, Server};
//! use rpc_health::{HealthCheckRequest, HealthClient, ServingStatus};
//! # struct GreeterServer;
//! # impl rpc_core::server::NamedService for GreeterServer {
//! #     const NAME: &'static str = "helloworld.Greeter";
//! # }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cert = SelfSigned::generate(&["localhost"])?;
//! let (reporter, health_service) = rpc_health::health_reporter();
//! reporter.set_serving::<GreeterServer>();
//!
//! let server = Server::builder()
//!     .tls_config(cert.server_config()?)
//!     .add_service(health_service)
//!     // .add_service(GreeterServer::new(MyGreeter))
//!     .bind("127.0.0.1:0".parse()?)?;
//! let port = server.local_addr().port();
//! // NOT_SERVING for every service once a graceful shutdown starts.
//! reporter.set_not_serving_on_shutdown(&server.handle());
//! tokio::spawn(server.serve());
//!
//! let channel = Endpoint::new(format!("localhost:{port}"))?
//!     .tls_config(cert.client_config())
//!     .connect()
//!     .await?;
//! let client = HealthClient::new(channel);
//! let request = HealthCheckRequest { service: "helloworld.Greeter".into() };
//! let reply = client.check(request).await?.into_inner();
//! assert_eq!(reply.status(), ServingStatus::Serving);
//!
//! reporter.set_not_serving::<GreeterServer>();
//! let request = HealthCheckRequest { service: "helloworld.Greeter".into() };
//! let reply = client.check(request).await?.into_inner();
//! assert_eq!(reply.status(), ServingStatus::NotServing);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod reporter;
mod service;

pub use reporter::HealthReporter;
pub use service::{HealthService, WatchStream};

/// The code generated from `grpc/health/v1/health.proto` (package `grpc.health.v1`).
pub mod pb {
    #![allow(missing_docs)]
    rpc_core::include_proto!("grpc.health.v1");
}

/// The encoded `FileDescriptorSet` of `grpc/health/v1/health.proto`, for a server's
/// reflection service (`rpc_reflection::Builder::register_encoded_file_descriptor_set`), so
/// reflection clients see the health service too.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/grpc.health.v1.bin"));

pub use pb::health_check_response::ServingStatus;
pub use pb::health_client::HealthClient;
pub use pb::health_server::{Health, HealthServer};
pub use pb::{HealthCheckRequest, HealthCheckResponse};

/// A reporter of service health and the health service it feeds, as in `tonic-health`.
///
/// The overall status (service name `""`) starts as `SERVING`; add the service to a server
/// with `.add_service(health_service)` and report the other services with the reporter.
pub fn health_reporter() -> (HealthReporter, HealthServer<HealthService>) {
    let reporter = HealthReporter::new();
    reporter.set_service_status("", ServingStatus::Serving);
    let service = HealthServer::new(HealthService::new(reporter.clone()));
    (reporter, service)
}
