//! Retry and hedging policies, and gRPC's service config JSON that carries them.
//!
//! The JSON is gRPC's (`methodConfig` with `name`, `retryPolicy`, `hedgingPolicy`,
//! `timeout`, `waitForReady`; `retryThrottling`), parsed with serde and validated as gRPC
//! A6 says, with one difference: anything this implementation does not know is an error,
//! not ignored, so a typo never silently turns retries off.

use crate::status::Code;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// gRPC's cap on attempts (retries and hedges), original attempt included: larger
/// `maxAttempts` are lowered to it.
pub const MAX_ATTEMPTS: u32 = 5;

/// Default per-call buffer limit: a call whose request is larger is committed (never
/// retried), as gRPC's per-RPC buffer limit.
pub const DEFAULT_BUFFER_LIMIT: usize = 64 * 1024;

/// Longest backoff, hedging delay or pushback a config may ask for: anything longer is a
/// mistake in units, refused at build time.
const MAX_DELAY: Duration = Duration::from_secs(3600);

/// Why a service config or a policy was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not JSON, or not the shape of a service config (unknown fields included).
    #[error("service config: {0}")]
    Json(#[from] serde_json::Error),
    /// A value out of range or a policy that cannot apply: `field` says where.
    #[error("service config: {field}: {message}")]
    Invalid {
        /// Where, as a JSON path (`methodConfig[0].retryPolicy.maxAttempts`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A set of status codes, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Codes(u32);

impl Codes {
    pub(crate) fn contains(self, code: Code) -> bool {
        self.0 & (1 << code as u32) != 0
    }

    fn from_iter(codes: impl IntoIterator<Item = Code>) -> Codes {
        Codes(codes.into_iter().fold(0, |bits, c| bits | 1 << c as u32))
    }
}

/// When and how often a failed call is tried again (gRPC A6 `retryPolicy`).
///
/// The n-th retry waits a random time in `[0, min(initial_backoff * multiplier^(n-1),
/// max_backoff)]`, or what the server asked for in a pushback (PROTOCOL.md §9.3).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) multiplier: f64,
    pub(crate) codes: Codes,
    pub(crate) non_idempotent: bool,
}

impl RetryPolicy {
    /// At most `max_attempts` attempts, original included (2 or more; above
    /// [`MAX_ATTEMPTS`] it is lowered to it), on `UNAVAILABLE`, backing off from 100 ms
    /// by 2x up to 1 s.
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            multiplier: 2.0,
            codes: Codes::from_iter([Code::Unavailable]),
            non_idempotent: false,
        }
    }

    /// The bound of the first retry's random wait.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The largest bound of a retry's random wait.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// How much the bound grows after each retry.
    pub fn backoff_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// The status codes that are retried (`OK` is not a failure and may not be listed).
    pub fn retryable_codes(mut self, codes: impl IntoIterator<Item = Code>) -> Self {
        self.codes = Codes::from_iter(codes);
        self
    }

    /// Retries calls of methods that are not idempotent too, after the server may have run
    /// them. Off by default, and never set from JSON: a call of a method whose proto does
    /// not say `idempotency_level = IDEMPOTENT` (or `NO_SIDE_EFFECTS`) is retried only when
    /// it is known never to have reached a handler.
    pub fn retry_non_idempotent(mut self, yes: bool) -> Self {
        self.non_idempotent = yes;
        self
    }

    fn validate(&mut self, at: &str) -> Result<(), ConfigError> {
        if self.max_attempts < 2 {
            return Err(invalid(
                format!("{at}.maxAttempts"),
                format!("must be 2 or more, got {}", self.max_attempts),
            ));
        }
        self.max_attempts = self.max_attempts.min(MAX_ATTEMPTS);
        positive_delay(self.initial_backoff, &format!("{at}.initialBackoff"))?;
        positive_delay(self.max_backoff, &format!("{at}.maxBackoff"))?;
        if !(self.multiplier.is_finite() && self.multiplier > 0.0 && self.multiplier <= 1000.0) {
            return Err(invalid(
                format!("{at}.backoffMultiplier"),
                format!("must be above 0 and at most 1000, got {}", self.multiplier),
            ));
        }
        if self.codes == Codes::default() {
            return Err(invalid(
                format!("{at}.retryableStatusCodes"),
                "must list at least one status code",
            ));
        }
        if self.codes.contains(Code::Ok) {
            return Err(invalid(
                format!("{at}.retryableStatusCodes"),
                "OK is not a failure",
            ));
        }
        Ok(())
    }

    /// The bound of the random wait before retry `n` since the last pushback (0: the
    /// first), `min(initial * multiplier^n, max)`.
    pub(crate) fn backoff_bound(&self, n: u32) -> Duration {
        let bound = self.initial_backoff.as_secs_f64() * self.multiplier.powi(n as i32);
        Duration::from_secs_f64(bound.min(self.max_backoff.as_secs_f64()))
    }
}

/// Further attempts sent before the first has answered (gRPC A6 `hedgingPolicy`), for
/// idempotent methods: one every `delay` until one answers, at most `max_attempts`; the
/// first answer that is not a non-fatal failure wins and the others are cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgingPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) delay: Duration,
    pub(crate) non_fatal: Codes,
}

impl HedgingPolicy {
    /// At most `max_attempts` attempts in all (2 or more; above [`MAX_ATTEMPTS`] it is
    /// lowered to it), one every `delay` (0: all at once).
    pub fn new(max_attempts: u32, delay: Duration) -> Self {
        HedgingPolicy {
            max_attempts,
            delay,
            non_fatal: Codes::default(),
        }
    }

    /// Failures that send the next hedge at once instead of ending the call.
    pub fn non_fatal_codes(mut self, codes: impl IntoIterator<Item = Code>) -> Self {
        self.non_fatal = Codes::from_iter(codes);
        self
    }

    fn validate(&mut self, at: &str) -> Result<(), ConfigError> {
        if self.max_attempts < 2 {
            return Err(invalid(
                format!("{at}.maxAttempts"),
                format!("must be 2 or more, got {}", self.max_attempts),
            ));
        }
        self.max_attempts = self.max_attempts.min(MAX_ATTEMPTS);
        if self.delay > MAX_DELAY {
            return Err(invalid(
                format!("{at}.hedgingDelay"),
                format!("{:?} is longer than an hour", self.delay),
            ));
        }
        if self.non_fatal.contains(Code::Ok) {
            return Err(invalid(
                format!("{at}.nonFatalStatusCodes"),
                "OK is not a failure",
            ));
        }
        Ok(())
    }
}

/// Retry throttling (gRPC A6 `retryThrottling`): a token bucket per channel. A failure
/// with a retryable (or non-fatal) code takes a token, a success gives back `token_ratio`;
/// while `max_tokens / 2` or fewer are left, nothing is retried or hedged.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryThrottling {
    pub(crate) max_tokens: f64,
    pub(crate) token_ratio: f64,
}

impl RetryThrottling {
    /// A bucket of `max_tokens` (above 0, at most 1000), refilled by `token_ratio` (above 0,
    /// counted in thousandths) per success.
    pub fn new(max_tokens: f64, token_ratio: f64) -> Self {
        RetryThrottling {
            max_tokens,
            token_ratio,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.max_tokens > 0.0 && self.max_tokens <= 1000.0) {
            return Err(invalid(
                "retryThrottling.maxTokens",
                format!("must be above 0 and at most 1000, got {}", self.max_tokens),
            ));
        }
        if !(self.token_ratio.is_finite() && self.token_ratio >= 0.001) {
            return Err(invalid(
                "retryThrottling.tokenRatio",
                format!("must be 0.001 or more, got {}", self.token_ratio),
            ));
        }
        Ok(())
    }
}

/// What a method's calls get: a retry or a hedging policy (not both), a timeout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MethodConfig {
    pub(crate) policy: Option<Policy>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) wait_for_ready: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Policy {
    Retry(RetryPolicy),
    Hedging(HedgingPolicy),
}

impl MethodConfig {
    /// No policy, no timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries failed calls (replaces a hedging policy).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.policy = Some(Policy::Retry(policy));
        self
    }

    /// Hedges calls (replaces a retry policy).
    pub fn hedging(mut self, policy: HedgingPolicy) -> Self {
        self.policy = Some(Policy::Hedging(policy));
        self
    }

    /// The longest a call may take, all attempts included; a shorter timeout on the call
    /// itself wins.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The retry policy, if any.
    pub fn retry_policy(&self) -> Option<&RetryPolicy> {
        match &self.policy {
            Some(Policy::Retry(p)) => Some(p),
            _ => None,
        }
    }

    /// The hedging policy, if any.
    pub fn hedging_policy(&self) -> Option<&HedgingPolicy> {
        match &self.policy {
            Some(Policy::Hedging(p)) => Some(p),
            _ => None,
        }
    }

    /// Whether calls wait for a connection instead of failing fast while the channel has
    /// none ([`WaitForReady`](crate::client::WaitForReady), set on each call that does not
    /// set it itself); `None`: the channel's default.
    pub fn wait_for_ready(mut self, wait: bool) -> Self {
        self.wait_for_ready = Some(wait);
        self
    }

    /// What [`wait_for_ready`](Self::wait_for_ready) set (`waitForReady` in JSON).
    pub fn waits_for_ready(&self) -> Option<bool> {
        self.wait_for_ready
    }
}

/// Which calls a [`MethodConfig`] is for (gRPC's `name` entries).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    /// One method: service (`package.Service`) and method.
    Method(String, String),
    /// Every method of a service (`package.Service`) not named on its own.
    Service(String),
    /// Every method not named otherwise.
    All,
}

impl Name {
    fn describe(&self) -> String {
        match self {
            Name::Method(s, m) => format!("/{s}/{m}"),
            Name::Service(s) => format!("service {s}"),
            Name::All => "the default (empty name)".to_owned(),
        }
    }
}

/// The per-method configuration of a channel's calls: what gRPC's service config carries
/// for retries ([`ServiceConfig::from_json`]), or the same built in code.
///
/// ```
/// use rpc_core::client::retry::{MethodConfig, Name, RetryPolicy, ServiceConfig};
/// use std::time::Duration;
///
/// let json = ServiceConfig::from_json(r#"{
///   "methodConfig": [{
///     "name": [{"service": "echo.Echo", "method": "Unary"}],
///     "retryPolicy": {
///       "maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s",
///       "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]
///     }
///   }],
///   "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
/// }"#)?;
///
/// let code = ServiceConfig::new().method(
///     [Name::Method("echo.Echo".into(), "Unary".into())],
///     MethodConfig::new().retry(RetryPolicy::new(4).initial_backoff(Duration::from_millis(100))),
/// );
/// # let _ = code;
/// # Ok::<(), rpc_core::client::retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceConfig {
    pub(crate) methods: Vec<(Vec<Name>, MethodConfig)>,
    pub(crate) throttling: Option<RetryThrottling>,
}

impl ServiceConfig {
    /// Nothing configured: calls are tried once (and transparently once more when refused
    /// before any handler saw them).
    pub fn new() -> Self {
        Self::default()
    }

    /// Configures the calls `names` select.
    pub fn method(mut self, names: impl IntoIterator<Item = Name>, config: MethodConfig) -> Self {
        self.methods.push((names.into_iter().collect(), config));
        self
    }

    /// Throttles retries and hedges.
    pub fn retry_throttling(mut self, throttling: RetryThrottling) -> Self {
        self.throttling = Some(throttling);
        self
    }

    /// Parses and validates gRPC's service config JSON. Unknown fields, values out of range
    /// and contradictions (two policies on one entry, a name given twice) are errors that
    /// say where they are.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let raw: RawServiceConfig = serde_json::from_str(json)?;
        let mut config = ServiceConfig::new();
        for (i, m) in raw.method_config.into_iter().enumerate() {
            let at = format!("methodConfig[{i}]");
            let mut names = Vec::new();
            for (j, n) in m.name.into_iter().enumerate() {
                let service = n.service.unwrap_or_default();
                let method = n.method.unwrap_or_default();
                names.push(match (service.is_empty(), method.is_empty()) {
                    (true, true) => Name::All,
                    (false, true) => Name::Service(service),
                    (false, false) => Name::Method(service, method),
                    (true, false) => {
                        return Err(invalid(
                            format!("{at}.name[{j}]"),
                            format!("method {method:?} needs a service"),
                        ))
                    }
                });
            }
            let mut method = MethodConfig::new();
            match (m.retry_policy, m.hedging_policy) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        at,
                        "retryPolicy and hedgingPolicy exclude each other",
                    ))
                }
                (Some(r), None) => {
                    method = method.retry(r.parse(&format!("{at}.retryPolicy"))?);
                }
                (None, Some(h)) => {
                    method = method.hedging(h.parse(&format!("{at}.hedgingPolicy"))?);
                }
                (None, None) => {}
            }
            if let Some(t) = m.timeout {
                method.timeout = Some(duration(&t, &format!("{at}.timeout"))?);
            }
            method.wait_for_ready = m.wait_for_ready;
            config.methods.push((names, method));
        }
        if let Some(t) = raw.retry_throttling {
            let number = |v: Option<f64>, f: &str| {
                v.ok_or_else(|| invalid(format!("retryThrottling.{f}"), "is required"))
            };
            config.throttling = Some(RetryThrottling::new(
                number(t.max_tokens, "maxTokens")?,
                number(t.token_ratio, "tokenRatio")?,
            ));
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every policy and name (JSON or code), lowering `maxAttempts` to the cap.
    pub(crate) fn validate(&mut self) -> Result<(), ConfigError> {
        let mut seen = HashMap::new();
        for (i, (names, method)) in self.methods.iter_mut().enumerate() {
            let at = format!("methodConfig[{i}]");
            for name in names.iter() {
                let parts: &[&String] = match name {
                    Name::Method(s, m) => &[s, m],
                    Name::Service(s) => &[s],
                    Name::All => &[],
                };
                {
                    if parts.iter().any(|p| p.is_empty() || p.contains('/')) {
                        return Err(invalid(
                            format!("{at}.name"),
                            format!("{name:?}: empty name, or a name with '/'"),
                        ));
                    }
                }
                if let Some(first) = seen.insert(name.clone(), i) {
                    return Err(invalid(
                        format!("{at}.name"),
                        format!(
                            "{} is already configured by methodConfig[{first}]",
                            name.describe()
                        ),
                    ));
                }
            }
            match &mut method.policy {
                Some(Policy::Retry(p)) => p.validate(&format!("{at}.retryPolicy"))?,
                Some(Policy::Hedging(p)) => p.validate(&format!("{at}.hedgingPolicy"))?,
                None => {}
            }
            if method.timeout.is_some_and(|t| t.is_zero()) {
                return Err(invalid(format!("{at}.timeout"), "must be above 0"));
            }
        }
        if let Some(t) = &self.throttling {
            t.validate()?;
        }
        Ok(())
    }

    /// The index of the configuration for `path` (`/service/method`): the method's own,
    /// else its service's, else the default.
    pub(crate) fn resolve(&self) -> Resolved {
        let mut resolved = Resolved::default();
        for (names, method) in &self.methods {
            let method = Arc::new(method.clone());
            for name in names {
                match name {
                    Name::Method(s, m) => {
                        resolved.methods.insert(format!("/{s}/{m}"), method.clone());
                    }
                    Name::Service(s) => {
                        resolved.services.insert(s.clone(), method.clone());
                    }
                    Name::All => resolved.default = Some(method.clone()),
                }
            }
        }
        resolved
    }
}

/// A [`ServiceConfig`] indexed for lookups on every call.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    methods: HashMap<String, Arc<MethodConfig>>,
    services: HashMap<String, Arc<MethodConfig>>,
    default: Option<Arc<MethodConfig>>,
}

impl Resolved {
    pub(crate) fn lookup(&self, path: &str) -> Option<&Arc<MethodConfig>> {
        if let Some(m) = self.methods.get(path) {
            return Some(m);
        }
        let service = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .map(|(s, _)| s);
        service
            .and_then(|s| self.services.get(s))
            .or(self.default.as_ref())
    }

    /// Every configuration that applies to more than the methods it names: service-wide
    /// and default entries, with what they cover.
    pub(crate) fn wide(&self) -> impl Iterator<Item = (String, &Arc<MethodConfig>)> + '_ {
        let services = self
            .services
            .iter()
            .map(|(s, m)| (format!("service {s}"), m));
        let default = self.default.iter().map(|m| ("every method".to_owned(), m));
        services.chain(default)
    }

    pub(crate) fn exact(&self, path: &str) -> Option<&Arc<MethodConfig>> {
        self.methods.get(path)
    }
}

/// A duration in proto3 JSON: decimal seconds with an `s` suffix (`"0.1s"`, `"2s"`), at
/// most nine fractional digits, not negative, at most an hour.
fn duration(text: &str, at: &str) -> Result<Duration, ConfigError> {
    let bad = || {
        invalid(
            at,
            format!("{text:?} is not a duration (decimal seconds ending in 's', as \"0.5s\")"),
        )
    };
    let number = text.strip_suffix('s').ok_or_else(bad)?;
    if number.starts_with('-') {
        return Err(invalid(at, format!("{text:?} is negative")));
    }
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) || frac.len() > 9 {
        return Err(bad());
    }
    let secs: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let nanos: u32 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    let d = Duration::new(secs.min(MAX_DELAY.as_secs() + 1), nanos);
    if d > MAX_DELAY {
        return Err(invalid(at, format!("{text} is longer than an hour")));
    }
    Ok(d)
}

fn positive_delay(d: Duration, at: &str) -> Result<(), ConfigError> {
    if d.is_zero() {
        return Err(invalid(at, "must be above 0"));
    }
    if d > MAX_DELAY {
        return Err(invalid(at, format!("{d:?} is longer than an hour")));
    }
    Ok(())
}

/// A status code in JSON: its name (`"UNAVAILABLE"`) or number (14).
fn code(v: &Value, at: &str) -> Result<Code, ConfigError> {
    let bad = || invalid(at, format!("{v} is not a status code"));
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(n @ 0..=16) => Ok(Code::from_u32(n as u32)),
            _ => Err(bad()),
        },
        Value::String(s) => (0..=16)
            .map(Code::from_u32)
            .find(|c| screaming(*c) == s.as_str())
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// A code's name in gRPC's JSON: `DEADLINE_EXCEEDED`.
fn screaming(code: Code) -> String {
    let mut out = String::new();
    for (i, ch) in code.to_string().chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

fn codes(list: Vec<Value>, at: &str) -> Result<Codes, ConfigError> {
    let mut codes = Vec::new();
    for (i, v) in list.iter().enumerate() {
        codes.push(code(v, &format!("{at}[{i}]"))?);
    }
    Ok(Codes::from_iter(codes))
}

/// An attempt count in JSON: a whole number.
fn attempts(v: Option<f64>, at: &str) -> Result<u32, ConfigError> {
    let v = v.ok_or_else(|| invalid(at, "is required"))?;
    if v.fract() != 0.0 || v < 0.0 {
        return Err(invalid(at, format!("must be a whole number, got {v}")));
    }
    Ok(v.min(u32::MAX as f64) as u32)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawServiceConfig {
    #[serde(default, alias = "method_config")]
    method_config: Vec<RawMethodConfig>,
    #[serde(default, alias = "retry_throttling")]
    retry_throttling: Option<RawThrottling>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawMethodConfig {
    #[serde(default)]
    name: Vec<RawName>,
    #[serde(default, alias = "retry_policy")]
    retry_policy: Option<RawRetry>,
    #[serde(default, alias = "hedging_policy")]
    hedging_policy: Option<RawHedging>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default, alias = "wait_for_ready")]
    wait_for_ready: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawName {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    method: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRetry {
    #[serde(alias = "max_attempts")]
    max_attempts: Option<f64>,
    #[serde(alias = "initial_backoff")]
    initial_backoff: Option<String>,
    #[serde(alias = "max_backoff")]
    max_backoff: Option<String>,
    #[serde(alias = "backoff_multiplier")]
    backoff_multiplier: Option<f64>,
    #[serde(alias = "retryable_status_codes")]
    retryable_status_codes: Option<Vec<Value>>,
}

impl RawRetry {
    fn parse(self, at: &str) -> Result<RetryPolicy, ConfigError> {
        let required = |f: &str| invalid(format!("{at}.{f}"), "is required");
        let mut p = RetryPolicy::new(attempts(self.max_attempts, &format!("{at}.maxAttempts"))?);
        let initial = self
            .initial_backoff
            .ok_or_else(|| required("initialBackoff"))?;
        p.initial_backoff = duration(&initial, &format!("{at}.initialBackoff"))?;
        let max = self.max_backoff.ok_or_else(|| required("maxBackoff"))?;
        p.max_backoff = duration(&max, &format!("{at}.maxBackoff"))?;
        p.multiplier = self
            .backoff_multiplier
            .ok_or_else(|| required("backoffMultiplier"))?;
        let list = self
            .retryable_status_codes
            .ok_or_else(|| required("retryableStatusCodes"))?;
        p.codes = codes(list, &format!("{at}.retryableStatusCodes"))?;
        Ok(p)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawHedging {
    #[serde(alias = "max_attempts")]
    max_attempts: Option<f64>,
    #[serde(default, alias = "hedging_delay")]
    hedging_delay: Option<String>,
    #[serde(default, alias = "non_fatal_status_codes")]
    non_fatal_status_codes: Option<Vec<Value>>,
}

impl RawHedging {
    fn parse(self, at: &str) -> Result<HedgingPolicy, ConfigError> {
        let max = attempts(self.max_attempts, &format!("{at}.maxAttempts"))?;
        let delay = match self.hedging_delay {
            Some(d) => duration(&d, &format!("{at}.hedgingDelay"))?,
            None => Duration::ZERO,
        };
        let mut p = HedgingPolicy::new(max, delay);
        if let Some(list) = self.non_fatal_status_codes {
            p.non_fatal = codes(list, &format!("{at}.nonFatalStatusCodes"))?;
        }
        Ok(p)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawThrottling {
    #[serde(alias = "max_tokens")]
    max_tokens: Option<f64>,
    #[serde(alias = "token_ratio")]
    token_ratio: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        ServiceConfig::from_json(json).unwrap_err().to_string()
    }

    const RETRY: &str = r#""retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.1s",
        "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE", 10]}"#;

    #[test]
    fn parses_grpc_service_config() {
        let json = format!(
            r#"{{"methodConfig": [
                {{"name": [{{"service": "a.S", "method": "M"}}], {RETRY}, "timeout": "2.5s"}},
                {{"name": [{{"service": "a.S"}}], "hedgingPolicy": {{"maxAttempts": 9,
                  "hedgingDelay": "0.05s", "nonFatalStatusCodes": ["UNAVAILABLE"]}}}},
                {{"name": [{{}}], "waitForReady": true}}
              ],
              "retryThrottling": {{"maxTokens": 10, "tokenRatio": 0.1}}}}"#
        );
        let c = ServiceConfig::from_json(&json).unwrap();
        let r = c.resolve();
        let m = r.lookup("/a.S/M").unwrap().retry_policy().unwrap().clone();
        assert_eq!(m.max_attempts, 3);
        assert_eq!(m.initial_backoff, Duration::from_millis(100));
        assert!(m.codes.contains(Code::Aborted) && m.codes.contains(Code::Unavailable));
        assert!(!m.codes.contains(Code::Internal));
        assert_eq!(
            r.lookup("/a.S/M").unwrap().timeout,
            Some(Duration::from_millis(2500))
        );
        let h = r
            .lookup("/a.S/Other")
            .unwrap()
            .hedging_policy()
            .unwrap()
            .clone();
        assert_eq!(h.max_attempts, MAX_ATTEMPTS, "capped like gRPC");
        assert_eq!(h.delay, Duration::from_millis(50));
        assert_eq!(r.lookup("/b.T/X").unwrap().waits_for_ready(), Some(true));
        assert_eq!(c.throttling, Some(RetryThrottling::new(10.0, 0.1)));
        // snake_case field names are proto3 JSON too.
        ServiceConfig::from_json(
            r#"{"method_config": [{"name": [{"service": "a.S"}],
            "retry_policy": {"max_attempts": 2, "initial_backoff": "1s", "max_backoff": "1s",
            "backoff_multiplier": 1, "retryable_status_codes": ["ABORTED"]}}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn refuses_bad_configs_with_the_place() {
        let cases = [
            (
                r#"{"methodConfig": [], "loadBalancingPolicy": "x"}"#,
                "unknown field `loadBalancingPolicy`",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"], "perAttemptTimeout": "1s"}}]}"#,
                "unknown field `perAttemptTimeout`",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 1, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
                "methodConfig[0].retryPolicy.maxAttempts: must be 2 or more, got 1",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": -3, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
                "maxAttempts: must be a whole number, got -3",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "-1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
                "initialBackoff: \"-1s\" is negative",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "100", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
                "is not a duration",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "90000s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
                "longer than an hour",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 0, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
                "backoffMultiplier: must be above 0",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": []}}]}"#,
                "must list at least one status code",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILBLE"]}}]}"#,
                "retryableStatusCodes[0]: \"UNAVAILBLE\" is not a status code",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 2}}]}"#,
                "initialBackoff: is required",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}, "hedgingPolicy": {"maxAttempts": 2}}]}"#,
                "exclude each other",
            ),
            (
                r#"{"methodConfig": [{"name": [{"method": "M"}]}]}"#,
                "needs a service",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}]}, {"name": [{"service": "a"}]}]}"#,
                "service a is already configured by methodConfig[0]",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "a"}], "timeout": "0s"}]}"#,
                "timeout: must be above 0",
            ),
            (
                r#"{"retryThrottling": {"maxTokens": 0, "tokenRatio": 0.1}}"#,
                "maxTokens: must be above 0",
            ),
            (
                r#"{"retryThrottling": {"maxTokens": 5000, "tokenRatio": 0.1}}"#,
                "maxTokens: must be above 0 and at most 1000",
            ),
            (
                r#"{"retryThrottling": {"maxTokens": 10, "tokenRatio": -1}}"#,
                "tokenRatio: must be 0.001 or more",
            ),
            (
                r#"{"retryThrottling": {"maxTokens": 10}}"#,
                "tokenRatio: is required",
            ),
            (r#"[1, 2]"#, "invalid type"),
        ];
        for (json, want) in cases {
            let got = err(json);
            assert!(
                got.contains(want),
                "{json}\n  gave {got:?}\n  expected {want:?}"
            );
        }
    }

    #[test]
    fn durations_and_codes() {
        assert_eq!(duration("1s", "t").unwrap(), Duration::from_secs(1));
        assert_eq!(duration(".5s", "t").unwrap(), Duration::from_millis(500));
        assert_eq!(
            duration("0.000000001s", "t").unwrap(),
            Duration::from_nanos(1)
        );
        for bad in [
            "",
            "s",
            "1",
            "1.s.s",
            "1ms",
            "0.0000000001s",
            "1e3s",
            " 1s",
            "+1s",
        ] {
            assert!(duration(bad, "t").is_err(), "{bad:?}");
        }
        assert_eq!(screaming(Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
        assert_eq!(code(&Value::from("OK"), "c").unwrap(), Code::Ok);
        assert!(code(&Value::from(17), "c").is_err());
        assert!(code(&Value::from("unavailable"), "c").is_err());
    }

    #[test]
    fn backoff_bounds_grow_to_the_max() {
        let p = RetryPolicy::new(5)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(350))
            .backoff_multiplier(2.0);
        let bounds: Vec<_> = (0..4).map(|n| p.backoff_bound(n).as_millis()).collect();
        assert_eq!(bounds, [100, 200, 350, 350]);
    }

    #[test]
    fn lookup_prefers_the_method_then_the_service_then_the_default() {
        let c = ServiceConfig::new()
            .method(
                [Name::All],
                MethodConfig::new().timeout(Duration::from_secs(1)),
            )
            .method(
                [Name::Service("a.S".into())],
                MethodConfig::new().timeout(Duration::from_secs(2)),
            )
            .method(
                [Name::Method("a.S".into(), "M".into())],
                MethodConfig::new().timeout(Duration::from_secs(3)),
            );
        let r = c.resolve();
        let t = |p| r.lookup(p).unwrap().timeout.unwrap().as_secs();
        assert_eq!(
            (t("/a.S/M"), t("/a.S/N"), t("/b.S/M"), t("garbage")),
            (3, 2, 1, 1)
        );
    }
}
