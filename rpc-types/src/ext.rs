//! [`StatusExt`]: error details on `rpc_core::Status`, and [`DetailsError`].

use crate::details::{decode_as, type_name, ErrorDetail, ErrorDetails};
use crate::pb;
use bytes::Bytes;
use prost::{DecodeError, Message, Name};
use rpc_core::{Code, Status};

/// Why a status's error details could not be read (see the crate docs, "Malformed
/// details").
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DetailsError {
    /// The details bytes are not an encoded `google.rpc.Status`.
    #[error("status details are not an encoded google.rpc.Status")]
    Status(#[source] DecodeError),
    /// A payload names a known type but its bytes are not a valid message of that type.
    #[error("status detail of type {type_url} does not decode as that type")]
    Detail {
        /// The payload's type URL.
        type_url: String,
        /// What the decoder found.
        #[source]
        source: DecodeError,
    },
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for rpc_core::Status {}
}

/// Error details on [`rpc_core::Status`]: build a status with them, read them back.
///
/// Every getter reads [`Status::details`] afresh (nothing is cached) and returns
/// `Err(DetailsError)` for malformed details, as the crate docs describe; `Ok(None)` or an
/// empty value when the payload is absent.
pub trait StatusExt: sealed::Sealed {
    /// A status with `code`, `message` and `details`, encoded as a `google.rpc.Status` into
    /// its details bytes.
    fn with_error_details(code: Code, message: impl Into<String>, details: ErrorDetails) -> Status;

    /// A status with `code`, `message` and the payloads of `details`, in that order.
    fn with_error_details_vec(
        code: Code,
        message: impl Into<String>,
        details: impl IntoIterator<Item = ErrorDetail>,
    ) -> Status;

    /// The `google.rpc.Status` in the details, undecoded payloads and all (`None` when the
    /// details are empty).
    fn rpc_status(&self) -> Result<Option<pb::Status>, DetailsError>;

    /// Every payload in its field of an [`ErrorDetails`] (the last of each standard type,
    /// others in [`ErrorDetails::other`]).
    fn get_error_details(&self) -> Result<ErrorDetails, DetailsError>;

    /// Every payload, in the order sent.
    fn get_details_vec(&self) -> Result<Vec<ErrorDetail>, DetailsError>;

    /// The last payload of type `T`, which may be any message with a `prost::Name` (the
    /// standard ones here, or an application's own). Payloads of other types are not
    /// decoded, so a malformed one does not matter here.
    fn get_detail<T: Name + Default>(&self) -> Result<Option<T>, DetailsError>;

    /// The [`ErrorInfo`](pb::ErrorInfo) payload.
    fn get_details_error_info(&self) -> Result<Option<pb::ErrorInfo>, DetailsError>;
    /// The [`RetryInfo`](pb::RetryInfo) payload.
    fn get_details_retry_info(&self) -> Result<Option<pb::RetryInfo>, DetailsError>;
    /// The [`DebugInfo`](pb::DebugInfo) payload.
    fn get_details_debug_info(&self) -> Result<Option<pb::DebugInfo>, DetailsError>;
    /// The [`QuotaFailure`](pb::QuotaFailure) payload.
    fn get_details_quota_failure(&self) -> Result<Option<pb::QuotaFailure>, DetailsError>;
    /// The [`PreconditionFailure`](pb::PreconditionFailure) payload.
    fn get_details_precondition_failure(
        &self,
    ) -> Result<Option<pb::PreconditionFailure>, DetailsError>;
    /// The [`BadRequest`](pb::BadRequest) payload.
    fn get_details_bad_request(&self) -> Result<Option<pb::BadRequest>, DetailsError>;
    /// The [`RequestInfo`](pb::RequestInfo) payload.
    fn get_details_request_info(&self) -> Result<Option<pb::RequestInfo>, DetailsError>;
    /// The [`ResourceInfo`](pb::ResourceInfo) payload.
    fn get_details_resource_info(&self) -> Result<Option<pb::ResourceInfo>, DetailsError>;
    /// The [`Help`](pb::Help) payload.
    fn get_details_help(&self) -> Result<Option<pb::Help>, DetailsError>;
    /// The [`LocalizedMessage`](pb::LocalizedMessage) payload.
    fn get_details_localized_message(&self) -> Result<Option<pb::LocalizedMessage>, DetailsError>;
}

/// Encodes the `google.rpc.Status` that goes into the details bytes: its code and message
/// repeat the call's, as gRPC's do.
fn encode(code: Code, message: &str, details: impl IntoIterator<Item = ErrorDetail>) -> Bytes {
    let status = pb::Status {
        code: code as i32,
        message: message.to_owned(),
        details: details.into_iter().map(|d| d.to_any()).collect(),
    };
    Bytes::from(status.encode_to_vec())
}

fn decode_status(details: &Bytes) -> Result<pb::Status, DetailsError> {
    pb::Status::decode(details.as_ref()).map_err(DetailsError::Status)
}

impl StatusExt for Status {
    fn with_error_details(code: Code, message: impl Into<String>, details: ErrorDetails) -> Status {
        Status::with_error_details_vec(code, message, details.into_vec())
    }

    fn with_error_details_vec(
        code: Code,
        message: impl Into<String>,
        details: impl IntoIterator<Item = ErrorDetail>,
    ) -> Status {
        let message = message.into();
        let bytes = encode(code, &message, details);
        Status::with_details(code, message, bytes)
    }

    fn rpc_status(&self) -> Result<Option<pb::Status>, DetailsError> {
        if self.details().is_empty() {
            return Ok(None);
        }
        decode_status(self.details()).map(Some)
    }

    fn get_error_details(&self) -> Result<ErrorDetails, DetailsError> {
        Ok(self.get_details_vec()?.into_iter().collect())
    }

    fn get_details_vec(&self) -> Result<Vec<ErrorDetail>, DetailsError> {
        let status = decode_status(self.details())?;
        status
            .details
            .into_iter()
            .map(ErrorDetail::from_any)
            .collect()
    }

    fn get_detail<T: Name + Default>(&self) -> Result<Option<T>, DetailsError> {
        let status = decode_status(self.details())?;
        let wanted = T::full_name();
        let mut last = None;
        // Each one is decoded, so a malformed payload of this type is an error even when a
        // valid one follows it.
        for any in status
            .details
            .iter()
            .filter(|a| type_name(&a.type_url) == wanted)
        {
            last = Some(decode_as(any)?);
        }
        Ok(last)
    }

    fn get_details_error_info(&self) -> Result<Option<pb::ErrorInfo>, DetailsError> {
        self.get_detail()
    }

    fn get_details_retry_info(&self) -> Result<Option<pb::RetryInfo>, DetailsError> {
        self.get_detail()
    }

    fn get_details_debug_info(&self) -> Result<Option<pb::DebugInfo>, DetailsError> {
        self.get_detail()
    }

    fn get_details_quota_failure(&self) -> Result<Option<pb::QuotaFailure>, DetailsError> {
        self.get_detail()
    }

    fn get_details_precondition_failure(
        &self,
    ) -> Result<Option<pb::PreconditionFailure>, DetailsError> {
        self.get_detail()
    }

    fn get_details_bad_request(&self) -> Result<Option<pb::BadRequest>, DetailsError> {
        self.get_detail()
    }

    fn get_details_request_info(&self) -> Result<Option<pb::RequestInfo>, DetailsError> {
        self.get_detail()
    }

    fn get_details_resource_info(&self) -> Result<Option<pb::ResourceInfo>, DetailsError> {
        self.get_detail()
    }

    fn get_details_help(&self) -> Result<Option<pb::Help>, DetailsError> {
        self.get_detail()
    }

    fn get_details_localized_message(&self) -> Result<Option<pb::LocalizedMessage>, DetailsError> {
        self.get_detail()
    }
}
