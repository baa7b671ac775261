//! A [`TokenVerifier`] for JSON Web Tokens (feature `jwt`): the signature, expiry, audience
//! and (optionally) issuer are checked by `jsonwebtoken`.
//!
//! ```
//! use rpc_auth::jwt::{Algorithm, DecodingKey, JwtVerifier};
//!
//! let verifier = JwtVerifier::new(DecodingKey::from_secret(b"shared"), Algorithm::HS256, "orders")
//!     .issuer("https://id.example.com");
//! # let _ = verifier;
//! ```

use crate::server::{AuthError, Claims, TokenVerifier};
use serde_json::{Map, Value};
use std::time::Duration;

pub use jsonwebtoken::{Algorithm, DecodingKey};

/// Verifies JWTs signed with one key, for one audience.
///
/// A token whose `aud` does not name the audience, whose `exp` passed (60 s leeway by
/// default) or whose `iss` is not the configured issuer is refused (`UNAUTHENTICATED`).
/// `exp` is required.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: jsonwebtoken::Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("audience", &self.validation.aud)
            .field("issuer", &self.validation.iss)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Tokens signed by `key` with `algorithm` (only that one), for `audience`.
    pub fn new(key: DecodingKey, algorithm: Algorithm, audience: &str) -> Self {
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        JwtVerifier { key, validation }
    }

    /// Also requires `iss` to be `issuer`.
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.validation.set_issuer(&[issuer]);
        self.validation
            .set_required_spec_claims(&["exp", "aud", "iss"]);
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.validation.leeway = leeway.as_secs();
        self
    }

    /// The claims of `token`, checked (synchronous: no I/O).
    pub fn verify_now(&self, token: &str) -> Result<Claims, AuthError> {
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        Ok(claims(data.claims))
    }
}

impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify_now(token)
    }
}

/// The registered claims we know, and every other string claim.
fn claims(mut map: Map<String, Value>) -> Claims {
    let mut take = |k: &str| map.remove(k);
    let subject = take("sub").and_then(string);
    let issuer = take("iss").and_then(string);
    let audience = take("aud").map(strings).unwrap_or_default();
    // OAuth's `scope` is one space-separated string; some issuers send `scp` as a list.
    let mut scopes: Vec<String> = match take("scope") {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(other) => strings(other),
        None => Vec::new(),
    };
    scopes.extend(take("scp").map(strings).unwrap_or_default());
    let extra = map
        .into_iter()
        .filter_map(|(k, v)| string(v).map(|v| (k, v)))
        .collect();
    Claims {
        subject,
        issuer,
        audience,
        scopes,
        extra,
    }
}

fn string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn strings(v: Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.into_iter().filter_map(string).collect(),
        other => string(other).into_iter().collect(),
    }
}
