//! The client side: a [`Connector`] that makes WebTransport sessions, so an rpc-core
//! [`Channel`](rpc_core::Channel) (and any generated client) calls a WebTransport server the
//! way a browser does. For tests and tools; native clients normally speak qrpc/1 over QUIC.

use crate::conn::WebTransportConnection;
use rpc_core::tls::ClientTlsConfig;
use rpc_core::transport::{Connector, Security};
use std::time::Duration;

/// Why a [`WebTransportConnector`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The TLS configuration cannot be used.
    #[error("tls: {0}")]
    Tls(String),
    /// The client's UDP socket could not be bound.
    #[error("binding the UDP socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Connects to a WebTransport server at a URL (`https://host:port/qrpc`), one session per
/// connection. Give it to [`Endpoint::from_connector`](rpc_core::Endpoint::from_connector).
///
/// ```no_run
/// # async fn demo(hash: [u8; 32]) -> Result<(), Box<dyn std::error::Error>> {
/// let connector =
///     rpc_webtransport::WebTransportConnector::with_certificate_hash("https://127.0.0.1:4433/qrpc", hash)?;
/// let channel = rpc_core::Endpoint::from_connector(connector).connect().await?;
/// // GreeterClient::new(channel).say_hello(..)
/// # drop(channel); Ok(()) }
/// ```
pub struct WebTransportConnector {
    endpoint: wtransport::Endpoint<wtransport::endpoint::endpoint_side::Client>,
    url: String,
    connect_timeout: Duration,
    security: Security,
}

impl std::fmt::Debug for WebTransportConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebTransportConnector")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl WebTransportConnector {
    /// Verifies the server's certificate as `tls` says (trusted roots, the name in `url`).
    /// Needs a Tokio runtime (it binds a UDP socket).
    pub fn new(url: impl Into<String>, tls: &ClientTlsConfig) -> Result<Self, ConnectorError> {
        let mut rustls = tls
            .to_rustls()
            .map_err(|e| ConnectorError::Tls(e.to_string()))?;
        rustls.alpn_protocols = vec![wtransport::tls::WEBTRANSPORT_ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(rustls)
            .map_err(|e| ConnectorError::Tls(e.to_string()))?;
        let config = wtransport::ClientConfig::builder()
            .with_bind_default()
            .build_with_quic_config(quinn::ClientConfig::new(std::sync::Arc::new(crypto)));
        let url = url.into();
        // A development certificate's trust is reported as such, as over QUIC.
        let host = url.parse::<http::Uri>().ok();
        let security = tls.security_for(host.as_ref().and_then(|u| u.host()).unwrap_or(""));
        Self::with_config(url, config, security)
    }

    /// Accepts exactly the certificate whose SHA-256 hash is `sha256`, as a browser given
    /// `serverCertificateHashes` does (an ECDSA P-256 certificate valid for at most 14 days:
    /// [`BrowserDevCertificate`](crate::dev::BrowserDevCertificate)).
    pub fn with_certificate_hash(
        url: impl Into<String>,
        sha256: [u8; 32],
    ) -> Result<Self, ConnectorError> {
        let config = wtransport::ClientConfig::builder()
            .with_bind_default()
            .with_server_certificate_hashes([wtransport::tls::Sha256Digest::new(sha256)])
            .build();
        Self::with_config(url.into(), config, Security::Unknown)
    }

    fn with_config(
        url: String,
        config: wtransport::ClientConfig,
        security: Security,
    ) -> Result<Self, ConnectorError> {
        Ok(WebTransportConnector {
            endpoint: wtransport::Endpoint::client(config)?,
            url,
            connect_timeout: Duration::from_secs(10),
            security,
        })
    }

    /// How long a connection attempt (QUIC handshake and session request) may take
    /// (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

impl Connector for WebTransportConnector {
    type Connection = WebTransportConnection;

    async fn connect(&self) -> Result<WebTransportConnection, rpc_core::Error> {
        match tokio::time::timeout(self.connect_timeout, self.endpoint.connect(&self.url)).await {
            Ok(Ok(conn)) => Ok(WebTransportConnection::new(conn, None)),
            Ok(Err(e)) => Err(rpc_core::Error::connect_failed(format!(
                "WebTransport session to {}: {e}",
                self.url
            ))),
            Err(_) => Err(rpc_core::Error::connect_timed_out(format!(
                "WebTransport session to {} timed out",
                self.url
            ))),
        }
    }

    fn security(&self) -> Security {
        self.security
    }
}
