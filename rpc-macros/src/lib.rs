//! # rpc-macros: services defined in Rust, without a `.proto`
//!
//! [`#[service]`](macro@service) turns a Rust trait into the same client and server that
//! `rpc-codegen` generates from a `.proto` file: the trait is read into `rpc-codegen`'s
//! service model and handed to the same generator. Routes, message encodings and the shape of
//! the generated code are identical, so a client from one front end calls a server from the
//! other.
//!
//! Use it as `#[rpc_core::service]` (re-exported by `rpc-core`'s default `macros` feature) or
//! as `#[rpc_macros::service]`. [`#[derive(Descriptor)]`](derive@Descriptor) on the messages
//! gives the service protobuf descriptors too, for a reflection service (see
//! [Descriptors and server reflection](#descriptors-and-server-reflection)).
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
//! * `foo_descriptor::file_descriptor_set()`: the encoded `FileDescriptorSet` of the service
//!   and its messages, for a reflection service (see
//!   [below](#descriptors-and-server-reflection));
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
//! | `descriptor = false` | leave out the `foo_descriptor` module |
//!
//! Doc comments on the trait and its methods become the docs of the generated client and
//! server, `#[deprecated]` (its note is dropped) deprecates the service or method in both,
//! and `#[cfg(...)]` on the trait applies to everything emitted. On a method, `#[rpc(...)]`
//! takes `name = "Method"`, one of `idempotent` or `no_side_effects` (protobuf's
//! `idempotency_level`, recorded in the service model), and `priority = N`: the QUIC stream
//! priority of the method's calls, set by the client on its requests and by the server on its
//! responses (higher first; a request's own non-zero `Request::set_priority` wins), and
//! `datagrams`: the method's calls carry unreliable datagrams beside their stream (rpc-core's
//! `datagram` module, PROTOCOL.md §18), for server-streaming and bidirectional methods only.
//! The same options in a `.proto` file are `(qrpc.priority)` and `(qrpc.datagrams)` from
//! `qrpc/options.proto`, and give the same code.
//!
//! # Descriptors and server reflection
//!
//! A reflection service (`rpc-reflection`, which the `qrpc` command line client asks) lists
//! and describes a server's services from their protobuf descriptors. A `.proto` service gets
//! them from the compiler; for a trait, the macros build them:
//!
//! 1. `#[derive(rpc_core::Descriptor)]` on each message, next to `prost::Message`, and on the
//!    `prost::Enumeration` and `prost::Oneof` enums the messages use. It reads the same
//!    `#[prost(...)]` attributes prost does.
//! 2. `foo_descriptor::file_descriptor_set()`, emitted by `#[service]` for `trait Foo`,
//!    returns the encoded `FileDescriptorSet` of the service and of every type it uses
//!    (built at the first call). Register it with the reflection service: that is the one
//!    line to add.
//!
//! ```
//! use rpc_core::{Request, Response, Status};
//!
//! /// Who to greet.
//! #[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
//! pub struct HelloRequest {
//!     #[prost(string, tag = "1")]
//!     pub name: String,
//!     #[prost(enumeration = "Mood", tag = "2")]
//!     pub mood: i32,
//! }
//!
//! #[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration, rpc_core::Descriptor)]
//! #[repr(i32)]
//! pub enum Mood {
//!     Unspecified = 0, // MOOD_UNSPECIFIED
//!     Cheerful = 1,    // MOOD_CHEERFUL
//! }
//!
//! #[rpc_core::service(package = "helloworld", name = "Greeter")]
//! pub trait Greeter {
//!     /// Sends a greeting.
//!     async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<String>, Status>;
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reflection = rpc_reflection::Builder::configure()
//!     .register_encoded_file_descriptor_set(greeter_descriptor::file_descriptor_set())
//!     .build_v1()?;
//! // Server::builder().add_service(GreeterServer::new(..)).add_service(reflection)...
//! # Ok(()) }
//! ```
//!
//! The service then answers `list` (`helloworld.Greeter`) and `describe` with the service,
//! its methods, the messages and enumerations, and the doc comments as the comments of a
//! `.proto` would be. The descriptors are those of the `.proto` with the same declarations
//! (`examples/tests/cross_front_end.rs` compares them with protox's, field by field).
//!
//! ## What is described
//!
//! | `#[prost(...)]` | in the descriptor |
//! |---|---|
//! | `double`, `float`, `int32`, `int64`, `uint32`, `uint64`, `sint32`, `sint64`, `fixed32`, `fixed64`, `sfixed32`, `sfixed64`, `bool`, `string`, `bytes` (`= "vec"`, `= "bytes"`) | that scalar |
//! | `enumeration = "Mood"` (or `enumeration(Mood)`) | the enumeration, which derives `Descriptor` too |
//! | `message` | the message type `T` of the field's `Option<T>`, `Option<Box<T>>` or (`repeated`) `Vec<T>` |
//! | with `optional` | proto3 `optional` (with its synthetic oneof); a message field is singular either way |
//! | with `repeated` | `repeated`, numbers packed as proto3's default; `packed = "false"` is `[packed = false]` |
//! | `map`, `hash_map`, `btree_map = "K, V"` | `map<K, V>`; `V` a scalar, `enumeration(Path)` or `message` (the Rust map's value type) |
//! | `oneof = "hello::Choice", tags = "..."` | a oneof named after the field, whose fields are `Choice`'s variants |
//! | `required`, `default = ...`, `group` | a compile error: proto3 has none of them |
//!
//! A field without a `tag` is numbered after the one before it, as prost numbers it. The
//! types prost maps well-known types to are described as those: `()` is
//! `google.protobuf.Empty`; `String`, `Vec<u8>`, `bytes::Bytes`, `bool`, `i32`, `i64`,
//! `u32`, `u64`, `f32` and `f64` are the wrappers (`google.protobuf.StringValue`, ...), as
//! message fields and as request or response types; `prost_types::{Timestamp, Duration, Any,
//! FieldMask, Struct, Value, ListValue, NullValue}` are themselves. Their files
//! (`google/protobuf/timestamp.proto`, ...) are in the set, the same as protoc's but for the
//! comments, so a reflection service takes the set next to sets compiled from `.proto` files.
//!
//! ## Names and files
//!
//! * A message or enumeration is `<package>.<Name>`: `#[descriptor(package = "...")]` on the
//!   type, by default the package of the service being described; `#[descriptor(name =
//!   "...")]`, by default the Rust type's name.
//! * A field is named as in Rust (`r#type` is `type`), a oneof after its field, a oneof's
//!   fields after their variants in snake_case (`Choice::InnerMsg` is `inner_msg`), an
//!   enumeration value `<ENUM>_<VARIANT>` (`Mood::Cheerful` is `MOOD_CHEERFUL`, which
//!   prost-build turns back into `Cheerful`). `#[descriptor(name = "...")]` on a field or
//!   variant names it otherwise.
//! * Doc comments become leading comments (`///` lines, as protoc keeps `//` lines);
//!   `#[deprecated]` is `deprecated = true`; `#[rpc(idempotent)]` and
//!   `#[rpc(no_side_effects)]` are the method's `idempotency_level`.
//! * The service is in the file `<package path>/<Service>.proto` (`helloworld/Greeter.proto`),
//!   each message and enumeration in `<package path>/<Name>.proto`, which imports the files
//!   of the types it uses. One file per type, not per service, so that two services sharing
//!   a message hold the same file for it and register together; types that refer to each
//!   other in a cycle share one file, named after the first of them by name.
//!
//! A trait whose messages have no descriptors compiles as before: the requirement is on
//! `file_descriptor_set()`, checked where it is called (the error names the type without a
//! descriptor). `file_descriptor_set()` panics if two Rust types have the same protobuf name,
//! or if types of different packages refer to each other in a cycle (protobuf files cannot
//! import each other).
//!
//! Not described: types nested in a message (every described type is declared at the top of
//! its package), proto2 features, extensions and custom options, generic types, and types
//! generated from `.proto` files used as fields (they have descriptors of their own, which
//! the macros do not reach), nor the other `prost_types` (`Type`, `Api`, the descriptors
//! themselves).
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
mod descriptor;
mod names;
mod prost_attr;
mod service;
mod service_descriptor;

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

/// Derives the protobuf descriptor of a prost message, enumeration or oneof from its
/// `#[prost(...)]` attributes, for the descriptors of a [`#[service]`](macro@service); see
/// the [crate documentation](crate#descriptors-and-server-reflection).
///
/// ```ignore
/// #[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
/// pub struct HelloRequest {
///     #[prost(string, tag = "1")]
///     pub name: String,
/// }
/// ```
// `prost` too: the derive reads the attributes prost's derives read, which are then known
// even without prost's derive (and this derive's own errors are not buried under theirs).
#[proc_macro_derive(Descriptor, attributes(descriptor, prost))]
pub fn derive_descriptor(item: TokenStream) -> TokenStream {
    descriptor::expand(item.into()).into()
}
