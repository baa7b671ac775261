//! One concrete type per transport role: quinn dispatched statically, any other transport
//! through a trait object.

use super::quic::{self, QuicRecv, QuicSend};
use super::{
    Connection, ConnectionError, Connector, DatagramError, Listener, RecvStream, SendStream,
    StreamError,
};
use crate::request::PeerInfo;
use crate::tls::PeerIdentity;
use crate::wire::ErrorCode;
use bytes::Bytes;
use futures_util::future::{Either, FutureExt};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Stopped = Result<Option<ErrorCode>, StreamError>;

/// [`SendStream`] as a trait object.
pub(crate) trait DynSend: Send + Unpin + 'static {
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<(), StreamError>>;
    fn finish(&mut self);
    fn reset(&mut self, code: ErrorCode);
    fn stopped(&self) -> BoxFuture<'static, Stopped>;
    fn set_priority(&mut self, priority: i32);
    fn id(&self) -> Option<u64>;
}

impl<S: SendStream> DynSend for S {
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<(), StreamError>> {
        SendStream::poll_write(self, cx, data)
    }
    fn finish(&mut self) {
        SendStream::finish(self)
    }
    fn reset(&mut self, code: ErrorCode) {
        SendStream::reset(self, code)
    }
    fn stopped(&self) -> BoxFuture<'static, Stopped> {
        Box::pin(SendStream::stopped(self))
    }
    fn set_priority(&mut self, priority: i32) {
        SendStream::set_priority(self, priority)
    }
    fn id(&self) -> Option<u64> {
        SendStream::id(self)
    }
}

/// The sending half of a call's stream, on any transport.
pub(crate) enum AnySend {
    Quic(QuicSend),
    Dyn(Box<dyn DynSend>),
    /// Moved elsewhere (a layered call's send half handed back to its server).
    Gone,
}

impl AnySend {
    /// The stream's id on its connection, when the transport numbers streams.
    pub(crate) fn id(&self) -> Option<u64> {
        match self {
            AnySend::Quic(s) => Some(s.id()),
            AnySend::Dyn(s) => s.id(),
            AnySend::Gone => None,
        }
    }

    #[inline]
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<(), StreamError>> {
        match self {
            AnySend::Quic(s) => SendStream::poll_write(s, cx, data),
            AnySend::Dyn(s) => s.poll_write(cx, data),
            AnySend::Gone => Poll::Ready(Err(StreamError::Closed)),
        }
    }

    #[inline]
    pub(crate) fn finish(&mut self) {
        match self {
            AnySend::Quic(s) => SendStream::finish(s),
            AnySend::Dyn(s) => s.finish(),
            AnySend::Gone => {}
        }
    }

    #[inline]
    pub(crate) fn reset(&mut self, code: ErrorCode) {
        match self {
            AnySend::Quic(s) => SendStream::reset(s, code),
            AnySend::Dyn(s) => s.reset(code),
            AnySend::Gone => {}
        }
    }

    /// Sets the stream's send priority ([`SendStream::set_priority`]).
    pub(crate) fn set_priority(&mut self, priority: i32) {
        match self {
            AnySend::Quic(s) => SendStream::set_priority(s, priority),
            AnySend::Dyn(s) => s.set_priority(priority),
            AnySend::Gone => {}
        }
    }

    #[inline]
    pub(crate) fn stopped(&self) -> impl Future<Output = Stopped> + Send + 'static {
        match self {
            AnySend::Quic(s) => Either::Left(SendStream::stopped(s)),
            AnySend::Dyn(s) => Either::Right(s.stopped()),
            AnySend::Gone => {
                Either::Right(Box::pin(std::future::pending()) as BoxFuture<'static, Stopped>)
            }
        }
    }
}

/// The receiving half of a call's stream, on any transport.
pub(crate) enum AnyRecv {
    Quic(QuicRecv),
    Dyn(Box<dyn RecvStream>),
}

impl AnyRecv {
    #[inline]
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamError>> {
        match self {
            AnyRecv::Quic(r) => r.poll_read(cx),
            AnyRecv::Dyn(r) => r.poll_read(cx),
        }
    }

    #[inline]
    pub(crate) fn stop(&mut self, code: ErrorCode) {
        match self {
            AnyRecv::Quic(r) => r.stop(code),
            AnyRecv::Dyn(r) => r.stop(code),
        }
    }

    /// What the transport attaches to the stream's call (none over QUIC).
    #[inline]
    pub(crate) fn take_extensions(&mut self) -> Option<http::Extensions> {
        match self {
            AnyRecv::Quic(_) => None,
            AnyRecv::Dyn(r) => r.take_extensions(),
        }
    }

    /// Server side: whether the stream arrived in 0-RTT data, before the handshake completed
    /// (PROTOCOL.md §3.5). Other transports have no early data.
    #[inline]
    pub(crate) fn is_early(&self) -> bool {
        match self {
            AnyRecv::Quic(r) => r.is_early(),
            AnyRecv::Dyn(_) => false,
        }
    }
}

type Bidi = (AnySend, AnyRecv);

/// [`Connection`] as a trait object.
pub(crate) trait DynConn: Send + Sync + 'static {
    fn open_bi(&self) -> BoxFuture<'_, Result<Bidi, ConnectionError>>;
    fn accept_bi(&self) -> BoxFuture<'_, Result<Bidi, ConnectionError>>;
    fn close(&self, code: ErrorCode, reason: &[u8]);
    fn close_reason(&self) -> Option<ConnectionError>;
    fn remote_addr(&self) -> Option<SocketAddr>;
    fn rtt(&self) -> Option<Duration>;
    fn peer_identity(&self) -> Option<PeerIdentity>;
    fn closed(&self) -> BoxFuture<'_, ()>;
    fn send_drain(&self) -> bool;
    fn drained(&self) -> BoxFuture<'_, ()>;
    fn stats(&self) -> Option<super::ConnectionStats>;
    fn max_datagram_size(&self) -> Option<usize>;
    fn send_datagram(&self, data: Bytes) -> Result<(), DatagramError>;
    fn read_datagram(&self) -> BoxFuture<'_, Result<Bytes, ConnectionError>>;
}

fn erase<S: SendStream, R: RecvStream>((send, recv): (S, R)) -> Bidi {
    (AnySend::Dyn(Box::new(send)), AnyRecv::Dyn(Box::new(recv)))
}

impl<C: Connection> DynConn for C {
    fn open_bi(&self) -> BoxFuture<'_, Result<Bidi, ConnectionError>> {
        Box::pin(Connection::open_bi(self).map(|r| r.map(erase)))
    }
    fn accept_bi(&self) -> BoxFuture<'_, Result<Bidi, ConnectionError>> {
        Box::pin(Connection::accept_bi(self).map(|r| r.map(erase)))
    }
    fn close(&self, code: ErrorCode, reason: &[u8]) {
        Connection::close(self, code, reason)
    }
    fn close_reason(&self) -> Option<ConnectionError> {
        Connection::close_reason(self)
    }
    fn remote_addr(&self) -> Option<SocketAddr> {
        Connection::remote_addr(self)
    }
    fn rtt(&self) -> Option<Duration> {
        Connection::rtt(self)
    }
    fn peer_identity(&self) -> Option<PeerIdentity> {
        Connection::peer_identity(self)
    }
    fn closed(&self) -> BoxFuture<'_, ()> {
        Box::pin(Connection::closed(self))
    }
    fn send_drain(&self) -> bool {
        Connection::send_drain(self)
    }
    fn drained(&self) -> BoxFuture<'_, ()> {
        Box::pin(Connection::drained(self))
    }
    fn stats(&self) -> Option<super::ConnectionStats> {
        Connection::stats(self)
    }
    fn max_datagram_size(&self) -> Option<usize> {
        Connection::max_datagram_size(self)
    }
    fn send_datagram(&self, data: Bytes) -> Result<(), DatagramError> {
        Connection::send_datagram(self, data)
    }
    fn read_datagram(&self) -> BoxFuture<'_, Result<Bytes, ConnectionError>> {
        Box::pin(Connection::read_datagram(self))
    }
}

/// A connection on any transport. Cloning it is a reference count.
#[derive(Clone)]
pub(crate) enum AnyConn {
    Quic(quinn::Connection),
    Dyn(Arc<dyn DynConn>),
}

impl AnyConn {
    pub(crate) fn new<C: Connection>(conn: C) -> Self {
        AnyConn::Dyn(Arc::new(conn))
    }

    /// # Cancel safety
    /// Cancel safe.
    #[inline]
    pub(crate) fn open_bi(
        &self,
    ) -> impl Future<Output = Result<Bidi, ConnectionError>> + Send + '_ {
        // A plain function: an `async fn` would wrap quinn's future in one more state
        // machine, polled on every call.
        match self {
            AnyConn::Quic(c) => Either::Left(
                c.open_bi()
                    .map(|r| r.map(quic::bidi).map_err(quic::conn_error)),
            ),
            AnyConn::Dyn(c) => Either::Right(c.open_bi()),
        }
    }

    /// # Cancel safety
    /// Cancel safe.
    pub(crate) async fn accept_bi(&self) -> Result<Bidi, ConnectionError> {
        match self {
            AnyConn::Quic(c) => c
                .accept_bi()
                .await
                .map(quic::bidi)
                .map_err(quic::conn_error),
            AnyConn::Dyn(c) => c.accept_bi().await,
        }
    }

    pub(crate) fn close(&self, code: ErrorCode, reason: &[u8]) {
        match self {
            AnyConn::Quic(c) => c.close(quic::code(code), reason),
            AnyConn::Dyn(c) => c.close(code, reason),
        }
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            AnyConn::Quic(c) => c.close_reason().is_some(),
            AnyConn::Dyn(c) => c.close_reason().is_some(),
        }
    }

    pub(crate) fn remote_addr(&self) -> Option<SocketAddr> {
        match self {
            AnyConn::Quic(c) => Some(c.remote_address()),
            AnyConn::Dyn(c) => c.remote_addr(),
        }
    }

    pub(crate) fn rtt(&self) -> Option<Duration> {
        match self {
            AnyConn::Quic(c) => Some(c.rtt()),
            AnyConn::Dyn(c) => c.rtt(),
        }
    }

    pub(crate) fn stats(&self) -> Option<super::ConnectionStats> {
        match self {
            AnyConn::Quic(c) => Some(quic::stats(c)),
            AnyConn::Dyn(c) => c.stats(),
        }
    }

    /// Whether `self` and `other` are handles of the same connection.
    pub(crate) fn same(&self, other: &AnyConn) -> bool {
        match (self, other) {
            (AnyConn::Quic(a), AnyConn::Quic(b)) => a.stable_id() == b.stable_id(),
            (AnyConn::Dyn(a), AnyConn::Dyn(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The largest datagram the peer takes now (PROTOCOL.md §18.3); `None` without
    /// datagrams.
    pub(crate) fn max_datagram_size(&self) -> Option<usize> {
        match self {
            AnyConn::Quic(c) => c.max_datagram_size(),
            AnyConn::Dyn(c) => c.max_datagram_size(),
        }
    }

    pub(crate) fn send_datagram(&self, data: Bytes) -> Result<(), DatagramError> {
        match self {
            AnyConn::Quic(c) => quic::send_datagram(c, data),
            AnyConn::Dyn(c) => c.send_datagram(data),
        }
    }

    /// # Cancel safety
    /// Cancel safe.
    pub(crate) async fn read_datagram(&self) -> Result<Bytes, ConnectionError> {
        match self {
            AnyConn::Quic(c) => c.read_datagram().await.map_err(quic::conn_error),
            AnyConn::Dyn(c) => c.read_datagram().await,
        }
    }

    /// Resolves once the connection has ended (never, for a transport that cannot tell).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let conn = self.clone();
        async move {
            match &conn {
                AnyConn::Quic(c) => drop(c.closed().await),
                AnyConn::Dyn(c) => c.closed().await,
            }
        }
    }

    /// Server side: sends the drain notice (PROTOCOL.md §12); whether it went out.
    pub(crate) fn send_drain(&self) -> bool {
        match self {
            AnyConn::Quic(c) => quic::send_drain(c),
            AnyConn::Dyn(c) => c.send_drain(),
        }
    }

    /// Client side: resolves once the server announced a drain (PROTOCOL.md §12).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub(crate) fn drained(&self) -> impl Future<Output = ()> + Send + 'static {
        let conn = self.clone();
        async move {
            match &conn {
                AnyConn::Quic(c) => quic::drained(c).await,
                AnyConn::Dyn(c) => c.drained().await,
            }
        }
    }

    /// Closes the connection once nothing came from the peer for `silence` (the keep-alive
    /// interval plus the keep-alive timeout, PROTOCOL.md §3.4); resolves when the connection
    /// ended, `true` if this closed it. `None` for transports without packet counters.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub(crate) fn watch_liveness(
        &self,
        silence: Duration,
    ) -> Option<impl Future<Output = bool> + Send + 'static> {
        match self {
            AnyConn::Quic(c) => {
                let c = c.clone();
                Some(async move { quic::watch_liveness(&c, silence).await })
            }
            AnyConn::Dyn(_) => None,
        }
    }

    /// The peer's address and verified certificate, gathered once per connection, and its
    /// datagram hub (`datagram_queue`: the inbox size of its calls).
    pub(crate) fn peer_info(&self, datagram_queue: usize) -> Arc<PeerInfo> {
        let identity = match self {
            AnyConn::Quic(c) => quic::peer_identity(c),
            AnyConn::Dyn(c) => c.peer_identity(),
        };
        Arc::new(PeerInfo {
            remote_addr: self.remote_addr(),
            identity,
            datagrams: Some(crate::datagram::ConnHub::new(self.clone(), datagram_queue)),
        })
    }
}

/// [`Connector`] as a trait object.
pub(crate) trait DynConnector: Send + Sync + 'static {
    fn connect(&self) -> BoxFuture<'_, Result<AnyConn, crate::Error>>;
    fn security(&self) -> super::Security;
}

impl<C: Connector> DynConnector for C {
    fn connect(&self) -> BoxFuture<'_, Result<AnyConn, crate::Error>> {
        Box::pin(Connector::connect(self).map(|r| r.map(AnyConn::new)))
    }

    fn security(&self) -> super::Security {
        Connector::security(self)
    }
}

/// [`Listener`] as a trait object.
pub(crate) trait DynListener: Send + 'static {
    fn accept(&mut self) -> BoxFuture<'_, Option<AnyConn>>;
}

impl<L: Listener> DynListener for L {
    fn accept(&mut self) -> BoxFuture<'_, Option<AnyConn>> {
        Box::pin(Listener::accept(self).map(|c| c.map(AnyConn::new)))
    }
}

impl std::fmt::Debug for dyn DynConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector")
    }
}
