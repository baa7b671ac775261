//! The client side: a layer for a tower stack over a [`Channel`](rpc_core::Channel).

use crate::context::{TraceContext, TraceState, TRACEPARENT, TRACESTATE};
use crate::{split_path, BoxError, CallSpan, Side};
use pin_project_lite::pin_project;
use rpc_core::client::service::{CallRequest, CallResponse};
use rpc_core::{CallInfo, Channel, Code, Status};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;
use tracing::Span;

/// Opens an `rpc.client` span for every call through a client stack, under the current
/// span, and sends the call's `traceparent`; see the [crate docs](crate).
#[derive(Debug, Clone, Default)]
pub struct ClientTraceLayer {
    config: Arc<Config>,
}

#[derive(Debug, Clone, Default)]
struct Config {
    /// `server.address` and `server.port`.
    server: Option<(String, u16)>,
    /// Whether calls collect their [`CallInfo`] for the span.
    quic_facts: bool,
}

impl ClientTraceLayer {
    /// A layer tracing to the subscriber in force where calls are made.
    pub fn new() -> Self {
        Self::default()
    }

    /// A layer for calls over `channel`: its spans name the server (`server.address`,
    /// `server.port`) the channel connects to.
    pub fn for_channel(channel: &Channel) -> Self {
        let endpoint = channel.endpoint();
        Self::new().server(endpoint.host(), endpoint.port())
    }

    /// Names the server in every span (`server.address`, `server.port`).
    pub fn server(mut self, address: impl Into<String>, port: u16) -> Self {
        Arc::make_mut(&mut self.config).server = Some((address.into(), port));
        self
    }

    /// Records the QUIC facts of each call on its span (`quic.stream_id`, `quic.rtt_us`,
    /// `quic.cwnd`, `quic.lost_packets`, `quic.zero_rtt`) and where its time went up to the
    /// response head (`rpc.time.queue_us`, `rpc.time.network_us`, and
    /// `rpc.time.server_us` when the server's trailers came with it), collected by the
    /// channel ([`CallInfo`]) for unary and server-streaming calls; the complete
    /// [`CallInfo`] is in the response's extensions. Off by default: it costs a few clock
    /// reads and two statistics snapshots per call.
    pub fn quic_facts(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.config).quic_facts = enabled;
        self
    }
}

impl<S> Layer<S> for ClientTraceLayer {
    type Service = ClientTrace<S>;

    fn layer(&self, inner: S) -> ClientTrace<S> {
        ClientTrace {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`ClientTraceLayer`].
#[derive(Debug, Clone)]
pub struct ClientTrace<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> ClientTrace<S> {
    /// The service under the layer.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
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
        let extensions = call.request().extensions();
        let parent = extensions.get::<TraceContext>().copied();
        let state = extensions.get::<TraceState>().cloned();
        let context = parent.map_or_else(TraceContext::new_root, |p| p.child());
        let span = call_span(call.path(), &context, parent.as_ref());
        if let Some((address, port)) = &self.config.server {
            span.record("server.address", address.as_str());
            span.record("server.port", port);
        }
        let request = call.request_mut();
        if self.config.quic_facts {
            CallInfo::collect(request);
        }
        // A value we made (or validated) is always valid metadata; a failure would only lose
        // the link.
        let metadata = request.metadata_mut();
        let _ = metadata.insert(TRACEPARENT, &context.to_traceparent());
        if let Some(state) = state {
            let _ = metadata.insert(TRACESTATE, state.as_str());
        }
        let inner = span.in_scope(|| self.inner.call(call));
        ClientFuture {
            inner,
            span: CallSpan::new(span, Side::Client),
        }
    }
}

/// Records a call's [`CallInfo`] on its span.
fn record_call_info(span: &Span, info: &CallInfo) {
    let micros = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    if let Some(id) = info.stream_id {
        span.record("quic.stream_id", id);
    }
    if let Some(stats) = &info.connection {
        span.record("quic.rtt_us", micros(stats.rtt));
        span.record("quic.cwnd", stats.cwnd);
    }
    span.record("quic.lost_packets", info.lost_packets);
    span.record("quic.zero_rtt", info.zero_rtt_connection);
    let t = &info.timings;
    span.record("rpc.time.queue_us", micros(t.queue));
    span.record("rpc.time.network_us", micros(t.network));
    if let Some(server) = t.server {
        span.record("rpc.time.server_us", micros(server));
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
        server.address = Empty,
        server.port = Empty,
        quic.stream_id = Empty,
        quic.rtt_us = Empty,
        quic.cwnd = Empty,
        quic.lost_packets = Empty,
        quic.zero_rtt = Empty,
        rpc.time.queue_us = Empty,
        rpc.time.network_us = Empty,
        rpc.time.server_us = Empty,
        trace_id = context.trace_id_field(),
        span_id = context.span_id_field(),
        parent_span_id = Empty,
    );
    if let Some(parent) = parent {
        span.record("parent_span_id", parent.span_id_field());
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
            Ok(response) => {
                if let Some(info) = CallInfo::of(response) {
                    record_call_info(&this.span.span, info);
                }
                Code::Ok
            }
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
