//! One call on the server: reading the request, running the handler, writing the response,
//! all raced against the client's cancellation and the deadline.

use crate::codec::{encode_frame, Codec, Decoder};
use crate::compression::SendCompression;
use crate::interceptor::Interceptors;
use crate::metadata::MetadataMap;
use crate::request::{PeerInfo, Request, Response};
use crate::status::{Code, Status};
use crate::streaming::Streaming;
use crate::tls::PeerIdentity;
use crate::transport::{RecvHalf, SendError, SendHalf};
use crate::wire::machine::{ServerCallState, StreamAction};
use crate::wire::{self, CallError, ErrorCode, RequestHead, ServerEvent, ServerRecv};
use bytes::BytesMut;
use futures_core::Stream;
use futures_util::FutureExt;
use pin_project_lite::pin_project;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::time::{Instant, Sleep};

/// The future that runs one call; the server spawns it as the call's task.
pub type CallFuture = Pin<Box<dyn Future<Output = CallOutcome> + Send + 'static>>;

/// How a call ended, as the server saw it: what a call's future (and a server layer's)
/// resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallOutcome {
    /// The call ended with trailers carrying a status with this code.
    Status(Code),
    /// The call was abandoned with a stream reset carrying this code (PROTOCOL.md §7):
    /// cancelled by the client, past its deadline, refused, or its response failed to write.
    Reset(ErrorCode),
}

impl CallOutcome {
    /// The status code the client sees (for a reset, the code of PROTOCOL.md §7.2).
    pub fn code(&self) -> Code {
        match *self {
            CallOutcome::Status(code) => code,
            CallOutcome::Reset(code) => code.status_code(),
        }
    }
}

/// A call accepted by the server and routed to a service; generated code hands it to one of
/// the handler runners ([`unary`], [`server_streaming`], [`client_streaming`], [`streaming`]).
pub struct ServerCall {
    pub(crate) send: SendHalf,
    pub(crate) recv: RecvHalf<ServerRecv>,
    pub(crate) meta: CallMeta,
    pub(crate) state: ServerCallState,
}

/// What the server knows of a call besides its streams.
pub(crate) struct CallMeta {
    pub(crate) head: RequestHead,
    /// Where the method name starts in `head.path`.
    pub(crate) method_at: usize,
    /// The call's deadline (kept by its state machine; here for the handler's request).
    pub(crate) deadline: Option<Instant>,
    /// The connection's peer: address and certificate.
    pub(crate) peer: Option<Arc<PeerInfo>>,
    pub(crate) max_send: usize,
    /// How the response's messages are compressed (PROTOCOL.md §15.3).
    pub(crate) compression: SendCompression,
    pub(crate) extensions: http::Extensions,
    /// The server's interceptors, when it has any; they run first thing in the call's task.
    pub(crate) interceptors: Option<Interceptors>,
    /// The call's datagrams, for a method that takes them (PROTOCOL.md §18); held until the
    /// call's task ends.
    pub(crate) datagrams: Option<crate::datagram::Registration>,
}

impl std::fmt::Debug for ServerCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCall")
            .field("path", &self.meta.head.path)
            .field("remote", &self.remote_addr())
            .finish_non_exhaustive()
    }
}

impl ServerCall {
    /// The method path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        &self.meta.head.path
    }

    /// The method name: the last segment of the path. Services dispatch on it.
    pub fn method(&self) -> &str {
        self.meta.head.path.get(self.meta.method_at..).unwrap_or("")
    }

    /// The service name, `package.Service`: the first segment of the path. The server
    /// routes on it, byte for byte.
    pub fn service_name(&self) -> &str {
        let path = &self.meta.head.path;
        path.get(1..self.meta.method_at.saturating_sub(1))
            .unwrap_or("")
    }

    /// The request metadata the client sent.
    pub fn metadata(&self) -> &MetadataMap {
        &self.meta.head.metadata
    }

    /// The request metadata, mutably (a layer may add or remove entries before the handler
    /// sees them).
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.meta.head.metadata
    }

    /// When the client's deadline passes, if it set one.
    pub fn deadline(&self) -> Option<Instant> {
        self.meta.deadline
    }

    /// The client's address, when the transport has one.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.meta.peer.as_ref().and_then(|peer| peer.remote_addr)
    }

    /// The client's verified certificate, when it presented one (mutual TLS); see
    /// [`Request::peer_identity`].
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.meta
            .peer
            .as_ref()
            .and_then(|peer| peer.identity.as_ref())
    }

    /// Typed values for the handler (its request's extensions), e.g. the authenticated user.
    pub fn extensions(&self) -> &http::Extensions {
        &self.meta.extensions
    }

    /// The same, mutably.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.meta.extensions
    }

    /// Counts the bytes of this call's stream, both ways, in `bytes` (for metrics layers:
    /// see [`CallBytes::on_end`](crate::call_info::CallBytes::on_end)).
    pub fn count_bytes(&mut self, bytes: std::sync::Arc<crate::call_info::CallBytes>) {
        self.send.count_bytes(bytes.clone());
        self.recv.count_bytes(bytes);
    }

    /// Sets the priority of this call's response stream among the connection's streams
    /// (default 0; higher first), as [`Request::set_priority`] does for a client's requests:
    /// when the connection cannot send everything at once, responses of higher-priority calls
    /// go out first. Generated servers set it for methods with a priority; a layer may set it
    /// for any call.
    pub fn set_priority(&mut self, priority: i32) {
        self.send.set_priority(priority);
    }

    /// Gives the call datagrams (PROTOCOL.md §18): the handler finds a
    /// [`Datagrams`](crate::datagram::Datagrams) handle with
    /// [`Request::datagrams`], and the call's datagrams are routed to it until the call
    /// ends. Generated servers enable it for methods that take datagrams; datagrams for other
    /// calls are dropped and counted. Does nothing on a transport whose streams have no ids.
    pub fn enable_datagrams(&mut self) {
        if self.meta.datagrams.is_some() {
            return;
        }
        let hub = self.meta.peer.as_ref().and_then(|p| p.datagrams.as_ref());
        self.meta.datagrams = hub.and_then(|hub| hub.register(self.send.stream_id()));
    }
}

impl CallMeta {
    /// The request handed to the handler (or to the interceptors); call it once per call.
    pub(crate) fn request<T>(&mut self, message: T) -> Request<T> {
        let mut request = Request::from_server_parts(
            std::mem::take(&mut self.head.metadata),
            message,
            self.head.timeout,
            self.deadline,
            self.head.flags & wire::head::flags::IDEMPOTENT != 0,
            self.peer.clone(),
        );
        *request.extensions_mut() = std::mem::take(&mut self.extensions);
        if self.datagrams.is_some() {
            self.attach_datagrams(request.extensions_mut());
        }
        request.set_path(std::mem::take(&mut self.head.path));
        request
    }

    /// Hands the handler the call's datagram handle (PROTOCOL.md §18). Out of line: most
    /// calls have none, and `request` is on every call's path.
    #[cold]
    #[inline(never)]
    fn attach_datagrams(&self, extensions: &mut http::Extensions) {
        if let Some(datagrams) = &self.datagrams {
            extensions.insert(datagrams.handle());
        }
    }

    /// Runs the server's interceptors on the call's metadata and extensions.
    async fn intercept(&mut self) -> Result<(), Status> {
        let Some(interceptors) = self.interceptors.take() else {
            return Ok(());
        };
        let request = interceptors.run(self.request(())).await?;
        let (metadata, (), extensions, path) = request.into_server_parts();
        self.head.metadata = metadata;
        self.extensions = extensions;
        self.head.path = path.unwrap_or_default();
        Ok(())
    }
}

enum Outcome<T> {
    Done(T),
    /// The call ended early (cancelled by the client, or past its deadline); its state
    /// machine holds the stream actions that end it.
    Interrupted,
}

pin_project! {
    /// What ends a call early: the client stopping the response stream (cancellation), or
    /// the deadline, as the call's state machine decides. One per call, shared by every step
    /// of it, so a call holds one timer, made only when a step has to wait (boxed: most calls
    /// never need it, and every call's future is allocated).
    struct Guard<'s, S> {
        #[pin]
        stopped: S,
        // Borrowed from the call, not moved: a moved-from field still takes room in the
        // call's future, which every call allocates.
        state: &'s mut ServerCallState,
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<'s, S: Future> Guard<'s, S> {
    fn new(stopped: S, state: &'s mut ServerCallState) -> Self {
        Guard {
            stopped,
            state,
            sleep: None,
        }
    }

    fn poll_interrupt(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.stopped.poll(cx).is_ready() {
            this.state.handle_stopped();
            return Poll::Ready(());
        }
        let Some(deadline) = this.state.poll_timeout() else {
            return Poll::Pending;
        };
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        ready!(sleep.as_mut().poll(cx));
        // The timer fires at or after the deadline, so the machine agrees the call is over.
        if !this.state.handle_timeout(Instant::now().into_std()) {
            this.state.handle_stopped();
        }
        Poll::Ready(())
    }

    /// Runs `work` until it completes, unless the call is cancelled or expires first.
    fn run<F: Future>(self: Pin<&mut Self>, work: F) -> Guarded<'_, 's, S, F> {
        Guarded {
            guard: self,
            work,
            waited: false,
        }
    }

    /// The call's state machine.
    fn state(self: Pin<&mut Self>) -> &mut ServerCallState {
        self.project().state
    }
}

pin_project! {
    /// `work` raced against a [`Guard`]. The first poll tries the work alone: a step that is
    /// ready at once (the common case) never registers the cancellation watch or the timer.
    /// Once it has waited, the guard goes first, so a cancelled or expired call stops before
    /// its work runs any further.
    struct Guarded<'a, 's, S, F> {
        guard: Pin<&'a mut Guard<'s, S>>,
        #[pin]
        work: F,
        waited: bool,
    }
}

impl<S: Future, F: Future> Future for Guarded<'_, '_, S, F> {
    type Output = Outcome<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.waited {
            if let Poll::Ready(out) = this.work.poll(cx) {
                return Poll::Ready(Outcome::Done(out));
            }
            *this.waited = true;
            return this
                .guard
                .as_mut()
                .poll_interrupt(cx)
                .map(|()| Outcome::Interrupted);
        }
        if this.guard.as_mut().poll_interrupt(cx).is_ready() {
            return Poll::Ready(Outcome::Interrupted);
        }
        this.work.poll(cx).map(Outcome::Done)
    }
}

/// What a handler produced: bytes not written yet, and the final status (with trailers).
type Produced = (BytesMut, Result<MetadataMap, Status>);

/// Runs the work of a call (request, handler, response messages) under the guard; a
/// panicking handler becomes an `Internal` status. A plain function, not an `async fn`: the
/// work future is stored once, in the returned future, not copied into a wrapper too.
fn run_work<'a, 's, S: Future, W: Future<Output = Produced>>(
    guard: Pin<&'a mut Guard<'s, S>>,
    work: W,
) -> impl Future<Output = Outcome<Produced>> + use<'a, 's, S, W> {
    guard
        .run(AssertUnwindSafe(work).catch_unwind())
        .map(|out| match out {
            Outcome::Done(Ok(produced)) => Outcome::Done(produced),
            Outcome::Done(Err(_panic)) => Outcome::Done((
                BytesMut::new(),
                Err(Status::internal("the handler panicked")),
            )),
            Outcome::Interrupted => Outcome::Interrupted,
        })
}

/// Ends a call with exactly one of: trailers (after any pending bytes), or a stream reset,
/// as its state machine decides.
async fn finish<S: Future>(
    send: &mut SendHalf,
    recv: Option<&mut RecvHalf<ServerRecv>>,
    mut guard: Pin<&mut Guard<'_, S>>,
    out: Outcome<Produced>,
) -> CallOutcome {
    let mut outcome = None;
    if let Outcome::Done((mut buf, result)) = out {
        let code = match result {
            Ok(trailers) => {
                wire::encode::trailers_ok(&trailers, &mut buf);
                Code::Ok
            }
            Err(status) => {
                wire::encode::trailers(&status, &mut buf);
                status.code()
            }
        };
        let mut data = buf.freeze();
        // The stream usually has room: write at once. Waiting for room is the rare case; its
        // future is boxed so it takes no space in every call's state.
        let written = match send.try_write(&mut data) {
            Some(res) => Outcome::Done(res),
            None => Box::pin(guard.as_mut().run(send.write(data))).await,
        };
        match written {
            Outcome::Done(Ok(())) => {
                guard.as_mut().state().finish();
                outcome = Some(CallOutcome::Status(code));
            }
            Outcome::Done(Err(_)) => guard.as_mut().state().handle_write_error(),
            Outcome::Interrupted => {}
        }
    }
    let state = guard.state();
    let outcome = outcome
        .unwrap_or_else(|| CallOutcome::Reset(state.aborted().unwrap_or(ErrorCode::CANCELLED)));
    apply(state, send, recv);
    outcome
}

/// Carries out the stream actions a call's state machine owes. Without the request stream
/// (held by the handler's [`Streaming`]), its actions are left to that stream's end.
#[inline]
pub(crate) fn apply(
    state: &mut ServerCallState,
    send: &mut SendHalf,
    mut recv: Option<&mut RecvHalf<ServerRecv>>,
) {
    while let Some(action) = state.poll_action() {
        match action {
            StreamAction::Stop(code) => {
                if let Some(recv) = recv.as_mut() {
                    recv.stop(code);
                }
            }
            StreamAction::Reset(code) => send.reset(code),
            StreamAction::Finish => send.finish(),
        }
    }
}

/// Reads exactly one request message and the end of the request stream (the receive machine
/// holds the client to one message).
async fn read_one<D: Decoder>(
    recv: &mut RecvHalf<ServerRecv>,
    decoder: &mut D,
) -> Result<D::Item, Status> {
    recv.receiver().set_single_message(true);
    let mut message = None;
    loop {
        match recv.next_event().await? {
            Some(ServerEvent::Message(b)) => message = Some(b),
            Some(ServerEvent::End) | None => break,
            Some(ServerEvent::Head(_)) => return Err(Status::internal("second request head")),
        }
    }
    let message = message.ok_or_else(|| CallError::MissingMessage.to_status())?;
    decoder.decode(message)
}

fn response_head(md: &MetadataMap, compression: SendCompression) -> BytesMut {
    let mut buf = BytesMut::new();
    wire::encode::response_head_with(md, compression.encoding, &mut buf);
    buf
}

/// Runs a unary handler.
pub fn unary<C, F, Fut>(mut call: ServerCall, mut codec: C, f: F) -> CallFuture
where
    C: Codec,
    F: FnOnce(Request<C::Decode>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
{
    // The call is used in place and the work future is built inside the `await`: moved-from
    // locals still take room in a future's state, and this one is allocated for every call.
    Box::pin(async move {
        let max_send = (call.meta.max_send, call.meta.compression);
        if call.meta.interceptors.is_some() {
            if let Err(status) = call.meta.intercept().await {
                return reject(call.send, call.recv, call.state, status).await;
            }
        }
        let mut guard = pin!(Guard::new(call.send.stopped(), &mut call.state));
        let out = run_work(guard.as_mut(), async {
            let message = match read_one(&mut call.recv, &mut codec.decoder()).await {
                Ok(m) => m,
                Err(s) => return (BytesMut::new(), Err(s)),
            };
            let started = crate::call_info::server_timing_start(&call.meta.head.metadata);
            let response = f(call.meta.request(message)).await;
            respond_single(
                crate::call_info::add_server_timing(started, response),
                &mut codec.encoder(),
                max_send,
            )
        })
        .await;
        finish(&mut call.send, Some(&mut call.recv), guard, out).await
    })
}

/// Runs a server-streaming handler.
pub fn server_streaming<C, F, Fut, S>(call: ServerCall, mut codec: C, f: F) -> CallFuture
where
    C: Codec,
    F: FnOnce(Request<C::Decode>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<S>, Status>> + Send + 'static,
    S: Stream<Item = Result<C::Encode, Status>> + Send + 'static,
{
    Box::pin(async move {
        let ServerCall {
            mut send,
            mut recv,
            mut meta,
            mut state,
        } = call;
        let max_send = (meta.max_send, meta.compression);
        if meta.interceptors.is_some() {
            if let Err(status) = meta.intercept().await {
                return reject(send, recv, state, status).await;
            }
        }
        let mut guard = pin!(Guard::new(send.stopped(), &mut state));
        let work = async {
            let message = match read_one(&mut recv, &mut codec.decoder()).await {
                Ok(m) => m,
                Err(s) => return (BytesMut::new(), Err(s)),
            };
            let response = match f(meta.request(message)).await {
                Ok(r) => r,
                Err(s) => return (BytesMut::new(), Err(s)),
            };
            respond_stream(&mut send, response, &mut codec.encoder(), max_send).await
        };
        let out = run_work(guard.as_mut(), work).await;
        finish(&mut send, Some(&mut recv), guard, out).await
    })
}

/// Runs a client-streaming handler.
pub fn client_streaming<C, F, Fut>(call: ServerCall, mut codec: C, f: F) -> CallFuture
where
    C: Codec,
    F: FnOnce(Request<Streaming<C::Decode>>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
{
    Box::pin(async move {
        let ServerCall {
            send,
            recv,
            mut meta,
            mut state,
        } = call;
        let max_send = (meta.max_send, meta.compression);
        if meta.interceptors.is_some() {
            if let Err(status) = meta.intercept().await {
                return reject(send, recv, state, status).await;
            }
        }
        let requests = Streaming::server(recv, Box::new(codec.decoder()));
        let started = crate::call_info::server_timing_start(&meta.head.metadata);
        let request = meta.request(requests);
        let mut send = send;
        let mut guard = pin!(Guard::new(send.stopped(), &mut state));
        let work = async {
            let response = crate::call_info::add_server_timing(started, f(request).await);
            respond_single(response, &mut codec.encoder(), max_send)
        };
        let out = run_work(guard.as_mut(), work).await;
        finish(&mut send, None, guard, out).await
    })
}

/// Runs a bidirectional-streaming handler.
pub fn streaming<C, F, Fut, S>(call: ServerCall, mut codec: C, f: F) -> CallFuture
where
    C: Codec,
    F: FnOnce(Request<Streaming<C::Decode>>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<S>, Status>> + Send + 'static,
    S: Stream<Item = Result<C::Encode, Status>> + Send + 'static,
{
    Box::pin(async move {
        let ServerCall {
            send,
            recv,
            mut meta,
            mut state,
        } = call;
        let max_send = (meta.max_send, meta.compression);
        if meta.interceptors.is_some() {
            if let Err(status) = meta.intercept().await {
                return reject(send, recv, state, status).await;
            }
        }
        let requests = Streaming::server(recv, Box::new(codec.decoder()));
        let request = meta.request(requests);
        let mut send = send;
        let mut guard = pin!(Guard::new(send.stopped(), &mut state));
        let work = async {
            let response = match f(request).await {
                Ok(r) => r,
                Err(s) => return (BytesMut::new(), Err(s)),
            };
            respond_stream(&mut send, response, &mut codec.encoder(), max_send).await
        };
        let out = run_work(guard.as_mut(), work).await;
        finish(&mut send, None, guard, out).await
    })
}

/// Encodes a single-message response: head (if any metadata), message; trailers follow.
/// The buffer is sized for all three, so the call's one write needs one allocation.
fn respond_single<E: crate::codec::Encoder>(
    response: Result<Response<E::Item>, Status>,
    encoder: &mut E,
    (max_send, mut compression): (usize, SendCompression),
) -> Produced {
    let (md, message, trailers) = match response {
        Ok(r) => r.into_parts(),
        Err(s) => return (BytesMut::new(), Err(s)),
    };
    let hint = encoder.size_hint(&message);
    // The head names the algorithm only when the message may be compressed, so a small
    // response costs no head (PROTOCOL.md §15.3); a codec without a size hint sends plain.
    if hint < compression.threshold {
        compression.encoding = None;
    }
    let head_len = if md.is_empty() && compression.encoding.is_none() {
        0
    } else {
        wire::encode::response_head_len_with(&md, compression.encoding)
    };
    let mut buf = BytesMut::with_capacity(
        head_len + wire::frame::FRAME_HEADER_LEN + hint + wire::encode::trailers_ok_len(&trailers),
    );
    if head_len > 0 {
        wire::encode::response_head_with(&md, compression.encoding, &mut buf);
    }
    match encode_frame(encoder, &message, &mut buf, max_send, compression) {
        Ok(()) => (buf, Ok(trailers)),
        Err(s) => (BytesMut::new(), Err(s)),
    }
}

async fn respond_stream<E, S>(
    send: &mut SendHalf,
    response: Response<S>,
    encoder: &mut E,
    (max_send, compression): (usize, SendCompression),
) -> Produced
where
    E: crate::codec::Encoder,
    S: Stream<Item = Result<E::Item, Status>> + Send,
{
    let (md, stream, trailers) = response.into_parts();
    let mut buf = response_head(&md, compression);
    let stream = crate::streaming::announce_sent(stream);
    match send
        .send_messages(&mut buf, stream, encoder, max_send, compression)
        .await
    {
        Ok(()) => (buf, Ok(trailers)),
        Err(SendError::Local(status)) => (buf, Err(status)),
        // Written in vain: the trailers will fail the same way, and the call is reset.
        Err(SendError::Stream(status)) => (BytesMut::new(), Err(status)),
    }
}

/// Answers a call for a method the service does not have.
pub fn unimplemented(call: ServerCall) -> CallFuture {
    let ServerCall {
        send,
        recv,
        meta,
        state,
    } = call;
    let status = Status::unimplemented(format!("unknown method {}", meta.head.path));
    reject(send, recv, state, status)
}

/// Ends a call with `status` and no response (trailers only).
pub(crate) fn reject(
    mut send: SendHalf,
    mut recv: RecvHalf<ServerRecv>,
    mut state: ServerCallState,
    status: Status,
) -> CallFuture {
    Box::pin(async move {
        let mut guard = pin!(Guard::new(send.stopped(), &mut state));
        let out = Outcome::Done((BytesMut::new(), Err(status)));
        finish(&mut send, Some(&mut recv), guard.as_mut(), out).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ProstCodec;
    use crate::transport::{mem, AnyConn, Peer};
    use crate::wire::FrameLimits;

    /// A call on an in-memory stream, as `route` makes it.
    async fn call() -> ServerCall {
        let (client, server) = mem::pair();
        let (client, server) = (AnyConn::new(client), AnyConn::new(server));
        let _keep = client.open_bi().await.unwrap();
        let (send, recv) = server.accept_bi().await.unwrap();
        let limits = FrameLimits {
            max_message: 1 << 20,
            max_headers: 1 << 14,
        };
        ServerCall {
            send: SendHalf::new(send, Peer::Client),
            recv: RecvHalf::new(recv, ServerRecv::new(limits), Peer::Client),
            meta: CallMeta {
                head: RequestHead {
                    path: "/a.B/C".into(),
                    timeout: None,
                    flags: 0,
                    metadata: MetadataMap::new(),
                },
                method_at: 5,
                deadline: None,
                peer: None,
                max_send: 1 << 20,
                compression: SendCompression::OFF,
                extensions: http::Extensions::new(),
                interceptors: None,
                datagrams: None,
            },
            state: ServerCallState::new(),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Echo {
        #[prost(bytes = "bytes", tag = "1")]
        payload: bytes::Bytes,
        #[prost(uint32, tag = "2")]
        size: u32,
    }

    struct EchoService;

    impl EchoService {
        async fn unary(&self, request: Request<Echo>) -> Result<Response<Echo>, Status> {
            Ok(Response::new(request.into_inner()))
        }
    }

    /// Every call allocates its unary future: above 1,000 bytes it leaves glibc's per-thread
    /// cache for the large-chunk path, +350 instructions per call at 64 in flight
    /// (benches/README.md). This keeps it below, for a handler shaped as generated code
    /// calls it (the service behind an `Arc`, its `async fn` awaited in a closure).
    #[tokio::test]
    async fn unary_future_stays_in_mallocs_fast_path() {
        let service = std::sync::Arc::new(EchoService);
        let future = unary(
            call().await,
            ProstCodec::<Echo, Echo>::new(),
            move |request: Request<Echo>| async move { service.unary(request).await },
        );
        let size = std::mem::size_of_val(&*future);
        assert!(size <= 1000, "the unary call future is {size} bytes");
    }
}
