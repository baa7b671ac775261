//! The client: [`Channel`] (one connection, any number of concurrent calls), [`Endpoint`]
//! (where and how to connect), and [`service`]: calls as a tower `Service`, for client
//! middleware and for generated clients over a tower stack.

mod connectivity;
mod endpoint;
pub mod retry;
pub mod service;

pub use connectivity::{BackoffConfig, ConnectivityState, WaitForReady};
pub use endpoint::Endpoint;

use crate::call_info::{CallBytes, MaybeProbe, Probe};
use crate::codec::{encode_frame, BoxDecoder, Codec, Decoder, Encoder};
use crate::compression::{CompressionConfig, SendCompression};
use crate::config::Settings;
use crate::metadata::MetadataMap;
use crate::request::{Request, Response};
use crate::status::Status;
use crate::streaming::{ClientCall, ClientSide, Sender, Streaming};
use crate::transport::{
    quic, AnyConn, AnyRecv, AnySend, ConnectionError, Peer, RecvHalf, SendError, SendHalf,
};
use crate::wire::early::Start;
use crate::wire::machine::ClientCallState;
use crate::wire::{self, head::flags, CallError, ClientEvent, ClientRecv, FrameLimits};
use arc_swap::ArcSwapOption;
use bytes::BytesMut;
use futures_core::Stream;
use futures_util::future::FusedFuture;
use futures_util::{FutureExt, StreamExt};
use std::fmt;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// A connection to a server that carries any number of concurrent calls, each on its own QUIC
/// stream, so a slow call never blocks another. Cheap to clone; clones share the connection.
///
/// Generated clients wrap a channel; the generic call paths below are what they call, and
/// are usable directly with any [`Codec`].
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    /// The live connection. Read lock-free on every call; replaced after a loss.
    conn: ArcSwapOption<AnyConn>,
    /// Serializes reconnects; holds what only they need.
    state: tokio::sync::Mutex<State>,
    config: Endpoint,
    limits: FrameLimits,
    max_send: usize,
    compression: CompressionConfig,
    default_timeout: Option<Duration>,
    closed: AtomicBool,
    /// Whether `conn` was resumed in 0-RTT and its handshake may not be confirmed yet: then
    /// calls pass the gate of PROTOCOL.md §3.5 (`early`). Read on every call, so one flag.
    handshaking: AtomicBool,
    /// The 0-RTT connection and its handshake, while `handshaking`.
    early: std::sync::Mutex<Option<(Arc<AnyConn>, quic::client::Handshake)>>,
    /// The connectivity state, published on every change (never read by calls).
    connectivity: tokio::sync::watch::Sender<ConnectivityState>,
    /// Cancelled when the channel is dropped: ends its connection watchers.
    dropped: tokio_util::sync::CancellationToken,
    /// Whether the live connection was opened in 0-RTT (reported by `CallInfo`).
    zero_rtt_conn: AtomicBool,
    /// The live connection's calls with datagrams (PROTOCOL.md §18); touched only by them.
    datagrams: crate::datagram::Hub,
}

#[derive(Default)]
struct State {
    quic: quic::client::Dialer,
    /// After a failed connect, calls fail fast until the pause is over (PROTOCOL.md §11.3).
    backoff: connectivity::Backoff,
}

/// What a call (or `connect`) does about a missing connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Connect now, whatever the backoff (`Endpoint::connect`).
    Now,
    /// Connect unless pausing after a failure; then fail with the failure.
    FailFast,
    /// Connect, waiting out pauses (`WaitForReady`).
    WaitForReady,
}

impl Inner {
    /// Publishes a new connectivity state; `Shutdown` is final.
    fn publish(&self, state: ConnectivityState) {
        self.connectivity.send_if_modified(|now| {
            if *now == state || *now == ConnectivityState::Shutdown {
                return false;
            }
            *now = state;
            true
        });
    }

    /// Drops `conn` from the channel if it is still its connection: the next call connects.
    fn retire(&self, conn: &Arc<AnyConn>) {
        let current = self.conn.load();
        if !current.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            return;
        }
        self.conn.compare_and_swap(&current, None::<Arc<AnyConn>>);
        crate::transport::quic::pmtu::remember_any(conn);
        let mut early = self.early.lock().unwrap_or_else(|e| e.into_inner());
        if early.as_ref().is_some_and(|(c, _)| Arc::ptr_eq(c, conn)) {
            *early = None;
            self.handshaking.store(false, Ordering::Release);
        }
        drop(early);
        self.publish(ConnectivityState::Idle);
    }
}

/// Publishes `Idle` if a connection attempt is dropped before it ends.
struct Abandoned<'a>(Option<&'a Arc<Inner>>);

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let Some(inner) = self.0 {
            inner.publish(ConnectivityState::Idle);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.dropped.cancel();
        if let Some(conn) = self.conn.load_full() {
            // The next connection to this server starts at the path MTU this one found.
            crate::transport::quic::pmtu::remember_any(&conn);
            conn.close(wire::ErrorCode::NO_ERROR, b"channel dropped");
        }
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("host", &self.inner.config.host())
            .field("port", &self.inner.config.port())
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl Channel {
    pub(crate) fn new(config: Endpoint) -> Self {
        let settings: &Settings = &config.settings;
        Channel {
            inner: Arc::new(Inner {
                conn: ArcSwapOption::empty(),
                state: tokio::sync::Mutex::new(State::default()),
                limits: settings.frame_limits(),
                max_send: settings.max_encoding_message_size,
                compression: settings.compression,
                default_timeout: config.timeout,
                config,
                closed: AtomicBool::new(false),
                handshaking: AtomicBool::new(false),
                early: std::sync::Mutex::new(None),
                connectivity: tokio::sync::watch::Sender::new(ConnectivityState::Idle),
                dropped: tokio_util::sync::CancellationToken::new(),
                zero_rtt_conn: AtomicBool::new(false),
                datagrams: crate::datagram::Hub::default(),
            }),
        }
    }

    /// Connects to `dst` with default settings; see [`Endpoint`] for more.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons the connection attempt.
    pub async fn connect(
        dst: impl TryInto<Endpoint, Error = crate::Error>,
    ) -> Result<Self, crate::Error> {
        dst.try_into()?.connect().await
    }

    /// The server's address, once connected.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.live().and_then(|c| c.remote_addr())
    }

    /// The endpoint the channel connects to: its host, port and settings.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.config
    }

    /// What protects this channel's connections, from its configuration: whether a secret
    /// may be sent over it (credential layers check this before adding a token).
    pub fn transport_security(&self) -> crate::transport::Security {
        let config = &self.inner.config;
        match &config.connector {
            Some(connector) => connector.security(),
            None => config.quic_security(),
        }
    }

    /// The current round-trip time estimate, once connected.
    pub fn rtt(&self) -> Option<Duration> {
        self.live().and_then(|c| c.rtt())
    }

    /// The live connection's statistics (RTT, congestion window, losses, datagrams, path
    /// MTU), once connected, when the transport keeps them (QUIC does).
    pub fn connection_stats(&self) -> Option<crate::transport::ConnectionStats> {
        self.live().and_then(|c| c.stats())
    }

    /// Whether a connection is up now.
    pub fn is_connected(&self) -> bool {
        self.live().is_some()
    }

    /// Closes the channel for good: calls in flight and later calls end with `Unavailable`.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner
            .connectivity
            .send_replace(ConnectivityState::Shutdown);
        if let Some(conn) = self.inner.conn.load_full() {
            conn.close(wire::ErrorCode::NO_ERROR, b"channel closed");
        }
    }

    /// The channel's connectivity state now (gRPC's): see [`ConnectivityState`].
    pub fn state(&self) -> ConnectivityState {
        let state = *self.inner.connectivity.borrow();
        // A transport that cannot report the end of a connection leaves `Ready` published.
        if state == ConnectivityState::Ready && self.live().is_none() {
            return ConnectivityState::Idle;
        }
        state
    }

    /// Follows the connectivity state: the receiver sees every change from now on
    /// (`changed().await`, `wait_for(..)`), as gRPC's `WaitForStateChange`. States change when
    /// the channel connects, fails, loses its connection (a connection lost, drained by the
    /// server or past the keep-alive timeout, PROTOCOL.md §3.4, §12) or is closed.
    ///
    /// ```no_run
    /// # async fn demo(channel: rpc_core::Channel) {
    /// use rpc_core::client::ConnectivityState;
    /// let mut state = channel.watch_state();
    /// let _ = state.wait_for(|s| *s == ConnectivityState::Ready).await;
    /// # }
    /// ```
    pub fn watch_state(&self) -> tokio::sync::watch::Receiver<ConnectivityState> {
        self.inner.connectivity.subscribe()
    }

    /// Moves the channel's connection to a new local UDP socket (QUIC connection migration,
    /// RFC 9000 §9): calls in flight carry on from the new address, as after a change of
    /// network. Returns the new local address.
    ///
    /// Needs a socket of the channel's own, bound at [`Endpoint::local_address`]: channels
    /// share one by default, and moving it would move them all.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn rebind(&self, socket: std::net::UdpSocket) -> Result<SocketAddr, crate::Error> {
        use crate::error::{Error, Kind};
        let config = &self.inner.config;
        if config.connector.is_some() || config.has_own_socket() || config.local_addr.is_none() {
            return Err(Error::new(
                Kind::Io,
                "the channel has no UDP socket of its own to move (set Endpoint::local_address)",
            ));
        }
        let local = socket
            .local_addr()
            .map_err(|e| Error::with(Kind::Io, "cannot read the new socket's address", e))?;
        let state = self.inner.state.lock().await;
        match state.quic.rebind(socket) {
            Ok(true) => Ok(local),
            Ok(false) => Err(Error::new(Kind::Io, "the channel has not connected yet")),
            Err(e) => Err(Error::with(Kind::Io, format!("cannot move to {local}"), e)),
        }
    }

    /// Waits until the connection's close has reached the server (bounded by the idle
    /// timeout). Call after [`Channel::close`] before exiting a process.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_idle(&self) {
        let waiting = self.inner.state.lock().await.quic.wait_idle();
        waiting.await;
    }

    fn live(&self) -> Option<Arc<AnyConn>> {
        self.inner.conn.load_full().filter(|c| !c.is_closed())
    }

    /// The live connection, connecting or reconnecting if needed.
    /// Reconnects (fail-fast during backoff). Boxed: the handshake's state is large and
    /// rare, and would otherwise take room in every call's future.
    async fn reconnected(&self, wait: bool) -> Result<Arc<AnyConn>, Status> {
        let mode = if wait {
            Mode::WaitForReady
        } else {
            Mode::FailFast
        };
        Box::pin(self.reconnect(mode))
            .await
            .map_err(|e| Status::unavailable(e.to_string()).unprocessed())
    }

    pub(crate) async fn connect_now(&self) -> Result<(), crate::Error> {
        self.reconnect(Mode::Now).await.map(drop)
    }

    /// Whether a call waits for a connection: its [`WaitForReady`], else the endpoint's.
    #[inline]
    fn waits<T>(&self, request: &Request<T>) -> bool {
        request
            .extensions()
            .get::<WaitForReady>()
            .map_or(self.inner.config.wait_for_ready, |w| w.0)
    }

    /// For a call that waits for ready: a connection, waiting through failed attempts and
    /// their backoff (bounded by the caller with the call's deadline). Calls that do not
    /// wait go on to `open`, which connects once or fails fast.
    async fn ready(&self) -> Result<(), Status> {
        if self.live().is_none() {
            self.reconnected(true).await?;
        }
        Ok(())
    }

    async fn reconnect(&self, mode: Mode) -> Result<Arc<AnyConn>, crate::Error> {
        use crate::error::Kind;
        loop {
            let mut state = self.inner.state.lock().await;
            // Another call may have reconnected while this one waited for the lock.
            if let Some(conn) = self.live() {
                return Ok(conn);
            }
            if self.inner.closed.load(Ordering::SeqCst) {
                return Err(crate::Error::new(Kind::Connect, "the channel was closed"));
            }
            if mode != Mode::Now {
                if let Some((until, err)) = state.backoff.pausing(Instant::now()) {
                    if mode == Mode::FailFast {
                        return Err(crate::Error::new(Kind::Connect, err.to_owned()));
                    }
                    // Waits for ready: until the pause is over (or another call connected,
                    // or the channel was closed), without holding the lock.
                    drop(state);
                    let mut watch = self.inner.connectivity.subscribe();
                    let settled = watch.wait_for(|s| {
                        matches!(s, ConnectivityState::Ready | ConnectivityState::Shutdown)
                    });
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        _ = settled => {}
                    }
                    continue;
                }
            }
            match self.attempt(&mut state).await {
                // Waits for ready: on to the next attempt, after its pause.
                Err(_) if mode == Mode::WaitForReady => continue,
                done => return done,
            }
        }
    }

    /// One connection attempt, under the reconnect lock.
    async fn attempt(&self, state: &mut State) -> Result<Arc<AnyConn>, crate::Error> {
        self.inner.publish(ConnectivityState::Connecting);
        // An attempt abandoned half-way (its call dropped) leaves the channel idle.
        let mut abandoned = Abandoned(Some(&self.inner));
        let started = Instant::now();
        let result = match &self.inner.config.connector {
            Some(connector) => connector.connect().await.map(|c| (c, None)),
            None => state.quic.connect(&self.inner.config).await,
        };
        abandoned.0 = None;
        match result {
            Ok((conn, handshake)) => {
                let conn = Arc::new(conn);
                // The gate is set before the connection is published: a call that sees the
                // connection sees the flag (Release here, Acquire in `open_on`).
                let handshaking = handshake.is_some();
                *self.inner.early.lock().unwrap_or_else(|e| e.into_inner()) =
                    handshake.map(|h| (conn.clone(), h));
                self.inner.handshaking.store(handshaking, Ordering::Release);
                self.inner
                    .zero_rtt_conn
                    .store(handshaking, Ordering::Relaxed);
                self.inner.conn.store(Some(conn.clone()));
                state.backoff.succeeded();
                self.inner.publish(ConnectivityState::Ready);
                self.watch(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                let backoff = &self.inner.config.backoff;
                state.backoff.failed(backoff, started, &e);
                self.inner.publish(ConnectivityState::TransientFailure);
                Err(e)
            }
        }
    }

    /// Watches a new connection until it ends, is drained by the server (PROTOCOL.md §12)
    /// or goes silent past the keep-alive timeout (§3.4, closed then): the channel then
    /// drops it, so that the next call connects anew, and turns `Idle`. Calls in flight on a
    /// drained connection finish on it; the last one to end lets it close.
    fn watch(&self, conn: Arc<AnyConn>) {
        use futures_util::future::Either;
        let inner = Arc::downgrade(&self.inner);
        let silence = self.inner.config.settings.keep_alive_silence();
        let dropped = self.inner.dropped.clone();
        tokio::spawn(async move {
            let ended = match silence.and_then(|s| conn.watch_liveness(s)) {
                Some(watching) => Either::Left(watching.map(drop)),
                None => Either::Right(conn.closed()),
            };
            let drained = conn.drained();
            tokio::select! {
                () = ended => {}
                () = drained => tracing::debug!("the server drains the connection"),
                // The channel is gone (a transport that cannot say when its connection ends).
                () = dropped.cancelled() => return,
            }
            if let Some(inner) = inner.upgrade() {
                inner.retire(&conn);
            }
        });
    }

    /// Runs the endpoint's interceptors on `request`.
    async fn intercept<T: Send + 'static>(
        &self,
        path: &str,
        mut request: Request<T>,
    ) -> Result<Request<T>, Status> {
        let interceptors = &self.inner.config.interceptors;
        if interceptors.is_empty() {
            return Ok(request);
        }
        request.set_path(path.to_owned());
        let mut request = interceptors.run(request).await?;
        request.take_path();
        Ok(request)
    }

    fn deadline(&self, timeout: Option<Duration>) -> (Option<Duration>, Option<Instant>) {
        // `Duration::MAX` is `Request::clear_timeout`: no deadline, none sent.
        let timeout = timeout
            .or(self.inner.default_timeout)
            .filter(|t| *t != Duration::MAX);
        (timeout, timeout.and_then(|t| Instant::now().checked_add(t)))
    }

    /// Opens a call's stream. Its response has exactly one message if `single_response`.
    /// `opening`: whether the call may go in 0-RTT data (`wire::early::may_send_early`;
    /// returns whether it does), its send priority, set when not 0, and whether it takes
    /// datagrams.
    async fn open(
        &self,
        single_response: bool,
        deadline: Option<Instant>,
        opening: Opening,
    ) -> Result<(ClientCall, bool), Status> {
        let Opening {
            early_ok,
            priority,
            datagrams,
        } = opening;
        // Nothing is sent until a stream is open: every failure here is before the server.
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(Status::unavailable("the channel was closed").unprocessed());
        }
        // The connection is not checked before use (that takes its lock): opening a stream
        // on a lost one fails at once, and nothing has been sent, so reconnect and retry once.
        let conn = match self.inner.conn.load_full() {
            Some(conn) => conn,
            None => self.reconnected(false).await?,
        };
        let (opened, mut early) = self.open_on(&conn, early_ok).await;
        let (conn, (mut send, recv)) = match opened {
            Ok(pair) => (conn, pair),
            Err(_) => {
                let conn = self.reconnected(false).await?;
                let (opened, again) = self.open_on(&conn, early_ok).await;
                early = again;
                (conn, opened.map_err(|e| e.to_status().unprocessed())?)
            }
        };
        if priority != 0 {
            send.set_priority(priority);
        }
        let datagrams = if datagrams {
            let queue = self.inner.config.settings.max_datagram_queue;
            self.inner.datagrams.register(&conn, send.id(), queue)
        } else {
            None
        };
        let mut rx = ClientRecv::new(self.inner.limits);
        rx.set_single_message(single_response);
        rx.set_accept_encoding(self.inner.compression.accept);
        let call = ClientCall {
            send: Some(SendHalf::new(send, Peer::Server)),
            recv: RecvHalf::new(recv, rx, Peer::Server),
            sender: None,
            state: ClientCallState::new(deadline.map(Instant::into_std)),
            datagrams,
        };
        Ok((call, early))
    }

    /// Opens a stream on `conn`, through the 0-RTT gate while its handshake is not confirmed
    /// (PROTOCOL.md §3.5); says whether the stream goes out as early data. A plain function:
    /// without 0-RTT, the call path is quinn's future and one flag.
    #[inline]
    fn open_on<'a>(
        &'a self,
        conn: &'a Arc<AnyConn>,
        early_ok: bool,
    ) -> impl Future<Output = (Result<(AnySend, AnyRecv), ConnectionError>, bool)> + Send + 'a {
        use futures_util::future::Either;
        if !self.inner.handshaking.load(Ordering::Acquire) {
            return Either::Left(conn.open_bi().map(|opened| (opened, false)));
        }
        Either::Right(Box::pin(async move {
            let early = self.gate(conn, early_ok).await;
            (conn.open_bi().await, early)
        }))
    }

    /// Waits, unless the call may go in 0-RTT data, until `conn`'s handshake is confirmed;
    /// returns whether the call goes early.
    async fn gate(&self, conn: &Arc<AnyConn>, early_ok: bool) -> bool {
        let Some(mut handshake) = self.handshake_of(conn) else {
            return false;
        };
        match wire::early::start(true, early_ok) {
            Start::Early => true,
            Start::Now | Start::AfterHandshake => {
                // An error: the watch is gone, so is the handshake.
                let _ = handshake.wait_for(|done| *done).await;
                false
            }
        }
    }

    /// `conn`'s handshake, while it is not confirmed; clears the gate once it is.
    fn handshake_of(&self, conn: &Arc<AnyConn>) -> Option<quic::client::Handshake> {
        let mut early = self.inner.early.lock().unwrap_or_else(|e| e.into_inner());
        let (current, handshake) = early.as_ref()?;
        if !Arc::ptr_eq(current, conn) {
            // An older connection: its handshake was confirmed before it was replaced, or it
            // is closed and opening fails.
            return None;
        }
        if !*handshake.borrow() {
            return Some(handshake.clone());
        }
        *early = None;
        self.inner.handshaking.store(false, Ordering::Release);
        None
    }

    /// How a call compresses its requests (PROTOCOL.md §15): the request's override, else
    /// the channel's setting.
    fn send_compression(
        &self,
        over: Option<Option<crate::CompressionEncoding>>,
    ) -> SendCompression {
        let c = &self.inner.compression;
        SendCompression {
            encoding: over.unwrap_or(c.send),
            threshold: c.threshold,
        }
    }

    /// A buffer holding the request head, with room for `extra` more bytes.
    fn head(
        &self,
        path: &str,
        md: MetadataMap,
        timeout: Option<Duration>,
        idempotent: bool,
        send: SendCompression,
        extra: usize,
    ) -> BytesMut {
        let flags = if idempotent { flags::IDEMPOTENT } else { 0 };
        let compression = wire::HeadCompression {
            encoding: send.encoding,
            accept: self.inner.compression.accept,
        };
        let len = wire::encode::request_head_len(path, timeout, flags, &md, compression);
        let mut buf = BytesMut::with_capacity(len + extra);
        wire::encode::request_head_parts(path, timeout, flags, &md, compression, &mut buf);
        buf
    }

    /// Encodes a single-message request (head and message) into one exactly sized buffer:
    /// the call's one write is one allocation. Synchronous, so the request is not kept in
    /// the call's future.
    fn encode_single<C: Codec>(
        &self,
        path: &str,
        request: Request<C::Encode>,
        codec: &mut C,
        timeout: Option<Duration>,
    ) -> Result<(bytes::Bytes, bool), Status> {
        let mut send = self.send_compression(request.send_compressed());
        let (md, message, _, idempotent) = request.into_parts();
        let mut encoder = codec.encoder();
        let hint = encoder.size_hint(&message);
        // The one message is below the threshold: the head names no algorithm (§15.2), and
        // the call is byte for byte an uncompressed one.
        if hint < send.threshold {
            send.encoding = None;
        }
        let extra = wire::frame::FRAME_HEADER_LEN + hint;
        let mut buf = self.head(path, md, timeout, idempotent, send, extra);
        encode_frame(&mut encoder, &message, &mut buf, self.inner.max_send, send)?;
        Ok((buf.freeze(), idempotent))
    }

    /// Starts a call whose request is a single message: opens its stream, writes `data` (head
    /// and message) and finishes the stream. The call goes into `slot` as soon as it exists,
    /// so a caller that gives up (deadline) can still end it with the right code. Returns
    /// `data` again when the call went in 0-RTT data (`early_ok`), to send again if the
    /// server turns it down (PROTOCOL.md §3.5).
    async fn start_single(
        &self,
        slot: &mut Option<ClientCall>,
        mut data: bytes::Bytes,
        single_response: bool,
        deadline: Option<Instant>,
        opening: Opening,
        probe: &mut MaybeProbe,
    ) -> Result<Option<bytes::Bytes>, Status> {
        let (call, early) = self.open(single_response, deadline, opening).await?;
        let call = slot.insert(call);
        let kept = early.then(|| data.clone());
        if let Some(probe) = probe {
            if let Some(bytes) = &probe.bytes {
                call.count_bytes(bytes.clone());
            }
            if probe.timed() {
                let send = call.send.as_ref().expect("fresh call has a send half");
                self.opened(probe, send.stream_id(), early);
            }
        }
        let send = call.send.as_mut().expect("fresh call has a send half");
        // A write error (the server stopped reading) is not the outcome: the trailers are.
        // The stream usually takes the request at once; waiting for room is boxed, so the
        // write future takes no space in every call's state.
        if send.try_write(&mut data).is_none() {
            let _ = Box::pin(send.write(data)).await;
        }
        call.finish_send();
        if let Some(probe) = probe {
            probe.sent();
        }
        Ok(kept)
    }

    /// Notes in `probe` that its call's stream is open.
    fn opened(&self, probe: &mut Probe, stream_id: Option<u64>, early: bool) {
        let zero_rtt = self.inner.zero_rtt_conn.load(Ordering::Relaxed);
        probe.opened(stream_id, early, zero_rtt, self.connection_stats());
    }

    /// Attaches `probe`'s findings to `response`, answered with `trailers`.
    fn attach<T>(&self, probe: MaybeProbe, response: &mut Response<T>, trailers: &MetadataMap) {
        if let Some(probe) = probe.filter(|p| p.timed()) {
            let info = probe.finish(trailers, self.connection_stats());
            response.extensions_mut().insert(info);
        }
    }

    /// A unary call: one request, one response.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the call: the server is told and its handler is dropped.
    pub async fn unary<C: Codec>(
        &self,
        path: &str,
        request: Request<C::Encode>,
        mut codec: C,
    ) -> Result<Response<C::Decode>, Status> {
        let mut request = request;
        let mut probe = Probe::wanted(&request);
        if !self.inner.config.interceptors.is_empty() {
            request = Box::pin(self.intercept(path, request)).await?;
        }
        let (timeout, deadline) = self.deadline(request.timeout());
        let wait = self.waits(&request);
        let priority = request.priority();
        let datagrams = request.wants_datagrams();
        let (data, idempotent) = self.encode_single(path, request, &mut codec, timeout)?;
        if let Some(probe) = &mut probe {
            probe.encoded();
        }
        let early_ok = wire::early::may_send_early(true, idempotent);
        let mut slot = None;
        // One timer for the whole call.
        let res = within(deadline, async {
            if wait {
                Box::pin(self.ready()).await?;
            }
            let kept = self
                .start_single(
                    &mut slot,
                    data,
                    true,
                    deadline,
                    Opening {
                        early_ok,
                        priority,
                        datagrams,
                    },
                    &mut probe,
                )
                .await?;
            let call = slot.as_mut().expect("set by start_single");
            let read = read_unary(call, &mut codec.decoder(), &mut probe).await;
            match (read, kept) {
                (Err(status), Some(data)) if wire::early::resend(true, status.is_too_early()) => {
                    let again = self.resend_unary(&mut slot, data, deadline, priority, &mut codec);
                    Box::pin(again).await
                }
                (Ok(mut response), _) if probe.is_some() => {
                    let trailers = std::mem::take(response.trailers_mut());
                    self.attach(probe.take(), &mut response, &trailers);
                    *response.trailers_mut() = trailers;
                    Ok(response)
                }
                (res, _) => res,
            }
        })
        .await;
        match res {
            Ok(res) => res,
            Err(status) => Err(slot.as_mut().map_or(status, ClientCall::expire)),
        }
    }

    /// Sends a unary call again after the handshake: it went in 0-RTT data, which the server
    /// turned down (PROTOCOL.md §3.5: never processed).
    async fn resend_unary<C: Codec>(
        &self,
        slot: &mut Option<ClientCall>,
        data: bytes::Bytes,
        deadline: Option<Instant>,
        priority: i32,
        codec: &mut C,
    ) -> Result<Response<C::Decode>, Status> {
        // Not early again: opening waits for the handshake.
        let opening = Opening {
            early_ok: false,
            priority,
            datagrams: false,
        };
        self.start_single(slot, data, true, deadline, opening, &mut None)
            .await?;
        let call = slot.as_mut().expect("set by start_single");
        read_unary(call, &mut codec.decoder(), &mut None).await
    }

    /// A server-streaming call: one request, a stream of responses. Returns once the server
    /// has answered (response head, first message or final status).
    ///
    /// # Cancel safety
    /// Dropping the future, or the returned stream before its end, cancels the call.
    pub async fn server_streaming<C: Codec>(
        &self,
        path: &str,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status> {
        self.single_request_call(path, request, codec, false).await
    }

    /// A call with one request message whose response is streamed; the receive machine holds
    /// the server to one message if `single_response`.
    pub(crate) async fn single_request_call<C: Codec>(
        &self,
        path: &str,
        request: Request<C::Encode>,
        mut codec: C,
        single_response: bool,
    ) -> Result<Response<Streaming<C::Decode>>, Status> {
        let mut probe = Probe::wanted(&request);
        let request = self.intercept(path, request).await?;
        let (timeout, deadline) = self.deadline(request.timeout());
        let wait = self.waits(&request);
        let priority = request.priority();
        let datagrams = request.wants_datagrams();
        let (data, idempotent) = self.encode_single(path, request, &mut codec, timeout)?;
        if let Some(probe) = &mut probe {
            probe.encoded();
        }
        if wait {
            within(deadline, self.ready()).await??;
        }
        let early_ok = wire::early::may_send_early(true, idempotent);
        let attempt = self.single_request_attempt(
            data,
            &mut codec,
            single_response,
            deadline,
            Opening {
                early_ok,
                priority,
                datagrams,
            },
            &mut probe,
        );
        match attempt.await {
            Err((status, Some(data))) if wire::early::resend(true, status.is_too_early()) => {
                // Sent in 0-RTT data and turned down: again after the handshake (§3.5).
                let mut no_probe = None;
                let again = self.single_request_attempt(
                    data,
                    &mut codec,
                    single_response,
                    deadline,
                    Opening {
                        early_ok: false,
                        priority,
                        datagrams,
                    },
                    &mut no_probe,
                );
                Box::pin(again).await.map_err(|(status, _)| status)
            }
            res => res.map_err(|(status, _)| status),
        }
    }

    /// One attempt of [`single_request_call`](Self::single_request_call); a failure comes
    /// with the request when it went in 0-RTT data.
    async fn single_request_attempt<C: Codec>(
        &self,
        data: bytes::Bytes,
        codec: &mut C,
        single_response: bool,
        deadline: Option<Instant>,
        opening: Opening,
        probe: &mut MaybeProbe,
    ) -> Result<Response<Streaming<C::Decode>>, (Status, Option<bytes::Bytes>)> {
        let mut slot = None;
        let start = self.start_single(&mut slot, data, single_response, deadline, opening, probe);
        let kept = match within(deadline, start).await {
            Ok(Ok(kept)) => kept,
            Ok(Err(status)) => return Err((status, None)),
            Err(status) => return Err((slot.as_mut().map_or(status, ClientCall::expire), None)),
        };
        let call = slot.take().expect("set by start_single");
        let mut response = streaming_response(call, Box::new(codec.decoder()), deadline)
            .await
            .map_err(|status| (status, kept))?;
        if let Some(mut p) = probe.take() {
            // The first answer is in: the network's share ends here.
            p.first_byte();
            let trailers = response.get_ref().trailers().cloned().unwrap_or_default();
            self.attach(Some(p), &mut response, &trailers);
        }
        Ok(response)
    }

    /// A client-streaming call: a stream of requests, one response.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the call: the request stream is reset and the server's
    /// handler is dropped.
    pub async fn client_streaming<C, S>(
        &self,
        path: &str,
        request: Request<S>,
        mut codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let request = self.intercept(path, request).await?;
        let (timeout, deadline) = self.deadline(request.timeout());
        if self.waits(&request) {
            within(deadline, self.ready()).await??;
        }
        let send = self.send_compression(request.send_compressed());
        let bytes = CallBytes::of(&request);
        let opening = Opening {
            // A request stream never goes in 0-RTT data (PROTOCOL.md §3.5).
            early_ok: false,
            priority: request.priority(),
            datagrams: request.wants_datagrams(),
        };
        let (md, stream, _, idempotent) = request.into_parts();
        let head = self.head(path, md, timeout, idempotent, send, 256);
        let opening = self.open(true, deadline, opening);
        let (mut call, _) = within(deadline, opening).await??;
        if let Some(bytes) = bytes {
            call.count_bytes(bytes);
        }
        let max_send = self.inner.max_send;
        let compress = send;
        let exchange = async {
            let ClientCall { send, recv, .. } = &mut call;
            let send = send.as_mut().expect("fresh call has a send half");
            let mut encoder = codec.encoder();
            let sending = send_stream(send, head, stream, &mut encoder, (max_send, compress));
            let sending = sending.fuse();
            let mut sending = std::pin::pin!(sending);
            // Read while sending: the server may answer (or fail) before the requests end.
            let mut no_probe = None;
            let mut recv_fut = std::pin::pin!(read_unary_parts(recv, &mut no_probe));
            loop {
                tokio::select! {
                    biased;
                    res = &mut recv_fut => return res.map_err(|s| (s, false)),
                    sent = &mut sending, if !sending.is_terminated() => {
                        // A local encoding error is the outcome.
                        sent.map_err(|s| (s, true))?;
                    }
                }
            }
        };
        match within(deadline, exchange).await {
            Ok(Ok((headers, payload, trailers))) => {
                call.complete();
                let message = codec.decoder().decode(payload)?;
                Ok(from_transport(
                    Response::from_parts(headers, message, trailers),
                    &mut call,
                ))
            }
            Ok(Err((status, local))) => {
                if local {
                    call.cancel();
                } else {
                    call.fail();
                }
                Err(status)
            }
            Err(_) => Err(call.expire()),
        }
    }

    /// A bidirectional call: a stream of requests, a stream of responses, independent of each
    /// other. Returns once the server has answered (response head, first message or final
    /// status); the requests are sent by a background task meanwhile.
    ///
    /// # Cancel safety
    /// Dropping the future, or the returned stream before its end, cancels the call (the
    /// task sending the requests is stopped with it).
    pub async fn streaming<C, S>(
        &self,
        path: &str,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let request = self.intercept(path, request).await?;
        let (timeout, deadline) = self.deadline(request.timeout());
        if self.waits(&request) {
            within(deadline, self.ready()).await??;
        }
        let compress = self.send_compression(request.send_compressed());
        let bytes = CallBytes::of(&request);
        let opening = Opening {
            early_ok: false,
            priority: request.priority(),
            datagrams: request.wants_datagrams(),
        };
        let (md, stream, _, idempotent) = request.into_parts();
        let head = self.head(path, md, timeout, idempotent, compress, 256);
        let opening = self.open(false, deadline, opening);
        let (mut call, _) = within(deadline, opening).await??;
        if let Some(bytes) = bytes {
            call.count_bytes(bytes);
        }
        let send = call.send.take().expect("fresh call has a send half");
        let max_send = self.inner.max_send;
        let mut codec = codec;
        let mut encoder = codec.encoder();
        call.sender = Some(Sender::spawn(send, move |mut send| async move {
            // A local encoding error drops `send` unfinished, which resets the stream, and is
            // the call's outcome (the response side picks it up).
            send_stream(
                &mut send.half,
                head,
                stream,
                &mut encoder,
                (max_send, compress),
            )
            .await
            .err()
        }));
        streaming_response(call, Box::new(codec.decoder()), deadline).await
    }
}

/// `f` bounded by `deadline`: `Err(DEADLINE_EXCEEDED)` when it passes first.
fn within<F: Future>(deadline: Option<Instant>, f: F) -> Within<F> {
    Within {
        work: f,
        sleep: deadline.map(tokio::time::sleep_until),
    }
}

pin_project_lite::pin_project! {
    /// The future of [`within`]. The work is polled first, so a call that never has to wait
    /// never registers its timer.
    struct Within<F> {
        #[pin]
        work: F,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Result<F::Output, Status>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.work.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => {
                Poll::Ready(Err(Status::deadline_exceeded("deadline exceeded")))
            }
            _ => Poll::Pending,
        }
    }
}

/// Sends `head` and then every message of `stream`, batching messages that are ready
/// together into one write, then finishes the stream. Only a local encoding error is
/// returned: when the stream fails, the response says why.
async fn send_stream<E, S>(
    send: &mut SendHalf,
    mut buf: BytesMut,
    stream: S,
    encoder: &mut E,
    (max_send, compression): (usize, SendCompression),
) -> Result<(), Status>
where
    E: Encoder,
    S: Stream<Item = E::Item>,
{
    let messages = crate::streaming::announce_sent(stream).map(Ok);
    match send
        .send_messages(&mut buf, messages, encoder, max_send, compression)
        .await
    {
        Ok(()) => {}
        Err(SendError::Local(status)) => return Err(status),
        Err(SendError::Stream(_)) => return Ok(()),
    }
    if buf.is_empty() || send.write(buf.freeze()).await.is_ok() {
        send.finish();
    }
    Ok(())
}

async fn read_unary<D: Decoder>(
    call: &mut ClientCall,
    decoder: &mut D,
    probe: &mut MaybeProbe,
) -> Result<Response<D::Item>, Status> {
    match read_unary_parts(&mut call.recv, probe).await {
        Ok((headers, payload, trailers)) => {
            call.complete();
            let decoding = probe.is_some().then(Instant::now);
            let message = decoder.decode(payload)?;
            if let (Some(p), Some(since)) = (probe, decoding) {
                p.add_decode(since);
            }
            Ok(from_transport(
                Response::from_parts(headers, message, trailers),
                call,
            ))
        }
        Err(status) => {
            call.fail();
            Err(status)
        }
    }
}

/// Reads a single-message response: head, message, trailers (the receive machine holds the
/// server to exactly one message).
async fn read_unary_parts(
    recv: &mut RecvHalf<ClientRecv>,
    probe: &mut MaybeProbe,
) -> Result<(MetadataMap, bytes::Bytes, MetadataMap), Status> {
    let mut headers = MetadataMap::new();
    let mut message = None;
    loop {
        let event = recv.next_event().await?;
        if let Some(probe) = probe {
            probe.first_byte();
        }
        match event {
            Some(ClientEvent::Headers(md)) => headers = md,
            Some(ClientEvent::Message(b)) => message = Some(b),
            Some(ClientEvent::Trailers(outcome)) => {
                let trailers = outcome?;
                let message = message.ok_or_else(|| CallError::MissingMessage.to_status())?;
                return Ok((headers, message, trailers));
            }
            None => return Err(Status::internal("response ended without a status")),
        }
    }
}

/// Waits for the server's first answer and wraps the rest in a [`Streaming`].
async fn streaming_response<T>(
    mut call: ClientCall,
    decoder: BoxDecoder<T>,
    deadline: Option<Instant>,
) -> Result<Response<Streaming<T>>, Status> {
    let first = match within(deadline, poll_fn(|cx| call.poll_event(cx))).await {
        Err(_) => return Err(call.expire()),
        Ok(Err(status)) => {
            call.fail();
            return Err(status);
        }
        Ok(Ok(ev)) => ev,
    };
    let sleep = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
    let extensions = call.recv.take_extensions();
    let datagrams = call.datagrams.as_ref().map(|d| d.handle());
    let side = |call| ClientSide {
        call,
        sleep,
        trailers: None,
    };
    let mut response = match first {
        Some(ClientEvent::Headers(md)) => Response::from_parts(
            md,
            Streaming::client(side(call), decoder, None),
            MetadataMap::new(),
        ),
        Some(ClientEvent::Message(b)) => Response::from_parts(
            MetadataMap::new(),
            Streaming::client(side(call), decoder, Some(b)),
            MetadataMap::new(),
        ),
        Some(ClientEvent::Trailers(outcome)) => {
            call.complete();
            let trailers = outcome?;
            Response::from_parts(
                MetadataMap::new(),
                Streaming::finished(decoder, trailers),
                MetadataMap::new(),
            )
        }
        None => return Err(Status::internal("response ended without a status")),
    };
    if let Some(extensions) = extensions {
        response.extensions_mut().extend(extensions);
    }
    if let Some(datagrams) = datagrams {
        response.extensions_mut().insert(datagrams);
    }
    Ok(response)
}

/// `response` with what the transport attached to its call's stream in its extensions
/// ([`RecvStream::take_extensions`](crate::transport::RecvStream::take_extensions)): none
/// over QUIC.
fn from_transport<T>(mut response: Response<T>, call: &mut ClientCall) -> Response<T> {
    if let Some(extensions) = call.recv.take_extensions() {
        response.extensions_mut().extend(extensions);
    }
    response
}

/// How a call opens its stream: whether it may go in 0-RTT data
/// (`wire::early::may_send_early`), its stream's send priority (`Request::set_priority`),
/// and whether it takes datagrams (`Request::set_datagrams`).
#[derive(Debug, Clone, Copy)]
struct Opening {
    early_ok: bool,
    priority: i32,
    datagrams: bool,
}
