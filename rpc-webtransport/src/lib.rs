//! # rpc-webtransport: rpc-core services for browsers, over WebTransport
//!
//! Browsers cannot open raw QUIC connections, but they can open WebTransport sessions
//! (HTTP/3). This crate serves an rpc-core server's services over WebTransport, with the
//! **same wire protocol** as native clients: each bidirectional WebTransport stream carries
//! one call in qrpc/1 framing (request head, messages, trailers; `docs/PROTOCOL.md` §4–§6,
//! mapping in §19). Calls go through the server's normal routing, layers, interceptors,
//! deadlines, limits and graceful shutdown.
//!
//! * [`WebTransportServer`] serves a server's services on a UDP port, next to its QUIC port.
//!   A handler can tell such calls by the [`WebTransportCall`] in their extensions.
//! * [`dev::BrowserDevCertificate`] makes the short-lived ECDSA certificate that browsers
//!   accept by hash (`serverCertificateHashes`), for development and tests.
//! * [`WebTransportConnector`] is the Rust client side (a [`Connector`](rpc_core::transport::Connector)
//!   for a [`Channel`](rpc_core::Channel)), for tests and tools.
//! * `js/qrpc.mjs`, shipped with the crate, is the browser client: a plain ES module, no
//!   build step (see `js/README.md`).
//!
//! ```
//! use rpc_core::{Request, Response, Server, Status};
//! use rpc_webtransport::{dev::BrowserDevCertificate, WebTransportCall, WebTransportConnector, WebTransportServer};
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
//!         let web = request.extensions().get::<WebTransportCall>().is_some();
//!         let name = request.into_inner().name;
//!         Ok(Response::new(Hello { name: format!("hello {name} (WebTransport: {web})") }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Browsers pin this certificate by its hash; production servers use a CA's.
//! let cert = BrowserDevCertificate::loopback()?;
//! let server = Server::builder()
//!     .tls_config(cert.server_config()?)
//!     .add_service(greeter_server::GreeterServer::new(MyGreeter))
//!     .bind("127.0.0.1:0".parse()?)?;
//! let wt = WebTransportServer::new(server.handle())
//!     .bind("127.0.0.1:0".parse()?, cert.server_config()?)?;
//! // A page calls `new WebTransport(url, {serverCertificateHashes: [{algorithm: "sha-256",
//! // value: <cert.sha256()>}]})`; this Rust client does the same.
//! let url = wt.url();
//! let handle = server.handle();
//! tokio::spawn(wt.serve());
//! let serving = tokio::spawn(server.serve());
//!
//! let connector = WebTransportConnector::with_certificate_hash(url, cert.sha256())?;
//! let channel = rpc_core::Endpoint::from_connector(connector).connect().await?;
//! let reply = greeter_client::GreeterClient::new(channel)
//!     .say_hello(Hello { name: "Ada".into() })
//!     .await?;
//! assert_eq!(reply.into_inner().name, "hello Ada (WebTransport: true)");
//!
//! handle.shutdown();
//! serving.await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod client;
mod codes;
mod conn;
pub mod dev;
mod server;

pub use client::{ConnectorError, WebTransportConnector};
pub use conn::{WebTransportCall, WebTransportConnection, WebTransportRecv, WebTransportSend};
pub use server::{
    BindError, BoundWebTransportServer, WebTransportServer, DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_MAX_SESSIONS, DEFAULT_PATH,
    DEFAULT_RETRY_AFTER_HANDSHAKES,
};
