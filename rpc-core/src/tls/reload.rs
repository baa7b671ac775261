//! Certificate rotation: the certificate and key a side presents, swappable while it runs.
//!
//! rustls asks a resolver for the certificate at each handshake; ours reads it from an
//! `ArcSwap`, so a new certificate applies to the next handshake and connections already made
//! keep theirs (TLS authenticates a connection once, at its start).

use super::{Identity, TlsError};
use arc_swap::ArcSwapOption;
use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

/// Replaces the certificate and key a [`ServerTlsConfig`](super::ServerTlsConfig) or a
/// [`ClientTlsConfig`](super::ClientTlsConfig) presents, without a restart: new handshakes
/// use the new identity, established connections keep working with the one they started
/// with. Cloning it is a reference count; every clone (and every clone of the config it came
/// from) shares one current identity.
///
/// ```no_run
/// # async fn demo(tls: rpc_core::tls::ServerTlsConfig) -> Result<(), Box<dyn std::error::Error>> {
/// use rpc_core::tls::Identity;
///
/// let reloader = tls.reloader();
/// // ... serve with `tls`; later, once the files were renewed:
/// reloader.reload(Identity::from_pem_files("cert.pem", "key.pem")?)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct CertReloader {
    current: Arc<ArcSwapOption<CertifiedKey>>,
}

impl std::fmt::Debug for CertReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertReloader")
            .field("loaded", &self.current.load().is_some())
            .finish()
    }
}

impl CertReloader {
    /// Presents `identity` from the next handshake on. Fails, keeping the current identity,
    /// when the key is not supported or does not match the certificate.
    pub fn reload(&self, identity: Identity) -> Result<(), TlsError> {
        self.current.store(Some(certified_key(identity)?));
        Ok(())
    }

    /// Sets the first identity, unless one was loaded already (by a reload before the
    /// config was first used).
    pub(crate) fn init(&self, identity: &Identity) -> Result<(), TlsError> {
        if self.current.load().is_none() {
            let key = certified_key(identity.clone())?;
            self.current.compare_and_swap(&None::<Arc<_>>, Some(key));
        }
        Ok(())
    }

    /// Polls the PEM files `cert` and `key` every `interval` and reloads them when either's
    /// modification time or size changed. A pair that fails to load (a half-written
    /// rotation, say) is logged and skipped: the current identity stays until the next
    /// change. The watch ends when the returned handle is aborted, or by itself once nothing
    /// uses this identity any more.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn watch_files(
        &self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let watch = FileWatch {
            cert: cert.into(),
            key: key.into(),
            seen: None,
        };
        // Weak: the watch must not keep a dropped server's identity (and itself) alive.
        tokio::spawn(watch.run(Arc::downgrade(&self.current), interval))
    }

    pub(crate) fn server_resolver(&self) -> Arc<dyn ResolvesServerCert> {
        Arc::new(Resolver(self.current.clone()))
    }

    pub(crate) fn client_resolver(&self) -> Arc<dyn ResolvesClientCert> {
        Arc::new(Resolver(self.current.clone()))
    }
}

/// An identity as rustls signs with it; checks that the key matches the certificate.
fn certified_key(identity: Identity) -> Result<Arc<CertifiedKey>, TlsError> {
    let provider = rustls::crypto::ring::default_provider();
    let key = CertifiedKey::from_der(identity.chain, identity.key, &provider)?;
    Ok(Arc::new(key))
}

/// Both sides' resolver: whatever identity is current.
#[derive(Debug)]
struct Resolver(Arc<ArcSwapOption<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.load_full()
    }
}

impl ResolvesClientCert for Resolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0.load_full()
    }

    fn has_certs(&self) -> bool {
        self.0.load().is_some()
    }
}

/// What a file looked like when last polled.
type Stamp = [Option<(SystemTime, u64)>; 2];

struct FileWatch {
    cert: PathBuf,
    key: PathBuf,
    seen: Option<Stamp>,
}

impl FileWatch {
    async fn run(mut self, current: Weak<ArcSwapOption<CertifiedKey>>, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(current) = current.upgrade() else {
                return;
            };
            if let Some(identity) = self.poll() {
                match certified_key(identity) {
                    Ok(key) => {
                        current.store(Some(key));
                        tracing::info!(cert = %self.cert.display(), "reloaded the TLS identity");
                    }
                    Err(e) => self.skipped(&e),
                }
            }
        }
    }

    /// The identity in the files, when they changed since the last poll and load.
    fn poll(&mut self) -> Option<Identity> {
        let stamp = [stamp(&self.cert), stamp(&self.key)];
        // The first poll only records: the config was made from these files.
        let changed = self.seen.is_some_and(|seen| seen != stamp);
        self.seen = Some(stamp);
        if !changed {
            return None;
        }
        Identity::from_pem_files(&self.cert, &self.key)
            .map_err(|e| self.skipped(&e))
            .ok()
    }

    fn skipped(&self, e: &TlsError) {
        tracing::warn!(cert = %self.cert.display(), "TLS identity not reloaded: {e}");
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}
