//! A small service for the tests, a verifier, and the recorders they read.
#![allow(dead_code)]

use rpc_auth::server::{AuthError, Claims, TokenVerifier};
use rpc_core::{Request, Response, Status};
use std::sync::{Arc, Mutex};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Note {
    #[prost(string, tag = "1")]
    pub text: String,
}

#[rpc_core::service(package = "demo", name = "Notes")]
pub trait Notes {
    async fn read(&self, request: Request<Note>) -> Result<Response<Note>, Status>;
    async fn delete(&self, request: Request<Note>) -> Result<Response<Note>, Status>;
}

/// Records the methods whose handler ran, and answers with the caller's subject.
#[derive(Clone, Default)]
pub struct MyNotes {
    pub ran: Arc<Mutex<Vec<String>>>,
}

impl MyNotes {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.ran.lock().unwrap())
    }

    fn record(&self, method: &str, request: &Request<Note>) -> Note {
        self.ran.lock().unwrap().push(method.to_owned());
        let who = request
            .extensions()
            .get::<Claims>()
            .and_then(|c| c.subject.clone());
        Note {
            text: who.unwrap_or_else(|| "anonymous".into()),
        }
    }
}

impl Notes for MyNotes {
    async fn read(&self, request: Request<Note>) -> Result<Response<Note>, Status> {
        Ok(Response::new(self.record("Read", &request)))
    }

    async fn delete(&self, request: Request<Note>) -> Result<Response<Note>, Status> {
        Ok(Response::new(self.record("Delete", &request)))
    }
}

/// Tokens `<subject>:<scope>,<scope>`; anything starting with `bad` is refused.
pub struct TestVerifier;

impl TokenVerifier for TestVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.starts_with("bad") {
            return Err(AuthError::Invalid("refused by the test verifier".into()));
        }
        let (subject, scopes) = token.split_once(':').unwrap_or((token, ""));
        Ok(Claims {
            subject: Some(subject.to_owned()),
            scopes: scopes
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            ..Claims::default()
        })
    }
}
