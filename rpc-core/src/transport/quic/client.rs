//! Connecting over QUIC: resolving, choosing a client endpoint (a UDP socket), racing the
//! handshakes of every address (Happy Eyeballs), and the errors that say what went wrong.

use super::{endpoint, AnyConn};
use crate::client::Endpoint;
use crate::config::Settings;
use crate::error::{Error, Kind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};

/// The QUIC client config built from an [`Endpoint`]'s TLS and settings, shared by its clones:
/// certificates are loaded once and TLS sessions are resumed on reconnects. Rebuilt when the
/// settings differ.
#[derive(Clone, Default)]
pub(crate) struct ConfigCache(Arc<Mutex<Option<(Settings, quinn::ClientConfig)>>>);

impl std::fmt::Debug for ConfigCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigCache")
    }
}

/// A connection resumed in 0-RTT whose handshake may not be complete: turns `true` once it
/// is (or failed, or timed out: the connection is then closed).
pub(crate) type Handshake = tokio::sync::watch::Receiver<bool>;

/// A connection made, and its handshake to watch when it was resumed in 0-RTT.
type Connected = (quinn::Connection, Option<Handshake>);

/// A channel's QUIC connector: the client endpoint its last connection came from, reused by
/// the next when it fits.
#[derive(Default, Clone)]
pub(crate) struct Dialer {
    endpoint: Option<ClientEndpoint>,
}

impl Dialer {
    /// A new connection to `config`'s host.
    ///
    /// # Cancel safety
    /// Cancel safe: an abandoned handshake leaves nothing behind.
    /// With 0-RTT, the connection comes before its handshake completes, with the
    /// [`Handshake`] to watch.
    pub(crate) async fn connect(
        &mut self,
        config: &Endpoint,
    ) -> Result<(AnyConn, Option<Handshake>), Error> {
        let (conn, handshake) = self.connect_quinn(config).await?;
        Ok((AnyConn::Quic(conn), handshake))
    }

    /// [`connect`](Self::connect), the quinn connection itself.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub(crate) async fn connect_quinn(&mut self, config: &Endpoint) -> Result<Connected, Error> {
        let addrs = config.resolve().await?;
        let (connected, endpoint) = config.connect_any(&addrs, self.endpoint.as_ref()).await?;
        self.endpoint = Some(endpoint);
        Ok(connected)
    }

    /// Moves the client endpoint of the last connection to `socket`: its connections carry
    /// on from the new address (QUIC connection migration, RFC 9000 §9). `Ok(false)` when
    /// there is no endpoint yet.
    pub(crate) fn rebind(&self, socket: std::net::UdpSocket) -> std::io::Result<bool> {
        match &self.endpoint {
            Some(endpoint) => endpoint.rebind(socket).map(|()| true),
            None => Ok(false),
        }
    }

    /// Waits until the connections' closes have reached their peers (bounded by the idle
    /// timeout). The future owns what it waits on, so no lock is held meanwhile.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub(crate) fn wait_idle(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let endpoint = self.endpoint.clone();
        async move {
            if let Some(endpoint) = endpoint {
                endpoint.wait_idle().await;
            }
        }
    }
}

impl Endpoint {
    /// The QUIC client endpoint to connect to `addr` from: the socket given to
    /// [`Endpoint::udp_socket`] or bound at [`Endpoint::local_address`], else one shared by
    /// every channel on this tokio runtime with the same socket settings (like a browser, one
    /// UDP socket for many connections: its receive buffers are large, and setting them up
    /// dominates the cost of a connection).
    fn client_endpoint(&self, addr: SocketAddr) -> Result<ClientEndpoint, Error> {
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
        let endpoint = endpoint(socket, &self.settings, None, None)
            .map_err(|e| Error::with(Kind::Io, "failed to create the QUIC endpoint", e))?;
        Ok(Arc::new(endpoint))
    }

    /// The QUIC client config (TLS and transport), built once per endpoint and settings.
    fn quinn_client_config(&self) -> Result<quinn::ClientConfig, Error> {
        let mut cached = self
            .client_config
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((settings, config)) = cached.as_ref() {
            if *settings == self.settings {
                return Ok(config.clone());
            }
        }
        let crypto = super::client_crypto(&self.tls, self.settings.zero_rtt)?;
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
    async fn connect_any(
        &self,
        addrs: &[SocketAddr],
        current: Option<&ClientEndpoint>,
    ) -> Result<(Connected, ClientEndpoint), Error> {
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
    /// With 0-RTT on and a session to resume, returns at once (PROTOCOL.md §3.5).
    async fn handshake(
        &self,
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
    ) -> Result<Connected, Error> {
        let server_name = self.tls.domain().unwrap_or(&self.host).to_owned();
        let mut config = self.quinn_client_config()?;
        let settings = &self.settings;
        if let Some(mtu) = super::pmtu::initial_for(
            addr.ip(),
            settings.initial_mtu,
            settings.max_udp_payload_size,
        ) {
            // An earlier connection measured this path: start there (transport::quic::pmtu).
            let mut learned = settings.clone();
            learned.initial_mtu = mtu;
            config.transport_config(learned.transport(false));
        }
        let mut connecting = endpoint
            .connect_with(config, addr, &server_name)
            .map_err(|e| Error::with(Kind::Connect, format!("cannot connect to {addr}"), e))?;
        // As set; else 2 s to a loopback address, else the backoff's minimum connect
        // timeout (gRPC's 20 s).
        let timeout = match self.settings.handshake_timeout {
            Some(timeout) => timeout,
            None if addr.ip().is_loopback() => self.settings.handshake_timeout_for(Some(addr)),
            None => self.backoff.min_connect_timeout,
        };
        if self.settings.zero_rtt {
            match connecting.into_0rtt() {
                Ok((conn, accepted)) => {
                    let handshake = watch_handshake(&conn, accepted, timeout);
                    return Ok((conn, Some(handshake)));
                }
                // No session to resume: a full handshake.
                Err(full) => connecting = full,
            }
        }
        match tokio::time::timeout(timeout, connecting).await {
            Err(_) => Err(Error::new(
                Kind::Timeout,
                format!(
                    "no handshake with {addr} within {timeout:?}: is the server running, and \
                     listening on UDP (QUIC)? (raise the wait with Endpoint::connect_timeout)"
                ),
            )),
            Ok(Err(e)) => {
                let kind = if super::is_handshake_failure(&e) {
                    Kind::Handshake
                } else {
                    Kind::Connect
                };
                let described = super::describe_connection_error(&e);
                let msg = format!(
                    "failed to connect to {addr} ({server_name}): {described}{}",
                    certificate_hint(&described, addr)
                );
                Err(Error::told(kind, msg, e))
            }
            Ok(Ok(conn)) => Ok((conn, None)),
        }
    }

    /// Every address of the endpoint's host, alternating address families from the first
    /// (RFC 8305 §4), so a dead first family costs one attempt, not all of its addresses.
    async fn resolve(&self) -> Result<Vec<SocketAddr>, Error> {
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

/// Watches the handshake of a connection resumed in 0-RTT: it still has `timeout` to
/// complete, as any handshake (the connection is closed otherwise).
fn watch_handshake(
    conn: &quinn::Connection,
    accepted: quinn::ZeroRttAccepted,
    timeout: std::time::Duration,
) -> Handshake {
    let (done, handshake) = tokio::sync::watch::channel(false);
    let conn = conn.clone();
    tokio::spawn(async move {
        if tokio::time::timeout(timeout, accepted).await.is_err() {
            conn.close(
                super::code(crate::wire::ErrorCode::NO_ERROR),
                b"handshake timed out",
            );
        }
        let _ = done.send(true);
    });
    handshake
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

/// A QUIC client endpoint, shared by the channels that use it.
pub(crate) type ClientEndpoint = Arc<quinn::Endpoint>;

fn wrap_socket(
    local: SocketAddr,
    settings: &Settings,
) -> Result<Arc<dyn quinn::AsyncUdpSocket>, Error> {
    let socket = super::bind(local, settings)
        .map_err(|e| Error::with(Kind::Io, format!("failed to bind {local}"), e))?;
    super::runtime()
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
    let endpoint = endpoint(wrap_socket(local, settings)?, settings, None, None)
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
        let ((conn, _), _) = tokio::time::timeout(Duration::from_secs(20), attempt)
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
