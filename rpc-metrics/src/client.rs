//! The client side: a layer for a tower stack over a [`Channel`](rpc_core::Channel).

use crate::registry::{CallGuard, Registry};
use crate::{code_of, BoxError, Side};
use bytes::Bytes;
use pin_project_lite::pin_project;
use rpc_core::client::service::{CallRequest, CallResponse};
use rpc_core::Code;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Records the `rpc.client.*` metrics of every call through a client stack; see the
/// [crate docs](crate) for the names, labels and when a call counts as finished.
///
/// Clones share their methods' handles.
#[derive(Clone)]
pub struct ClientMetricsLayer {
    registry: Arc<Registry>,
}

impl ClientMetricsLayer {
    /// A layer recording to the `metrics` recorder in force when each method is first
    /// called.
    pub fn new() -> Self {
        ClientMetricsLayer {
            registry: Arc::new(Registry::new(Side::Client)),
        }
    }
}

impl Default for ClientMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ClientMetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMetricsLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for ClientMetricsLayer {
    type Service = ClientMetrics<S>;

    fn layer(&self, inner: S) -> ClientMetrics<S> {
        ClientMetrics {
            inner,
            registry: self.registry.clone(),
        }
    }
}

/// The service of [`ClientMetricsLayer`].
#[derive(Clone)]
pub struct ClientMetrics<S> {
    inner: S,
    registry: Arc<Registry>,
}

impl<S> Service<CallRequest> for ClientMetrics<S>
where
    S: Service<CallRequest, Response = CallResponse>,
    S::Error: Into<BoxError>,
{
    type Response = CallResponse;
    type Error = BoxError;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut call: CallRequest) -> Self::Future {
        let guard = CallGuard::start(self.registry.method(call.path()));
        let bytes = guard.byte_counter();
        call.request_mut().extensions_mut().insert(bytes);
        // A single message is in plain sight; a stream's messages are not (see crate docs).
        if let Some(message) = call.request().get_ref().as_single() {
            guard.method().record_request_size(Bytes::len(message));
        }
        ClientFuture {
            inner: self.inner.call(call),
            guard,
        }
    }
}

pin_project! {
    /// The future of a call through [`ClientMetrics`]: the inner one, timed.
    pub struct ClientFuture<F> {
        #[pin]
        inner: F,
        guard: CallGuard,
    }
}

impl<F, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<CallResponse, E>>,
    E: Into<BoxError>,
{
    type Output = Result<CallResponse, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx)).map_err(Into::into);
        let code = match &result {
            Ok(_) => Code::Ok,
            Err(e) => code_of(e),
        };
        this.guard.finish(code);
        Poll::Ready(result)
    }
}

impl<F> std::fmt::Debug for ClientFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientFuture").finish_non_exhaustive()
    }
}
