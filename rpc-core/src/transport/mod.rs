//! Drives the sans-IO [`wire`](crate::wire) layer over quinn.

mod send;
pub(crate) use send::SendHalf;

use crate::config::Settings;
use crate::status::Status;
use crate::wire::{CallError, ClientEvent, ClientRecv, ErrorCode, ServerEvent, ServerRecv};
use bytes::Bytes;
use futures_util::FutureExt;
use quinn::{ConnectionError, ReadError, VarInt, WriteError};
use std::future::poll_fn;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

pub(crate) fn code(c: ErrorCode) -> VarInt {
    VarInt::from_u32(c.0)
}

/// The code from a QUIC varint; codes above `u32::MAX` are unknown and kept as `u32::MAX`.
pub(crate) fn error_code(v: VarInt) -> ErrorCode {
    ErrorCode(u32::try_from(v.into_inner()).unwrap_or(u32::MAX))
}

/// Binds a UDP socket with enlarged buffers (the kernel default drops loopback bursts).
pub(crate) fn bind(addr: SocketAddr, settings: &Settings) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Accept IPv4-mapped peers too when bound to [::].
        let _ = socket.set_only_v6(false);
    }
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(settings.socket_buffer_size);
    let _ = socket.set_send_buffer_size(settings.socket_buffer_size);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

pub(crate) fn runtime() -> io::Result<Arc<dyn quinn::Runtime>> {
    quinn::default_runtime()
        .ok_or_else(|| io::Error::other("no async runtime found (rpc-core needs tokio)"))
}

pub(crate) fn endpoint(
    socket: Arc<dyn quinn::AsyncUdpSocket>,
    settings: &Settings,
    server: Option<quinn::ServerConfig>,
) -> io::Result<quinn::Endpoint> {
    quinn::Endpoint::new_with_abstract_socket(
        settings.endpoint_config(),
        server,
        socket,
        runtime()?,
    )
}

pub(crate) fn server_config(
    crypto: quinn::crypto::rustls::QuicServerConfig,
    settings: &Settings,
) -> quinn::ServerConfig {
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(settings.transport(true));
    cfg
}

/// TLS alert numbers arrive as QUIC crypto errors 0x100 + alert.
const CRYPTO_ERROR_BASE: u64 = 0x100;
const ALERT_NO_APPLICATION_PROTOCOL: u64 = 120;

/// Describes a connection error for a user, naming TLS and ALPN problems plainly.
pub(crate) fn describe_connection_error(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ApplicationClosed(c) => {
            let code = error_code(c.error_code);
            let why = match code {
                ErrorCode::SHUTDOWN => "the server shut down".to_owned(),
                ErrorCode::NO_ERROR => "the peer closed the connection".to_owned(),
                ErrorCode::PROTOCOL_ERROR => "the peer reported a protocol error".to_owned(),
                other => format!("the peer closed the connection with code {:#x}", other.0),
            };
            if c.reason.is_empty() {
                why
            } else {
                format!("{why} ({})", String::from_utf8_lossy(&c.reason))
            }
        }
        ConnectionError::ConnectionClosed(_) | ConnectionError::TransportError(_)
            if transport_code(e) == Some(CRYPTO_ERROR_BASE + ALERT_NO_APPLICATION_PROTOCOL) =>
        {
            format!(
                "the peer does not speak {} (TLS no_application_protocol: ALPN mismatch)",
                String::from_utf8_lossy(crate::wire::ALPN)
            )
        }
        ConnectionError::TimedOut => "connection timed out (no answer from the peer)".to_owned(),
        ConnectionError::LocallyClosed => "the connection was closed locally".to_owned(),
        ConnectionError::Reset => {
            "the peer reset the connection (it may have restarted)".to_owned()
        }
        other => format!("connection lost: {other}"),
    }
}

fn transport_code(e: &ConnectionError) -> Option<u64> {
    match e {
        ConnectionError::ConnectionClosed(c) => Some(u64::from(c.error_code)),
        ConnectionError::TransportError(t) => Some(u64::from(t.code)),
        _ => None,
    }
}

/// Whether a handshake failure is about certificates or protocol negotiation.
pub(crate) fn is_handshake_failure(e: &ConnectionError) -> bool {
    matches!(transport_code(e), Some(c) if (CRYPTO_ERROR_BASE..CRYPTO_ERROR_BASE + 0x100).contains(&c))
}

/// A lost connection ends every call on it with `Unavailable`, as in gRPC.
pub(crate) fn connection_status(e: &ConnectionError) -> Status {
    Status::unavailable(describe_connection_error(e))
}

pub(crate) fn read_status(e: &ReadError, peer: &str) -> Status {
    match e {
        ReadError::Reset(c) => error_code(*c).to_status(peer),
        ReadError::ConnectionLost(c) => connection_status(c),
        ReadError::ZeroRttRejected => Status::unavailable("0-RTT data rejected by the server"),
        other => Status::internal(format!("stream read failed: {other}")),
    }
}

pub(crate) fn write_status(e: &WriteError, peer: &str) -> Status {
    match e {
        WriteError::Stopped(c) => error_code(*c).to_status(peer),
        WriteError::ConnectionLost(c) => connection_status(c),
        WriteError::ZeroRttRejected => Status::unavailable("0-RTT data rejected by the server"),
        other => Status::internal(format!("stream write failed: {other}")),
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
        ClientRecv::push(self, chunk)
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
        ServerRecv::push(self, chunk)
    }
    fn handle_fin(&mut self) {
        ServerRecv::handle_fin(self)
    }
    fn poll_event(&mut self) -> Result<Option<ServerEvent>, CallError> {
        ServerRecv::poll_event(self)
    }
}

/// The receiving half of a call: a quinn stream feeding a wire state machine.
pub(crate) struct RecvHalf<R> {
    stream: quinn::RecvStream,
    rx: R,
    eof: bool,
    stopped: bool,
    peer: &'static str,
}

impl<R: Receiver> RecvHalf<R> {
    pub(crate) fn new(stream: quinn::RecvStream, rx: R, peer: &'static str) -> Self {
        RecvHalf {
            stream,
            rx,
            eof: false,
            stopped: false,
            peer,
        }
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
                    return Poll::Ready(Err(e.to_status()));
                }
            }
            if self.stopped {
                return Poll::Ready(Ok(None));
            }
            // Chunks are slices of received packets: a frame inside one is never copied.
            let read = std::pin::pin!(self.stream.read_chunk(usize::MAX, true));
            match ready!(read.poll(cx)) {
                Ok(Some(chunk)) => self.rx.push(chunk.bytes),
                Ok(None) => {
                    self.eof = true;
                    self.rx.handle_fin();
                }
                Err(e) => {
                    // The stream is gone; no STOP_SENDING needed.
                    self.stopped = true;
                    return Poll::Ready(Err(read_status(&e, self.peer)));
                }
            }
        }
    }

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
            let _ = self.stream.stop(code(c));
        }
        self.stopped = true;
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.eof
    }
}
