//! The QUIC transport: quinn behind the [`transport`](super) traits, plus the socket,
//! endpoint, handshake and error plumbing that only QUIC needs. Nothing outside this module
//! names a quinn type but the custom-socket hooks ([`AsyncUdpSocket`]).
//!
//! `quinn` itself is re-exported here for those hooks and for tests that speak raw QUIC; its
//! version follows rpc-core's.

pub(crate) mod client;
mod connector;
pub(crate) mod pmtu;
pub(crate) mod server;

/// The QUIC implementation under this transport.
pub use quinn;
/// A UDP socket for [`Endpoint::udp_socket`](crate::Endpoint::udp_socket) and
/// [`ServerBuilder::bind_socket`](crate::ServerBuilder::bind_socket).
pub use quinn::AsyncUdpSocket;

pub use connector::{QuicConnection, QuicConnector};

use super::{AnyConn, ConnectionError, RecvStream, SendStream, StreamError};
use crate::config::Settings;
use crate::wire::ErrorCode;
use bytes::Bytes;
use futures_util::FutureExt;
use quinn::{ReadError, VarInt, WriteError};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

#[inline]
pub(crate) fn code(c: ErrorCode) -> VarInt {
    VarInt::from_u32(c.0)
}

/// The code from a QUIC varint; codes above `u32::MAX` are unknown and kept as `u32::MAX`.
#[inline]
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
    reset_key: Option<&[u8]>,
) -> io::Result<quinn::Endpoint> {
    quinn::Endpoint::new_with_abstract_socket(
        settings.endpoint_config(reset_key),
        server,
        socket,
        runtime()?,
    )
}

/// Whether a server accepts 0-RTT data (PROTOCOL.md §3.5): when asked to, and not when it
/// requests client certificates (a call in early data would run before the client's
/// certificate is verified in this handshake).
pub(crate) fn server_early_data(tls: &crate::tls::ServerTlsConfig, settings: &Settings) -> bool {
    settings.zero_rtt && !tls.requests_client_certificates()
}

/// The QUIC server crypto config for `tls`; its session tickets allow early data if
/// `early_data`.
pub(crate) fn server_crypto(
    tls: &crate::tls::ServerTlsConfig,
    early_data: bool,
) -> Result<quinn::crypto::rustls::QuicServerConfig, crate::tls::TlsError> {
    let mut rustls = tls.rustls()?;
    if early_data {
        // RFC 9001 §4.6.1: in QUIC, max_early_data_size MUST be 0xffffffff when early data
        // is allowed (QUIC's flow control bounds it instead). rustls's stateful tickets are
        // single use, which also keeps a replay to this same server from being accepted.
        rustls.max_early_data_size = u32::MAX;
    }
    quinn::crypto::rustls::QuicServerConfig::try_from(rustls)
        .map_err(|e| crate::tls::TlsError::Rustls(rustls::Error::General(e.to_string())))
}

/// The QUIC client crypto config for `tls`; it sends early data on resumption if
/// `early_data`.
pub(crate) fn client_crypto(
    tls: &crate::tls::ClientTlsConfig,
    early_data: bool,
) -> Result<quinn::crypto::rustls::QuicClientConfig, crate::tls::TlsError> {
    let mut rustls = tls.rustls()?;
    rustls.enable_early_data = early_data;
    quinn::crypto::rustls::QuicClientConfig::try_from(rustls)
        .map_err(|e| crate::tls::TlsError::Rustls(rustls::Error::General(e.to_string())))
}

pub(crate) fn server_config(
    crypto: quinn::crypto::rustls::QuicServerConfig,
    settings: &Settings,
) -> quinn::ServerConfig {
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(settings.transport(true));
    cfg
}

/// The certificate chain the peer presented in `conn`'s handshake, parsed. rustls verified it
/// (on a server: against the client roots of `ServerTlsConfig::client_ca_root`).
pub(crate) fn peer_identity(conn: &quinn::Connection) -> Option<crate::tls::PeerIdentity> {
    let chain = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    crate::tls::PeerIdentity::from_chain(*chain)
        .map_err(|e| tracing::warn!("verified peer certificate not parsed: {e}"))
        .ok()
}

/// A connection accepting 0-RTT data: usable at once (0.5-RTT), so calls in the client's
/// early data are read before the handshake completes (their streams say so:
/// [`AnyRecv::is_early`](super::AnyRecv::is_early)). The handshake still has `timeout` to
/// complete; a connection that never completes it (a replay, RFC 9001 §9.2) is then closed.
pub(crate) async fn accept_0rtt(
    connecting: quinn::Connecting,
    timeout: Duration,
) -> Option<AnyConn> {
    match connecting.into_0rtt() {
        Ok((conn, done)) => {
            let watched = conn.clone();
            tokio::spawn(async move {
                if tokio::time::timeout(timeout, done).await.is_err() {
                    watched.close(code(ErrorCode::NO_ERROR), b"handshake timed out");
                }
            });
            Some(AnyConn::Quic(conn))
        }
        // Never on a server (quinn: "conversion to 0.5-RTT will always fully succeed").
        Err(connecting) => match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(conn)) => Some(AnyConn::Quic(conn)),
            _ => None,
        },
    }
}

/// The `DRAIN` frame (PROTOCOL.md §12): type 0x03, no flags, empty payload, alone on the
/// server's control stream (its first unidirectional stream).
pub(crate) const DRAIN_FRAME: [u8; 6] = [0x03, 0, 0, 0, 0, 0];
const DRAIN_TYPE: u8 = 0x03;

/// Server side: opens the control stream and sends `DRAIN` on it, then FIN. Only when the
/// client allows a unidirectional stream (clients that predate the notice advertise none,
/// and learn of the drain from refused calls instead); never waits for one.
pub(crate) fn send_drain(conn: &quinn::Connection) -> bool {
    let Some(Ok(mut control)) = conn.open_uni().now_or_never() else {
        return false;
    };
    // Six bytes on a fresh stream fit its credit: written without waiting.
    let mut bufs = [Bytes::from_static(&DRAIN_FRAME)];
    let written = std::pin::pin!(control.write_chunks(&mut bufs)).now_or_never();
    if !matches!(written, Some(Ok(w)) if w.bytes == DRAIN_FRAME.len()) {
        let _ = control.reset(code(ErrorCode::NO_ERROR));
        return false;
    }
    let _ = control.finish();
    true
}

/// Client side: resolves once the server's control stream carries `DRAIN` (PROTOCOL.md
/// §12). Frames of other types on it are skipped; a second control stream is a protocol
/// violation QUIC already refuses (the client allows one).
pub(crate) async fn drained(conn: &quinn::Connection) {
    if let Ok(mut control) = conn.accept_uni().await {
        let mut header = [0u8; 6];
        while control.read_exact(&mut header).await.is_ok() {
            if header[0] == DRAIN_TYPE {
                return;
            }
            let mut skip = u64::from(u32::from_be_bytes([
                header[2], header[3], header[4], header[5],
            ]));
            while skip > 0 {
                let want = usize::try_from(skip).unwrap_or(usize::MAX);
                match control.read_chunk(want, true).await {
                    Ok(Some(chunk)) => skip -= chunk.bytes.len() as u64,
                    _ => break,
                }
            }
        }
    }
    std::future::pending().await
}

/// Closes `conn` once no datagram came from the peer for `silence`; resolves when the
/// connection ended, `true` if this closed it.
///
/// A live peer answers within `silence`: QUIC sends a keep-alive `PING` (ack-eliciting) at
/// most one keep-alive interval after this side's last ack-eliciting packet, and the peer
/// acknowledges it within its ACK delay, retransmissions included within the keep-alive
/// timeout. quinn's own counters say when the last datagram arrived; this does not depend
/// on the negotiated idle timeout, which the peer lowers or raises.
pub(crate) async fn watch_liveness(conn: &quinn::Connection, silence: Duration) -> bool {
    let tick = (silence / 8).max(Duration::from_millis(10));
    let mut closed = std::pin::pin!(conn.closed());
    let mut seen = conn.stats().udp_rx.datagrams;
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = &mut closed => return false,
            () = tokio::time::sleep(tick) => {}
        }
        let now = conn.stats().udp_rx.datagrams;
        if now != seen {
            seen = now;
            since = tokio::time::Instant::now();
        } else if since.elapsed() >= silence {
            tracing::debug!(
                "no packet from {} for {silence:?}: keep-alive timeout, closing",
                conn.remote_address()
            );
            conn.close(code(ErrorCode::NO_ERROR), b"keep-alive timeout");
            return true;
        }
    }
}

/// TLS alert numbers arrive as QUIC crypto errors 0x100 + alert.
const CRYPTO_ERROR_BASE: u64 = 0x100;
const ALERT_NO_APPLICATION_PROTOCOL: u64 = 120;

/// What a server's TLS alert about the client's certificate means for the client, and what
/// to do (RFC 8446 §6.2). With TLS 1.3 the client's handshake completes before the server
/// has checked its certificate, so the refusal usually ends the first call, not `connect`.
fn client_certificate_refusal(close: &quinn::ConnectionClose) -> Option<String> {
    let alert = u64::from(close.error_code).checked_sub(CRYPTO_ERROR_BASE)?;
    let why = match alert {
        116 => {
            "the server requires a client certificate (TLS certificate_required): present \
                one with ClientTlsConfig::identity"
        }
        48 => {
            "the server refused the client certificate: it is not signed by a CA the server \
               trusts (TLS unknown_ca)"
        }
        45 => {
            "the server refused the client certificate: it has expired (TLS \
               certificate_expired)"
        }
        42 | 43 | 44 | 46 | 49 => "the server refused the client certificate",
        _ => return None,
    };
    Some(format!(
        "{why} ({})",
        String::from_utf8_lossy(&close.reason)
    ))
}

/// Describes a connection error for a user, naming TLS and ALPN problems plainly.
pub(crate) fn describe_connection_error(e: &quinn::ConnectionError) -> String {
    use quinn::ConnectionError as E;
    if let Some(refusal) = match e {
        E::ConnectionClosed(close) => client_certificate_refusal(close),
        _ => None,
    } {
        return refusal;
    }
    match e {
        E::ApplicationClosed(c) => {
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
        E::ConnectionClosed(_) | E::TransportError(_)
            if transport_code(e) == Some(CRYPTO_ERROR_BASE + ALERT_NO_APPLICATION_PROTOCOL) =>
        {
            format!(
                "the peer does not speak {} (TLS no_application_protocol: ALPN mismatch)",
                String::from_utf8_lossy(crate::wire::ALPN)
            )
        }
        E::TimedOut => "connection timed out (no answer from the peer)".to_owned(),
        E::LocallyClosed => "the connection was closed locally".to_owned(),
        E::Reset => "the peer reset the connection (it may have restarted)".to_owned(),
        other => format!("connection lost: {other}"),
    }
}

fn transport_code(e: &quinn::ConnectionError) -> Option<u64> {
    match e {
        quinn::ConnectionError::ConnectionClosed(c) => Some(u64::from(c.error_code)),
        quinn::ConnectionError::TransportError(t) => Some(u64::from(t.code)),
        _ => None,
    }
}

/// Whether a handshake failure is about certificates or protocol negotiation.
pub(crate) fn is_handshake_failure(e: &quinn::ConnectionError) -> bool {
    matches!(transport_code(e), Some(c) if (CRYPTO_ERROR_BASE..CRYPTO_ERROR_BASE + 0x100).contains(&c))
}

/// A quinn connection error in the transport's terms.
pub(crate) fn conn_error(e: quinn::ConnectionError) -> ConnectionError {
    let message = describe_connection_error(&e);
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => {
            ConnectionError::closed(error_code(c.error_code), message)
        }
        _ => ConnectionError::new(message),
    }
}

fn read_error(e: ReadError) -> StreamError {
    match e {
        ReadError::Reset(c) => StreamError::Reset(error_code(c)),
        ReadError::ConnectionLost(c) => StreamError::ConnectionLost(conn_error(c)),
        ReadError::ZeroRttRejected => StreamError::ZeroRttRejected,
        ReadError::ClosedStream | ReadError::IllegalOrderedRead => StreamError::Closed,
    }
}

fn write_error(e: WriteError) -> StreamError {
    match e {
        WriteError::Stopped(c) => StreamError::Stopped(error_code(c)),
        WriteError::ConnectionLost(c) => StreamError::ConnectionLost(conn_error(c)),
        WriteError::ZeroRttRejected => StreamError::ZeroRttRejected,
        WriteError::ClosedStream => StreamError::Closed,
    }
}

/// The halves of a quinn stream, as the transport's types.
#[inline]
pub(crate) fn bidi(
    (send, recv): (quinn::SendStream, quinn::RecvStream),
) -> (super::AnySend, super::AnyRecv) {
    (
        super::AnySend::Quic(QuicSend(send)),
        super::AnyRecv::Quic(QuicRecv(recv)),
    )
}

/// The sending half of a QUIC stream (a quinn send stream).
pub struct QuicSend(quinn::SendStream);

impl QuicSend {
    pub(crate) fn id(&self) -> u64 {
        self.0.id().into()
    }
}

/// Sends a datagram on `conn` (PROTOCOL.md §18); quinn drops the oldest unsent ones when its
/// send buffer is full.
pub(crate) fn send_datagram(
    conn: &quinn::Connection,
    data: Bytes,
) -> Result<(), super::DatagramError> {
    use super::DatagramError;
    use quinn::SendDatagramError as E;
    let size = data.len();
    conn.send_datagram(data).map_err(|e| match e {
        E::UnsupportedByPeer | E::Disabled => DatagramError::Unsupported,
        E::TooLarge => DatagramError::TooLarge {
            size,
            max: conn.max_datagram_size().unwrap_or(0),
        },
        E::ConnectionLost(c) => DatagramError::ConnectionLost(conn_error(c)),
    })
}

/// `conn`'s statistics, as the transport reports them ([`Connection::stats`]): also for
/// transports of your own built on a quinn connection (WebTransport, say).
///
/// [`Connection::stats`]: super::Connection::stats
pub fn stats(conn: &quinn::Connection) -> super::ConnectionStats {
    let s = conn.stats();
    super::ConnectionStats {
        rtt: s.path.rtt,
        cwnd: s.path.cwnd,
        congestion_events: s.path.congestion_events,
        lost_packets: s.path.lost_packets,
        lost_bytes: s.path.lost_bytes,
        sent_packets: s.path.sent_packets,
        sent_datagrams: s.udp_tx.datagrams,
        received_datagrams: s.udp_rx.datagrams,
        sent_bytes: s.udp_tx.bytes,
        received_bytes: s.udp_rx.bytes,
        sent_ios: s.udp_tx.ios,
        received_ios: s.udp_rx.ios,
        path_mtu: s.path.current_mtu,
        sent_datagram_frames: s.frame_tx.datagram,
        received_datagram_frames: s.frame_rx.datagram,
    }
}

impl SendStream for QuicSend {
    fn id(&self) -> Option<u64> {
        Some(QuicSend::id(self))
    }

    #[inline]
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<(), StreamError>> {
        // `write_chunks` is a poll function behind an async signature: a fresh future per
        // poll loses nothing, and it leaves what it did not take in the array. Chunks are
        // handed over without a copy.
        let mut bufs = [std::mem::take(data)];
        let res = std::pin::pin!(self.0.write_chunks(&mut bufs)).poll(cx);
        *data = std::mem::take(&mut bufs[0]);
        res.map(|r| r.map(drop).map_err(write_error))
    }

    #[inline]
    fn finish(&mut self) {
        let _ = self.0.finish();
    }

    #[inline]
    fn reset(&mut self, c: ErrorCode) {
        let _ = self.0.reset(code(c));
    }

    fn set_priority(&mut self, priority: i32) {
        // Fails only on a stream already closed, whose priority no longer matters.
        let _ = self.0.set_priority(priority);
    }

    fn stopped(
        &self,
    ) -> impl Future<Output = Result<Option<ErrorCode>, StreamError>> + Send + 'static + use<> {
        self.0.stopped().map(|r| match r {
            Ok(c) => Ok(c.map(error_code)),
            Err(quinn::StoppedError::ConnectionLost(c)) => {
                Err(StreamError::ConnectionLost(conn_error(c)))
            }
            Err(quinn::StoppedError::ZeroRttRejected) => Err(StreamError::ZeroRttRejected),
        })
    }
}

/// The receiving half of a QUIC stream (a quinn receive stream).
pub struct QuicRecv(quinn::RecvStream);

impl QuicRecv {
    /// Server side: whether the stream was accepted before the handshake completed, so its
    /// data came in 0-RTT packets (quinn records it when the stream is accepted).
    #[inline]
    pub(crate) fn is_early(&self) -> bool {
        self.0.is_0rtt()
    }
}

impl RecvStream for QuicRecv {
    #[inline]
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamError>> {
        // Chunks are slices of received packets: a frame inside one is never copied.
        let read = std::pin::pin!(self.0.read_chunk(usize::MAX, true));
        read.poll(cx)
            .map(|r| r.map(|c| c.map(|c| c.bytes)).map_err(read_error))
    }

    #[inline]
    fn stop(&mut self, c: ErrorCode) {
        let _ = self.0.stop(code(c));
    }
}

/// The QUIC side of the settings.
impl Settings {
    /// `accept_calls`: whether the peer may open streams to us (servers only).
    pub(crate) fn transport(&self, accept_calls: bool) -> Arc<quinn::TransportConfig> {
        let mut t = quinn::TransportConfig::default();
        let calls = if accept_calls {
            self.max_concurrent_calls
        } else {
            0
        };
        // A client accepts one unidirectional stream: the server's control stream, which
        // carries the drain notice (PROTOCOL.md §3.1, §12). A server accepts none.
        let control = u32::from(!accept_calls);
        t.max_concurrent_bidi_streams(calls.into())
            .max_concurrent_uni_streams(control.into())
            .stream_receive_window(self.stream_receive_window.into())
            .receive_window(
                quinn::VarInt::from_u64(self.receive_window).unwrap_or(quinn::VarInt::MAX),
            )
            .send_window(self.send_window)
            .max_idle_timeout(quinn::IdleTimeout::try_from(self.idle_timeout).ok())
            .keep_alive_interval(self.keep_alive_interval)
            .initial_mtu(self.initial_mtu.max(1200))
            // `max_datagram_frame_size` advertised only with datagrams on (PROTOCOL.md §18.1):
            // off, a peer's DATAGRAM frame is a QUIC protocol violation instead of bytes
            // buffered unread.
            .datagram_receive_buffer_size(self.datagrams.then_some(crate::config::DATAGRAM_BUFFER))
            .datagram_send_buffer_size(crate::config::DATAGRAM_BUFFER);
        let mut mtu = quinn::MtuDiscoveryConfig::default();
        mtu.upper_bound(self.max_udp_payload_size.max(1200));
        t.mtu_discovery_config(Some(mtu));
        if let Some(delay) = self.max_ack_delay {
            // Asked of the peer in an ACK_FREQUENCY frame (draft-ietf-quic-ack-frequency-04);
            // a reordering threshold of 1 keeps RFC 9000's immediate ACK of a gap, which
            // quinn's default of 2 would delay.
            let mut ack = quinn::AckFrequencyConfig::default();
            ack.max_ack_delay(Some(delay))
                .reordering_threshold(quinn::VarInt::from_u32(1));
            t.ack_frequency_config(Some(ack));
        }
        t.packet_threshold(self.packet_threshold)
            .time_threshold(self.time_threshold);
        Arc::new(t)
    }

    /// `reset_key`: the stateless reset key (PROTOCOL.md §3.4), random if `None`.
    pub(crate) fn endpoint_config(&self, reset_key: Option<&[u8]>) -> quinn::EndpointConfig {
        let mut c = match reset_key {
            Some(key) => {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
                // The connection IDs are keyed too: a restarted server must recognize its
                // previous run's IDs as its own (quinn drops packets with IDs its generator
                // did not make) before it answers them with a stateless reset.
                let tag = ring::hmac::sign(&key, b"qrpc connection ids");
                let mut cid_key = [0u8; 8];
                cid_key.copy_from_slice(&tag.as_ref()[..8]);
                let cid_key = u64::from_le_bytes(cid_key);
                let mut c = quinn::EndpointConfig::new(Arc::new(key));
                c.cid_generator(move || {
                    Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
                });
                c
            }
            None => quinn::EndpointConfig::default(),
        };
        // Cannot fail: clamped to the valid range.
        let _ = c.max_udp_payload_size(self.max_udp_payload_size.clamp(1200, 65_527));
        c
    }
}
