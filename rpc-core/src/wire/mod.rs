//! The wire protocol, sans-IO (see `docs/PROTOCOL.md`).
//!
//! Nothing here touches a socket, a runtime or a clock: bytes go in, frames and call events
//! come out, and encoders append to a `BytesMut`. The transport drives it over quinn; tests and
//! fuzzers drive it directly.

pub mod call;
pub mod datagram;
pub(crate) mod early;
pub mod frame;
pub mod head;
pub mod machine;

pub use call::{CallError, ClientEvent, ClientRecv, ServerEvent, ServerRecv};
pub use frame::{Frame, FrameDecoder, FrameError, FrameKind, FrameLimits};
pub use head::{HeadCompression, HeadError, RequestHead};

use crate::status::{Code, Status};

/// ALPN protocol identifier: protocol name and major version (PROTOCOL.md §2).
pub const ALPN: &[u8] = b"qrpc/1";

/// Application error codes carried by QUIC `RESET_STREAM`, `STOP_SENDING` and
/// `CONNECTION_CLOSE` frames (PROTOCOL.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// No error: graceful close of a connection.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    /// The call was cancelled by the side that sends this code.
    pub const CANCELLED: ErrorCode = ErrorCode(0x1);
    /// The call's deadline passed.
    pub const DEADLINE_EXCEEDED: ErrorCode = ErrorCode(0x2);
    /// The peer broke the protocol on this stream or connection.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x3);
    /// The sender failed internally.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x4);
    /// The server did not start processing the call; it is safe to retry.
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x5);
    /// A message or header block exceeded the receiver's limit.
    pub const RESOURCE_EXHAUSTED: ErrorCode = ErrorCode(0x6);
    /// The server refused a call that arrived in 0-RTT data and that it does not run before
    /// the handshake (PROTOCOL.md §3.5); never processed, the client sends it again after
    /// the handshake.
    pub const TOO_EARLY: ErrorCode = ErrorCode(0x7);
    /// Connection close: the server is shutting down and its grace period is over.
    pub const SHUTDOWN: ErrorCode = ErrorCode(0x10);

    /// The status code a call ends with when its stream is reset or stopped with this code
    /// (PROTOCOL.md §7.2).
    pub fn status_code(self) -> Code {
        match self {
            ErrorCode::CANCELLED => Code::Cancelled,
            ErrorCode::DEADLINE_EXCEEDED => Code::DeadlineExceeded,
            ErrorCode::REFUSED_STREAM | ErrorCode::SHUTDOWN | ErrorCode::TOO_EARLY => {
                Code::Unavailable
            }
            ErrorCode::RESOURCE_EXHAUSTED => Code::ResourceExhausted,
            _ => Code::Internal,
        }
    }

    /// The status a call ends with when its stream is reset or stopped with this code.
    pub fn to_status(self, peer: &str) -> Status {
        let what = match self {
            ErrorCode::CANCELLED => "call cancelled by the",
            ErrorCode::DEADLINE_EXCEEDED => "deadline exceeded at the",
            ErrorCode::REFUSED_STREAM => "call refused by the",
            ErrorCode::TOO_EARLY => "0-RTT call refused (too early) by the",
            ErrorCode::RESOURCE_EXHAUSTED => "limit exceeded at the",
            ErrorCode::PROTOCOL_ERROR => "protocol error reported by the",
            ErrorCode::INTERNAL_ERROR => "internal error at the",
            ErrorCode::SHUTDOWN => "shutdown of the",
            ErrorCode::NO_ERROR => "stream closed without a status by the",
            _ => "stream reset by the",
        };
        let status = Status::new(
            self.status_code(),
            format!("{what} {peer} (code {:#x})", self.0),
        );
        // The server did not start processing the call (PROTOCOL.md §7.1).
        match self {
            ErrorCode::REFUSED_STREAM => status.unprocessed(),
            ErrorCode::TOO_EARLY => status.unprocessed().too_early(),
            _ => status,
        }
    }
}

/// Encoders for each frame a call sends.
pub mod encode {
    use super::frame::{kind, put_frame_header, put_frame_with, FRAME_HEADER_LEN};
    use super::head::{self, HeadCompression, RequestHead};
    use crate::compression::CompressionEncoding;
    use crate::metadata::MetadataMap;
    use crate::status::Status;
    use bytes::BytesMut;
    use std::time::Duration;

    /// A `HEADERS` frame with a request head.
    pub fn request_head(head: &RequestHead, dst: &mut BytesMut) {
        let c = HeadCompression::default();
        request_head_parts(&head.path, head.timeout, head.flags, &head.metadata, c, dst);
    }

    /// A `HEADERS` frame with a request head, from borrowed parts, with its compression
    /// fields (PROTOCOL.md §15.2).
    pub fn request_head_parts(
        path: &str,
        timeout: Option<Duration>,
        flags: u32,
        metadata: &MetadataMap,
        compression: HeadCompression,
        dst: &mut BytesMut,
    ) {
        let len = head::request_head_len(path, timeout, flags, metadata, compression);
        dst.reserve(FRAME_HEADER_LEN + len);
        put_frame_header(dst, kind::HEADERS, 0, len);
        head::encode_request_head(path, timeout, flags, metadata, compression, dst);
    }

    /// The encoded size of [`request_head_parts`]' frame, header included.
    pub fn request_head_len(
        path: &str,
        timeout: Option<Duration>,
        flags: u32,
        metadata: &MetadataMap,
        compression: HeadCompression,
    ) -> usize {
        FRAME_HEADER_LEN + head::request_head_len(path, timeout, flags, metadata, compression)
    }

    /// The encoded size of [`trailers_ok`]'s frame, header included.
    pub fn trailers_ok_len(metadata: &MetadataMap) -> usize {
        FRAME_HEADER_LEN
            + head::trailers_len(crate::status::Code::Ok, "", &bytes::Bytes::new(), metadata)
    }

    /// The encoded size of [`response_head`]'s frame, header included.
    pub fn response_head_len(md: &MetadataMap) -> usize {
        response_head_len_with(md, None)
    }

    /// The encoded size of [`response_head_with`]'s frame, header included.
    pub fn response_head_len_with(md: &MetadataMap, enc: Option<CompressionEncoding>) -> usize {
        FRAME_HEADER_LEN + head::response_head_len(md, enc)
    }

    /// A `TRAILERS` frame for a successful call.
    pub fn trailers_ok(metadata: &MetadataMap, dst: &mut BytesMut) {
        let empty = bytes::Bytes::new();
        let len = head::trailers_len(crate::status::Code::Ok, "", &empty, metadata);
        dst.reserve(FRAME_HEADER_LEN + len);
        put_frame_header(dst, kind::TRAILERS, 0, len);
        head::encode_trailers(crate::status::Code::Ok, "", &empty, metadata, dst);
    }

    /// A `HEADERS` frame with response metadata.
    pub fn response_head(md: &MetadataMap, dst: &mut BytesMut) {
        response_head_with(md, None, dst)
    }

    /// A `HEADERS` frame with response metadata and the algorithm of the response's
    /// compressed messages (PROTOCOL.md §15.3).
    pub fn response_head_with(
        md: &MetadataMap,
        enc: Option<CompressionEncoding>,
        dst: &mut BytesMut,
    ) {
        let len = head::response_head_len(md, enc);
        dst.reserve(FRAME_HEADER_LEN + len);
        put_frame_header(dst, kind::HEADERS, 0, len);
        head::encode_response_head(md, enc, dst);
    }

    /// A `TRAILERS` frame carrying `status` (code `Ok` for success).
    pub fn trailers(status: &Status, dst: &mut BytesMut) {
        let (code, msg, details, md) = (
            status.code(),
            status.message(),
            status.details(),
            status.metadata(),
        );
        let len = head::trailers_len(code, msg, details, md);
        dst.reserve(FRAME_HEADER_LEN + len);
        put_frame_header(dst, kind::TRAILERS, 0, len);
        head::encode_trailers(code, msg, details, md, dst);
    }

    /// A `MESSAGE` frame with an already encoded payload.
    ///
    /// # Panics
    /// If `payload` is longer than a frame can carry (4 GiB - 1, PROTOCOL.md §4).
    pub fn raw_message(payload: &[u8], dst: &mut BytesMut) {
        super::frame::put_frame(dst, kind::MESSAGE, 0, payload);
    }

    /// A `MESSAGE` frame whose payload `body` appends in place; returns the payload length.
    pub fn message_with<E>(
        dst: &mut BytesMut,
        body: impl FnOnce(&mut BytesMut) -> Result<(), E>,
    ) -> Result<usize, E> {
        put_frame_with(dst, kind::MESSAGE, 0, body)
    }
}

#[cfg(test)]
mod proptests;
