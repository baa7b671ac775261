//! Build-time code generator for `rpc-core`: `.proto` services become a typed
//! client and a server trait, like `tonic-build` does for tonic.
//!
//! Two layers:
//!
//! * **Always on**: the service [model](Service) (plain data) and the
//!   [generator](generate) (`model -> TokenStream`), plus [`format_tokens`].
//!   A proc-macro crate depends on `rpc-codegen` with
//!   `default-features = false` and gets only this: no prost-build, no protox.
//! * **Feature `build`** (default): the `.proto` front end — [`compile_protos`],
//!   [`configure`] and [`compile_descriptor_set`] — on top of `prost-build`.
//!
//! # Usage
//!
//! ```toml
//! [dependencies]
//! rpc-core = "0.1"
//! tokio = { version = "1.40", features = ["rt-multi-thread", "macros"] }
//!
//! [build-dependencies]
//! rpc-codegen = "0.1"
//! ```
//!
//! The generated code needs no `prost` or `prost-types` dependency: it names
//! them through `rpc-core` (see [`Builder::crate_path`]).
//!
//! ```rust,no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     rpc_codegen::compile_protos("proto/helloworld.proto")?;
//!     // or, with options and explicit include folders (like `protoc -I proto`):
//!     rpc_codegen::configure()
//!         .build_server(false)
//!         .compile_protos(&["inventory/v1/inventory.proto"], &["proto"])?;
//!     Ok(())
//! }
//! ```
//!
//! # Include folders
//!
//! Imports are resolved as `protoc` does: an `import "a/b.proto";` names a
//! path relative to one of the include folders, searched in order (the
//! well-known `google/protobuf/*.proto` files are built in).
//!
//! * [`Builder::compile_protos`] takes the folders explicitly (`protoc -I`);
//!   none means the current directory, `protoc`'s default. A file argument
//!   that doesn't exist as given is looked up in the include folders, so it
//!   may be written relative to one (`"inventory/v1/inventory.proto"` with
//!   include `"proto"`).
//! * [`compile_protos`] searches the file's own folder, then each folder above
//!   it: for `proto/inventory/v1/inventory.proto`, `proto/inventory/v1`,
//!   `proto/inventory`, `proto` and `.` (a build script runs in the package's
//!   folder).
//!
//! An import found in none of them is an error that lists the folders searched.
//!
//! # qrpc's method options
//!
//! `import "qrpc/options.proto";` works without a copy of the file: the generator serves it
//! (to protox from memory, to `protoc` from a folder it writes in the output folder) after
//! your include folders, so a file of yours with that name wins. It declares two method
//! options, read from the compiled descriptors into the same [`Method`] fields the
//! `rpc-macros` attributes fill, so both front ends generate the same code:
//!
//! | option | extension number | [`Method`] field | `#[rpc(...)]` |
//! |---|---|---|---|
//! | `(qrpc.priority)` (`int32`) | 51701 | [`priority`](Method::priority) | `priority = N` |
//! | `(qrpc.datagrams)` (`bool`) | 51702 | [`datagrams`](Method::datagrams) | `datagrams` |
//!
//! ```proto
//! import "qrpc/options.proto";
//! service Telemetry {
//!   rpc Stream(stream Sample) returns (stream Ack) {
//!     option (qrpc.priority) = 2;
//!     option (qrpc.datagrams) = true;   // PROTOCOL.md §18
//!   }
//! }
//! ```
//!
//! The numbers are in protobuf's range for an organization's own extensions (50000-99999)
//! and do not change. [`compile_descriptor_set`] serves the file too.
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
//! external tool, for real trees too: Envoy's ~500 files compile with protox
//! alone. protox by itself resolves a relative type name against every file it
//! has loaded, where `protoc` looks only at the file and its imports, so in
//! large trees a package from a file that is not imported can shadow the
//! intended name. When protox rejects a name, rpc-codegen compiles the tree
//! again with each relative type name resolved by `protoc`'s rules (the file,
//! its imports and their public imports; a package counts if one of them is
//! in it). A tree protox accepts as is gets the same names either way, and
//! pays nothing for the second pass.
//!
//! protox 0.10 still rejects `edition = "2023"` files. With
//! `vendored-protoc`, `Auto` retries such inputs with a real `protoc` and
//! prints a `cargo:warning`; if that fails too, the error shows protox's
//! diagnostic plus protoc's output. Without it, protox's error says how to
//! reach a `protoc` (`PROTOC`, or the feature).
//!
//! `vendored-protoc` is **not** a default feature: it costs nothing to
//! compile, but it downloads the protoc binaries of all eight platforms the
//! crate supports (about 30 MB) into every user's cargo cache, for a fallback
//! most projects never need. Projects with editions turn it on (or set
//! `PROTOC`).
//!
//! [`compile_descriptor_set`] runs the same protox front end without
//! generating code, for tools that need descriptors at run time (the `qrpc`
//! command line client compiles `--proto` files with it).
//!
//! Errors come back as an [`Error`] whose `Display` and `Debug` output (what
//! cargo prints when a build script's `main` returns it) is the readable
//! message; for a `.proto` error it names the file, line and column and quotes
//! the line ([`Error::proto_error`] has them as data).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod generate;
mod ident;
mod model;

#[cfg(feature = "build")]
mod build;

pub use generate::{format_tokens, generate, generate_string, Compression, GenConfig};
pub use model::{Idempotency, Method, MethodKind, Service};

/// The name conversions and reserved client method names the generator uses, for other front
/// ends (the `#[service]` macro) that must derive the same routes and module names from Rust
/// names and reject the same method names.
pub mod naming {
    pub use crate::ident::{is_primitive, to_snake, to_upper_camel, CLIENT_RESERVED};
}

#[cfg(feature = "build")]
pub use build::{
    compile_descriptor_set, compile_protos, configure, Builder, Error, ProtoError, Protoc,
};
