//! The refreshing bearer token over the in-memory transport with paused time: refreshed a
//! margin before expiry, one fetch for many waiting calls, the old token kept when an early
//! refresh fails, and credentials kept off in-process channels unless allowed.

mod common;

use common::notes_client::NotesClient;
use common::notes_server::NotesServer;
use common::{MyNotes, Note, TestVerifier};
use futures_util::future::join_all;
use rpc_auth::client::AddCredentials;
use rpc_auth::{AuthLayer, BearerToken, CredentialsLayer, Token};
use rpc_core::transport::{mem, Security};
use rpc_core::{Channel, Code, Endpoint, Server, Status};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LIFETIME: Duration = Duration::from_secs(60);
const MARGIN: Duration = Duration::from_secs(10);

/// Counts fetches; each fetch takes a second and gives `user-N:read`, valid a minute.
#[derive(Clone, Default)]
struct Issuer {
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl Issuer {
    fn provider(&self) -> BearerToken {
        let me = self.clone();
        BearerToken::new(move || {
            let me = me.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if me.failing.load(Ordering::SeqCst) {
                    return Err(Status::unavailable("identity provider down"));
                }
                let n = me.fetches.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(Token::expiring_in(format!("user-{n}:read"), LIFETIME))
            }
        })
        .refresh_before(MARGIN)
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn channel() -> Channel {
    let (connector, listener) = mem::listener();
    let server = Server::builder()
        .layer(AuthLayer::new(TestVerifier))
        .add_service(NotesServer::new(MyNotes::default()))
        .listen(listener);
    tokio::spawn(server.serve());
    Endpoint::from_connector(connector).connect().await.unwrap()
}

fn client(channel: &Channel, issuer: &Issuer) -> NotesClient<AddCredentials<Channel>> {
    let layer = CredentialsLayer::new(channel, issuer.provider()).allow_in_process();
    NotesClient::new(tower::Layer::layer(&layer, channel.clone()))
}

async fn subject(client: &NotesClient<AddCredentials<Channel>>) -> String {
    client
        .read(Note::default())
        .await
        .unwrap()
        .into_inner()
        .text
}

#[tokio::test(start_paused = true)]
async fn refreshes_before_expiry() {
    let ch = channel().await;
    let issuer = Issuer::default();
    let client = client(&ch, &issuer);
    assert_eq!(subject(&client).await, "user-1");
    tokio::time::advance(Duration::from_secs(40)).await;
    assert_eq!(subject(&client).await, "user-1", "still fresh: cached");
    // Within the margin (expires at 61 s, now 51 s): refreshed although still valid.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(subject(&client).await, "user-2");
    assert_eq!(issuer.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_calls_share_one_refresh() {
    let ch = channel().await;
    let issuer = Issuer::default();
    let client = client(&ch, &issuer);
    let calls = (0..20).map(|_| subject(&client));
    let subjects = join_all(calls).await;
    assert!(subjects.iter().all(|s| s == "user-1"), "{subjects:?}");
    assert_eq!(issuer.fetches(), 1);
    tokio::time::advance(LIFETIME).await;
    let subjects = join_all((0..20).map(|_| subject(&client))).await;
    assert!(subjects.iter().all(|s| s == "user-2"), "{subjects:?}");
    assert_eq!(issuer.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_early_refresh_keeps_the_valid_token() {
    let ch = channel().await;
    let issuer = Issuer::default();
    let client = client(&ch, &issuer);
    assert_eq!(subject(&client).await, "user-1");
    issuer.failing.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(52)).await;
    assert_eq!(subject(&client).await, "user-1", "old token, still valid");
    // Past expiry, a failed fetch fails the call with the provider's status.
    tokio::time::advance(LIFETIME).await;
    let err = client.read(Note::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    issuer.failing.store(false, Ordering::SeqCst);
    assert_eq!(subject(&client).await, "user-2");
}

#[tokio::test(start_paused = true)]
async fn in_process_channels_need_an_explicit_opt_in() {
    let ch = channel().await;
    assert_eq!(ch.transport_security(), Security::InProcess);
    let issuer = Issuer::default();
    let layer = CredentialsLayer::new(&ch, issuer.provider());
    let client = NotesClient::new(tower::Layer::layer(&layer, ch.clone()));
    let err = client.read(Note::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("in-process"), "{}", err.message());
    assert_eq!(issuer.fetches(), 0, "no token was even fetched");
}
