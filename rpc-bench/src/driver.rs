//! What the load loop drives: a [`Driver`] makes connections and performs one call of each
//! kind. [`RpcDriver`] drives rpc-core's generated echo client; the baselines of the
//! `benches` crate (raw quinn, tonic) implement the same trait, so one loop measures all.

use crate::breakdown::Breakdown;
use crate::echo::echo_client::EchoClient;
use crate::echo::EchoRequest;
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

fn request(payload: Bytes) -> EchoRequest {
    EchoRequest {
        payload,
        response_size: 0,
        response_count: 0,
    }
}

impl<L> Driver for RpcDriver<L>
where
    L: Layer<Channel> + Send + Sync + 'static,
    L::Service: CallService,
{
    type Conn = EchoClient<L::Service>;
    type Bidi = RpcBidi;

    async fn connect(&self) -> Result<Self::Conn, Failure> {
        self.endpoint
            .connect()
            .await
            .map(|channel| EchoClient::new(self.layer.layer(channel)))
            .map_err(|e| format!("connect: {e}"))
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
        let req = EchoRequest {
            payload: Bytes::new(),
            response_size: size,
            response_count: count,
        };
        let response = conn
            .server_stream(self.request(req))
            .await
            .map_err(|s| failure(&s))?;
        self.note(&response);
        let mut stream = response.into_inner();
        let mut got = 0u64;
        while let Some(m) = stream.message().await.map_err(|s| failure(&s))? {
            got += m.payload.len() as u64;
        }
        Ok(got)
    }

    async fn client_stream(
        &self,
        conn: &Self::Conn,
        payload: Bytes,
        count: u32,
    ) -> Result<u64, Failure> {
        let requests =
            futures_util::stream::iter((0..count).map(move |_| request(payload.clone())));
        let reply = conn
            .client_stream(requests)
            .await
            .map_err(|s| failure(&s))?;
        Ok(reply.into_inner().payload.len() as u64)
    }

    async fn open_bidi(&self, conn: &Self::Conn) -> Result<RpcBidi, Failure> {
        let (tx, mut rx) = mpsc::channel::<EchoRequest>(16);
        let requests = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let rx = conn
            .bidi(requests)
            .await
            .map_err(|s| failure(&s))?
            .into_inner();
        Ok(RpcBidi { tx, rx })
    }

    async fn ping(&self, bidi: &mut RpcBidi, payload: Bytes) -> Result<u64, Failure> {
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
}
