//! End to end over real QUIC on 127.0.0.1 with the development certificate: credentials from
//! the client layer, the server's authentication and policy layers, and the codes callers see.

mod common;

use common::notes_client::NotesClient;
use common::notes_server::NotesServer;
use common::{MyNotes, Note, TestVerifier};
use rpc_auth::client::{CallCredentials, StaticToken};
use rpc_auth::{AuthLayer, CredentialsLayer, Policy, PolicyLayer};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::transport::Security;
use rpc_core::{Channel, Code, Endpoint, Request, Server};
use std::sync::{Arc, Mutex};

const POLICY: &str = r#"
[[rules]]
name = "no-mallory"
action = "deny"
subjects = ["mallory"]

[[rules]]
name = "readers"
action = "allow"
services = ["demo.Notes"]
methods = ["Read"]
scopes = ["read"]

[[rules]]
name = "admins"
action = "allow"
services = ["demo.Notes"]
scopes = ["admin"]
"#;

struct Served {
    channel: Channel,
    notes: MyNotes,
    decisions: Arc<Mutex<Vec<(String, bool)>>>,
    handle: rpc_core::server::ServerHandle,
}

async fn serve() -> Served {
    let cert = SelfSigned::generate(&["localhost"]).unwrap();
    let decisions = Arc::new(Mutex::new(Vec::new()));
    let log = decisions.clone();
    let policy = Policy::from_toml(POLICY)
        .unwrap()
        .on_decision(move |caller, d| {
            let rule = d.rule.clone().unwrap_or_default();
            log.lock().unwrap().push((
                format!("{}/{} {rule}", caller.service, caller.method),
                d.allowed,
            ));
        });
    let notes = MyNotes::default();
    let server = Server::builder()
        .tls_config(cert.server_config().unwrap())
        .layer(AuthLayer::new(TestVerifier).optional())
        .layer(PolicyLayer::new(policy))
        .add_service(NotesServer::new(notes.clone()))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let port = server.local_addr().port();
    let handle = server.handle();
    tokio::spawn(server.serve());
    let channel = Endpoint::new(format!("localhost:{port}"))
        .unwrap()
        .tls_config(cert.client_config())
        .connect()
        .await
        .unwrap();
    Served {
        channel,
        notes,
        decisions,
        handle,
    }
}

fn client(
    channel: &Channel,
    token: &str,
) -> NotesClient<rpc_auth::client::AddCredentials<Channel>> {
    let layer = CredentialsLayer::new(channel, StaticToken::new(token).unwrap());
    NotesClient::new(tower::Layer::layer(&layer, channel.clone()))
}

#[tokio::test]
async fn allowed_denied_and_unauthenticated() {
    let s = serve().await;
    assert_eq!(s.channel.transport_security(), Security::DevLoopback);

    let reader = client(&s.channel, "alice:read");
    let reply = reader.read(Note::default()).await.unwrap().into_inner();
    assert_eq!(reply.text, "alice", "the handler sees the claims");
    assert_eq!(s.notes.take(), ["Read"]);

    // Known caller without the right: PERMISSION_DENIED, handler not run.
    let err = reader.delete(Note::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // A deny rule beats an allow rule.
    let mallory = client(&s.channel, "mallory:read,admin");
    let err = mallory.read(Note::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("no-mallory"), "{}", err.message());

    // No token: anonymous, no rule admits it -> UNAUTHENTICATED.
    let anonymous = NotesClient::new(s.channel.clone());
    let err = anonymous.read(Note::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // A token the verifier refuses: UNAUTHENTICATED, before the policy.
    let err = client(&s.channel, "bad")
        .read(Note::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(s.notes.take(), Vec::<String>::new(), "no handler ran");

    let admin = client(&s.channel, "root:admin");
    admin.delete(Note::default()).await.unwrap();
    assert_eq!(s.notes.take(), ["Delete"]);

    let decisions = s.decisions.lock().unwrap().clone();
    assert!(decisions.contains(&("demo.Notes/Read readers".into(), true)));
    assert!(decisions.contains(&("demo.Notes/Delete ".into(), false)));
    assert!(decisions.contains(&("demo.Notes/Read no-mallory".into(), false)));
    s.handle.shutdown();
}

#[tokio::test]
async fn per_call_credentials_override_the_channel_s() {
    let s = serve().await;
    let reader = client(&s.channel, "alice:read");
    let mut request = Request::new(Note::default());
    request.extensions_mut().insert(CallCredentials::new(
        StaticToken::new("root:admin").unwrap(),
    ));
    reader.delete(request).await.unwrap();
    assert_eq!(s.notes.take(), ["Delete"]);

    // A layer without a provider adds credentials only to calls that carry some.
    let per_call = CredentialsLayer::per_call(&s.channel);
    let client = NotesClient::new(tower::Layer::layer(&per_call, s.channel.clone()));
    let err = client.read(Note::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut request = Request::new(Note::default());
    request
        .extensions_mut()
        .insert(CallCredentials::new(StaticToken::new("bob:read").unwrap()));
    assert_eq!(client.read(request).await.unwrap().into_inner().text, "bob");
    s.handle.shutdown();
}

#[tokio::test]
async fn malformed_authorization_is_unauthenticated() {
    let s = serve().await;
    for value in ["Basic YWxpY2U6cHc=", "Bearer", "Bearer   ", "alice:read"] {
        let mut request = Request::new(Note::default());
        request
            .metadata_mut()
            .insert("authorization", value)
            .unwrap();
        let err = NotesClient::new(s.channel.clone())
            .read(request)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{value:?}");
    }
    // The scheme is case-insensitive.
    let mut request = Request::new(Note::default());
    request
        .metadata_mut()
        .insert("authorization", "bearer carol:read")
        .unwrap();
    let reply = NotesClient::new(s.channel.clone())
        .read(request)
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "carol");
    s.handle.shutdown();
}

#[tokio::test]
async fn credentials_never_leave_over_an_unverified_channel() {
    let dev = SelfSigned::generate(&["localhost"]).unwrap();
    // The development certificate away from loopback: refused before connecting.
    let remote = Endpoint::new("example.invalid:4433")
        .unwrap()
        .tls_config(dev.client_config())
        .connect_lazy();
    assert_eq!(remote.transport_security(), Security::DevRemote);
    let err = client(&remote, "alice:read")
        .read(Note::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(
        err.message().contains("refusing to send credentials"),
        "{}",
        err.message()
    );
    assert!(!remote.is_connected(), "nothing was sent");

    // A real certificate chain (or a CA you configured) is verified.
    let verified = Endpoint::new("example.invalid:4433")
        .unwrap()
        .connect_lazy();
    assert_eq!(verified.transport_security(), Security::Verified);
    let ca = Endpoint::new("127.0.0.1:4433")
        .unwrap()
        .tls_config(rpc_core::tls::ClientTlsConfig::new().ca_certificate(dev.certificate()))
        .connect_lazy();
    assert_eq!(ca.transport_security(), Security::Verified);
    for host in ["127.0.0.1:1", "[::1]:1", "LOCALHOST:1", "127.9.9.9:1"] {
        let ch = Endpoint::new(host)
            .unwrap()
            .tls_config(dev.client_config())
            .connect_lazy();
        assert_eq!(ch.transport_security(), Security::DevLoopback, "{host}");
    }
}
