//! Payloads of `HEADERS` and `TRAILERS` frames (PROTOCOL.md §5).
//!
//! They are protobuf messages, so any peer can encode them with any protobuf library and
//! unknown fields are skipped by design, which is how later versions add fields. Decoding uses
//! prost-derived structs; encoding writes the same fields directly, to skip building them.

use crate::compression::{CompressionEncoding, EncodingSet};
use crate::metadata::MetadataMap;
use crate::status::{Code, Status};
use bytes::{Bytes, BytesMut};
use prost::encoding::{self, WireType};
use prost::Message;
use std::time::Duration;

/// Request head flags (PROTOCOL.md §5.1).
pub mod flags {
    /// The method is idempotent: the call may be retried.
    pub const IDEMPOTENT: u32 = 0x1;
}

/// What the client sends in its `HEADERS` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `/package.Service/Method`.
    pub path: String,
    /// Time the client will wait for the call, measured from when it sent the head.
    pub timeout: Option<Duration>,
    /// Request flags (see [`flags`]).
    pub flags: u32,
    /// Request metadata.
    pub metadata: MetadataMap,
}

/// The compression fields of a request head (PROTOCOL.md §15.2): what the request's
/// messages are compressed with, and what the client accepts for the response's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadCompression {
    /// The algorithm of the request's compressed messages (`encoding`, field 5).
    pub encoding: Option<CompressionEncoding>,
    /// The algorithms the client decompresses (`accept_encoding`, field 6).
    pub accept: EncodingSet,
}

/// The `encoding` name meaning "not compressed", as in gRPC.
const IDENTITY: &str = "identity";

/// Errors in a `HEADERS` or `TRAILERS` payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// The payload is not a valid protobuf message of the expected shape.
    #[error("malformed header block: {0}")]
    Malformed(String),
    /// A metadata entry breaks the key or value rules.
    #[error("invalid metadata: {0}")]
    Metadata(#[from] crate::metadata::MetadataError),
    /// The request path is not of the form `/service/method`.
    #[error("invalid method path {0:?}")]
    InvalidPath(String),
}

impl From<prost::DecodeError> for HeadError {
    fn from(e: prost::DecodeError) -> Self {
        HeadError::Malformed(e.to_string())
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct EntryPb {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(bytes = "bytes", tag = "2")]
    value: Bytes,
}

/// `RequestHead` as decoded. `Message` by hand rather than derived, for the compression
/// fields (§15.2): their names are compared with the known ones where they lie in the
/// payload and `accept_encoding` folds into a set, so a head offering compression costs no
/// allocation more than one that does not (an invalid UTF-8 name is merely unknown).
#[derive(Clone, Debug, Default, PartialEq)]
struct RequestHeadPb {
    path: String,
    timeout_micros: Option<u64>,
    flags: u32,
    metadata: Vec<EntryPb>,
    encoding: Bytes,
    accept: EncodingSet,
}

impl Message for RequestHeadPb {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        if !self.path.is_empty() {
            encoding::string::encode(1, &self.path, buf);
        }
        if let Some(t) = &self.timeout_micros {
            encoding::uint64::encode(2, t, buf);
        }
        if self.flags != 0 {
            encoding::uint32::encode(3, &self.flags, buf);
        }
        encoding::message::encode_repeated(4, &self.metadata, buf);
        if !self.encoding.is_empty() {
            encoding::bytes::encode(5, &self.encoding, buf);
        }
        for e in self.accept.iter() {
            encoding::bytes::encode(6, &Bytes::from_static(e.as_str().as_bytes()), buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl bytes::Buf,
        ctx: encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        match tag {
            1 => encoding::string::merge(wire_type, &mut self.path, buf, ctx),
            2 => {
                let t = self.timeout_micros.get_or_insert(0);
                encoding::uint64::merge(wire_type, t, buf, ctx)
            }
            3 => encoding::uint32::merge(wire_type, &mut self.flags, buf, ctx),
            4 => encoding::message::merge_repeated(wire_type, &mut self.metadata, buf, ctx),
            5 => encoding::bytes::merge(wire_type, &mut self.encoding, buf, ctx),
            6 => {
                // A short name (length < 128) lying in the current chunk, as every known one
                // does, is read in place: no `Bytes` is split off (which would allocate
                // once to share the payload). Anything else takes prost's checked path.
                let chunk = buf.chunk();
                if let (WireType::LengthDelimited, Some(&len)) = (wire_type, chunk.first()) {
                    let len = usize::from(len);
                    if len < 0x80 && chunk.len() > len {
                        if let Some(e) = CompressionEncoding::from_wire(&chunk[1..=len]) {
                            self.accept = self.accept.with(e);
                        }
                        buf.advance(1 + len);
                        return Ok(());
                    }
                }
                let mut name = Bytes::new();
                encoding::bytes::merge(wire_type, &mut name, buf, ctx)?;
                if let Some(e) = CompressionEncoding::from_wire(&name) {
                    self.accept = self.accept.with(e);
                }
                Ok(())
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let name = |e: CompressionEncoding| 2 + e.as_str().len();
        let mut n = 0;
        if !self.path.is_empty() {
            n += encoding::string::encoded_len(1, &self.path);
        }
        if let Some(t) = &self.timeout_micros {
            n += encoding::uint64::encoded_len(2, t);
        }
        if self.flags != 0 {
            n += encoding::uint32::encoded_len(3, &self.flags);
        }
        n += encoding::message::encoded_len_repeated(4, &self.metadata);
        if !self.encoding.is_empty() {
            n += encoding::bytes::encoded_len(5, &self.encoding);
        }
        n + self.accept.iter().map(name).sum::<usize>()
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct ResponseHeadPb {
    #[prost(message, repeated, tag = "1")]
    metadata: Vec<EntryPb>,
    #[prost(string, tag = "2")]
    encoding: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TrailersPb {
    #[prost(uint32, tag = "1")]
    code: u32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(bytes = "bytes", tag = "3")]
    details: Bytes,
    #[prost(message, repeated, tag = "4")]
    metadata: Vec<EntryPb>,
}

fn entries_len(tag: u32, md: &MetadataMap) -> usize {
    md.raw()
        .iter()
        .map(|(k, v)| {
            let inner = encoding::string::encoded_len(1, k) + encoding::bytes::encoded_len(2, v);
            encoding::key_len(tag) + encoding::encoded_len_varint(inner as u64) + inner
        })
        .sum()
}

fn put_entries(tag: u32, md: &MetadataMap, dst: &mut BytesMut) {
    for (k, v) in md.raw() {
        let inner = encoding::string::encoded_len(1, k) + encoding::bytes::encoded_len(2, v);
        encoding::encode_key(tag, WireType::LengthDelimited, dst);
        encoding::encode_varint(inner as u64, dst);
        encoding::string::encode(1, k, dst);
        encoding::bytes::encode(2, v, dst);
    }
}

fn take_entries(entries: Vec<EntryPb>) -> Result<MetadataMap, HeadError> {
    let mut md = MetadataMap::new();
    for e in entries {
        md.push_raw(e.key, e.value)?;
    }
    Ok(md)
}

fn micros(d: Duration) -> u64 {
    // Rounded up, so a tiny positive timeout never becomes "expired". No 128-bit division
    // (`as_micros`): this runs twice for every call that has a deadline.
    let sub = u64::from(d.subsec_nanos().div_ceil(1000));
    d.as_secs()
        .checked_mul(1_000_000)
        .and_then(|us| us.checked_add(sub))
        .unwrap_or(u64::MAX)
}

/// Encoded length of a request head payload, from borrowed parts.
pub(crate) fn request_head_len(
    path: &str,
    timeout: Option<Duration>,
    flags: u32,
    metadata: &MetadataMap,
    compression: HeadCompression,
) -> usize {
    let mut n = encoding::key_len(1) + encoding::encoded_len_varint(path.len() as u64) + path.len();
    if let Some(t) = timeout {
        n += encoding::uint64::encoded_len(2, &micros(t));
    }
    if flags != 0 {
        n += encoding::uint32::encoded_len(3, &flags);
    }
    n + entries_len(4, metadata) + compression_len(compression)
}

/// Fields 5 and 6 of a request head; nothing when compression is off.
fn compression_len(c: HeadCompression) -> usize {
    let name = |e: CompressionEncoding| 2 + e.as_str().len();
    c.encoding.map_or(0, name) + c.accept.iter().map(name).sum::<usize>()
}

fn put_compression(c: HeadCompression, dst: &mut BytesMut) {
    if let Some(e) = c.encoding {
        put_name(5, e, dst);
    }
    for e in c.accept.iter() {
        put_name(6, e, dst);
    }
}

/// A short string field without an owned `String`.
fn put_name(tag: u32, e: CompressionEncoding, dst: &mut BytesMut) {
    encoding::encode_key(tag, WireType::LengthDelimited, dst);
    encoding::encode_varint(e.as_str().len() as u64, dst);
    dst.extend_from_slice(e.as_str().as_bytes());
}

/// Appends a request head payload, from borrowed parts.
pub(crate) fn encode_request_head(
    path: &str,
    timeout: Option<Duration>,
    flags: u32,
    metadata: &MetadataMap,
    compression: HeadCompression,
    dst: &mut BytesMut,
) {
    encoding::encode_key(1, WireType::LengthDelimited, dst);
    encoding::encode_varint(path.len() as u64, dst);
    dst.extend_from_slice(path.as_bytes());
    if let Some(t) = timeout {
        encoding::uint64::encode(2, &micros(t), dst);
    }
    if flags != 0 {
        encoding::uint32::encode(3, &flags, dst);
    }
    put_entries(4, metadata, dst);
    put_compression(compression, dst);
}

/// The compression fields of a request head as sent (PROTOCOL.md §15.2).
#[derive(Debug, Default)]
pub(crate) struct SentCompression {
    /// The `encoding` name, empty for none (or `identity`).
    pub(crate) encoding: Bytes,
    /// The `accept_encoding` names this build knows; the others are ignored.
    pub(crate) accept: EncodingSet,
}

/// Decodes a request head, and its compression fields into `sent` (written in place: the
/// head goes straight into the server's event, on every call).
pub(crate) fn decode_request_head(
    payload: Bytes,
    sent: &mut SentCompression,
) -> Result<RequestHead, HeadError> {
    let mut pb = RequestHeadPb::decode(payload)?;
    sent.accept = pb.accept;
    if !pb.encoding.is_empty() && pb.encoding != IDENTITY.as_bytes() {
        sent.encoding = std::mem::take(&mut pb.encoding);
    }
    RequestHead::from_pb(pb)
}

impl RequestHead {
    fn from_pb(pb: RequestHeadPb) -> Result<Self, HeadError> {
        if split_path(&pb.path).is_none() {
            return Err(HeadError::InvalidPath(pb.path));
        }
        Ok(RequestHead {
            path: pb.path,
            timeout: pb.timeout_micros.map(Duration::from_micros),
            flags: pb.flags,
            metadata: take_entries(pb.metadata)?,
        })
    }

    /// Encoded payload length.
    pub fn encoded_len(&self) -> usize {
        request_head_len(
            &self.path,
            self.timeout,
            self.flags,
            &self.metadata,
            HeadCompression::default(),
        )
    }

    /// Appends the payload (not the frame header).
    pub fn encode(&self, dst: &mut BytesMut) {
        encode_request_head(
            &self.path,
            self.timeout,
            self.flags,
            &self.metadata,
            HeadCompression::default(),
            dst,
        )
    }

    /// Decodes a payload received from a client.
    ///
    /// The compression fields are not part of it; see [`ServerRecv`](super::ServerRecv).
    pub fn decode(payload: Bytes) -> Result<Self, HeadError> {
        Self::from_pb(RequestHeadPb::decode(payload)?)
    }

    /// Decodes a payload with its compression fields (PROTOCOL.md §15.2), for a gateway
    /// that carries the head over another protocol (gRPC's `grpc-encoding` and
    /// `grpc-accept-encoding`). Names this build does not know are left out of `accept`;
    /// an `encoding` it does not know is an error (its messages could not be read).
    pub fn decode_with_compression(payload: Bytes) -> Result<(Self, HeadCompression), HeadError> {
        let mut sent = SentCompression::default();
        let head = decode_request_head(payload, &mut sent)?;
        let encoding = match &sent.encoding[..] {
            [] => None,
            name => Some(CompressionEncoding::from_wire(name).ok_or_else(|| {
                HeadError::Malformed(format!(
                    "unknown encoding {:?}",
                    String::from_utf8_lossy(name)
                ))
            })?),
        };
        let compression = HeadCompression {
            encoding,
            accept: sent.accept,
        };
        Ok((head, compression))
    }
}

/// Splits `/service/method` into its parts. The service may contain dots, the method may not
/// contain `/`, and neither may be empty.
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    // One pass over the bytes: paths are short, and `str` searching is built for long text
    // (this runs on every call).
    let mut slash = None;
    for (i, b) in rest.bytes().enumerate() {
        if b == b'/' {
            if slash.is_some() {
                return None;
            }
            slash = Some(i);
        }
    }
    let (service, method) = rest.split_at(slash?);
    let method = &method[1..];
    if service.is_empty() || method.is_empty() {
        return None;
    }
    Some((service, method))
}

/// Response head payload: the response's initial metadata, and the algorithm of its
/// compressed messages (PROTOCOL.md §15.3).
pub(crate) fn response_head_len(md: &MetadataMap, enc: Option<CompressionEncoding>) -> usize {
    entries_len(1, md) + enc.map_or(0, |e| 2 + e.as_str().len())
}

/// Appends a response head payload.
pub(crate) fn encode_response_head(
    md: &MetadataMap,
    enc: Option<CompressionEncoding>,
    dst: &mut BytesMut,
) {
    put_entries(1, md, dst);
    if let Some(e) = enc {
        put_name(2, e, dst);
    }
}

/// Decodes a response head payload (its metadata; the `encoding` field is left to
/// [`ClientRecv`](super::ClientRecv)).
pub fn decode_response_head(payload: Bytes) -> Result<MetadataMap, HeadError> {
    decode_response_head_full(payload).map(|(md, _)| md)
}

/// Decodes a response head payload: its metadata and the algorithm of the response's
/// compressed messages (PROTOCOL.md §15.3), for a gateway that carries it as gRPC's
/// `grpc-encoding`. An algorithm this build does not know is an error.
pub fn decode_response_head_with(
    payload: Bytes,
) -> Result<(MetadataMap, Option<CompressionEncoding>), HeadError> {
    let (md, name) = decode_response_head_full(payload)?;
    if name.is_empty() {
        return Ok((md, None));
    }
    match CompressionEncoding::from_name(&name) {
        Some(e) => Ok((md, Some(e))),
        None => Err(HeadError::Malformed(format!("unknown encoding {name:?}"))),
    }
}

/// Decodes a response head payload: its metadata and its `encoding` name (empty for none
/// or `identity`).
pub(crate) fn decode_response_head_full(
    payload: Bytes,
) -> Result<(MetadataMap, String), HeadError> {
    let mut pb = ResponseHeadPb::decode(payload)?;
    if pb.encoding == IDENTITY {
        pb.encoding.clear();
    }
    Ok((take_entries(pb.metadata)?, pb.encoding))
}

/// Encoded length of a trailers payload for `status`.
pub(crate) fn trailers_len(code: Code, message: &str, details: &Bytes, md: &MetadataMap) -> usize {
    let mut n = 0;
    if code != Code::Ok {
        n += encoding::uint32::encoded_len(1, &(code as u32));
    }
    if !message.is_empty() {
        n += encoding::key_len(2)
            + encoding::encoded_len_varint(message.len() as u64)
            + message.len();
    }
    if !details.is_empty() {
        n += encoding::bytes::encoded_len(3, details);
    }
    n + entries_len(4, md)
}

/// Appends a trailers payload.
pub(crate) fn encode_trailers(
    code: Code,
    message: &str,
    details: &Bytes,
    md: &MetadataMap,
    dst: &mut BytesMut,
) {
    if code != Code::Ok {
        encoding::uint32::encode(1, &(code as u32), dst);
    }
    if !message.is_empty() {
        encoding::encode_key(2, WireType::LengthDelimited, dst);
        encoding::encode_varint(message.len() as u64, dst);
        dst.extend_from_slice(message.as_bytes());
    }
    if !details.is_empty() {
        encoding::bytes::encode(3, details, dst);
    }
    put_entries(4, md, dst);
}

/// Decodes a trailers payload into the call's final status (code `Ok` on success).
pub fn decode_trailers(payload: Bytes) -> Result<Status, HeadError> {
    let pb = TrailersPb::decode(payload)?;
    Ok(Status::from_parts(
        Code::from_u32(pb.code),
        pb.message,
        pb.details,
        take_entries(pb.metadata)?,
    ))
}

/// Decodes a trailers payload as a call's outcome: the trailing metadata of a successful
/// call, or its error status. (A success needs no `Status`, hence no allocation for it.)
pub fn decode_outcome(payload: Bytes) -> Result<Result<MetadataMap, Status>, HeadError> {
    let pb = TrailersPb::decode(payload)?;
    let md = take_entries(pb.metadata)?;
    Ok(match Code::from_u32(pb.code) {
        Code::Ok => Ok(md),
        code => Err(Status::from_parts(code, pb.message, pb.details, md)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md() -> MetadataMap {
        let mut m = MetadataMap::new();
        m.append("a", "1").unwrap();
        m.append("a", "2").unwrap();
        m.insert_bin("b-bin", vec![0u8, 255]).unwrap();
        m
    }

    #[test]
    #[cfg(all(feature = "gzip", feature = "zstd"))]
    fn gateway_decoders_keep_the_compression_fields() {
        let gzip = CompressionEncoding::Gzip;
        let zstd = CompressionEncoding::Zstd;
        let sent = HeadCompression {
            encoding: Some(gzip),
            accept: EncodingSet::empty().with(zstd),
        };
        let mut buf = BytesMut::new();
        encode_request_head("/a.B/C", None, 0, &md(), sent, &mut buf);
        let (head, got) = RequestHead::decode_with_compression(buf.freeze()).unwrap();
        assert_eq!((head.path.as_str(), head.metadata), ("/a.B/C", md()));
        assert_eq!(got, sent);

        let mut buf = BytesMut::new();
        encode_response_head(&md(), Some(zstd), &mut buf);
        assert_eq!(
            decode_response_head_with(buf.freeze()).unwrap(),
            (md(), Some(zstd))
        );
        let mut buf = BytesMut::new();
        encode_response_head(&md(), None, &mut buf);
        assert_eq!(
            decode_response_head_with(buf.freeze()).unwrap(),
            (md(), None)
        );
        // `br` is unknown: its messages could not be read.
        let unknown = ResponseHeadPb {
            metadata: Vec::new(),
            encoding: "br".into(),
        };
        assert!(decode_response_head_with(unknown.encode_to_vec().into()).is_err());
    }

    #[test]
    fn request_head_round_trip_and_matches_prost() {
        let head = RequestHead {
            path: "/pkg.Svc/Do".into(),
            timeout: Some(Duration::from_nanos(1500)),
            flags: flags::IDEMPOTENT,
            metadata: md(),
        };
        let mut buf = BytesMut::new();
        head.encode(&mut buf);
        assert_eq!(buf.len(), head.encoded_len());
        let pb = RequestHeadPb {
            path: head.path.clone(),
            timeout_micros: Some(2),
            flags: 1,
            metadata: md()
                .raw()
                .iter()
                .map(|(k, v)| EntryPb {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            encoding: Bytes::new(),
            accept: EncodingSet::empty(),
        };
        assert_eq!(&buf[..], &pb.encode_to_vec()[..]);
        let back = RequestHead::decode(buf.freeze()).unwrap();
        assert_eq!(back.timeout, Some(Duration::from_micros(2)));
        assert_eq!(back.metadata, head.metadata);
    }

    #[test]
    fn timeouts_round_up_to_whole_microseconds() {
        let cases = [
            (Duration::ZERO, 0),
            (Duration::from_nanos(1), 1),
            (Duration::from_nanos(1000), 1),
            (Duration::from_nanos(1001), 2),
            (Duration::new(1, 1), 1_000_001),
            (
                Duration::from_secs(u64::MAX / 1_000_000),
                u64::MAX / 1_000_000 * 1_000_000,
            ),
            (Duration::new(u64::MAX / 1_000_000, 999_999_999), u64::MAX),
            (Duration::MAX, u64::MAX),
        ];
        for (d, us) in cases {
            assert_eq!(micros(d), us, "{d:?}");
        }
    }

    #[test]
    fn bad_paths_are_rejected() {
        for p in ["", "x", "/", "//", "/svc/", "//m", "/a/b/c", "svc/m"] {
            let mut buf = BytesMut::new();
            RequestHead {
                path: p.into(),
                timeout: None,
                flags: 0,
                metadata: MetadataMap::new(),
            }
            .encode(&mut buf);
            assert!(RequestHead::decode(buf.freeze()).is_err(), "{p:?}");
        }
        assert_eq!(split_path("/a.b.C/M"), Some(("a.b.C", "M")));
        assert_eq!(split_path("/ü.S/é"), Some(("ü.S", "é")));
    }

    #[test]
    fn trailers_round_trip() {
        let details = Bytes::from_static(b"\x08\x01");
        let msg = "ünïcødé \t\n message";
        let mut buf = BytesMut::new();
        encode_trailers(Code::Aborted, msg, &details, &md(), &mut buf);
        assert_eq!(buf.len(), trailers_len(Code::Aborted, msg, &details, &md()));
        let s = decode_trailers(buf.freeze()).unwrap();
        assert_eq!(s.code(), Code::Aborted);
        assert_eq!(s.message(), msg);
        assert_eq!(s.details(), &details);
        assert_eq!(s.metadata(), &md());
        // An empty payload is a plain OK.
        assert_eq!(decode_trailers(Bytes::new()).unwrap().code(), Code::Ok);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [
            &b"\xff"[..],
            b"\x0a\xff\xff\xff\xff\x0f",
            b"\x22\x05\x0a\x03\xff\xfe\xfd",
        ] {
            let _ = RequestHead::decode(Bytes::copy_from_slice(junk)).unwrap_err();
            let _ = decode_trailers(Bytes::copy_from_slice(junk));
            let _ = decode_response_head(Bytes::copy_from_slice(junk));
        }
    }

    #[test]
    fn compression_fields_match_prost() {
        let all = EncodingSet::all();
        for &e in CompressionEncoding::ALL {
            let c = HeadCompression {
                encoding: Some(e),
                accept: all,
            };
            let mut buf = BytesMut::new();
            encode_request_head("/a.B/C", None, 0, &MetadataMap::new(), c, &mut buf);
            assert_eq!(
                buf.len(),
                request_head_len("/a.B/C", None, 0, &MetadataMap::new(), c)
            );
            let pb = RequestHeadPb {
                path: "/a.B/C".into(),
                encoding: e.as_str().as_bytes().to_vec().into(),
                accept: all,
                ..Default::default()
            };
            assert_eq!(&buf[..], &pb.encode_to_vec()[..]);
            let mut back = SentCompression::default();
            decode_request_head(buf.freeze(), &mut back).unwrap();
            assert_eq!(
                (&back.encoding[..], back.accept),
                (e.as_str().as_bytes(), all)
            );

            let mut buf = BytesMut::new();
            encode_response_head(&md(), Some(e), &mut buf);
            assert_eq!(buf.len(), response_head_len(&md(), Some(e)));
            let (m, name) = decode_response_head_full(buf.freeze()).unwrap();
            assert_eq!((m, name.as_str()), (md(), e.as_str()));
        }
        // Off: not a byte more than before.
        let off = HeadCompression::default();
        assert_eq!(
            request_head_len("/a.B/C", None, 0, &MetadataMap::new(), off),
            8
        );
    }

    /// The bytes of PROTOCOL.md §15.5.
    #[cfg(all(feature = "gzip", feature = "zstd"))]
    #[test]
    fn spec_example_bytes() {
        let c = HeadCompression {
            encoding: Some(CompressionEncoding::Gzip),
            accept: EncodingSet::all(),
        };
        let mut buf = BytesMut::new();
        let path = "/helloworld.Greeter/SayHello";
        crate::wire::encode::request_head_parts(path, None, 0, &MetadataMap::new(), c, &mut buf);
        let mut want = vec![0x01, 0, 0, 0, 0, 0x30, 0x0a, 0x1c];
        want.extend_from_slice(path.as_bytes());
        want.extend_from_slice(b"\x2a\x04gzip\x32\x04gzip\x32\x04zstd");
        assert_eq!(&buf[..], &want[..]);

        let mut buf = BytesMut::new();
        let zstd = Some(CompressionEncoding::Zstd);
        crate::wire::encode::response_head_with(&MetadataMap::new(), zstd, &mut buf);
        assert_eq!(&buf[..], b"\x01\x00\x00\x00\x00\x06\x12\x04zstd");
    }

    #[test]
    fn accept_names_long_short_unknown_and_truncated() {
        use prost::encoding as pb;
        let mut buf = BytesMut::new();
        pb::string::encode(1, &"/a.B/C".to_string(), &mut buf);
        pb::string::encode(6, &"x".repeat(200), &mut buf);
        pb::string::encode(6, &"br".to_string(), &mut buf);
        for &e in CompressionEncoding::ALL {
            pb::string::encode(6, &e.as_str().to_string(), &mut buf);
        }
        let mut sent = SentCompression::default();
        decode_request_head(buf.clone().freeze(), &mut sent).unwrap();
        assert_eq!(sent.accept, EncodingSet::all());
        // A name cut short by the end of the payload is malformed, not read past the end.
        buf.extend_from_slice(b"\x32\x04zs");
        assert!(matches!(
            decode_request_head(buf.freeze(), &mut sent),
            Err(HeadError::Malformed(_))
        ));
    }
}
