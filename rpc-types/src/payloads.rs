//! Constructors and type names for the generated payload messages.

use crate::pb::{self, bad_request::FieldViolation};
use std::collections::HashMap;
use std::time::Duration;

/// One quota check that failed, in a [`QuotaFailure`](pb::QuotaFailure).
pub type QuotaViolation = pb::quota_failure::Violation;
/// One precondition that failed, in a [`PreconditionFailure`](pb::PreconditionFailure).
pub type PreconditionViolation = pb::precondition_failure::Violation;
/// One link of a [`Help`](pb::Help).
pub type HelpLink = pb::help::Link;

/// `prost::Name` for each standard message, so `Any::from_msg` / `Any::to_msg` work with
/// them too. Type URLs use gRPC's `type.googleapis.com/` prefix.
macro_rules! names {
    ($($ty:ident,)*) => {$(
        impl prost::Name for pb::$ty {
            const NAME: &'static str = stringify!($ty);
            const PACKAGE: &'static str = "google.rpc";

            fn type_url() -> String {
                concat!("type.googleapis.com/google.rpc.", stringify!($ty)).to_owned()
            }
        }
    )*};
}

names!(
    Status,
    ErrorInfo,
    RetryInfo,
    DebugInfo,
    QuotaFailure,
    PreconditionFailure,
    BadRequest,
    RequestInfo,
    ResourceInfo,
    Help,
    LocalizedMessage,
);

/// The largest `google.protobuf.Duration`: 10,000 years (duration.proto).
const MAX_DURATION_SECS: u64 = 315_576_000_000;

impl pb::ErrorInfo {
    /// The cause of an error: a `reason` (`UPPER_SNAKE_CASE`) unique within its `domain`
    /// (usually the service's name), with structured `metadata`.
    pub fn new<K, V>(
        reason: impl Into<String>,
        domain: impl Into<String>,
        metadata: impl IntoIterator<Item = (K, V)>,
    ) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let metadata: HashMap<String, String> = metadata
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        pb::ErrorInfo {
            reason: reason.into(),
            domain: domain.into(),
            metadata,
        }
    }
}

impl pb::RetryInfo {
    /// When to retry: after `delay` (`None`: the server does not say).
    ///
    /// A delay beyond the range of `google.protobuf.Duration` (10,000 years) is clamped.
    pub fn new(delay: Option<Duration>) -> Self {
        pb::RetryInfo {
            retry_delay: delay.map(to_proto_duration),
        }
    }

    /// The retry delay as a [`Duration`]; `None` when absent, or negative (which the format
    /// allows but means nothing here).
    pub fn delay(&self) -> Option<Duration> {
        let d = self.retry_delay?;
        Duration::try_from(d).ok()
    }
}

fn to_proto_duration(d: Duration) -> prost_types::Duration {
    // Clamped first, so the conversion cannot overflow.
    let d = d.min(Duration::new(MAX_DURATION_SECS, 999_999_999));
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

impl pb::DebugInfo {
    /// Where the error occurred (`stack_entries`) and what the server knows about it.
    pub fn new(
        stack_entries: impl IntoIterator<Item = impl Into<String>>,
        detail: impl Into<String>,
    ) -> Self {
        pb::DebugInfo {
            stack_entries: stack_entries.into_iter().map(Into::into).collect(),
            detail: detail.into(),
        }
    }
}

impl pb::QuotaFailure {
    /// The quota checks that failed.
    pub fn new(violations: impl IntoIterator<Item = QuotaViolation>) -> Self {
        pb::QuotaFailure {
            violations: violations.into_iter().collect(),
        }
    }
}

impl QuotaViolation {
    /// The quota of `subject` (`"clientip:..."`, `"project:..."`) that was exceeded, and how.
    pub fn new(subject: impl Into<String>, description: impl Into<String>) -> Self {
        QuotaViolation {
            subject: subject.into(),
            description: description.into(),
        }
    }
}

impl pb::PreconditionFailure {
    /// The preconditions that failed.
    pub fn new(violations: impl IntoIterator<Item = PreconditionViolation>) -> Self {
        pb::PreconditionFailure {
            violations: violations.into_iter().collect(),
        }
    }
}

impl PreconditionViolation {
    /// A failed precondition: its kind (`"TOS"`), the subject it is about, and how to fix it.
    pub fn new(
        kind: impl Into<String>,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        PreconditionViolation {
            r#type: kind.into(),
            subject: subject.into(),
            description: description.into(),
        }
    }
}

impl pb::BadRequest {
    /// The fields of the request that are invalid.
    pub fn new(field_violations: impl IntoIterator<Item = FieldViolation>) -> Self {
        pb::BadRequest {
            field_violations: field_violations.into_iter().collect(),
        }
    }
}

impl FieldViolation {
    /// An invalid request field (a dot-separated path such as `"address.zip"`) and why.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl pb::RequestInfo {
    /// The request's id in the server's logs, and any opaque data for a bug report.
    pub fn new(request_id: impl Into<String>, serving_data: impl Into<String>) -> Self {
        pb::RequestInfo {
            request_id: request_id.into(),
            serving_data: serving_data.into(),
        }
    }
}

impl pb::ResourceInfo {
    /// The resource being accessed: its type, name, owner (may be empty) and what went wrong.
    pub fn new(
        resource_type: impl Into<String>,
        resource_name: impl Into<String>,
        owner: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        pb::ResourceInfo {
            resource_type: resource_type.into(),
            resource_name: resource_name.into(),
            owner: owner.into(),
            description: description.into(),
        }
    }
}

impl pb::Help {
    /// Links to documentation, or to where the caller can fix the problem.
    pub fn new(links: impl IntoIterator<Item = HelpLink>) -> Self {
        pb::Help {
            links: links.into_iter().collect(),
        }
    }
}

impl HelpLink {
    /// A link: what it offers, and its URL.
    pub fn new(description: impl Into<String>, url: impl Into<String>) -> Self {
        HelpLink {
            description: description.into(),
            url: url.into(),
        }
    }
}

impl pb::LocalizedMessage {
    /// A message safe to show the user, in a BCP 47 `locale` (`"en-US"`, `"fr-CH"`).
    pub fn new(locale: impl Into<String>, message: impl Into<String>) -> Self {
        pb::LocalizedMessage {
            locale: locale.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Name;

    #[test]
    fn type_urls_are_grpcs() {
        assert_eq!(
            pb::BadRequest::type_url(),
            "type.googleapis.com/google.rpc.BadRequest"
        );
        assert_eq!(pb::Status::full_name(), "google.rpc.Status");
    }

    #[test]
    fn retry_delay_round_trips_and_clamps() {
        let d = Duration::from_millis(1500);
        assert_eq!(pb::RetryInfo::new(Some(d)).delay(), Some(d));
        assert_eq!(pb::RetryInfo::new(None).delay(), None);
        let huge = pb::RetryInfo::new(Some(Duration::MAX));
        assert_eq!(huge.retry_delay.unwrap().seconds, MAX_DURATION_SECS as i64);
        let negative = pb::RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: -1,
                nanos: 0,
            }),
        };
        assert_eq!(negative.delay(), None);
    }
}
