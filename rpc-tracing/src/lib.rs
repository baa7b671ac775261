//! Per-call [`tracing`] spans for rpc-core clients and servers, named and attributed
//! after OpenTelemetry's RPC conventions, with the W3C trace context carried in metadata so
//! a server's span continues its client's trace.
//!
//! * [`ServerTraceLayer`] goes in [`ServerBuilder::layer`](rpc_core::ServerBuilder::layer);
//! * [`ClientTraceLayer`] goes in a tower stack over a [`Channel`](rpc_core::Channel).
//!
//! # Spans
//!
//! The client's span is `rpc.client`, the server's `rpc.server`, both at `INFO`, with
//! `otel.name` (`package.Service/Method`), `otel.kind`, `rpc.system` (`grpc`),
//! `rpc.service`, `rpc.method`, `network.transport` (`quic`) and, when the call ends,
//! `rpc.grpc.status_code` (the code's number) and `otel.status_code = "ERROR"` for a code
//! OpenTelemetry counts as an error on that side. The server's span also carries
//! `client.address` and `client.port` when the transport knows them.
//!
//! Streamed messages are events in the call's span, at `DEBUG` (target
//! `rpc_core::message`, emitted by rpc-core): `rpc.message.type` (`SENT` or `RECEIVED`),
//! `rpc.message.id` (counting from 1 each way) and, for received messages,
//! `rpc.message.compressed_size`. The server's span holds its request and response
//! streams' events and the client's span its request stream's; a client's response stream
//! is read after its span ended (see below), so those events land in the caller's span.
//!
//! A call ends as in `rpc-metrics`: on the server with its outcome (a stream reset under
//! the code the client sees), on the client when the stack's future resolves (for
//! streaming responses, at the response head); a future dropped first ends as CANCELLED.
//!
//! # Trace context
//!
//! The client sends a `traceparent` (W3C Trace Context, version 00) in every call's
//! metadata: a child of the [`TraceContext`] in the request's extensions if there is one,
//! else a new trace. Its span records `trace_id`, `span_id` (the id it sent) and
//! `parent_span_id` (when continuing a trace). The server parses an incoming `traceparent`
//! strictly; a valid one is recorded on its span as `trace_id` and `parent_span_id`, and a
//! child of it goes in the call's extensions, for a handler to continue the trace in its
//! own calls. Anything malformed is ignored: the call goes on, its span without a parent.
//!
//! The ids are fields on the `tracing` span, not the span's identity: a subscriber exporting
//! to OpenTelemetry reads them from there. A `tracestate` travels along unchanged: the server
//! layer validates an incoming one ([`TraceState::parse`]) and puts it in the call's
//! extensions; the client layer sends the [`TraceState`] found in a request's extensions.
//!
//! # Server and QUIC facts
//!
//! [`ClientTraceLayer::for_channel`] names the server on every span (`server.address`,
//! `server.port`). [`ClientTraceLayer::quic_facts`] adds what no HTTP/2 stack can tell:
//! the call's QUIC stream, the connection's RTT and congestion window, packets lost during
//! the call, whether the connection was resumed in 0-RTT, and the call's time up to the
//! response head by phase (see [`rpc_core::CallInfo`]).

#![deny(missing_docs)]

mod client;
mod context;
mod server;

pub use client::{ClientFuture, ClientTrace, ClientTraceLayer};
pub use context::{TraceContext, TraceState, TRACEPARENT, TRACESTATE};
pub use server::{ServerFuture, ServerTrace, ServerTraceLayer};

use rpc_core::Code;
use tracing::Span;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `/package.Service/Method` as (`package.Service`, `Method`); a malformed path is all
/// service, so it still names the span.
fn split_path(path: &str) -> (&str, &str) {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split_once('/').unwrap_or((path, ""))
}

/// Which side a span is for: they count different codes as errors.
#[derive(Clone, Copy)]
enum Side {
    Server,
    Client,
}

impl Side {
    /// OpenTelemetry: any non-OK code fails a client span; a server span only fails on
    /// codes that are the server's fault.
    fn is_error(self, code: Code) -> bool {
        match self {
            Side::Client => code != Code::Ok,
            Side::Server => matches!(
                code,
                Code::Unknown
                    | Code::DeadlineExceeded
                    | Code::Unimplemented
                    | Code::Internal
                    | Code::Unavailable
                    | Code::DataLoss
            ),
        }
    }
}

/// A call's span, ended once with a status code; dropped unended, the call was given up
/// on, which is CANCELLED.
struct CallSpan {
    span: Span,
    side: Side,
    ended: bool,
}

impl CallSpan {
    fn new(span: Span, side: Side) -> Self {
        CallSpan {
            span,
            side,
            ended: false,
        }
    }

    fn end(&mut self, code: Code) {
        self.ended = true;
        self.span.record("rpc.grpc.status_code", code as u8);
        if self.side.is_error(code) {
            self.span.record("otel.status_code", "ERROR");
        }
    }
}

impl Drop for CallSpan {
    fn drop(&mut self) {
        if !self.ended {
            self.end(Code::Cancelled);
        }
    }
}
