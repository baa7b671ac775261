//! Interceptors: code that sees every call before it goes out (client) or before its handler
//! runs (server), with its metadata, deadline and extensions, and may reject it.
//!
//! ```
//! use rpc_core::{Request, Status};
//!
//! // Server side: require a token.
//! fn check_auth(req: &mut Request<()>) -> Result<(), Status> {
//!     match req.metadata().get("authorization") {
//!         Some("Bearer secret") => Ok(()),
//!         _ => Err(Status::unauthenticated("missing or bad token")),
//!     }
//! }
//! let _server = rpc_core::Server::builder().interceptor(check_auth);
//!
//! // Client side: add the token to every call.
//! let _endpoint = rpc_core::Endpoint::new("localhost:50051")
//!     .unwrap()
//!     .interceptor(|req: &mut Request<()>| {
//!         req.metadata_mut().insert("authorization", "Bearer secret").unwrap();
//!         Ok(())
//!     });
//! ```
//!
//! For middleware beyond that (timeouts, limits, load shedding around handlers), tower
//! layers will plug in at the same two points.

use crate::request::Request;
use crate::status::Status;
use std::fmt;
use std::sync::Arc;

/// Sees a call's request parts and may change its metadata and extensions, or reject it.
pub trait Interceptor: Send + Sync + 'static {
    /// Inspects or changes `request`; an error ends the call with that status, before anything
    /// is sent (client) or before the handler runs (server).
    fn call(&self, request: &mut Request<()>) -> Result<(), Status>;
}

impl<F> Interceptor for F
where
    F: Fn(&mut Request<()>) -> Result<(), Status> + Send + Sync + 'static,
{
    fn call(&self, request: &mut Request<()>) -> Result<(), Status> {
        self(request)
    }
}

/// An ordered list of interceptors; cloning it is one reference count.
#[derive(Clone, Default)]
pub(crate) struct Interceptors(Arc<Vec<Arc<dyn Interceptor>>>);

impl Interceptors {
    pub(crate) fn push(&mut self, i: impl Interceptor) {
        Arc::make_mut(&mut self.0).push(Arc::new(i));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs every interceptor in order on the parts of `request`.
    pub(crate) fn run<T>(&self, request: Request<T>) -> Result<Request<T>, Status> {
        if self.0.is_empty() {
            return Ok(request);
        }
        let mut message = None;
        let mut parts = request.map(|m| message = Some(m));
        for i in self.0.iter() {
            i.call(&mut parts)?;
        }
        Ok(parts.map(|()| message.take().expect("set by map above")))
    }
}

impl fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interceptors({})", self.0.len())
    }
}
