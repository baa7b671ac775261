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

    /// How long connecting may take: the QUIC and TLS handshake (default 10 s, 2 s to a
    /// loopback address; the same setting as `handshake_timeout`). A server that is not
    /// running usually does not answer UDP at all, so this is how soon connecting to it
    /// fails.
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.handshake_timeout(timeout)
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

    /// Connects to the first of `addrs` to complete a handshake. Attempts start one after
    /// the other, each when the previous one failed or after 250 ms (Happy Eyeballs,
    /// RFC 8305), so a name whose first address is dead (`localhost` as `::1` for a server
    /// on 127.0.0.1) still connects at once. `current` is reused when its address family
    /// fits. Returns the connection and the endpoint it was made from.
    pub(crate) async fn connect_any(
        &self,
        addrs: &[SocketAddr],
        current: Option<&ClientEndpoint>,
    ) -> Result<(quinn::Connection, ClientEndpoint), Error> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let attempt = |addr: SocketAddr| async move {
            let endpoint = match current {
                Some(e) if self.fits(e, addr) => e.clone(),
                _ => self.client_endpoint(addr)?,
            };
            let conn = self.handshake(&endpoint, addr).await?;
            Ok::<_, Error>((conn, endpoint))
        };
        let mut pending = addrs.iter().copied();
        let mut attempts = FuturesUnordered::new();
        let mut last = None;
        loop {
            if attempts.is_empty() {
                match pending.next() {
                    Some(addr) => attempts.push(attempt(addr)),
                    None => return Err(self.no_connection(addrs, last)),
                }
            }
            let stagger = tokio::time::sleep(HAPPY_EYEBALLS_DELAY);
            tokio::select! {
                Some(result) = attempts.next() => match result {
                    Ok(connected) => return Ok(connected),
                    Err(e) => last = Some(e),
                },
                () = stagger => {
                    if let Some(addr) = pending.next() {
                        attempts.push(attempt(addr));
                    }
                }
            }
        }
    }

    /// Whether a connection to `addr` can go out of `endpoint`'s socket.
    fn fits(&self, endpoint: &ClientEndpoint, addr: SocketAddr) -> bool {
        let local = endpoint.local_addr().ok();
        local.is_some_and(|local| self.has_own_socket() || local.is_ipv4() == addr.is_ipv4())
    }

    /// The error when no address answered: the last attempt's, naming every address tried.
    fn no_connection(&self, addrs: &[SocketAddr], last: Option<Error>) -> Error {
        let last = last.unwrap_or_else(|| Error::new(Kind::Connect, "no address to try"));
        if addrs.len() < 2 {
            return last;
        }
        let tried: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        let message = format!("{}:{} ({}): {last}", self.host, self.port, tried.join(", "));
        Error::told(last.kind(), message, last)
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
        let timeout = self.settings.handshake_timeout_for(Some(addr));
        match tokio::time::timeout(timeout, connecting).await {
            Err(_) => Err(Error::new(
                Kind::Timeout,
                format!(
                    "no handshake with {addr} within {timeout:?}: is the server running, and \
                     listening on UDP (QUIC)? (raise the wait with Endpoint::connect_timeout)"
                ),
            )),
            Ok(Err(e)) => {
                let kind = if quic::is_handshake_failure(&e) {
                    Kind::Handshake
                } else {
                    Kind::Connect
                };
                let described = quic::describe_connection_error(&e);
                let msg = format!(
                    "failed to connect to {addr} ({server_name}): {described}{}",
                    certificate_hint(&described, addr)
                );
                Err(Error::told(kind, msg, e))
            }
            Ok(Ok(conn)) => Ok(conn),
        }
    }

    /// Every address of the endpoint's host, alternating address families from the first
    /// (RFC 8305 §4), so a dead first family costs one attempt, not all of its addresses.
    pub(crate) async fn resolve(&self) -> Result<Vec<SocketAddr>, Error> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                Error::with(
                    Kind::InvalidAddress,
                    format!("cannot resolve {}", self.host),
                    e,
                )
            })?
            .collect();
        if addrs.is_empty() {
            return Err(Error::new(
                Kind::InvalidAddress,
                format!("{} resolved to no address", self.host),
            ));
        }
        Ok(interleave(addrs))
    }
}

/// How long an attempt runs alone before the next address is tried too (RFC 8305 §5).
const HAPPY_EYEBALLS_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// `addrs` with the address families alternating, starting with the first one's, each
/// family in its resolver order; duplicates dropped.
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs[0].is_ipv6();
    let (mut first, mut second): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    first.dedup();
    second.dedup();
    let mut out = Vec::with_capacity(first.len() + second.len());
    let (mut a, mut b) = (first.into_iter(), second.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

/// What to do about a certificate the client did not trust, when that is the failure.
fn certificate_hint(described: &str, addr: SocketAddr) -> String {
    let untrusted = [
        "UnknownIssuer",
        "BadSignature",
        "UnknownCA",
        "invalid peer certificate",
    ];
    if !untrusted.iter().any(|s| described.contains(s)) || described.contains("NotValidForName") {
        return String::new();
    }
    let mut hint = String::from(
        "; the server's certificate is not signed by a root this client trusts: add its CA \
         with ClientTlsConfig::ca_certificate",
    );
    if addr.ip().is_loopback() {
        hint.push_str(
            " (for a server using tls::dev::SelfSigned, connect with that certificate's \
             client_config())",
        );
    }
    hint
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

    #[test]
    fn addresses_alternate_families_from_the_first() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let resolved = vec![a("[::1]:1"), a("[::2]:1"), a("127.0.0.1:1"), a("[::1]:1")];
        assert_eq!(
            interleave(resolved),
            [a("[::1]:1"), a("127.0.0.1:1"), a("[::2]:1"), a("[::1]:1")]
        );
        assert_eq!(interleave(vec![a("10.0.0.1:1")]), [a("10.0.0.1:1")]);
    }

    /// A dead first address does not hold up a live second one (`localhost` as `::1` for a
    /// server on 127.0.0.1).
    #[tokio::test]
    async fn every_address_is_tried() {
        use crate::tls::dev::SelfSigned;
        use std::time::Duration;
        let cert = SelfSigned::generate(&["localhost"]).unwrap();
        let server = crate::Server::builder()
            .tls_config(cert.server_config().unwrap())
            .bind("127.0.0.1:0".parse().unwrap())
            .unwrap();
        let live = server.local_addr();
        let handle = server.handle();
        let serving = tokio::spawn(server.serve());
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead = silent.local_addr().unwrap();

        let endpoint = Endpoint::new(format!("localhost:{}", live.port()))
            .unwrap()
            .tls_config(cert.client_config());
        // The dead address alone would take the whole minute: the live one is tried meanwhile.
        let patient = endpoint.clone().connect_timeout(Duration::from_secs(60));
        let addrs = [dead, live];
        let attempt = patient.connect_any(&addrs, None);
        let (conn, _) = tokio::time::timeout(Duration::from_secs(20), attempt)
            .await
            .expect("the second address was not tried while the first hung")
            .unwrap();
        assert_eq!(conn.remote_address(), live);

        // Every address dead: the error names them all.
        let err = endpoint
            .clone()
            .connect_timeout(Duration::from_millis(100))
            .connect_any(&[dead, dead], None)
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(
            err.to_string().contains(&format!("({dead}, {dead})")),
            "{err}"
        );
        handle.shutdown();
        serving.await.unwrap();
    }
}
