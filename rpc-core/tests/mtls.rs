//! Mutual TLS: client certificates verified by the server, the identity handlers see, and
//! certificate rotation without a restart.

mod common;

use common::*;
use rpc_core::tls::dev::{DevCa, Issued};
use rpc_core::tls::{ClientTlsConfig, Identity, PeerIdentity, ServerTlsConfig};
use rpc_core::{Endpoint, Request, Server, Status};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The certificates of the tests: a CA, a server, two clients, an expired client, and a
/// client of another CA.
struct Pki {
    ca: DevCa,
    server: Issued,
    alice: Issued,
    bob: Issued,
    expired: Issued,
    stranger: Issued,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = DevCa::generate("test ca").unwrap();
        let other = DevCa::generate("other ca").unwrap();
        let alice_names = ["alice.example", "spiffe://example.org/alice"];
        Pki {
            server: server_cert(&ca, "server v1"),
            alice: ca.issue("alice", &alice_names).unwrap(),
            bob: ca.issue("bob", &["spiffe://example.org/bob"]).unwrap(),
            expired: ca.issue_expired("old", &["old.example"]).unwrap(),
            stranger: other.issue("mallory", &["mallory.example"]).unwrap(),
            ca,
        }
    })
}

fn server_cert(ca: &DevCa, name: &str) -> Issued {
    ca.issue(name, &["localhost", "127.0.0.1"]).unwrap()
}

/// Describes the caller's certificate for the handler (which returns it in a trailer).
fn who(req: &mut Request<()>) -> Result<(), Status> {
    let user = req.peer_identity().map_or("anonymous".into(), describe);
    req.extensions_mut().insert(User(user));
    Ok(())
}

fn describe(id: &PeerIdentity) -> String {
    format!(
        "{}|{}|{}|{}",
        id.common_name().unwrap_or(""),
        id.dns_names().join(","),
        id.spiffe_id().unwrap_or(""),
        id.chain().len()
    )
}

fn server_tls(optional: bool) -> ServerTlsConfig {
    ServerTlsConfig::new(pki().server.identity().unwrap())
        .client_ca_root(pki().ca.certificate())
        .client_auth_optional(optional)
}

fn mtls_server(tls: ServerTlsConfig) -> TestServer {
    start_with(Server::builder().tls_config(tls).interceptor(who))
}

fn client_tls(identity: Option<&Issued>) -> ClientTlsConfig {
    let tls = ClientTlsConfig::new()
        .with_webpki_roots(false)
        .ca_certificate(pki().ca.certificate());
    match identity {
        Some(id) => tls.identity(id.identity().unwrap()),
        None => tls,
    }
}

fn client(addr: SocketAddr, identity: Option<&Issued>) -> Endpoint {
    Endpoint::from_addr(addr).tls_config(client_tls(identity))
}

/// Who the server says we are, or why it refused: connecting or calling.
async fn whoami(endpoint: Endpoint) -> Result<String, String> {
    let ch = endpoint.connect().await.map_err(|e| e.to_string())?;
    let response = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.trailers().get("user").unwrap_or("").to_owned())
}

const ALICE: &str = "alice|alice.example|spiffe://example.org/alice|1";

#[tokio::test]
async fn a_required_client_certificate_is_verified() {
    let srv = mtls_server(server_tls(false));
    let addr = srv.addr;
    assert_eq!(
        whoami(client(addr, Some(&pki().alice))).await,
        Ok(ALICE.into())
    );

    let err = whoami(client(addr, None)).await.unwrap_err();
    assert!(err.contains("requires a client certificate"), "{err}");
    assert!(err.contains("ClientTlsConfig::identity"), "{err}");
    let err = whoami(client(addr, Some(&pki().stranger)))
        .await
        .unwrap_err();
    assert!(
        err.contains("not signed by a CA the server trusts"),
        "{err}"
    );
    let err = whoami(client(addr, Some(&pki().expired)))
        .await
        .unwrap_err();
    assert!(err.contains("expired"), "{err}");

    // Refused handshakes do not disturb the server.
    let bob = whoami(client(addr, Some(&pki().bob))).await.unwrap();
    assert_eq!(bob, "bob||spiffe://example.org/bob|1");
    srv.handle.shutdown();
}

#[tokio::test]
async fn an_optional_client_certificate_may_be_missing_but_not_invalid() {
    let srv = mtls_server(server_tls(true));
    let addr = srv.addr;
    assert_eq!(whoami(client(addr, None)).await, Ok("anonymous".into()));
    assert_eq!(
        whoami(client(addr, Some(&pki().alice))).await,
        Ok(ALICE.into())
    );
    let err = whoami(client(addr, Some(&pki().stranger)))
        .await
        .unwrap_err();
    assert!(
        err.contains("not signed by a CA the server trusts"),
        "{err}"
    );
    assert_eq!(whoami(client(addr, None)).await, Ok("anonymous".into()));
    srv.handle.shutdown();
}

#[tokio::test]
async fn without_client_roots_no_certificate_is_asked_for() {
    let tls = ServerTlsConfig::new(pki().server.identity().unwrap());
    let srv = mtls_server(tls);
    // A client identity is not sent when the server does not ask for one.
    let who = whoami(client(srv.addr, Some(&pki().alice))).await;
    assert_eq!(who, Ok("anonymous".into()));
    srv.handle.shutdown();
}

/// The common name of the certificate the server presents to a new connection, read with a
/// raw QUIC client.
async fn served_name(addr: SocketAddr) -> String {
    use rpc_core::transport::quic::quinn;
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let ca = CertificateDer::from_pem_slice(pki().ca.cert_pem().as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![rpc_core::wire::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let conn = endpoint.connect(addr, "localhost").unwrap().await.unwrap();
    let chain = conn.peer_identity().unwrap().downcast().unwrap();
    let id = PeerIdentity::from_chain(*chain).unwrap();
    conn.close(0u32.into(), b"");
    id.common_name().unwrap().to_owned()
}

/// Calls in a loop on `channels` connections until `stop`; counts calls and failures.
fn load(
    addr: SocketAddr,
    channels: usize,
    stop: Arc<AtomicBool>,
) -> (
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (calls, failures) = (Arc::default(), Arc::default());
    let tasks = (0..channels)
        .map(|_| {
            let (calls, failures, stop): (Arc<AtomicUsize>, Arc<AtomicUsize>, _) =
                (Arc::clone(&calls), Arc::clone(&failures), stop.clone());
            tokio::spawn(async move {
                let ch = client(addr, Some(&pki().alice)).connect().await.unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let r = ch
                        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
                        .await;
                    let counter = if r.is_ok() { &calls } else { &failures };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    (calls, failures, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_certificate_rotates_under_load() {
    let tls = server_tls(false);
    let reloader = tls.reloader();
    let srv = mtls_server(tls);
    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failures, tasks) = load(srv.addr, 4, stop.clone());
    assert!(eventually(|| calls.load(Ordering::Relaxed) > 50).await);
    assert_eq!(served_name(srv.addr).await, "server v1");

    for version in ["server v2", "server v3"] {
        let before = calls.load(Ordering::Relaxed);
        let next = server_cert(&pki().ca, version);
        reloader.reload(next.identity().unwrap()).unwrap();
        assert_eq!(served_name(srv.addr).await, version);
        // The connections made with the old certificate keep serving calls.
        assert!(eventually(|| calls.load(Ordering::Relaxed) > before + 50).await);
        let who = whoami(client(srv.addr, Some(&pki().alice))).await;
        assert_eq!(who, Ok(ALICE.into()));
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0);

    // A key that does not match its certificate is refused; the current identity stays.
    let (a, b) = (&pki().alice, &pki().bob);
    let mismatched = Identity::from_pem(a.cert_pem(), b.key_pem()).unwrap();
    assert!(reloader.reload(mismatched).is_err());
    assert_eq!(served_name(srv.addr).await, "server v3");
    srv.handle.shutdown();
}

#[tokio::test]
async fn a_client_identity_rotates_for_new_connections() {
    let srv = mtls_server(server_tls(false));
    let tls = client_tls(Some(&pki().alice));
    let reloader = tls.reloader();
    let endpoint = Endpoint::from_addr(srv.addr).tls_config(tls);
    let first = endpoint.clone().connect().await.unwrap();
    reloader.reload(pki().bob.identity().unwrap()).unwrap();
    let bob = whoami(endpoint).await.unwrap();
    assert_eq!(bob, "bob||spiffe://example.org/bob|1");
    // The first connection is still alice's.
    let r = first
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
    assert_eq!(r.trailers().get("user"), Some(ALICE));
    srv.handle.shutdown();
}

#[tokio::test]
async fn watched_files_are_reloaded_when_they_change() {
    let dir = std::env::temp_dir().join(format!("rpc-core-mtls-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let write = |issued: &Issued| {
        std::fs::write(&key, issued.key_pem()).unwrap();
        std::fs::write(&cert, issued.cert_pem()).unwrap();
    };
    write(&pki().server);
    let identity = Identity::from_pem_files(&cert, &key).unwrap();
    let tls = ServerTlsConfig::new(identity).watch_files(&cert, &key, Duration::from_millis(20));
    let srv = mtls_server(tls.client_ca_root(pki().ca.certificate()));
    assert_eq!(served_name(srv.addr).await, "server v1");

    // Half-written (a certificate without its key): skipped, the old identity stays.
    std::fs::write(&cert, server_cert(&pki().ca, "half").cert_pem()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(served_name(srv.addr).await, "server v1");

    write(&server_cert(&pki().ca, "server v2"));
    let mut name = String::new();
    for _ in 0..100 {
        name = served_name(srv.addr).await;
        if name == "server v2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(name, "server v2");
    assert_eq!(
        whoami(client(srv.addr, Some(&pki().alice))).await,
        Ok(ALICE.into())
    );
    srv.handle.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A layer that lets only bob's SPIFFE ID through: what an authorization layer over mutual
/// TLS looks like.
#[tokio::test]
async fn a_layer_sees_the_identity() {
    use rpc_core::server::{BoxCallService, ServerCall};
    use tower::{Service, ServiceExt};
    let only_bob = tower::layer::layer_fn(|inner: BoxCallService| {
        let inner = Arc::new(tokio::sync::Mutex::new(inner));
        tower::service_fn(move |call: ServerCall| {
            let inner = inner.clone();
            async move {
                let spiffe = call.peer_identity().and_then(PeerIdentity::spiffe_id);
                if spiffe != Some("spiffe://example.org/bob") {
                    return Err(Status::permission_denied("bob only").into());
                }
                let future = inner.lock().await.ready().await?.call(call);
                future.await
            }
        })
    });
    let builder = Server::builder()
        .tls_config(server_tls(true))
        .layer(only_bob);
    let srv = start_with(builder.interceptor(who));
    let err = whoami(client(srv.addr, Some(&pki().alice))).await;
    assert!(err.unwrap_err().contains("bob only"));
    let err = whoami(client(srv.addr, None)).await;
    assert!(err.unwrap_err().contains("bob only"));
    let bob = whoami(client(srv.addr, Some(&pki().bob))).await;
    assert_eq!(bob, Ok("bob||spiffe://example.org/bob|1".into()));
    srv.handle.shutdown();
}
