//! CORS for gRPC-Web: which pages of other origins may call the port from a browser
//! (PROTOCOL.md §16.7).
//!
//! A browser calls a gRPC-Web server on another origin only after a preflight (`OPTIONS`:
//! gRPC-Web's content type and headers are not "simple"), and lets the page read the
//! response only when it carries `access-control-allow-origin`. The policy is small, so it
//! lives here rather than in a general CORS layer: it applies to gRPC-Web requests only
//! (plain gRPC never comes from a page), and refuses calls from origins it does not allow
//! outright instead of running them and hiding the answer.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use std::time::Duration;

/// Headers every gRPC-Web response exposes to the page: the status (in the headers of a
/// trailers-only response) and the server's accepted encodings.
const ALWAYS_EXPOSED: &[&str] = &[
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-accept-encoding",
];

/// Headers a preflight allows when it names none.
const DEFAULT_ALLOWED: &str =
    "content-type,x-grpc-web,x-user-agent,grpc-timeout,grpc-encoding,grpc-accept-encoding,authorization";

/// Which origins may call the gRPC-Web endpoint from a browser, and what their pages see.
///
/// The default, [`Cors::any_origin`], lets any page call without credentials: the response
/// says `access-control-allow-origin: *`, so browsers never attach cookies or HTTP
/// authentication to such calls (a bearer token the page adds itself as metadata still
/// works). [`Cors::allow_origins`] restricts calls to a list of origins, which may then also
/// send credentials ([`Cors::allow_credentials`]). A gRPC-Web call or preflight from an
/// origin that is not allowed is answered HTTP 403 before any of the server's code runs.
///
/// ```
/// use rpc_grpc::{Cors, GrpcServer};
/// # fn demo(handle: rpc_core::server::ServerHandle) {
/// let http = GrpcServer::new(handle).grpc_web(true).cors(
///     Cors::allow_origins(["https://app.example.com"])
///         .expose_headers(["x-request-id"])
///         .allow_credentials(true),
/// );
/// # drop(http); }
/// ```
#[derive(Debug, Clone)]
pub struct Cors {
    /// `None`: any origin.
    origins: Option<Vec<HeaderValue>>,
    expose: Vec<HeaderName>,
    credentials: bool,
    max_age: Duration,
}

impl Default for Cors {
    fn default() -> Self {
        Cors::any_origin()
    }
}

/// What the policy says about a request's origin.
pub(crate) enum Verdict {
    /// No `Origin` header: not a cross-origin browser request; no CORS headers.
    NoOrigin,
    /// Allowed: these headers go on the response.
    Allowed(HeaderMap),
    /// Not allowed: answered 403.
    Refused,
}

impl Cors {
    /// Any page may call, without credentials (`access-control-allow-origin: *`). The
    /// default.
    pub fn any_origin() -> Self {
        Cors {
            origins: None,
            expose: Vec::new(),
            credentials: false,
            max_age: Duration::from_secs(24 * 3600),
        }
    }

    /// Only pages of these origins (`https://app.example.com`, scheme, host and port, no
    /// path; compared exactly, ASCII case-insensitively) may call. An empty list refuses
    /// every cross-origin call. Origins that are not valid header values are ignored.
    pub fn allow_origins<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let origins = origins
            .into_iter()
            .filter_map(|o| HeaderValue::from_str(o.as_ref().trim_end_matches('/')).ok())
            .collect();
        Cors {
            origins: Some(origins),
            ..Cors::any_origin()
        }
    }

    /// Response headers (custom metadata) the page may read, besides the gRPC status
    /// headers. Names that are not valid header names are ignored. Without credentials,
    /// browsers also read every other header (the response says `*` as well).
    pub fn expose_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.expose.extend(
            names
                .into_iter()
                .filter_map(|n| HeaderName::from_bytes(n.as_ref().as_bytes()).ok()),
        );
        self
    }

    /// Lets pages of the listed origins send credentials (cookies, HTTP authentication,
    /// client certificates) with their calls (`access-control-allow-credentials: true`).
    /// Ignored with [`Cors::any_origin`]: any page calling with the user's cookies would let
    /// any site act as the user.
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// How long a browser may cache a preflight's answer (default 24 h; browsers cap it,
    /// Chromium at 2 h).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    fn credentials(&self) -> bool {
        self.credentials && self.origins.is_some()
    }

    /// The `access-control-allow-origin` a request from `origin` gets, if allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            None => Some(HeaderValue::from_static("*")),
            Some(list) => list
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
                .then(|| origin.clone()),
        }
    }

    /// The headers common to a preflight's answer and a call's response.
    fn verdict(&self, request: &HeaderMap) -> Verdict {
        let Some(origin) = request.get(header::ORIGIN) else {
            return Verdict::NoOrigin;
        };
        let Some(allow) = self.allow_origin(origin) else {
            return Verdict::Refused;
        };
        let mut h = HeaderMap::new();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.origins.is_some() {
            // The answer depends on the origin: caches must keep them apart.
            h.insert(header::VARY, HeaderValue::from_static("origin"));
        }
        if self.credentials() {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        Verdict::Allowed(h)
    }

    /// For a gRPC-Web call: the CORS headers of its response, or its refusal.
    pub(crate) fn for_call(&self, request: &HeaderMap) -> Verdict {
        let mut verdict = self.verdict(request);
        if let Verdict::Allowed(h) = &mut verdict {
            let mut names: Vec<&str> = ALWAYS_EXPOSED.to_vec();
            names.extend(self.expose.iter().map(HeaderName::as_str));
            if !self.credentials() {
                names.push("*");
            }
            if let Ok(v) = HeaderValue::from_str(&names.join(",")) {
                h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
            }
        }
        verdict
    }

    /// The answer to a preflight (`OPTIONS`): 204 with the allowed origin, method `POST`,
    /// the headers asked for and the cache lifetime; 403 for an origin not allowed.
    pub(crate) fn preflight(&self, request: &HeaderMap) -> (StatusCode, HeaderMap) {
        let mut h = match self.verdict(request) {
            Verdict::Allowed(h) => h,
            Verdict::NoOrigin => HeaderMap::new(),
            Verdict::Refused => return (StatusCode::FORBIDDEN, HeaderMap::new()),
        };
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        // The page's metadata are headers it names in the preflight; any may carry a call's
        // metadata, so all are allowed.
        let allow = request
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_ALLOWED));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow);
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(self.max_age.as_secs()),
        );
        (StatusCode::NO_CONTENT, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(origin) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        h
    }

    fn get(h: &HeaderMap, name: HeaderName) -> Option<&str> {
        h.get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn any_origin_is_a_wildcard_without_credentials() {
        let cors = Cors::default().allow_credentials(true);
        let Verdict::Allowed(h) = cors.for_call(&request(Some("https://a.example"))) else {
            panic!("refused")
        };
        assert_eq!(get(&h, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
        assert_eq!(get(&h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS), None);
        assert_eq!(
            get(&h, header::ACCESS_CONTROL_EXPOSE_HEADERS),
            Some("grpc-status,grpc-message,grpc-status-details-bin,grpc-accept-encoding,*")
        );
        assert!(matches!(cors.for_call(&request(None)), Verdict::NoOrigin));
    }

    #[test]
    fn listed_origins_are_reflected_others_refused() {
        let cors = Cors::allow_origins(["https://app.example/"])
            .expose_headers(["x-request-id", "not a header"])
            .allow_credentials(true);
        let Verdict::Allowed(h) = cors.for_call(&request(Some("https://APP.example"))) else {
            panic!("refused")
        };
        assert_eq!(
            get(&h, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://APP.example")
        );
        assert_eq!(get(&h, header::VARY), Some("origin"));
        assert_eq!(
            get(&h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
            Some("true")
        );
        assert_eq!(
            get(&h, header::ACCESS_CONTROL_EXPOSE_HEADERS),
            Some("grpc-status,grpc-message,grpc-status-details-bin,grpc-accept-encoding,x-request-id")
        );
        assert!(matches!(
            cors.for_call(&request(Some("https://evil.example"))),
            Verdict::Refused
        ));
        let (status, h) = cors.preflight(&request(Some("https://evil.example")));
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(h.is_empty());
        assert!(matches!(
            Cors::allow_origins(Vec::<String>::new())
                .for_call(&request(Some("https://app.example"))),
            Verdict::Refused
        ));
    }

    #[test]
    fn preflight_allows_what_it_was_asked() {
        let mut req = request(Some("https://a.example"));
        req.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("content-type,x-grpc-web,x-custom"),
        );
        let (status, h) = Cors::default()
            .max_age(Duration::from_secs(600))
            .preflight(&req);
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(get(&h, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
        assert_eq!(
            get(&h, header::ACCESS_CONTROL_ALLOW_HEADERS),
            Some("content-type,x-grpc-web,x-custom")
        );
        assert_eq!(
            get(&h, header::ACCESS_CONTROL_ALLOW_METHODS),
            Some("POST, OPTIONS")
        );
        assert_eq!(get(&h, header::ACCESS_CONTROL_MAX_AGE), Some("600"));
    }
}
