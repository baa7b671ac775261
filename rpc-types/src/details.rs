//! [`ErrorDetails`] (every payload in its own field) and [`ErrorDetail`] (one payload).

use crate::ext::DetailsError;
use crate::payloads::{HelpLink, PreconditionViolation, QuotaViolation};
use crate::pb::{self, bad_request::FieldViolation};
use prost::{Message, Name};
use prost_types::Any;
use std::time::Duration;

/// The error details of a status, one field per standard payload.
///
/// Built on the server with the `with_*` methods, read on the client from
/// [`StatusExt::get_error_details`](crate::StatusExt::get_error_details). Encoded in field
/// order (error info first, then retry info, ...), then [`other`](ErrorDetails::other).
///
/// ```
/// use rpc_types::{ErrorDetails, HelpLink};
/// use std::time::Duration;
///
/// let details = ErrorDetails::new()
///     .with_error_info("RATE_LIMITED", "example.com", [("limit", "10/s")])
///     .with_retry_info(Some(Duration::from_secs(2)))
///     .with_help([HelpLink::new("quotas", "https://example.com/quotas")]);
/// assert_eq!(details.error_info.as_ref().unwrap().metadata["limit"], "10/s");
/// assert_eq!(details.into_vec().len(), 3);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ErrorDetails {
    /// Why the error happened, as a machine-readable reason.
    pub error_info: Option<pb::ErrorInfo>,
    /// When the client may retry.
    pub retry_info: Option<pb::RetryInfo>,
    /// Debugging information from the server.
    pub debug_info: Option<pb::DebugInfo>,
    /// Which quota checks failed.
    pub quota_failure: Option<pb::QuotaFailure>,
    /// Which preconditions failed.
    pub precondition_failure: Option<pb::PreconditionFailure>,
    /// Which request fields are invalid.
    pub bad_request: Option<pb::BadRequest>,
    /// The request, for a bug report.
    pub request_info: Option<pb::RequestInfo>,
    /// The resource being accessed.
    pub resource_info: Option<pb::ResourceInfo>,
    /// Links to documentation.
    pub help: Option<pb::Help>,
    /// A message to show the user.
    pub localized_message: Option<pb::LocalizedMessage>,
    /// Payloads of other types, kept as received.
    pub other: Vec<Any>,
}

/// One payload of a status's details.
///
/// ```
/// use rpc_types::{ErrorDetail, LocalizedMessage};
///
/// let detail = ErrorDetail::from(LocalizedMessage::new("en-US", "Try again later."));
/// let any = detail.to_any();
/// assert_eq!(any.type_url, "type.googleapis.com/google.rpc.LocalizedMessage");
/// assert_eq!(ErrorDetail::from_any(any).unwrap(), detail);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ErrorDetail {
    /// `google.rpc.ErrorInfo`.
    ErrorInfo(pb::ErrorInfo),
    /// `google.rpc.RetryInfo`.
    RetryInfo(pb::RetryInfo),
    /// `google.rpc.DebugInfo`.
    DebugInfo(pb::DebugInfo),
    /// `google.rpc.QuotaFailure`.
    QuotaFailure(pb::QuotaFailure),
    /// `google.rpc.PreconditionFailure`.
    PreconditionFailure(pb::PreconditionFailure),
    /// `google.rpc.BadRequest`.
    BadRequest(pb::BadRequest),
    /// `google.rpc.RequestInfo`.
    RequestInfo(pb::RequestInfo),
    /// `google.rpc.ResourceInfo`.
    ResourceInfo(pb::ResourceInfo),
    /// `google.rpc.Help`.
    Help(pb::Help),
    /// `google.rpc.LocalizedMessage`.
    LocalizedMessage(pb::LocalizedMessage),
    /// A payload of any other type, as received.
    Other(Any),
}

/// The full type name in a type URL: what follows the last `/` (the host part, usually
/// `type.googleapis.com`, says nothing about the type).
pub(crate) fn type_name(type_url: &str) -> &str {
    type_url.rsplit_once('/').map_or(type_url, |(_, name)| name)
}

/// Decodes `any` as `T`, the caller having checked its type name.
pub(crate) fn decode_as<T: Message + Default>(any: &Any) -> Result<T, DetailsError> {
    T::decode(any.value.as_slice()).map_err(|source| DetailsError::Detail {
        type_url: any.type_url.clone(),
        source,
    })
}

fn encode_any<T: Name>(message: &T) -> Any {
    Any {
        type_url: T::type_url(),
        value: message.encode_to_vec(),
    }
}

/// Everything that differs per payload type, written once: the [`ErrorDetail`] variant and
/// the [`ErrorDetails`] field of each.
macro_rules! payloads {
    ($($variant:ident => $field:ident,)*) => {
        $(
            impl From<pb::$variant> for ErrorDetail {
                fn from(detail: pb::$variant) -> Self {
                    ErrorDetail::$variant(detail)
                }
            }
        )*

        impl ErrorDetail {
            /// The payload as a `google.protobuf.Any`.
            pub fn to_any(&self) -> Any {
                match self {
                    $(ErrorDetail::$variant(d) => encode_any(d),)*
                    ErrorDetail::Other(any) => any.clone(),
                }
            }

            /// The payload in `any`: a standard type if its type URL names one (whatever
            /// its host part), else [`ErrorDetail::Other`].
            ///
            /// # Errors
            ///
            /// [`DetailsError::Detail`] if the type URL names a standard type but the bytes
            /// are not a valid message of that type.
            pub fn from_any(any: Any) -> Result<ErrorDetail, DetailsError> {
                let name = type_name(&any.type_url);
                $(
                    if name == concat!("google.rpc.", stringify!($variant)) {
                        return decode_as(&any).map(ErrorDetail::$variant);
                    }
                )*
                Ok(ErrorDetail::Other(any))
            }
        }

        impl ErrorDetails {
            /// Stores `detail` in its field (replacing one already there), or appends it to
            /// [`other`](ErrorDetails::other).
            pub fn push(&mut self, detail: ErrorDetail) {
                match detail {
                    $(ErrorDetail::$variant(d) => self.$field = Some(d),)*
                    ErrorDetail::Other(any) => self.other.push(any),
                }
            }

            /// The payloads, in field order, then the others.
            pub fn into_vec(self) -> Vec<ErrorDetail> {
                let mut all = Vec::new();
                $(all.extend(self.$field.map(ErrorDetail::$variant));)*
                all.extend(self.other.into_iter().map(ErrorDetail::Other));
                all
            }
        }
    };
}

payloads!(
    ErrorInfo => error_info,
    RetryInfo => retry_info,
    DebugInfo => debug_info,
    QuotaFailure => quota_failure,
    PreconditionFailure => precondition_failure,
    BadRequest => bad_request,
    RequestInfo => request_info,
    ResourceInfo => resource_info,
    Help => help,
    LocalizedMessage => localized_message,
);

impl FromIterator<ErrorDetail> for ErrorDetails {
    fn from_iter<I: IntoIterator<Item = ErrorDetail>>(iter: I) -> Self {
        let mut details = ErrorDetails::new();
        iter.into_iter().for_each(|d| details.push(d));
        details
    }
}

impl ErrorDetails {
    /// No details.
    pub fn new() -> Self {
        ErrorDetails::default()
    }

    /// Whether there are no details at all.
    pub fn is_empty(&self) -> bool {
        *self == ErrorDetails::default()
    }

    /// With an [`ErrorInfo`](pb::ErrorInfo): see [`ErrorInfo::new`](pb::ErrorInfo::new).
    pub fn with_error_info<K, V>(
        mut self,
        reason: impl Into<String>,
        domain: impl Into<String>,
        metadata: impl IntoIterator<Item = (K, V)>,
    ) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.error_info = Some(pb::ErrorInfo::new(reason, domain, metadata));
        self
    }

    /// With a [`RetryInfo`](pb::RetryInfo): retry after `delay` (`None`: unspecified).
    pub fn with_retry_info(mut self, delay: Option<Duration>) -> Self {
        self.retry_info = Some(pb::RetryInfo::new(delay));
        self
    }

    /// With a [`DebugInfo`](pb::DebugInfo): a stack trace and what else the server knows.
    pub fn with_debug_info(
        mut self,
        stack_entries: impl IntoIterator<Item = impl Into<String>>,
        detail: impl Into<String>,
    ) -> Self {
        self.debug_info = Some(pb::DebugInfo::new(stack_entries, detail));
        self
    }

    /// With a [`QuotaFailure`](pb::QuotaFailure) listing `violations`.
    pub fn with_quota_failure(
        mut self,
        violations: impl IntoIterator<Item = QuotaViolation>,
    ) -> Self {
        self.quota_failure = Some(pb::QuotaFailure::new(violations));
        self
    }

    /// With a [`PreconditionFailure`](pb::PreconditionFailure) listing `violations`.
    pub fn with_precondition_failure(
        mut self,
        violations: impl IntoIterator<Item = PreconditionViolation>,
    ) -> Self {
        self.precondition_failure = Some(pb::PreconditionFailure::new(violations));
        self
    }

    /// With a [`BadRequest`](pb::BadRequest) listing the invalid fields.
    pub fn with_bad_request(
        mut self,
        field_violations: impl IntoIterator<Item = FieldViolation>,
    ) -> Self {
        self.bad_request = Some(pb::BadRequest::new(field_violations));
        self
    }

    /// With a [`RequestInfo`](pb::RequestInfo): the request's id, and opaque serving data.
    pub fn with_request_info(
        mut self,
        request_id: impl Into<String>,
        serving_data: impl Into<String>,
    ) -> Self {
        self.request_info = Some(pb::RequestInfo::new(request_id, serving_data));
        self
    }

    /// With a [`ResourceInfo`](pb::ResourceInfo): see
    /// [`ResourceInfo::new`](pb::ResourceInfo::new).
    pub fn with_resource_info(
        mut self,
        resource_type: impl Into<String>,
        resource_name: impl Into<String>,
        owner: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        let info = pb::ResourceInfo::new(resource_type, resource_name, owner, description);
        self.resource_info = Some(info);
        self
    }

    /// With a [`Help`](pb::Help) listing `links`.
    pub fn with_help(mut self, links: impl IntoIterator<Item = HelpLink>) -> Self {
        self.help = Some(pb::Help::new(links));
        self
    }

    /// With a [`LocalizedMessage`](pb::LocalizedMessage) in a BCP 47 `locale`.
    pub fn with_localized_message(
        mut self,
        locale: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.localized_message = Some(pb::LocalizedMessage::new(locale, message));
        self
    }

    /// With a payload of another type (for example `Any::from_msg(&my_message)`).
    pub fn with_other(mut self, any: Any) -> Self {
        self.other.push(any);
        self
    }
}
