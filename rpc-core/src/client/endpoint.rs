//! [`Endpoint`]: where and how to connect.

use super::{BackoffConfig, Channel};
use crate::config::{settings_setters, Settings};
use crate::error::{Error, Kind};
use crate::interceptor::{Interceptor, Interceptors};
use crate::tls::ClientTlsConfig;
use crate::transport::erased::DynConnector;
use crate::transport::{quic, Connector};
use std::net::SocketAddr;
use std::sync::Arc;
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
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: ClientTlsConfig,
    pub(crate) settings: Settings,
    pub(crate) timeout: Option<Duration>,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) socket: Option<Arc<dyn quic::AsyncUdpSocket>>,
    pub(crate) interceptors: Interceptors,
    /// The QUIC client config built from `tls` and `settings`, shared by every connection
    /// made from this endpoint and its clones: certificates are loaded once and TLS sessions
    /// are resumed on reconnects. Rebuilt when the settings differ.
    pub(crate) client_config: quic::client::ConfigCache,
    /// Makes the connections instead of QUIC, when set.
    pub(crate) connector: Option<Arc<dyn DynConnector>>,
    /// Pauses between connection attempts after failures.
    pub(crate) backoff: BackoffConfig,
    /// Whether calls wait for a connection by default (`WaitForReady`).
    pub(crate) wait_for_ready: bool,
    /// Retry and hedging policies for generated clients' calls (`service_config`).
    pub(crate) retry: Option<super::retry::ChannelRetry>,
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
            client_config: Default::default(),
            connector: None,
            backoff: BackoffConfig::default(),
            wait_for_ready: false,
            retry: None,
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
        self.client_config = Default::default();
        self
    }

    /// Default timeout of every call on the channel, from start to the last response: a
    /// deadline for the whole call, so it also ends long streams (a server stream still
    /// running when it passes ends with `DEADLINE_EXCEEDED`). A request's own timeout
    /// overrides it ([`Request::set_timeout`](crate::Request::set_timeout)), and
    /// [`Request::clear_timeout`](crate::Request::clear_timeout) lifts it for one call. For
    /// how long connecting may take, see [`Endpoint::connect_timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long connecting may take: the QUIC and TLS handshake (default: the backoff's
    /// minimum connect timeout, 20 s as in gRPC, or 2 s to a loopback address; the same
    /// setting as `handshake_timeout`). A server that is not running usually does not answer
    /// UDP at all, so this is how soon connecting to it fails.
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.handshake_timeout(timeout)
    }

    /// The pauses between connection attempts after failures (default gRPC's: 1 s, x1.6,
    /// ±20 % jitter, at most 120 s; see [`BackoffConfig`]). During a pause the channel is in
    /// [`TransientFailure`](super::ConnectivityState::TransientFailure): calls fail fast
    /// with `Unavailable`, or wait for the next attempt if they wait for ready.
    pub fn connect_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// Whether calls wait for a connection (through failed attempts and their backoff, up to
    /// their deadline) instead of failing fast with `Unavailable` while the channel is in
    /// `TransientFailure` (default `false`, gRPC's fail fast). A call's own
    /// [`WaitForReady`](super::WaitForReady) extension overrides it.
    pub fn wait_for_ready(mut self, wait: bool) -> Self {
        self.wait_for_ready = wait;
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

    /// Sends and receives through a socket you provide: any
    /// [`AsyncUdpSocket`](quic::AsyncUdpSocket), for
    /// example one that simulates loss and delay in tests. Reconnects reuse it.
    pub fn udp_socket(mut self, socket: Arc<dyn quic::AsyncUdpSocket>) -> Self {
        self.socket = Some(socket);
        self
    }

    /// Sends calls in 0-RTT data when resuming a TLS session with a server that allows it
    /// (default off): only unary and server-streaming calls whose request is marked
    /// idempotent ([`Request::set_idempotent`](crate::Request::set_idempotent), set by
    /// generated clients from `idempotency_level`), one round trip sooner; other calls wait
    /// for the handshake. Calls the server turns down (early data rejected, or refused as
    /// `TOO_EARLY`) are sent again after the handshake (PROTOCOL.md §3.5).
    ///
    /// Off by default because early data can be replayed by anyone who captured it (RFC 9001
    /// §9.2): an idempotent call may then run more than once. With it on, connecting returns
    /// before the handshake completes when a session is resumed; a failed handshake then
    /// shows up as the calls' `Unavailable`.
    pub fn zero_rtt(mut self, enabled: bool) -> Self {
        self.settings.zero_rtt = enabled;
        self
    }

    /// Retries and hedges, by method, the calls generated clients make over this endpoint's
    /// channels, as gRPC's service config JSON says (see [`retry`](super::retry)): what
    /// `FooClient::new(ServiceBuilder::new().layer(RetryLayer::from_service_config(json)?)
    /// .service(channel))` does, with the client's type unchanged (`FooClient<Channel>`).
    /// The config is checked now: a bad one is an error here, not at a call. Each channel
    /// has its own retry throttle. Calls made with [`Channel`]'s own methods
    /// ([`Channel::unary`]...) are not retried.
    pub fn service_config(self, json: &str) -> Result<Self, super::retry::ConfigError> {
        Ok(self.retry_layer(super::retry::RetryLayer::from_service_config(json)?))
    }

    /// The same with a [`RetryLayer`](super::retry::RetryLayer) built in code.
    pub fn retry_layer(mut self, layer: super::retry::RetryLayer) -> Self {
        self.retry = Some(layer.for_channel());
        self
    }

    /// A copy for a new channel: its own retry throttle.
    fn for_channel(&self) -> Endpoint {
        let mut config = self.clone();
        if let Some(retry) = &mut config.retry {
            *retry = retry.fresh();
        }
        config
    }

    /// What protects this endpoint's QUIC connections (its TLS settings and host).
    pub(crate) fn quic_security(&self) -> crate::transport::Security {
        self.tls.security_for(&self.host)
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
        let channel = Channel::new(self.for_channel());
        channel.connect_now().await?;
        Ok(channel)
    }

    /// A channel that connects on its first call (and reconnects after a loss), so it can be
    /// created before the server is up. Connection errors then surface as `Unavailable`
    /// statuses of the calls.
    pub fn connect_lazy(&self) -> Channel {
        Channel::new(self.for_channel())
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
