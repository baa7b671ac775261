//! An opt-in response cache for side-effect-free methods (PROTOCOL.md §17).
//!
//! A method whose proto says `option idempotency_level = NO_SIDE_EFFECTS;` may be answered
//! from a cache, but only when the server allowed it: its response carries the trailer
//! [`MAX_AGE_KEY`] (`qrpc-cache-max-age`, whole seconds), set on the server with
//! [`allow_caching`]. The client layer ([`CacheLayer`]) then answers repeats of the same
//! call (same method, same request bytes, same values of the metadata keys you name) from
//! an in-memory LRU bounded in bytes until the max-age runs out. Errors, calls of other
//! methods, streaming calls and responses without the trailer are never cached.
//!
//! ```no_run
//! # fn demo(balanced: rpc_balance::BalancedChannel) {
//! use rpc_balance::cache::CacheLayer;
//! use tower_layer::Layer;
//!
//! // `NO_SIDE_EFFECT_METHODS` is generated in each client module (`foo_client`).
//! let cache = CacheLayer::new(16 << 20)
//!     .methods(["/geo.Atlas/Lookup"])
//!     .key_metadata(["authorization"]);
//! let cached = cache.layer(balanced);
//! // let client = AtlasClient::new(cached);
//! println!("hit ratio {:.2}", cache.stats().hit_ratio());
//! # let _ = cached;
//! # }
//! ```

use bytes::Bytes;
use rpc_core::client::service::{CallRequest, CallResponse, MethodKind};
use rpc_core::{MetadataMap, Response, Status, Streaming};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// The trailing metadata key by which a server allows a response to be cached, in whole
/// seconds (`1` to [`MAX_AGE_LIMIT`]); anything else (absent, `0`, not a number) forbids it.
pub const MAX_AGE_KEY: &str = "qrpc-cache-max-age";

/// The longest max-age honoured, in seconds (one day); longer ones are cut to it.
pub const MAX_AGE_LIMIT: u64 = 86_400;

/// Server side: allows the client to cache `response` for `max_age` (rounded down to whole
/// seconds; under one second allows nothing). Only side-effect-free methods are cached by
/// clients.
///
/// ```
/// use rpc_core::Response;
/// use std::time::Duration;
/// let mut response = Response::new("answer");
/// rpc_balance::cache::allow_caching(&mut response, Duration::from_secs(30));
/// assert_eq!(response.trailers().get("qrpc-cache-max-age"), Some("30"));
/// ```
pub fn allow_caching<T>(response: &mut Response<T>, max_age: Duration) {
    let secs = max_age.as_secs().min(MAX_AGE_LIMIT);
    if secs > 0 {
        // A decimal number is always a valid ASCII value.
        let _ = response
            .trailers_mut()
            .insert(MAX_AGE_KEY, &secs.to_string());
    }
}

/// The max-age `trailers` allow, if any.
pub fn max_age(trailers: &MetadataMap) -> Option<Duration> {
    let value = trailers.get(MAX_AGE_KEY)?.trim();
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = value.parse().ok()?;
    (secs > 0).then(|| Duration::from_secs(secs.min(MAX_AGE_LIMIT)))
}

/// What a [`CacheLayer`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Calls answered from the cache.
    pub hits: u64,
    /// Cacheable calls sent to the server (not cached, or expired).
    pub misses: u64,
    /// Responses stored.
    pub stores: u64,
    /// Entries evicted to stay within the byte bound.
    pub evictions: u64,
    /// Bytes held now.
    pub bytes: usize,
    /// Entries held now.
    pub entries: usize,
}

impl CacheStats {
    /// Hits over cacheable calls (0 when there were none).
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    path: Arc<str>,
    request: Bytes,
    metadata: Vec<Option<String>>,
}

impl Key {
    fn size(&self) -> usize {
        self.path.len()
            + self.request.len()
            + self
                .metadata
                .iter()
                .map(|v| v.as_ref().map_or(0, String::len) + 24)
                .sum::<usize>()
            + 64
    }
}

struct Entry {
    headers: MetadataMap,
    message: Bytes,
    trailers: MetadataMap,
    expires: Instant,
    tick: u64,
    size: usize,
}

struct Lru {
    map: HashMap<Key, Entry>,
    order: BTreeMap<u64, Key>,
    tick: u64,
    bytes: usize,
}

struct State {
    max_bytes: usize,
    methods: HashSet<String>,
    key_metadata: Vec<String>,
    lru: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
    stores: AtomicU64,
    evictions: AtomicU64,
}

impl State {
    fn lru(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &Key) -> Option<CallResponse> {
        let now = Instant::now();
        let mut lru = self.lru();
        let lru = &mut *lru;
        let entry = lru.map.get_mut(key)?;
        if entry.expires <= now {
            let size = entry.size;
            let tick = entry.tick;
            lru.map.remove(key);
            lru.order.remove(&tick);
            lru.bytes -= size;
            return None;
        }
        lru.tick += 1;
        let old = std::mem::replace(&mut entry.tick, lru.tick);
        if let Some(k) = lru.order.remove(&old) {
            lru.order.insert(lru.tick, k);
        }
        let body = Streaming::from_message(entry.message.clone(), entry.trailers.clone());
        let mut response = Response::new(body);
        *response.metadata_mut() = entry.headers.clone();
        Some(response)
    }

    fn put(
        &self,
        key: Key,
        headers: &MetadataMap,
        message: &Bytes,
        trailers: &MetadataMap,
        age: Duration,
    ) {
        let size = key.size() + message.len() + md_size(headers) + md_size(trailers) + 128;
        // One entry may take at most a quarter of the cache.
        if size > self.max_bytes / 4 {
            return;
        }
        let mut lru = self.lru();
        let lru = &mut *lru;
        if let Some(old) = lru.map.remove(&key) {
            lru.order.remove(&old.tick);
            lru.bytes -= old.size;
        }
        while lru.bytes + size > self.max_bytes {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            if let Some(e) = lru.map.remove(&oldest) {
                lru.bytes -= e.size;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        lru.tick += 1;
        lru.order.insert(lru.tick, key.clone());
        lru.bytes += size;
        lru.map.insert(
            key,
            Entry {
                headers: headers.clone(),
                message: message.clone(),
                trailers: trailers.clone(),
                expires: Instant::now() + age,
                tick: lru.tick,
                size,
            },
        );
        self.stores.fetch_add(1, Ordering::Relaxed);
    }

    fn key(&self, call: &CallRequest) -> Option<Key> {
        if self.methods.is_empty()
            || call.kind() != MethodKind::Unary
            || !self.methods.contains(call.path())
        {
            return None;
        }
        let request = call.request().get_ref().as_single()?.clone();
        let md = call.request().metadata();
        Some(Key {
            path: Arc::from(call.path()),
            request,
            metadata: self
                .key_metadata
                .iter()
                .map(|k| md.get(k).map(str::to_owned))
                .collect(),
        })
    }
}

fn md_size(md: &MetadataMap) -> usize {
    md.iter()
        .map(|(k, v)| k.len() + format!("{v:?}").len() + 16)
        .sum()
}

/// A tower layer caching responses of side-effect-free unary methods; see the [module
/// docs](self). Clones (and the services it makes) share one cache.
#[derive(Clone)]
pub struct CacheLayer {
    state: Arc<State>,
}

impl std::fmt::Debug for CacheLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLayer")
            .field("max_bytes", &self.state.max_bytes)
            .field("methods", &self.state.methods)
            .finish_non_exhaustive()
    }
}

impl CacheLayer {
    /// A cache holding at most `max_bytes` (requests, responses and metadata counted), for
    /// no method yet: name them with [`methods`](Self::methods).
    pub fn new(max_bytes: usize) -> Self {
        CacheLayer {
            state: Arc::new(State {
                max_bytes,
                methods: HashSet::new(),
                key_metadata: Vec::new(),
                lru: Mutex::new(Lru {
                    map: HashMap::new(),
                    order: BTreeMap::new(),
                    tick: 0,
                    bytes: 0,
                }),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                stores: AtomicU64::new(0),
                evictions: AtomicU64::new(0),
            }),
        }
    }

    fn state_mut(&mut self) -> &mut State {
        // Configured before use: a fresh layer is not shared yet; a shared one is copied.
        if Arc::get_mut(&mut self.state).is_none() {
            let s = &self.state;
            self.state = Arc::new(State {
                max_bytes: s.max_bytes,
                methods: s.methods.clone(),
                key_metadata: s.key_metadata.clone(),
                lru: Mutex::new(Lru {
                    map: HashMap::new(),
                    order: BTreeMap::new(),
                    tick: 0,
                    bytes: 0,
                }),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                stores: AtomicU64::new(0),
                evictions: AtomicU64::new(0),
            });
        }
        Arc::get_mut(&mut self.state).expect("just made unique")
    }

    /// Methods whose calls may be cached (`/package.Service/Method` paths): only those
    /// marked `idempotency_level = NO_SIDE_EFFECTS`, which generated client modules list in
    /// `NO_SIDE_EFFECT_METHODS`. Unary methods only.
    pub fn methods<I: IntoIterator<Item = S>, S: Into<String>>(mut self, paths: I) -> Self {
        self.state_mut()
            .methods
            .extend(paths.into_iter().map(Into::into));
        self
    }

    /// Request metadata keys whose values are part of the cache key (an `authorization`
    /// token, so that one caller never gets another's answer). Default: none.
    pub fn key_metadata<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.state_mut()
            .key_metadata
            .extend(keys.into_iter().map(|k| k.into().to_ascii_lowercase()));
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let s = &self.state;
        let lru = s.lru();
        CacheStats {
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            stores: s.stores.load(Ordering::Relaxed),
            evictions: s.evictions.load(Ordering::Relaxed),
            bytes: lru.bytes,
            entries: lru.map.len(),
        }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = Cache<S>;

    fn layer(&self, inner: S) -> Cache<S> {
        Cache {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service of a [`CacheLayer`].
#[derive(Clone)]
pub struct Cache<S> {
    inner: S,
    state: Arc<State>,
}

impl<S> std::fmt::Debug for Cache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl<S> Service<CallRequest> for Cache<S>
where
    S: Service<CallRequest, Response = CallResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = CallResponse;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<CallResponse, Status>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| Status::from_error(e.into()))
    }

    fn call(&mut self, call: CallRequest) -> Self::Future {
        let key = self.state.key(&call);
        let state = self.state.clone();
        if let Some(key) = &key {
            if let Some(hit) = state.get(key) {
                state.hits.fetch_add(1, Ordering::Relaxed);
                return Box::pin(async move {
                    // Always ready: without this, a loop of hits would never let the other
                    // tasks of its thread run.
                    tokio::task::coop::consume_budget().await;
                    Ok(hit)
                });
            }
            state.misses.fetch_add(1, Ordering::Relaxed);
        }
        let future = self.inner.call(call);
        Box::pin(async move {
            let response = future.await.map_err(|e| Status::from_error(e.into()))?;
            let Some(key) = key else {
                return Ok(response);
            };
            // The whole (single-message) response, to keep it if the server allows.
            let mut response = response;
            let extensions = std::mem::take(response.extensions_mut());
            let headers = response.metadata().clone();
            let mut body = response.into_inner();
            let message = body
                .message()
                .await?
                .ok_or_else(|| Status::internal("response ended without a message"))?;
            while body.message().await?.is_some() {}
            let trailers = body.trailers().cloned().unwrap_or_default();
            if let Some(age) = max_age(&trailers) {
                state.put(key, &headers, &message, &trailers, age);
            }
            let mut response = Response::new(Streaming::from_message(message, trailers));
            *response.metadata_mut() = headers;
            *response.extensions_mut() = extensions;
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_parsing() {
        let mut md = MetadataMap::new();
        assert_eq!(max_age(&md), None);
        for (v, want) in [
            ("30", Some(30)),
            ("0", None),
            ("-1", None),
            ("1.5", None),
            ("abc", None),
            ("", None),
            ("999999999999", Some(MAX_AGE_LIMIT)),
            ("99999999999999999999999", None),
        ] {
            md.insert(MAX_AGE_KEY, v).unwrap();
            assert_eq!(max_age(&md), want.map(Duration::from_secs), "{v:?}");
        }
    }
}
