//! Development certificates that browsers accept by hash. **Not for production.**
//!
//! A browser accepts a WebTransport server's self-signed certificate only when the page pins
//! it: `new WebTransport(url, { serverCertificateHashes: [{ algorithm: "sha-256", value }] })`.
//! The W3C WebTransport specification then requires an ECDSA P-256 key and a validity period
//! of at most 14 days, which [`BrowserDevCertificate::generate`] makes, with the SHA-256 hash
//! of its DER encoding to give the page. Regenerate it at least every 13 days (a server
//! started with it keeps serving it; browsers refuse it once it expired).

use rpc_core::tls::{Identity, ServerTlsConfig, TlsError};
use std::time::Duration;

/// How long the certificate is valid: under the 14 days browsers accept, with an hour of
/// clock skew before "now".
const VALIDITY: Duration = Duration::from_secs(13 * 24 * 3600);
const SKEW: Duration = Duration::from_secs(3600);

/// A short-lived self-signed ECDSA P-256 certificate for `serverCertificateHashes`, and its
/// SHA-256 hash. For development and tests: a production server has a certificate from a
/// CA that browsers trust, and pages connect without pinning.
#[derive(Debug, Clone)]
pub struct BrowserDevCertificate {
    cert_pem: String,
    key_pem: String,
    sha256: [u8; 32],
}

impl BrowserDevCertificate {
    /// Generates a certificate valid for `names` (DNS names or IP addresses) from an hour
    /// ago until 13 days from now.
    pub fn generate(names: &[&str]) -> Result<Self, TlsError> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names)?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - SKEW;
        params.not_after = now + VALIDITY;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.self_signed(&key)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, cert.der());
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(digest.as_ref());
        Ok(BrowserDevCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            sha256,
        })
    }

    /// A certificate for `localhost`, `127.0.0.1` and `::1`.
    pub fn loopback() -> Result<Self, TlsError> {
        Self::generate(&["localhost", "127.0.0.1", "::1"])
    }

    /// The SHA-256 hash of the certificate (DER), the `value` of `serverCertificateHashes`.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The hash in lowercase hex, for printing and pasting into a page.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The server side: certificate and key.
    pub fn identity(&self) -> Result<Identity, TlsError> {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }

    /// A server configuration presenting this certificate.
    pub fn server_config(&self) -> Result<ServerTlsConfig, TlsError> {
        Ok(ServerTlsConfig::new(self.identity()?))
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

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn what_browsers_require() {
        let cert = BrowserDevCertificate::loopback().unwrap();
        let der =
            rustls::pki_types::CertificateDer::from_pem_slice(cert.cert_pem().as_bytes()).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, &der);
        assert_eq!(digest.as_ref(), cert.sha256());
        assert_eq!(cert.sha256_hex().len(), 64);
        // ECDSA P-256 with SHA-256 (1.2.840.10045.4.3.2), P-256 curve (1.2.840.10045.3.1.7).
        let ecdsa_sha256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        let p256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        assert!(has(&ecdsa_sha256) && has(&p256));
        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        let validity = x509.validity();
        let span = validity.not_after.timestamp() - validity.not_before.timestamp();
        assert!(span <= 14 * 24 * 3600, "valid for {span} s");
        assert!(validity.is_valid());
        cert.server_config().unwrap();
    }
}
