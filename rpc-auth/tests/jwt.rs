//! JWT verification: audience, issuer, expiry, signature, and the claims handed on.
#![cfg(feature = "jwt")]

use rpc_auth::jwt::{Algorithm, DecodingKey, JwtVerifier};
use rpc_auth::AuthError;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

const SECRET: &[u8] = b"test secret";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(claims: serde_json::Value, secret: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

fn verifier() -> JwtVerifier {
    JwtVerifier::new(DecodingKey::from_secret(SECRET), Algorithm::HS256, "orders")
        .issuer("https://id.example")
}

fn good() -> serde_json::Value {
    json!({
        "sub": "alice", "aud": "orders", "iss": "https://id.example",
        "exp": now() + 600, "scope": "orders:read orders:write", "tenant": "acme", "n": 3
    })
}

#[test]
fn a_good_token_gives_its_claims() {
    let claims = verifier().verify_now(&sign(good(), SECRET)).unwrap();
    assert_eq!(claims.subject.as_deref(), Some("alice"));
    assert_eq!(claims.audience, ["orders"]);
    assert_eq!(claims.scopes, ["orders:read", "orders:write"]);
    assert_eq!(claims.extra.get("tenant").map(String::as_str), Some("acme"));
    assert!(!claims.extra.contains_key("n"), "only string claims");
}

#[test]
fn bad_tokens_are_refused() {
    let with = |key: &str, value: serde_json::Value| {
        let mut c = good();
        c[key] = value;
        c
    };
    let mut no_exp = good();
    no_exp.as_object_mut().unwrap().remove("exp");
    let cases = [
        (
            "another audience",
            sign(with("aud", json!("billing")), SECRET),
        ),
        (
            "audience list without ours",
            sign(with("aud", json!(["billing", "x"])), SECRET),
        ),
        (
            "another issuer",
            sign(with("iss", json!("https://evil.example")), SECRET),
        ),
        ("expired", sign(with("exp", json!(now() - 3600)), SECRET)),
        ("no expiry", sign(no_exp, SECRET)),
        ("another key", sign(good(), b"other secret")),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let err = verifier().verify_now(&token).unwrap_err();
        assert!(matches!(err, AuthError::Invalid(_)), "{what}: {err:?}");
        assert_eq!(
            err.to_status().code(),
            rpc_core::Code::Unauthenticated,
            "{what}"
        );
    }
    // `alg: none` or another algorithm than the one configured.
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512);
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    let other_alg = jsonwebtoken::encode(&header, &good(), &key).unwrap();
    assert!(verifier().verify_now(&other_alg).is_err());
}
