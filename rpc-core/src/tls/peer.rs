//! The identity a peer proved with its certificate.

use super::TlsError;
use rustls::pki_types::CertificateDer;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A peer's verified certificate chain and the names its leaf certificate holds.
///
/// A server sees one for each client that presented a certificate (mutual TLS, see
/// [`ServerTlsConfig::client_ca_root`](super::ServerTlsConfig::client_ca_root)), through
/// [`Request::peer_identity`](crate::Request::peer_identity) in handlers and interceptors and
/// [`ServerCall::peer_identity`](crate::server::ServerCall::peer_identity) in layers. The
/// chain was verified during the handshake; the names are parsed once per connection, so
/// reading them costs nothing per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    chain: Vec<CertificateDer<'static>>,
    dns_names: Vec<String>,
    uris: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    common_name: Option<String>,
    serial: Vec<u8>,
}

impl PeerIdentity {
    /// Parses the names out of a chain (leaf first). Used by the transports; public so that a
    /// test transport (or [`MemConfig`](crate::transport::mem::MemConfig)) can present one.
    /// Nothing is verified here.
    pub fn from_chain(chain: Vec<CertificateDer<'static>>) -> Result<Self, TlsError> {
        let leaf = chain
            .first()
            .ok_or_else(|| TlsError::NoCertificate("the peer's chain".into()))?;
        let (_, cert) =
            X509Certificate::from_der(leaf).map_err(|e| TlsError::Certificate(e.to_string()))?;
        let mut me = PeerIdentity {
            common_name: common_name(&cert),
            serial: cert.raw_serial().to_vec(),
            dns_names: Vec::new(),
            uris: Vec::new(),
            ip_addresses: Vec::new(),
            chain: Vec::new(),
        };
        me.add_alt_names(&cert);
        me.chain = chain;
        Ok(me)
    }

    fn add_alt_names(&mut self, cert: &X509Certificate<'_>) {
        // A malformed extension would have failed verification; without one there are no SANs.
        let Ok(Some(san)) = cert.subject_alternative_name() else {
            return;
        };
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => self.dns_names.push((*dns).to_owned()),
                GeneralName::URI(uri) => self.uris.push((*uri).to_owned()),
                GeneralName::IPAddress(ip) => self.ip_addresses.extend(ip_address(ip)),
                _ => {}
            }
        }
    }

    /// The certificate chain the peer presented, leaf first (DER).
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The peer's own (leaf) certificate.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        // `from_chain` refuses an empty chain.
        &self.chain[0]
    }

    /// The DNS names of the leaf's subject alternative names.
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// The URIs of the leaf's subject alternative names (SPIFFE IDs among them).
    pub fn uris(&self) -> &[String] {
        &self.uris
    }

    /// The IP addresses of the leaf's subject alternative names.
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.ip_addresses
    }

    /// The first `spiffe://` URI of the leaf, the workload's SPIFFE ID (an X.509-SVID holds
    /// exactly one).
    pub fn spiffe_id(&self) -> Option<&str> {
        self.uris
            .iter()
            .map(String::as_str)
            .find(|uri| uri.starts_with("spiffe://"))
    }

    /// The common name (CN) of the leaf's subject, when it has one.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// The leaf's serial number, big-endian bytes as encoded.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }
}

fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

fn ip_address(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(Ipv4Addr::from)
            .map(Into::into),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(Ipv6Addr::from)
            .map(Into::into),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_certificate() {
        let ca = super::super::dev::DevCa::generate("test ca").unwrap();
        let issued = ca
            .issue(
                "alice",
                &["alice.example", "spiffe://example.org/alice", "10.0.0.1"],
            )
            .unwrap();
        let chain = issued.identity().unwrap().chain;
        let id = PeerIdentity::from_chain(chain.clone()).unwrap();
        assert_eq!(id.common_name(), Some("alice"));
        assert_eq!(id.dns_names(), ["alice.example"]);
        assert_eq!(id.spiffe_id(), Some("spiffe://example.org/alice"));
        assert_eq!(id.ip_addresses(), ["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(id.chain(), &chain[..]);
        assert!(!id.serial().is_empty());
        assert!(PeerIdentity::from_chain(Vec::new()).is_err());
        let garbage = CertificateDer::from(vec![1, 2, 3]);
        assert!(PeerIdentity::from_chain(vec![garbage]).is_err());
    }
}
