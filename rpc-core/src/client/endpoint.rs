//! [`Endpoint`]: where and how to connect.

use super::Channel;
use crate::config::{settings_setters, Settings};
use crate::error::{Error, Kind};
use crate::interceptor::{Interceptor, Interceptors};
use crate::tls::ClientTlsConfig;
use crate::transport::erased::DynConnector;
use crate::transport::{quic, Connector};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The address of a server and the settings to connect with; [`Endpoint::connect`] makes a
/// [`Channel`].
///
/// Clones share the TLS configuration built on first connect, so reconnects resume TLS
/// sessions; channels share UDP sockets (see [`Endpoint::local_address`]).
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// use rpc_core::{tls::ClientTlsConfig, Endpoint};
/// use std::time::Duration;
///
/// let channel = Endpoint::new("example.com:4433")?
///     .tls_config(ClientTlsConfig::new())
///     .timeout(Duration::from_secs(5))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Endpoint {
    host: String,
    port: u16,
    tls: ClientTlsConfig,
    pub(crate) settings: Settings,
    pub(crate) timeout: Option<Duration>,
    local_addr: Option<SocketAddr>,
    socket: Option<Arc<dyn quinn::AsyncUdpSocket>>,
    pub(crate) interceptors: Interceptors,
    /// The QUIC client config built from `tls` and `settings`, shared by every connection
    /// made from this endpoint and its clones: certificates are loaded once and TLS sessions
    /// are resumed on reconnects. Rebuilt when the settings differ.
    client_config: Arc<Mutex<Option<(Settings, quinn::ClientConfig)>>>,
    /// Makes the connections instead of QUIC, when set.
    pub(crate) connector: Option<Arc<dyn DynConnector>>,
}

impl Endpoint {
    /// An endpoint for `host:port` (`[v6addr]:port` for IPv6 literals). A `scheme://` prefix,
    /// as in `https://host:port`, is accepted and ignored.
    pub fn new(dst: impl AsRef<str>) -> Result<Self, Error> {
        let dst = dst.as_ref();
        let rest = dst.split_once("://").map_or(dst, |(_, r)| r);
        let rest = rest.trim_end_matches('/');
        let bad = || {
            Error::new(
                Kind::InvalidAddress,
                format!("invalid address {dst:?}: expected host:port"),
            )
        };
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self::with_host(host.to_owned(), port))
    }

    /// An endpoint for a socket address. The server's certificate must then be valid for the
    /// IP address, or set the name to verify with [`ClientTlsConfig::domain_name`].
    pub fn from_addr(addr: SocketAddr) -> Self {
        Self::with_host(addr.ip().to_string(), addr.port())
    }

    fn with_host(host: String, port: u16) -> Self {
        Endpoint {
            host,
            port,
            tls: ClientTlsConfig::new(),
            settings: Settings::client(),
            timeout: None,
            local_addr: None,
            socket: None,
            interceptors: Interceptors::default(),
            client_config: Arc::default(),
            connector: None,
        }
    }

    /// An endpoint whose channels connect (and reconnect) with `connector` instead of QUIC:
    /// for example [`transport::mem`](crate::transport::mem) in tests, or a transport of your
    /// own. The TLS and QUIC socket settings do not apply to it; call settings (timeouts,
    /// limits, interceptors) do.
    pub fn from_connector(connector: impl Connector) -> Self {
        let mut endpoint = Self::with_host(String::new(), 0);
        endpoint.connector = Some(Arc::new(connector));
        endpoint
    }

    /// TLS settings: trusted roots and the name to verify.
    pub fn tls_config(mut self, tls: ClientTlsConfig) -> Self {
        self.tls = tls;
        self.client_config = Arc::default();
        self
    }

    /// Default timeout of every call on the channel; a request's own timeout overrides it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Adds an interceptor that sees every call of the channel before it is sent (in the order
    /// added); see [`Interceptor`].
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> Self {
        self.interceptors.push(interceptor);
        self
    }

    /// Adds an interceptor that may wait (a token lookup) and sees every call of the channel
    /// before it is sent, in the order added with the synchronous ones; see
    /// [`AsyncInterceptor`](crate::interceptor::AsyncInterceptor).
    pub fn async_interceptor(
        mut self,
        interceptor: impl crate::interceptor::AsyncInterceptor,
    ) -> Self {
        self.interceptors.push_async(interceptor);
        self
    }

    /// Binds the channel's own UDP socket at this address.
    ///
    /// By default, channels on the same tokio runtime share one UDP socket and QUIC endpoint
    /// per address family and socket settings (connecting is then cheap, and one socket's
    /// receive buffers serve every connection); an explicit local address, even
    /// `0.0.0.0:0`, gives the channel a socket of its own, e.g. to spread the packet work of
    /// several busy channels.
    pub fn local_address(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// Sends and receives through a socket you provide: any [`quinn::AsyncUdpSocket`], for
    /// example one that simulates loss and delay in tests. Reconnects reuse it.
    pub fn udp_socket(mut self, socket: Arc<dyn quinn::AsyncUdpSocket>) -> Self {
        self.socket = Some(socket);
        self
    }

    pub(crate) fn has_own_socket(&self) -> bool {
        self.socket.is_some()
    }

    settings_setters!();

    /// Host as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port as given.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Resolves the address, performs the QUIC and TLS handshake, and returns a channel.
    ///
    /// Fails with [`Error::is_handshake`] when the certificate is not trusted or the server
    /// speaks another protocol version, [`Error::is_timeout`] when no handshake completes in
    /// the handshake timeout. If the connection is lost later, the channel reconnects on the
    /// next call (calls in flight fail with `Unavailable`; they are never replayed).
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons the connection attempt.
    pub async fn connect(&self) -> Result<Channel, Error> {
        let channel = Channel::new(self.clone());
        channel.connect_now().await?;
        Ok(channel)
    }

    /// A channel that connects on its first call (and reconnects after a loss), so it can be
    /// created before the server is up. Connection errors then surface as `Unavailable`
    /// statuses of the calls.
    pub fn connect_lazy(&self) -> Channel {
        Channel::new(self.clone())
    }

    /// The QUIC client endpoint to connect to `addr` from: the socket given to
    /// [`Endpoint::udp_socket`] or bound at [`Endpoint::local_address`], else one shared by
    /// every channel on this tokio runtime with the same socket settings (like a browser, one
    /// UDP socket for many connections: its receive buffers are large, and setting them up
    /// dominates the cost of a connection).
    pub(crate) fn client_endpoint(&self, addr: SocketAddr) -> Result<ClientEndpoint, Error> {
        if self.socket.is_none() && self.local_addr.is_none() {
            return shared_endpoint(addr.is_ipv6(), &self.settings);
        }
        let local = self.local_addr.unwrap_or(match addr {
            SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        });
        let socket = match &self.socket {
            Some(socket) => socket.clone(),
            None => wrap_socket(local, &self.settings)?,
        };
        let endpoint = quic::endpoint(socket, &self.settings, None)
            .map_err(|e| Error::with(Kind::Io, "failed to create the QUIC endpoint", e))?;
        Ok(Arc::new(endpoint))
    }

    /// The QUIC client config (TLS and transport), built once per endpoint and settings.
    fn quinn_client_config(&self) -> Result<quinn::ClientConfig, Error> {
        let mut cached = self.client_config.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((settings, config)) = cached.as_ref() {
            if *settings == self.settings {
                return Ok(config.clone());
            }
        }
        let crypto = self.tls.build()?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(self.settings.transport(false));
        *cached = Some((self.settings.clone(), config.clone()));
        Ok(config)
    }

    /// Performs the QUIC and TLS handshake with `addr` from `endpoint`.
    pub(crate) async fn handshake(
        &self,
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
    ) -> Result<quinn::Connection, Error> {
        let server_name = self.tls.domain().unwrap_or(&self.host).to_owned();
        let connecting = endpoint
            .connect_with(self.quinn_client_config()?, addr, &server_name)
            .map_err(|e| Error::with(Kind::Connect, format!("cannot connect to {addr}"), e))?;
        match tokio::time::timeout(self.settings.handshake_timeout, connecting).await {
            Err(_) => Err(Error::new(
                Kind::Timeout,
                format!(
                    "no handshake with {addr} within {:?}",
                    self.settings.handshake_timeout
                ),
            )),
            Ok(Err(e)) => {
                let kind = if quic::is_handshake_failure(&e) {
                    Kind::Handshake
                } else {
                    Kind::Connect
                };
                let msg = format!(
                    "failed to connect to {addr} ({server_name}): {}",
                    quic::describe_connection_error(&e)
                );
                Err(Error::with(kind, msg, e))
            }
            Ok(Ok(conn)) => Ok(conn),
        }
    }

    pub(crate) async fn resolve(&self) -> Result<SocketAddr, Error> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let mut addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                Error::with(
                    Kind::InvalidAddress,
                    format!("cannot resolve {}", self.host),
                    e,
                )
            })?;
        addrs.next().ok_or_else(|| {
            Error::new(
                Kind::InvalidAddress,
                format!("{} resolved to no address", self.host),
            )
        })
    }
}

impl TryFrom<&str> for Endpoint {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        Endpoint::new(s)
    }
}

impl TryFrom<String> for Endpoint {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Endpoint::new(s)
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Endpoint::from_addr(addr)
    }
}

/// A QUIC client endpoint, shared by the channels that use it.
pub(crate) type ClientEndpoint = Arc<quinn::Endpoint>;

fn wrap_socket(
    local: SocketAddr,
    settings: &Settings,
) -> Result<Arc<dyn quinn::AsyncUdpSocket>, Error> {
    let socket = quic::bind(local, settings)
        .map_err(|e| Error::with(Kind::Io, format!("failed to bind {local}"), e))?;
    quic::runtime()
        .and_then(|rt| rt.wrap_udp_socket(socket))
        .map_err(|e| Error::with(Kind::Io, format!("failed to set up {local}"), e))
}

/// What makes two client endpoints interchangeable: the runtime that drives them (an
/// endpoint dies with its runtime), the address family and the socket-level settings.
#[derive(PartialEq)]
struct SharedKey {
    runtime: tokio::runtime::Id,
    ipv6: bool,
    max_udp_payload_size: u16,
    socket_buffer_size: usize,
}

/// Client endpoints in use, held weakly: the last channel to drop one closes it.
static SHARED: Mutex<Vec<(SharedKey, Weak<quinn::Endpoint>)>> = Mutex::new(Vec::new());

fn shared_endpoint(ipv6: bool, settings: &Settings) -> Result<ClientEndpoint, Error> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|e| Error::with(Kind::Io, "rpc-core needs a tokio runtime", e))?;
    let runtime = handle.id();
    let key = SharedKey {
        runtime,
        ipv6,
        max_udp_payload_size: settings.max_udp_payload_size,
        socket_buffer_size: settings.socket_buffer_size,
    };
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    shared.retain(|(_, weak)| weak.strong_count() > 0);
    if let Some(endpoint) = shared
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, weak)| weak.upgrade())
    {
        return Ok(endpoint);
    }
    let local = if ipv6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    };
    let endpoint = quic::endpoint(wrap_socket(local, settings)?, settings, None)
        .map_err(|e| Error::with(Kind::Io, "failed to create the QUIC endpoint", e))?;
    let endpoint = Arc::new(endpoint);
    shared.push((key, Arc::downgrade(&endpoint)));
    // Outlive the channels a little, so connecting again soon reuses the endpoint; it is
    // closed once no channel has used it for a while (or when the runtime shuts down).
    let keep = endpoint.clone();
    handle.spawn(async move {
        loop {
            tokio::time::sleep(SHARED_LINGER).await;
            if Arc::strong_count(&keep) == 1 {
                break;
            }
        }
    });
    Ok(endpoint)
}

/// How long an unused shared client endpoint is kept for reuse.
const SHARED_LINGER: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        let e = Endpoint::new("localhost:50051").unwrap();
        assert_eq!((e.host(), e.port()), ("localhost", 50051));
        let e = Endpoint::new("https://[::1]:443/").unwrap();
        assert_eq!((e.host(), e.port()), ("::1", 443));
        let e = Endpoint::new("127.0.0.1:1").unwrap();
        assert_eq!(e.host(), "127.0.0.1");
        for bad in ["", "host", ":80", "host:", "host:99999", "host:x"] {
            assert!(
                Endpoint::new(bad).unwrap_err().is_invalid_address(),
                "{bad}"
            );
        }
    }
}
