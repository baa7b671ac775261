//! In-memory transport: both ends of a connection in one process, for deterministic tests.
//!
//! [`pair`] gives the two ends of one connection; [`listener`] gives a [`Connector`] for a
//! channel ([`Endpoint::from_connector`](crate::Endpoint::from_connector)) and a [`Listener`]
//! for a server ([`ServerBuilder::listen`](crate::ServerBuilder::listen)). Nothing here reads a
//! clock or touches a socket, so tests may run under `tokio::time::pause`, on any runtime.
//!
//! Streams behave as quinn's do (RFC 9000 §3), so the call code that runs over QUIC runs here
//! unchanged:
//!
//! * bytes arrive in order, in the chunks they were written; each stream has a flow-control
//!   window ([`MemConfig::stream_window`]) and writers wait until the reader consumes;
//! * `finish` is FIN, `reset` is `RESET_STREAM` (the reader's unread data is discarded),
//!   `stop` is `STOP_SENDING`; a send half dropped unfinished is finished, a receive half
//!   dropped before the end is stopped with code 0;
//! * each end may have [`MemConfig::max_streams`] streams open; a stream counts until both of
//!   its directions are over (read to the end, reset or stopped) or all its halves are dropped;
//! * closing one end, or dropping every handle of it, fails every operation on both ends with
//!   the errors quinn reports;
//! * the server end's drain notice (PROTOCOL.md §12.1, [`Connection::send_drain`]) reaches
//!   the client end at once, unless [`MemConfig::drain_notice`] is off (a client that
//!   predates it).
//!
//! * with [`MemConfig::manual_transmit`], written bytes wait in the sending end until the
//!   test moves them with [`MemConnection::transmit`]: a sender constrained to what the test
//!   lets through, which drains its streams by priority ([`SendStream::set_priority`]):
//!   highest first, and among equal priorities the stream opened first, so a test observes
//!   the order without timing.
//!
//! * datagrams (RFC 9221, PROTOCOL.md §18) arrive at once, whole, up to
//!   [`MemConfig::max_datagram_size`]; each end holds [`MemConfig::datagram_buffer`] unread
//!   ones and drops the oldest past that, as quinn does; [`MemConnection::lose_datagrams`]
//!   loses the next ones an end sends, so a test decides which datagrams the network drops.
//!
//! Unlike quinn, a stream can be accepted as soon as it is opened (quinn waits for its first
//! byte), data still unread when the connection closes is lost, and there is no
//! connection-level flow control.
//!
//! ```
//! use bytes::Bytes;
//! use rpc_core::transport::{mem, Connection, RecvStream, SendStream};
//! use std::future::poll_fn;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, server) = mem::pair();
//! let (mut send, _recv) = client.open_bi().await?;
//! let mut data = Bytes::from_static(b"hello");
//! while !data.is_empty() {
//!     poll_fn(|cx| send.poll_write(cx, &mut data)).await?;
//! }
//! send.finish();
//!
//! let (_send, mut recv) = server.accept_bi().await?;
//! let chunk = poll_fn(|cx| recv.poll_read(cx)).await?;
//! assert_eq!(chunk.as_deref(), Some(&b"hello"[..]));
//! assert_eq!(poll_fn(|cx| recv.poll_read(cx)).await?, None);
//! # Ok(()) }
//! ```

use super::quic::{code, conn_error};
use super::{
    BidiStream, Connection, ConnectionError, Connector, DatagramError, Listener, RecvStream,
    SendStream, StreamError,
};
use crate::error::{Error, Kind};
use crate::wire::ErrorCode;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{poll_fn, Future};
use std::ops::{Index, IndexMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// The limits of in-memory connections, the counterparts of QUIC transport parameters.
///
/// ```
/// use rpc_core::transport::mem::MemConfig;
///
/// let (client, server) = MemConfig::default().max_streams(2).stream_window(16).pair();
/// # drop((client, server));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MemConfig {
    max_streams: usize,
    stream_window: usize,
    drain_notice: bool,
    manual_transmit: bool,
    max_datagram_size: Option<usize>,
    datagram_buffer: usize,
}

impl Default for MemConfig {
    fn default() -> Self {
        MemConfig {
            max_streams: 1024,
            stream_window: 1 << 20,
            drain_notice: true,
            manual_transmit: false,
            max_datagram_size: Some(1200),
            datagram_buffer: 1024,
        }
    }
}

impl MemConfig {
    /// How many streams each end may have open at once (QUIC's `initial_max_streams_bidi`);
    /// `open_bi` waits while an end has that many. Default 1024.
    pub fn max_streams(mut self, streams: usize) -> Self {
        self.max_streams = streams;
        self
    }

    /// How many unread bytes a stream holds before its writer waits for the reader (QUIC's
    /// per-stream flow-control window). Default 1 MiB; at least 1.
    pub fn stream_window(mut self, bytes: usize) -> Self {
        // A zero window would block every write forever.
        self.stream_window = bytes.max(1);
        self
    }

    /// Whether the client end takes the server's drain notice (PROTOCOL.md §12.1), as a
    /// client that allows the control stream does (default `true`). `false` stands for a
    /// client that predates it: [`Connection::send_drain`] then says the notice did not go
    /// out.
    pub fn drain_notice(mut self, enabled: bool) -> Self {
        self.drain_notice = enabled;
        self
    }

    /// Whether written bytes wait in the sending end until [`MemConnection::transmit`] moves
    /// them to the reader (default `false`: they arrive at once). A stream's FIN arrives
    /// after its last byte. For tests of send priority: the ends are senders whose link
    /// carries only what the test lets through.
    pub fn manual_transmit(mut self, enabled: bool) -> Self {
        self.manual_transmit = enabled;
        self
    }

    /// The largest datagram either end takes ([`Connection::max_datagram_size`]; default
    /// 1200 bytes, the smallest QUIC path); `None`: no datagrams, as between QUIC peers that
    /// did not negotiate them.
    pub fn max_datagram_size(mut self, bytes: Option<usize>) -> Self {
        self.max_datagram_size = bytes;
        self
    }

    /// Datagrams an end holds unread before it drops the oldest (quinn's receive buffer;
    /// default 1024, at least 1).
    pub fn datagram_buffer(mut self, datagrams: usize) -> Self {
        self.datagram_buffer = datagrams.max(1);
        self
    }

    /// A connection with these limits: (client end, server end).
    pub fn pair(self) -> (MemConnection, MemConnection) {
        let shared = Arc::new(Shared(Mutex::new(State::new(self))));
        let end = |side| MemConnection {
            shared: shared.clone(),
            side,
        };
        (end(Side::Client), end(Side::Server))
    }

    /// A connector and a listener whose connections have these limits.
    pub fn listener(self) -> (MemConnector, MemListener) {
        let backlog = Arc::new(Mutex::new(Backlog {
            queue: VecDeque::new(),
            waker: None,
            listening: true,
            connectors: 1,
        }));
        let connector = MemConnector {
            backlog: backlog.clone(),
            config: self,
        };
        (connector, MemListener { backlog })
    }
}

/// A connection with the default [`MemConfig`]: (client end, server end). Either end may
/// open streams; the other accepts them.
pub fn pair() -> (MemConnection, MemConnection) {
    MemConfig::default().pair()
}

/// A connector and a listener with the default [`MemConfig`]: each
/// [`connect`](Connector::connect) makes a new [`pair`] and hands its server end to the
/// listener.
pub fn listener() -> (MemConnector, MemListener) {
    MemConfig::default().listener()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

impl Side {
    fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// One value per end of the connection.
#[derive(Default)]
struct PerSide<T>([T; 2]);

impl<T> Index<Side> for PerSide<T> {
    type Output = T;
    fn index(&self, side: Side) -> &T {
        &self.0[side as usize]
    }
}

impl<T> IndexMut<Side> for PerSide<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        &mut self.0[side as usize]
    }
}

/// Tasks waiting for the same event: clones of a handle may wait at once.
#[derive(Default)]
struct Waiters(Vec<Waker>);

impl Waiters {
    fn park(&mut self, waker: &Waker) {
        // One entry per task, however often it polls; entries of cancelled waits go at the
        // next wakeup.
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }

    fn wake_all(&mut self, wake: &mut Vec<Waker>) {
        wake.append(&mut self.0);
    }
}

/// Stores the waker of the only task that can wait here (the owner of a `&mut` half).
fn park(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}

/// One direction of a stream: written by one end's send half, read by the other's receive
/// half.
#[derive(Default)]
struct Pipe {
    chunks: VecDeque<Bytes>,
    /// With `manual_transmit`: written, not yet transmitted (part of `buffered`).
    unsent: VecDeque<Bytes>,
    /// The send priority (`SendStream::set_priority`).
    priority: i32,
    /// Unread bytes: the part of the window in use.
    buffered: usize,
    finished: bool,
    /// The reader consumed the FIN, which acknowledges everything.
    fin_read: bool,
    reset: Option<ErrorCode>,
    reset_read: bool,
    stopped: Option<ErrorCode>,
    /// Whether each half still exists (or waits to be accepted).
    has_writer: bool,
    has_reader: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
    stop_watchers: Waiters,
}

impl Pipe {
    fn open() -> Self {
        Pipe {
            has_writer: true,
            has_reader: true,
            ..Pipe::default()
        }
    }

    /// Whether this direction no longer holds its stream's slot.
    fn is_over(&self) -> bool {
        self.fin_read
            || self.stopped.is_some()
            || (self.reset.is_some() && (self.reset_read || !self.has_reader))
    }

    fn discard(&mut self) {
        self.chunks.clear();
        self.unsent.clear();
        self.buffered = 0;
    }

    fn wake_all(&mut self, wake: &mut Vec<Waker>) {
        wake.extend(self.reader.take());
        wake.extend(self.writer.take());
        self.stop_watchers.wake_all(wake);
    }
}

struct Stream {
    opener: Side,
    /// Whether the stream still counts against its opener's limit.
    counted: bool,
    /// Pending `stopped()` futures, which need the outcome after the halves are gone.
    watchers: usize,
    /// The direction each side sends on.
    pipes: PerSide<Pipe>,
}

impl Stream {
    fn in_use(&self) -> bool {
        self.watchers > 0 || self.pipes.0.iter().any(|p| p.has_writer || p.has_reader)
    }
}

#[derive(Default)]
struct End {
    /// Live handles: connections and stream halves. None left closes the connection.
    handles: usize,
    /// Streams this end opened that still count against the limit.
    opened: usize,
    /// Streams the peer opened, in order, not yet accepted here.
    incoming: VecDeque<u64>,
    accepting: Waiters,
    opening: Waiters,
    /// Datagrams received, not read yet.
    datagrams: VecDeque<Bytes>,
    datagram_readers: Waiters,
    /// Datagrams this end sends that the network will lose ([`MemConnection::lose_datagrams`]).
    lose: usize,
    /// Datagrams this end sent that were lost, or dropped unread by the peer.
    lost: u64,
}

struct State {
    config: MemConfig,
    /// After the first close: the error each end sees.
    closed: Option<PerSide<ConnectionError>>,
    ends: PerSide<End>,
    streams: HashMap<u64, Stream>,
    next_id: u64,
    /// The server sent its drain notice.
    drained: bool,
    /// Tasks waiting for the close or the drain notice.
    watching: Waiters,
}

impl State {
    fn new(config: MemConfig) -> Self {
        let mut ends = PerSide::<End>::default();
        ends[Side::Client].handles = 1;
        ends[Side::Server].handles = 1;
        State {
            config,
            closed: None,
            ends,
            streams: HashMap::new(),
            next_id: 0,
            drained: false,
            watching: Waiters::default(),
        }
    }

    fn error(&self, side: Side) -> Option<ConnectionError> {
        self.closed.as_ref().map(|errors| errors[side].clone())
    }

    fn lost(&self, side: Side) -> Option<StreamError> {
        self.error(side).map(StreamError::ConnectionLost)
    }

    /// The direction `sender` writes on.
    fn pipe(&mut self, id: u64, sender: Side) -> Option<&mut Pipe> {
        self.streams.get_mut(&id).map(|s| &mut s.pipes[sender])
    }

    fn poll_open(
        &mut self,
        side: Side,
        cx: &Context<'_>,
        wake: &mut Vec<Waker>,
    ) -> Poll<Result<u64, ConnectionError>> {
        if let Some(e) = self.error(side) {
            return Poll::Ready(Err(e));
        }
        let end = &mut self.ends[side];
        if end.opened >= self.config.max_streams {
            end.opening.park(cx.waker());
            return Poll::Pending;
        }
        end.opened += 1;
        end.handles += 2;
        let id = self.next_id;
        self.next_id += 1;
        let pipes = PerSide([Pipe::open(), Pipe::open()]);
        let stream = Stream {
            opener: side,
            counted: true,
            watchers: 0,
            pipes,
        };
        self.streams.insert(id, stream);
        let peer = &mut self.ends[side.peer()];
        peer.incoming.push_back(id);
        peer.accepting.wake_all(wake);
        Poll::Ready(Ok(id))
    }

    fn poll_accept(&mut self, side: Side, cx: &Context<'_>) -> Poll<Result<u64, ConnectionError>> {
        if let Some(e) = self.error(side) {
            return Poll::Ready(Err(e));
        }
        let end = &mut self.ends[side];
        match end.incoming.pop_front() {
            Some(id) => {
                end.handles += 2;
                Poll::Ready(Ok(id))
            }
            None => {
                end.accepting.park(cx.waker());
                Poll::Pending
            }
        }
    }

    fn close(&mut self, by: Side, error_code: ErrorCode, reason: &[u8], wake: &mut Vec<Waker>) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(close_errors(by, error_code, reason));
        self.watching.wake_all(wake);
        for side in [Side::Client, Side::Server] {
            let end = &mut self.ends[side];
            end.accepting.wake_all(wake);
            end.opening.wake_all(wake);
            end.datagram_readers.wake_all(wake);
            // Streams never accepted lose their unborn halves.
            for id in std::mem::take(&mut end.incoming) {
                if let Some(s) = self.streams.get_mut(&id) {
                    s.pipes[side].has_writer = false;
                    s.pipes[side.peer()].has_reader = false;
                }
            }
        }
        for stream in self.streams.values_mut() {
            for pipe in &mut stream.pipes.0 {
                pipe.discard();
                pipe.wake_all(wake);
            }
        }
        self.streams.retain(|_, s| s.in_use());
    }

    /// Releases a handle of `side`; the last one closes the connection, as quinn does.
    fn send_datagram(
        &mut self,
        side: Side,
        data: Bytes,
        wake: &mut Vec<Waker>,
    ) -> Result<(), DatagramError> {
        if let Some(e) = self.error(side) {
            return Err(DatagramError::ConnectionLost(e));
        }
        let max = self
            .config
            .max_datagram_size
            .ok_or(DatagramError::Unsupported)?;
        if data.len() > max {
            return Err(DatagramError::TooLarge {
                size: data.len(),
                max,
            });
        }
        let buffer = self.config.datagram_buffer;
        let sender = &mut self.ends[side];
        if sender.lose > 0 {
            sender.lose -= 1;
            sender.lost += 1;
            return Ok(());
        }
        let receiver = &mut self.ends[side.peer()];
        if receiver.datagrams.len() >= buffer {
            receiver.datagrams.pop_front();
            self.ends[side].lost += 1;
        }
        let receiver = &mut self.ends[side.peer()];
        receiver.datagrams.push_back(data);
        receiver.datagram_readers.wake_all(wake);
        Ok(())
    }

    fn poll_read_datagram(
        &mut self,
        side: Side,
        cx: &Context<'_>,
    ) -> Poll<Result<Bytes, ConnectionError>> {
        if let Some(e) = self.error(side) {
            return Poll::Ready(Err(e));
        }
        let end = &mut self.ends[side];
        match end.datagrams.pop_front() {
            Some(data) => Poll::Ready(Ok(data)),
            None => {
                end.datagram_readers.park(cx.waker());
                Poll::Pending
            }
        }
    }

    fn release(&mut self, side: Side, wake: &mut Vec<Waker>) {
        let end = &mut self.ends[side];
        end.handles = end.handles.saturating_sub(1);
        if end.handles == 0 {
            self.close(side, ErrorCode::NO_ERROR, b"", wake);
        }
    }

    /// Frees the stream's slot once both directions are over, and the stream once unused.
    fn settle(&mut self, id: u64, wake: &mut Vec<Waker>) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        if stream.counted && stream.pipes.0.iter().all(Pipe::is_over) {
            stream.counted = false;
            let end = &mut self.ends[stream.opener];
            end.opened = end.opened.saturating_sub(1);
            end.opening.wake_all(wake);
        }
        if !stream.in_use() {
            self.streams.remove(&id);
        }
    }

    fn poll_write(
        &mut self,
        side: Side,
        id: u64,
        cx: &Context<'_>,
        data: &mut Bytes,
        wake: &mut Vec<Waker>,
    ) -> Poll<Result<(), StreamError>> {
        if let Some(e) = self.lost(side) {
            return Poll::Ready(Err(e));
        }
        let window = self.config.stream_window;
        let manual = self.config.manual_transmit;
        let Some(pipe) = self.pipe(id, side) else {
            return Poll::Ready(Err(StreamError::Closed));
        };
        if let Some(code) = pipe.stopped {
            return Poll::Ready(Err(StreamError::Stopped(code)));
        }
        if pipe.finished || pipe.reset.is_some() {
            return Poll::Ready(Err(StreamError::Closed));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let credit = window.saturating_sub(pipe.buffered);
        if credit == 0 {
            park(&mut pipe.writer, cx.waker());
            return Poll::Pending;
        }
        let chunk = data.split_to(credit.min(data.len()));
        pipe.buffered += chunk.len();
        if manual {
            pipe.unsent.push_back(chunk);
        } else {
            pipe.chunks.push_back(chunk);
            wake.extend(pipe.reader.take());
        }
        Poll::Ready(Ok(()))
    }

    fn set_priority(&mut self, side: Side, id: u64, priority: i32) {
        if let Some(pipe) = self.pipe(id, side) {
            pipe.priority = priority;
        }
    }

    /// Moves up to `budget` bytes written by `side` to their readers: from the stream of
    /// highest priority first, the lowest id among equals. Returns how many moved.
    fn transmit(&mut self, side: Side, mut budget: usize, wake: &mut Vec<Waker>) -> usize {
        let mut moved = 0;
        while budget > 0 {
            let next = self
                .streams
                .iter()
                .filter(|(_, s)| !s.pipes[side].unsent.is_empty())
                .max_by_key(|(id, s)| (s.pipes[side].priority, std::cmp::Reverse(**id)))
                .map(|(id, _)| *id);
            let Some(pipe) = next.and_then(|id| self.pipe(id, side)) else {
                break;
            };
            let Some(mut chunk) = pipe.unsent.pop_front() else {
                break;
            };
            if chunk.len() > budget {
                pipe.unsent.push_front(chunk.split_off(budget));
            }
            budget -= chunk.len();
            moved += chunk.len();
            pipe.chunks.push_back(chunk);
            wake.extend(pipe.reader.take());
        }
        moved
    }

    /// Bytes written by `side` and not transmitted yet.
    fn unsent(&self, side: Side) -> usize {
        self.streams
            .values()
            .flat_map(|s| s.pipes[side].unsent.iter())
            .map(Bytes::len)
            .sum()
    }

    fn finish(&mut self, side: Side, id: u64, wake: &mut Vec<Waker>) {
        if self.closed.is_some() {
            return;
        }
        if let Some(pipe) = self.pipe(id, side) {
            // After STOP_SENDING there is nothing to finish (quinn ignores it too).
            if !pipe.finished && pipe.reset.is_none() && pipe.stopped.is_none() {
                pipe.finished = true;
                wake.extend(pipe.reader.take());
            }
        }
    }

    fn reset(&mut self, side: Side, id: u64, error_code: ErrorCode, wake: &mut Vec<Waker>) {
        if self.closed.is_some() {
            return;
        }
        let Some(pipe) = self.pipe(id, side) else {
            return;
        };
        // A reset after the FIN was consumed has nothing left to abandon.
        if pipe.reset.is_some() || pipe.fin_read {
            return;
        }
        pipe.reset = Some(error_code);
        pipe.discard();
        pipe.wake_all(wake);
        self.settle(id, wake);
    }

    fn poll_read(
        &mut self,
        side: Side,
        id: u64,
        cx: &Context<'_>,
        wake: &mut Vec<Waker>,
    ) -> Poll<Result<Option<Bytes>, StreamError>> {
        if let Some(e) = self.lost(side) {
            return Poll::Ready(Err(e));
        }
        let Some(pipe) = self.pipe(id, side.peer()) else {
            return Poll::Ready(Err(StreamError::Closed));
        };
        if pipe.stopped.is_some() {
            return Poll::Ready(Err(StreamError::Closed));
        }
        if let Some(code) = pipe.reset {
            if !pipe.reset_read {
                pipe.reset_read = true;
                self.settle(id, wake);
            }
            return Poll::Ready(Err(StreamError::Reset(code)));
        }
        if let Some(chunk) = pipe.chunks.pop_front() {
            pipe.buffered -= chunk.len();
            wake.extend(pipe.writer.take());
            return Poll::Ready(Ok(Some(chunk)));
        }
        if pipe.finished && pipe.unsent.is_empty() {
            if !pipe.fin_read {
                pipe.fin_read = true;
                pipe.stop_watchers.wake_all(wake);
                self.settle(id, wake);
            }
            return Poll::Ready(Ok(None));
        }
        park(&mut pipe.reader, cx.waker());
        Poll::Pending
    }

    fn stop(&mut self, side: Side, id: u64, error_code: ErrorCode, wake: &mut Vec<Waker>) {
        if self.closed.is_some() {
            return;
        }
        let Some(pipe) = self.pipe(id, side.peer()) else {
            return;
        };
        // Once the end or a reset arrived, the writer is done anyway.
        if pipe.fin_read || pipe.reset.is_some() || pipe.stopped.is_some() {
            return;
        }
        pipe.stopped = Some(error_code);
        pipe.discard();
        pipe.wake_all(wake);
        self.settle(id, wake);
    }

    fn poll_stopped(
        &mut self,
        side: Side,
        id: u64,
        cx: &Context<'_>,
    ) -> Poll<Result<Option<ErrorCode>, StreamError>> {
        let lost = self.lost(side);
        let Some(pipe) = self.pipe(id, side) else {
            return Poll::Ready(lost.map_or(Ok(None), Err));
        };
        // The stream's own outcome wins over a later connection loss, as in quinn.
        if let Some(code) = pipe.stopped {
            return Poll::Ready(Ok(Some(code)));
        }
        // Everything acknowledged, or the reset was (instantly, in memory).
        if pipe.fin_read || pipe.reset.is_some() {
            return Poll::Ready(Ok(None));
        }
        if let Some(e) = lost {
            return Poll::Ready(Err(e));
        }
        pipe.stop_watchers.park(cx.waker());
        Poll::Pending
    }

    fn drop_send(&mut self, side: Side, id: u64, wake: &mut Vec<Waker>) {
        // Like quinn: an unfinished send half is finished, not reset.
        self.finish(side, id, wake);
        if let Some(pipe) = self.pipe(id, side) {
            pipe.has_writer = false;
            pipe.writer = None;
        }
        self.settle(id, wake);
        self.release(side, wake);
    }

    fn drop_recv(&mut self, side: Side, id: u64, wake: &mut Vec<Waker>) {
        // Like quinn: a receive half dropped before the end stops the stream with code 0.
        self.stop(side, id, ErrorCode::NO_ERROR, wake);
        if let Some(pipe) = self.pipe(id, side.peer()) {
            pipe.has_reader = false;
            pipe.reader = None;
        }
        self.settle(id, wake);
        self.release(side, wake);
    }

    fn add_watcher(&mut self, id: u64) {
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.watchers += 1;
        }
    }

    fn drop_watcher(&mut self, id: u64, wake: &mut Vec<Waker>) {
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.watchers = stream.watchers.saturating_sub(1);
        }
        self.settle(id, wake);
    }
}

/// The errors each end sees after `by` closed the connection: the ones quinn reports.
fn close_errors(by: Side, error_code: ErrorCode, reason: &[u8]) -> PerSide<ConnectionError> {
    let local = conn_error(quinn::ConnectionError::LocallyClosed);
    let remote = conn_error(quinn::ConnectionError::ApplicationClosed(
        quinn::ApplicationClose {
            error_code: code(error_code),
            reason: Bytes::copy_from_slice(reason),
        },
    ));
    match by {
        Side::Client => PerSide([local, remote]),
        Side::Server => PerSide([remote, local]),
    }
}

/// The state of one connection, shared by its handles.
struct Shared(Mutex<State>);

impl Shared {
    /// Runs `f` under the lock, then wakes the tasks it collected, outside the lock.
    fn update<R>(&self, f: impl FnOnce(&mut State, &mut Vec<Waker>) -> R) -> R {
        let mut wake = Vec::new();
        let out = f(&mut lock(&self.0), &mut wake);
        wake.into_iter().for_each(Waker::wake);
        out
    }
}

/// No code here panics under a lock, but a poisoned lock must not take tests down with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One end of an in-memory connection. Cloning it is a reference count; when every clone
/// and every stream half of an end is dropped, the peer sees the connection closed with
/// [`ErrorCode::NO_ERROR`].
pub struct MemConnection {
    shared: Arc<Shared>,
    side: Side,
}

impl MemConnection {
    /// With [`MemConfig::manual_transmit`]: moves up to `bytes` of what this end wrote to
    /// the peer, stream by stream in priority order (highest first; among equals, the
    /// stream opened first; a stream's bytes in the order written). Returns how many bytes
    /// moved: 0 when nothing waits.
    pub fn transmit(&self, bytes: usize) -> usize {
        self.shared
            .update(|st, wake| st.transmit(self.side, bytes, wake))
    }

    /// With [`MemConfig::manual_transmit`]: bytes this end wrote that wait for
    /// [`transmit`](Self::transmit).
    pub fn unsent(&self) -> usize {
        self.shared.update(|st, _| st.unsent(self.side))
    }

    /// Loses the next `count` datagrams this end sends: they are accepted, counted in
    /// [`datagrams_lost`](Self::datagrams_lost), and never arrive.
    pub fn lose_datagrams(&self, count: usize) {
        self.shared.update(|st, _| st.ends[self.side].lose += count);
    }

    /// Datagrams this end sent that never arrived: lost ([`lose_datagrams`](Self::lose_datagrams))
    /// or dropped from the peer's full buffer.
    pub fn datagrams_lost(&self) -> u64 {
        self.shared.update(|st, _| st.ends[self.side].lost)
    }

    fn halves(&self, id: u64) -> BidiStream<Self> {
        let half = || Half {
            shared: self.shared.clone(),
            side: self.side,
            id,
        };
        (MemSendStream(half()), MemRecvStream(half()))
    }
}

impl Clone for MemConnection {
    fn clone(&self) -> Self {
        self.shared.update(|st, _| st.ends[self.side].handles += 1);
        MemConnection {
            shared: self.shared.clone(),
            side: self.side,
        }
    }
}

impl Drop for MemConnection {
    fn drop(&mut self) {
        self.shared.update(|st, wake| st.release(self.side, wake));
    }
}

impl fmt::Debug for MemConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemConnection")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl Connection for MemConnection {
    type SendStream = MemSendStream;
    type RecvStream = MemRecvStream;

    fn open_bi(
        &self,
    ) -> impl Future<Output = Result<BidiStream<Self>, ConnectionError>> + Send + '_ {
        // The stream is created within one poll: a dropped future opens nothing.
        poll_fn(move |cx| {
            self.shared
                .update(|st, wake| st.poll_open(self.side, cx, wake))
                .map_ok(|id| self.halves(id))
        })
    }

    fn accept_bi(
        &self,
    ) -> impl Future<Output = Result<BidiStream<Self>, ConnectionError>> + Send + '_ {
        poll_fn(move |cx| {
            self.shared
                .update(|st, _| st.poll_accept(self.side, cx))
                .map_ok(|id| self.halves(id))
        })
    }

    fn close(&self, error_code: ErrorCode, reason: &[u8]) {
        self.shared
            .update(|st, wake| st.close(self.side, error_code, reason, wake));
    }

    fn close_reason(&self) -> Option<ConnectionError> {
        self.shared.update(|st, _| st.error(self.side))
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + '_ {
        poll_fn(move |cx| {
            self.shared.update(|st, _| {
                if st.closed.is_some() {
                    return Poll::Ready(());
                }
                st.watching.park(cx.waker());
                Poll::Pending
            })
        })
    }

    fn send_drain(&self) -> bool {
        self.shared.update(|st, wake| {
            if self.side != Side::Server || !st.config.drain_notice || st.closed.is_some() {
                return false;
            }
            st.drained = true;
            st.watching.wake_all(wake);
            true
        })
    }

    fn drained(&self) -> impl Future<Output = ()> + Send + '_ {
        poll_fn(move |cx| {
            self.shared.update(|st, _| {
                if st.drained && self.side == Side::Client {
                    return Poll::Ready(());
                }
                st.watching.park(cx.waker());
                Poll::Pending
            })
        })
    }

    fn max_datagram_size(&self) -> Option<usize> {
        self.shared.update(|st, _| st.config.max_datagram_size)
    }

    fn send_datagram(&self, data: Bytes) -> Result<(), DatagramError> {
        self.shared
            .update(|st, wake| st.send_datagram(self.side, data, wake))
    }

    fn read_datagram(&self) -> impl Future<Output = Result<Bytes, ConnectionError>> + Send + '_ {
        poll_fn(move |cx| {
            self.shared
                .update(|st, _| st.poll_read_datagram(self.side, cx))
        })
    }
}

/// What both halves of a stream hold: the connection, their end and the stream.
struct Half {
    shared: Arc<Shared>,
    side: Side,
    id: u64,
}

/// The sending half of an in-memory stream.
pub struct MemSendStream(Half);

impl SendStream for MemSendStream {
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<(), StreamError>> {
        let Half { shared, side, id } = &self.0;
        shared.update(|st, wake| st.poll_write(*side, *id, cx, data, wake))
    }

    fn finish(&mut self) {
        let Half { shared, side, id } = &self.0;
        shared.update(|st, wake| st.finish(*side, *id, wake));
    }

    /// Numbered as QUIC numbers bidirectional streams: `4n` opened by the client end,
    /// `4n + 1` by the server end.
    fn id(&self) -> Option<u64> {
        let Half { shared, id, .. } = &self.0;
        let opener = shared.update(|st, _| st.streams.get(id).map(|s| s.opener))?;
        Some(id * 4 + u64::from(opener == Side::Server))
    }

    fn reset(&mut self, error_code: ErrorCode) {
        let Half { shared, side, id } = &self.0;
        shared.update(|st, wake| st.reset(*side, *id, error_code, wake));
    }

    fn set_priority(&mut self, priority: i32) {
        let Half { shared, side, id } = &self.0;
        shared.update(|st, _| st.set_priority(*side, *id, priority));
    }

    fn stopped(
        &self,
    ) -> impl Future<Output = Result<Option<ErrorCode>, StreamError>> + Send + 'static + use<> {
        let Half { shared, side, id } = &self.0;
        shared.update(|st, _| st.add_watcher(*id));
        Stopped(Half {
            shared: shared.clone(),
            side: *side,
            id: *id,
        })
    }
}

impl Drop for MemSendStream {
    fn drop(&mut self) {
        let Half { shared, side, id } = &self.0;
        shared.update(|st, wake| st.drop_send(*side, *id, wake));
    }
}

impl fmt::Debug for MemSendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemSendStream")
            .field("side", &self.0.side)
            .field("id", &self.0.id)
            .finish_non_exhaustive()
    }
}

/// The future of [`MemSendStream::stopped`]; it keeps the stream's outcome alive.
struct Stopped(Half);

impl Future for Stopped {
    type Output = Result<Option<ErrorCode>, StreamError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Half { shared, side, id } = &self.0;
        shared.update(|st, _| st.poll_stopped(*side, *id, cx))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let Half { shared, id, .. } = &self.0;
        shared.update(|st, wake| st.drop_watcher(*id, wake));
    }
}

/// The receiving half of an in-memory stream.
pub struct MemRecvStream(Half);

impl RecvStream for MemRecvStream {
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamError>> {
        let Half { shared, side, id } = &self.0;
        shared.update(|st, wake| st.poll_read(*side, *id, cx, wake))
    }

    fn stop(&mut self, error_code: ErrorCode) {
        let Half { shared, side, id } = &self.0;
        shared.update(|st, wake| st.stop(*side, *id, error_code, wake));
    }
}

impl Drop for MemRecvStream {
    fn drop(&mut self) {
        let Half { shared, side, id } = &self.0;
        shared.update(|st, wake| st.drop_recv(*side, *id, wake));
    }
}

impl fmt::Debug for MemRecvStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemRecvStream")
            .field("side", &self.0.side)
            .field("id", &self.0.id)
            .finish_non_exhaustive()
    }
}

/// Connections made by connectors, waiting for the listener.
struct Backlog {
    queue: VecDeque<MemConnection>,
    waker: Option<Waker>,
    listening: bool,
    connectors: usize,
}

/// Makes in-memory connections to a [`MemListener`] (see [`listener`]). Cloning it is cheap;
/// the listener ends when every clone is dropped.
pub struct MemConnector {
    backlog: Arc<Mutex<Backlog>>,
    config: MemConfig,
}

impl Connector for MemConnector {
    type Connection = MemConnection;

    async fn connect(&self) -> Result<MemConnection, Error> {
        let mut backlog = lock(&self.backlog);
        if !backlog.listening {
            return Err(Error::new(
                Kind::Connect,
                "the in-memory listener was dropped",
            ));
        }
        let (client, server) = self.config.pair();
        backlog.queue.push_back(server);
        let waker = backlog.waker.take();
        drop(backlog);
        waker.into_iter().for_each(Waker::wake);
        Ok(client)
    }

    fn security(&self) -> super::Security {
        super::Security::InProcess
    }
}

impl Clone for MemConnector {
    fn clone(&self) -> Self {
        lock(&self.backlog).connectors += 1;
        MemConnector {
            backlog: self.backlog.clone(),
            config: self.config,
        }
    }
}

impl Drop for MemConnector {
    fn drop(&mut self) {
        let mut backlog = lock(&self.backlog);
        backlog.connectors = backlog.connectors.saturating_sub(1);
        let waker = (backlog.connectors == 0).then(|| backlog.waker.take());
        drop(backlog);
        waker.flatten().into_iter().for_each(Waker::wake);
    }
}

impl fmt::Debug for MemConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemConnector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Yields the server ends of the connections its [`MemConnector`]s make (see [`listener`]).
pub struct MemListener {
    backlog: Arc<Mutex<Backlog>>,
}

impl MemListener {
    fn poll_accept(&mut self, cx: &Context<'_>) -> Poll<Option<MemConnection>> {
        let mut backlog = lock(&self.backlog);
        if let Some(conn) = backlog.queue.pop_front() {
            return Poll::Ready(Some(conn));
        }
        if backlog.connectors == 0 {
            return Poll::Ready(None);
        }
        park(&mut backlog.waker, cx.waker());
        Poll::Pending
    }
}

impl Listener for MemListener {
    type Connection = MemConnection;

    fn accept(&mut self) -> impl Future<Output = Option<MemConnection>> + Send + '_ {
        poll_fn(move |cx| self.poll_accept(cx))
    }
}

impl Drop for MemListener {
    fn drop(&mut self) {
        let mut backlog = lock(&self.backlog);
        backlog.listening = false;
        let queued = std::mem::take(&mut backlog.queue);
        drop(backlog);
        // Dropped outside the lock: each closes its connection, as a refused connection.
        drop(queued);
    }
}

impl fmt::Debug for MemListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemListener").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// Polls by hand with a waker that counts its wakeups, so a test sees a lost one.
    struct Poller {
        woken: Arc<AtomicUsize>,
        waker: Waker,
    }

    struct Count(Arc<AtomicUsize>);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Poller {
        fn new() -> Self {
            let woken = Arc::new(AtomicUsize::new(0));
            let waker = Waker::from(Arc::new(Count(woken.clone())));
            Poller { woken, waker }
        }

        fn woken(&self) -> usize {
            self.woken.load(Ordering::SeqCst)
        }

        fn poll<F: Future + Unpin>(&self, fut: &mut F) -> Poll<F::Output> {
            Pin::new(fut).poll(&mut Context::from_waker(&self.waker))
        }

        fn write(
            &self,
            send: &mut MemSendStream,
            data: &mut Bytes,
        ) -> Poll<Result<(), StreamError>> {
            send.poll_write(&mut Context::from_waker(&self.waker), data)
        }

        fn read(&self, recv: &mut MemRecvStream) -> Poll<Result<Option<Bytes>, StreamError>> {
            recv.poll_read(&mut Context::from_waker(&self.waker))
        }
    }

    /// Awaits `fut`, failing the test if it waits forever (at once under paused time).
    async fn within<F: Future>(fut: F) -> F::Output {
        tokio::time::timeout(std::time::Duration::from_secs(10), fut)
            .await
            .expect("waits forever")
    }

    async fn write_all(send: &mut MemSendStream, data: &[u8]) -> Result<(), StreamError> {
        let mut data = Bytes::copy_from_slice(data);
        while !data.is_empty() {
            within(poll_fn(|cx| send.poll_write(cx, &mut data))).await?;
        }
        Ok(())
    }

    async fn read(recv: &mut MemRecvStream) -> Result<Option<Bytes>, StreamError> {
        within(poll_fn(|cx| recv.poll_read(cx))).await
    }

    async fn read_to_end(recv: &mut MemRecvStream) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        while let Some(chunk) = read(recv).await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The close code of a connection-lost stream error (`None` inside: closed locally).
    fn lost_code(e: &StreamError) -> Option<Option<ErrorCode>> {
        match e {
            StreamError::ConnectionLost(c) => Some(c.code()),
            _ => None,
        }
    }

    fn small(window: usize) -> (MemConnection, MemConnection) {
        MemConfig::default().stream_window(window).pair()
    }

    #[tokio::test(start_paused = true)]
    async fn chunks_and_fin_arrive_in_order_both_ways() {
        let (client, server) = pair();
        let (mut c_send, mut c_recv) = within(client.open_bi()).await.unwrap();
        write_all(&mut c_send, b"hello").await.unwrap();
        write_all(&mut c_send, b" world").await.unwrap();
        c_send.finish();

        let (mut s_send, mut s_recv) = within(server.accept_bi()).await.unwrap();
        assert_eq!(read(&mut s_recv).await.unwrap().unwrap(), "hello");
        assert_eq!(read(&mut s_recv).await.unwrap().unwrap(), " world");
        assert_eq!(read(&mut s_recv).await.unwrap(), None);
        assert_eq!(
            read(&mut s_recv).await.unwrap(),
            None,
            "the end stays the end"
        );

        write_all(&mut s_send, b"reply").await.unwrap();
        s_send.finish();
        assert_eq!(read_to_end(&mut c_recv).await.unwrap(), b"reply");

        // The server end opens streams too.
        let (mut s_send, _s_recv) = within(server.open_bi()).await.unwrap();
        write_all(&mut s_send, b"push").await.unwrap();
        s_send.finish();
        let (_c_send, mut c_recv) = within(client.accept_bi()).await.unwrap();
        assert_eq!(read_to_end(&mut c_recv).await.unwrap(), b"push");
    }

    #[tokio::test(start_paused = true)]
    async fn streams_are_accepted_in_the_order_opened() {
        let (client, server) = pair();
        let mut opened = Vec::new();
        for byte in 0..3u8 {
            let (mut send, recv) = within(client.open_bi()).await.unwrap();
            write_all(&mut send, &[byte]).await.unwrap();
            opened.push((send, recv));
        }
        for byte in 0..3u8 {
            let (_send, mut recv) = within(server.accept_bi()).await.unwrap();
            assert_eq!(read(&mut recv).await.unwrap().unwrap(), [byte][..]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn writes_wait_for_window_and_resume_when_read() {
        let (client, server) = small(4);
        let (mut send, _c_recv) = within(client.open_bi()).await.unwrap();
        let (_s_send, mut recv) = within(server.accept_bi()).await.unwrap();
        let original = Bytes::from_static(b"0123456789");
        let mut data = original.clone();
        let writer = Poller::new();

        assert!(writer.write(&mut send, &mut data).is_ready());
        assert_eq!(data, "456789", "only the window was taken");
        assert!(writer.write(&mut send, &mut data).is_pending());
        assert_eq!(data, "456789");

        let chunk = read(&mut recv).await.unwrap().unwrap();
        assert_eq!(chunk, "0123");
        assert_eq!(chunk.as_ptr(), original.as_ptr(), "chunks are not copied");
        assert_eq!(
            writer.woken(),
            1,
            "reading returns credit and wakes the writer"
        );

        assert!(writer.write(&mut send, &mut data).is_ready());
        assert_eq!(data, "89");
        assert!(writer.write(&mut send, &mut Bytes::new()).is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn reset_discards_unread_data() {
        let (client, server) = pair();
        let (mut send, _c_recv) = within(client.open_bi()).await.unwrap();
        write_all(&mut send, b"abc").await.unwrap();
        let (_s_send, mut recv) = within(server.accept_bi()).await.unwrap();
        let reader = Poller::new();
        assert!(reader.read(&mut recv).is_ready());
        assert!(reader.read(&mut recv).is_pending());

        write_all(&mut send, b"def").await.unwrap();
        send.reset(ErrorCode::CANCELLED);
        assert!(reader.woken() >= 1);
        let e = read(&mut recv).await.unwrap_err();
        assert!(
            matches!(e, StreamError::Reset(ErrorCode::CANCELLED)),
            "{e:?}"
        );
        let e = write_all(&mut send, b"more").await.unwrap_err();
        assert!(matches!(e, StreamError::Closed), "{e:?}");
        assert_eq!(within(send.stopped()).await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn reset_after_finish_counts_until_the_fin_is_read() {
        let (client, server) = pair();
        let (mut send, _c_recv) = within(client.open_bi()).await.unwrap();
        write_all(&mut send, b"abc").await.unwrap();
        send.finish();
        send.reset(ErrorCode::DEADLINE_EXCEEDED);
        let (_s_send, mut recv) = within(server.accept_bi()).await.unwrap();
        let e = read(&mut recv).await.unwrap_err();
        assert!(
            matches!(e, StreamError::Reset(ErrorCode::DEADLINE_EXCEEDED)),
            "{e:?}"
        );

        let (mut send, _c_recv) = within(client.open_bi()).await.unwrap();
        write_all(&mut send, b"abc").await.unwrap();
        send.finish();
        let (_s_send, mut recv) = within(server.accept_bi()).await.unwrap();
        assert_eq!(read_to_end(&mut recv).await.unwrap(), b"abc");
        send.reset(ErrorCode::CANCELLED);
        assert_eq!(
            read(&mut recv).await.unwrap(),
            None,
            "the FIN was consumed first"
        );
        assert_eq!(within(send.stopped()).await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_fails_the_writer_and_resolves_stopped() {
        let (client, server) = small(2);
        let (mut send, _c_recv) = within(client.open_bi()).await.unwrap();
        let (_s_send, mut recv) = within(server.accept_bi()).await.unwrap();
        let mut stopped = send.stopped();
        let watcher = Poller::new();
        assert!(watcher.poll(&mut stopped).is_pending());
        let writer = Poller::new();
        let mut data = Bytes::from_static(b"abcd");
        assert!(writer.write(&mut send, &mut data).is_ready());
        assert!(writer.write(&mut send, &mut data).is_pending());

        recv.stop(ErrorCode::CANCELLED);
        assert_eq!(writer.woken(), 1);
        assert_eq!(watcher.woken(), 1);
        match writer.write(&mut send, &mut data) {
            Poll::Ready(Err(StreamError::Stopped(ErrorCode::CANCELLED))) => {}
            other => panic!("unexpected {other:?}"),
        }
        match watcher.poll(&mut stopped) {
            Poll::Ready(Ok(Some(ErrorCode::CANCELLED))) => {}
            other => panic!("unexpected {other:?}"),
        }
        let e = read(&mut recv).await.unwrap_err();
        assert!(matches!(e, StreamError::Closed), "{e:?}");

        // The outcome outlives the send half.
        let late = send.stopped();
        drop(send);
        assert_eq!(within(late).await.unwrap(), Some(ErrorCode::CANCELLED));
    }

    #[tokio::test(start_paused = true)]
    async fn stopped_is_none_once_everything_was_read() {
        let (client, server) = pair();
        let (mut send, _c_recv) = within(client.open_bi()).await.unwrap();
        write_all(&mut send, b"abc").await.unwrap();
        let mut stopped = send.stopped();
        // Dropping an unfinished send half finishes it.
        drop(send);
        let watcher = Poller::new();
        assert!(watcher.poll(&mut stopped).is_pending());

        let (_s_send, mut recv) = within(server.accept_bi()).await.unwrap();
        assert_eq!(read(&mut recv).await.unwrap().unwrap(), "abc");
        assert!(
            watcher.poll(&mut stopped).is_pending(),
            "the FIN is not read yet"
        );
        assert_eq!(watcher.woken(), 0);
        assert_eq!(read(&mut recv).await.unwrap(), None);
        assert_eq!(watcher.woken(), 1);
        assert!(matches!(watcher.poll(&mut stopped), Poll::Ready(Ok(None))));
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_a_receive_half_early_stops_with_code_zero() {
        let (client, server) = pair();
        let (send, c_recv) = within(client.open_bi()).await.unwrap();
        let (s_send, recv) = within(server.accept_bi()).await.unwrap();
        let stopped = send.stopped();
        drop(recv);
        // The outcome outlives every half of the stream.
        drop((send, c_recv, s_send));
        assert_eq!(within(stopped).await.unwrap(), Some(ErrorCode::NO_ERROR));
    }

    #[tokio::test(start_paused = true)]
    async fn open_waits_while_the_stream_limit_is_reached() {
        let (client, server) = MemConfig::default().max_streams(1).pair();
        let (c_send, c_recv) = within(client.open_bi()).await.unwrap();
        let opener = Poller::new();
        let mut second = std::pin::pin!(client.open_bi());
        assert!(opener.poll(&mut second).is_pending());

        let (_s_send, mut s_recv) = within(server.accept_bi()).await.unwrap();
        drop((c_send, c_recv));
        assert!(
            opener.poll(&mut second).is_pending(),
            "the FIN is still unread"
        );
        assert_eq!(opener.woken(), 0);
        assert_eq!(read(&mut s_recv).await.unwrap(), None);
        assert_eq!(opener.woken(), 1);
        let Poll::Ready(Ok((mut c_send, mut c_recv))) = opener.poll(&mut second) else {
            panic!("open_bi still waits");
        };

        // A stream closed in both directions is done, though its halves are still held.
        let third = Poller::new();
        let mut third_open = std::pin::pin!(client.open_bi());
        assert!(third.poll(&mut third_open).is_pending());
        let (mut s_send, mut s_recv) = within(server.accept_bi()).await.unwrap();
        c_send.finish();
        s_send.finish();
        assert_eq!(read(&mut s_recv).await.unwrap(), None);
        assert_eq!(third.woken(), 0, "one direction is still open");
        assert_eq!(read(&mut c_recv).await.unwrap(), None);
        assert_eq!(third.woken(), 1);
        assert!(matches!(third.poll(&mut third_open), Poll::Ready(Ok(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn close_fails_everything_on_both_ends() {
        let (client, server) = MemConfig::default().stream_window(1).max_streams(2).pair();
        let (mut a_send, _a_recv) = within(client.open_bi()).await.unwrap();
        write_all(&mut a_send, b"x").await.unwrap();
        let (mut b_send, _b_recv) = within(client.open_bi()).await.unwrap();
        let (_sa_send, mut sa_recv) = within(server.accept_bi()).await.unwrap();
        let (mut sb_send, mut sb_recv) = within(server.accept_bi()).await.unwrap();

        let p = Poller::new();
        let mut data = Bytes::from_static(b"y");
        assert!(p.write(&mut a_send, &mut data).is_pending());
        assert!(p.read(&mut sb_recv).is_pending());
        let mut accept = std::pin::pin!(server.accept_bi());
        assert!(p.poll(&mut accept).is_pending());
        let mut open = std::pin::pin!(client.open_bi());
        assert!(p.poll(&mut open).is_pending());
        let mut stopped = b_send.stopped();
        assert!(p.poll(&mut stopped).is_pending());
        assert_eq!(p.woken(), 0);

        client.close(ErrorCode::SHUTDOWN, b"bye");
        assert_eq!(p.woken(), 5, "every waiting task is woken");

        let Poll::Ready(Err(e)) = p.poll(&mut accept) else {
            panic!("accept_bi still waits");
        };
        assert_eq!(e.code(), Some(ErrorCode::SHUTDOWN));
        assert_eq!(e.to_string(), "the server shut down (bye)");
        let Poll::Ready(Err(e)) = p.poll(&mut open) else {
            panic!("open_bi still waits");
        };
        assert_eq!(e.code(), None);
        assert_eq!(e.to_string(), "the connection was closed locally");

        let local = Some(None);
        let remote = Some(Some(ErrorCode::SHUTDOWN));
        let Poll::Ready(Err(e)) = p.write(&mut a_send, &mut data) else {
            panic!("write still waits");
        };
        assert_eq!(lost_code(&e), local);
        let Poll::Ready(Err(e)) = p.poll(&mut stopped) else {
            panic!("stopped still waits");
        };
        assert_eq!(lost_code(&e), local);
        assert_eq!(lost_code(&read(&mut sb_recv).await.unwrap_err()), remote);
        let e = read(&mut sa_recv).await.unwrap_err();
        assert_eq!(lost_code(&e), remote, "unread data is lost");
        let e = write_all(&mut sb_send, b"z").await.unwrap_err();
        assert_eq!(lost_code(&e), remote);
        assert_eq!(
            lost_code(&write_all(&mut b_send, b"z").await.unwrap_err()),
            local
        );

        assert_eq!(
            within(server.accept_bi()).await.unwrap_err().code(),
            Some(ErrorCode::SHUTDOWN)
        );
        assert_eq!(within(client.accept_bi()).await.unwrap_err().code(), None);
        assert_eq!(
            within(server.open_bi()).await.unwrap_err().code(),
            Some(ErrorCode::SHUTDOWN)
        );
        assert_eq!(client.close_reason().unwrap().code(), None);

        // The first close wins.
        server.close(ErrorCode::PROTOCOL_ERROR, b"");
        assert_eq!(
            server.close_reason().unwrap().code(),
            Some(ErrorCode::SHUTDOWN)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_every_handle_closes_the_peer() {
        let (client, server) = pair();
        let (mut send, recv) = within(client.open_bi()).await.unwrap();
        let p = Poller::new();
        let mut accept = std::pin::pin!(server.accept_bi());
        let Poll::Ready(Ok(_halves)) = p.poll(&mut accept) else {
            panic!("the stream was not opened");
        };
        let mut next = std::pin::pin!(server.accept_bi());
        assert!(p.poll(&mut next).is_pending());

        drop(client);
        assert!(
            server.close_reason().is_none(),
            "the stream halves keep it open"
        );
        write_all(&mut send, b"still here").await.unwrap();
        drop(send);
        assert_eq!(p.woken(), 0);
        drop(recv);
        assert_eq!(p.woken(), 1);

        let Poll::Ready(Err(e)) = p.poll(&mut next) else {
            panic!("accept_bi still waits");
        };
        assert_eq!(e.code(), Some(ErrorCode::NO_ERROR));
        assert_eq!(e.to_string(), "the peer closed the connection");
        assert!(server.close_reason().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn connector_feeds_the_listener() {
        let (connector, mut listener) = listener();
        let other = connector.clone();
        let client = within(other.connect()).await.unwrap();
        let server = within(listener.accept()).await.unwrap();
        let (mut send, _recv) = within(client.open_bi()).await.unwrap();
        write_all(&mut send, b"hi").await.unwrap();
        send.finish();
        let (_send, mut recv) = within(server.accept_bi()).await.unwrap();
        assert_eq!(read_to_end(&mut recv).await.unwrap(), b"hi");

        let p = Poller::new();
        let mut accept = std::pin::pin!(listener.accept());
        assert!(p.poll(&mut accept).is_pending());
        drop(other);
        assert!(p.poll(&mut accept).is_pending(), "a connector is left");
        drop(connector);
        assert_eq!(p.woken(), 1);
        assert!(matches!(p.poll(&mut accept), Poll::Ready(None)));
    }

    #[tokio::test(start_paused = true)]
    async fn connect_fails_once_the_listener_is_gone() {
        let (connector, listener) = listener();
        let queued = within(connector.connect()).await.unwrap();
        drop(listener);
        let e = within(queued.accept_bi()).await.unwrap_err();
        assert_eq!(
            e.code(),
            Some(ErrorCode::NO_ERROR),
            "a queued connection is closed"
        );
        let e = within(connector.connect()).await.unwrap_err();
        assert!(e.is_connect(), "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn odd_call_orders_are_harmless() {
        let (client, server) = pair();
        let (mut send, mut c_recv) = within(client.open_bi()).await.unwrap();
        let (mut s_send, mut recv) = within(server.accept_bi()).await.unwrap();
        send.finish();
        send.finish();
        send.reset(ErrorCode::CANCELLED);
        send.reset(ErrorCode::INTERNAL_ERROR);
        let e = read(&mut recv).await.unwrap_err();
        assert!(
            matches!(e, StreamError::Reset(ErrorCode::CANCELLED)),
            "{e:?}"
        );
        recv.stop(ErrorCode::CANCELLED);
        assert_eq!(
            within(send.stopped()).await.unwrap(),
            None,
            "a stop after the reset is moot"
        );

        s_send.finish();
        assert_eq!(read(&mut c_recv).await.unwrap(), None);
        c_recv.stop(ErrorCode::CANCELLED);
        c_recv.stop(ErrorCode::CANCELLED);
        assert_eq!(
            read(&mut c_recv).await.unwrap(),
            None,
            "a stop after the FIN is moot"
        );
        let e = write_all(&mut s_send, b"late").await.unwrap_err();
        assert!(matches!(e, StreamError::Closed), "{e:?}");

        client.close(ErrorCode::NO_ERROR, b"");
        client.close(ErrorCode::CANCELLED, b"again");
        send.finish();
        send.reset(ErrorCode::CANCELLED);
        recv.stop(ErrorCode::CANCELLED);
        s_send.reset(ErrorCode::CANCELLED);
        let empty = within(poll_fn(|cx| send.poll_write(cx, &mut Bytes::new()))).await;
        assert!(empty.is_err());
        assert!(read(&mut c_recv).await.is_err());
        drop((client, server, send, recv, s_send, c_recv));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_echo_on_a_multi_threaded_runtime() {
        const STREAMS: u8 = 32;
        let (client, server) = MemConfig::default()
            .max_streams(4)
            .stream_window(1000)
            .pair();
        let echo = tokio::spawn(async move {
            let mut tasks = Vec::new();
            for _ in 0..STREAMS {
                let (mut send, mut recv) = within(server.accept_bi()).await.unwrap();
                tasks.push(tokio::spawn(async move {
                    let data = read_to_end(&mut recv).await.unwrap();
                    write_all(&mut send, &data).await.unwrap();
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            server
        });
        let mut calls = Vec::new();
        for n in 0..STREAMS {
            let client = client.clone();
            calls.push(tokio::spawn(async move {
                let (mut send, mut recv) = within(client.open_bi()).await.unwrap();
                let data = vec![n; 20_000 + usize::from(n)];
                write_all(&mut send, &data).await.unwrap();
                send.finish();
                assert_eq!(read_to_end(&mut recv).await.unwrap(), data);
            }));
        }
        let all = async {
            for call in calls {
                call.await.unwrap();
            }
            echo.await.unwrap()
        };
        let server = tokio::time::timeout(std::time::Duration::from_secs(30), all)
            .await
            .expect("a wakeup was lost");
        assert!(server.close_reason().is_none());
    }
}
