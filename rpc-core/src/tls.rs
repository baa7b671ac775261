//! TLS 1.3 configuration for QUIC: certificates, keys, root stores, client certificates and
//! certificate rotation.
//!
//! Certificate verification is always on. Clients trust the Mozilla root set by default
//! (through `webpki-roots`) plus any CA you add; for local development, the [`dev`] module
//! makes a self-signed certificate that a client then trusts explicitly, or a small CA.
//!
//! # Client certificates (mutual TLS)
//!
//! A server asks clients for a certificate when given the roots to verify them with
//! ([`ServerTlsConfig::client_ca_root`]): then a client without a valid one is refused in the
//! handshake, or, with [`ServerTlsConfig::client_auth_optional`], let in without an identity.
//! A client presents one with [`ClientTlsConfig::identity`]. Handlers, interceptors and layers
//! read the verified [`PeerIdentity`] (chain, SAN DNS names and URIs such as SPIFFE IDs,
//! common name) from [`Request::peer_identity`](crate::Request::peer_identity) or
//! [`ServerCall::peer_identity`](crate::server::ServerCall::peer_identity); it is parsed once
//! per connection.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rpc_core::tls::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
//! use rpc_core::{Endpoint, Server};
//!
//! let ca = Certificate::from_pem_file("ca.pem")?;
//! let server_tls = ServerTlsConfig::new(Identity::from_pem_files("server.pem", "server.key")?)
//!     .client_ca_root(ca.clone());
//! let server = Server::builder()
//!     .tls_config(server_tls)
//!     // .add_service(..), whose handlers call `request.peer_identity()`
//!     .bind("127.0.0.1:50051".parse()?)?;
//!
//! let client_tls = ClientTlsConfig::new()
//!     .ca_certificate(ca)
//!     .identity(Identity::from_pem_files("client.pem", "client.key")?);
//! let channel = Endpoint::new("localhost:50051")?.tls_config(client_tls).connect().await?;
//! # drop((server, channel)); Ok(()) }
//! ```
//!
//! # Rotation
//!
//! Both configs present their identity through a [`CertReloader`]
//! ([`ServerTlsConfig::reloader`], [`ClientTlsConfig::reloader`]): a new certificate applies to
//! the next handshake while established connections keep working.
//! [`ServerTlsConfig::watch_files`] reloads PEM files when they change on disk.

mod peer;
mod reload;

pub use peer::PeerIdentity;
pub use reload::CertReloader;

use crate::wire::ALPN;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// TLS setup errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM input could not be read or parsed.
    #[error("invalid PEM in {what}: {reason}")]
    Pem {
        /// Which input.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// A PEM input had no certificate.
    #[error("no certificate found in {0}")]
    NoCertificate(String),
    /// rustls refused the configuration (for example, a key that does not match).
    #[error("tls configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    /// The roots given to verify client certificates are unusable (none, or invalid).
    #[error("cannot verify client certificates: {0}")]
    ClientRoots(#[from] rustls::server::VerifierBuilderError),
    /// A certificate could not be parsed.
    #[error("invalid certificate: {0}")]
    Certificate(String),
    /// Generating a development certificate failed.
    #[error("failed to generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn pem_err(what: &str, e: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        what: what.to_owned(),
        reason: e.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// One or more X.509 certificates (a chain, or a set of trusted roots).
#[derive(Debug, Clone)]
pub struct Certificate {
    ders: Vec<CertificateDer<'static>>,
}

impl Certificate {
    /// Parses every `CERTIFICATE` block of a PEM text.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, TlsError> {
        let ders = CertificateDer::pem_slice_iter(pem.as_ref())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err("certificate", e))?;
        if ders.is_empty() {
            return Err(TlsError::NoCertificate("certificate PEM".into()));
        }
        Ok(Certificate { ders })
    }

    /// Reads a PEM file.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        Self::from_pem(read(path.as_ref())?)
    }

    /// A certificate from DER bytes.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Self {
        Certificate {
            ders: vec![CertificateDer::from(der.into())],
        }
    }
}

/// A certificate chain and its private key: what a server presents, and a client too for
/// mutual TLS.
#[derive(Debug)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Identity {
    /// From a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1).
    pub fn from_pem(cert: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Result<Self, TlsError> {
        let chain = Certificate::from_pem(cert)?.ders;
        let key =
            PrivateKeyDer::from_pem_slice(key.as_ref()).map_err(|e| pem_err("private key", e))?;
        Ok(Identity { chain, key })
    }

    /// Reads a PEM certificate chain file and a PEM private key file.
    pub fn from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        Self::from_pem(read(cert_path.as_ref())?, read(key_path.as_ref())?)
    }
}

/// Server TLS settings: the certificate it presents, and whether it asks clients for one.
///
/// Clones share one [`CertReloader`]: reloading through one reloads them all.
#[derive(Debug, Clone)]
pub struct ServerTlsConfig {
    identity: Identity,
    reloader: CertReloader,
    client_roots: Vec<CertificateDer<'static>>,
    client_auth_optional: bool,
}

impl ServerTlsConfig {
    /// Presents `identity` to clients, and asks for no client certificate.
    pub fn new(identity: Identity) -> Self {
        ServerTlsConfig {
            identity,
            reloader: CertReloader::default(),
            client_roots: Vec::new(),
            client_auth_optional: false,
        }
    }

    /// Asks every client for a certificate and verifies it against `ca` (one or more roots;
    /// call again to add more): mutual TLS. A client without a valid certificate is refused
    /// in the handshake, unless [`client_auth_optional`](Self::client_auth_optional) is set.
    pub fn client_ca_root(mut self, ca: Certificate) -> Self {
        self.client_roots.extend(ca.ders);
        self
    }

    /// With [`client_ca_root`](Self::client_ca_root): lets clients in without a certificate
    /// too (their calls see no [`PeerIdentity`]); a certificate they do present must still
    /// verify. Default false.
    pub fn client_auth_optional(mut self, optional: bool) -> Self {
        self.client_auth_optional = optional;
        self
    }

    /// The handle that replaces the certificate for new handshakes while the server runs.
    pub fn reloader(&self) -> CertReloader {
        self.reloader.clone()
    }

    /// Reloads the identity from the PEM files `cert` and `key` whenever they change
    /// (polled every `interval`; see [`CertReloader::watch_files`]), for as long as a server
    /// uses this config. Load the first identity from the same files.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn watch_files(
        self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
        interval: Duration,
    ) -> Self {
        // Detached: the watch ends by itself once the config and its servers are gone.
        drop(self.reloader.watch_files(cert, key, interval));
        self
    }

    /// The rustls server config this describes (TLS 1.3, the certificate, client
    /// verification), for serving another protocol over TCP with the same settings (gRPC
    /// over HTTP/2, say): its ALPN list holds `qrpc/1`, which such a caller replaces.
    pub fn to_rustls(&self) -> Result<rustls::ServerConfig, TlsError> {
        self.rustls()
    }

    /// Whether clients are asked for a certificate (mutual TLS).
    pub(crate) fn requests_client_certificates(&self) -> bool {
        !self.client_roots.is_empty()
    }

    /// The rustls config: TLS 1.3 only, with the protocol's ALPN.
    pub(crate) fn rustls(&self) -> Result<rustls::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        self.reloader.init(&self.identity)?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?;
        let builder = match self.client_verifier(provider)? {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        let mut cfg = builder.with_cert_resolver(self.reloader.server_resolver());
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        Ok(cfg)
    }

    fn client_verifier(
        &self,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>, TlsError> {
        if self.client_roots.is_empty() {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        for der in &self.client_roots {
            roots.add(der.clone())?;
        }
        let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let builder = if self.client_auth_optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        Ok(Some(builder.build()?))
    }
}

/// Client TLS settings: which roots to trust and which name to verify.
#[derive(Debug, Clone)]
pub struct ClientTlsConfig {
    roots: Vec<CertificateDer<'static>>,
    webpki_roots: bool,
    domain: Option<String>,
    /// Made by the development helper (`dev::SelfSigned::client_config`).
    dev: bool,
    identity: Option<Identity>,
    reloader: CertReloader,
}

impl Default for ClientTlsConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientTlsConfig {
    /// Trusts the Mozilla root set; verifies the host name of the endpoint address.
    pub fn new() -> Self {
        ClientTlsConfig {
            roots: Vec::new(),
            webpki_roots: true,
            domain: None,
            dev: false,
            identity: None,
            reloader: CertReloader::default(),
        }
    }

    /// Also trusts `ca` (a private CA, or a development certificate).
    pub fn ca_certificate(mut self, ca: Certificate) -> Self {
        self.roots.extend(ca.ders);
        self
    }

    /// Whether to trust the built-in Mozilla root set (default true). Turn it off to trust
    /// only the certificates given with [`ClientTlsConfig::ca_certificate`].
    pub fn with_webpki_roots(mut self, enabled: bool) -> Self {
        self.webpki_roots = enabled;
        self
    }

    /// The name to verify in the server's certificate, when it differs from the host of the
    /// address you connect to (for example when connecting to an IP address).
    pub fn domain_name(mut self, name: impl Into<String>) -> Self {
        self.domain = Some(name.into());
        self
    }

    /// What this configuration protects a connection to `host` with, as a
    /// [`Connector`](crate::transport::Connector) built on it reports
    /// ([`Connector::security`](crate::transport::Connector::security)): `Verified`, or, for a
    /// development certificate's configuration, `DevLoopback` when `host` is a loopback
    /// address or `localhost` and `DevRemote` otherwise. For transports of your own over TLS.
    ///
    /// ```
    /// use rpc_core::{tls::ClientTlsConfig, transport::Security};
    /// assert_eq!(ClientTlsConfig::new().security_for("example.com"), Security::Verified);
    /// let dev = rpc_core::tls::dev::SelfSigned::loopback().unwrap().client_config();
    /// assert_eq!(dev.security_for("127.0.0.1"), Security::DevLoopback);
    /// assert_eq!(dev.security_for("10.0.0.7"), Security::DevRemote);
    /// ```
    pub fn security_for(&self, host: &str) -> crate::transport::Security {
        use crate::transport::Security;
        if !self.dev {
            Security::Verified
        } else if is_loopback(host) {
            Security::DevLoopback
        } else {
            Security::DevRemote
        }
    }

    /// Presents `identity` to servers that ask for a client certificate (mutual TLS; see
    /// [`ServerTlsConfig::client_ca_root`]).
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        // Its own reloader: clones of one base config given different identities must not
        // share (and overwrite) one current identity.
        self.reloader = CertReloader::default();
        self
    }

    /// The handle that replaces the client identity for new connections (reconnects
    /// included). Clones of this config share it; [`identity`](Self::identity) starts a new
    /// one, so take it after setting the identity.
    pub fn reloader(&self) -> CertReloader {
        self.reloader.clone()
    }

    pub(crate) fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The name to verify in the server's certificate, when set with
    /// [`domain_name`](Self::domain_name).
    pub fn server_name(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The rustls client config this describes (TLS 1.3, the trusted roots, the client
    /// identity), for another protocol over TCP (gRPC over HTTP/2, say): its ALPN list holds
    /// `qrpc/1`, which such a caller replaces.
    pub fn to_rustls(&self) -> Result<rustls::ClientConfig, TlsError> {
        self.rustls()
    }

    /// The rustls config: TLS 1.3 only, the trusted roots, the protocol's ALPN.
    pub(crate) fn rustls(&self) -> Result<rustls::ClientConfig, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for der in &self.roots {
            roots.add(der.clone())?;
        }
        if let Some(identity) = &self.identity {
            self.reloader.init(identity)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_client_cert_resolver(self.reloader.client_resolver());
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        Ok(cfg)
    }
}

pub mod dev {
    //! Development certificates. **Not for production.**
    //!
    //! [`SelfSigned::generate`] makes a fresh self-signed certificate for the names you give.
    //! A client trusts it by adding [`SelfSigned::certificate`] as a CA: verification stays on,
    //! the client just trusts this one certificate. [`SelfSigned::loopback`] keeps one on disk
    //! (in the system temporary folder) so a server and a client started separately on the same
    //! machine share it, which is what the examples do. [`DevCa`] is a small certificate
    //! authority, for trying mutual TLS: the certificates it issues ([`Issued`]) carry the
    //! names you give, SPIFFE IDs included.
    use super::*;

    /// A self-signed certificate and its key.
    #[derive(Debug, Clone)]
    pub struct SelfSigned {
        cert_pem: String,
        key_pem: String,
    }

    impl SelfSigned {
        /// Generates a certificate valid for `names` (DNS names or IP addresses).
        pub fn generate(names: &[&str]) -> Result<Self, TlsError> {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let ck = rcgen::generate_simple_self_signed(names)?;
            Ok(SelfSigned {
                cert_pem: ck.cert.pem(),
                key_pem: ck.signing_key.serialize_pem(),
            })
        }

        /// A certificate for `localhost`, `127.0.0.1` and `::1`, kept in
        /// `$TMPDIR/rpc-core-dev/` and made on first use.
        pub fn loopback() -> Result<Self, TlsError> {
            Self::load_or_generate(&std::env::temp_dir().join("rpc-core-dev"))
        }

        /// Loads `cert.pem` and `key.pem` from `dir`, or generates and writes them.
        pub fn load_or_generate(dir: &Path) -> Result<Self, TlsError> {
            let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
            if let (Ok(cert_pem), Ok(key_pem)) = (
                std::fs::read_to_string(&cert_path),
                std::fs::read_to_string(&key_path),
            ) {
                let me = SelfSigned { cert_pem, key_pem };
                if me.identity().is_ok() {
                    return Ok(me);
                }
            }
            let me = Self::generate(&["localhost", "127.0.0.1", "::1"])?;
            let io = |path: &Path| {
                let path = path.display().to_string();
                move |source| TlsError::Io { path, source }
            };
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            // Write to a unique name then rename, so concurrent first uses do not interleave.
            let tmp = dir.join(format!("key.pem.{}", std::process::id()));
            write_private(&tmp, &me.key_pem).map_err(io(&tmp))?;
            let tmp_cert = dir.join(format!("cert.pem.{}", std::process::id()));
            std::fs::write(&tmp_cert, &me.cert_pem).map_err(io(&tmp_cert))?;
            // Key first: a reader that finds the new certificate also finds its key.
            std::fs::rename(&tmp, &key_path).map_err(io(&key_path))?;
            std::fs::rename(&tmp_cert, &cert_path).map_err(io(&cert_path))?;
            // Another process may have won the race; use what is on disk now.
            Self::load_or_generate_once(dir).or(Ok(me))
        }

        fn load_or_generate_once(dir: &Path) -> Result<Self, TlsError> {
            let cert_pem =
                std::fs::read_to_string(dir.join("cert.pem")).map_err(|source| TlsError::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
            let key_pem =
                std::fs::read_to_string(dir.join("key.pem")).map_err(|source| TlsError::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
            let me = SelfSigned { cert_pem, key_pem };
            me.identity()?;
            Ok(me)
        }

        /// The server side: certificate and key.
        pub fn identity(&self) -> Result<Identity, TlsError> {
            Identity::from_pem(&self.cert_pem, &self.key_pem)
        }

        /// The client side: the certificate to trust.
        pub fn certificate(&self) -> Certificate {
            Certificate::from_pem(&self.cert_pem).expect("generated certificate parses")
        }

        /// A server configuration presenting this certificate.
        pub fn server_config(&self) -> Result<ServerTlsConfig, TlsError> {
            Ok(ServerTlsConfig::new(self.identity()?))
        }

        /// A client configuration trusting only this certificate. Its channels report
        /// [`Security::DevLoopback`](crate::transport::Security::DevLoopback) (or `DevRemote`
        /// away from loopback), so credential layers can keep tokens off them.
        pub fn client_config(&self) -> ClientTlsConfig {
            let mut config = ClientTlsConfig::new()
                .with_webpki_roots(false)
                .ca_certificate(self.certificate());
            config.dev = true;
            config
        }

        /// The certificate, PEM-encoded.
        pub fn cert_pem(&self) -> &str {
            &self.cert_pem
        }

        /// The private key, PEM-encoded.
        pub fn key_pem(&self) -> &str {
            &self.key_pem
        }
    }

    /// A development certificate authority, to try mutual TLS: it issues server and client
    /// certificates that servers and clients trusting [`DevCa::certificate`] accept.
    pub struct DevCa {
        issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
        cert_pem: String,
    }

    impl std::fmt::Debug for DevCa {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("DevCa").finish_non_exhaustive()
        }
    }

    impl DevCa {
        /// A new CA whose certificate's common name is `name`.
        pub fn generate(name: &str) -> Result<Self, TlsError> {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.key_usages = vec![
                rcgen::KeyUsagePurpose::KeyCertSign,
                rcgen::KeyUsagePurpose::CrlSign,
            ];
            let key = rcgen::KeyPair::generate()?;
            let cert_pem = params.self_signed(&key)?.pem();
            Ok(DevCa {
                issuer: rcgen::Issuer::new(params, key),
                cert_pem,
            })
        }

        /// Issues a certificate for `common_name` and `names`, for a server or a client: each
        /// name becomes a subject alternative name, a URI when it has a scheme
        /// (`spiffe://example.org/alice`), an IP address when it parses as one, else a DNS
        /// name.
        pub fn issue(&self, common_name: &str, names: &[&str]) -> Result<Issued, TlsError> {
            self.issue_with(common_name, names, |_| {})
        }

        /// The same, but a certificate that expired long ago (valid in the year 2000 only),
        /// to check that it is refused.
        pub fn issue_expired(&self, common_name: &str, names: &[&str]) -> Result<Issued, TlsError> {
            self.issue_with(common_name, names, |params| {
                params.not_before = rcgen::date_time_ymd(2000, 1, 1);
                params.not_after = rcgen::date_time_ymd(2001, 1, 1);
            })
        }

        fn issue_with(
            &self,
            common_name: &str,
            names: &[&str],
            adjust: impl FnOnce(&mut rcgen::CertificateParams),
        ) -> Result<Issued, TlsError> {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, common_name);
            params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
            params.extended_key_usages = vec![
                rcgen::ExtendedKeyUsagePurpose::ServerAuth,
                rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            ];
            adjust(&mut params);
            let key = rcgen::KeyPair::generate()?;
            let cert = params.signed_by(&key, &self.issuer)?;
            Ok(Issued {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            })
        }

        /// The CA certificate: what servers ([`ServerTlsConfig::client_ca_root`]) and clients
        /// ([`ClientTlsConfig::ca_certificate`]) trust.
        pub fn certificate(&self) -> Certificate {
            Certificate::from_pem(&self.cert_pem).expect("generated certificate parses")
        }

        /// The CA certificate, PEM-encoded.
        pub fn cert_pem(&self) -> &str {
            &self.cert_pem
        }
    }

    /// A certificate issued by a [`DevCa`], and its key.
    #[derive(Debug, Clone)]
    pub struct Issued {
        cert_pem: String,
        key_pem: String,
    }

    impl Issued {
        /// The certificate and key, to present.
        pub fn identity(&self) -> Result<Identity, TlsError> {
            Identity::from_pem(&self.cert_pem, &self.key_pem)
        }

        /// The certificate, PEM-encoded.
        pub fn cert_pem(&self) -> &str {
            &self.cert_pem
        }

        /// The private key, PEM-encoded.
        pub fn key_pem(&self) -> &str {
            &self.key_pem
        }
    }

    fn san(name: &str) -> Result<rcgen::SanType, rcgen::Error> {
        if name.contains("://") {
            return Ok(rcgen::SanType::URI(name.try_into()?));
        }
        if let Ok(ip) = name.parse() {
            return Ok(rcgen::SanType::IpAddress(ip));
        }
        Ok(rcgen::SanType::DnsName(name.try_into()?))
    }

    #[cfg(unix)]
    fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())
    }

    #[cfg(not(unix))]
    fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
        std::fs::write(path, text)
    }
}

/// Whether `host` names this machine: a loopback IP literal (brackets allowed) or `localhost`.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::dev::SelfSigned;
    use super::*;

    #[test]
    fn pem_files_and_errors() {
        let dir = std::env::temp_dir().join(format!("rpc-core-tls-test-{}", std::process::id()));
        let dev = SelfSigned::load_or_generate(&dir).unwrap();
        let id = Identity::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
        ServerTlsConfig::new(id).rustls().unwrap();
        let ca = Certificate::from_pem_file(dir.join("cert.pem")).unwrap();
        ClientTlsConfig::new().ca_certificate(ca).rustls().unwrap();
        // A second call loads the same certificate instead of making a new one.
        assert_eq!(
            SelfSigned::load_or_generate(&dir).unwrap().cert_pem(),
            dev.cert_pem()
        );
        assert!(matches!(
            Certificate::from_pem("not a pem"),
            Err(TlsError::NoCertificate(_))
        ));
        assert!(matches!(
            Identity::from_pem(dev.cert_pem(), "garbage"),
            Err(TlsError::Pem { .. })
        ));
        assert!(matches!(
            Identity::from_pem_files(dir.join("missing.pem"), dir.join("key.pem")),
            Err(TlsError::Io { .. })
        ));
        // A key that does not match the certificate is refused.
        let other = SelfSigned::generate(&["localhost"]).unwrap();
        let mismatched = Identity::from_pem(dev.cert_pem(), other.key_pem()).unwrap();
        assert!(ServerTlsConfig::new(mismatched).rustls().is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
