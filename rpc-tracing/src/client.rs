//! The client side: a layer for a tower stack over a [`Channel`](rpc_core::Channel).

use crate::context::{TraceContext, TRACEPARENT};
use crate::{split_path, BoxError, CallSpan, Side};
use pin_project_lite::pin_project;
use rpc_core::client::service::{CallRequest, CallResponse};
use rpc_core::{Code, Status};
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;
use tracing::Span;

/// Opens an `rpc.client` span for every call through a client stack, under the current
/// span, and sends the call's `traceparent`; see the [crate docs](crate).
#[derive(Debug, Clone, Default)]
pub struct ClientTraceLayer {
    _private: (),
}

impl ClientTraceLayer {
    /// A layer tracing to the subscriber in force where calls are made.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for ClientTraceLayer {
    type Service = ClientTrace<S>;

    fn layer(&self, inner: S) -> ClientTrace<S> {
        ClientTrace { inner }
    }
}

/// The service of [`ClientTraceLayer`].
#[derive(Debug, Clone)]
pub struct ClientTrace<S> {
    inner: S,
}

impl<S> Service<CallRequest> for ClientTrace<S>
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
        let parent = call.request().extensions().get::<TraceContext>().copied();
        let context = parent.map_or_else(TraceContext::new_root, |p| p.child());
        let span = call_span(call.path(), &context, parent.as_ref());
        // A value we made is always valid metadata; a failure would only lose the link.
        let metadata = call.request_mut().metadata_mut();
        let _ = metadata.insert(TRACEPARENT, &context.to_traceparent());
        let inner = span.in_scope(|| self.inner.call(call));
        ClientFuture {
            inner,
            span: CallSpan::new(span, Side::Client),
        }
    }
}

fn call_span(path: &str, context: &TraceContext, parent: Option<&TraceContext>) -> Span {
    let (service, method) = split_path(path);
    let span = tracing::info_span!(
        "rpc.client",
        otel.name = path.trim_start_matches('/'),
        otel.kind = "client",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        network.transport = "quic",
        trace_id = context.trace_id(),
        span_id = context.span_id(),
        parent_span_id = Empty,
    );
    if let Some(parent) = parent {
        span.record("parent_span_id", parent.span_id());
    }
    span
}

pin_project! {
    /// The future of a call through [`ClientTrace`]: the inner one, in the call's span.
    pub struct ClientFuture<F> {
        #[pin]
        inner: F,
        span: CallSpan,
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
        let result = {
            let _entered = this.span.span.enter();
            ready!(this.inner.poll(cx)).map_err(Into::into)
        };
        let code = match &result {
            Ok(_) => Code::Ok,
            Err(e) => Status::code_for_error(e.as_ref()),
        };
        this.span.end(code);
        Poll::Ready(result)
    }
}

impl<F> std::fmt::Debug for ClientFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientFuture").finish_non_exhaustive()
    }
}
