//! # rpc-macros: services defined in Rust, without a `.proto`
//!
//! [`#[service]`](macro@service) turns a Rust trait into the same client and server that
//! `rpc-codegen` generates from a `.proto` file: the trait is read into `rpc-codegen`'s
//! service model and handed to the same generator. Routes, message encodings and the shape of
//! the generated code are identical, so a client from one front end calls a server from the
//! other.
//!
//! Use it as `#[rpc_core::service]` (re-exported by `rpc-core`'s default `macros` feature) or
//! as `#[rpc_macros::service]`.
//!
//! # Example
//!
//! ```
//! use futures_util::{stream, Stream, StreamExt, TryStreamExt};
//! use rpc_core::{tls::dev::SelfSigned, Endpoint, Request, Response, Server, Status, Streaming};
//! use std::pin::Pin;
//!
//! // Messages are prost messages, written by hand (or shared with a `.proto` build).
//! #[derive(Clone, PartialEq, prost::Message)]
//! pub struct Number {
//!     #[prost(int64, tag = "1")]
//!     pub value: i64,
//! }
//!
//! /// Arithmetic over QUIC.
//! #[rpc_core::service(package = "calc", name = "Calculator")]
//! pub trait Calculator {
//!     /// Unary: `/calc.Calculator/Square`.
//!     async fn square(&self, request: Request<Number>) -> Result<Response<Number>, Status>;
//!
//!     /// Server streaming: counts from 1 up to the request.
//!     async fn count_to(
//!         &self,
//!         request: Request<Number>,
//!     ) -> Result<Response<impl Stream<Item = Result<Number, Status>>>, Status>;
//!
//!     /// Client streaming: adds up the requests.
//!     async fn sum(&self, request: Request<Streaming<Number>>) -> Result<Response<Number>, Status>;
//!
//!     /// Bidirectional: a running total after each request.
//!     #[rpc(name = "RunningTotal")]
//!     async fn totals(
//!         &self,
//!         request: Request<Streaming<Number>>,
//!     ) -> Result<Response<impl Stream<Item = Result<Number, Status>>>, Status>;
//! }
//!
//! // The macro replaced the trait with `calculator_client::CalculatorClient`,
//! // `calculator_server::{Calculator, CalculatorServer}`, and re-exported the server trait
//! // here under the trait's name. Implement it like a generated one:
//! type NumberStream = Pin<Box<dyn Stream<Item = Result<Number, Status>> + Send>>;
//!
//! struct Calc;
//!
//! impl Calculator for Calc {
//!     async fn square(&self, request: Request<Number>) -> Result<Response<Number>, Status> {
//!         let n = request.into_inner().value;
//!         Ok(Response::new(Number { value: n * n }))
//!     }
//!
//!     // One associated type per streamed response: `<UpperCamelCase method name>Stream`.
//!     type CountToStream = NumberStream;
//!     async fn count_to(&self, request: Request<Number>) -> Result<Response<NumberStream>, Status> {
//!         let n = request.into_inner().value;
//!         Ok(Response::new(stream::iter((1..=n).map(|value| Ok(Number { value }))).boxed()))
//!     }
//!
//!     async fn sum(&self, request: Request<Streaming<Number>>) -> Result<Response<Number>, Status> {
//!         let mut requests = request.into_inner();
//!         let mut value = 0;
//!         while let Some(n) = requests.message().await? {
//!             value += n.value;
//!         }
//!         Ok(Response::new(Number { value }))
//!     }
//!
//!     type TotalsStream = NumberStream;
//!     async fn totals(
//!         &self,
//!         request: Request<Streaming<Number>>,
//!     ) -> Result<Response<NumberStream>, Status> {
//!         let mut total = 0;
//!         let totals = request.into_inner().map(move |n| {
//!             total += n?.value;
//!             Ok(Number { value: total })
//!         });
//!         Ok(Response::new(totals.boxed()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cert = SelfSigned::generate(&["localhost"])?;
//! let server = Server::builder()
//!     .tls_config(cert.server_config()?)
//!     .add_service(calculator_server::CalculatorServer::new(Calc))
//!     .bind("127.0.0.1:0".parse()?)?;
//! let (addr, handle) = (server.local_addr(), server.handle());
//! let serving = tokio::spawn(server.serve());
//!
//! let channel = Endpoint::new(format!("localhost:{}", addr.port()))?
//!     .tls_config(cert.client_config())
//!     .connect()
//!     .await?;
//! let client = calculator_client::CalculatorClient::new(channel);
//!
//! assert_eq!(client.square(Number { value: 7 }).await?.into_inner().value, 49);
//!
//! let mut counted = client.count_to(Number { value: 3 }).await?.into_inner();
//! while let Some(n) = counted.message().await? {
//!     println!("{}", n.value); // 1, 2, 3
//! }
//!
//! let numbers = || stream::iter([1, 2, 3].map(|value| Number { value }));
//! assert_eq!(client.sum(numbers()).await?.into_inner().value, 6);
//!
//! let totals: Vec<i64> = client
//!     .totals(numbers())
//!     .await?
//!     .into_inner()
//!     .map_ok(|n| n.value)
//!     .try_collect()
//!     .await?;
//! assert_eq!(totals, [1, 3, 6]);
//!
//! handle.shutdown();
//! serving.await?;
//! # Ok(()) }
//! ```
//!
//! # The trait
//!
//! Write the trait the way the generated server trait is implemented: each method is an
//! `async fn` taking `&self` and one request argument, returning `Result<Response<_>, Status>`.
//! The argument and return types say which of the four call kinds an RPC is:
//!
//! | call kind | request argument | return type |
//! |---|---|---|
//! | unary | `Request<A>` | `Result<Response<B>, Status>` |
//! | server streaming | `Request<A>` | `Result<Response<impl Stream<Item = Result<B, Status>>>, Status>` |
//! | client streaming | `Request<Streaming<A>>` | `Result<Response<B>, Status>` |
//! | bidirectional | `Request<Streaming<A>>` | `Result<Response<impl Stream<Item = Result<B, Status>>>, Status>` |
//!
//! `A` and `B` are prost messages (`#[derive(prost::Message)]`), `()`, or one of the types
//! prost implements `Message` for (`String`, `Vec<u8>`, `bool`, `i64`, ...). `Request`,
//! `Response`, `Status` and `Streaming` are `rpc_core`'s; `Stream` is `futures_core`'s
//! (also `futures_util::Stream`). They are recognised by name, so `rpc_core::Request<A>` works
//! as well; the macro does not need them imported, but a reader (and an IDE) does.
//!
//! A streamed response is written `impl Stream<...>` because the implementation returns any
//! stream it likes: in the generated trait each server-streaming method has an associated type,
//! `<Method>Stream` (the UpperCamelCase of the Rust method name plus `Stream`, e.g.
//! `count_to` -> `CountToStream`), which the implementation sets, exactly like a trait
//! generated from a `.proto`.
//!
//! ## Message types and paths
//!
//! The generated modules sit next to the trait, and message types are resolved from the
//! module the trait is in: a type defined or imported (`use`) there works as written, as
//! does a path from the crate root (`crate::pb::Point`), `super::...`, or an absolute path
//! (`::prost_types::Timestamp`). A path starting with another crate's name
//! (`prost_types::Timestamp`) needs the leading `::` (or a `use`).
//!
//! # What the macro emits
//!
//! For `trait Foo` (generated modules are named after the trait, not after `name = ...`):
//!
//! * `foo_client::FooClient<S = Channel>`: `new(channel)` (or `new(stack)` over any tower stack
//!   of a channel), `connect(dst)`, `channel()`, one `async fn` per RPC (streaming requests
//!   take any `Stream`, streamed responses come back as a `Streaming<B>`);
//! * `foo_server::Foo`, the server trait, and `foo_server::FooServer<T>`, which serves a
//!   `T: Foo` (`Server::builder().add_service(FooServer::new(my_foo))`);
//! * `use foo_server::Foo;` with the trait's visibility, so the trait is still found
//!   under its own name where it was written;
//! * a check that each message type is a prost message, reported on the type itself.
//!
//! The trait as written is not emitted: it is replaced by the generated one.
//!
//! # Names and routes
//!
//! The route of a method is `/<package>.<Service>/<Method>` (`/<Service>/<Method>` without a
//! package), as for a `.proto` with the same names:
//!
//! * `package` is `#[service(package = "...")]` (none by default);
//! * `Service` is `#[service(name = "...")]`, or the trait's name;
//! * `Method` is `#[rpc(name = "...")]`, or the UpperCamelCase of the Rust method name
//!   (`say_hello` -> `SayHello`, the inverse of what the `.proto` front end does).
//!
//! # Attributes
//!
//! On the trait, `#[service(...)]` takes:
//!
//! | argument | meaning |
//! |---|---|
//! | `package = "helloworld"` | the protobuf package (dot-separated identifiers) |
//! | `name = "Greeter"` | the protobuf service name (default: the trait's name) |
//! | `crate = "::my_rpc_core"` | path of the runtime crate, if it is renamed (default `::rpc_core`) |
//! | `client = false` / `server = false` | leave out the client / server module |
//!
//! Doc comments on the trait and its methods become the docs of the generated client and
//! server, `#[deprecated]` (its note is dropped) deprecates the service or method in both,
//! and `#[cfg(...)]` on the trait applies to everything emitted. On a method, `#[rpc(...)]`
//! takes `name = "Method"` and one of `idempotent` or `no_side_effects` (protobuf's
//! `idempotency_level`, recorded in the service model).
//!
//! # Errors
//!
//! Mistakes in the trait (a method that is not `async`, takes no `&self`, has more or fewer
//! than one request argument, uses an unsupported type, is generic, has a body; a generic trait;
//! duplicate names; unknown attributes) are compile errors pointing at the offending code. The
//! trait is then emitted as written next to the errors, so IDEs keep working.
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod args;
mod names;
mod service;

/// Defines an RPC service from a trait; see the [crate documentation](crate) for the input
/// and the output.
///
/// ```ignore
/// #[rpc_core::service(package = "helloworld", name = "Greeter")]
/// pub trait Greeter {
///     /// Sends a greeting.
///     async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status>;
/// }
/// ```
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    service::expand(attr.into(), item.into()).into()
}
