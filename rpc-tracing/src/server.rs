//! The server side: a layer for [`ServerBuilder::layer`](rpc_core::ServerBuilder::layer).

use crate::context::{TraceContext, TraceState, TRACEPARENT, TRACESTATE};
use crate::{BoxError, CallSpan, Side};
use pin_project_lite::pin_project;
use rpc_core::server::{CallOutcome, ServerCall};
use rpc_core::Status;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;
use tracing::Span;

/// Opens an `rpc.server` span for every call through a server's stack and runs the rest of
/// the stack and the handler in it; see the [crate docs](crate) for its fields.
#[derive(Debug, Clone, Default)]
pub struct ServerTraceLayer {
    _private: (),
}

impl ServerTraceLayer {
    /// A layer tracing to the subscriber in force where the server's calls run.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for ServerTraceLayer {
    type Service = ServerTrace<S>;

    fn layer(&self, inner: S) -> ServerTrace<S> {
        ServerTrace { inner }
    }
}

/// The service of [`ServerTraceLayer`].
#[derive(Debug, Clone)]
pub struct ServerTrace<S> {
    inner: S,
}

impl<S> Service<ServerCall> for ServerTrace<S>
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
        let parent = incoming(&call);
        let span = call_span(&call, parent.as_ref());
        // For the handler's own calls: they continue the client's trace.
        if let Some(parent) = parent {
            call.extensions_mut().insert(parent.child());
            let state = call.metadata().get(TRACESTATE).and_then(TraceState::parse);
            if let Some(state) = state {
                call.extensions_mut().insert(state);
            }
        }
        // Inner layers run in the span too: their events belong to the call.
        let inner = span.in_scope(|| self.inner.call(call));
        ServerFuture {
            inner,
            span: CallSpan::new(span, Side::Server),
        }
    }
}

/// The valid `traceparent` of a call, if it has one.
fn incoming(call: &ServerCall) -> Option<TraceContext> {
    call.metadata()
        .get(TRACEPARENT)
        .and_then(TraceContext::parse)
}

fn call_span(call: &ServerCall, parent: Option<&TraceContext>) -> Span {
    // Parsed when the head was decoded: no second pass over the path.
    let (service, method) = (call.service_name(), call.method());
    let span = tracing::info_span!(
        "rpc.server",
        otel.name = call.path().trim_start_matches('/'),
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        network.transport = "quic",
        client.address = Empty,
        client.port = Empty,
        trace_id = Empty,
        parent_span_id = Empty,
    );
    if let Some(addr) = call.remote_addr() {
        span.record("client.address", tracing::field::display(addr.ip()));
        span.record("client.port", addr.port());
    }
    if let Some(parent) = parent {
        span.record("trace_id", parent.trace_id_field());
        span.record("parent_span_id", parent.span_id_field());
    }
    span
}

pin_project! {
    /// The future of a call through [`ServerTrace`]: the inner one, in the call's span.
    pub struct ServerFuture<F> {
        #[pin]
        inner: F,
        span: CallSpan,
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
        let result = {
            let _entered = this.span.span.enter();
            ready!(this.inner.poll(cx)).map_err(Into::into)
        };
        // A reset ends under the code the client sees: CANCELLED, DEADLINE_EXCEEDED...
        let code = match &result {
            Ok(outcome) => outcome.code(),
            Err(e) => Status::code_for_error(e.as_ref()),
        };
        this.span.end(code);
        Poll::Ready(result)
    }
}

impl<F> std::fmt::Debug for ServerFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerFuture").finish_non_exhaustive()
    }
}
