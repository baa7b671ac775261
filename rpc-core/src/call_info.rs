//! Per-call facts a client can ask for: the QUIC stream and connection a call went on, what the
//! connection lost meanwhile, and where the call's time went.
//!
//! Nothing is measured unless asked: [`CallInfo::collect`] marks a request, and the call's
//! [`Response`] then carries a [`CallInfo`] ([`CallInfo::of`]). The server is asked to report
//! its handler's time in the trailers (PROTOCOL.md §5.4, `qrpc-server-timing`).
//!
//! ```no_run
//! # async fn demo(channel: rpc_core::Channel) -> Result<(), rpc_core::Status> {
//! use rpc_core::{codec::ProstCodec, CallInfo, Request};
//! let mut request = Request::new(());
//! CallInfo::collect(&mut request);
//! let response = channel
//!     .unary("/pkg.Svc/Ping", request, ProstCodec::<(), ()>::default())
//!     .await?;
//! if let Some(info) = CallInfo::of(&response) {
//!     println!("stream {:?}, {:?}", info.stream_id, info.timings);
//! }
//! # Ok(()) }
//! ```

use crate::metadata::MetadataMap;
use crate::request::{Request, Response};
use crate::status::Status;
use crate::transport::ConnectionStats;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Request metadata asking the server to report its handler's time (PROTOCOL.md §5.4).
pub const SERVER_TIMING_REQUEST: &str = "qrpc-server-timing";
/// Trailer carrying the handler's time, in W3C Server-Timing syntax:
/// `handler;dur=<milliseconds>` (PROTOCOL.md §5.4).
pub const SERVER_TIMING: &str = "server-timing";

/// What a call went on and where its time went; see the [module docs](self).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallInfo {
    /// The QUIC stream the call went on (RFC 9000 §2.1), when the transport numbers streams.
    pub stream_id: Option<u64>,
    /// Whether the request went in 0-RTT data (PROTOCOL.md §3.5).
    pub early_data: bool,
    /// Whether the connection was opened in 0-RTT from a TLS session ticket: a resumed
    /// connection. (A resumption without 0-RTT is not visible through quinn and reads `false`.)
    pub zero_rtt_connection: bool,
    /// The connection's statistics when the call ended (RTT, congestion window, path MTU...).
    pub connection: Option<ConnectionStats>,
    /// Packets the connection lost while the call was in flight (any stream's).
    pub lost_packets: u64,
    /// Bytes in those packets.
    pub lost_bytes: u64,
    /// Where the time went.
    pub timings: CallTimings,
}

/// Where a call's time went, as the client saw it (plus the server's own report).
///
/// The phases follow each other: `encode`, `queue`, `network`, `decode` add up to at most
/// `total` (the rest is the client's own scheduling). `network` includes the server's time;
/// `server` is its handler's share, when the server reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallTimings {
    /// Encoding the request (head and message).
    pub encode: Duration,
    /// Waiting for a connection or for stream credit, until the call's stream was open.
    pub queue: Duration,
    /// From the request's first byte handed to QUIC to the response's first byte back.
    pub network: Duration,
    /// The server's handler, as the server reported it in the trailers.
    pub server: Option<Duration>,
    /// Decoding the response message (unary calls; a stream's messages are decoded as they
    /// are read).
    pub decode: Duration,
    /// The whole call, from the call's start to its response.
    pub total: Duration,
}

impl CallTimings {
    /// The network's share of [`network`](Self::network): without the server's handler time.
    pub fn network_only(&self) -> Duration {
        self.network.saturating_sub(self.server.unwrap_or_default())
    }
}

/// Marks a request whose call collects its [`CallInfo`].
#[derive(Debug, Clone, Copy)]
struct Collect;

impl CallInfo {
    /// Asks for `request`'s call to collect its [`CallInfo`] (and the server for its handler
    /// time). Supported by unary and server-streaming calls on a [`Channel`](crate::Channel).
    pub fn collect<T>(request: &mut Request<T>) {
        request.extensions_mut().insert(Collect);
        let _ = request.metadata_mut().insert(SERVER_TIMING_REQUEST, "1");
    }

    /// Whether `request` asks for its [`CallInfo`].
    pub fn is_collected<T>(request: &Request<T>) -> bool {
        request.extensions().get::<Collect>().is_some()
    }

    /// The call's info, when it was collected.
    pub fn of<T>(response: &Response<T>) -> Option<&CallInfo> {
        response.extensions().get::<CallInfo>()
    }

    /// The handler time a server reported in `trailers` (`server-timing: handler;dur=1.5`).
    /// For streaming responses, pass [`Streaming::trailers`](crate::Streaming::trailers).
    pub fn server_time(trailers: &MetadataMap) -> Option<Duration> {
        let value = trailers.get(SERVER_TIMING)?;
        value.split(',').find_map(|metric| {
            let mut params = metric.split(';').map(str::trim);
            if params.next()? != "handler" {
                return None;
            }
            let ms = params.find_map(|p| p.strip_prefix("dur="))?;
            let ms: f64 = ms.parse().ok()?;
            (ms.is_finite() && ms >= 0.0)
                .then(|| Duration::try_from_secs_f64(ms / 1000.0).ok())
                .flatten()
        })
    }
}

/// What runs when a [`CallBytes`] is dropped: the bytes sent and received.
type Report = Box<dyn FnOnce(u64, u64) + Send>;

/// Counts the bytes of one call's stream, both ways, as they cross the transport: heads,
/// message frames (after compression) and trailers. For metrics layers: put one in a
/// client request's extensions (as `Arc<CallBytes>`) or hand it to
/// [`ServerCall::count_bytes`](crate::server::ServerCall::count_bytes); read it when the
/// call is over, or let [`CallBytes::on_end`] report when the call's streams are gone.
#[derive(Default)]
pub struct CallBytes {
    sent: AtomicU64,
    received: AtomicU64,
    report: Mutex<Option<Report>>,
}

impl std::fmt::Debug for CallBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallBytes")
            .field("sent", &self.sent())
            .field("received", &self.received())
            .finish_non_exhaustive()
    }
}

impl CallBytes {
    /// A counter at zero.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A counter that calls `report(sent, received)` once its last reference is dropped:
    /// after the call's streams are gone (and whoever else holds it has let go).
    pub fn on_end(report: impl FnOnce(u64, u64) + Send + 'static) -> Arc<Self> {
        Arc::new(CallBytes {
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            report: Mutex::new(Some(Box::new(report))),
        })
    }

    /// Bytes handed to the transport so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes received from the transport so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    pub(crate) fn add_sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_received(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.received.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The counter a client request carries in its extensions, if any.
    #[inline]
    pub(crate) fn of<T>(request: &Request<T>) -> Option<Arc<CallBytes>> {
        let extensions = request.extensions();
        if extensions.is_empty() {
            return None;
        }
        extensions.get::<Arc<CallBytes>>().cloned()
    }
}

impl Drop for CallBytes {
    fn drop(&mut self) {
        let report = self
            .report
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(report) = report {
            report(self.sent(), self.received());
        }
    }
}

/// A client call's measurements while it runs; boxed, and only for calls that asked: for
/// their [`CallInfo`] (`timed`), their [`CallBytes`], or both.
#[derive(Debug)]
pub(crate) struct Probe {
    timed: bool,
    pub(crate) bytes: Option<Arc<CallBytes>>,
    start: Instant,
    encoded: Option<Instant>,
    opened: Option<Instant>,
    sent: Option<Instant>,
    first_byte: Option<Instant>,
    decode: Duration,
    before: Option<ConnectionStats>,
    info: CallInfo,
}

/// A call's probe, if it asked for one.
pub(crate) type MaybeProbe = Option<Box<Probe>>;

impl Probe {
    /// A probe for `request`'s call, started now, if it asked for one.
    #[inline]
    pub(crate) fn wanted<T>(request: &Request<T>) -> MaybeProbe {
        if request.extensions().is_empty() {
            return None;
        }
        let timed = CallInfo::is_collected(request);
        let bytes = CallBytes::of(request);
        if timed || bytes.is_some() {
            return Some(Box::new(Probe {
                timed,
                bytes,
                start: Instant::now(),
                encoded: None,
                opened: None,
                sent: None,
                first_byte: None,
                decode: Duration::ZERO,
                before: None,
                info: CallInfo::default(),
            }));
        }
        None
    }

    /// Whether the call collects its [`CallInfo`].
    pub(crate) fn timed(&self) -> bool {
        self.timed
    }

    pub(crate) fn encoded(&mut self) {
        if self.timed {
            self.encoded = Some(Instant::now());
        }
    }

    /// The call's stream is open: `stream_id` on a connection with `stats` so far.
    pub(crate) fn opened(
        &mut self,
        stream_id: Option<u64>,
        early_data: bool,
        zero_rtt_connection: bool,
        stats: Option<ConnectionStats>,
    ) {
        self.opened = Some(Instant::now());
        self.info.stream_id = stream_id;
        self.info.early_data = early_data;
        self.info.zero_rtt_connection = zero_rtt_connection;
        self.before = stats;
    }

    pub(crate) fn sent(&mut self) {
        if self.timed {
            self.sent.get_or_insert_with(Instant::now);
        }
    }

    pub(crate) fn first_byte(&mut self) {
        if self.timed {
            self.first_byte.get_or_insert_with(Instant::now);
        }
    }

    pub(crate) fn add_decode(&mut self, since: Instant) {
        self.decode += since.elapsed();
    }

    /// The call's info, now that it ended (or answered) with `trailers`, on a connection with
    /// `stats` now.
    pub(crate) fn finish(self, trailers: &MetadataMap, stats: Option<ConnectionStats>) -> CallInfo {
        let now = Instant::now();
        let span = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::ZERO,
        };
        let mut info = self.info;
        info.timings = CallTimings {
            encode: span(Some(self.start), self.encoded),
            queue: span(self.encoded, self.opened),
            network: span(self.sent.or(self.opened), self.first_byte),
            server: CallInfo::server_time(trailers),
            decode: self.decode,
            total: now.saturating_duration_since(self.start),
        };
        if let (Some(before), Some(after)) = (self.before, stats) {
            info.lost_packets = after.lost_packets.saturating_sub(before.lost_packets);
            info.lost_bytes = after.lost_bytes.saturating_sub(before.lost_bytes);
        }
        info.connection = stats;
        info
    }
}

/// The server's side: when the request asked for it, the handler's start.
#[inline]
pub(crate) fn server_timing_start(metadata: &MetadataMap) -> Option<Instant> {
    (!metadata.is_empty() && metadata.contains_key(SERVER_TIMING_REQUEST)).then(Instant::now)
}

/// Adds the handler's time since `started` to a single response's trailers (or the status's).
#[inline]
pub(crate) fn add_server_timing<T>(
    started: Option<Instant>,
    result: Result<Response<T>, Status>,
) -> Result<Response<T>, Status> {
    match started {
        None => result,
        Some(started) => with_server_timing(started, result),
    }
}

#[cold]
fn with_server_timing<T>(
    started: Instant,
    mut result: Result<Response<T>, Status>,
) -> Result<Response<T>, Status> {
    let value = format!(
        "handler;dur={:.3}",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let trailers = match &mut result {
        Ok(response) => response.trailers_mut(),
        Err(status) => status.metadata_mut(),
    };
    let _ = trailers.append(SERVER_TIMING, &value);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailers(value: &str) -> MetadataMap {
        let mut md = MetadataMap::new();
        md.insert(SERVER_TIMING, value).unwrap();
        md
    }

    #[test]
    fn server_time_parses_the_handler_metric_only() {
        let t = CallInfo::server_time(&trailers("db;dur=2, handler;dur=1.500")).unwrap();
        assert_eq!(t, Duration::from_micros(1500));
        for garbage in [
            "handler",
            "handler;dur=",
            "handler;dur=-1",
            "handler;dur=NaN",
            "x;dur=1",
        ] {
            assert_eq!(CallInfo::server_time(&trailers(garbage)), None, "{garbage}");
        }
        assert_eq!(CallInfo::server_time(&MetadataMap::new()), None);
    }

    #[test]
    fn server_timing_goes_in_trailers_or_status_metadata() {
        let started = Some(Instant::now());
        let ok = add_server_timing(started, Ok(Response::new(()))).unwrap();
        assert!(CallInfo::server_time(ok.trailers()).is_some());
        let err = add_server_timing::<()>(started, Err(Status::internal("x"))).unwrap_err();
        assert!(CallInfo::server_time(err.metadata()).is_some());
        let untouched = add_server_timing(None, Ok(Response::new(()))).unwrap();
        assert!(untouched.trailers().is_empty());
    }
}
