//! Per-method call metrics for rpc-core clients and servers, through the [`metrics`]
//! facade: install any recorder (a Prometheus exporter, StatsD, OpenTelemetry...) and add
//! a layer to each side.
//!
//! * [`ServerMetricsLayer`] goes in [`ServerBuilder::layer`](rpc_core::ServerBuilder::layer);
//! * [`ClientMetricsLayer`] goes in a tower stack over a [`Channel`](rpc_core::Channel).
//!
//! # Metrics
//!
//! Names follow OpenTelemetry's RPC conventions where they have one; `SIDE` is `server` or
//! `client`. Every metric carries `rpc.service` (`package.Service`) and `rpc.method`.
//!
//! | name | kind | extra label | what |
//! | --- | --- | --- | --- |
//! | `rpc.SIDE.calls_started` | counter | | calls begun |
//! | `rpc.SIDE.calls_finished` | counter | `rpc.grpc.status_code` | calls ended, by status |
//! | `rpc.SIDE.duration` | histogram, seconds | `rpc.grpc.status_code` | call latency |
//! | `rpc.SIDE.calls_in_flight` | gauge | | calls begun and not ended |
//! | `rpc.client.request.size` | histogram, bytes | | encoded request message (client) |
//! | `rpc.SIDE.bytes_sent` | counter, bytes | | bytes the calls' streams sent |
//! | `rpc.SIDE.bytes_received` | counter, bytes | | bytes the calls' streams received |
//!
//! `rpc.grpc.status_code` is the code's number (`"0"` for OK, `"1"` for CANCELLED...), as
//! OpenTelemetry records it. A prometheus exporter writes the names with `_` for `.`
//! (`rpc_server_calls_finished{rpc_service="...",rpc_method="...",rpc_grpc_status_code="0"}`).
//!
//! **When a call ends.** On the server, when its future resolves to a
//! [`CallOutcome`](rpc_core::server::CallOutcome): a status counts under its code, a
//! stream reset under the code the client sees (`CallOutcome::code`: CANCELLED for a
//! cancelled call, DEADLINE_EXCEEDED past its deadline, UNAVAILABLE when refused), an error
//! of an inner layer under the status the server answers with (tower's timeout as
//! DEADLINE_EXCEEDED, load shedding as UNAVAILABLE). On the client, when the stack's future
//! resolves: for unary and client-streaming calls that is with the response message (the
//! trailers come with it); for server-streaming and bidirectional calls it is at the
//! response head, so their duration is the time to the first response and OK means the
//! server started answering (a layer does not see the end of a response stream). Either
//! side counts a call whose future is dropped before it ends (the caller gave up, the
//! connection closed) as CANCELLED; the in-flight gauge goes down in every case.
//!
//! **Bytes.** Both sides count every call's bytes on the wire, each way: what its stream
//! carried (head, message frames after compression, trailers), counted by rpc-core as they
//! cross the transport ([`CallBytes`](rpc_core::call_info::CallBytes)) and added to the
//! `bytes_*` counters when the call's streams are gone, so a streamed response counts in
//! full even though the client's layer sees only its head. The client also records the size
//! of each request sent as a single message (unary and server-streaming calls), which it
//! sees without copying.
//!
//! **Cost.** Each layer registers a method's handles on its first call and keeps them by
//! path (a read lock and a hash per call, no label set built), so a call costs a few
//! atomic operations and two clock reads. A layer keeps at most 1024 methods apart (a
//! client stack may be given any path; a server refuses paths naming none of its methods
//! before its layers run, unless a hand-written service does not list its methods); calls
//! of any more count under `_OTHER`.
//!
//! # Example
//!
//! ```
//! use rpc_core::client::service::unary;
//! use rpc_core::codec::ProstCodec;
//! use rpc_core::server::{CallFuture, NamedService, ServerCall, Service};
//! use rpc_core::{Endpoint, Request, Response, Server};
//! use rpc_metrics::{ClientMetricsLayer, ServerMetricsLayer};
//! use tower::ServiceBuilder;
//!
//! /// Answers every call with its request.
//! struct Echo;
//! impl NamedService for Echo {
//!     const NAME: &'static str = "demo.Echo";
//! }
//! impl Service for Echo {
//!     fn call(&self, call: ServerCall) -> CallFuture {
//!         rpc_core::server::unary(call, ProstCodec::<String, String>::new(), |req| async {
//!             Ok(Response::new(req.into_inner()))
//!         })
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Any recorder; a test one here, installed for this thread only.
//! let recorder = metrics_util::debugging::DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! metrics::with_local_recorder(&recorder, || {
//!     runtime.block_on(async {
//!         let (connector, listener) = rpc_core::transport::mem::listener();
//!         let server = Server::builder()
//!             .layer(ServerMetricsLayer::new())
//!             .add_service(Echo)
//!             .listen(listener);
//!         tokio::spawn(server.serve());
//!         let channel = Endpoint::from_connector(connector).connect().await?;
//!         let client = ServiceBuilder::new()
//!             .layer(ClientMetricsLayer::new())
//!             .service(channel);
//!         let codec = ProstCodec::<String, String>::new();
//!         let reply = unary(&client, "/demo.Echo/Say", Request::new("hi".into()), codec).await?;
//!         assert_eq!(reply.into_inner(), "hi");
//!         Ok::<_, Box<dyn std::error::Error>>(())
//!     })
//! })?;
//! let names: Vec<String> = snapshotter
//!     .snapshot()
//!     .into_vec()
//!     .into_iter()
//!     .map(|(key, ..)| key.key().name().to_owned())
//!     .collect();
//! assert!(names.iter().any(|n| n == "rpc.server.calls_finished"));
//! assert!(names.iter().any(|n| n == "rpc.client.duration"));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod client;
mod registry;
mod server;

pub use client::{ClientFuture, ClientMetrics, ClientMetricsLayer};
pub use server::{ServerFuture, ServerMetrics, ServerMetricsLayer};

/// Bucket bounds for the `duration` histograms, in seconds (100 µs to 10 s), for exporters
/// that take them. With Prometheus, buckets are also far cheaper than the default summaries,
/// whose quantile sketches cost about a thousand instructions per recorded value:
///
/// ```ignore
/// PrometheusBuilder::new()
///     .set_buckets_for_metric(Matcher::Suffix("duration".into()), rpc_metrics::DURATION_BUCKETS)?
///     .set_buckets_for_metric(Matcher::Suffix("size".into()), rpc_metrics::SIZE_BUCKETS)?
/// ```
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Bucket bounds for the `request.size` histogram, in bytes (64 B to 4 MiB, by 4).
pub const SIZE_BUCKETS: &[f64] = &[
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
];

use rpc_core::{Code, Status};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The metric names of one side.
pub(crate) struct Names {
    pub(crate) started: &'static str,
    pub(crate) finished: &'static str,
    pub(crate) duration: &'static str,
    pub(crate) in_flight: &'static str,
    /// `None` on the server, whose layer sees no message.
    pub(crate) request_size: Option<&'static str>,
    pub(crate) bytes_sent: &'static str,
    pub(crate) bytes_received: &'static str,
}

/// Which side a layer records.
#[derive(Clone, Copy)]
pub(crate) enum Side {
    Server,
    Client,
}

impl Side {
    pub(crate) fn names(self) -> &'static Names {
        match self {
            Side::Server => &SERVER,
            Side::Client => &CLIENT,
        }
    }
}

const SERVER: Names = Names {
    started: "rpc.server.calls_started",
    finished: "rpc.server.calls_finished",
    duration: "rpc.server.duration",
    in_flight: "rpc.server.calls_in_flight",
    request_size: None,
    bytes_sent: "rpc.server.bytes_sent",
    bytes_received: "rpc.server.bytes_received",
};

const CLIENT: Names = Names {
    started: "rpc.client.calls_started",
    finished: "rpc.client.calls_finished",
    duration: "rpc.client.duration",
    in_flight: "rpc.client.calls_in_flight",
    request_size: Some("rpc.client.request.size"),
    bytes_sent: "rpc.client.bytes_sent",
    bytes_received: "rpc.client.bytes_received",
};

/// The code of the status an error out of a stack ends the call with, as
/// [`Status::from_error`] maps it, without taking the error (it goes on unchanged).
fn code_of(error: &BoxError) -> Code {
    Status::code_for_error(error.as_ref())
}
