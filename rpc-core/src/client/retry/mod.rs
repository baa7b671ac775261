//! Retries and hedging: a tower layer over the client's call seam
//! ([`CallService`](super::service::CallService)), configured per method in code or by
//! gRPC's service config JSON (gRPC A6, PROTOCOL.md §9.3).
//!
//! ```no_run
//! # async fn demo(channel: rpc_core::Channel) -> Result<(), Box<dyn std::error::Error>> {
//! use rpc_core::client::retry::RetryLayer;
//! use tower::ServiceBuilder;
//!
//! let retries = RetryLayer::from_service_config(r#"{
//!   "methodConfig": [{
//!     "name": [{"service": "helloworld.Greeter"}],
//!     "retryPolicy": {
//!       "maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s",
//!       "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]
//!     }
//!   }],
//!   "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
//! }"#)?;
//! let stack = ServiceBuilder::new().layer(retries).service(channel);
//! // let client = GreeterClient::new(stack);
//! # let _ = stack;
//! # Ok(()) }
//! ```
//!
//! Or built into a channel, so that `FooClient<Channel>` retries as it is:
//! [`Endpoint::service_config`](crate::Endpoint::service_config) (or
//! [`Endpoint::retry_layer`](crate::Endpoint::retry_layer) for a layer built in code).
//!
//! What is retried, and when:
//!
//! * **Only calls not committed.** An attempt is committed, and its outcome final, once the
//!   server has answered with anything but a failure (a response head, a message): the
//!   stack's future has resolved with a response. Requests are kept for retries up to the
//!   per-call buffer limit (64 KiB by default): a larger request commits the call at once,
//!   and a request stream commits it when its messages pass the limit.
//! * **Only what may run twice.** A failure after the server may have run the call is
//!   retried only for methods marked idempotent (protobuf `idempotency_level` `IDEMPOTENT`
//!   or `NO_SIDE_EFFECTS`, which generated clients set on each request), unless the policy
//!   says [`RetryPolicy::retry_non_idempotent`]. A failure known to be before any handler
//!   ([`Status::never_processed`]: refused with `REFUSED_STREAM`, never sent) may be
//!   retried whatever the method.
//! * **Transparent retry.** Every call through the layer, configured or not, is sent once
//!   more at once if its first failure was before any handler (no backoff, not counted as
//!   an attempt, not throttled).
//! * **Policies.** A retry policy retries the listed codes with exponential backoff and
//!   full jitter; a hedging policy (single-request idempotent methods) sends further
//!   attempts every `hedgingDelay` and keeps the first answer that is not a non-fatal
//!   failure, cancelling the others (their server handlers are dropped, PROTOCOL.md §9).
//!   Attempts stop at `maxAttempts` (at most 5) and at the call's deadline, which covers
//!   every attempt: each attempt is sent with the time that is left. (A call without a
//!   timeout of its own or of its method gets the channel's default,
//!   [`Endpoint::timeout`](crate::Endpoint::timeout), per attempt.)
//! * **Throttling.** With `retryThrottling`, a token bucket per channel (per
//!   [`RetryLayer::layer`] call) stops retries and hedges while failures outnumber
//!   successes, as in gRPC A6.
//! * **Server pushback.** A status whose trailers carry [`RETRY_PUSHBACK`] (set with
//!   [`Status::with_retry_pushback`] or [`Status::with_no_retry`]) sets the delay before
//!   the next attempt, or stops retries.
//! * **Method settings.** A method's `timeout` bounds its calls (a shorter timeout of the
//!   call wins); `waitForReady` sets [`WaitForReady`](super::WaitForReady) on calls that do
//!   not say.
//! * **The server sees the attempt.** Every attempt after the first carries
//!   [`PREVIOUS_ATTEMPTS`] in its request metadata.
//!
//! A channel without this layer pays nothing for it (measured with callgrind: the same
//! instructions per call).

mod config;
mod decide;

pub use config::{
    ConfigError, HedgingPolicy, MethodConfig, Name, RetryPolicy, RetryThrottling, ServiceConfig,
    DEFAULT_BUFFER_LIMIT, MAX_ATTEMPTS,
};

use super::service::{CallRequest, CallResponse, MessageStream, MethodKind, RequestBody};
use crate::request::Request;
use crate::status::Status;
use bytes::Bytes;
use config::{Policy, Resolved};
use decide::{Next, Pushback, Throttle};
use futures_core::Stream;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower::ServiceExt;
use tower_layer::Layer;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Request metadata on every attempt after the first: how many attempts of the call were
/// sent before this one (`"1"`, `"2"`, ...), as gRPC's `grpc-previous-rpc-attempts`
/// (PROTOCOL.md §9.3; `grpc-` keys are reserved, §5.4).
pub const PREVIOUS_ATTEMPTS: &str = "qrpc-previous-rpc-attempts";

/// Trailing metadata of a failed call: the server's word on retrying it, as gRPC's
/// `grpc-retry-pushback-ms`. A non-negative decimal integer: retry after that many
/// milliseconds; anything else (`-1`, garbage, two values): do not retry (PROTOCOL.md §9.3).
pub const RETRY_PUSHBACK: &str = "qrpc-retry-pushback-ms";

/// A tower layer that retries and hedges calls by method ([`ServiceConfig`]); see the
/// [module docs](self).
#[derive(Clone)]
pub struct RetryLayer {
    shared: Arc<Shared>,
}

struct Shared {
    config: Resolved,
    throttling: Option<RetryThrottling>,
    /// `None`: unbounded.
    buffer_limit: Option<usize>,
}

impl fmt::Debug for RetryLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("config", &self.shared.config)
            .field("throttling", &self.shared.throttling)
            .field("buffer_limit", &self.shared.buffer_limit)
            .finish()
    }
}

impl RetryLayer {
    /// The layer for `config`, validated, with the default buffer limit.
    pub fn new(config: ServiceConfig) -> Result<Self, ConfigError> {
        Self::builder(config).build()
    }

    /// The layer for gRPC's service config JSON; see [`ServiceConfig::from_json`].
    pub fn from_service_config(json: &str) -> Result<Self, ConfigError> {
        Self::new(ServiceConfig::from_json(json)?)
    }

    /// A builder, for a buffer limit or the methods to check the config against.
    pub fn builder(config: ServiceConfig) -> RetryLayerBuilder {
        RetryLayerBuilder {
            config,
            buffer_limit: Some(DEFAULT_BUFFER_LIMIT),
            methods: Vec::new(),
        }
    }
}

/// Builds a [`RetryLayer`]; every check runs in [`build`](Self::build), none at the first
/// call.
#[derive(Debug)]
pub struct RetryLayerBuilder {
    config: ServiceConfig,
    buffer_limit: Option<usize>,
    methods: Vec<(String, MethodKind)>,
}

impl RetryLayerBuilder {
    /// The most request bytes kept per call for retries (default [`DEFAULT_BUFFER_LIMIT`]).
    pub fn per_call_buffer_limit(mut self, bytes: usize) -> Self {
        self.buffer_limit = Some(bytes);
        self
    }

    /// Keeps whole requests, however large, for retries. Then a policy may cover only
    /// methods declared ([`method`](Self::method)) with a single-message request: a request
    /// stream would be kept in memory whole.
    pub fn unbounded_buffer(mut self) -> Self {
        self.buffer_limit = None;
        self
    }

    /// Declares a method (`/package.Service/Method`) and its kind, to check the config
    /// against: a hedging policy needs a single-message request.
    pub fn method(mut self, path: impl Into<String>, kind: MethodKind) -> Self {
        self.methods.push((path.into(), kind));
        self
    }

    /// Validates everything and builds the layer.
    pub fn build(self) -> Result<RetryLayer, ConfigError> {
        let mut config = self.config;
        config.validate()?;
        let resolved = config.resolve();
        let invalid = |field: String, message: String| ConfigError::Invalid { field, message };
        for (path, kind) in &self.methods {
            let Some(method) = resolved.lookup(path) else {
                continue;
            };
            if method.hedging_policy().is_some() && !kind.single_request() {
                return Err(invalid(
                    format!("hedgingPolicy for {path}"),
                    format!("a {kind:?} method has a request stream, which is not hedged"),
                ));
            }
            if method.policy.is_some() && !kind.single_request() && self.buffer_limit.is_none() {
                return Err(invalid(
                    format!("retryPolicy for {path}"),
                    format!(
                        "a {kind:?} method's request stream would be buffered without \
                         limit: set a per-call buffer limit"
                    ),
                ));
            }
        }
        if self.buffer_limit.is_none() {
            // Every policy must be known to cover only single-request methods.
            let single = |path: &str| {
                self.methods
                    .iter()
                    .any(|(p, k)| p == path && k.single_request())
            };
            if let Some((what, _)) = resolved.wide().find(|(_, m)| m.policy.is_some()) {
                return Err(invalid(
                    format!("policy for {what}"),
                    "with an unbounded buffer, policies must name single-request methods \
                     one by one (a request stream would be buffered without limit)"
                        .to_owned(),
                ));
            }
            for (names, method) in &config.methods {
                for name in names {
                    if let Name::Method(s, m) = name {
                        let path = format!("/{s}/{m}");
                        if method.policy.is_some() && !single(&path) {
                            return Err(invalid(
                                format!("policy for {path}"),
                                "with an unbounded buffer, declare the method's kind \
                                 (RetryLayerBuilder::method): a request stream would be \
                                 buffered without limit"
                                    .to_owned(),
                            ));
                        }
                    }
                }
            }
            debug_assert!(resolved.exact("").is_none());
        }
        Ok(RetryLayer {
            shared: Arc::new(Shared {
                config: resolved,
                throttling: config.throttling,
                buffer_limit: self.buffer_limit,
            }),
        })
    }
}

/// A [`RetryLayer`] built into a channel ([`Endpoint::service_config`](crate::Endpoint::service_config)):
/// the policies, and the channel's own throttle.
#[derive(Clone)]
pub(crate) struct ChannelRetry {
    shared: Arc<Shared>,
    throttle: Option<Arc<Throttle>>,
}

impl fmt::Debug for ChannelRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelRetry")
            .field("config", &self.shared.config)
            .field("retry_tokens", &self.throttle.as_ref().map(|t| t.tokens()))
            .finish()
    }
}

impl RetryLayer {
    /// The layer's policies for one channel, with a throttle of its own.
    pub(crate) fn for_channel(&self) -> ChannelRetry {
        let Retry {
            shared, throttle, ..
        } = self.layer(());
        ChannelRetry { shared, throttle }
    }
}

impl ChannelRetry {
    /// The same policies with a fresh throttle, for another channel.
    pub(crate) fn fresh(&self) -> ChannelRetry {
        RetryLayer {
            shared: self.shared.clone(),
        }
        .for_channel()
    }
}

impl super::Channel {
    /// Whether the channel's endpoint has a built-in retry layer.
    #[inline]
    pub(crate) fn has_retry(&self) -> bool {
        self.inner.config.retry.is_some()
    }

    /// The channel behind its built-in retry layer, when its endpoint has one.
    pub(crate) fn retrying(&self) -> Option<Retry<super::Channel>> {
        let retry = self.inner.config.retry.as_ref()?;
        Some(Retry {
            inner: self.clone(),
            shared: retry.shared.clone(),
            throttle: retry.throttle.clone(),
        })
    }

    /// The tokens left in the retry throttle of the channel's built-in retry layer
    /// ([`Endpoint::service_config`](crate::Endpoint::service_config)), when it throttles.
    pub fn retry_tokens(&self) -> Option<f64> {
        let retry = self.inner.config.retry.as_ref()?;
        retry.throttle.as_ref().map(|t| t.tokens())
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    /// Wraps one channel: each call of `layer` gets its own throttle.
    fn layer(&self, inner: S) -> Retry<S> {
        let throttle = self
            .shared
            .throttling
            .as_ref()
            .map(|t| Arc::new(Throttle::new(t.max_tokens, t.token_ratio)));
        Retry {
            inner,
            shared: self.shared.clone(),
            throttle,
        }
    }
}

/// A client stack that retries and hedges calls; made by [`RetryLayer`].
#[derive(Clone)]
pub struct Retry<S> {
    inner: S,
    shared: Arc<Shared>,
    throttle: Option<Arc<Throttle>>,
}

impl<S> fmt::Debug for Retry<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("retry_tokens", &self.retry_tokens())
            .finish_non_exhaustive()
    }
}

impl<S> Retry<S> {
    /// The tokens left in the throttle's bucket, when throttling is configured.
    pub fn retry_tokens(&self) -> Option<f64> {
        self.throttle.as_ref().map(|t| t.tokens())
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// The future of [`Retry`]'s calls.
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Result<CallResponse, Status>> + Send + 'static>>,
}

impl Future for ResponseFuture {
    type Output = Result<CallResponse, Status>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<S> Service<CallRequest> for Retry<S>
where
    S: Service<CallRequest, Response = CallResponse> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = CallResponse;
    type Error = Status;
    type Future = ResponseFuture;

    /// Always ready: each attempt waits for the inner service to be ready.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: CallRequest) -> ResponseFuture {
        let run = Run {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            throttle: self.throttle.clone(),
        };
        ResponseFuture {
            inner: Box::pin(run.call(call)),
        }
    }
}

/// One call's attempts.
struct Run<S> {
    inner: S,
    shared: Arc<Shared>,
    throttle: Option<Arc<Throttle>>,
}

impl<S> Run<S>
where
    S: Service<CallRequest, Response = CallResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    async fn call(self, mut call: CallRequest) -> Result<CallResponse, Status> {
        let method = self.shared.config.lookup(&call.path).cloned();
        if let Some(limit) = method.as_ref().and_then(|m| m.timeout) {
            let own = call.request.timeout().filter(|t| *t != Duration::MAX);
            if own.is_none_or(|t| t > limit) {
                call.request.set_timeout(limit);
            }
        }
        if let Some(wait) = method.as_ref().and_then(|m| m.wait_for_ready) {
            let extensions = call.request.extensions_mut();
            if extensions.get::<super::WaitForReady>().is_none() {
                extensions.insert(super::WaitForReady(wait));
            }
        }
        let deadline = call
            .request
            .timeout()
            .filter(|t| *t != Duration::MAX)
            .and_then(|t| Instant::now().checked_add(t));
        let template = Template::new(call, self.shared.buffer_limit);
        let policy = method.as_ref().and_then(|m| m.policy.as_ref());
        match policy {
            Some(Policy::Hedging(h)) if template.hedgeable() => {
                self.hedge(template, h, deadline).await
            }
            Some(Policy::Retry(r)) => self.retry(template, Some(r), deadline).await,
            _ => self.retry(template, None, deadline).await,
        }
    }

    fn attempt(
        &self,
        request: CallRequest,
    ) -> impl Future<Output = Result<CallResponse, Status>> + Send + 'static {
        let inner = self.inner.clone();
        async move {
            inner
                .oneshot(request)
                .await
                .map_err(|e| Status::from_error(e.into()))
        }
    }

    fn succeeded(&self) {
        if let Some(t) = &self.throttle {
            t.success();
        }
    }

    async fn retry(
        &self,
        mut template: Template,
        policy: Option<&RetryPolicy>,
        deadline: Option<Instant>,
    ) -> Result<CallResponse, Status> {
        let mut sent = 0u32;
        let mut counted = 0u32;
        let mut transparent = true;
        let mut since_pushback = 0u32;
        loop {
            let request = template.attempt(sent, deadline)?;
            sent += 1;
            let status = match self.attempt(request).await {
                Ok(response) => {
                    self.succeeded();
                    return Ok(response);
                }
                Err(status) => status,
            };
            if !template.replayable() {
                return Err(status);
            }
            if transparent && status.never_processed() {
                // Refused before any handler saw it: once more, at once (gRPC's
                // transparent retry), not counted, not throttled.
                tracing::debug!(path = %template.path, %status, "transparent retry");
                transparent = false;
                continue;
            }
            counted += 1;
            let Some(policy) = policy else {
                return Err(status);
            };
            let next = decide::after_failure(
                policy,
                &status,
                template.idempotent,
                counted,
                since_pushback,
                self.throttle.as_deref(),
                fastrand::f64(),
            );
            match next {
                Next::Stop => return Err(status),
                Next::After { delay, pushback } => {
                    tracing::debug!(
                        path = %template.path,
                        attempt = counted,
                        ?delay,
                        pushback,
                        %status,
                        "retrying"
                    );
                    since_pushback = if pushback { 0 } else { since_pushback + 1 };
                    let at = Instant::now() + delay;
                    if deadline.is_some_and(|d| at >= d) {
                        // No time left for another attempt: the last failure is the outcome.
                        return Err(status);
                    }
                    tokio::time::sleep_until(at).await;
                }
            }
        }
    }

    async fn hedge(
        &self,
        mut template: Template,
        policy: &HedgingPolicy,
        deadline: Option<Instant>,
    ) -> Result<CallResponse, Status> {
        let mut running = FuturesUnordered::new();
        let mut sent = 0u32;
        let mut counted = 0u32;
        let mut transparent = true;
        let mut stopped = false;
        let mut last: Option<Status> = None;
        let mut next_at = Instant::now();
        loop {
            let may_send = |counted: u32, stopped: bool| {
                !stopped
                    && counted < policy.max_attempts
                    && (counted == 0 || self.throttle.as_ref().is_none_or(|t| t.allows()))
            };
            if may_send(counted, stopped) && Instant::now() >= next_at {
                match template.attempt(sent, deadline) {
                    Ok(request) => {
                        if counted > 0 {
                            tracing::debug!(path = %template.path, attempt = counted, "hedging");
                        }
                        running.push(self.attempt(request));
                        sent += 1;
                        counted += 1;
                        next_at = Instant::now() + policy.delay;
                        continue;
                    }
                    Err(status) => {
                        stopped = true;
                        last.get_or_insert(status);
                    }
                }
            }
            let may_send = may_send(counted, stopped);
            if running.is_empty() && !may_send {
                return Err(last.unwrap_or_else(|| Status::internal("no attempt was sent")));
            }
            tokio::select! {
                Some(res) = running.next() => match res {
                    Ok(response) => {
                        // The first answer wins; dropping `running` cancels the others.
                        self.succeeded();
                        return Ok(response);
                    }
                    Err(status) => {
                        if transparent && status.never_processed() {
                            transparent = false;
                            if let Ok(request) = template.attempt(sent, deadline) {
                                running.push(self.attempt(request));
                                sent += 1;
                            }
                            continue;
                        }
                        if !policy.non_fatal.contains(status.code()) {
                            return Err(status);
                        }
                        if let Some(t) = &self.throttle {
                            t.failure();
                        }
                        match decide::pushback(status.metadata()) {
                            Pushback::Stop => stopped = true,
                            Pushback::After(d) => next_at = Instant::now() + d,
                            // A non-fatal failure: the next hedge at once.
                            Pushback::None => next_at = Instant::now(),
                        }
                        last = Some(status);
                    }
                },
                _ = tokio::time::sleep_until(next_at), if may_send => {}
                else => {}
            }
        }
    }
}

/// What each attempt of a call is made from.
struct Template {
    path: std::borrow::Cow<'static, str>,
    kind: MethodKind,
    idempotent: bool,
    head: Request<()>,
    body: Kept,
}

enum Kept {
    /// A single message kept for further attempts.
    Single(Bytes),
    /// A request stream, recorded as it is sent.
    Stream(Arc<Mutex<Recorder>>),
    /// The body of the one attempt there will be (`None` once sent): the request was
    /// larger than the buffer limit.
    Once(Option<RequestBody>),
}

impl Template {
    fn new(call: CallRequest, limit: Option<usize>) -> Template {
        let CallRequest {
            path,
            kind,
            request,
        } = call;
        let idempotent = request.is_idempotent();
        let (body, head) = request.into_parts_with(|b| b);
        let body = match body.as_single() {
            Some(m) if limit.is_none_or(|l| m.len() <= l) => Kept::Single(m.clone()),
            Some(_) => Kept::Once(Some(body)),
            None => Kept::Stream(Arc::new(Mutex::new(Recorder::new(
                body.into_stream(),
                limit,
            )))),
        };
        Template {
            path,
            kind,
            idempotent,
            head,
            body,
        }
    }

    fn hedgeable(&self) -> bool {
        self.idempotent && matches!(self.body, Kept::Single(_))
    }

    /// Whether another attempt can be made: the request is still all in hand.
    fn replayable(&self) -> bool {
        match &self.body {
            Kept::Single(_) => true,
            Kept::Stream(r) => !r.lock().unwrap_or_else(|e| e.into_inner()).committed,
            Kept::Once(_) => false,
        }
    }

    /// Attempt number `n` (0: the first), with the time left before `deadline`.
    fn attempt(&mut self, n: u32, deadline: Option<Instant>) -> Result<CallRequest, Status> {
        let body = match &mut self.body {
            Kept::Single(m) => RequestBody::single(m.clone()),
            Kept::Stream(r) => RequestBody::stream(Replay::start(r)),
            Kept::Once(b) => b
                .take()
                .ok_or_else(|| Status::internal("the request was sent already"))?,
        };
        let mut request = Request::new(body);
        *request.metadata_mut() = self.head.metadata().clone();
        *request.extensions_mut() = self.head.extensions().clone();
        request.set_idempotent(self.idempotent);
        if n > 0 {
            request
                .metadata_mut()
                .insert(PREVIOUS_ATTEMPTS, &n.to_string())
                .expect("a valid key and value");
        }
        match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Status::deadline_exceeded("deadline exceeded"));
                }
                request.set_timeout(left);
            }
            None => {
                if self.head.timeout() == Some(Duration::MAX) {
                    request.clear_timeout();
                }
            }
        }
        Ok(CallRequest {
            path: self.path.clone(),
            kind: self.kind,
            request,
        })
    }
}

/// A request stream and the messages it has yielded so far, replayed to later attempts
/// while they fit the buffer limit.
struct Recorder {
    source: MessageStream,
    kept: Vec<Result<Bytes, Status>>,
    size: usize,
    limit: Option<usize>,
    /// Messages taken from `source`.
    taken: usize,
    /// Over the limit: `kept` is dropped and no further attempt can be made.
    committed: bool,
    ended: bool,
    /// The attempt reading now; older attempts' streams end.
    current: u64,
}

impl Recorder {
    fn new(source: MessageStream, limit: Option<usize>) -> Self {
        Recorder {
            source,
            kept: Vec::new(),
            size: 0,
            limit,
            taken: 0,
            committed: false,
            ended: false,
            current: 0,
        }
    }
}

/// One attempt's request stream: what was recorded, then the rest of the source.
struct Replay {
    recorder: Arc<Mutex<Recorder>>,
    id: u64,
    pos: usize,
}

impl Replay {
    fn start(recorder: &Arc<Mutex<Recorder>>) -> Replay {
        let mut r = recorder.lock().unwrap_or_else(|e| e.into_inner());
        r.current += 1;
        Replay {
            recorder: recorder.clone(),
            id: r.current,
            pos: 0,
        }
    }
}

impl Stream for Replay {
    type Item = Result<Bytes, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let mut r = this.recorder.lock().unwrap_or_else(|e| e.into_inner());
        if r.current != this.id {
            // A later attempt replaced this one.
            return Poll::Ready(None);
        }
        if this.pos < r.taken {
            if r.committed {
                return Poll::Ready(None);
            }
            let item = r.kept[this.pos].clone();
            this.pos += 1;
            return Poll::Ready(Some(item));
        }
        if r.ended {
            return Poll::Ready(None);
        }
        match r.source.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                r.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => {
                r.taken += 1;
                this.pos += 1;
                if !r.committed {
                    r.size += item.as_ref().map_or(0, Bytes::len);
                    if r.limit.is_some_and(|l| r.size > l) {
                        r.committed = true;
                        r.kept = Vec::new();
                    } else {
                        r.kept.push(item.clone());
                    }
                }
                Poll::Ready(Some(item))
            }
        }
    }
}
