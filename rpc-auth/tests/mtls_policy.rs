//! The policy matches on the peer's verified client certificate (mutual TLS): its SPIFFE ID,
//! DNS names or common name, with no layer in between to fill them in.

mod common;

use common::notes_client::NotesClient;
use common::notes_server::NotesServer;
use common::{MyNotes, Note};
use rpc_auth::{Policy, PolicyLayer};
use rpc_core::tls::dev::DevCa;
use rpc_core::tls::{ClientTlsConfig, ServerTlsConfig};
use rpc_core::{Code, Endpoint, Server};

const POLICY: &str = r#"
[[rules]]
name = "alice-reads"
action = "allow"
services = ["demo.Notes"]
methods = ["Read"]
peers = ["spiffe://example.org/alice"]

[[rules]]
name = "ops-everything"
action = "allow"
services = ["*"]
peers = ["ops-*"]
"#;

#[tokio::test]
async fn rules_match_the_client_certificate() {
    let ca = DevCa::generate("test CA").unwrap();
    let server_cert = ca.issue("localhost", &["localhost"]).unwrap();
    let notes = MyNotes::default();
    let server = Server::builder()
        .tls_config(
            ServerTlsConfig::new(server_cert.identity().unwrap()).client_ca_root(ca.certificate()),
        )
        .layer(PolicyLayer::new(Policy::from_toml(POLICY).unwrap()))
        .add_service(NotesServer::new(notes.clone()))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let port = server.local_addr().port();
    let handle = server.handle();
    tokio::spawn(server.serve());
    let client = |common_name: &str, names: &[&str]| {
        let issued = ca.issue(common_name, names).unwrap();
        let tls = ClientTlsConfig::new()
            .with_webpki_roots(false)
            .ca_certificate(ca.certificate())
            .identity(issued.identity().unwrap());
        let endpoint = Endpoint::new(format!("localhost:{port}"))
            .unwrap()
            .tls_config(tls);
        async move { NotesClient::new(endpoint.connect().await.unwrap()) }
    };

    // By SPIFFE ID (a URI SAN): Read only.
    let alice = client("alice", &["spiffe://example.org/alice"]).await;
    alice.read(Note::default()).await.unwrap();
    let err = alice.delete(Note::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // Another SPIFFE ID: a known caller without rights.
    let bob = client("bob", &["spiffe://example.org/bob"]).await;
    let err = bob.read(Note::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // By common name, with a prefix pattern.
    let ops = client("ops-oncall", &[]).await;
    ops.delete(Note::default()).await.unwrap();
    assert_eq!(notes.take(), ["Read", "Delete"]);
    handle.shutdown();
}
