//! What the load loop drives: a [`Driver`] makes connections and performs one call of each
//! kind. [`RpcDriver`] drives rpc-core's generated echo client; the baselines of the
//! `benches` crate (raw quinn, tonic) implement the same trait, so one loop measures all.

use crate::breakdown::Breakdown;
use crate::echo::echo_client::EchoClient;
use crate::echo::{EchoRequest, EchoResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use rpc_core::client::service::CallService;
use rpc_core::{CallInfo, Channel, Endpoint, Request, Response, Status, Streaming};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;
use tower_layer::{Identity, Layer};

/// Why a call failed: a gRPC status code name (`"Unavailable"`) or another short label,
/// optionally followed by a newline and details (the status message).
///
/// Failures are counted by label (the first line); the first details of each label are kept
/// to explain a run in which every call failed (see [`split_failure`]).
pub type Failure = String;

/// A failure from a status: the code's name, then the message on a line of its own.
pub fn failure(status: &Status) -> Failure {
    if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        format!("{:?}\n{}", status.code(), status.message())
    }
}

/// Splits a [`Failure`] into its label and its details (empty when there are none).
pub fn split_failure(failure: &str) -> (&str, &str) {
    failure.split_once('\n').unwrap_or((failure, ""))
}

/// A failure in words, from its label and details: the details when there are any, else the
/// label (without the `connect: ` prefix of connection failures).
pub fn failure_reason<'a>(label: &'a str, details: &'a str) -> &'a str {
    if details.is_empty() {
        label.strip_prefix("connect: ").unwrap_or(label)
    } else {
        details
    }
}

/// A client of the echo service over some transport.
///
/// Every call method returns the number of payload bytes received.
pub trait Driver: Send + Sync + 'static {
    /// One connection; cheap to clone, clones share it.
    type Conn: Clone + Send + Sync + 'static;
    /// An open bidirectional call used for ping-pong.
    type Bidi: Send + 'static;

    /// Opens a connection (handshake included).
    fn connect(&self) -> impl Future<Output = Result<Self::Conn, Failure>> + Send;

    /// A unary call echoing `payload`.
    fn unary(
        &self,
        conn: &Self::Conn,
        payload: Bytes,
    ) -> impl Future<Output = Result<u64, Failure>> + Send;

    /// A server-streaming call: `count` responses of `size` bytes, read to the end.
    fn server_stream(
        &self,
        conn: &Self::Conn,
        size: u32,
        count: u32,
    ) -> impl Future<Output = Result<u64, Failure>> + Send;

    /// A client-streaming call: `count` requests carrying `payload`, one small response.
    fn client_stream(
        &self,
        conn: &Self::Conn,
        payload: Bytes,
        count: u32,
    ) -> impl Future<Output = Result<u64, Failure>> + Send;

    /// Opens a bidirectional call for [`Driver::ping`].
    fn open_bidi(
        &self,
        conn: &Self::Conn,
    ) -> impl Future<Output = Result<Self::Bidi, Failure>> + Send;

    /// Sends `payload` on an open bidirectional call and waits for its echo.
    fn ping(
        &self,
        bidi: &mut Self::Bidi,
        payload: Bytes,
    ) -> impl Future<Output = Result<u64, Failure>> + Send;

    /// The connection's transport statistics so far, when the transport keeps any (QUIC).
    fn path_stats(&self, conn: &Self::Conn) -> Option<PathStats> {
        let _ = conn;
        None
    }
}

/// What the connections of a run did on the wire, from the client's side: its sent
/// datagrams are the server's received ones and the other way round (on loopback, where
/// nothing is lost). Counters add up over connections; the path figures are the last
/// connection's.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PathStats {
    /// Connections counted.
    pub connections: usize,
    /// UDP datagrams sent (client to server).
    pub sent_datagrams: u64,
    /// UDP datagrams received (server to client).
    pub received_datagrams: u64,
    /// `sendmsg` calls: fewer than datagrams when GSO sent several in one.
    pub sent_ios: u64,
    /// Receive calls: fewer than datagrams when GRO or batched reads took several in one.
    pub received_ios: u64,
    /// UDP payload bytes sent.
    pub sent_bytes: u64,
    /// UDP payload bytes received.
    pub received_bytes: u64,
    /// QUIC packets sent (several may share a datagram).
    pub sent_packets: u64,
    /// Packets the client declared lost.
    pub lost_packets: u64,
    /// Path MTU (the largest UDP payload) the client found.
    pub path_mtu: u16,
    /// Smoothed round-trip time.
    pub rtt: std::time::Duration,
    /// Congestion window, bytes.
    pub cwnd: u64,
}

impl PathStats {
    /// The sum of two connections' statistics (path figures from `other`).
    pub fn plus(mut self, other: &PathStats) -> PathStats {
        self.connections += other.connections;
        self.sent_datagrams += other.sent_datagrams;
        self.received_datagrams += other.received_datagrams;
        self.sent_ios += other.sent_ios;
        self.received_ios += other.received_ios;
        self.sent_bytes += other.sent_bytes;
        self.received_bytes += other.received_bytes;
        self.sent_packets += other.sent_packets;
        self.lost_packets += other.lost_packets;
        self.path_mtu = other.path_mtu;
        self.rtt = other.rtt;
        self.cwnd = other.cwnd;
        self
    }

    /// What happened since `before` (counters subtracted, path figures from `self`).
    pub fn since(&self, before: &PathStats) -> PathStats {
        PathStats {
            connections: self.connections,
            sent_datagrams: self.sent_datagrams.saturating_sub(before.sent_datagrams),
            received_datagrams: self
                .received_datagrams
                .saturating_sub(before.received_datagrams),
            sent_ios: self.sent_ios.saturating_sub(before.sent_ios),
            received_ios: self.received_ios.saturating_sub(before.received_ios),
            sent_bytes: self.sent_bytes.saturating_sub(before.sent_bytes),
            received_bytes: self.received_bytes.saturating_sub(before.received_bytes),
            sent_packets: self.sent_packets.saturating_sub(before.sent_packets),
            lost_packets: self.lost_packets.saturating_sub(before.lost_packets),
            ..*self
        }
    }
}

impl From<rpc_core::transport::ConnectionStats> for PathStats {
    fn from(s: rpc_core::transport::ConnectionStats) -> Self {
        PathStats {
            connections: 1,
            sent_datagrams: s.sent_datagrams,
            received_datagrams: s.received_datagrams,
            sent_ios: s.sent_ios,
            received_ios: s.received_ios,
            sent_bytes: s.sent_bytes,
            received_bytes: s.received_bytes,
            sent_packets: s.sent_packets,
            lost_packets: s.lost_packets,
            path_mtu: s.path_mtu,
            rtt: s.rtt,
            cwnd: s.cwnd,
        }
    }
}

/// One connection of [`RpcDriver`]: the generated client over the layered channel, and the
/// channel itself for its statistics.
#[derive(Clone)]
pub struct RpcConn<S> {
    client: EchoClient<S>,
    channel: Channel,
}

impl<S> std::ops::Deref for RpcConn<S> {
    type Target = EchoClient<S>;
    fn deref(&self) -> &EchoClient<S> {
        &self.client
    }
}

/// Drives rpc-core through the generated `EchoClient`, over each connection's `Channel`
/// wrapped in the tower layer `L`. With the default, [`Identity`], the client holds the
/// plain `Channel` and its calls take the direct path.
#[derive(Debug, Clone)]
pub struct RpcDriver<L = Identity> {
    endpoint: Endpoint,
    layer: L,
    breakdown: Option<Arc<Breakdown>>,
}

impl RpcDriver {
    /// Connects with `endpoint` (address, TLS and QUIC settings).
    pub fn new(endpoint: Endpoint) -> Self {
        RpcDriver::with_layer(endpoint, Identity::new())
    }
}

impl<L> RpcDriver<L> {
    /// Connects with `endpoint` and sends every call through `layer` (`rpc-bench
    /// --metrics` measures rpc-metrics' `ClientMetricsLayer` this way).
    pub fn with_layer(endpoint: Endpoint, layer: L) -> Self {
        RpcDriver {
            endpoint,
            layer,
            breakdown: None,
        }
    }

    /// Collects every unary and server-streaming call's [`CallInfo`] into `breakdown`, if
    /// given (`rpc-bench --breakdown`).
    pub fn with_breakdown(mut self, breakdown: Option<Arc<Breakdown>>) -> Self {
        self.breakdown = breakdown;
        self
    }

    /// A request for `message`, collecting its call's info when there is a breakdown.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if self.breakdown.is_some() {
            CallInfo::collect(&mut request);
        }
        request
    }

    /// Records `response`'s call info in the breakdown.
    fn note<T>(&self, response: &Response<T>) {
        if let (Some(breakdown), Some(info)) = (&self.breakdown, CallInfo::of(response)) {
            breakdown.record(info);
        }
    }
}

/// An open bidirectional echo call: the request sender and the response stream.
pub struct RpcBidi {
    tx: mpsc::Sender<EchoRequest>,
    rx: Streaming<crate::echo::EchoResponse>,
}

impl std::fmt::Debug for RpcBidi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcBidi").finish_non_exhaustive()
    }
}

/// An echo request carrying `payload`, answered in kind.
pub(crate) fn request(payload: Bytes) -> EchoRequest {
    EchoRequest {
        payload,
        response_size: 0,
        response_count: 0,
    }
}

/// A request for `count` responses of `size` bytes.
pub(crate) fn stream_request(size: u32, count: u32) -> EchoRequest {
    EchoRequest {
        payload: Bytes::new(),
        response_size: size,
        response_count: count,
    }
}

/// Reads a response stream to its end: the payload bytes received.
pub(crate) async fn drain(mut stream: Streaming<EchoResponse>) -> Result<u64, Failure> {
    let mut got = 0u64;
    while let Some(m) = stream.message().await.map_err(|s| failure(&s))? {
        got += m.payload.len() as u64;
    }
    Ok(got)
}

/// `count` requests of `payload` in one client-streaming call: the reply's payload bytes.
pub(crate) async fn client_stream<S: CallService>(
    client: &EchoClient<S>,
    payload: Bytes,
    count: u32,
) -> Result<u64, Failure> {
    let requests = futures_util::stream::iter((0..count).map(move |_| request(payload.clone())));
    let reply = client
        .client_stream(requests)
        .await
        .map_err(|s| failure(&s))?;
    Ok(reply.into_inner().payload.len() as u64)
}

/// Opens a bidirectional echo call.
pub(crate) async fn open_bidi<S: CallService>(client: &EchoClient<S>) -> Result<RpcBidi, Failure> {
    let (tx, mut rx) = mpsc::channel::<EchoRequest>(16);
    let requests = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let rx = client
        .bidi(requests)
        .await
        .map_err(|s| failure(&s))?
        .into_inner();
    Ok(RpcBidi { tx, rx })
}

/// One round trip on an open bidirectional call: the response's payload bytes.
pub(crate) async fn ping(bidi: &mut RpcBidi, payload: Bytes) -> Result<u64, Failure> {
    bidi.tx
        .send(request(payload))
        .await
        .map_err(|_| "BidiClosed".to_owned())?;
    match bidi.rx.next().await {
        Some(Ok(m)) => Ok(m.payload.len() as u64),
        Some(Err(s)) => Err(failure(&s)),
        None => Err("BidiEnded".to_owned()),
    }
}

impl<L> Driver for RpcDriver<L>
where
    L: Layer<Channel> + Send + Sync + 'static,
    L::Service: CallService,
{
    type Conn = RpcConn<L::Service>;
    type Bidi = RpcBidi;

    async fn connect(&self) -> Result<Self::Conn, Failure> {
        self.endpoint
            .connect()
            .await
            .map(|channel| RpcConn {
                client: EchoClient::new(self.layer.layer(channel.clone())),
                channel,
            })
            .map_err(|e| format!("connect: {e}"))
    }

    fn path_stats(&self, conn: &Self::Conn) -> Option<PathStats> {
        conn.channel.connection_stats().map(PathStats::from)
    }

    async fn unary(&self, conn: &Self::Conn, payload: Bytes) -> Result<u64, Failure> {
        let reply = conn
            .unary(self.request(request(payload)))
            .await
            .map_err(|s| failure(&s))?;
        self.note(&reply);
        Ok(reply.into_inner().payload.len() as u64)
    }

    async fn server_stream(
        &self,
        conn: &Self::Conn,
        size: u32,
        count: u32,
    ) -> Result<u64, Failure> {
        let response = conn
            .server_stream(self.request(stream_request(size, count)))
            .await
            .map_err(|s| failure(&s))?;
        self.note(&response);
        drain(response.into_inner()).await
    }

    async fn client_stream(
        &self,
        conn: &Self::Conn,
        payload: Bytes,
        count: u32,
    ) -> Result<u64, Failure> {
        client_stream(conn, payload, count).await
    }

    async fn open_bidi(&self, conn: &Self::Conn) -> Result<RpcBidi, Failure> {
        open_bidi(conn).await
    }

    async fn ping(&self, bidi: &mut RpcBidi, payload: Bytes) -> Result<u64, Failure> {
        ping(bidi, payload).await
    }
}
