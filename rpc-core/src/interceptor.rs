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
//! An interceptor that has to wait (a token lookup, a call to an auth service) is an
//! [`AsyncInterceptor`]: an `async` closure taking the request parts and returning them.
//! Both kinds run in the order they were added, on the client before anything is sent, on
//! the server before the handler runs:
//!
//! ```
//! use rpc_core::{Request, Status};
//!
//! let _server = rpc_core::Server::builder().async_interceptor(|mut req: Request<()>| async move {
//!     let token = req.metadata().get("authorization").map(str::to_owned);
//!     let user = lookup(token).await.ok_or_else(|| Status::unauthenticated("who are you?"))?;
//!     req.extensions_mut().insert(user);
//!     Ok(req)
//! });
//! # #[derive(Clone)] struct User;
//! # async fn lookup(_t: Option<String>) -> Option<User> { Some(User) }
//! ```
//!
//! Anything more (timeouts, limits, load shedding, retries, metrics) is a tower layer:
//! [`ServerBuilder::layer`](crate::ServerBuilder::layer) on the server; on the client, any
//! tower stack over a [`Channel`](crate::Channel) (see [`client::service`](crate::client::service)).

use crate::request::Request;
use crate::status::Status;
use futures_util::future::Either;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
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

/// Sees a call's request parts, waiting if it must, and returns them (changed or not), or a
/// status that ends the call.
pub trait AsyncInterceptor: Send + Sync + 'static {
    /// Inspects or changes `request`; an error ends the call with that status, before
    /// anything is sent (client) or before the handler runs (server).
    fn call(&self, request: Request<()>) -> BoxFuture<Result<Request<()>, Status>>;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<F, Fut> AsyncInterceptor for F
where
    F: Fn(Request<()>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Request<()>, Status>> + Send + 'static,
{
    fn call(&self, request: Request<()>) -> BoxFuture<Result<Request<()>, Status>> {
        Box::pin(self(request))
    }
}

#[derive(Clone)]
enum Entry {
    Sync(Arc<dyn Interceptor>),
    Async(Arc<dyn AsyncInterceptor>),
}

/// An ordered list of interceptors; cloning it is one reference count.
#[derive(Clone, Default)]
pub(crate) struct Interceptors(Arc<Vec<Entry>>);

impl Interceptors {
    pub(crate) fn push(&mut self, i: impl Interceptor) {
        Arc::make_mut(&mut self.0).push(Entry::Sync(Arc::new(i)));
    }

    pub(crate) fn push_async(&mut self, i: impl AsyncInterceptor) {
        Arc::make_mut(&mut self.0).push(Entry::Async(Arc::new(i)));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs every interceptor in order on the parts of `request`. Ready at once when all
    /// of them are synchronous.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        request: Request<T>,
    ) -> impl Future<Output = Result<Request<T>, Status>> + Send + 'static {
        let mut message = None;
        let mut parts = request.map(|m| message = Some(m));
        let mut entries = self.0.iter().enumerate();
        // The synchronous prefix runs now; from the first asynchronous one, in a future.
        let pending = loop {
            match entries.next() {
                None => break None,
                Some((_, Entry::Sync(i))) => {
                    if let Err(status) = i.call(&mut parts) {
                        return Either::Left(std::future::ready(Err(status)));
                    }
                }
                Some((at, Entry::Async(_))) => break Some(at),
            }
        };
        let Some(at) = pending else {
            let request = parts.map(|()| message.take().expect("set by map above"));
            return Either::Left(std::future::ready(Ok(request)));
        };
        let list = self.0.clone();
        Either::Right(Box::pin(async move {
            for entry in &list[at..] {
                match entry {
                    Entry::Sync(i) => i.call(&mut parts)?,
                    Entry::Async(i) => parts = i.call(parts).await?,
                }
            }
            Ok(parts.map(|()| message.take().expect("set by map above")))
        }) as BoxFuture<_>)
    }
}

impl fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interceptors({})", self.0.len())
    }
}
