//! [`Streaming`]: a stream of messages received in a call.

use crate::codec::BoxDecoder;
use crate::metadata::MetadataMap;
use crate::status::Status;
use crate::transport::{RecvHalf, SendHalf};
use crate::wire::machine::{ClientCallState, StreamAction};
use crate::wire::{ClientEvent, ClientRecv, ErrorCode, ServerEvent, ServerRecv};
use bytes::Bytes;
use futures_core::Stream;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::task::JoinHandle;
use tokio::time::Sleep;

/// A stream of messages from the peer: the responses of a server-streaming or bidirectional
/// call on the client, the requests of a client-streaming or bidirectional call on the server.
///
/// It yields `Ok(message)` for each message, then ends (`None`) when the peer finishes
/// successfully. If the call fails, it yields one `Err(status)` and then ends.
///
/// Dropping it before the end cancels the call.
pub struct Streaming<T> {
    source: Source,
    decoder: BoxDecoder<T>,
    first: Option<Bytes>,
    done: bool,
    /// Messages received so far (the id of the last one's `message` event).
    received: u32,
    /// Told how the stream ended ([`Streaming::on_end`]); called once.
    on_end: Option<OnEnd>,
}

/// An [`Streaming::on_end`] callback; told of a drop before the end by its own `Drop`.
struct OnEnd(Option<EndFn>);

type EndFn = Box<dyn FnOnce(Option<&Status>) + Send + 'static>;

impl Drop for OnEnd {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(None);
        }
    }
}

enum Source {
    Client(ClientSide),
    Server(RecvHalf<ServerRecv>),
    Empty(MetadataMap),
}

/// The client end of a call whose responses are streamed.
pub(crate) struct ClientSide {
    pub(crate) call: ClientCall,
    pub(crate) sleep: Option<Pin<Box<Sleep>>>,
    pub(crate) trailers: Option<MetadataMap>,
}

/// The task writing a bidirectional call's requests, and the code its stream is reset with
/// if the call ends while it still writes (PROTOCOL.md §11.2: the deadline's, say, not a
/// generic one).
pub(crate) struct Sender {
    /// Resolves to the local error that stopped the requests, if one did; taken once done.
    task: Option<JoinHandle<Option<Status>>>,
    code: Arc<AtomicU32>,
}

/// The request stream as its task holds it: reset with the call's code when the task stops
/// before finishing it.
pub(crate) struct TaskSend {
    pub(crate) half: SendHalf,
    code: Arc<AtomicU32>,
}

impl Drop for TaskSend {
    fn drop(&mut self) {
        // A no-op once the stream was finished.
        self.half
            .reset(ErrorCode(self.code.load(Ordering::Relaxed)));
    }
}

impl Sender {
    /// Spawns `write`, given the request stream.
    pub(crate) fn spawn<F, Fut>(half: SendHalf, write: F) -> Self
    where
        F: FnOnce(TaskSend) -> Fut,
        Fut: Future<Output = Option<Status>> + Send + 'static,
    {
        let code = Arc::new(AtomicU32::new(ErrorCode::CANCELLED.0));
        let send = TaskSend {
            half,
            code: code.clone(),
        };
        // The requests' message events belong to the call's span, if it has one.
        let task = tracing::Instrument::in_current_span(write(send));
        Sender {
            task: Some(tokio::spawn(task)),
            code,
        }
    }

    fn abort(self, code: ErrorCode) {
        self.code.store(code.0, Ordering::Relaxed);
        if let Some(task) = self.task {
            task.abort();
        }
    }

    /// The local error that stopped the requests (a message that failed to encode or was
    /// over the send limit), once the task has ended with one.
    fn poll_failed(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        let Some(task) = &mut self.task else {
            return Poll::Pending;
        };
        let ended = ready!(Pin::new(task).poll(cx));
        self.task = None;
        match ended {
            Ok(Some(status)) => Poll::Ready(status),
            _ => Poll::Pending,
        }
    }
}

/// A client call: its streams, driven by its state machine. Dropped unfinished, it cancels
/// the call on both directions.
pub(crate) struct ClientCall {
    pub(crate) send: Option<SendHalf>,
    pub(crate) recv: RecvHalf<ClientRecv>,
    /// The task writing a request stream (bidi calls), aborted when the request stream is
    /// abandoned.
    pub(crate) sender: Option<Sender>,
    pub(crate) state: ClientCallState,
    /// The call's datagrams (PROTOCOL.md §18), when it takes them: released when it ends.
    pub(crate) datagrams: Option<crate::datagram::Registration>,
}

impl ClientCall {
    /// Counts the bytes of this call's stream, both ways, in `bytes`.
    pub(crate) fn count_bytes(&mut self, bytes: std::sync::Arc<crate::call_info::CallBytes>) {
        if let Some(send) = &mut self.send {
            send.count_bytes(bytes.clone());
        }
        self.recv.count_bytes(bytes);
    }

    /// Carries out the stream actions the state machine owes (usually none: checked inline).
    #[inline]
    fn apply(&mut self) {
        if self.state.has_actions() {
            self.apply_actions();
        }
    }

    fn apply_actions(&mut self) {
        while let Some(action) = self.state.poll_action() {
            match action {
                StreamAction::Stop(code) => self.recv.stop(code),
                StreamAction::Reset(code) => {
                    if let Some(send) = &mut self.send {
                        send.reset(code);
                    }
                    if let Some(sender) = self.sender.take() {
                        sender.abort(code);
                    }
                }
                StreamAction::Finish => {
                    if let Some(send) = &mut self.send {
                        send.finish();
                    }
                }
            }
        }
    }

    /// The next event of the response; or, when the task sending the requests failed
    /// locally, that status (PROTOCOL.md §11.2 C16: the call is cancelled both ways, the
    /// status is the local one).
    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<ClientEvent>, Status>> {
        if let Some(sender) = &mut self.sender {
            if let Poll::Ready(status) = sender.poll_failed(cx) {
                self.cancel();
                return Poll::Ready(Err(status));
            }
        }
        self.recv.poll_event(cx)
    }

    /// Ends the call's datagrams (PROTOCOL.md §18), if it has any: later ones for it are
    /// dropped and counted.
    #[inline]
    fn end_datagrams(&mut self) {
        if self.datagrams.is_some() {
            self.release_datagrams();
        }
    }

    #[cold]
    #[inline(never)]
    fn release_datagrams(&mut self) {
        self.datagrams = None;
    }

    /// The caller finished its requests.
    #[inline]
    pub(crate) fn finish_send(&mut self) {
        self.state.finish_send();
        self.apply();
    }

    /// The deadline passed: the call ends with `DEADLINE_EXCEEDED` both ways.
    pub(crate) fn expire(&mut self) -> Status {
        let now = tokio::time::Instant::now().into_std();
        let status = self.state.handle_timeout(now);
        self.apply();
        self.end_datagrams();
        status.unwrap_or_else(|| Status::deadline_exceeded("deadline exceeded"))
    }

    /// The caller gave up on the call.
    pub(crate) fn cancel(&mut self) {
        self.state.cancel();
        self.apply();
        self.end_datagrams();
    }

    /// The response direction failed (the status is the outcome).
    pub(crate) fn fail(&mut self) {
        self.state.handle_recv_error();
        self.apply();
        self.end_datagrams();
    }

    /// The call ended with trailers.
    #[inline]
    pub(crate) fn complete(&mut self) {
        self.state.handle_trailers();
        self.recv.drain_fin();
        self.apply();
        self.end_datagrams();
    }
}

impl Drop for ClientCall {
    fn drop(&mut self) {
        if !self.state.is_done() {
            self.cancel();
        }
    }
}

impl<T> Streaming<T> {
    pub(crate) fn client(side: ClientSide, decoder: BoxDecoder<T>, first: Option<Bytes>) -> Self {
        Streaming {
            source: Source::Client(side),
            decoder,
            first,
            done: false,
            on_end: None,
            received: 0,
        }
    }

    pub(crate) fn server(recv: RecvHalf<ServerRecv>, decoder: BoxDecoder<T>) -> Self {
        Streaming {
            source: Source::Server(recv),
            decoder,
            first: None,
            done: false,
            on_end: None,
            received: 0,
        }
    }

    /// A stream that already ended successfully, with these trailers (a response with no
    /// messages).
    pub(crate) fn finished(decoder: BoxDecoder<T>, trailers: MetadataMap) -> Self {
        Streaming {
            source: Source::Empty(trailers),
            decoder,
            first: None,
            done: true,
            on_end: None,
            received: 0,
        }
    }

    /// A stream of one message, already ended with these trailers (a single-message
    /// response in the form of a stream).
    pub(crate) fn single(decoder: BoxDecoder<T>, message: Bytes, trailers: MetadataMap) -> Self {
        Streaming {
            source: Source::Empty(trailers),
            decoder,
            first: Some(message),
            done: false,
            on_end: None,
            received: 0,
        }
    }

    /// The same stream, decoding its messages with `decoder` instead.
    pub(crate) fn with_decoder<U>(self, decoder: BoxDecoder<U>) -> Streaming<U> {
        Streaming {
            source: self.source,
            decoder,
            first: self.first,
            done: self.done,
            on_end: self.on_end,
            received: self.received,
        }
    }

    /// Calls `f` once when the stream ends: with `None` after its successful end (or when it
    /// is dropped before the end, which cancels the call), with the status it failed with
    /// otherwise. For client middleware that follows a call to its very end: a load
    /// balancer counting calls in flight per connection and measuring their latency. A
    /// second `on_end` replaces the first.
    pub fn on_end(mut self, f: impl FnOnce(Option<&Status>) + Send + 'static) -> Self {
        self.on_end = Some(OnEnd(Some(Box::new(f))));
        self
    }

    /// Tells the [`on_end`](Self::on_end) callback, if any, how the stream ended.
    fn ended(&mut self, failed: Option<&Status>) {
        if let Some(f) = self.on_end.take().and_then(|mut end| end.0.take()) {
            f(failed);
        }
    }

    /// The next message; `Ok(None)` at the successful end.
    ///
    /// # Cancel safety
    /// Cancel safe: no message is lost if the future is dropped before it completes.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        match poll_fn(|cx| self.poll_item(cx)).await {
            Some(Ok(m)) => Ok(Some(m)),
            Some(Err(s)) => Err(s),
            None => Ok(None),
        }
    }

    /// The trailing metadata, once the stream has ended successfully (client side).
    pub fn trailers(&self) -> Option<&MetadataMap> {
        match &self.source {
            Source::Client(c) => c.trailers.as_ref(),
            Source::Empty(t) => Some(t),
            Source::Server(_) => None,
        }
    }

    fn decode(&mut self, b: Bytes) -> Poll<Option<Result<T, Status>>> {
        self.received = self.received.wrapping_add(1);
        received_event(self.received, b.len());
        match self.decoder.decode(b) {
            Ok(m) => Poll::Ready(Some(Ok(m))),
            Err(s) => {
                self.fail();
                Poll::Ready(Some(Err(s)))
            }
        }
    }

    fn fail(&mut self) {
        self.done = true;
        match &mut self.source {
            Source::Client(c) => c.call.cancel(),
            Source::Server(r) => r.stop(ErrorCode::CANCELLED),
            Source::Empty(_) => {}
        }
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        let item = self.poll_inner(cx);
        if self.on_end.is_some() && self.done && self.first.is_none() {
            match &item {
                Poll::Ready(Some(Err(status))) => self.ended(Some(status)),
                _ => self.ended(None),
            }
        }
        item
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        if let Some(b) = self.first.take() {
            return self.decode(b);
        }
        if self.done {
            return Poll::Ready(None);
        }
        match &mut self.source {
            Source::Empty(_) => {
                self.done = true;
                Poll::Ready(None)
            }
            Source::Server(recv) => match ready!(recv.poll_event(cx)) {
                Ok(Some(ServerEvent::Message(b))) => self.decode(b),
                Ok(Some(ServerEvent::End)) | Ok(None) => {
                    self.done = true;
                    Poll::Ready(None)
                }
                Ok(Some(ServerEvent::Head(_))) => {
                    // The state machine only yields the head first; unreachable in practice.
                    self.fail();
                    Poll::Ready(Some(Err(Status::internal(
                        "unexpected second request head",
                    ))))
                }
                Err(s) => {
                    self.done = true;
                    Poll::Ready(Some(Err(s)))
                }
            },
            Source::Client(side) => {
                if let Some(sleep) = &mut side.sleep {
                    if sleep.as_mut().poll(cx).is_ready() {
                        self.done = true;
                        return Poll::Ready(Some(Err(side.call.expire())));
                    }
                }
                match ready!(side.call.poll_event(cx)) {
                    Ok(Some(ClientEvent::Message(b))) => self.decode(b),
                    Ok(Some(ClientEvent::Trailers(outcome))) => {
                        self.done = true;
                        side.call.complete();
                        match outcome {
                            Ok(trailers) => {
                                side.trailers = Some(trailers);
                                Poll::Ready(None)
                            }
                            Err(status) => Poll::Ready(Some(Err(status))),
                        }
                    }
                    Ok(Some(ClientEvent::Headers(_))) | Ok(None) => {
                        self.fail();
                        Poll::Ready(Some(Err(Status::internal(
                            "response stream ended without a status",
                        ))))
                    }
                    Err(s) => {
                        self.done = true;
                        side.call.fail();
                        Poll::Ready(Some(Err(s)))
                    }
                }
            }
        }
    }
}

impl<T> Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Streaming is Unpin: every field is.
        self.get_mut().poll_item(cx)
    }
}

impl<T> Unpin for Streaming<T> {}

impl Streaming<Bytes> {
    /// A response stream of one encoded message, already ended with `trailers`: what a
    /// client layer answers without calling the server (a response cache).
    pub fn from_message(message: Bytes, trailers: MetadataMap) -> Self {
        Streaming::single(Box::new(Identity), message, trailers)
    }
}

/// Hands encoded messages on as they are.
struct Identity;

impl crate::codec::Decoder for Identity {
    type Item = Bytes;
    fn decode(&mut self, src: Bytes) -> Result<Bytes, Status> {
        Ok(src)
    }
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// OpenTelemetry's RPC message event for a received message, at DEBUG in the current span
/// (the server's call span for request streams).
#[inline]
fn received_event(id: u32, size: usize) {
    tracing::event!(
        target: "rpc_core::message",
        tracing::Level::DEBUG,
        rpc.message.type = "RECEIVED",
        rpc.message.id = id,
        rpc.message.compressed_size = size,
        "message"
    );
}

/// `stream`, each item announced as it is taken to be sent: OpenTelemetry's RPC message
/// event, at DEBUG in the current span (the call's span, where the call has one).
pub(crate) fn announce_sent<S: Stream>(stream: S) -> impl Stream<Item = S::Item> {
    let mut id = 0u32;
    futures_util::StreamExt::map(stream, move |item| {
        id = id.wrapping_add(1);
        tracing::event!(
            target: "rpc_core::message",
            tracing::Level::DEBUG,
            rpc.message.type = "SENT",
            rpc.message.id = id,
            "message"
        );
        item
    })
}
