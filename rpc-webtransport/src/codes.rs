//! Stream error codes: qrpc's (PROTOCOL.md §7) in WebTransport's range of HTTP/3 codes.
//!
//! WebTransport over HTTP/3 does not put an application's stream error code on the wire as
//! is: a 32-bit WebTransport code `n` travels in `RESET_STREAM` and `STOP_SENDING` as the
//! HTTP/3 code `0x52e4a40fa8db + n + floor(n / 0x1e)` (draft-ietf-webtrans-http3 §4.4,
//! skipping HTTP/3's reserved "greasing" codes), and browsers expose `n` to JavaScript as
//! `WebTransportError.streamErrorCode`. The qrpc code rides as `n` (PROTOCOL.md §19.4).

use rpc_core::wire::ErrorCode;

/// The first HTTP/3 error code of WebTransport's range.
const FIRST: u64 = 0x52e4_a40f_a8db;
/// The last: the image of `u32::MAX`.
const LAST: u64 = 0x52e4_a40f_a8db + 0xffff_ffff + 0xffff_ffff / 0x1e;
/// HTTP/3 `WEBTRANSPORT_SESSION_GONE`: streams of a session that ended are reset with it.
const SESSION_GONE: u64 = 0x170d_7b68;
/// HTTP/3 `WEBTRANSPORT_BUFFERED_STREAM_REJECTED`: a stream that arrived for no session.
const BUFFERED_STREAM_REJECTED: u64 = 0x3994_bd84;

/// The HTTP/3 code that carries the WebTransport application code `code`.
pub(crate) fn to_http3(code: ErrorCode) -> u64 {
    let n = u64::from(code.0);
    FIRST + n + n / 0x1e
}

/// What an HTTP/3 stream error code received on a WebTransport stream means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// An application code (qrpc's, PROTOCOL.md §7).
    Code(ErrorCode),
    /// The session is gone: the call is lost with it.
    SessionGone,
}

/// Decodes an HTTP/3 stream error code. Codes outside WebTransport's range (an HTTP/3 stack's
/// own) and reserved codes inside it are `INTERNAL_ERROR`, as any unknown code (§7.1); a
/// rejected buffered stream was never processed, so `REFUSED_STREAM`.
pub(crate) fn from_http3(code: u64) -> Received {
    match code {
        SESSION_GONE => Received::SessionGone,
        BUFFERED_STREAM_REJECTED => Received::Code(ErrorCode::REFUSED_STREAM),
        FIRST..=LAST => {
            let shifted = code - FIRST;
            if shifted % 0x1f == 0x1e {
                // A greasing code: carries no WebTransport code.
                return Received::Code(ErrorCode::INTERNAL_ERROR);
            }
            let n = shifted - shifted / 0x1f;
            match u32::try_from(n) {
                Ok(n) => Received::Code(ErrorCode(n)),
                Err(_) => Received::Code(ErrorCode::INTERNAL_ERROR),
            }
        }
        _ => Received::Code(ErrorCode::INTERNAL_ERROR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_examples() {
        // draft-ietf-webtrans-http3: 0 maps to the first code; each 0x1e codes skip one.
        assert_eq!(to_http3(ErrorCode(0)), 0x52e4_a40f_a8db);
        assert_eq!(to_http3(ErrorCode(0x1d)), 0x52e4_a40f_a8db + 0x1d);
        assert_eq!(to_http3(ErrorCode(0x1e)), 0x52e4_a40f_a8db + 0x1f);
        assert_eq!(to_http3(ErrorCode(u32::MAX)), LAST);
    }

    #[test]
    fn round_trip() {
        for n in (0..2000u32).chain([u32::MAX - 1, u32::MAX]) {
            assert_eq!(
                from_http3(to_http3(ErrorCode(n))),
                Received::Code(ErrorCode(n))
            );
        }
    }

    #[test]
    fn foreign_and_reserved_codes() {
        // HTTP/3's own H3_REQUEST_CANCELLED, a greasing code inside the range, past the range.
        assert_eq!(from_http3(0x10c), Received::Code(ErrorCode::INTERNAL_ERROR));
        assert_eq!(
            from_http3(FIRST + 0x1e),
            Received::Code(ErrorCode::INTERNAL_ERROR)
        );
        assert_eq!(
            from_http3(LAST + 1),
            Received::Code(ErrorCode::INTERNAL_ERROR)
        );
        assert_eq!(from_http3(SESSION_GONE), Received::SessionGone);
        assert_eq!(
            from_http3(BUFFERED_STREAM_REJECTED),
            Received::Code(ErrorCode::REFUSED_STREAM)
        );
    }
}
