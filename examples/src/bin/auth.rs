//! Credentials, authentication and a per-method policy (`rpc-auth`).
//!
//! ```text
//! cargo run -p examples --bin auth
//! ```
//!
//! The server verifies each call's JWT (`AuthLayer` + `JwtVerifier`: signature, audience,
//! expiry) and applies a policy loaded from TOML (`PolicyLayer`). The clients get their
//! tokens from a pretend identity provider through `BearerToken`, which caches each token
//! and fetches a new one before it expires. Alice may greet; Bob is known but may not
//! (`PERMISSION_DENIED`); a caller without a token, or with one for another audience, is
//! `UNAUTHENTICATED`.

use rpc_auth::jwt::{Algorithm, DecodingKey, JwtVerifier};
use rpc_auth::{AuthLayer, BearerToken, CredentialsLayer, Policy, PolicyLayer, Token};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Channel, Endpoint, Request, Response, Server, Status};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod helloworld {
    rpc_core::include_proto!("helloworld");
}

use helloworld::greeter_client::GreeterClient;
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

/// The key the identity provider signs with and the server verifies with (HS256 keeps the
/// example short; a real deployment verifies an RS256/ES256 key from its provider).
const KEY: &[u8] = b"example signing key";

const POLICY: &str = r#"
[[rules]]
name = "greeters"
action = "allow"
services = ["helloworld.Greeter"]
methods = ["SayHello"]
scopes = ["greet"]
"#;

struct MyGreeter;

impl Greeter for MyGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let claims = request.extensions().get::<rpc_auth::Claims>().cloned();
        let by = claims.and_then(|c| c.subject).unwrap_or_default();
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}! (asked by {by})"),
        }))
    }
}

/// The pretend identity provider: a token for `subject`, valid ten minutes.
fn issue(subject: &str, audience: &str, scope: &str) -> Result<Token, Status> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": subject, "aud": audience, "scope": scope, "exp": now + 600,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(KEY);
    let jwt = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
        .map_err(|e| Status::internal(e.to_string()))?;
    Ok(Token::expiring_in(jwt, Duration::from_secs(600)))
}

/// A client whose calls carry tokens for `subject` from the identity provider.
fn client(
    channel: &Channel,
    subject: &'static str,
    audience: &'static str,
    scope: &'static str,
) -> GreeterClient<rpc_auth::client::AddCredentials<Channel>> {
    let tokens = BearerToken::new(move || async move { issue(subject, audience, scope) })
        .refresh_before(Duration::from_secs(60));
    let layer = CredentialsLayer::new(channel, tokens);
    GreeterClient::new(tower::Layer::layer(&layer, channel.clone()))
}

async fn greet<S: rpc_core::client::service::CallService>(who: &str, client: &GreeterClient<S>) {
    let request = HelloRequest {
        name: "world".into(),
    };
    match client.say_hello(request).await {
        Ok(reply) => println!("{who}: {}", reply.into_inner().message),
        Err(status) => println!("{who}: {:?} ({})", status.code(), status.message()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::loopback()?;
    let verifier = JwtVerifier::new(DecodingKey::from_secret(KEY), Algorithm::HS256, "greeter");
    let policy = Policy::from_toml(POLICY)?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .layer(AuthLayer::new(verifier))
        .layer(PolicyLayer::new(policy))
        .add_service(GreeterServer::new(MyGreeter))
        .bind("127.0.0.1:0".parse()?)?;
    let port = server.local_addr().port();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());

    let channel = Endpoint::new(format!("localhost:{port}"))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    greet("alice", &client(&channel, "alice", "greeter", "greet")).await;
    greet("bob", &client(&channel, "bob", "greeter", "read")).await;
    greet("mallory", &client(&channel, "mallory", "billing", "greet")).await;
    greet("anonymous", &GreeterClient::new(channel.clone())).await;

    handle.shutdown();
    serving.await?;
    Ok(())
}
