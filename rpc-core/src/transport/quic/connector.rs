//! QUIC on the transport seam: the connector behind [`Endpoint`], as a [`Connector`] of its
//! own, so that a connector of another crate can use QUIC as one of its transports (rpc-grpc's
//! fallback to HTTP/2 races it against TCP).

use super::client::Dialer;
use super::{conn_error, QuicRecv, QuicSend};
use crate::client::Endpoint;
use crate::transport::{
    BidiStream, Connection, ConnectionError, ConnectionStats, Connector, Security,
};
use crate::wire::ErrorCode;
use std::net::SocketAddr;
use std::time::Duration;

/// Makes QUIC connections as a channel on an [`Endpoint`] does (resolving, Happy Eyeballs
/// over the host's addresses, TLS, the shared UDP socket, TLS session resumption), for
/// connectors that use QUIC as one of their transports. A channel made with
/// [`Endpoint::connect`] needs none of this: it dials QUIC itself.
///
/// Its connections are reached through the transport traits (a box per stream), and 0-RTT
/// is off: [`connect`](Connector::connect) returns once the handshake completed.
pub struct QuicConnector {
    endpoint: Endpoint,
    /// The client endpoint of the last connection, reused by the next. Not held while
    /// connecting, so attempts run side by side (a probe beside a channel's connect).
    dialer: std::sync::Mutex<Dialer>,
}

impl std::fmt::Debug for QuicConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicConnector")
            .field("host", &self.endpoint.host())
            .field("port", &self.endpoint.port())
            .finish_non_exhaustive()
    }
}

impl QuicConnector {
    /// Connects to `endpoint`'s host and port with its TLS and QUIC settings (its call
    /// settings, interceptors and a connector given to
    /// [`Endpoint::from_connector`] do not apply).
    pub fn new(endpoint: Endpoint) -> Self {
        QuicConnector {
            endpoint: endpoint.zero_rtt(false),
            dialer: Default::default(),
        }
    }

    /// The endpoint it connects to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn dialer(&self) -> std::sync::MutexGuard<'_, Dialer> {
        self.dialer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Connector for QuicConnector {
    type Connection = QuicConnection;

    async fn connect(&self) -> Result<QuicConnection, crate::Error> {
        let mut dialer = self.dialer().clone();
        let (conn, _) = dialer.connect_quinn(&self.endpoint).await?;
        *self.dialer() = dialer;
        Ok(QuicConnection {
            conn,
            silence: self.endpoint.settings.keep_alive_silence(),
        })
    }

    fn security(&self) -> Security {
        self.endpoint.quic_security()
    }
}

/// A QUIC connection made by a [`QuicConnector`].
#[derive(Debug, Clone)]
pub struct QuicConnection {
    conn: quinn::Connection,
    /// Closed when nothing came from the peer for this long (PROTOCOL.md §3.4).
    silence: Option<Duration>,
}

impl QuicConnection {
    /// The quinn connection.
    pub fn quinn(&self) -> &quinn::Connection {
        &self.conn
    }
}

fn halves((send, recv): (quinn::SendStream, quinn::RecvStream)) -> (QuicSend, QuicRecv) {
    (QuicSend(send), QuicRecv(recv))
}

impl Connection for QuicConnection {
    type SendStream = QuicSend;
    type RecvStream = QuicRecv;

    async fn open_bi(&self) -> Result<BidiStream<Self>, ConnectionError> {
        self.conn.open_bi().await.map(halves).map_err(conn_error)
    }

    async fn accept_bi(&self) -> Result<BidiStream<Self>, ConnectionError> {
        self.conn.accept_bi().await.map(halves).map_err(conn_error)
    }

    fn close(&self, code: ErrorCode, reason: &[u8]) {
        self.conn.close(super::code(code), reason)
    }

    fn close_reason(&self) -> Option<ConnectionError> {
        self.conn.close_reason().map(conn_error)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.conn.remote_address())
    }

    fn rtt(&self) -> Option<Duration> {
        Some(self.conn.rtt())
    }

    fn peer_identity(&self) -> Option<crate::tls::PeerIdentity> {
        super::peer_identity(&self.conn)
    }

    /// Also ends the connection once the peer went silent past the keep-alive timeout, as a
    /// channel's own QUIC connection does.
    async fn closed(&self) {
        match self.silence {
            Some(silence) => drop(super::watch_liveness(&self.conn, silence).await),
            None => drop(self.conn.closed().await),
        }
    }

    fn send_drain(&self) -> bool {
        super::send_drain(&self.conn)
    }

    async fn drained(&self) {
        super::drained(&self.conn).await
    }

    fn stats(&self) -> Option<ConnectionStats> {
        Some(super::stats(&self.conn))
    }
}
