//! The halves of a call's stream as the call paths use them: the receive half feeds a wire
//! state machine, the send half is never silently finished when abandoned.

use super::{AnyRecv, AnySend, StreamError};
use crate::call_info::CallBytes;
use crate::codec::{encode_frame, Encoder};
use crate::status::Status;
use crate::wire::{CallError, ClientEvent, ClientRecv, ErrorCode, ServerEvent, ServerRecv};
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::{FutureExt, StreamExt};
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// The other side of a call, as status messages name it (one byte where a `&str` takes
/// sixteen: both halves live in every call's future).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    Client,
    Server,
}

impl Peer {
    /// This side, seen from the peer.
    pub(crate) fn other(self) -> Peer {
        match self {
            Peer::Client => Peer::Server,
            Peer::Server => Peer::Client,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::Client => "client",
            Peer::Server => "server",
        }
    }
}

/// The receive state machine of one side of a call.
pub(crate) trait Receiver {
    type Event;
    fn push(&mut self, chunk: Bytes);
    fn handle_fin(&mut self);
    fn poll_event(&mut self) -> Result<Option<Self::Event>, CallError>;
}

impl Receiver for ClientRecv {
    type Event = ClientEvent;
    fn push(&mut self, chunk: Bytes) {
        ClientRecv::handle_data(self, chunk)
    }
    fn handle_fin(&mut self) {
        ClientRecv::handle_fin(self)
    }
    fn poll_event(&mut self) -> Result<Option<ClientEvent>, CallError> {
        ClientRecv::poll_event(self)
    }
}

impl Receiver for ServerRecv {
    type Event = ServerEvent;
    fn push(&mut self, chunk: Bytes) {
        ServerRecv::handle_data(self, chunk)
    }
    fn handle_fin(&mut self) {
        ServerRecv::handle_fin(self)
    }
    fn poll_event(&mut self) -> Result<Option<ServerEvent>, CallError> {
        ServerRecv::poll_event(self)
    }
}

/// The receiving half of a call: a stream feeding a wire state machine.
pub(crate) struct RecvHalf<R> {
    stream: AnyRecv,
    rx: R,
    eof: bool,
    stopped: bool,
    peer: Peer,
    /// Counts what arrives, when a metrics layer asked.
    bytes: Option<Arc<CallBytes>>,
    /// Bytes read so far: a server reads a call's head before its layers see the call.
    read: u64,
}

impl<R: Receiver> RecvHalf<R> {
    pub(crate) fn new(stream: AnyRecv, rx: R, peer: Peer) -> Self {
        RecvHalf {
            stream,
            rx,
            eof: false,
            stopped: false,
            peer,
            bytes: None,
            read: 0,
        }
    }

    /// Counts the bytes received in `bytes`, those already read included.
    pub(crate) fn count_bytes(&mut self, bytes: Arc<CallBytes>) {
        bytes.add_received(self.read as usize);
        self.bytes = Some(bytes);
    }

    /// The next event; `Ok(None)` once the stream has ended and every event was taken.
    ///
    /// On a protocol error the stream is stopped with the matching code.
    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<R::Event>, Status>> {
        loop {
            match self.rx.poll_event() {
                Ok(Some(ev)) => return Poll::Ready(Ok(Some(ev))),
                Ok(None) if self.eof => return Poll::Ready(Ok(None)),
                Ok(None) => {}
                Err(e) => {
                    self.stop(e.error_code());
                    return Poll::Ready(Err(e.to_status_at(self.peer.other().name())));
                }
            }
            if self.stopped {
                return Poll::Ready(Ok(None));
            }
            match ready!(self.stream.poll_read(cx)) {
                Ok(Some(chunk)) => {
                    self.read += chunk.len() as u64;
                    if let Some(bytes) = &self.bytes {
                        bytes.add_received(chunk.len());
                    }
                    self.rx.push(chunk)
                }
                Ok(None) => {
                    self.eof = true;
                    self.rx.handle_fin();
                }
                Err(e) => {
                    // The stream is gone; no STOP_SENDING needed.
                    self.stopped = true;
                    return Poll::Ready(Err(e.to_status(self.peer.name())));
                }
            }
        }
    }

    /// The next event.
    ///
    /// # Cancel safety
    /// Cancel safe: events are taken only when returned.
    pub(crate) async fn next_event(&mut self) -> Result<Option<R::Event>, Status> {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Consumes the end of the stream if it has already arrived, so dropping the stream does
    /// not send a needless `STOP_SENDING`. Never waits.
    pub(crate) fn drain_fin(&mut self) {
        while !self.eof && !self.stopped {
            match poll_fn(|cx| self.poll_event(cx)).now_or_never() {
                Some(Ok(Some(_))) => {}
                _ => break,
            }
        }
    }

    /// Asks the peer to stop sending (idempotent; no-op once the stream ended).
    pub(crate) fn stop(&mut self, c: ErrorCode) {
        if !self.stopped && !self.eof {
            self.stream.stop(c);
        }
        self.stopped = true;
    }

    /// Whether the stream arrived in 0-RTT data (server side, PROTOCOL.md §3.5).
    #[inline]
    pub(crate) fn is_early(&self) -> bool {
        self.stream.is_early()
    }

    /// What the transport attaches to the stream's call.
    #[inline]
    pub(crate) fn take_extensions(&mut self) -> Option<http::Extensions> {
        self.stream.take_extensions()
    }

    /// The receive state machine (to set what the method expects).
    pub(crate) fn receiver(&mut self) -> &mut R {
        &mut self.rx
    }
}

/// The sending half of a call: reset (never silently finished) when dropped unfinished, so
/// an abandoned call is never mistaken for a complete one.
pub(crate) struct SendHalf {
    stream: AnySend,
    closed: bool,
    peer: Peer,
    /// Where the stream goes if dropped unfinished, for a call run through server layers.
    home: Option<std::sync::Arc<crate::server::layer::Home>>,
    /// Counts what is sent, when a metrics layer asked.
    bytes: Option<Arc<CallBytes>>,
}

impl SendHalf {
    pub(crate) fn new(stream: AnySend, peer: Peer) -> Self {
        SendHalf {
            stream,
            closed: false,
            peer,
            home: None,
            bytes: None,
        }
    }

    /// Counts the bytes sent from now on in `bytes`.
    pub(crate) fn count_bytes(&mut self, bytes: Arc<CallBytes>) {
        self.bytes = Some(bytes);
    }

    /// Hands the stream to `home` instead of resetting it if dropped unfinished.
    pub(crate) fn set_home(&mut self, home: std::sync::Arc<crate::server::layer::Home>) {
        self.home = Some(home);
    }

    fn poll_write_all(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<(), Status>> {
        while !data.is_empty() {
            let before = data.len();
            let written = ready!(self.stream.poll_write(cx, data));
            if let Some(bytes) = &self.bytes {
                bytes.add_sent(before - data.len());
            }
            if let Err(e) = written {
                return Poll::Ready(Err(e.to_status(self.peer.name())));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes `data` completely.
    ///
    /// # Cancel safety
    /// Not cancel safe: part of `data` may have been written.
    pub(crate) async fn write(&mut self, mut data: Bytes) -> Result<(), Status> {
        poll_fn(|cx| self.poll_write_all(cx, &mut data)).await
    }

    /// Sets the stream's send priority: a local scheduling choice, never sent.
    pub(crate) fn set_priority(&mut self, priority: i32) {
        self.stream.set_priority(priority);
    }

    /// The stream's id on its connection, when the transport numbers streams.
    pub(crate) fn stream_id(&self) -> Option<u64> {
        self.stream.id()
    }

    /// Writes as much of `data` as the stream takes now, without waiting: `Some` when done
    /// (all written, or failed), `None` when the stream is blocked, with the rest left in
    /// `data`. Keeps the common case free of a write future held across an `await`.
    pub(crate) fn try_write(&mut self, data: &mut Bytes) -> Option<Result<(), Status>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.poll_write_all(&mut cx, data) {
            Poll::Ready(res) => Some(res),
            Poll::Pending => None,
        }
    }

    /// Ends the stream gracefully after everything written.
    pub(crate) fn finish(&mut self) {
        if !self.closed {
            self.stream.finish();
            self.closed = true;
        }
    }

    /// Abandons the stream with `c`, unless it was already finished or reset.
    pub(crate) fn reset(&mut self, c: ErrorCode) {
        if !self.closed {
            self.stream.reset(c);
            self.closed = true;
        }
    }

    /// Resolves when the peer sends `STOP_SENDING` (or the connection is lost).
    pub(crate) fn stopped(
        &self,
    ) -> impl Future<Output = Result<Option<ErrorCode>, StreamError>> + Send + 'static {
        self.stream.stopped()
    }
}

/// Messages ready together are written in one go, up to this size.
const COALESCE_BYTES: usize = 64 * 1024;

/// A second message is ready right after the first: a burst, so room for a whole batch
/// (and one message past it) at once. A buffer grown by doubling would be copied at every
/// step: six times for 64 KiB of 1 KiB messages.
fn reserve_batch(buf: &mut BytesMut, one: usize) {
    buf.reserve((COALESCE_BYTES + one.min(COALESCE_BYTES)).saturating_sub(buf.len()));
}

/// Why writing a stream of messages stopped early.
pub(crate) enum SendError {
    /// A message failed to encode, or the stream yielded an error: the call's outcome.
    Local(Status),
    /// The stream failed (stopped by the peer, connection lost): the peer's side says why.
    Stream(Status),
}

impl SendHalf {
    /// Encodes and writes every message of `messages` after the bytes already in `buf`,
    /// batching the messages that are ready together into one write. At the end of
    /// `messages`, the bytes not written yet are left in `buf`, so that the caller's last
    /// frame (or FIN) goes out with them.
    ///
    /// # Cancel safety
    /// Not cancel safe: part of the messages may have been written.
    pub(crate) async fn send_messages<E, S>(
        &mut self,
        buf: &mut BytesMut,
        messages: S,
        encoder: &mut E,
        max_send: usize,
        compression: crate::compression::SendCompression,
    ) -> Result<(), SendError>
    where
        E: Encoder,
        S: Stream<Item = Result<E::Item, Status>>,
    {
        // Encodes one message after the bytes in `buf`; its encoded size.
        let mut encode = |item: Result<E::Item, Status>, buf: &mut BytesMut| {
            let before = buf.len();
            item.and_then(|m| encode_frame(encoder, &m, buf, max_send, compression))
                .map(|()| buf.len() - before)
                .map_err(SendError::Local)
        };
        let mut messages = std::pin::pin!(messages);
        // Messages in the batch being gathered, and the size of its first.
        let (mut batch, mut first) = (0, 0);
        loop {
            while buf.len() < COALESCE_BYTES {
                match messages.next().now_or_never() {
                    Some(Some(item)) => {
                        if batch == 1 {
                            reserve_batch(buf, first);
                        }
                        let size = encode(item, buf)?;
                        if batch == 0 {
                            first = size;
                        }
                        batch += 1;
                    }
                    Some(None) => return Ok(()),
                    None => break,
                }
            }
            if !buf.is_empty() {
                self.write(buf.split().freeze())
                    .await
                    .map_err(SendError::Stream)?;
            }
            match messages.next().await {
                Some(item) => (batch, first) = (1, encode(item, buf)?),
                None => return Ok(()),
            }
        }
    }
}

impl Drop for SendHalf {
    fn drop(&mut self) {
        if let (false, Some(home)) = (self.closed, self.home.take()) {
            self.closed = true;
            return home.take_back(std::mem::replace(&mut self.stream, AnySend::Gone));
        }
        // Dropped while unwinding: the code that owned the call failed before it could
        // report a status (PROTOCOL.md §7.1).
        let code = if std::thread::panicking() {
            ErrorCode::INTERNAL_ERROR
        } else {
            ErrorCode::CANCELLED
        };
        self.reset(code);
    }
}
