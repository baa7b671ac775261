//! Per-method authorization: rules over service, method, peer identity and token claims.
//!
//! Deny rules are evaluated first, then allow rules; a call no rule allows is denied.
//! Services and methods are compared byte for byte with what the server routes on
//! ([`ServerCall::service_name`], [`ServerCall::method`]); the server refuses paths it would
//! not dispatch before any layer runs, so the policy never sees a path the router reads
//! differently.

use crate::server::Claims;
use rpc_core::server::{CallOutcome, ServerCall};
use rpc_core::{Code, Status};
use serde::Deserialize;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Lets the call through (unless a deny rule matched).
    Allow,
    /// Refuses the call with `PERMISSION_DENIED`.
    Deny,
}

/// One rule. Every condition given must hold (an empty list is no condition); within a
/// list, any entry may match, except `scopes`, which must all be granted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Shown in logs and decisions.
    pub name: String,
    /// Allow or deny.
    pub action: Action,
    /// Service names (`package.Service`), or `*` for any (the default).
    #[serde(default = "any")]
    pub services: Vec<String>,
    /// Method names, or `*` for any (the default).
    #[serde(default = "any")]
    pub methods: Vec<String>,
    /// Peer principals (a SPIFFE ID or other URI, a DNS name, a common name from the client
    /// certificate); a trailing `*` matches any suffix.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Token subjects (`sub`).
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Scopes the token must all grant.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Audiences, one of which the token must name.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Requires a caller with a verified token or a peer identity.
    #[serde(default)]
    pub authenticated: bool,
}

fn any() -> Vec<String> {
    vec!["*".to_owned()]
}

impl Rule {
    /// An allow rule matching every call, to narrow with the builder methods.
    pub fn allow(name: impl Into<String>) -> Self {
        Self::new(name, Action::Allow)
    }

    /// A deny rule matching every call, to narrow with the builder methods.
    pub fn deny(name: impl Into<String>) -> Self {
        Self::new(name, Action::Deny)
    }

    fn new(name: impl Into<String>, action: Action) -> Self {
        Rule {
            name: name.into(),
            action,
            services: any(),
            methods: any(),
            peers: Vec::new(),
            subjects: Vec::new(),
            scopes: Vec::new(),
            audiences: Vec::new(),
            authenticated: false,
        }
    }

    /// Only calls to `service` (replaces the default `*`; call again for more).
    pub fn service(mut self, service: &str) -> Self {
        narrow(&mut self.services, service);
        self
    }

    /// Only calls of `method` (replaces the default `*`; call again for more).
    pub fn method(mut self, method: &str) -> Self {
        narrow(&mut self.methods, method);
        self
    }

    /// Only callers whose peer identity has `principal`.
    pub fn peer(mut self, principal: &str) -> Self {
        self.peers.push(principal.to_owned());
        self
    }

    /// Only tokens issued to `subject`.
    pub fn subject(mut self, subject: &str) -> Self {
        self.subjects.push(subject.to_owned());
        self
    }

    /// Only tokens granting `scope` (and the other scopes given).
    pub fn scope(mut self, scope: &str) -> Self {
        self.scopes.push(scope.to_owned());
        self
    }

    /// Only tokens for `audience` (or another audience given).
    pub fn audience(mut self, audience: &str) -> Self {
        self.audiences.push(audience.to_owned());
        self
    }

    /// Only authenticated callers (a verified token or a peer identity).
    pub fn authenticated(mut self) -> Self {
        self.authenticated = true;
        self
    }

    fn needs_identity(&self) -> bool {
        self.authenticated
            || !(self.peers.is_empty()
                && self.subjects.is_empty()
                && self.scopes.is_empty()
                && self.audiences.is_empty())
    }

    fn matches(&self, caller: &Caller<'_>) -> bool {
        names(&self.services, caller.service)
            && names(&self.methods, caller.method)
            && self.matches_identity(caller)
    }

    fn matches_identity(&self, caller: &Caller<'_>) -> bool {
        if !self.needs_identity() {
            return true;
        }
        if caller.is_anonymous() {
            return false;
        }
        let claims = caller.claims;
        let claim_list = |f: fn(&Claims) -> &[String]| claims.map(f).unwrap_or_default();
        (self.peers.is_empty() || caller.peers.iter().any(|p| principal(&self.peers, p)))
            && (self.subjects.is_empty()
                || claims
                    .and_then(|c| c.subject.as_deref())
                    .is_some_and(|s| self.subjects.iter().any(|x| x == s)))
            && self
                .scopes
                .iter()
                .all(|s| claim_list(|c| &c.scopes).contains(s))
            && (self.audiences.is_empty()
                || claim_list(|c| &c.audience)
                    .iter()
                    .any(|a| self.audiences.contains(a)))
    }

    fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("a rule needs a name".into());
        }
        let lists = [
            ("services", &self.services),
            ("methods", &self.methods),
            ("peers", &self.peers),
            ("subjects", &self.subjects),
            ("scopes", &self.scopes),
            ("audiences", &self.audiences),
        ];
        for (field, list) in lists {
            if list.iter().any(String::is_empty) {
                return Err(format!("rule {:?}: empty entry in {field}", self.name));
            }
        }
        for (field, list) in [("services", &self.services), ("methods", &self.methods)] {
            if list.is_empty() {
                return Err(format!(
                    "rule {:?}: {field} is empty (use \"*\")",
                    self.name
                ));
            }
            // Names never hold `/`: such an entry could never match a routed call.
            if let Some(bad) = list.iter().find(|s| s.contains('/')) {
                return Err(format!(
                    "rule {:?}: {field} entry {bad:?} has a '/'",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

/// Replaces the default `*` with the first name given, adds the next ones.
fn narrow(list: &mut Vec<String>, name: &str) {
    if list.len() == 1 && list[0] == "*" {
        list.clear();
    }
    list.push(name.to_owned());
}

/// Exact names, or `*`: never a prefix or a case-folded match.
fn names(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| p == "*" || p == name)
}

/// The names a client certificate proves: URIs (SPIFFE IDs), DNS names, the common name.
/// Empty (no allocation) without a certificate.
fn certificate_principals(identity: Option<&rpc_core::tls::PeerIdentity>) -> Vec<String> {
    let Some(id) = identity else {
        return Vec::new();
    };
    id.uris()
        .iter()
        .chain(id.dns_names())
        .cloned()
        .chain(id.common_name().map(str::to_owned))
        .collect()
}

fn principal(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => p == name,
    })
}

/// The principals of a call's peer, as a call extension. Without it, the [`PolicyLayer`]
/// takes them from the peer's verified client certificate (mutual TLS): its URI names (such
/// as SPIFFE IDs), DNS names and common name, in that order. A layer before the policy sets
/// this to name peers another way (a custom transport, a proxy's attested header).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPrincipals(pub Vec<String>);

/// Who calls what, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// `package.Service`.
    pub service: &'a str,
    /// The method.
    pub method: &'a str,
    /// The verified token's claims, if any.
    pub claims: Option<&'a Claims>,
    /// The peer identity's principals (empty without one).
    pub peers: &'a [String],
}

impl Caller<'_> {
    fn is_anonymous(&self) -> bool {
        self.claims.is_none() && self.peers.is_empty()
    }

    /// Who the caller is, for logs: the token's subject, else the first peer principal.
    pub fn principal(&self) -> &str {
        self.claims
            .and_then(|c| c.subject.as_deref())
            .or(self.peers.first().map(String::as_str))
            .unwrap_or("anonymous")
    }
}

/// What the policy decided for a call, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the call may go on.
    pub allowed: bool,
    /// The rule that decided; `None` when no rule matched (default deny).
    pub rule: Option<String>,
    /// The status a denied call ends with: `PERMISSION_DENIED` for a caller the policy knows,
    /// `UNAUTHENTICATED` for an anonymous caller no rule admitted.
    pub code: Code,
}

type DecisionHook = Arc<dyn Fn(&Caller<'_>, &Decision) + Send + Sync>;

/// An authorization policy: deny rules first, then allow rules, default deny.
///
/// ```
/// use rpc_auth::{Policy, Rule};
///
/// let policy = Policy::from_toml(r#"
///     [[rules]]
///     name = "no-deletes"
///     action = "deny"
///     methods = ["Delete"]
///
///     [[rules]]
///     name = "readers"
///     action = "allow"
///     services = ["shop.Orders"]
///     scopes = ["orders:read"]
/// "#).unwrap();
/// // The same, in code:
/// let same = Policy::new([
///     Rule::deny("no-deletes").method("Delete"),
///     Rule::allow("readers").service("shop.Orders").scope("orders:read"),
/// ]).unwrap();
/// # let _ = (policy, same);
/// ```
#[derive(Clone)]
pub struct Policy {
    deny: Vec<Rule>,
    allow: Vec<Rule>,
    on_decision: Option<DecisionHook>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("deny", &self.deny)
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The JSON is malformed or has unknown fields (the message gives line and column).
    #[error("policy JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The TOML is malformed or has unknown fields (the message gives line and column).
    #[error("policy TOML: {0}")]
    Toml(#[from] toml::de::Error),
    /// A rule is not usable.
    #[error("policy: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    rules: Vec<Rule>,
}

impl Policy {
    /// A policy of `rules`; their order does not matter (deny rules always go first).
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Result<Self, PolicyError> {
        let mut seen = HashSet::new();
        let (mut deny, mut allow) = (Vec::new(), Vec::new());
        for rule in rules {
            rule.validate().map_err(PolicyError::Invalid)?;
            if !seen.insert(rule.name.clone()) {
                return Err(PolicyError::Invalid(format!(
                    "two rules named {:?}",
                    rule.name
                )));
            }
            match rule.action {
                Action::Deny => deny.push(rule),
                Action::Allow => allow.push(rule),
            }
        }
        Ok(Policy {
            deny,
            allow,
            on_decision: None,
        })
    }

    /// A policy from JSON: `{"rules": [{"name": ..., "action": "allow", ...}]}`.
    pub fn from_json(json: &str) -> Result<Self, PolicyError> {
        Self::new(serde_json::from_str::<PolicyFile>(json)?.rules)
    }

    /// A policy from TOML: `[[rules]]` tables with the fields of [`Rule`].
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        Self::new(toml::from_str::<PolicyFile>(text)?.rules)
    }

    /// Calls `hook` with every decision (in addition to the `tracing` events: denials at
    /// `info`, allowed calls at `debug`, target `rpc_auth::policy`).
    pub fn on_decision(
        mut self,
        hook: impl Fn(&Caller<'_>, &Decision) + Send + Sync + 'static,
    ) -> Self {
        self.on_decision = Some(Arc::new(hook));
        self
    }

    /// Decides for `caller` (without logging).
    pub fn decide(&self, caller: &Caller<'_>) -> Decision {
        let decided = |rule: &Rule, allowed| Decision {
            allowed,
            rule: Some(rule.name.clone()),
            code: if allowed {
                Code::Ok
            } else {
                Code::PermissionDenied
            },
        };
        if let Some(rule) = self.deny.iter().find(|r| r.matches(caller)) {
            return decided(rule, false);
        }
        if let Some(rule) = self.allow.iter().find(|r| r.matches(caller)) {
            return decided(rule, true);
        }
        let code = if caller.is_anonymous() {
            Code::Unauthenticated
        } else {
            Code::PermissionDenied
        };
        Decision {
            allowed: false,
            rule: None,
            code,
        }
    }

    /// Decides for `call`, logs the decision, and gives the status of a denial.
    pub fn check(&self, call: &ServerCall) -> Result<(), Status> {
        let from_certificate;
        let peers = match call.extensions().get::<PeerPrincipals>() {
            Some(p) => &p.0[..],
            None => {
                from_certificate = certificate_principals(call.peer_identity());
                &from_certificate[..]
            }
        };
        let caller = Caller {
            service: call.service_name(),
            method: call.method(),
            claims: call.extensions().get::<Claims>(),
            peers,
        };
        let decision = self.decide(&caller);
        log(call.path(), &caller, &decision);
        if let Some(hook) = &self.on_decision {
            hook(&caller, &decision);
        }
        if decision.allowed {
            return Ok(());
        }
        let message = match (&decision.rule, decision.code) {
            (_, Code::Unauthenticated) => format!("{} needs credentials", call.path()),
            (Some(rule), _) => format!("{} denied by rule {rule}", call.path()),
            (None, _) => format!("{} is not allowed for {}", call.path(), caller.principal()),
        };
        Err(Status::new(decision.code, message))
    }
}

fn log(path: &str, caller: &Caller<'_>, decision: &Decision) {
    let rule = decision.rule.as_deref().unwrap_or("(default deny)");
    let principal = caller.principal();
    if decision.allowed {
        tracing::debug!(target: "rpc_auth::policy", path, principal, rule, "allowed");
    } else {
        tracing::info!(target: "rpc_auth::policy", path, principal, rule, code = ?decision.code, "denied");
    }
}

/// A server layer that applies a [`Policy`] to every call, after authentication.
#[derive(Debug, Clone)]
pub struct PolicyLayer {
    policy: Arc<Policy>,
}

impl PolicyLayer {
    /// Enforces `policy`.
    pub fn new(policy: Policy) -> Self {
        PolicyLayer {
            policy: Arc::new(policy),
        }
    }
}

impl<S> tower_layer::Layer<S> for PolicyLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Authorize<S> {
        Authorize {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service of a [`PolicyLayer`].
#[derive(Debug, Clone)]
pub struct Authorize<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S> Service<ServerCall> for Authorize<S>
where
    S: Service<ServerCall, Response = CallOutcome>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = CallOutcome;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<CallOutcome, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, call: ServerCall) -> Self::Future {
        if let Err(status) = self.policy.check(&call) {
            return Box::pin(std::future::ready(Err(status.into())));
        }
        let future = self.inner.call(call);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(subject: &str, scopes: &[&str]) -> Claims {
        Claims {
            subject: Some(subject.into()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            audience: vec!["orders".into()],
            ..Claims::default()
        }
    }

    fn caller<'a>(method: &'a str, claims: Option<&'a Claims>, peers: &'a [String]) -> Caller<'a> {
        Caller {
            service: "shop.Orders",
            method,
            claims,
            peers,
        }
    }

    #[test]
    fn deny_first_then_allow_then_default_deny() {
        let policy = Policy::new([
            Rule::allow("readers").service("shop.Orders").scope("read"),
            Rule::deny("no-deletes").method("Delete"),
            Rule::allow("ops").peer("spiffe://example.org/ops/*"),
        ])
        .unwrap();
        let reader = claims("alice", &["read"]);
        let d = policy.decide(&caller("Get", Some(&reader), &[]));
        assert_eq!((d.allowed, d.rule.as_deref()), (true, Some("readers")));
        let d = policy.decide(&caller("Delete", Some(&reader), &[]));
        assert_eq!(
            (d.allowed, d.rule.as_deref(), d.code),
            (false, Some("no-deletes"), Code::PermissionDenied)
        );
        let nobody = claims("bob", &[]);
        let d = policy.decide(&caller("Get", Some(&nobody), &[]));
        assert_eq!(
            (d.allowed, d.rule, d.code),
            (false, None, Code::PermissionDenied)
        );
        let d = policy.decide(&caller("Get", None, &[]));
        assert_eq!((d.allowed, d.code), (false, Code::Unauthenticated));
        let ops = ["spiffe://example.org/ops/deployer".to_owned()];
        assert!(policy.decide(&caller("Get", None, &ops)).allowed);
        let other = ["spiffe://example.org/dev/x".to_owned()];
        assert_eq!(
            policy.decide(&caller("Get", None, &other)).code,
            Code::PermissionDenied
        );
    }

    #[test]
    fn names_match_exactly() {
        let policy =
            Policy::new([Rule::allow("get").service("shop.Orders").method("Get")]).unwrap();
        let c = claims("alice", &[]);
        for (service, method) in [
            ("shop.orders", "Get"),
            ("shop.Orders", "get"),
            ("shop.Orders", "Get "),
        ] {
            let caller = Caller {
                service,
                method,
                claims: Some(&c),
                peers: &[],
            };
            assert!(!policy.decide(&caller).allowed, "{service}/{method}");
        }
    }

    #[test]
    fn json_and_toml_agree_and_errors_say_where() {
        let json = Policy::from_json(
            r#"{"rules": [{"name": "r", "action": "allow", "services": ["a.B"], "audiences": ["orders"]}]}"#,
        )
        .unwrap();
        let toml = Policy::from_toml(
            "[[rules]]\nname = \"r\"\naction = \"allow\"\nservices = [\"a.B\"]\naudiences = [\"orders\"]\n",
        )
        .unwrap();
        assert_eq!(json.allow, toml.allow);

        let err = Policy::from_json("{\"rules\": [\n{\"name\": \"r\", \"action\": \"maybe\"}]}")
            .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = Policy::from_toml("[[rules]]\nname = \"r\"\naction = \"allow\"\nsevrices = []\n")
            .unwrap_err();
        assert!(
            err.to_string().contains("sevrices") && err.to_string().contains('4'),
            "{err}"
        );
        let dup = "[[rules]]\nname = \"r\"\naction = \"allow\"\n[[rules]]\nname = \"r\"\naction = \"deny\"\n";
        assert!(matches!(
            Policy::from_toml(dup),
            Err(PolicyError::Invalid(_))
        ));
        let slash = r#"{"rules": [{"name": "r", "action": "allow", "methods": ["Svc/Get"]}]}"#;
        assert!(matches!(
            Policy::from_json(slash),
            Err(PolicyError::Invalid(_))
        ));
    }
}
