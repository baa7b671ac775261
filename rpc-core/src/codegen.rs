//! Re-exports used by generated code. Not a public API: it may change in any release.
//!
//! Generated messages name prost as `<crate_path>::codegen::prost` and the well-known types as
//! `<crate_path>::codegen::prost_types` (rpc-codegen sets prost-build's `prost_path` and
//! `prost_types_path`), so a crate using generated code needs no `prost` dependency of its own.

pub mod descriptor;

pub use crate::client::service::{self as client, CallService};
pub use crate::client::{Channel, Endpoint};
pub use crate::codec::ProstCodec;
pub use crate::compression::CompressionEncoding;
pub use crate::request::{IntoRequest, IntoStreamingRequest, Request, Response};
pub use crate::server::{
    client_streaming, server_streaming, streaming, unary, unimplemented, CallFuture, NamedService,
    ServerCall, Service,
};
pub use crate::status::{Code, Status};
pub use crate::streaming::Streaming;
pub use crate::Error;
pub use futures_core::Stream;
pub use prost;
pub use prost_types;
pub use std::future::Future;
pub use std::sync::Arc;

/// Marks a request as idempotent (from the method's `idempotency_level` option).
pub fn idempotent<T>(mut request: Request<T>) -> Request<T> {
    request.set_idempotent(true);
    request
}

/// Sets a request's stream priority to the method's `priority`, unless the request has one
/// of its own (`Request::set_priority`, not 0).
pub fn priority<T>(mut request: Request<T>, priority: i32) -> Request<T> {
    if request.priority() == 0 {
        request.set_priority(priority);
    }
    request
}

/// Sets a server call's response stream priority (the method's `priority`).
pub fn prioritized(
    mut call: crate::server::ServerCall,
    priority: i32,
) -> crate::server::ServerCall {
    call.set_priority(priority);
    call
}

/// Sets a request's compression (from the method's setting in `rpc-codegen`, PROTOCOL.md §15).
pub fn send_compressed<T>(
    mut request: Request<T>,
    encoding: Option<crate::compression::CompressionEncoding>,
) -> Request<T> {
    request.set_send_compressed(encoding);
    request
}

/// Marks a request as taking datagrams (the method's `datagrams` option, PROTOCOL.md §18).
pub fn datagrams<T>(mut request: Request<T>) -> Request<T> {
    request.set_datagrams(true);
    request
}

/// Gives a server call datagrams (the method's `datagrams` option, PROTOCOL.md §18).
pub fn with_datagrams(mut call: crate::server::ServerCall) -> crate::server::ServerCall {
    call.enable_datagrams();
    call
}
