//! # rpc-auth: credentials, authentication and authorization for rpc-core
//!
//! Three tower layers:
//!
//! * **Client**, [`CredentialsLayer`]: adds credentials from a [`CredentialsProvider`] to
//!   every call ([`StaticToken`], or [`BearerToken`], which caches a token and refreshes it
//!   before it expires, one refresh at a time), or per call ([`CallCredentials`]). It never
//!   sends them over a channel whose server is not verified: only
//!   [`Security::Verified`](rpc_core::transport::Security::Verified), or the development
//!   certificate on a loopback address; anything else fails with `UNAUTHENTICATED` before
//!   the call is sent.
//! * **Server**, [`AuthLayer`]: verifies the bearer token of each call with a
//!   [`TokenVerifier`] (such as [`jwt::JwtVerifier`], feature `jwt`), fails missing or bad
//!   tokens with `UNAUTHENTICATED`, and stores the token's [`Claims`] in the call's
//!   extensions for handlers and the policy.
//! * **Server**, [`PolicyLayer`]: a [`Policy`] of allow and deny rules over service,
//!   method, peer identity (the client certificate's SPIFFE ID, DNS names or common name,
//!   under mutual TLS) and claims, from code, JSON or TOML. Deny rules go first; a call
//!   no rule allows is refused (`PERMISSION_DENIED`, or `UNAUTHENTICATED` for an anonymous
//!   caller). Every decision is logged with `tracing` and can be observed with
//!   [`Policy::on_decision`].
//!
//! The policy sees exactly the service and method the server routes on: the server refuses
//! a path that names no method it serves (`UNIMPLEMENTED`) before any layer runs, and paths
//! are never normalized (no case folding, no percent-decoding, no `..`), PROTOCOL.md §5.1.
//!
//! ```
//! use rpc_auth::server::{AuthError, Claims, TokenVerifier};
//! use rpc_auth::{AuthLayer, BearerToken, CredentialsLayer, Policy, PolicyLayer, Token};
//! use rpc_core::tls::dev::SelfSigned;
//! use rpc_core::{Code, Endpoint, Request, Response, Server, Status};
//! use std::time::Duration;
//!
//! #[derive(Clone, PartialEq, prost::Message)]
//! pub struct Note {
//!     #[prost(string, tag = "1")]
//!     pub text: String,
//! }
//!
//! #[rpc_core::service(package = "demo", name = "Notes")]
//! pub trait Notes {
//!     async fn read(&self, request: Request<Note>) -> Result<Response<Note>, Status>;
//!     async fn delete(&self, request: Request<Note>) -> Result<Response<Note>, Status>;
//! }
//!
//! struct MyNotes;
//! impl Notes for MyNotes {
//!     async fn read(&self, request: Request<Note>) -> Result<Response<Note>, Status> {
//!         let who = request.extensions().get::<Claims>().and_then(|c| c.subject.clone());
//!         Ok(Response::new(Note { text: format!("for {}", who.unwrap_or_default()) }))
//!     }
//!     async fn delete(&self, _: Request<Note>) -> Result<Response<Note>, Status> {
//!         Ok(Response::new(Note::default()))
//!     }
//! }
//!
//! /// Accepts one token; a real server checks a JWT (`jwt::JwtVerifier`) or asks its IdP.
//! struct Demo;
//! impl TokenVerifier for Demo {
//!     async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
//!         match token {
//!             "alice-token" => Ok(Claims {
//!                 subject: Some("alice".into()),
//!                 scopes: vec!["notes:read".into()],
//!                 ..Claims::default()
//!             }),
//!             _ => Err(AuthError::Invalid("unknown token".into())),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::from_json(r#"{"rules": [
//!     {"name": "readers", "action": "allow", "services": ["demo.Notes"],
//!      "methods": ["Read"], "scopes": ["notes:read"]}
//! ]}"#)?;
//! let cert = SelfSigned::generate(&["localhost"])?;
//! let server = Server::builder()
//!     .tls_config(cert.server_config()?)
//!     .layer(AuthLayer::new(Demo))
//!     .layer(PolicyLayer::new(policy))
//!     .add_service(notes_server::NotesServer::new(MyNotes))
//!     .bind("127.0.0.1:0".parse()?)?;
//! let port = server.local_addr().port();
//! let handle = server.handle();
//! let serving = tokio::spawn(server.serve());
//!
//! let channel = Endpoint::new(format!("localhost:{port}"))?
//!     .tls_config(cert.client_config())
//!     .connect()
//!     .await?;
//! let token = BearerToken::new(|| async {
//!     Ok(Token::expiring_in("alice-token", Duration::from_secs(3600)))
//! });
//! let stack = tower::ServiceBuilder::new()
//!     .layer(CredentialsLayer::new(&channel, token))
//!     .service(channel.clone());
//! let client = notes_client::NotesClient::new(stack);
//!
//! let note = client.read(Note::default()).await?.into_inner();
//! assert_eq!(note.text, "for alice");
//! let denied = client.delete(Note::default()).await.unwrap_err();
//! assert_eq!(denied.code(), Code::PermissionDenied);
//! let anonymous = notes_client::NotesClient::new(channel).read(Note::default()).await;
//! assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
//!
//! handle.shutdown();
//! serving.await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod client;
#[cfg(feature = "jwt")]
pub mod jwt;
pub mod policy;
pub mod server;

pub use client::{
    BearerToken, CallContext, CallCredentials, CredentialsLayer, CredentialsProvider, StaticToken,
    Token,
};
pub use policy::{Action, Decision, PeerPrincipals, Policy, PolicyError, PolicyLayer, Rule};
pub use server::{AuthError, AuthLayer, Claims, TokenVerifier};
