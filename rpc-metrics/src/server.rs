//! The server side: a layer for [`ServerBuilder::layer`](rpc_core::ServerBuilder::layer).

use crate::registry::{CallGuard, Registry};
use crate::{code_of, BoxError, Side};
use pin_project_lite::pin_project;
use rpc_core::server::{CallOutcome, ServerCall};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Records the `rpc.server.*` metrics of every call through a server's stack; see the
/// [crate docs](crate) for the names and labels.
///
/// Clones share their methods' handles, so one layer serves all of a server's connections.
#[derive(Clone)]
pub struct ServerMetricsLayer {
    registry: Arc<Registry>,
}

impl ServerMetricsLayer {
    /// A layer recording to the `metrics` recorder in force when each method is first
    /// called (the global one, or a local one around the server's runtime in tests).
    pub fn new() -> Self {
        ServerMetricsLayer {
            registry: Arc::new(Registry::new(Side::Server)),
        }
    }
}

impl Default for ServerMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ServerMetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMetricsLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for ServerMetricsLayer {
    type Service = ServerMetrics<S>;

    fn layer(&self, inner: S) -> ServerMetrics<S> {
        ServerMetrics {
            inner,
            registry: self.registry.clone(),
        }
    }
}

/// The service of [`ServerMetricsLayer`].
pub struct ServerMetrics<S> {
    inner: S,
    registry: Arc<Registry>,
}

impl<S> Service<ServerCall> for ServerMetrics<S>
where
    S: Service<ServerCall, Response = CallOutcome>,
    S::Error: Into<BoxError>,
{
    type Response = CallOutcome;
    type Error = BoxError;
    type Future = ServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut call: ServerCall) -> Self::Future {
        let guard = CallGuard::start(self.registry.method(call.path()));
        call.count_bytes(guard.byte_counter());
        ServerFuture {
            inner: self.inner.call(call),
            guard,
        }
    }
}

pin_project! {
    /// The future of a call through [`ServerMetrics`]: the inner one, timed.
    pub struct ServerFuture<F> {
        #[pin]
        inner: F,
        guard: CallGuard,
    }
}

impl<F, E> Future for ServerFuture<F>
where
    F: Future<Output = Result<CallOutcome, E>>,
    E: Into<BoxError>,
{
    type Output = Result<CallOutcome, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx)).map_err(Into::into);
        // A reset counts under the code the client sees: CANCELLED, DEADLINE_EXCEEDED...
        let code = match &result {
            Ok(outcome) => outcome.code(),
            Err(e) => code_of(e),
        };
        this.guard.finish(code);
        Poll::Ready(result)
    }
}

impl<F> std::fmt::Debug for ServerFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerFuture").finish_non_exhaustive()
    }
}
