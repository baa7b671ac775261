//! gRPC's [richer error model] for rpc-core: a failed call's [`Status`](rpc_core::Status)
//! carries typed error details (which request fields were wrong, when to retry, a message
//! for the user...) next to its code and message. The same model and API shape as
//! `tonic-types`.
//!
//! The details bytes of a status ([`Status::details`](rpc_core::Status::details), the
//! `details` field of the trailers, PROTOCOL.md §5.3) hold an encoded [`google.rpc.Status`]
//! (`pb::Status`: code, message and a list of `google.protobuf.Any`), exactly what gRPC sends
//! in `grpc-status-details-bin`. Each `Any` is one of the standard payloads of
//! `google/rpc/error_details.proto`:
//!
//! | Payload | Builder | Getter |
//! |---|---|---|
//! | [`ErrorInfo`] (reason, domain, metadata) | [`ErrorDetails::with_error_info`] | [`StatusExt::get_details_error_info`] |
//! | [`RetryInfo`] (retry delay) | [`ErrorDetails::with_retry_info`] | [`StatusExt::get_details_retry_info`] |
//! | [`DebugInfo`] (stack entries, detail) | [`ErrorDetails::with_debug_info`] | [`StatusExt::get_details_debug_info`] |
//! | [`QuotaFailure`] (violations) | [`ErrorDetails::with_quota_failure`] | [`StatusExt::get_details_quota_failure`] |
//! | [`PreconditionFailure`] (violations) | [`ErrorDetails::with_precondition_failure`] | [`StatusExt::get_details_precondition_failure`] |
//! | [`BadRequest`] (field violations) | [`ErrorDetails::with_bad_request`] | [`StatusExt::get_details_bad_request`] |
//! | [`RequestInfo`] (request id, serving data) | [`ErrorDetails::with_request_info`] | [`StatusExt::get_details_request_info`] |
//! | [`ResourceInfo`] (type, name, owner, description) | [`ErrorDetails::with_resource_info`] | [`StatusExt::get_details_resource_info`] |
//! | [`Help`] (links) | [`ErrorDetails::with_help`] | [`StatusExt::get_details_help`] |
//! | [`LocalizedMessage`] (locale, message) | [`ErrorDetails::with_localized_message`] | [`StatusExt::get_details_localized_message`] |
//! | anything else (an [`Any`]) | [`ErrorDetails::with_other`] | [`StatusExt::get_detail`], [`ErrorDetail::Other`] |
//!
//! A server builds an [`ErrorDetails`] and fails the call with
//! [`Status::with_error_details`](StatusExt::with_error_details); a client reads the status
//! back with [`get_error_details`](StatusExt::get_error_details) (every payload in its
//! field), [`get_details_vec`](StatusExt::get_details_vec) (every `Any` in order, as an
//! [`ErrorDetail`]) or one getter per payload.
//!
//! # Example
//!
//! ```
//! use rpc_core::{Code, Status};
//! use rpc_types::{ErrorDetails, FieldViolation, StatusExt};
//!
//! // Server: reject a request, saying which fields are wrong and why.
//! let details = ErrorDetails::new()
//!     .with_bad_request([FieldViolation::new("email", "must contain an @")])
//!     .with_localized_message("fr-FR", "adresse e-mail invalide");
//! let status = Status::with_error_details(Code::InvalidArgument, "invalid email", details);
//!
//! // Client: the same status, as received.
//! let details = status.get_error_details()?;
//! let bad_request = details.bad_request.expect("a BadRequest");
//! assert_eq!(bad_request.field_violations[0].field, "email");
//! assert_eq!(details.localized_message.unwrap().message, "adresse e-mail invalide");
//! // Or one payload alone.
//! assert!(status.get_details_retry_info()?.is_none());
//! # Ok::<(), rpc_types::DetailsError>(())
//! ```
//!
//! # Malformed details
//!
//! The details come from the peer, so reading them never panics and never trusts them:
//!
//! * Empty details bytes are a status without details: every getter returns nothing
//!   (`Ok(ErrorDetails::default())`, `Ok(None)`, `Ok(vec![])`).
//! * Details bytes that are not an encoded `google.rpc.Status` make every getter return
//!   [`DetailsError::Status`]. The call's own code and message are unaffected.
//! * A payload whose type URL names a standard type but whose bytes do not decode as that
//!   type is [`DetailsError::Detail`] from the getters that read it
//!   ([`get_error_details`](StatusExt::get_error_details),
//!   [`get_details_vec`](StatusExt::get_details_vec) and that type's own getter); the getters
//!   of other payloads still read theirs.
//! * A payload of a type this crate does not know is kept as is, in
//!   [`ErrorDetails::other`] or [`ErrorDetail::Other`]: never an error.
//! * Several payloads of one standard type: [`get_details_vec`](StatusExt::get_details_vec)
//!   returns them all; the other getters return the last, as protobuf does for a field sent
//!   twice.
//! * The code and message inside the `google.rpc.Status` are ignored on receipt: the call's
//!   status ([`Status::code`](rpc_core::Status::code)) is the one that counts.
//!
//! Size is bounded before any of this runs: the details travel in the trailers, whose
//! encoded size the client checks against its `max_header_list_size` (16 KiB by default,
//! PROTOCOL.md §10) before buffering them. A larger status ends the call with
//! `RESOURCE_EXHAUSTED` instead, so a server should keep its details well under that limit.
//! Decoding allocates no more than the bytes received.
//!
//! [richer error model]: https://grpc.io/docs/guides/error/#richer-error-model
//! [`google.rpc.Status`]: pb::Status
#![deny(missing_docs)]

mod details;
mod ext;
mod payloads;

pub use details::{ErrorDetail, ErrorDetails};
pub use ext::{DetailsError, StatusExt};
pub use payloads::{HelpLink, PreconditionViolation, QuotaViolation};
pub use pb::bad_request::FieldViolation;
pub use pb::{
    BadRequest, DebugInfo, ErrorInfo, Help, LocalizedMessage, PreconditionFailure, QuotaFailure,
    RequestInfo, ResourceInfo, RetryInfo,
};
pub use prost_types::Any;

/// The code generated from googleapis' `google/rpc/status.proto` and
/// `google/rpc/error_details.proto` (package `google.rpc`, vendored under `proto/`).
pub mod pb {
    #![allow(missing_docs)]
    // googleapis' comments, kept as written: `<ip address>` placeholders and proto-style
    // `[links][google.rpc.Code]` are not rustdoc.
    #![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]
    rpc_core::include_proto!("google.rpc");
}
