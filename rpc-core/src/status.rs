//! The outcome of a call: a gRPC status code, a message, details and trailing metadata.

use crate::metadata::MetadataMap;
use bytes::Bytes;
use std::{error::Error as StdError, fmt, sync::Arc};

/// gRPC's status codes, with the same numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Code {
    /// Not an error; returned on success.
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error.
    Unknown = 2,
    /// The client specified an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity that a client attempted to create already exists.
    AlreadyExists = 6,
    /// The caller does not have permission to execute the operation.
    PermissionDenied = 7,
    /// Some resource has been exhausted (including a message or metadata over a limit).
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted.
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not supported (including unknown methods).
    Unimplemented = 12,
    /// Internal error: an invariant was broken (including protocol violations).
    Internal = 13,
    /// The service is currently unavailable (including lost connections); usually transient.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request does not have valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// The code for a number; numbers outside `0..=16` map to [`Code::Unknown`], as in gRPC.
    pub fn from_u32(n: u32) -> Code {
        use Code::*;
        match n {
            0 => Ok,
            1 => Cancelled,
            2 => Unknown,
            3 => InvalidArgument,
            4 => DeadlineExceeded,
            5 => NotFound,
            6 => AlreadyExists,
            7 => PermissionDenied,
            8 => ResourceExhausted,
            9 => FailedPrecondition,
            10 => Aborted,
            11 => OutOfRange,
            12 => Unimplemented,
            13 => Internal,
            14 => Unavailable,
            15 => DataLoss,
            16 => Unauthenticated,
            _ => Unknown,
        }
    }

    /// A short description of the code.
    pub fn description(self) -> &'static str {
        use Code::*;
        match self {
            Ok => "the operation completed successfully",
            Cancelled => "the operation was cancelled",
            Unknown => "unknown error",
            InvalidArgument => "client specified an invalid argument",
            DeadlineExceeded => "deadline expired before operation could complete",
            NotFound => "some requested entity was not found",
            AlreadyExists => "some entity that we attempted to create already exists",
            PermissionDenied => "the caller does not have permission to execute the operation",
            ResourceExhausted => "some resource has been exhausted",
            FailedPrecondition => "the system is not in a state required for the operation",
            Aborted => "the operation was aborted",
            OutOfRange => "operation was attempted past the valid range",
            Unimplemented => "operation is not implemented or not supported",
            Internal => "internal error",
            Unavailable => "the service is currently unavailable",
            DataLoss => "unrecoverable data loss or corruption",
            Unauthenticated => "the request does not have valid authentication credentials",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<u32> for Code {
    fn from(n: u32) -> Self {
        Code::from_u32(n)
    }
}

/// The outcome of a call that did not succeed (or, with [`Code::Ok`], one that did).
///
/// Boxed inside, so `Result<T, Status>` stays one pointer wide on the error side.
///
/// ```
/// use rpc_core::{Code, Status};
///
/// let status = Status::not_found("no such user: 7");
/// assert_eq!(status.code(), Code::NotFound);
/// assert_eq!(status.message(), "no such user: 7");
/// ```
#[derive(Clone)]
pub struct Status(Box<Inner>);

#[derive(Clone)]
struct Inner {
    code: Code,
    message: String,
    details: Bytes,
    metadata: MetadataMap,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
    /// Known not to have reached a handler (never sent, or refused by the server).
    unprocessed: bool,
    /// Its 0-RTT data was rejected, or the server refused it as too early: the client sends
    /// it again once the handshake is done (PROTOCOL.md §3.5).
    too_early: bool,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with a code and a message.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status(Box::new(Inner {
            code,
            message: message.into(),
            details: Bytes::new(),
            metadata: MetadataMap::new(),
            source: None,
            unprocessed: false,
            too_early: false,
        }))
    }

    /// Whether the call is known never to have reached a handler: it was never sent (no
    /// connection, the channel closed, its stream not opened, shed by a client layer, its
    /// 0-RTT data rejected) or the server refused it before reading it (`REFUSED_STREAM`,
    /// PROTOCOL.md §7.1, as during a shutdown). Such a call may be retried whatever its
    /// method does (gRPC's transparent retry). `false` means the server may have processed
    /// it: retry only what is idempotent.
    ///
    /// Only this side knows it: the flag is never sent.
    pub fn never_processed(&self) -> bool {
        self.0.unprocessed
    }

    /// Marks the status as [`never_processed`](Status::never_processed): for a client layer
    /// that ends a call before it left this process (a balancer with no server to send it
    /// to, a client-side limiter), so that a retry layer above may send it again whatever
    /// its method does. Never use it once any byte of the call may have been sent.
    ///
    /// ```
    /// let status = rpc_core::Status::unavailable("no server to call").mark_never_processed();
    /// assert!(status.never_processed());
    /// ```
    pub fn mark_never_processed(self) -> Status {
        self.unprocessed()
    }

    /// Marks the status as [`never_processed`](Status::never_processed).
    pub(crate) fn unprocessed(mut self) -> Status {
        self.0.unprocessed = true;
        self
    }

    /// Marks the status as the end of a call sent too early: in rejected 0-RTT data, or
    /// refused by the server with `TOO_EARLY` (PROTOCOL.md §3.5).
    pub(crate) fn too_early(mut self) -> Status {
        self.0.too_early = true;
        self
    }

    /// Whether the call ended because it was sent in 0-RTT data too early (see
    /// [`Status::too_early`]); the channel then sends it again after the handshake.
    pub(crate) fn is_too_early(&self) -> bool {
        self.0.too_early
    }

    /// Asks a retrying client to wait `delay` before its next attempt, whatever its backoff
    /// says: the trailer [`RETRY_PUSHBACK`](crate::client::retry::RETRY_PUSHBACK) in
    /// milliseconds (PROTOCOL.md §9.3). Only a client retry policy retries; this sets when.
    pub fn with_retry_pushback(mut self, delay: std::time::Duration) -> Status {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.set_pushback(&ms.to_string());
        self
    }

    /// Asks a client not to retry the call (the trailer
    /// [`RETRY_PUSHBACK`](crate::client::retry::RETRY_PUSHBACK) set to `-1`, PROTOCOL.md §9.3).
    pub fn with_no_retry(mut self) -> Status {
        self.set_pushback("-1");
        self
    }

    fn set_pushback(&mut self, value: &str) {
        self.0
            .metadata
            .insert(crate::client::retry::RETRY_PUSHBACK, value)
            .expect("a valid key and value");
    }

    /// A status with opaque details (for example an encoded `google.rpc.Status`).
    pub fn with_details(code: Code, message: impl Into<String>, details: Bytes) -> Status {
        let mut s = Status::new(code, message);
        s.0.details = details;
        s
    }

    /// A status with trailing metadata.
    pub fn with_metadata(code: Code, message: impl Into<String>, metadata: MetadataMap) -> Status {
        let mut s = Status::new(code, message);
        s.0.metadata = metadata;
        s
    }

    constructors! {
        /// [`Code::Ok`].
        ok => Ok,
        /// [`Code::Cancelled`].
        cancelled => Cancelled,
        /// [`Code::Unknown`].
        unknown => Unknown,
        /// [`Code::InvalidArgument`].
        invalid_argument => InvalidArgument,
        /// [`Code::DeadlineExceeded`].
        deadline_exceeded => DeadlineExceeded,
        /// [`Code::NotFound`].
        not_found => NotFound,
        /// [`Code::AlreadyExists`].
        already_exists => AlreadyExists,
        /// [`Code::PermissionDenied`].
        permission_denied => PermissionDenied,
        /// [`Code::ResourceExhausted`].
        resource_exhausted => ResourceExhausted,
        /// [`Code::FailedPrecondition`].
        failed_precondition => FailedPrecondition,
        /// [`Code::Aborted`].
        aborted => Aborted,
        /// [`Code::OutOfRange`].
        out_of_range => OutOfRange,
        /// [`Code::Unimplemented`].
        unimplemented => Unimplemented,
        /// [`Code::Internal`].
        internal => Internal,
        /// [`Code::Unavailable`].
        unavailable => Unavailable,
        /// [`Code::DataLoss`].
        data_loss => DataLoss,
        /// [`Code::Unauthenticated`].
        unauthenticated => Unauthenticated,
    }

    /// The status code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The message: any Unicode text, meant for developers.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The opaque details bytes.
    pub fn details(&self) -> &Bytes {
        &self.0.details
    }

    /// The trailing metadata sent with the status.
    pub fn metadata(&self) -> &MetadataMap {
        &self.0.metadata
    }

    /// Mutable access to the trailing metadata.
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.0.metadata
    }

    /// Attaches the local error that caused this status (never sent to the peer).
    pub fn set_source(&mut self, source: Arc<dyn StdError + Send + Sync + 'static>) -> &mut Self {
        self.0.source = Some(source);
        self
    }

    /// The status for an error out of a tower stack: a [`Status`] as it is, tower's
    /// `timeout` elapsing as `DEADLINE_EXCEEDED`, tower's `load_shed` refusing as
    /// `UNAVAILABLE`, anything else as `UNKNOWN` with the error as its source.
    pub fn from_error(error: Box<dyn StdError + Send + Sync + 'static>) -> Status {
        let error = match error.downcast::<Status>() {
            Ok(status) => return *status,
            Err(error) => error,
        };
        let mut status = if error.is::<tower::timeout::error::Elapsed>() {
            Status::deadline_exceeded("timeout elapsed")
        } else if error.is::<tower::load_shed::error::Overloaded>() {
            Status::unavailable("overloaded: the call was shed").unprocessed()
        } else {
            Status::unknown(error.to_string())
        };
        status.set_source(Arc::from(error));
        status
    }

    /// The code of the status [`Status::from_error`] makes of `error`, without taking it
    /// (for a layer that records the code and passes the error on).
    pub fn code_for_error(error: &(dyn StdError + Send + Sync + 'static)) -> Code {
        if let Some(status) = error.downcast_ref::<Status>() {
            status.code()
        } else if error.is::<tower::timeout::error::Elapsed>() {
            Code::DeadlineExceeded
        } else if error.is::<tower::load_shed::error::Overloaded>() {
            Code::Unavailable
        } else {
            Code::Unknown
        }
    }

    pub(crate) fn from_parts(
        code: Code,
        message: String,
        details: Bytes,
        metadata: MetadataMap,
    ) -> Status {
        Status(Box::new(Inner {
            code,
            message,
            details,
            metadata,
            source: None,
            unprocessed: false,
            too_early: false,
        }))
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Status");
        d.field("code", &self.0.code);
        if !self.0.message.is_empty() {
            d.field("message", &self.0.message);
        }
        if !self.0.details.is_empty() {
            d.field("details", &self.0.details);
        }
        if !self.0.metadata.is_empty() {
            d.field("metadata", &self.0.metadata);
        }
        if let Some(s) = &self.0.source {
            d.field("source", s);
        }
        d.finish()
    }
}

/// Compares code, message, details and metadata (not the local source).
impl PartialEq for Status {
    fn eq(&self, other: &Self) -> bool {
        self.0.code == other.0.code
            && self.0.message == other.0.message
            && self.0.details == other.0.details
            && self.0.metadata == other.0.metadata
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status: {}", self.0.code)?;
        if !self.0.message.is_empty() {
            write!(f, ", message: {:?}", self.0.message)?;
        }
        Ok(())
    }
}

impl StdError for Status {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

impl From<std::io::Error> for Status {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let code = match e.kind() {
            NotFound => Code::NotFound,
            PermissionDenied => Code::PermissionDenied,
            AlreadyExists => Code::AlreadyExists,
            TimedOut => Code::DeadlineExceeded,
            InvalidInput | InvalidData => Code::InvalidArgument,
            ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe => {
                Code::Unavailable
            }
            _ => Code::Unknown,
        };
        let mut s = Status::new(code, e.to_string());
        s.set_source(Arc::new(e));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for n in 0..=16u32 {
            assert_eq!(Code::from_u32(n) as u32, n);
        }
        assert_eq!(Code::from_u32(17), Code::Unknown);
        assert_eq!(Code::from_u32(u32::MAX), Code::Unknown);
    }

    #[test]
    fn status_is_small() {
        assert_eq!(std::mem::size_of::<Status>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn display_and_details() {
        let s = Status::with_details(Code::Aborted, "héllo\t wörld", Bytes::from_static(b"\0"));
        assert_eq!(
            s.to_string(),
            "status: Aborted, message: \"héllo\\t wörld\""
        );
        assert_eq!(s.details().as_ref(), b"\0");
    }
}
