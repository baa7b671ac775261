//! The standard gRPC server reflection service, `grpc.reflection.v1.ServerReflection`, for
//! rpc-core servers: the same semantics as grpc-go's and the API shape of
//! `tonic-reflection`. Tools such as `grpcurl` use it to list a server's services and fetch
//! the descriptors of their types.
//!
//! # Embedding the descriptors
//!
//! The service answers from encoded `FileDescriptorSet`s. Write one in `build.rs` with
//! [`file_descriptor_set_path`](https://docs.rs/rpc-codegen) into `OUT_DIR`, named
//! `<name>.bin`; the set holds every compiled file, its imports and their source info
//! (comments), whichever compiler ran (protox or `protoc`):
//!
//! ```rust,ignore
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
//!     rpc_codegen::configure()
//!         .file_descriptor_set_path(out_dir.join("route_guide.bin"))
//!         .compile_protos(&["proto/route_guide.proto"], &["proto"])?;
//!     Ok(())
//! }
//! ```
//!
//! and embed it in the program with [`include_file_descriptor_set!`]:
//!
//! ```rust,ignore
//! pub const FILE_DESCRIPTOR_SET: &[u8] = rpc_reflection::include_file_descriptor_set!("route_guide");
//! ```
//!
//! # Serving it
//!
//! [`Builder`] registers sets and builds the service; add it to a server like any other:
//!
//! ```
//! use rpc_core::tls::dev::SelfSigned;
//! use rpc_core::{Endpoint, Server};
//! use rpc_reflection::pb::server_reflection_request::MessageRequest;
//! use rpc_reflection::pb::server_reflection_response::MessageResponse;
//! use rpc_reflection::{ServerReflectionClient, ServerReflectionRequest};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # const FILE_DESCRIPTOR_SET: &[u8] = rpc_reflection::FILE_DESCRIPTOR_SET;
//! let cert = SelfSigned::generate(&["localhost"])?;
//! let reflection = rpc_reflection::Builder::configure()
//!     .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
//!     .build_v1()?;
//! let server = Server::builder()
//!     .tls_config(cert.server_config()?)
//!     .add_service(reflection)
//!     // .add_service(RouteGuideServer::new(MyRouteGuide))
//!     .bind("127.0.0.1:0".parse()?)?;
//! let port = server.local_addr().port();
//! tokio::spawn(server.serve());
//!
//! let channel = Endpoint::new(format!("localhost:{port}"))?
//!     .tls_config(cert.client_config())
//!     .connect()
//!     .await?;
//! let client = ServerReflectionClient::new(channel);
//! let request = ServerReflectionRequest {
//!     host: String::new(),
//!     message_request: Some(MessageRequest::ListServices(String::new())),
//! };
//! let mut responses = client
//!     .server_reflection_info(futures_util::stream::iter([request]))
//!     .await?
//!     .into_inner();
//! let Some(MessageResponse::ListServicesResponse(list)) =
//!     responses.message().await?.and_then(|r| r.message_response)
//! else {
//!     panic!("not a service list");
//! };
//! assert_eq!(list.service[0].name, "grpc.reflection.v1.ServerReflection");
//! # Ok(())
//! # }
//! ```
//!
//! # What it answers
//!
//! One response per request, in order, on one bidirectional stream:
//!
//! * `list_services`: the services of the registered sets (or those named with
//!   [`Builder::with_service_name`]), and `grpc.reflection.v1.ServerReflection` itself,
//!   sorted by name.
//! * `file_by_filename`, `file_containing_symbol`, `file_containing_extension`: the file,
//!   then its transitive dependencies (breadth first, each once), as encoded
//!   `FileDescriptorProto`s, byte for byte as registered. Every response carries the full
//!   closure, also when an earlier response on the stream already sent some of the files.
//!   Symbols are fully qualified without a leading dot: packages' messages (nested ones
//!   too), enums, enum values (siblings of their enum, as in C++), fields, oneofs,
//!   extensions, services and methods (`pkg.Service.Method`).
//! * `all_extension_numbers_of_type`: the extension numbers of a message type, sorted
//!   (empty when it has none).
//! * An unknown file, symbol, extension or message type is answered with an
//!   `error_response` of code `NOT_FOUND` (5); the call goes on. A request with no
//!   `message_request` ends the call with `INVALID_ARGUMENT`.
#![deny(missing_docs)]

mod index;
mod service;

use index::Index;
pub use service::{ReflectionService, ResponseStream};

/// The code generated from `grpc/reflection/v1/reflection.proto` (package
/// `grpc.reflection.v1`).
pub mod pb {
    #![allow(missing_docs)]
    rpc_core::include_proto!("grpc.reflection.v1");
}

pub use pb::server_reflection_client::ServerReflectionClient;
pub use pb::server_reflection_server::{ServerReflection, ServerReflectionServer};
pub use pb::{ServerReflectionRequest, ServerReflectionResponse};

/// The encoded `FileDescriptorSet` of `grpc/reflection/v1/reflection.proto`, which the
/// service registers for itself (see [`Builder::include_reflection_service`]).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_file_descriptor_set!("grpc.reflection.v1");

/// The full name of the reflection service.
pub const SERVICE_NAME: &str = "grpc.reflection.v1.ServerReflection";

/// Includes the encoded `FileDescriptorSet` that a build script wrote to
/// `OUT_DIR/<name>.bin` (with rpc-codegen's `file_descriptor_set_path`), as a `&[u8]`.
///
/// ```rust,ignore
/// pub const FILE_DESCRIPTOR_SET: &[u8] = rpc_reflection::include_file_descriptor_set!("route_guide");
/// ```
#[macro_export]
macro_rules! include_file_descriptor_set {
    ($name:expr) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".bin"))
    };
}

/// Why [`Builder::build_v1`] failed: the registered descriptors are not a consistent whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A registered set is not an encoded `FileDescriptorSet`.
    #[error("not an encoded FileDescriptorSet: {0}")]
    Decode(#[source] prost::DecodeError),
    /// A file imports one that no registered set holds (sets written by rpc-codegen hold
    /// their imports).
    #[error("{file:?} imports {dependency:?}, which is not registered")]
    MissingDependency {
        /// The importing file.
        file: String,
        /// The missing import.
        dependency: String,
    },
    /// Two different files with one name (a file registered twice is fine).
    #[error("two different files named {0:?}")]
    ConflictingFile(String),
    /// Two files declare one symbol.
    #[error("{symbol:?} is declared in both {first:?} and {second:?}")]
    DuplicateSymbol {
        /// The fully-qualified symbol.
        symbol: String,
        /// The file registered first.
        first: String,
        /// The other file.
        second: String,
    },
    /// Two extensions of one message type with one number.
    #[error("two extensions of {extended:?} with number {number}")]
    DuplicateExtension {
        /// The extended message type.
        extended: String,
        /// The field number.
        number: i32,
    },
    /// [`Builder::with_service_name`] named a service that no registered file declares.
    #[error("service {0:?} is not declared in the registered descriptors")]
    UnknownService(String),
}

/// Registers descriptors and builds the reflection service, as `tonic_reflection::server::Builder`.
#[derive(Debug, Default)]
#[must_use]
pub struct Builder {
    encoded: Vec<Vec<u8>>,
    decoded: Vec<prost_types::FileDescriptorSet>,
    service_names: Vec<String>,
    exclude_reflection_service: bool,
}

impl Builder {
    /// A builder with no descriptors but the reflection service's own.
    pub fn configure() -> Self {
        Builder::default()
    }

    /// Registers an encoded `FileDescriptorSet` (see [`include_file_descriptor_set!`]).
    pub fn register_encoded_file_descriptor_set(mut self, encoded: &[u8]) -> Self {
        self.encoded.push(encoded.to_vec());
        self
    }

    /// Registers a decoded `FileDescriptorSet`.
    pub fn register_file_descriptor_set(mut self, set: prost_types::FileDescriptorSet) -> Self {
        self.decoded.push(set);
        self
    }

    /// Lists only the services named this way (each a `package.Service` declared in the
    /// registered sets) instead of all the services of the sets: for sets that declare
    /// services the server does not serve.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_names.push(name.into());
        self
    }

    /// Whether the reflection service describes itself: lists itself and answers for
    /// `grpc/reflection/v1/reflection.proto` (default `true`).
    pub fn include_reflection_service(mut self, include: bool) -> Self {
        self.exclude_reflection_service = !include;
        self
    }

    /// Builds the `grpc.reflection.v1` service, to add to a server. Fails if the registered
    /// descriptors are not a consistent whole (see [`Error`]).
    pub fn build_v1(self) -> Result<ServerReflectionServer<ReflectionService>, Error> {
        let mut index = Index::default();
        if !self.exclude_reflection_service {
            index.add_encoded_set(FILE_DESCRIPTOR_SET)?;
        }
        for set in &self.encoded {
            index.add_encoded_set(set)?;
        }
        for set in self.decoded {
            index.add_set(set)?;
        }
        index.link()?;

        let mut services: Vec<String> = if self.service_names.is_empty() {
            index.services().iter().cloned().collect()
        } else {
            for name in &self.service_names {
                if !index.services().contains(name) {
                    return Err(Error::UnknownService(name.clone()));
                }
            }
            self.service_names
        };
        if !self.exclude_reflection_service {
            services.push(SERVICE_NAME.to_owned());
        }
        services.sort();
        services.dedup();
        Ok(ServerReflectionServer::new(ReflectionService::new(
            service::State { index, services },
        )))
    }
}
