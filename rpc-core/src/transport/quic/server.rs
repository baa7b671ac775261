//! Accepting over QUIC: the server's endpoint, connection attempts and their handshakes.

use super::{endpoint, server_config, AnyConn};
use crate::config::Settings;
use crate::error::{Error, Kind};
use crate::tls::ServerTlsConfig;
use crate::wire::ErrorCode;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A server's QUIC endpoint, whether it accepts 0-RTT data, and its config (for
/// connections that start at a learned path MTU). Cloning it is a reference count.
#[derive(Clone)]
pub(crate) struct Acceptor(quinn::Endpoint, bool, Arc<Base>);

/// The endpoint's server config and the settings it was made from.
struct Base {
    config: quinn::ServerConfig,
    settings: Settings,
}

/// A QUIC connection attempt, before its handshake, and whether 0-RTT data is accepted.
pub(crate) struct Incoming(quinn::Incoming, bool, Arc<Base>);

impl Acceptor {
    /// An endpoint serving `tls` on `socket`, and its address.
    pub(crate) fn new(
        socket: Arc<dyn quinn::AsyncUdpSocket>,
        settings: &Settings,
        tls: &ServerTlsConfig,
        reset_key: Option<&[u8]>,
    ) -> Result<(Self, SocketAddr), Error> {
        let early_data = super::server_early_data(tls, settings);
        let crypto = super::server_crypto(tls, early_data)?;
        let config = server_config(crypto, settings);
        let base = Arc::new(Base {
            config: config.clone(),
            settings: settings.clone(),
        });
        let endpoint = endpoint(socket, settings, Some(config), reset_key)
            .map_err(|e| Error::with(Kind::Io, "failed to create the QUIC endpoint", e))?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|e| Error::with(Kind::Io, "failed to read the local address", e))?;
        Ok((Acceptor(endpoint, early_data, base), local_addr))
    }

    /// Binds a UDP socket at `addr` for [`Acceptor::new`].
    pub(crate) fn bind(
        addr: SocketAddr,
        settings: &Settings,
    ) -> Result<Arc<dyn quinn::AsyncUdpSocket>, Error> {
        let socket = super::bind(addr, settings)
            .map_err(|e| Error::with(Kind::Io, format!("failed to bind {addr}"), e))?;
        let runtime = super::runtime().map_err(|e| Error::with(Kind::Io, "no runtime", e))?;
        runtime
            .wrap_udp_socket(socket)
            .map_err(|e| Error::with(Kind::Io, format!("failed to set up {addr}"), e))
    }

    /// The next connection attempt; `None` once the endpoint is closed.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub(crate) async fn accept(&self) -> Option<Incoming> {
        self.0
            .accept()
            .await
            .map(|i| Incoming(i, self.1, self.2.clone()))
    }

    /// Closes every connection, those still in their handshake included.
    pub(crate) fn close(&self, code: ErrorCode) {
        self.0.close(super::code(code), b"");
    }

    /// Waits (at most `limit`) for the `CONNECTION_CLOSE` frames to go out.
    pub(crate) async fn wait_idle(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.0.wait_idle()).await;
    }
}

impl Incoming {
    /// Refuses the attempt (the server is full or shutting down).
    pub(crate) fn refuse(self) {
        self.0.refuse();
    }

    /// The peer's UDP address.
    pub(crate) fn remote_address(&self) -> SocketAddr {
        self.0.remote_address()
    }

    /// Whether the peer proved it receives at its address (it answered a Retry).
    pub(crate) fn remote_address_validated(&self) -> bool {
        self.0.remote_address_validated()
    }

    /// Whether a Retry may be sent (not after one already was).
    pub(crate) fn may_retry(&self) -> bool {
        self.0.may_retry()
    }

    /// Answers with a Retry (RFC 9000 §8.1.2): the client comes back with its address
    /// validated, as a new attempt. Refuses an attempt that may not be retried.
    pub(crate) fn retry(self) {
        if let Err(e) = self.0.retry() {
            e.into_incoming().refuse();
        }
    }

    /// The connection, once its handshake completed within `timeout`.
    pub(crate) async fn establish(self, timeout: Duration) -> Option<AnyConn> {
        let Incoming(incoming, early_data, base) = self;
        let settings = &base.settings;
        let ip = incoming.remote_address().ip();
        let learned =
            super::pmtu::initial_for(ip, settings.initial_mtu, settings.max_udp_payload_size);
        let connecting = match learned {
            // An earlier connection from this peer measured the path: start there
            // (transport::quic::pmtu).
            Some(mtu) => {
                let mut config = base.config.clone();
                let mut learned = settings.clone();
                learned.initial_mtu = mtu;
                config.transport_config(learned.transport(true));
                incoming.accept_with(Arc::new(config))
            }
            None => incoming.accept(),
        };
        let connecting = match connecting {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("handshake failed: {e}");
                return None;
            }
        };
        if early_data {
            return super::accept_0rtt(connecting, timeout).await;
        }
        match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(conn)) => Some(AnyConn::Quic(conn)),
            Ok(Err(e)) => {
                // Debug: a handshake flood makes one per attempt.
                tracing::debug!("handshake failed: {e}");
                None
            }
            Err(_) => {
                tracing::debug!("handshake timed out");
                None
            }
        }
    }
}
