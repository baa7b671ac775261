//! The server side: a layer that verifies bearer tokens and hands their claims on.

use rpc_core::server::{CallOutcome, ServerCall};
use rpc_core::Status;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a verified token says of its bearer. The authentication layer stores it in the
/// call's extensions (`request.extensions().get::<Claims>()` in handlers), where the
/// [`Policy`](crate::Policy) reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// Who the token was issued to (`sub`).
    pub subject: Option<String>,
    /// Who issued it (`iss`).
    pub issuer: Option<String>,
    /// The services it is meant for (`aud`).
    pub audience: Vec<String>,
    /// What it allows (`scope`, split at spaces).
    pub scopes: Vec<String>,
    /// Any other string claims.
    pub extra: BTreeMap<String, String>,
}

impl Claims {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The call carries no `authorization` metadata.
    #[error("missing credentials")]
    Missing,
    /// The `authorization` value is not `Bearer <token>`.
    #[error("malformed authorization: expected `Bearer <token>`")]
    Malformed,
    /// The token is not valid (signature, expiry, audience, issuer...).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token could not be checked now (the identity provider is down).
    #[error("cannot verify the token now: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// The status a call fails with: `UNAUTHENTICATED`, or `UNAVAILABLE` when the verifier
    /// could not decide.
    pub fn to_status(&self) -> Status {
        match self {
            AuthError::Unavailable(_) => Status::unavailable(self.to_string()),
            _ => Status::unauthenticated(self.to_string()),
        }
    }
}

/// Checks a bearer token and says what it claims.
///
/// ```
/// use rpc_auth::server::{AuthError, Claims, TokenVerifier};
///
/// struct OneKey;
/// impl TokenVerifier for OneKey {
///     async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
///         match token {
///             "let-me-in" => Ok(Claims { subject: Some("alice".into()), ..Claims::default() }),
///             _ => Err(AuthError::Invalid("unknown token".into())),
///         }
///     }
/// }
/// ```
pub trait TokenVerifier: Send + Sync + 'static {
    /// The token's claims, or why it is refused.
    ///
    /// # Cancel safety
    /// Should be cancel safe: the call may end (client gone, deadline) while it waits.
    fn verify(&self, token: &str) -> impl Future<Output = Result<Claims, AuthError>> + Send;
}

/// The token of a call's `authorization` metadata (`Bearer <token>`, scheme case-insensitive).
pub fn bearer_token(call: &ServerCall) -> Result<&str, AuthError> {
    let value = call
        .metadata()
        .get("authorization")
        .ok_or(AuthError::Missing)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

/// A server layer that verifies each call's bearer token with a [`TokenVerifier`].
///
/// A call with a missing, malformed or refused token fails with `UNAUTHENTICATED` before any
/// inner layer or handler runs; an accepted one carries the token's [`Claims`] in its
/// extensions. With [`optional`](AuthLayer::optional), calls without a token go on
/// anonymous (without claims), for a [`Policy`](crate::Policy) to decide.
///
/// Put limits (`ConcurrencyLimit`, `RateLimit`) before it: the inner stack is called once
/// the token is verified, from the call's task.
pub struct AuthLayer<V> {
    verifier: Arc<V>,
    optional: bool,
}

impl<V> Clone for AuthLayer<V> {
    fn clone(&self) -> Self {
        AuthLayer {
            verifier: self.verifier.clone(),
            optional: self.optional,
        }
    }
}

impl<V> std::fmt::Debug for AuthLayer<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("optional", &self.optional)
            .finish_non_exhaustive()
    }
}

impl<V: TokenVerifier> AuthLayer<V> {
    /// Every call must carry a token `verifier` accepts.
    pub fn new(verifier: V) -> Self {
        AuthLayer {
            verifier: Arc::new(verifier),
            optional: false,
        }
    }

    /// Calls without `authorization` go on without claims (a bad token still fails).
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

impl<S, V> tower_layer::Layer<S> for AuthLayer<V> {
    type Service = Authenticate<S, V>;

    fn layer(&self, inner: S) -> Authenticate<S, V> {
        Authenticate {
            // Shared with the calls' tasks: the server's stacks are not `Clone`.
            inner: Arc::new(tokio::sync::Mutex::new(inner)),
            layer: self.clone(),
        }
    }
}

/// The service of an [`AuthLayer`].
pub struct Authenticate<S, V> {
    inner: Arc<tokio::sync::Mutex<S>>,
    layer: AuthLayer<V>,
}

impl<S, V> std::fmt::Debug for Authenticate<S, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticate").finish_non_exhaustive()
    }
}

impl<S, V> Service<ServerCall> for Authenticate<S, V>
where
    S: Service<ServerCall, Response = CallOutcome> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    V: TokenVerifier,
{
    type Response = CallOutcome;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<CallOutcome, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The inner stack's readiness is awaited by each call, once authenticated.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut call: ServerCall) -> Self::Future {
        let inner = self.inner.clone();
        let layer = self.layer.clone();
        Box::pin(async move {
            if let Err(e) = authenticate(&layer, &mut call).await {
                tracing::debug!(path = call.path(), error = %e, "authentication failed");
                return Err(e.to_status().into());
            }
            let future = {
                let mut inner = inner.lock().await;
                std::future::poll_fn(|cx| inner.poll_ready(cx))
                    .await
                    .map_err(Into::into)?;
                inner.call(call)
            };
            future.await.map_err(Into::into)
        })
    }
}

/// Verifies the call's token and stores its claims in the call; an anonymous call passes
/// when the layer is optional.
async fn authenticate<V: TokenVerifier>(
    layer: &AuthLayer<V>,
    call: &mut ServerCall,
) -> Result<(), AuthError> {
    // Owned: the call itself need not be `Sync` to wait here.
    let token = match bearer_token(call) {
        Ok(token) => token.to_owned(),
        Err(AuthError::Missing) if layer.optional => return Ok(()),
        Err(e) => return Err(e),
    };
    let claims = layer.verifier.verify(&token).await?;
    call.extensions_mut().insert(claims);
    Ok(())
}
