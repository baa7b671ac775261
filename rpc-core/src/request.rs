//! [`Request`] and [`Response`]: a message plus the metadata around it.

use crate::compression::CompressionEncoding;
use crate::metadata::MetadataMap;
use crate::tls::PeerIdentity;
use futures_core::Stream;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A request: a message (or a stream of them) plus metadata and call options.
///
/// On the client, set per-call options here: [`Request::set_timeout`] and
/// [`Request::metadata_mut`]. On the server, read what the client sent: metadata, the
/// remaining time ([`Request::deadline`]), the peer's address and certificate.
#[derive(Debug)]
pub struct Request<T> {
    metadata: MetadataMap,
    message: T,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    idempotent: bool,
    /// Client: the call's stream priority (`set_priority`).
    priority: i32,
    /// Client: the call takes datagrams (`set_datagrams`).
    datagrams: bool,
    /// Client: overrides the channel's `send_compressed` for this call.
    send_compressed: Option<Option<CompressionEncoding>>,
    peer: Option<Arc<PeerInfo>>,
    path: Option<String>,
    extensions: http::Extensions,
}

/// What a server knows of the client at the other end of a connection; one per connection,
/// shared by its calls (one pointer each, not a copy: every call's future is allocated).
#[derive(Debug, Default)]
pub(crate) struct PeerInfo {
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) identity: Option<PeerIdentity>,
    /// The connection's datagram calls (PROTOCOL.md §18), for methods that take datagrams.
    pub(crate) datagrams: Option<crate::datagram::ConnHub>,
}

impl<T> Request<T> {
    /// A request with no metadata and no timeout (the channel default applies).
    pub fn new(message: T) -> Self {
        Request {
            metadata: MetadataMap::new(),
            message,
            timeout: None,
            deadline: None,
            idempotent: false,
            priority: 0,
            datagrams: false,
            send_compressed: None,
            peer: None,
            path: None,
            extensions: http::Extensions::new(),
        }
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Takes the message out.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// Request metadata.
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// Request metadata, mutably.
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// Sets how long the client waits for this call; overrides the channel's default. The
    /// server is told and cancels the handler when the time is up.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    /// Lets this call run without a deadline, even on a channel with a default timeout
    /// ([`Endpoint::timeout`](crate::Endpoint::timeout)): for a long-lived stream, say.
    /// [`Request::timeout`] then reads `Duration::MAX`.
    pub fn clear_timeout(&mut self) {
        self.timeout = Some(Duration::MAX);
    }

    /// The timeout: set by the caller on the client, as received on the server.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// On the server: when the client's deadline passes (then the handler is cancelled).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// On the server: the time left before the deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Marks the call as idempotent (safe to retry); generated code sets it from the method's
    /// `idempotency_level` option.
    pub fn set_idempotent(&mut self, idempotent: bool) {
        self.idempotent = idempotent;
    }

    /// On the client: compresses this call's request messages with `encoding` (`None`: not
    /// at all), whatever the channel's
    /// [`send_compressed`](crate::Endpoint::send_compressed) says (PROTOCOL.md §15).
    /// Generated clients set it for methods given a compression setting in `rpc-codegen`.
    pub fn set_send_compressed(&mut self, encoding: Option<CompressionEncoding>) {
        self.send_compressed = Some(encoding);
    }

    /// The per-call override of [`set_send_compressed`](Self::set_send_compressed), if any.
    pub fn send_compressed(&self) -> Option<Option<CompressionEncoding>> {
        self.send_compressed
    }

    /// On the client: the priority of this call's stream among the connection's streams
    /// (default 0; higher first). When the connection cannot send everything at once (a
    /// bulk stream filling the congestion window), the request data of higher-priority calls
    /// goes out first (QUIC stream priority, quinn's `SendStream::set_priority`); calls of
    /// equal priority share the connection. A local choice, not sent to the server, whose
    /// responses it sets with [`ServerCall::set_priority`](crate::server::ServerCall::set_priority).
    pub fn set_priority(&mut self, priority: i32) {
        self.priority = priority;
    }

    /// The call's stream priority ([`set_priority`](Self::set_priority)).
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// On the client: whether the call takes datagrams (PROTOCOL.md §18). Generated clients
    /// set it for methods that take datagrams (`#[rpc(datagrams)]`, `(qrpc.datagrams)`); the
    /// call's [`Response::datagrams`] is then its handle. For server-streaming and
    /// bidirectional calls: the others have no handle while the call runs.
    pub fn set_datagrams(&mut self, enabled: bool) {
        self.datagrams = enabled;
    }

    /// Whether the call takes datagrams: on the client, [`set_datagrams`](Self::set_datagrams).
    pub(crate) fn wants_datagrams(&self) -> bool {
        self.datagrams
    }

    /// On the server: the call's datagrams, for a method that takes them (PROTOCOL.md §18);
    /// `None` for other methods, and on a transport whose streams have no ids (gRPC over
    /// HTTP/2). A handle shared with the call: it stops sending and receiving when the call
    /// ends.
    pub fn datagrams(&self) -> Option<crate::datagram::Datagrams> {
        self.extensions.get::<crate::datagram::Datagrams>().cloned()
    }

    /// Whether the call is marked idempotent.
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }

    /// On the server: the client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.peer.as_ref().and_then(|peer| peer.remote_addr)
    }

    /// On the server: the client's verified certificate, when it presented one (mutual TLS,
    /// see [`ServerTlsConfig::client_ca_root`](crate::tls::ServerTlsConfig::client_ca_root)).
    /// The same as tonic's `peer_certs`, with the names already parsed.
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref().and_then(|peer| peer.identity.as_ref())
    }

    /// The method path, `/package.Service/Method`: set on the server, and on the client while
    /// interceptors run.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Typed values attached to the call: interceptors put things here for handlers (for
    /// example the authenticated user). Never sent over the wire.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Typed values attached to the call, mutably.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// Replaces the message, keeping metadata and options.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            metadata: self.metadata,
            message: f(self.message),
            timeout: self.timeout,
            deadline: self.deadline,
            idempotent: self.idempotent,
            priority: self.priority,
            datagrams: self.datagrams,
            send_compressed: self.send_compressed,
            peer: self.peer,
            path: self.path,
            extensions: self.extensions,
        }
    }

    pub(crate) fn set_path(&mut self, path: String) {
        self.path = Some(path);
    }

    pub(crate) fn take_path(&mut self) -> Option<String> {
        self.path.take()
    }

    /// Takes the message out (through `f`), keeping everything else in a `Request<()>`.
    pub(crate) fn into_parts_with<U>(self, f: impl FnOnce(T) -> U) -> (U, Request<()>) {
        let mut out = None;
        let rest = self.map(|m| out = Some(f(m)));
        (out.expect("set by map"), rest)
    }

    pub(crate) fn into_parts(self) -> (MetadataMap, T, Option<Duration>, bool) {
        (self.metadata, self.message, self.timeout, self.idempotent)
    }

    pub(crate) fn from_server_parts(
        metadata: MetadataMap,
        message: T,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
        idempotent: bool,
        peer: Option<Arc<PeerInfo>>,
    ) -> Self {
        Request {
            metadata,
            message,
            timeout,
            deadline,
            idempotent,
            priority: 0,
            datagrams: false,
            send_compressed: None,
            peer,
            path: None,
            extensions: http::Extensions::new(),
        }
    }

    pub(crate) fn into_server_parts(self) -> (MetadataMap, T, http::Extensions, Option<String>) {
        (self.metadata, self.message, self.extensions, self.path)
    }
}

/// Anything that can become a [`Request`]: a message, or a request already.
pub trait IntoRequest<T> {
    /// Wraps the message (if it is not wrapped yet).
    fn into_request(self) -> Request<T>;
}

impl<T> IntoRequest<T> for T {
    fn into_request(self) -> Request<T> {
        Request::new(self)
    }
}

impl<T> IntoRequest<T> for Request<T> {
    fn into_request(self) -> Request<T> {
        self
    }
}

/// Anything that can become a streaming request: a stream of messages, or a request of one.
pub trait IntoStreamingRequest {
    /// The stream.
    type Stream: Stream<Item = Self::Message> + Send + 'static;
    /// The messages it yields.
    type Message;
    /// Wraps the stream (if it is not wrapped yet).
    fn into_streaming_request(self) -> Request<Self::Stream>;
}

impl<S> IntoStreamingRequest for S
where
    S: Stream + Send + 'static,
{
    type Stream = S;
    type Message = S::Item;
    fn into_streaming_request(self) -> Request<S> {
        Request::new(self)
    }
}

impl<S> IntoStreamingRequest for Request<S>
where
    S: Stream + Send + 'static,
{
    type Stream = S;
    type Message = S::Item;
    fn into_streaming_request(self) -> Request<S> {
        self
    }
}

/// A response: a message (or a stream of them) plus response metadata and trailers.
#[derive(Debug)]
pub struct Response<T> {
    metadata: MetadataMap,
    message: T,
    trailers: MetadataMap,
    extensions: http::Extensions,
}

impl<T> Response<T> {
    /// A response with no metadata.
    pub fn new(message: T) -> Self {
        Response {
            metadata: MetadataMap::new(),
            message,
            trailers: MetadataMap::new(),
            extensions: http::Extensions::new(),
        }
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Takes the message out.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// Response head metadata (sent before the first message).
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// Response head metadata, mutably.
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// Trailing metadata (sent with the final status). For streaming responses, the client
    /// reads trailers from [`Streaming::trailers`](crate::Streaming::trailers) instead.
    pub fn trailers(&self) -> &MetadataMap {
        &self.trailers
    }

    /// Trailing metadata, mutably.
    pub fn trailers_mut(&mut self) -> &mut MetadataMap {
        &mut self.trailers
    }

    /// Values attached to the response locally, never sent: on a client, what the call
    /// collected ([`CallInfo`](crate::CallInfo)) or what layers added.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Local values attached to the response, mutably.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// On the client: the call's datagrams (PROTOCOL.md §18), for a server-streaming or
    /// bidirectional call that asked for them ([`Request::set_datagrams`]; generated clients
    /// do for methods that take datagrams); `None` otherwise, and on a transport whose
    /// streams have no ids. A handle shared with the call: it stops sending and receiving
    /// when the call's response stream ends or is dropped.
    pub fn datagrams(&self) -> Option<crate::datagram::Datagrams> {
        self.extensions.get::<crate::datagram::Datagrams>().cloned()
    }

    /// Replaces the message, keeping metadata and extensions.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            metadata: self.metadata,
            message: f(self.message),
            trailers: self.trailers,
            extensions: self.extensions,
        }
    }

    pub(crate) fn from_parts(metadata: MetadataMap, message: T, trailers: MetadataMap) -> Self {
        Response {
            metadata,
            message,
            trailers,
            extensions: http::Extensions::new(),
        }
    }

    pub(crate) fn into_parts(self) -> (MetadataMap, T, MetadataMap) {
        (self.metadata, self.message, self.trailers)
    }
}
