//! How gRPC's HTTP/2 headers map to qrpc's header blocks and back (PROTOCOL.md §16):
//! metadata (`-bin` values base64), `grpc-timeout`, `grpc-status` / `grpc-message`
//! (percent-encoded) / `grpc-status-details-bin`, and HTTP statuses without a gRPC status.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use rpc_core::compression::EncodingSet;
use rpc_core::metadata::MetadataValue;
use rpc_core::CompressionEncoding;
use rpc_core::{Code, MetadataMap, Status};
use std::time::Duration;

/// Emits unpadded base64 and accepts padded or unpadded, as PROTOCOL-HTTP2 asks of `-bin`
/// values.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

// gRPC's header names, made once: naming a header by a `&str` parses it on every use.
/// `grpc-encoding`: the algorithm of a request's or response's compressed messages.
pub(crate) const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
/// `grpc-accept-encoding`: the algorithms a peer decompresses.
pub(crate) const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");
/// `grpc-timeout`.
pub(crate) const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
/// `grpc-status`.
pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
const GRPC_STATUS_DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");

/// What a `grpc-encoding` header names: `Ok(None)` for none or `identity`, the name itself
/// when this build does not know it.
pub(crate) fn encoding_of(headers: &HeaderMap) -> Result<Option<CompressionEncoding>, String> {
    let Some(value) = headers.get(GRPC_ENCODING) else {
        return Ok(None);
    };
    match value.to_str().unwrap_or("") {
        "identity" => Ok(None),
        name => CompressionEncoding::from_name(name)
            .map(Some)
            .ok_or_else(|| String::from_utf8_lossy(value.as_bytes()).into_owned()),
    }
}

/// The algorithms of this build among the `grpc-accept-encoding` values (comma-separated
/// lists; unknown names are ignored, as PROTOCOL.md §15.1 asks).
pub(crate) fn accepted_encodings(headers: &HeaderMap) -> EncodingSet {
    let mut set = EncodingSet::empty();
    for value in headers.get_all(GRPC_ACCEPT_ENCODING) {
        let names = value.to_str().unwrap_or("").split(',');
        for e in names.filter_map(|n| CompressionEncoding::from_name(n.trim())) {
            set = set.with(e);
        }
    }
    set
}

/// A `grpc-accept-encoding` value listing `set` (`identity` last, as grpc-core does), or
/// `None` for an empty set.
pub(crate) fn accept_encoding_value(set: EncodingSet) -> Option<HeaderValue> {
    if set.is_empty() {
        return None;
    }
    let mut list = String::new();
    for e in set.iter() {
        list.push_str(e.as_str());
        list.push(',');
    }
    list.push_str("identity");
    HeaderValue::from_str(&list).ok()
}

/// The `grpc-encoding` value naming `encoding`.
pub(crate) fn encoding_value(encoding: CompressionEncoding) -> HeaderValue {
    HeaderValue::from_static(encoding.as_str())
}

/// Headers that are HTTP's or gRPC's own, never metadata.
fn reserved(name: &str) -> bool {
    name.starts_with("grpc-")
        || matches!(
            name,
            "te" | "content-type"
                | "content-length"
                | "host"
                | "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "upgrade"
        )
}

/// The metadata among `headers`: reserved headers are left out, as are entries qrpc cannot
/// carry (a key with characters outside `a-z0-9-_.`, an ASCII value with a byte outside
/// `0x20-0x7e`), which gRPC would not produce. A `-bin` value that is not base64 is malformed:
/// `INTERNAL`, as grpc-go answers.
pub(crate) fn metadata_from_headers(headers: &HeaderMap) -> Result<MetadataMap, Status> {
    let mut md = MetadataMap::new();
    for (name, value) in headers {
        let key = name.as_str();
        if reserved(key) {
            continue;
        }
        if key.ends_with("-bin") {
            // Several values may be joined with commas (PROTOCOL-HTTP2).
            for part in value.as_bytes().split(|&b| b == b',') {
                let part = part.trim_ascii();
                let bytes = BASE64.decode(part).map_err(|e| {
                    Status::internal(format!("malformed binary metadata {key}: {e}"))
                })?;
                if md.append_bin(key, bytes).is_err() {
                    tracing::debug!(key, "metadata key qrpc cannot carry; left out");
                }
            }
        } else {
            let Ok(text) = value.to_str() else {
                tracing::debug!(key, "metadata value not printable ASCII; left out");
                continue;
            };
            if text.bytes().any(|b| !(0x20..=0x7e).contains(&b)) || md.append(key, text).is_err() {
                tracing::debug!(key, "metadata entry qrpc cannot carry; left out");
            }
        }
    }
    Ok(md)
}

/// Appends `md` to `headers` (`-bin` values base64, unpadded).
pub(crate) fn put_metadata(md: &MetadataMap, headers: &mut HeaderMap) {
    for (key, value) in md.iter() {
        let Ok(name) = HeaderName::from_bytes(key.as_bytes()) else {
            continue;
        };
        let value = match value {
            MetadataValue::Ascii(v) => HeaderValue::from_str(v),
            MetadataValue::Binary(b) => HeaderValue::from_str(&BASE64.encode(b)),
        };
        if let Ok(value) = value {
            headers.append(name, value);
        }
    }
}

/// Why a `grpc-timeout` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed grpc-timeout {0:?}: want 1 to 8 digits and a unit (H, M, S, m, u, n)")]
pub struct TimeoutError(pub String);

/// Parses a `grpc-timeout` value: `TimeoutValue TimeoutUnit`, 1 to 8 ASCII digits and one of
/// `H M S m u n` (PROTOCOL-HTTP2).
pub fn parse_timeout(value: &[u8]) -> Result<Duration, TimeoutError> {
    let err = || TimeoutError(String::from_utf8_lossy(value).into_owned());
    let (&unit, digits) = value.split_last().ok_or_else(err)?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(err());
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Ok(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return Err(err()),
    })
}

/// Formats a timeout as `grpc-timeout`: the finest unit whose value fits 8 digits, rounded
/// up (a tiny positive timeout never becomes 0).
pub fn format_timeout(timeout: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = timeout.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (per, unit) in units {
        let n = nanos.div_ceil(per);
        if n <= MAX {
            return format!("{n}{unit}");
        }
    }
    format!("{MAX}H")
}

/// Percent-encodes a status message for `grpc-message`: bytes outside `0x20-0x7e`, and `%`.
pub(crate) fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `grpc-message`; a `%` not followed by two hex digits is kept as is, and bytes
/// that are not UTF-8 are replaced (PROTOCOL-HTTP2: never fail a call over its message).
pub(crate) fn percent_decode(value: &[u8]) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' && i + 2 < value.len() {
            if let (Some(h), Some(l)) = (hex(value[i + 1]), hex(value[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(value[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends a call's final status to `headers`: `grpc-status`, `grpc-message` when not
/// empty, `grpc-status-details-bin` when there are details, then the trailing metadata.
pub(crate) fn put_status(status: &Status, headers: &mut HeaderMap) {
    // The codes' decimal forms, made once (formatting one allocates, on every call).
    const CODES: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    let code = status.code() as usize;
    let value = match CODES.get(code) {
        Some(text) => HeaderValue::from_static(text),
        None => HeaderValue::from(code as u32),
    };
    headers.insert(GRPC_STATUS, value);
    if !status.message().is_empty() {
        if let Ok(v) = HeaderValue::from_str(&percent_encode(status.message())) {
            headers.insert(GRPC_MESSAGE, v);
        }
    }
    if !status.details().is_empty() {
        if let Ok(v) = HeaderValue::from_str(&BASE64.encode(status.details())) {
            headers.insert(GRPC_STATUS_DETAILS, v);
        }
    }
    put_metadata(status.metadata(), headers);
}

/// The status in `headers` (trailers, or the headers of a trailers-only response): a
/// missing or unparsable `grpc-status` is `UNKNOWN`, as in gRPC.
pub(crate) fn status_from_headers(headers: &HeaderMap) -> Status {
    let code = match headers.get(GRPC_STATUS) {
        Some(v) => match v.to_str().ok().and_then(|s| s.parse::<u32>().ok()) {
            Some(n) => Code::from_u32(n),
            None => {
                return Status::unknown(format!("unparsable grpc-status {v:?}"));
            }
        },
        None => return Status::unknown("the server sent no grpc-status"),
    };
    let message = headers
        .get(GRPC_MESSAGE)
        .map(|v| percent_decode(v.as_bytes()))
        .unwrap_or_default();
    let details = headers
        .get(GRPC_STATUS_DETAILS)
        .and_then(|v| BASE64.decode(v.as_bytes()).ok())
        .map(Bytes::from)
        .unwrap_or_default();
    let metadata = metadata_from_headers(headers).unwrap_or_default();
    let mut status = Status::with_details(code, message, details);
    *status.metadata_mut() = metadata;
    status
}

/// The status of a response whose HTTP status is not 200, when it carries no `grpc-status`
/// (gRPC's "HTTP to gRPC status code mapping").
pub(crate) fn status_from_http(status: http::StatusCode) -> Status {
    let code = match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(code, format!("HTTP status {status} without a gRPC status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_and_format() {
        assert_eq!(parse_timeout(b"1S"), Ok(Duration::from_secs(1)));
        assert_eq!(
            parse_timeout(b"99999999H").unwrap().as_secs(),
            99_999_999 * 3600
        );
        assert_eq!(parse_timeout(b"250m"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout(b"7n"), Ok(Duration::from_nanos(7)));
        for bad in [
            &b""[..],
            b"S",
            b"1",
            b"123456789S",
            b"1s",
            b"-1S",
            b" 1S",
            b"1.5S",
            b"1SS",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_timeout(Duration::from_nanos(1)), "1n");
        assert_eq!(format_timeout(Duration::from_secs(1)), "1000000u");
        assert_eq!(format_timeout(Duration::from_secs(100)), "100000m");
        assert_eq!(format_timeout(Duration::from_secs(1_000_000)), "1000000S");
        for t in [1u64, 999, 1_000_001, 123_456_789_012, 10_000_000_000_000] {
            let d = Duration::from_nanos(t);
            let back = parse_timeout(format_timeout(d).as_bytes()).unwrap();
            assert!(back >= d, "{d:?} -> {back:?}");
        }
    }

    #[test]
    fn messages_percent_encode() {
        let m = "\t\ntest with whitespace\r\nand Unicode BMP \u{263A} and 100%";
        let enc = percent_encode(m);
        assert!(enc.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        assert_eq!(percent_decode(enc.as_bytes()), m);
        assert_eq!(percent_decode(b"50%"), "50%");
        assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
        assert_eq!(percent_decode(b"%C3%28"), "\u{FFFD}(");
    }

    #[test]
    fn encoding_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(encoding_of(&h), Ok(None));
        assert!(accepted_encodings(&h).is_empty());
        assert_eq!(accept_encoding_value(EncodingSet::empty()), None);
        h.insert(GRPC_ENCODING, HeaderValue::from_static("identity"));
        assert_eq!(encoding_of(&h), Ok(None));
        h.insert(GRPC_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(encoding_of(&h), Err("br".to_owned()));
        for e in CompressionEncoding::ALL {
            h.insert(GRPC_ENCODING, encoding_value(*e));
            assert_eq!(encoding_of(&h), Ok(Some(*e)));
        }
        // Lists, spaces, several headers, unknown names.
        h.insert(
            GRPC_ACCEPT_ENCODING,
            HeaderValue::from_static("identity, deflate,gzip"),
        );
        h.append(GRPC_ACCEPT_ENCODING, HeaderValue::from_static("br , zstd"));
        assert_eq!(accepted_encodings(&h), EncodingSet::all());
        let value = accept_encoding_value(EncodingSet::all()).unwrap();
        assert_eq!(value, "gzip,zstd,identity");
    }

    #[test]
    fn metadata_round_trips_through_headers() {
        let mut md = MetadataMap::new();
        md.append("a", "1").unwrap();
        md.append("a", "2").unwrap();
        md.append_bin("b-bin", vec![0u8, 0xff, 0xab]).unwrap();
        let mut headers = HeaderMap::new();
        put_metadata(&md, &mut headers);
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("grpc-timeout", HeaderValue::from_static("1S"));
        let back = metadata_from_headers(&headers).unwrap();
        assert_eq!(back.get_all("a").count(), 2);
        assert_eq!(back.get_bin("b-bin").unwrap().as_ref(), &[0u8, 0xff, 0xab]);
        assert_eq!(back.len(), 3);
        // Padded, unpadded and comma-joined binary values.
        let mut h = HeaderMap::new();
        h.insert("c-bin", HeaderValue::from_static("AAE=, AAE"));
        assert_eq!(
            metadata_from_headers(&h).unwrap().get_all("c-bin").count(),
            2
        );
        h.insert("c-bin", HeaderValue::from_static("!!"));
        assert_eq!(
            metadata_from_headers(&h).unwrap_err().code(),
            Code::Internal
        );
    }
}
