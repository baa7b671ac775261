//! The transport seam: what carries calls.
//!
//! A call needs one thing from below: a connection that opens and accepts bidirectional
//! streams, whose halves send bytes, finish, reset and learn of `STOP_SENDING`, and receive
//! bytes, the end of the stream and resets (PROTOCOL.md §3); calls of methods that take them
//! also send and receive datagrams (PROTOCOL.md §18: [`Connection::send_datagram`],
//! [`Connection::read_datagram`], defaulting to none). The traits here say exactly that,
//! in the shape of h3's `quic` module, so that the same calls run over:
//!
//! * QUIC (quinn): the default and the only network transport; [`Endpoint`](crate::Endpoint)
//!   and [`ServerBuilder::bind`](crate::ServerBuilder::bind) use it, and
//!   [`quic::QuicConnector`] offers it to connectors that combine transports.
//! * [`mem`]: in-process pairs for deterministic tests (it runs under
//!   `tokio::time::pause`, so deadline and shutdown tests need no real waiting).
//! * any other stream transport you implement ([`Connection`], [`SendStream`],
//!   [`RecvStream`]), given to [`Endpoint::from_connector`](crate::Endpoint::from_connector)
//!   and [`ServerBuilder::listen`](crate::ServerBuilder::listen).
//!
//! quinn streams are dispatched statically (an enum), other transports through one box per
//! stream: the default path pays nothing for the seam.

pub mod mem;
pub mod quic;

pub(crate) mod erased;
mod half;

pub(crate) use erased::{AnyConn, AnyRecv, AnySend};
pub(crate) use half::{Peer, RecvHalf, SendError, SendHalf};

use crate::status::Status;
use crate::wire::ErrorCode;
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Why a connection ended (or could not be used).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConnectionError {
    code: Option<ErrorCode>,
    message: Arc<str>,
}

impl ConnectionError {
    /// A connection lost for a reason described by `message`.
    pub fn new(message: impl Into<Arc<str>>) -> Self {
        ConnectionError {
            code: None,
            message: message.into(),
        }
    }

    /// A connection closed by the peer with an application error `code` (PROTOCOL.md §7).
    pub fn closed(code: ErrorCode, message: impl Into<Arc<str>>) -> Self {
        ConnectionError {
            code: Some(code),
            message: message.into(),
        }
    }

    /// The application error code of the close, when the peer closed with one.
    pub fn code(&self) -> Option<ErrorCode> {
        self.code
    }

    /// A lost connection ends every call on it with `Unavailable`, as in gRPC.
    pub(crate) fn to_status(&self) -> Status {
        Status::unavailable(self.message.to_string())
    }
}

/// Why a stream operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The peer reset the stream we receive on (`RESET_STREAM`) with this code.
    #[error("stream reset by the peer (code {:#x})", .0 .0)]
    Reset(ErrorCode),
    /// The peer asked us to stop sending (`STOP_SENDING`) with this code.
    #[error("stream stopped by the peer (code {:#x})", .0 .0)]
    Stopped(ErrorCode),
    /// The connection is gone.
    #[error(transparent)]
    ConnectionLost(#[from] ConnectionError),
    /// Data sent as 0-RTT was rejected by the server.
    #[error("0-RTT data rejected by the server")]
    ZeroRttRejected,
    /// The stream was already finished or reset locally.
    #[error("stream already closed")]
    Closed,
}

impl StreamError {
    /// The status a call ends with when its stream fails so; `peer` names the other side.
    pub(crate) fn to_status(&self, peer: &str) -> Status {
        match self {
            StreamError::Reset(c) | StreamError::Stopped(c) => c.to_status(peer),
            StreamError::ConnectionLost(c) => c.to_status(),
            StreamError::ZeroRttRejected => {
                Status::unavailable("0-RTT data rejected by the server")
                    .unprocessed()
                    .too_early()
            }
            StreamError::Closed => Status::internal("stream already closed"),
        }
    }
}

/// The sending half of a stream.
pub trait SendStream: Send + Unpin + 'static {
    /// Sends a prefix of `data`, advancing it past what was taken; `Pending` while the stream
    /// has no flow-control credit. Returns `Ready(Ok(()))` once at least one byte was taken,
    /// or when `data` is empty.
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<(), StreamError>>;

    /// Ends the stream gracefully after the bytes already written (FIN). No-op if already
    /// finished or reset.
    fn finish(&mut self);

    /// Abandons the stream with `code` (`RESET_STREAM`). After `finish`, it still abandons
    /// what the peer has not read yet, as in QUIC; no-op once reset.
    fn reset(&mut self, code: ErrorCode);

    /// Resolves when the peer no longer reads: `Ok(Some(code))` for `STOP_SENDING`,
    /// `Ok(None)` once the stream was finished and all its data acknowledged, `Err` when the
    /// connection is lost. Independent of `self`, so a call can watch for it while it writes.
    ///
    /// # Cancel safety
    /// Cancel safe.
    fn stopped(
        &self,
    ) -> impl Future<Output = Result<Option<ErrorCode>, StreamError>> + Send + 'static + use<Self>;

    /// Sets the stream's priority among this side's streams of the connection (default 0):
    /// when the connection cannot send everything at once, data of higher-priority streams
    /// goes first; equal priorities share the connection. QUIC: quinn's
    /// `SendStream::set_priority`; [`mem`]: the order in which
    /// [`MemConnection::transmit`](mem::MemConnection::transmit) drains streams. The default
    /// ignores it.
    fn set_priority(&mut self, priority: i32) {
        let _ = priority;
    }

    /// The stream's id on its connection (QUIC's stream id; for [`mem`], numbered the same
    /// way), which names the call of a datagram (PROTOCOL.md §18.1). The default has none:
    /// calls on the stream then have no datagrams.
    fn id(&self) -> Option<u64> {
        None
    }
}

/// The receiving half of a stream.
pub trait RecvStream: Send + Unpin + 'static {
    /// The next chunk of bytes, in order; `Ok(None)` at the end of the stream (FIN).
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamError>>;

    /// Asks the peer to stop sending (`STOP_SENDING`) with `code`. No-op once the stream ended.
    fn stop(&mut self, code: ErrorCode);

    /// Values the transport attaches to the call carried by this stream, taken once. A
    /// server adds them to the request's extensions when it routes the call; a client adds
    /// them to the response's (when the response arrives). A transport that carries calls of
    /// another protocol (gRPC over HTTP/2) names itself here, so a handler can ask which one
    /// a call came on, and a client which one answered. Default: none.
    fn take_extensions(&mut self) -> Option<http::Extensions> {
        None
    }
}

/// The two halves of a bidirectional stream.
pub type BidiStream<C> = (<C as Connection>::SendStream, <C as Connection>::RecvStream);

/// A connection that carries calls, one bidirectional stream each (PROTOCOL.md §3).
pub trait Connection: Send + Sync + 'static {
    /// The sending half of a stream.
    type SendStream: SendStream;
    /// The receiving half of a stream.
    type RecvStream: RecvStream;

    /// Opens a bidirectional stream (client side: one per call). Waits while the peer's
    /// stream limit is reached.
    ///
    /// # Cancel safety
    /// Cancel safe: no stream is opened if the future is dropped before it completes.
    fn open_bi(
        &self,
    ) -> impl Future<Output = Result<BidiStream<Self>, ConnectionError>> + Send + '_;

    /// Accepts the next stream the peer opened (server side).
    ///
    /// # Cancel safety
    /// Cancel safe: no stream is lost if the future is dropped before it completes.
    fn accept_bi(
        &self,
    ) -> impl Future<Output = Result<BidiStream<Self>, ConnectionError>> + Send + '_;

    /// Closes the connection with an application error code (PROTOCOL.md §7); streams still
    /// open fail with [`StreamError::ConnectionLost`].
    fn close(&self, code: ErrorCode, reason: &[u8]);

    /// Why the connection ended, or `None` while it is usable.
    fn close_reason(&self) -> Option<ConnectionError>;

    /// The peer's network address, when it has one.
    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// The current round-trip time estimate, when the transport has one.
    fn rtt(&self) -> Option<Duration> {
        None
    }

    /// The certificate the peer presented and the transport verified, when it has one (over
    /// QUIC: the client's certificate under mutual TLS, or the server's). A server asks once
    /// per connection.
    fn peer_identity(&self) -> Option<crate::tls::PeerIdentity> {
        None
    }

    /// Resolves once the connection has ended, whatever the reason. The default never
    /// resolves: a channel then notices a lost connection at its next call instead of at once
    /// (its [`state`](crate::Channel::state) says `Ready` until then).
    ///
    /// # Cancel safety
    /// Cancel safe.
    fn closed(&self) -> impl Future<Output = ()> + Send + '_ {
        std::future::pending()
    }

    /// Server side: tells the client that the server accepts no new call on this connection
    /// (PROTOCOL.md §12, `DRAIN`), so it opens a new connection for its next calls. Returns
    /// whether the notice went out; the default has no way to send one (clients then learn of
    /// the drain from refused calls).
    fn send_drain(&self) -> bool {
        false
    }

    /// Client side: resolves once the server announced a drain (PROTOCOL.md §12). The
    /// default never resolves.
    ///
    /// # Cancel safety
    /// Cancel safe.
    fn drained(&self) -> impl Future<Output = ()> + Send + '_ {
        std::future::pending()
    }

    /// The connection's statistics so far, when the transport keeps any.
    fn stats(&self) -> Option<ConnectionStats> {
        None
    }

    /// The largest datagram (RFC 9221) the peer takes now, prefix included; `None` when
    /// the connection carries no datagrams: the peer did not advertise
    /// `max_datagram_frame_size`, or the transport has none (the default). It may change
    /// with the path MTU (PROTOCOL.md §18.3).
    fn max_datagram_size(&self) -> Option<usize> {
        None
    }

    /// Sends an unreliable datagram: it arrives once, or never. The default has no
    /// datagrams ([`DatagramError::Unsupported`]).
    fn send_datagram(&self, data: Bytes) -> Result<(), DatagramError> {
        let _ = data;
        Err(DatagramError::Unsupported)
    }

    /// The next datagram from the peer. The default fails at once: no datagram ever comes.
    ///
    /// # Cancel safety
    /// Cancel safe: no datagram is lost if the future is dropped before it completes.
    fn read_datagram(&self) -> impl Future<Output = Result<Bytes, ConnectionError>> + Send + '_ {
        std::future::ready(Err(ConnectionError::new(
            "this transport carries no datagrams",
        )))
    }
}

/// Why a datagram was not sent (PROTOCOL.md §18).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// The connection carries no datagrams: the peer did not negotiate them (QUIC's
    /// `max_datagram_frame_size`), datagrams are off on this side, or the transport has none.
    #[error("the connection carries no datagrams (not negotiated with the peer)")]
    Unsupported,
    /// The datagram is larger than the path takes now ([`max`](Self::TooLarge::max) bytes
    /// of payload).
    #[error("datagram of {size} bytes is over the path's limit of {max} bytes")]
    TooLarge {
        /// The datagram's size.
        size: usize,
        /// The largest the path takes now.
        max: usize,
    },
    /// The call the datagram belongs to has ended.
    #[error("the call has ended")]
    CallEnded,
    /// The connection is gone.
    #[error(transparent)]
    ConnectionLost(#[from] ConnectionError),
}

impl From<DatagramError> for Status {
    /// `Unimplemented` when datagrams are not negotiated, `ResourceExhausted` when too
    /// large, `Cancelled` after the call, `Unavailable` when the connection is lost.
    fn from(e: DatagramError) -> Status {
        match &e {
            DatagramError::Unsupported => Status::unimplemented(e.to_string()),
            DatagramError::TooLarge { .. } => Status::resource_exhausted(e.to_string()),
            DatagramError::CallEnded => Status::cancelled(e.to_string()),
            DatagramError::ConnectionLost(c) => c.to_status(),
        }
    }
}

/// What a connection's transport knows about its path and its traffic so far: for QUIC,
/// quinn's estimates and counters. Counters only grow over a connection's life, so the
/// difference of two snapshots is what happened between them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// The smoothed round-trip time estimate.
    pub rtt: Duration,
    /// The congestion window, in bytes: how much may be in flight unacknowledged.
    pub cwnd: u64,
    /// Congestion events (loss or ECN marks that shrank the window).
    pub congestion_events: u64,
    /// Packets declared lost.
    pub lost_packets: u64,
    /// Bytes in packets declared lost.
    pub lost_bytes: u64,
    /// Packets sent.
    pub sent_packets: u64,
    /// UDP datagrams sent (with GSO, one send may carry several).
    pub sent_datagrams: u64,
    /// UDP datagrams received.
    pub received_datagrams: u64,
    /// Bytes sent in UDP datagrams.
    pub sent_bytes: u64,
    /// Bytes received in UDP datagrams.
    pub received_bytes: u64,
    /// System calls that sent the datagrams: fewer than `sent_datagrams` when segmentation
    /// offload (GSO) sent several in one.
    pub sent_ios: u64,
    /// System calls that received the datagrams: fewer than `received_datagrams` when
    /// receive offload (GRO) or batched reads returned several in one.
    pub received_ios: u64,
    /// The current maximum UDP payload size on the path (path MTU discovery's result).
    pub path_mtu: u16,
    /// QUIC `DATAGRAM` frames sent (PROTOCOL.md §18). They are never retransmitted: those
    /// in lost packets (`lost_packets`) are lost.
    pub sent_datagram_frames: u64,
    /// QUIC `DATAGRAM` frames received.
    pub received_datagram_frames: u64,
}

/// Makes client connections for a [`Channel`](crate::Channel) (first connect and every
/// reconnect).
pub trait Connector: Send + Sync + 'static {
    /// The connections it makes.
    type Connection: Connection;

    /// A new connection.
    ///
    /// # Cancel safety
    /// Cancel safe.
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, crate::Error>> + Send + '_;

    /// What protects the connections it makes, as the channel reports it
    /// ([`Channel::transport_security`](crate::Channel::transport_security)); credential
    /// layers refuse to send secrets over anything weaker than they require. Default:
    /// [`Security::Unknown`].
    fn security(&self) -> Security {
        Security::Unknown
    }
}

/// What protects a channel's connections: whether a secret (a bearer token) may go over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Security {
    /// QUIC's TLS, the server's certificate verified against trusted roots (the Mozilla set,
    /// or CAs given with [`ClientTlsConfig::ca_certificate`](crate::tls::ClientTlsConfig::ca_certificate)).
    Verified,
    /// TLS verified against a development certificate
    /// ([`SelfSigned::client_config`](crate::tls::dev::SelfSigned::client_config)), to a
    /// loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    DevLoopback,
    /// TLS verified against a development certificate, to an address that is not loopback.
    DevRemote,
    /// In-process connections ([`transport::mem`](mem)): nothing leaves the process.
    InProcess,
    /// A connector that does not say (the default for [`Connector`]s).
    Unknown,
}

/// Yields the connections a server serves.
pub trait Listener: Send + 'static {
    /// The connections it yields.
    type Connection: Connection;

    /// The next connection; `None` when no more will come (the server then stops accepting).
    ///
    /// # Cancel safety
    /// Cancel safe.
    fn accept(&mut self) -> impl Future<Output = Option<Self::Connection>> + Send + '_;

    /// The address the listener is bound to, when it has one.
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}
