//! # rpc-core: protobuf RPC over QUIC
//!
//! The runtime of a gRPC-style RPC framework whose transport is QUIC (quinn + rustls): every
//! call is its own QUIC stream, so calls never block each other, and one connection carries
//! any number of them. Unary, server-streaming, client-streaming and bidirectional calls;
//! deadlines; cancellation; metadata; gRPC's status codes; tower middleware on both sides.
//!
//! ## A service, end to end
//!
//! Services are described in `.proto` files and turned into a typed client and a server
//! trait by `rpc-codegen` in `build.rs` (see the README), or written as a Rust trait with
//! [`#[service]`](macro@service). Both produce the same code: for a service `Greeter`, a
//! client `greeter_client::GreeterClient` and a trait `greeter_server::Greeter`, served by
//! `greeter_server::GreeterServer`.
//!
//! ```
//! use futures_util::{stream, Stream, StreamExt};
//! use rpc_core::tls::dev::SelfSigned;
//! use rpc_core::{Endpoint, Request, Response, Server, Status, Streaming};
//!
//! #[derive(Clone, PartialEq, prost::Message)]
//! pub struct Hello {
//!     #[prost(string, tag = "1")]
//!     pub name: String,
//! }
//!
//! #[rpc_core::service(package = "helloworld", name = "Greeter")]
//! pub trait Greeter {
//!     /// One request, one response.
//!     async fn say_hello(&self, request: Request<Hello>) -> Result<Response<Hello>, Status>;
//!     /// One request, a stream of responses.
//!     async fn say_hellos(
//!         &self,
//!         request: Request<Hello>,
//!     ) -> Result<Response<impl Stream<Item = Result<Hello, Status>> + Send + 'static>, Status>;
//!     /// A stream of requests, one response.
//!     async fn greet_all(&self, request: Request<Streaming<Hello>>) -> Result<Response<Hello>, Status>;
//! }
//!
//! struct MyGreeter;
//!
//! type HelloStream = std::pin::Pin<Box<dyn Stream<Item = Result<Hello, Status>> + Send>>;
//!
//! impl Greeter for MyGreeter {
//!     async fn say_hello(&self, request: Request<Hello>) -> Result<Response<Hello>, Status> {
//!         let name = request.into_inner().name;
//!         Ok(Response::new(Hello { name: format!("hello {name}") }))
//!     }
//!
//!     type SayHellosStream = HelloStream;
//!     async fn say_hellos(&self, request: Request<Hello>) -> Result<Response<HelloStream>, Status> {
//!         let name = request.into_inner().name;
//!         let replies = (1..=3).map(move |i| Ok(Hello { name: format!("hello #{i}, {name}") }));
//!         Ok(Response::new(stream::iter(replies).boxed()))
//!     }
//!
//!     async fn greet_all(&self, request: Request<Streaming<Hello>>) -> Result<Response<Hello>, Status> {
//!         let mut names = Vec::new();
//!         let mut requests = request.into_inner();
//!         while let Some(hello) = requests.message().await? {
//!             names.push(hello.name);
//!         }
//!         Ok(Response::new(Hello { name: format!("hello {}", names.join(" and ")) }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // QUIC always runs TLS: a real certificate in production, the development helper here.
//! let cert = SelfSigned::generate(&["localhost"])?;
//! let server = Server::builder()
//!     .tls_config(cert.server_config()?)
//!     .add_service(greeter_server::GreeterServer::new(MyGreeter))
//!     .bind("127.0.0.1:0".parse()?)?;
//! let port = server.local_addr().port();
//! let handle = server.handle();
//! let serving = tokio::spawn(server.serve());
//!
//! let channel = Endpoint::new(format!("localhost:{port}"))?
//!     .tls_config(cert.client_config())
//!     .connect()
//!     .await?;
//! let client = greeter_client::GreeterClient::new(channel);
//!
//! let reply = client.say_hello(Hello { name: "Ada".into() }).await?;
//! assert_eq!(reply.into_inner().name, "hello Ada");
//!
//! let mut replies = client.say_hellos(Hello { name: "Ada".into() }).await?.into_inner();
//! while let Some(reply) = replies.message().await? {
//!     println!("{}", reply.name);
//! }
//!
//! let names = stream::iter(["Ada", "Grace"].map(|n| Hello { name: n.into() }));
//! let reply = client.greet_all(names).await?;
//! assert_eq!(reply.into_inner().name, "hello Ada and Grace");
//!
//! handle.shutdown();
//! serving.await?;
//! # Ok(()) }
//! ```
//!
//! ## Writing streaming handlers
//!
//! * A **streamed response** is any `Stream<Item = Result<T, Status>>`: the server sends each
//!   `Ok` as it comes, and an `Err` ends the call with that status after the messages
//!   already sent. The trait names its type (`type SayHellosStream = ...`); a boxed stream
//!   is the simplest, a channel receiver (`tokio_stream::wrappers::ReceiverStream`) feeds
//!   one from another task.
//! * **Streamed requests** arrive as a [`Streaming<T>`]: `message().await` gives
//!   `Ok(Some(m))` per message, `Ok(None)` at the client's end, `Err(status)` if the call
//!   failed. It is a `Stream` too.
//! * A call the client cancels, or whose deadline passes, drops the handler's future (and
//!   its streams) at its next `.await`: no status to send, nothing to clean up.
//! * [`Request::remaining`] tells how long the client still waits; [`Request::metadata`]
//!   and [`Request::extensions`] carry headers and what interceptors or layers stored.
//!
//! ## Beyond a call
//!
//! [`Endpoint`] configures a [`Channel`] (timeouts, limits, TLS, interceptors); the
//! [`client::service`] module makes calls a tower `Service`, so generated clients take any
//! tower stack over a channel. [`ServerBuilder`] has limits, graceful shutdown,
//! interceptors and [`ServerBuilder::layer`]. [`transport`] is the seam under both: QUIC by
//! default, in-memory connections for tests. The wire protocol is specified in
//! `docs/PROTOCOL.md`, the layers in `docs/ARCHITECTURE.md`; [`wire`] implements the
//! protocol without I/O.
#![deny(missing_docs)]

pub mod call_info;
pub mod client;
pub mod codec;
#[doc(hidden)]
pub mod codegen;
pub mod compression;
mod config;
pub mod datagram;
mod error;
pub mod interceptor;
pub mod metadata;
mod request;
pub mod server;
mod status;
mod streaming;
pub mod tls;
pub mod transport;
pub mod wire;

pub use call_info::CallInfo;
pub use client::{Channel, Endpoint};
pub use compression::CompressionEncoding;
pub use config::{
    DEFAULT_MAX_CONCURRENT_CALLS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_LIST_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_UDP_PAYLOAD_SIZE, LOSSY_PATH_MAX_ACK_DELAY,
};
pub use error::Error;
pub use interceptor::Interceptor;
pub use metadata::MetadataMap;
pub use request::{IntoRequest, IntoStreamingRequest, Request, Response};
pub use server::{Server, ServerBuilder};
pub use status::{Code, Status};
pub use streaming::Streaming;

/// Defines a service from a Rust trait (feature `macros`, on by default): the same client
/// and server code as a `.proto` file gives; see the crate docs for an example and the
/// `rpc-macros` crate for the attribute's options.
#[cfg(feature = "macros")]
pub use rpc_macros::service;

/// Derives the protobuf descriptor of a prost message, enumeration or oneof (feature
/// `macros`), so that a [`#[service]`](macro@service)'s `<trait>_descriptor` module can
/// describe the service to a reflection service; see the `rpc-macros` crate.
#[cfg(feature = "macros")]
pub use rpc_macros::Descriptor;

/// Includes the code generated by `rpc-codegen` for a protobuf package.
///
/// ```ignore
/// pub mod helloworld {
///     rpc_core::include_proto!("helloworld");
/// }
/// ```
#[macro_export]
macro_rules! include_proto {
    ($package:tt) => {
        include!(concat!(env!("OUT_DIR"), concat!("/", $package, ".rs")));
    };
}
