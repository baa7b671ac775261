//! Build-time code generator for `rpc-core`: `.proto` services become a typed
//! client and a server trait, like `tonic-build` does for tonic.
//!
//! Two layers:
//!
//! * **Always on**: the service [model](Service) (plain data) and the
//!   [generator](generate) (`model -> TokenStream`), plus [`format_tokens`].
//!   A proc-macro crate depends on `rpc-codegen` with
//!   `default-features = false` and gets only this: no prost-build, no protox.
//! * **Feature `build`** (default): the `.proto` front end — [`compile_protos`]
//!   and [`configure`] — on top of `prost-build`.
//!
//! # Usage
//!
//! ```rust,no_run
//! // build.rs
//! fn main() -> std::io::Result<()> {
//!     rpc_codegen::compile_protos("proto/helloworld.proto")?;
//!     // or, with options:
//!     rpc_codegen::configure()
//!         .build_server(false)
//!         .compile_protos(&["proto/helloworld.proto"], &["proto"])?;
//!     Ok(())
//! }
//! ```
//!
//! ```rust,ignore
//! // src/lib.rs: one file per protobuf package, named after it (`_` without a package)
//! pub mod helloworld {
//!     rpc_core::include_proto!("helloworld");
//! }
//! ```
//!
//! # Generated code
//!
//! For `service Greeter` in package `helloworld`:
//!
//! * `greeter_client::GreeterClient`: `new(Channel)`, `connect(dst)`,
//!   `channel()`, and one `async fn` per RPC.
//! * `greeter_server::Greeter`: a trait with one method per RPC returning
//!   `impl Future<Output = Result<Response<_>, Status>> + Send` (write them as
//!   `async fn`), plus an associated `<Method>Stream` type per
//!   server-streaming RPC; `greeter_server::GreeterServer<T>` wraps an
//!   implementation as an `rpc_core` service.
//!
//! Everything is named through `::rpc_core::codegen` (configurable with
//! [`GenConfig::crate_path`] / `Builder::crate_path`). Proto comments become
//! docs; `deprecated = true` becomes `#[deprecated]`.
//!
//! ## Names
//!
//! * Rust keywords become raw identifiers (`r#type`); `self`, `super`,
//!   `crate`, `Self` and `extern`, which can't be raw, get a `_` suffix.
//! * RPCs whose snake_case names collide (`GetFoo` and `get_foo`), or that
//!   collide with the client's own `new`/`connect`/`channel`/`clone`
//!   ([`naming::CLIENT_RESERVED`]), are renamed
//!   deterministically: the first in declaration order keeps the name, later
//!   ones get `_2`, `_3`, ... (the route still uses the proto name).
//! * The stream type of a server-streaming RPC is the UpperCamelCase of its
//!   final Rust name plus `Stream` (`list_things` -> `ListThingsStream`).
//!
//! # Where descriptors come from
//!
//! | `Protoc`     | uses |
//! |--------------|------|
//! | `Auto` (default) | `$PROTOC` if set; else protox, falling back to the vendored protoc (feature `vendored-protoc`) when protox fails |
//! | `Protox`     | protox only |
//! | `System`     | `$PROTOC`, or `protoc` on `PATH` |
//! | `Vendored`   | the `protoc` binary from `protoc-bin-vendored` |
//!
//! protox (pure Rust) is the default so that a plain `cargo build` needs no
//! external tool. It has known limits: protox 0.10 rejects
//! `edition = "2023"` files, and it mis-resolves some dotted relative type
//! names in very large trees (Envoy). With `vendored-protoc`, `Auto` retries
//! such inputs with a real `protoc` and prints a `cargo:warning`; if that
//! fails too, the error shows protox's diagnostic plus protoc's output.
//!
//! `vendored-protoc` is **not** a default feature: it costs nothing to
//! compile, but it downloads the protoc binaries of all eight platforms the
//! crate supports (about 30 MB) into every user's cargo cache, for a fallback
//! most projects never need. Projects with editions or Envoy-sized trees turn
//! it on (or set `PROTOC`).
//!
//! Errors in `.proto` files come back as an [`std::io::Error`] whose message
//! (and `Debug` output, which is what cargo prints when `main` returns it)
//! names the file, line and column and quotes the line; the payload is a
//! `ProtoError`.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod generate;
mod ident;
mod model;

#[cfg(feature = "build")]
mod build;

pub use generate::{format_tokens, generate, generate_string, GenConfig};
pub use model::{Idempotency, Method, MethodKind, Service};

/// The name conversions and reserved client method names the generator uses, for other front
/// ends (the `#[service]` macro) that must derive the same routes and module names from Rust
/// names and reject the same method names.
pub mod naming {
    pub use crate::ident::{to_snake, to_upper_camel, CLIENT_RESERVED};
}

#[cfg(feature = "build")]
pub use build::{compile_protos, configure, Builder, ProtoError, Protoc};
