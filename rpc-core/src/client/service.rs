//! Calls as a tower [`Service`]: the seam for client middleware.
//!
//! A [`Channel`] is a `Service<CallRequest>`, so any tower layer wraps it, and generated
//! clients are generic over the result (`GreeterClient<S = Channel>`):
//!
//! ```no_run
//! # async fn demo(channel: rpc_core::Channel) {
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//!
//! let stack = ServiceBuilder::new()
//!     .timeout(Duration::from_secs(2))
//!     .concurrency_limit(64)
//!     .service(channel);
//! // let client = GreeterClient::new(stack);
//! # let _ = stack;
//! # }
//! ```
//!
//! A layer sees each call's path, kind, metadata, timeout and extensions, and its encoded
//! messages ([`RequestBody`]); the response is the server's metadata and a [`Streaming`] of
//! encoded messages, ending with the trailers. Generated code encodes before the stack and
//! decodes after it. Clients call through a clone of the stack (`Clone` is required, as for
//! sharing any tower service); a layer whose service is not `Clone`, such as tower's
//! `RateLimit`, goes behind tower's `Buffer`.
//!
//! A client over a plain [`Channel`] skips the stack entirely: no request is built, nothing
//! is boxed, so a client without middleware pays nothing for the seam.

use super::Channel;
use crate::codec::{Codec, Decoder, Encoder};
use crate::metadata::MetadataMap;
use crate::request::{Request, Response};
use crate::status::Status;
use crate::streaming::Streaming;
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::future::Either;
use futures_util::StreamExt;
use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::ServiceExt;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type MessageStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send + 'static>>;

/// How many messages each direction of a method carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// A stream of requests, a stream of responses.
    Streaming,
}

impl MethodKind {
    pub(crate) fn single_request(self) -> bool {
        matches!(self, MethodKind::Unary | MethodKind::ServerStreaming)
    }
}

/// The encoded request messages of a call.
pub struct RequestBody(Body);

enum Body {
    Single(Bytes),
    Stream(MessageStream),
}

impl RequestBody {
    /// One encoded message.
    pub fn single(message: Bytes) -> Self {
        RequestBody(Body::Single(message))
    }

    /// A stream of encoded messages; an `Err` item ends the call with that status.
    pub fn stream(messages: impl Stream<Item = Result<Bytes, Status>> + Send + 'static) -> Self {
        RequestBody(Body::Stream(Box::pin(messages)))
    }

    /// The message of a single-message body; `None` for a stream.
    pub fn as_single(&self) -> Option<&Bytes> {
        match &self.0 {
            Body::Single(b) => Some(b),
            Body::Stream(_) => None,
        }
    }

    pub(crate) fn into_stream(self) -> MessageStream {
        match self.0 {
            Body::Single(b) => Box::pin(futures_util::stream::iter([Ok(b)])),
            Body::Stream(s) => s,
        }
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Body::Single(b) => write!(f, "RequestBody::Single({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("RequestBody::Stream"),
        }
    }
}

/// A call as a client-side tower stack sees it.
#[derive(Debug)]
pub struct CallRequest {
    pub(crate) path: Cow<'static, str>,
    pub(crate) kind: MethodKind,
    pub(crate) request: Request<RequestBody>,
}

impl CallRequest {
    /// A call of method `path` (`/package.Service/Method`).
    pub fn new(
        path: impl Into<Cow<'static, str>>,
        kind: MethodKind,
        request: Request<RequestBody>,
    ) -> Self {
        CallRequest {
            path: path.into(),
            kind,
            request,
        }
    }

    /// The method path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The method's kind.
    pub fn kind(&self) -> MethodKind {
        self.kind
    }

    /// Metadata, timeout, idempotency and extensions of the call, with its body.
    pub fn request(&self) -> &Request<RequestBody> {
        &self.request
    }

    /// The same, mutably: a layer adds metadata or sets the timeout here.
    pub fn request_mut(&mut self) -> &mut Request<RequestBody> {
        &mut self.request
    }

    /// A copy for a retry or a hedge, when the request is a single message (streams cannot
    /// be replayed). Extensions are not copied.
    pub fn try_clone(&self) -> Option<CallRequest> {
        let message = self.request.get_ref().as_single()?.clone();
        let mut request = Request::new(RequestBody::single(message));
        *request.metadata_mut() = self.request.metadata().clone();
        if let Some(t) = self.request.timeout() {
            request.set_timeout(t);
        }
        request.set_idempotent(self.request.is_idempotent());
        if let Some(compression) = self.request.send_compressed() {
            request.set_send_compressed(compression);
        }
        Some(CallRequest {
            path: self.path.clone(),
            kind: self.kind,
            request,
        })
    }
}

/// What a client-side tower stack answers: the response metadata and the encoded response
/// messages, ending with the trailers.
pub type CallResponse = Response<Streaming<Bytes>>;

/// What generated clients send their calls through: a [`Channel`], or any tower service over
/// one (`Service<CallRequest, Response = CallResponse>`, `Clone`, errors convertible to a
/// [`Status`] with [`Status::from_error`]).
pub trait CallService: Clone + Send + Sync + 'static {
    #[doc(hidden)]
    fn call_boxed(&self, call: CallRequest) -> BoxFuture<Result<CallResponse, Status>>;
}

impl<S> CallService for S
where
    S: Service<CallRequest, Response = CallResponse> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn call_boxed(&self, call: CallRequest) -> BoxFuture<Result<CallResponse, Status>> {
        let svc = self.clone();
        Box::pin(async move {
            let svc = svc.ready_oneshot().await.map_err(into_status)?;
            svc.oneshot(call).await.map_err(into_status)
        })
    }
}

fn into_status(e: impl Into<BoxError>) -> Status {
    Status::from_error(e.into())
}

/// The channel itself when `svc` is a plain [`Channel`]. The type test is resolved at
/// compile time.
fn direct<S: CallService>(svc: &S) -> Option<&Channel> {
    (svc as &dyn Any).downcast_ref::<Channel>()
}

/// The channel, when its calls take the direct path: a plain [`Channel`] without a retry
/// layer built in.
fn direct_path<S: CallService>(svc: &S) -> Option<&Channel> {
    direct(svc).filter(|channel| !channel.has_retry())
}

impl Service<CallRequest> for Channel {
    type Response = CallResponse;
    type Error = Status;
    type Future = BoxFuture<Result<CallResponse, Status>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: CallRequest) -> Self::Future {
        let channel = self.clone();
        Box::pin(async move { channel.call_raw(call).await })
    }
}

impl Channel {
    /// Runs a call of any kind with encoded messages: the channel's `Service` impl.
    async fn call_raw(&self, call: CallRequest) -> Result<CallResponse, Status> {
        let CallRequest {
            path,
            kind,
            request,
        } = call;
        if kind.single_request() {
            let request = match request.into_parts_with(|b| b.0) {
                (Body::Single(b), request) => request.map(|()| Ok(b)),
                (Body::Stream(_), _) => {
                    return Err(Status::internal(format!(
                        "a {kind:?} call needs a single request message"
                    )))
                }
            };
            if kind == MethodKind::Unary {
                return self.unary_raw(&path, request).await;
            }
            return self
                .single_request_call(&path, request, RawCodec, false)
                .await;
        }
        let request = request.map(RequestBody::into_stream);
        if kind == MethodKind::ClientStreaming {
            let (md, message, trailers) = self
                .client_streaming(&path, request, RawCodec)
                .await?
                .into_parts();
            let body = Streaming::single(Box::new(RawDecoder), message, trailers);
            return Ok(Response::from_parts(md, body, MetadataMap::new()));
        }
        self.streaming(&path, request, RawCodec).await
    }
}

impl Channel {
    /// A unary call with an encoded message, on the channel's own unary path (one buffer,
    /// no response stream machinery), answered as a one-message stream. Its future ends with
    /// the response, as a unary call's does.
    async fn unary_raw(
        &self,
        path: &str,
        request: Request<Result<Bytes, Status>>,
    ) -> Result<CallResponse, Status> {
        let mut response = self.unary(path, request, RawCodec).await?;
        let extensions = std::mem::take(response.extensions_mut());
        let (md, message, trailers) = response.into_parts();
        let body = Streaming::single(Box::new(RawDecoder), message, trailers);
        let mut response = Response::from_parts(md, body, MetadataMap::new());
        *response.extensions_mut() = extensions;
        Ok(response)
    }
}

/// Messages already encoded: written and read as they are.
struct RawCodec;
struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Result<Bytes, Status>;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Result<Bytes, Status>;
    fn encode(&mut self, item: &Self::Item, dst: &mut BytesMut) -> Result<(), Status> {
        match item {
            Ok(b) => {
                dst.extend_from_slice(b);
                Ok(())
            }
            Err(status) => Err(status.clone()),
        }
    }
    fn size_hint(&self, item: &Self::Item) -> usize {
        item.as_ref().map_or(0, Bytes::len)
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    fn decode(&mut self, src: Bytes) -> Result<Bytes, Status> {
        Ok(src)
    }
}

fn encode<E: Encoder>(encoder: &mut E, item: &E::Item) -> Result<Bytes, Status> {
    let mut buf = BytesMut::with_capacity(encoder.size_hint(item));
    encoder.encode(item, &mut buf)?;
    Ok(buf.freeze())
}

fn encoded_request<C: Codec>(
    request: Request<C::Encode>,
    codec: &mut C,
) -> Result<Request<RequestBody>, Status> {
    let mut encoder = codec.encoder();
    let (message, request) = request.into_parts_with(|m| m);
    let body = RequestBody::single(encode(&mut encoder, &message)?);
    Ok(request.map(|()| body))
}

fn encoded_stream<C, S>(request: Request<S>, codec: &mut C) -> Request<RequestBody>
where
    C: Codec,
    S: Stream<Item = C::Encode> + Send + 'static,
{
    let mut encoder = codec.encoder();
    request.map(|s| RequestBody::stream(s.map(move |m| encode(&mut encoder, &m))))
}

/// The one message and trailers of a single-message response.
async fn single_response<D: Decoder>(
    response: CallResponse,
    mut decoder: D,
) -> Result<Response<D::Item>, Status> {
    let mut response = response;
    let extensions = std::mem::take(response.extensions_mut());
    let (md, mut body, _) = response.into_parts();
    let message = body
        .message()
        .await?
        .ok_or_else(|| crate::wire::CallError::MissingMessage.to_status())?;
    // The end of the stream, with the trailers (the receive machine allows no second message).
    while body.message().await?.is_some() {}
    let trailers = body.trailers().cloned().unwrap_or_default();
    let decoding = std::time::Instant::now();
    let mut response = Response::from_parts(md, decoder.decode(message)?, trailers);
    *response.extensions_mut() = extensions;
    let server = crate::CallInfo::server_time(response.trailers());
    if let Some(info) = response.extensions_mut().get_mut::<crate::CallInfo>() {
        // Collected when the first answer came (the channel's streaming path): the trailers
        // and the decoding are known only now.
        info.timings.decode = decoding.elapsed();
        info.timings.server = server;
    }
    Ok(response)
}

fn decoded_stream<D>(response: CallResponse, decoder: D) -> Response<Streaming<D::Item>>
where
    D: Decoder + Send + 'static,
{
    let mut response = response;
    let extensions = std::mem::take(response.extensions_mut());
    let (md, body, trailers) = response.into_parts();
    let mut response = Response::from_parts(md, body.with_decoder(Box::new(decoder)), trailers);
    *response.extensions_mut() = extensions;
    response
}

/// `call` through `svc`, or through its channel's built-in retry layer
/// ([`Endpoint::service_config`](crate::Endpoint::service_config)). Out of line: the plain
/// channel's path stays as small as it was.
#[inline(never)]
fn call_via<S: CallService>(svc: &S, call: CallRequest) -> BoxFuture<Result<CallResponse, Status>> {
    match direct(svc).and_then(Channel::retrying) {
        Some(stack) => stack.call_boxed(call),
        None => svc.call_boxed(call),
    }
}

/// The boxed future of a call that goes through a tower stack.
type CallFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Status>> + Send + 'a>>;

/// A unary call through `svc` (generated clients call this).
#[inline]
pub fn unary<'a, S: CallService, C: Codec>(
    svc: &'a S,
    path: &'static str,
    request: Request<C::Encode>,
    codec: C,
) -> impl Future<Output = Result<Response<C::Decode>, Status>> + Send + 'a {
    if let Some(channel) = direct_path(svc) {
        return Either::Left(channel.unary(path, request, codec));
    }
    Either::Right(unary_stack(svc, path, request, codec))
}

/// [`unary`] through the stack; out of line, so that the plain channel's path stays small.
#[inline(never)]
fn unary_stack<'a, S: CallService, C: Codec>(
    svc: &'a S,
    path: &'static str,
    request: Request<C::Encode>,
    mut codec: C,
) -> CallFuture<'a, Response<C::Decode>> {
    let call = encoded_request(request, &mut codec)
        .map(|r| call_via(svc, CallRequest::new(path, MethodKind::Unary, r)));
    Box::pin(async move { single_response(call?.await?, codec.decoder()).await })
}

/// A server-streaming call through `svc` (generated clients call this).
#[inline]
pub fn server_streaming<'a, S: CallService, C: Codec>(
    svc: &'a S,
    path: &'static str,
    request: Request<C::Encode>,
    codec: C,
) -> impl Future<Output = Result<Response<Streaming<C::Decode>>, Status>> + Send + 'a {
    if let Some(channel) = direct_path(svc) {
        return Either::Left(channel.server_streaming(path, request, codec));
    }
    Either::Right(server_streaming_stack(svc, path, request, codec))
}

#[inline(never)]
fn server_streaming_stack<'a, S: CallService, C: Codec>(
    svc: &'a S,
    path: &'static str,
    request: Request<C::Encode>,
    mut codec: C,
) -> CallFuture<'a, Response<Streaming<C::Decode>>> {
    let call = encoded_request(request, &mut codec).map(|r| {
        let call = CallRequest::new(path, MethodKind::ServerStreaming, r);
        call_via(svc, call)
    });
    Box::pin(async move { Ok(decoded_stream(call?.await?, codec.decoder())) })
}

/// A client-streaming call through `svc` (generated clients call this).
#[inline]
pub fn client_streaming<'a, S, C, St>(
    svc: &'a S,
    path: &'static str,
    request: Request<St>,
    codec: C,
) -> impl Future<Output = Result<Response<C::Decode>, Status>> + Send + 'a
where
    S: CallService,
    C: Codec,
    St: Stream<Item = C::Encode> + Send + 'static,
{
    if let Some(channel) = direct_path(svc) {
        return Either::Left(channel.client_streaming(path, request, codec));
    }
    Either::Right(client_streaming_stack(svc, path, request, codec))
}

#[inline(never)]
fn client_streaming_stack<'a, S, C, St>(
    svc: &'a S,
    path: &'static str,
    request: Request<St>,
    mut codec: C,
) -> CallFuture<'a, Response<C::Decode>>
where
    S: CallService,
    C: Codec,
    St: Stream<Item = C::Encode> + Send + 'static,
{
    let request = encoded_stream(request, &mut codec);
    let call = CallRequest::new(path, MethodKind::ClientStreaming, request);
    let call = call_via(svc, call);
    Box::pin(async move { single_response(call.await?, codec.decoder()).await })
}

/// A bidirectional call through `svc` (generated clients call this).
#[inline]
pub fn streaming<'a, S, C, St>(
    svc: &'a S,
    path: &'static str,
    request: Request<St>,
    codec: C,
) -> impl Future<Output = Result<Response<Streaming<C::Decode>>, Status>> + Send + 'a
where
    S: CallService,
    C: Codec,
    St: Stream<Item = C::Encode> + Send + 'static,
{
    if let Some(channel) = direct_path(svc) {
        return Either::Left(channel.streaming(path, request, codec));
    }
    Either::Right(streaming_stack(svc, path, request, codec))
}

#[inline(never)]
fn streaming_stack<'a, S, C, St>(
    svc: &'a S,
    path: &'static str,
    request: Request<St>,
    mut codec: C,
) -> CallFuture<'a, Response<Streaming<C::Decode>>>
where
    S: CallService,
    C: Codec,
    St: Stream<Item = C::Encode> + Send + 'static,
{
    let request = encoded_stream(request, &mut codec);
    let call = CallRequest::new(path, MethodKind::Streaming, request);
    let call = call_via(svc, call);
    Box::pin(async move { Ok(decoded_stream(call.await?, codec.decoder())) })
}
