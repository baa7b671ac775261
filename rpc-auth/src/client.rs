//! The client side: credentials added to calls by a tower layer over a [`Channel`].

use rpc_core::client::service::{CallRequest, CallResponse};
use rpc_core::transport::Security;
use rpc_core::wire::head::split_path;
use rpc_core::{Channel, MetadataMap, Status};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed future, as [`CredentialsProvider::credentials`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a [`CredentialsProvider`] knows of the call it adds credentials to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    service: String,
    method: String,
    authority: String,
    security: Security,
}

impl CallContext {
    /// A context, for tests of a provider.
    pub fn new(service: &str, method: &str, authority: &str, security: Security) -> Self {
        CallContext {
            service: service.to_owned(),
            method: method.to_owned(),
            authority: authority.to_owned(),
            security,
        }
    }

    /// The called service, `package.Service`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The called method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The server, `host:port` as given to the channel's endpoint (empty for a channel made
    /// with `Endpoint::from_connector`): a provider may pick a token for its audience.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// What protects the channel the call goes over.
    pub fn security(&self) -> Security {
        self.security
    }
}

/// Gives the metadata that authenticates a call (`authorization: Bearer ...`, an API key).
///
/// It may wait (fetch or refresh a token). An error fails the call with its status, before
/// anything is sent.
pub trait CredentialsProvider: Send + Sync + 'static {
    /// The entries to add to the call's metadata; each replaces any value of its key.
    ///
    /// # Cancel safety
    /// Implementations should be cancel safe: the call that awaits them may be dropped.
    fn credentials<'a>(
        &'a self,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<MetadataMap, Status>>;
}

impl<P: CredentialsProvider + ?Sized> CredentialsProvider for Arc<P> {
    fn credentials<'a>(
        &'a self,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<MetadataMap, Status>> {
        (**self).credentials(ctx)
    }
}

/// `authorization: Bearer <token>`, as metadata.
fn bearer(token: &str) -> Result<MetadataMap, Status> {
    let mut md = MetadataMap::new();
    md.insert("authorization", &format!("Bearer {token}"))
        .map_err(|e| Status::unauthenticated(format!("unusable token: {e}")))?;
    Ok(md)
}

/// A fixed bearer token (an API key, a long-lived service token).
#[derive(Clone)]
pub struct StaticToken(MetadataMap);

impl StaticToken {
    /// Sends `authorization: Bearer <token>`; fails if the token is not printable ASCII.
    pub fn new(token: &str) -> Result<Self, Status> {
        bearer(token).map(StaticToken)
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(..)") // never print a secret
    }
}

impl CredentialsProvider for StaticToken {
    fn credentials<'a>(&'a self, _: &'a CallContext) -> BoxFuture<'a, Result<MetadataMap, Status>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}

/// A token and when it stops being valid, as a [`BearerToken`]'s fetch function returns it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    value: String,
    expires_at: Option<Instant>,
}

impl Token {
    /// A token valid for `lifetime` from now.
    pub fn expiring_in(value: impl Into<String>, lifetime: Duration) -> Self {
        Token {
            value: value.into(),
            expires_at: Some(Instant::now() + lifetime),
        }
    }

    /// A token that does not expire.
    pub fn forever(value: impl Into<String>) -> Self {
        Token {
            value: value.into(),
            expires_at: None,
        }
    }

    /// The secret.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// When it expires, if it does.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// Whether it is still good for at least `margin`.
    fn fresh_for(&self, margin: Duration) -> bool {
        self.expires_at
            .is_none_or(|at| Instant::now() + margin < at)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

type FetchFn = dyn Fn() -> BoxFuture<'static, Result<Token, Status>> + Send + Sync;

/// A bearer token fetched on demand, cached, and refreshed a margin before it expires.
///
/// One refresh at a time: calls that find the token stale while another call refreshes it
/// wait for that refresh instead of fetching again. If a refresh fails while the old token
/// is still valid, the old token is used (and the next call tries again).
///
/// ```
/// use rpc_auth::client::{BearerToken, Token};
/// use std::time::Duration;
///
/// let provider = BearerToken::new(|| async {
///     // Ask the identity provider here.
///     Ok(Token::expiring_in("eyJ...", Duration::from_secs(3600)))
/// })
/// .refresh_before(Duration::from_secs(60));
/// # let _ = provider;
/// ```
pub struct BearerToken {
    fetch: Box<FetchFn>,
    margin: Duration,
    cached: Mutex<Option<Token>>,
    /// Held by the call that refreshes: single flight.
    refreshing: tokio::sync::Mutex<()>,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl BearerToken {
    /// A provider fetching its token with `fetch`; refreshes 30 s before expiry by default.
    pub fn new<F, Fut>(fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Token, Status>> + Send + 'static,
    {
        BearerToken {
            fetch: Box::new(move || Box::pin(fetch())),
            margin: Duration::from_secs(30),
            cached: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// How long before expiry to fetch a new token (default 30 s).
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    fn cached(&self) -> Option<Token> {
        self.cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current token, fetched or refreshed if needed.
    ///
    /// # Cancel safety
    /// Cancel safe: a refresh abandoned midway is started again by the next caller.
    pub async fn token(&self) -> Result<Token, Status> {
        if let Some(token) = self.cached().filter(|t| t.fresh_for(self.margin)) {
            return Ok(token);
        }
        let _refreshing = self.refreshing.lock().await;
        // Another call may have refreshed while this one waited.
        let old = self.cached();
        if let Some(token) = old.as_ref().filter(|t| t.fresh_for(self.margin)) {
            return Ok(token.clone());
        }
        match (self.fetch)().await {
            Ok(token) => {
                *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
                Ok(token)
            }
            // Early refresh failed: the old token still works for now.
            Err(status) => match old.filter(|t| t.fresh_for(Duration::ZERO)) {
                Some(token) => {
                    tracing::warn!(%status, "token refresh failed; using the current token");
                    Ok(token)
                }
                None => Err(status),
            },
        }
    }
}

impl CredentialsProvider for BearerToken {
    fn credentials<'a>(&'a self, _: &'a CallContext) -> BoxFuture<'a, Result<MetadataMap, Status>> {
        Box::pin(async move { bearer(self.token().await?.value()) })
    }
}

/// A request extension that replaces the layer's provider for one call.
///
/// ```
/// use rpc_auth::client::{CallCredentials, StaticToken};
/// let mut request = rpc_core::Request::new(());
/// let token = StaticToken::new("one-off").unwrap();
/// request.extensions_mut().insert(CallCredentials::new(token));
/// ```
#[derive(Clone)]
pub struct CallCredentials(Arc<dyn CredentialsProvider>);

impl CallCredentials {
    /// Credentials for this call only.
    pub fn new(provider: impl CredentialsProvider) -> Self {
        CallCredentials(Arc::new(provider))
    }
}

impl fmt::Debug for CallCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallCredentials(..)")
    }
}

/// Adds credentials to every call of the stack it wraps, when the channel is safe for them.
///
/// Credentials go only over a channel whose server certificate was verified
/// ([`Security::Verified`]), or verified against the development certificate on a loopback
/// address ([`Security::DevLoopback`]); in-process channels only after
/// [`allow_in_process`](CredentialsLayer::allow_in_process). Any other call fails with
/// `UNAUTHENTICATED` before it is sent.
#[derive(Clone)]
pub struct CredentialsLayer {
    provider: Option<Arc<dyn CredentialsProvider>>,
    security: Security,
    authority: Arc<str>,
    allow_in_process: bool,
}

impl fmt::Debug for CredentialsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsLayer")
            .field("security", &self.security)
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl CredentialsLayer {
    /// Credentials from `provider` on every call over `channel` (whose security it reads).
    pub fn new(channel: &Channel, provider: impl CredentialsProvider) -> Self {
        let mut layer = Self::per_call(channel);
        layer.provider = Some(Arc::new(provider));
        layer
    }

    /// Credentials only on calls that carry a [`CallCredentials`] extension.
    pub fn per_call(channel: &Channel) -> Self {
        let endpoint = channel.endpoint();
        let authority = match endpoint.host() {
            "" => String::new(),
            host => format!("{host}:{}", endpoint.port()),
        };
        CredentialsLayer {
            provider: None,
            security: channel.transport_security(),
            authority: authority.into(),
            allow_in_process: false,
        }
    }

    /// Also sends credentials over in-process channels ([`Security::InProcess`], tests).
    pub fn allow_in_process(mut self) -> Self {
        self.allow_in_process = true;
        self
    }

    /// Why credentials may not go over this channel, if they may not.
    fn refusal(&self) -> Option<Status> {
        let over = match self.security {
            Security::Verified | Security::DevLoopback => return None,
            Security::InProcess if self.allow_in_process => return None,
            Security::InProcess => "an in-process connection (see allow_in_process)",
            Security::DevRemote => "a development certificate to a non-loopback address",
            _ => "a connection whose server is not verified",
        };
        let message = format!("refusing to send credentials over {over}");
        Some(Status::unauthenticated(message))
    }
}

impl<S> tower_layer::Layer<S> for CredentialsLayer {
    type Service = AddCredentials<S>;

    fn layer(&self, inner: S) -> AddCredentials<S> {
        AddCredentials {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`CredentialsLayer`].
#[derive(Clone, Debug)]
pub struct AddCredentials<S> {
    inner: S,
    layer: CredentialsLayer,
}

impl<S> Service<CallRequest> for AddCredentials<S>
where
    S: Service<CallRequest, Response = CallResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = CallResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<CallResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut call: CallRequest) -> Self::Future {
        // The ready service goes with this call; the clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let provider = match call.request().extensions().get::<CallCredentials>() {
                Some(per_call) => per_call.0.clone(),
                None => match &layer.provider {
                    Some(provider) => provider.clone(),
                    None => return inner.call(call).await.map_err(Into::into),
                },
            };
            if let Some(status) = layer.refusal() {
                return Err(status.into());
            }
            let (service, method) = split_path(call.path()).unwrap_or(("", ""));
            let ctx = CallContext::new(service, method, &layer.authority, layer.security);
            let credentials = provider.credentials(&ctx).await?;
            let md = call.request_mut().metadata_mut();
            for (key, _) in credentials.iter() {
                md.remove(key);
            }
            md.extend(credentials);
            inner.call(call).await.map_err(Into::into)
        })
    }
}
