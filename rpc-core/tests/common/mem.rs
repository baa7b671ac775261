//! The test service over the in-memory transport (`rpc_core::transport::mem`), for tests that
//! run under `tokio::time::pause`: no socket, no TLS, no real waiting.

use super::{Probe, TestService};
use bytes::{Bytes, BytesMut};
use prost::Message;
use rpc_core::server::{CallFuture, CallOutcome, NamedService, ServerCall, ServerHandle, Service};
use rpc_core::transport::mem::{self, MemConnection, MemConnector, MemRecvStream, MemSendStream};
use rpc_core::transport::{Connector, Listener, RecvStream, SendStream, StreamError};
use rpc_core::wire::{encode, ClientEvent, ClientRecv, FrameLimits, RequestHead};
use rpc_core::{Channel, Endpoint, Server, ServerBuilder, Status};
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server did with the calls that reached the test service.
#[derive(Clone, Default)]
pub struct Calls {
    dispatched: Arc<AtomicUsize>,
    outcomes: Arc<Mutex<Vec<CallOutcome>>>,
}

impl Calls {
    /// Calls routed to the service (its dispatch ran; the handler may not have).
    pub fn dispatched(&self) -> usize {
        self.dispatched.load(Ordering::SeqCst)
    }

    /// How the calls whose future completed ended, in the order they ended.
    pub fn outcomes(&self) -> Vec<CallOutcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// [`TestService`] under its own name, counting dispatches and recording outcomes.
struct Counted {
    inner: TestService,
    calls: Calls,
}

impl NamedService for Counted {
    const NAME: &'static str = TestService::NAME;
}

impl Service for Counted {
    fn call(&self, call: ServerCall) -> CallFuture {
        self.calls.dispatched.fetch_add(1, Ordering::SeqCst);
        let call = self.inner.call(call);
        let outcomes = self.calls.outcomes.clone();
        Box::pin(async move {
            let outcome = call.await;
            outcomes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(outcome);
            outcome
        })
    }
}

/// A server of the test service over an in-memory listener.
pub struct MemServer {
    pub handle: ServerHandle,
    /// Live handler futures of the test service.
    pub probe: Probe,
    pub calls: Calls,
    /// The server's `serve_with_shutdown` future.
    pub task: tokio::task::JoinHandle<()>,
}

impl MemServer {
    /// Live handler futures.
    pub fn live(&self) -> usize {
        self.probe.0.load(Ordering::SeqCst)
    }
}

/// Serves the test service on `listener` until `signal` completes (or the handle's
/// `shutdown`).
pub fn serve(
    builder: ServerBuilder,
    listener: impl Listener,
    signal: impl Future<Output = ()> + Send + 'static,
) -> MemServer {
    let calls = Calls::default();
    let service = TestService::default();
    let probe = service.probe.clone();
    let server = builder
        .add_service(Counted {
            inner: service,
            calls: calls.clone(),
        })
        .listen(listener);
    let handle = server.handle();
    let task = tokio::spawn(server.serve_with_shutdown(signal));
    MemServer {
        handle,
        probe,
        calls,
        task,
    }
}

/// A server with `builder`'s settings until `signal`, a connector to it, and a connected
/// channel.
pub async fn start_until(
    builder: ServerBuilder,
    signal: impl Future<Output = ()> + Send + 'static,
) -> (Channel, MemConnector, MemServer) {
    let (connector, listener) = mem::listener();
    let server = serve(builder, listener, signal);
    let channel = Endpoint::from_connector(connector.clone())
        .connect()
        .await
        .expect("in-memory connect");
    (channel, connector, server)
}

/// A server with `builder`'s settings and a channel connected to it.
pub async fn start_with(builder: ServerBuilder) -> (Channel, MemServer) {
    let (channel, _, server) = start_until(builder, std::future::pending()).await;
    (channel, server)
}

/// A server with default settings and a channel connected to it.
pub async fn start() -> (Channel, MemServer) {
    start_with(Server::builder()).await
}

/// Yields one connection, then nothing (without ending, which would stop the server).
pub struct OnceListener(Option<MemConnection>);

impl Listener for OnceListener {
    type Connection = MemConnection;

    async fn accept(&mut self) -> Option<MemConnection> {
        match self.0.take() {
            Some(conn) => Some(conn),
            None => std::future::pending().await,
        }
    }
}

/// Connects to one fixed connection (clones of one end).
pub struct FixedConnector(pub MemConnection);

impl Connector for FixedConnector {
    type Connection = MemConnection;

    async fn connect(&self) -> Result<MemConnection, rpc_core::Error> {
        Ok(self.0.clone())
    }
}

/// A server serving one [`mem::pair`] connection, and its client end, for raw frames. A
/// channel over the same connection: `Endpoint::from_connector(FixedConnector(conn.clone()))`.
pub fn start_raw(builder: ServerBuilder) -> (MemConnection, MemServer) {
    let (client, server_end) = mem::pair();
    let server = serve(
        builder,
        OnceListener(Some(server_end)),
        std::future::pending(),
    );
    (client, server)
}

/// The frames of a request head.
pub fn head(path: &str, timeout: Option<Duration>) -> BytesMut {
    let mut buf = BytesMut::new();
    encode::request_head(
        &RequestHead {
            path: path.into(),
            timeout,
            flags: 0,
            metadata: Default::default(),
        },
        &mut buf,
    );
    buf
}

/// Appends a `MESSAGE` frame carrying `msg`.
pub fn push_message(buf: &mut BytesMut, msg: &super::Msg) {
    encode::raw_message(&msg.encode_to_vec(), buf);
}

/// Writes all of `data`.
pub async fn write_all(send: &mut MemSendStream, data: &[u8]) -> Result<(), StreamError> {
    let mut data = Bytes::copy_from_slice(data);
    while !data.is_empty() {
        poll_fn(|cx| send.poll_write(cx, &mut data)).await?;
    }
    Ok(())
}

/// What a raw client read on a response stream.
#[derive(Debug)]
pub struct Reply {
    /// The events decoded, in order.
    pub events: Vec<ClientEvent>,
    /// How the stream ended: `Ok` at its FIN, or the read error (a reset).
    pub end: Result<(), StreamError>,
}

impl Reply {
    /// The status of the trailers, if they arrived (`Ok` for successful trailers).
    pub fn status(&self) -> Option<Result<(), Status>> {
        self.events.iter().find_map(|e| match e {
            ClientEvent::Trailers(Ok(_)) => Some(Ok(())),
            ClientEvent::Trailers(Err(s)) => Some(Err(s.clone())),
            _ => None,
        })
    }

    /// The response messages, decoded.
    pub fn messages(&self) -> Vec<super::Msg> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Message(b) => Some(super::Msg::decode(b.clone()).unwrap()),
                _ => None,
            })
            .collect()
    }
}

/// Reads a response stream to its end (FIN or reset), decoding its frames. Panics on a
/// frame a conforming server would not send.
pub async fn read_reply(recv: &mut MemRecvStream) -> Reply {
    let mut rx = ClientRecv::new(FrameLimits {
        max_message: rpc_core::DEFAULT_MAX_MESSAGE_SIZE,
        max_headers: rpc_core::DEFAULT_MAX_HEADER_LIST_SIZE,
    });
    let mut events = Vec::new();
    let end = loop {
        match poll_fn(|cx| recv.poll_read(cx)).await {
            Ok(Some(chunk)) => rx.handle_data(chunk),
            Ok(None) => {
                rx.handle_fin();
                break Ok(());
            }
            Err(e) => break Err(e),
        }
        while let Some(event) = rx.poll_event().expect("a well-formed response") {
            events.push(event);
        }
    };
    if end.is_ok() {
        while let Some(event) = rx.poll_event().expect("a well-formed response") {
            events.push(event);
        }
    }
    Reply { events, end }
}
