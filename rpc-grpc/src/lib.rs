//! # rpc-grpc: standard gRPC over HTTP/2 and gRPC-Web for rpc-core
//!
//! rpc-core carries calls over QUIC (`qrpc/1`). This crate carries the same calls over
//! standard gRPC (HTTP/2, gRPC's PROTOCOL-HTTP2) and gRPC-Web, so existing gRPC clients and
//! servers (tonic, grpc-go, grpcio, browsers) talk to rpc-core services and back:
//!
//! * [`GrpcServer`] serves an rpc-core server's services on a TCP port, next to its QUIC
//!   port: TLS with ALPN `h2` or cleartext h2c, and, if enabled, gRPC-Web over HTTP/1.1 and
//!   HTTP/2. Calls run through the server's own routing, layers, interceptors, deadlines,
//!   limits and shutdown: a handler sees the same request either way, and can ask which
//!   transport carried it ([`HttpCall`] in its extensions).
//! * [`GrpcConnector`] connects a [`Channel`](rpc_core::Channel) to a gRPC server over HTTP/2,
//!   so the same generated client (`FooClient::new(channel)`) calls tonic or grpc-go servers.
//! * [`FallbackConnector`] gives a channel both of a server's ports and races them, as
//!   browsers do for HTTP/3: QUIC when UDP gets through, HTTP/2 when the network drops it,
//!   remembered per host; each response names its [`Transport`] (`docs/PROTOCOL.md` §20).
//!
//! Both are built on rpc-core's transport seam (`rpc_core::transport`): an HTTP request is a
//! stream whose headers and messages are translated to qrpc frames and back, as
//! `docs/PROTOCOL.md` §16 specifies (status, metadata with `-bin` values, `grpc-timeout`,
//! cancellation, limits, compression both ways with `grpc-encoding` as the server's and the
//! channel's settings say, `GOAWAY` as the drain notice: calls in flight finish, new ones
//! go on a new connection).
//!
//! ```
//! use rpc_core::{Request, Response, Server, Status};
//!
//! #[derive(Clone, PartialEq, prost::Message)]
//! pub struct Hello {
//!     #[prost(string, tag = "1")]
//!     pub name: String,
//! }
//!
//! #[rpc_core::service(package = "helloworld", name = "Greeter")]
//! pub trait Greeter {
//!     async fn say_hello(&self, request: Request<Hello>) -> Result<Response<Hello>, Status>;
//! }
//!
//! struct MyGreeter;
//!
//! impl Greeter for MyGreeter {
//!     async fn say_hello(&self, request: Request<Hello>) -> Result<Response<Hello>, Status> {
//!         let over_http = request.extensions().get::<rpc_grpc::HttpCall>().is_some();
//!         let name = request.into_inner().name;
//!         Ok(Response::new(Hello { name: format!("hello {name} (HTTP/2: {over_http})") }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cert = rpc_core::tls::dev::SelfSigned::generate(&["localhost"])?;
//! let server = Server::builder()
//!     .tls_config(cert.server_config()?)
//!     .add_service(greeter_server::GreeterServer::new(MyGreeter))
//!     .bind("127.0.0.1:0".parse()?)?;
//! // The same services as gRPC over HTTP/2 (h2c here), on a TCP port.
//! let http = rpc_grpc::GrpcServer::new(server.handle())
//!     .bind("127.0.0.1:0".parse()?)
//!     .await?;
//! let url = format!("http://{}", http.local_addr());
//! let handle = server.handle();
//! tokio::spawn(http.serve());
//! let serving = tokio::spawn(server.serve());
//!
//! // Any gRPC client can call it; here, the generated client over an HTTP/2 channel.
//! let channel = rpc_grpc::GrpcConnector::new(&url)?.connect().await?;
//! let client = greeter_client::GreeterClient::new(channel);
//! let reply = client.say_hello(Hello { name: "Ada".into() }).await?;
//! assert_eq!(reply.into_inner().name, "hello Ada (HTTP/2: true)");
//!
//! handle.shutdown();
//! serving.await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod client;
mod cors;
mod fallback;
mod frames;
mod mapping;
mod server;

pub use client::{ClientConn, ClientRecv, ClientSend, ConnectorError, GrpcConnector};
pub use cors::Cors;
pub use fallback::{FallbackConnector, FallbackMemory, Transport, Via};
pub use mapping::{format_timeout, parse_timeout, TimeoutError};
pub use server::{
    BoundGrpcServer, GrpcServer, HttpCall, Protocol, DEFAULT_MAX_LOCAL_ERROR_RESET_STREAMS,
    DEFAULT_MAX_PENDING_ACCEPT_RESET_STREAMS,
};
