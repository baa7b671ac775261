//! Limits and QUIC settings shared by [`Endpoint`](crate::Endpoint) and
//! [`Server`](crate::Server) builders. Every limit is on by default.

use crate::compression::CompressionConfig;
use crate::wire::FrameLimits;
use std::time::Duration;

/// Default largest message a side accepts: 4 MiB, as in gRPC.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;
/// Default largest header or trailer block: 16 KiB.
pub const DEFAULT_MAX_HEADER_LIST_SIZE: usize = 16 * 1024;
/// Default number of calls a client may have open on one connection.
pub const DEFAULT_MAX_CONCURRENT_CALLS: u32 = 1024;
/// Default time allowed for a QUIC and TLS handshake.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for a client connecting to a loopback address.
const DEFAULT_LOOPBACK_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Default number of connections a server accepts at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default largest UDP payload a side sends and accepts, the ceiling of path MTU discovery.
///
/// On loopback and jumbo-frame links discovery reaches it, and bulk transfers cost about half
/// the CPU per byte of 1472-byte packets (benches/README.md); 6000 x quinn's 10 GSO segments
/// per batch stays under the 65,507-byte UDP limit. Ordinary 1500-byte paths settle at ~1452
/// after a few lost probes.
pub const DEFAULT_MAX_UDP_PAYLOAD_SIZE: u16 = 6000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub max_decoding_message_size: usize,
    pub max_encoding_message_size: usize,
    pub max_header_list_size: usize,
    pub max_concurrent_calls: u32,
    pub stream_receive_window: u32,
    pub receive_window: u64,
    pub send_window: u64,
    pub idle_timeout: Duration,
    pub keep_alive_interval: Option<Duration>,
    /// How long after a due keep-alive the peer has to answer (PROTOCOL.md §3.4).
    pub keep_alive_timeout: Option<Duration>,
    /// `None`: the default, shorter for loopback addresses (see `handshake_timeout_for`).
    pub handshake_timeout: Option<Duration>,
    pub socket_buffer_size: usize,
    pub initial_mtu: u16,
    pub max_udp_payload_size: u16,
    /// 0-RTT (PROTOCOL.md §3.5): early data sent (client) or accepted (server). Off by
    /// default: early data can be replayed.
    pub zero_rtt: bool,
    /// Message compression (PROTOCOL.md §15).
    pub compression: CompressionConfig,
    /// The ACK delay asked of the peer with QUIC's ACK frequency extension; `None`: the
    /// peer's own (25 ms in quinn). See `max_ack_delay` below.
    pub max_ack_delay: Option<Duration>,
    /// Loss detection: packets after a lost one before it is declared lost (RFC 9002 §6.1.1).
    pub packet_threshold: u32,
    /// Loss detection: time after a lost one's send, in RTTs (RFC 9002 §6.1.2).
    pub time_threshold: f32,
    /// Datagrams (PROTOCOL.md §18): `max_datagram_frame_size` advertised.
    pub datagrams: bool,
    /// Received datagrams a call holds before it drops the oldest.
    pub max_datagram_queue: usize,
}

/// quinn's buffers for datagrams, each way, per connection: received ones not yet routed
/// to their calls, sent ones not yet on the wire (the oldest dropped when full).
pub(crate) const DATAGRAM_BUFFER: usize = 256 * 1024;

/// The [`max_ack_delay`](crate::Endpoint::max_ack_delay) to ask for on lossy paths
/// (mobile, the open internet): 1 ms, QUIC's timer granularity. Not the default.
///
/// A lost last packet of a call (a tail loss) is found by the probe timeout, which counts
/// the peer's ACK delay: at quinn's 25 ms, the p99.9 of 64 B calls on a 1 %-lossy path was
/// 30.6 ms; at 1 ms, 8.0 ms (benches/README.md, "Lossy networks"). The price is CPU on
/// sparse traffic: the probe timer, a millisecond or two away, is re-armed with every
/// packet and is then the next timer to expire, which costs most on virtual machines; on
/// one, one call at a time cost 1.25x the CPU per call, 16 in flight 1.2x, 64 in flight
/// about the same.
pub const LOSSY_PATH_MAX_ACK_DELAY: Duration = Duration::from_millis(1);

impl Settings {
    pub(crate) fn client() -> Self {
        Settings {
            compression: CompressionConfig::client(),
            ..Self::server()
        }
    }

    pub(crate) fn server() -> Self {
        Settings {
            max_decoding_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_encoding_message_size: u32::MAX as usize,
            max_header_list_size: DEFAULT_MAX_HEADER_LIST_SIZE,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            stream_receive_window: 1024 * 1024,
            receive_window: 16 * 1024 * 1024,
            send_window: 16 * 1024 * 1024,
            // A peer that dies (a killed process sends nothing over UDP) is noticed after
            // this long without a packet; keep-alives both ways make silence mean death:
            // four in a row must be lost before a live connection is.
            idle_timeout: Duration::from_secs(8),
            keep_alive_interval: Some(Duration::from_secs(2)),
            keep_alive_timeout: Some(Duration::from_secs(2)),
            handshake_timeout: None,
            socket_buffer_size: 4 * 1024 * 1024,
            initial_mtu: 1200,
            max_udp_payload_size: DEFAULT_MAX_UDP_PAYLOAD_SIZE,
            zero_rtt: false,
            compression: CompressionConfig::server(),
            max_ack_delay: None,
            packet_threshold: 3,
            time_threshold: 9.0 / 8.0,
            datagrams: true,
            max_datagram_queue: crate::datagram::DEFAULT_MAX_DATAGRAM_QUEUE,
        }
    }

    /// The time allowed for a handshake with `addr`: as set, else 10 s, or 2 s on loopback,
    /// where a live server answers in microseconds and nothing else is worth waiting for.
    pub(crate) fn handshake_timeout_for(&self, addr: Option<std::net::SocketAddr>) -> Duration {
        let loopback = addr.is_some_and(|a| a.ip().is_loopback());
        self.handshake_timeout.unwrap_or(if loopback {
            DEFAULT_LOOPBACK_HANDSHAKE_TIMEOUT
        } else {
            DEFAULT_HANDSHAKE_TIMEOUT
        })
    }

    /// How long a connection may go without a packet from the peer before it is declared
    /// dead (PROTOCOL.md §3.4): keep-alive interval plus timeout; `None` without either.
    pub(crate) fn keep_alive_silence(&self) -> Option<Duration> {
        Some(self.keep_alive_interval? + self.keep_alive_timeout?)
    }

    pub(crate) fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            max_message: self.max_decoding_message_size,
            max_headers: self.max_header_list_size,
        }
    }
}

/// Builder methods shared by `Endpoint` and `Server::builder()`.
macro_rules! settings_setters {
    () => {
        /// Largest message this side accepts (default 4 MiB). A larger one ends the call with
        /// `ResourceExhausted` before its payload is buffered.
        pub fn max_decoding_message_size(mut self, bytes: usize) -> Self {
            self.settings.max_decoding_message_size = bytes;
            self
        }

        /// Largest message this side sends (default 4 GiB - 1, the frame limit). A larger one
        /// fails locally with `ResourceExhausted`.
        pub fn max_encoding_message_size(mut self, bytes: usize) -> Self {
            self.settings.max_encoding_message_size = bytes.min(u32::MAX as usize);
            self
        }

        /// Largest metadata block (request head, response head or trailers) this side accepts
        /// (default 16 KiB).
        pub fn max_header_list_size(mut self, bytes: usize) -> Self {
            self.settings.max_header_list_size = bytes;
            self
        }

        /// QUIC flow-control window per call (default 1 MiB).
        pub fn stream_receive_window(mut self, bytes: u32) -> Self {
            self.settings.stream_receive_window = bytes;
            self
        }

        /// QUIC flow-control window per connection (default 16 MiB).
        pub fn connection_receive_window(mut self, bytes: u64) -> Self {
            self.settings.receive_window = bytes;
            self
        }

        /// Unacknowledged bytes this side may have in flight per connection (default 16 MiB).
        pub fn send_window(mut self, bytes: u64) -> Self {
            self.settings.send_window = bytes;
            self
        }

        /// Connection idle timeout (default 8 s; the lower of the two sides' applies): a peer
        /// silent this long is gone, its calls end with `Unavailable` and a server drops their
        /// handlers. With the default keep-alives, that is how soon a peer whose process died
        /// is noticed; raise it on networks that go silent for longer.
        pub fn idle_timeout(mut self, timeout: Duration) -> Self {
            self.settings.idle_timeout = timeout;
            self
        }

        /// Interval of QUIC keep-alive packets (default 2 s, both sides): they keep an idle
        /// connection from timing out, so silence means the peer is gone.
        pub fn keep_alive_interval(mut self, interval: Option<Duration>) -> Self {
            self.settings.keep_alive_interval = interval;
            self
        }

        /// How soon a dead or unreachable peer is noticed (default 2 s): a connection on
        /// which nothing arrived for the keep-alive interval plus this long is closed, its
        /// calls end with `Unavailable` (a channel then reconnects on its next call). A live
        /// peer acknowledges keep-alives within a round trip, so this only has to cover the
        /// round trip and a few lost packets; it works whatever the idle timeout, and does not
        /// change it. `None`: only the idle timeout notices a dead peer. Needs keep-alives.
        pub fn keep_alive_timeout(mut self, timeout: Option<Duration>) -> Self {
            self.settings.keep_alive_timeout = timeout;
            self
        }

        /// Time allowed for the QUIC and TLS handshake (default 10 s; on the client, 2 s to a
        /// loopback address). Over UDP a server that is not running usually does not answer
        /// at all, so this is how long connecting to it takes to fail.
        pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
            self.settings.handshake_timeout = Some(timeout);
            self
        }

        /// Requested UDP socket send and receive buffer size (default 4 MiB). The kernel's
        /// default (about 208 KiB) drops bursts on fast links; the kernel may cap the request
        /// (`net.core.rmem_max`).
        pub fn udp_socket_buffer_size(mut self, bytes: usize) -> Self {
            self.settings.socket_buffer_size = bytes;
            self
        }

        /// Largest UDP payload this side sends and accepts (default
        /// [`DEFAULT_MAX_UDP_PAYLOAD_SIZE`](crate::DEFAULT_MAX_UDP_PAYLOAD_SIZE), 6000). Path MTU discovery
        /// probes up to it, so 1500-byte paths still end up near 1452. Loopback and
        /// jumbo-frame networks allow more (up to 65,527), which cuts CPU per byte on bulk
        /// transfers; keep it at most 6,550 so a GSO batch of 10 packets fits in one
        /// 65,507-byte datagram write.
        pub fn max_udp_payload_size(mut self, bytes: u16) -> Self {
            self.settings.max_udp_payload_size = bytes.max(1200);
            self
        }

        /// Compresses the messages this side sends with `encoding` (PROTOCOL.md §15), those
        /// of at least [`compression_threshold`](Self::compression_threshold) bytes that it
        /// makes smaller. A server does so only for clients that accept `encoding`; a client
        /// compresses its requests whatever the server says, so set it only for servers that
        /// accept `encoding` (a server that does not answers `Unimplemented`). Off by
        /// default.
        pub fn send_compressed(mut self, encoding: crate::CompressionEncoding) -> Self {
            self.settings.compression.send = Some(encoding);
            self
        }

        /// Accepts messages compressed with `encoding` (call again for more). A client
        /// offers them in every request head, and its server may then compress responses
        /// with one; a server accepts every algorithm of the build by default, so this is
        /// for clients. Decompression never exceeds
        /// [`max_decoding_message_size`](Self::max_decoding_message_size).
        pub fn accept_compressed(mut self, encoding: crate::CompressionEncoding) -> Self {
            let c = &mut self.settings.compression;
            c.accept = c.accept.with(encoding);
            self
        }

        /// Messages smaller than this many bytes (encoded) are never compressed (default
        /// [`DEFAULT_COMPRESSION_THRESHOLD`](crate::compression::DEFAULT_COMPRESSION_THRESHOLD),
        /// 1 KiB): below it compression saves little and costs CPU.
        pub fn compression_threshold(mut self, bytes: usize) -> Self {
            self.settings.compression.threshold = bytes;
            self
        }

        /// The longest the peer may wait before acknowledging a packet, asked with QUIC's
        /// ACK frequency extension (draft-ietf-quic-ack-frequency; quinn on both sides),
        /// which also asks it to acknowledge out-of-order packets at once. Default `None`:
        /// nothing is asked, and the peer uses its own (25 ms in quinn), as raw quinn does.
        /// [`LOSSY_PATH_MAX_ACK_DELAY`](crate::LOSSY_PATH_MAX_ACK_DELAY) (1 ms) is the value
        /// for lossy paths; set it on both sides.
        ///
        /// What it buys: when the last packet of a call is lost, nothing after it reveals the
        /// gap, and the sender finds out by its probe timeout: the round trip, four times its
        /// variation, and this delay, so a tail loss costs a few ms instead of ~26. What it
        /// costs: CPU on sparse traffic, where the probe timer is re-armed with every packet
        /// (see [`LOSSY_PATH_MAX_ACK_DELAY`](crate::LOSSY_PATH_MAX_ACK_DELAY) for the
        /// figures); the packets sent are the same. quinn never asks for less than the peer's
        /// minimum (1 ms).
        pub fn max_ack_delay(mut self, delay: Option<Duration>) -> Self {
            self.settings.max_ack_delay = delay;
            self
        }

        /// Packets acknowledged after a lost one before QUIC declares it lost (default 3, RFC
        /// 9002's; at least 3). Lower finds losses a little sooner and treats reordering as
        /// loss (spurious retransmissions and a halved congestion window); higher tolerates
        /// more reordering and leaves more losses to the time threshold or the probe timeout.
        pub fn loss_packet_threshold(mut self, packets: u32) -> Self {
            self.settings.packet_threshold = packets.max(3);
            self
        }

        /// Time after a packet was sent, in round trips, past which QUIC declares it lost once
        /// a later packet was acknowledged (default 9/8, RFC 9002's; at least 1). The same
        /// trade as [`loss_packet_threshold`](Self::loss_packet_threshold), in time.
        pub fn loss_time_threshold(mut self, rtts: f32) -> Self {
            self.settings.time_threshold = if rtts.is_finite() {
                rtts.max(1.0)
            } else {
                9.0 / 8.0
            };
            self
        }

        /// Whether this side takes datagrams (PROTOCOL.md §18: QUIC's
        /// `max_datagram_frame_size` advertised; default on). Off, the peer sees no datagram
        /// support: calls' [`Datagrams::send`](crate::datagram::Datagrams::send) fails with
        /// `Unsupported` on both sides.
        pub fn datagrams(mut self, enabled: bool) -> Self {
            self.settings.datagrams = enabled;
            self
        }

        /// Received datagrams a call holds for its application before it drops the oldest
        /// (default [`DEFAULT_MAX_DATAGRAM_QUEUE`](crate::datagram::DEFAULT_MAX_DATAGRAM_QUEUE);
        /// at least 1). Drops are counted in
        /// [`DatagramStats::dropped`](crate::datagram::DatagramStats::dropped).
        pub fn max_datagram_queue(mut self, datagrams: usize) -> Self {
            self.settings.max_datagram_queue = datagrams.max(1);
            self
        }

        /// Initial QUIC packet size before path MTU discovery (default 1200, the minimum).
        pub fn initial_mtu(mut self, bytes: u16) -> Self {
            self.settings.initial_mtu = bytes.max(1200);
            self
        }
    };
}
pub(crate) use settings_setters;
