//! Fuzz harnesses for every decoder of peer bytes in `rpc_core::wire`, and for prost decoding
//! of the interop messages.
//!
//! Each harness takes arbitrary bytes, drives one decoder with them, and panics if an
//! invariant breaks; a decoder that panics on its own is a bug too. The cargo-fuzz targets in
//! `fuzz/` call these functions, and `tests/fuzz_regressions.rs` replays the kept inputs of
//! `fuzz/regressions/<target>/` through them, so a crash found once stays fixed.
//!
//! Invariants checked:
//!
//! * **Chunking does not matter.** The frame decoder and both call state machines produce
//!   the same frames/events (and the same error) whether the stream arrives in one piece or
//!   cut at arbitrary points, through [`FrameDecoder::push`] or [`FrameDecoder::read_buf`].
//! * **Limits hold.** No decoded frame exceeds the limit for its kind.
//! * **Round trips.** What a head decoder accepts, re-encodes to bytes that decode to the
//!   same value.
//! * **Order.** A server sees the request head first and `End` last; a client sees nothing
//!   after the trailers; after an error, nothing more is asked of the machine.

use bytes::{Bytes, BytesMut};
use rpc_core::codec::{Codec, Decoder, Encoder, ProstCodec};
use rpc_core::wire::{
    self, head, ClientEvent, ClientRecv, Frame, FrameDecoder, FrameKind, FrameLimits, RequestHead,
    ServerEvent, ServerRecv,
};

/// The fuzz targets, by name (the names of `fuzz/fuzz_targets/*.rs`).
pub const TARGETS: [&str; 9] = [
    "frame_decoder",
    "request_head",
    "trailers",
    "response_head",
    "server_recv",
    "client_recv",
    "simple_request",
    "decompress",
    "datagram_prefix",
];

/// Runs the harness of `target` on `data`. Panics if `target` is unknown or an invariant
/// breaks.
pub fn run(target: &str, data: &[u8]) {
    accepts(target, data);
}

/// Runs the harness of `target` on `data` like [`run`], and says whether the decoder accepted
/// the input: the head or message decoded, or (streaming targets) the whole stream decoded up
/// to FIN without an error. The kept inputs of `fuzz/regressions/` are named after it
/// (`ok-*`, `bad-*`), so one that stops reaching the check it was made for fails the replay.
pub fn accepts(target: &str, data: &[u8]) -> bool {
    match target {
        "frame_decoder" => check_frame_decoder(data),
        "request_head" => check_request_head(data),
        "trailers" => check_trailers(data),
        "response_head" => check_response_head(data),
        "server_recv" => check_server_recv(data),
        "client_recv" => check_client_recv(data),
        "simple_request" => check_simple_request(data),
        "decompress" => check_decompress(data),
        "datagram_prefix" => check_datagram_prefix(data),
        _ => panic!("unknown fuzz target {target:?}"),
    }
}

/// How a harness cuts its input: the first bytes choose the limits, the feeding mode and the
/// chunk sizes; the rest is the stream.
struct Plan<'a> {
    limits: FrameLimits,
    read_buf: bool,
    cuts: &'a [u8],
    stream: &'a [u8],
}

impl<'a> Plan<'a> {
    /// Layout: `[mode, max_message, max_headers, ncuts, cuts..., stream...]`.
    fn new(data: &'a [u8]) -> Self {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let mode = byte(0);
        // Small limits so the fuzzer reaches them; bit 7 selects the defaults.
        let limits = if mode & 0x80 != 0 {
            FrameLimits {
                max_message: rpc_core::DEFAULT_MAX_MESSAGE_SIZE,
                max_headers: rpc_core::DEFAULT_MAX_HEADER_LIST_SIZE,
            }
        } else {
            FrameLimits {
                max_message: usize::from(byte(1)) * 4,
                max_headers: usize::from(byte(2)) * 4,
            }
        };
        let ncuts = usize::from(byte(3) % 16);
        let rest = data.get(4..).unwrap_or_default();
        let (cuts, stream) = rest.split_at(ncuts.min(rest.len()));
        Plan {
            limits,
            read_buf: mode & 1 != 0,
            cuts,
            stream,
        }
    }

    /// The stream in chunks: sizes from `cuts` (cycled), each at least 1 byte.
    fn chunks(&self) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut rest = self.stream;
        let mut i = 0;
        while !rest.is_empty() {
            let n = match self.cuts.get(i % self.cuts.len().max(1)) {
                Some(&c) if !self.cuts.is_empty() => usize::from(c).max(1),
                _ => rest.len(),
            };
            let (chunk, tail) = rest.split_at(n.min(rest.len()));
            out.push(chunk);
            rest = tail;
            i += 1;
        }
        out
    }
}

/// Feeds one chunk either way.
fn feed_decoder(dec: &mut FrameDecoder, chunk: &[u8], read_buf: bool) {
    if read_buf {
        dec.read_buf().extend_from_slice(chunk);
    } else {
        dec.push(Bytes::copy_from_slice(chunk));
    }
}

/// Decodes `chunks` into frames; stops at the first error. Returns the frames, and the error
/// (as text) or the result of `finish`.
fn decode_frames(
    limits: FrameLimits,
    chunks: &[&[u8]],
    read_buf: bool,
) -> (Vec<Frame>, Result<(), String>) {
    let mut dec = FrameDecoder::new(limits);
    let mut frames = Vec::new();
    for chunk in chunks {
        feed_decoder(&mut dec, chunk, read_buf);
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => {
                    let limit = match f.kind {
                        FrameKind::Message => limits.max_message,
                        FrameKind::Headers | FrameKind::Trailers => limits.max_headers,
                    };
                    assert!(
                        f.payload.len() <= limit,
                        "{:?} frame of {} bytes passed the limit of {limit}",
                        f.kind,
                        f.payload.len()
                    );
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => return (frames, Err(e.to_string())),
            }
        }
    }
    let end = dec.finish().map_err(|e| e.to_string());
    if end.is_ok() {
        assert!(
            dec.is_idle(),
            "finish() accepted a decoder that is not idle"
        );
    }
    (frames, end)
}

/// [`FrameDecoder`]: chunked (push or read_buf) against whole, same frames and outcome.
pub fn frame_decoder(data: &[u8]) {
    check_frame_decoder(data);
}

fn check_frame_decoder(data: &[u8]) -> bool {
    let plan = Plan::new(data);
    let chunked = decode_frames(plan.limits, &plan.chunks(), plan.read_buf);
    let whole = decode_frames(plan.limits, &[plan.stream], false);
    assert_eq!(
        chunked.0, whole.0,
        "chunking changed the frames (read_buf: {})",
        plan.read_buf
    );
    // Errors may name a different count of missing bytes for a truncated stream; whether
    // there was an error may not differ.
    assert_eq!(
        chunked.1.is_ok(),
        whole.1.is_ok(),
        "chunking changed the outcome: {:?} vs {:?}",
        chunked.1,
        whole.1
    );
    whole.1.is_ok()
}

/// [`RequestHead::decode`]: no panic; what it accepts round-trips.
pub fn request_head(data: &[u8]) {
    check_request_head(data);
}

fn check_request_head(data: &[u8]) -> bool {
    let Ok(h) = RequestHead::decode(Bytes::copy_from_slice(data)) else {
        return false;
    };
    assert!(
        head::split_path(&h.path).is_some(),
        "accepted path {:?}",
        h.path
    );
    let mut buf = BytesMut::new();
    h.encode(&mut buf);
    assert_eq!(
        buf.len(),
        h.encoded_len(),
        "encoded_len disagrees with encode"
    );
    let back = RequestHead::decode(buf.freeze()).expect("re-encoded head decodes");
    assert_eq!(back, h, "request head changed in a round trip");
    true
}

/// [`head::decode_trailers`]: no panic; what it accepts round-trips.
pub fn trailers(data: &[u8]) {
    check_trailers(data);
}

fn check_trailers(data: &[u8]) -> bool {
    let Ok(s) = head::decode_trailers(Bytes::copy_from_slice(data)) else {
        return false;
    };
    let back = head::decode_trailers(reframed(|buf| wire::encode::trailers(&s, buf)))
        .expect("re-encoded trailers decode");
    assert_eq!(back.code(), s.code());
    assert_eq!(back.message(), s.message());
    assert_eq!(back.details(), s.details());
    assert_eq!(back.metadata(), s.metadata());
    true
}

/// [`head::decode_response_head`]: no panic; what it accepts round-trips.
pub fn response_head(data: &[u8]) {
    check_response_head(data);
}

fn check_response_head(data: &[u8]) -> bool {
    let Ok(md) = head::decode_response_head(Bytes::copy_from_slice(data)) else {
        return false;
    };
    let payload = reframed(|buf| wire::encode::response_head(&md, buf));
    assert_eq!(
        payload.len() + wire::frame::FRAME_HEADER_LEN,
        wire::encode::response_head_len(&md)
    );
    let back = head::decode_response_head(payload).expect("re-encoded head decodes");
    assert_eq!(back, md, "response head changed in a round trip");
    true
}

/// The payload of the one frame `encode` writes, checked against its header's length (the
/// encoder sizes the header before it writes the payload).
fn reframed(encode: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::new();
    encode(&mut buf);
    let payload = buf.split_off(wire::frame::FRAME_HEADER_LEN).freeze();
    let len = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]) as usize;
    assert_eq!(
        len,
        payload.len(),
        "the frame header's length disagrees with its payload"
    );
    payload
}

/// Upper bound on events pulled per chunk: a machine that never says "need more" is a bug.
const MAX_EVENTS_PER_CHUNK: usize = 100_000;

fn server_events(plan: &Plan<'_>, chunks: &[&[u8]]) -> (Vec<ServerEvent>, bool) {
    let mut recv = ServerRecv::new(plan.limits);
    let mut events = Vec::new();
    let n = chunks.len();
    // One extra round with no data: the FIN.
    for i in 0..=n {
        if let Some(chunk) = chunks.get(i) {
            recv.handle_data(Bytes::copy_from_slice(chunk));
        } else {
            recv.handle_fin();
        }
        let mut pulled = 0;
        loop {
            pulled += 1;
            assert!(
                pulled < MAX_EVENTS_PER_CHUNK,
                "ServerRecv never asks for more"
            );
            match recv.poll_event() {
                Ok(Some(ev)) => {
                    match (&ev, events.last()) {
                        (ServerEvent::Head(_), None) => {}
                        (ServerEvent::Head(_), Some(_)) => panic!("second request head"),
                        (_, None) => panic!("{ev:?} before the request head"),
                        (_, Some(ServerEvent::End)) => panic!("{ev:?} after End"),
                        _ => {}
                    }
                    if let ServerEvent::Message(m) = &ev {
                        assert!(m.len() <= plan.limits.max_message);
                    }
                    events.push(ev);
                }
                Ok(None) => break,
                Err(e) => {
                    // Every error maps to a status and a stream code without panicking.
                    let _ = (e.to_status(), e.error_code());
                    return (events, false);
                }
            }
        }
    }
    let ended = matches!(events.last(), Some(ServerEvent::End));
    assert_eq!(
        recv.is_done(),
        ended,
        "is_done disagrees with the End event"
    );
    assert!(ended, "FIN without an error, yet no End event");
    (events, true)
}

/// [`ServerRecv`] fed arbitrary bytes then FIN: order holds, chunking does not matter.
pub fn server_recv(data: &[u8]) {
    check_server_recv(data);
}

fn check_server_recv(data: &[u8]) -> bool {
    let plan = Plan::new(data);
    let chunked = server_events(&plan, &plan.chunks());
    let whole = server_events(&plan, &[plan.stream]);
    assert_eq!(chunked, whole, "chunking changed the server's events");
    whole.1
}

fn client_events(plan: &Plan<'_>, chunks: &[&[u8]]) -> (Vec<String>, Option<String>) {
    let mut recv = ClientRecv::new(plan.limits);
    let mut events = Vec::new();
    let mut done = false;
    for i in 0..=chunks.len() {
        if let Some(chunk) = chunks.get(i) {
            recv.handle_data(Bytes::copy_from_slice(chunk));
        } else {
            recv.handle_fin();
        }
        let mut pulled = 0;
        loop {
            pulled += 1;
            assert!(
                pulled < MAX_EVENTS_PER_CHUNK,
                "ClientRecv never asks for more"
            );
            match recv.poll_event() {
                Ok(Some(ev)) => {
                    assert!(!done, "{ev:?} after the trailers");
                    match &ev {
                        ClientEvent::Headers(_) => {
                            assert!(events.is_empty(), "response head after other frames")
                        }
                        ClientEvent::Message(m) => assert!(m.len() <= plan.limits.max_message),
                        ClientEvent::Trailers(_) => done = true,
                    }
                    // Status has no PartialEq: compare events through their Debug form.
                    events.push(format!("{ev:?}"));
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = (e.to_status(), e.error_code());
                    return (events, Some(e.to_string()));
                }
            }
        }
    }
    assert_eq!(recv.is_done(), done, "is_done disagrees with the trailers");
    (events, None)
}

/// [`ClientRecv`] fed arbitrary bytes then FIN: order holds, chunking does not matter.
pub fn client_recv(data: &[u8]) {
    check_client_recv(data);
}

fn check_client_recv(data: &[u8]) -> bool {
    let plan = Plan::new(data);
    let chunked = client_events(&plan, &plan.chunks());
    let whole = client_events(&plan, &[plan.stream]);
    assert_eq!(chunked.0, whole.0, "chunking changed the client's events");
    assert_eq!(
        chunked.1.is_some(),
        whole.1.is_some(),
        "chunking changed the outcome: {:?} vs {:?}",
        chunked.1,
        whole.1
    );
    whole.1.is_none()
}

/// `SimpleRequest` through [`ProstCodec`]'s decoder: a status or a message, never a panic;
/// what decodes re-encodes to something that decodes to the same message.
pub fn simple_request(data: &[u8]) {
    check_simple_request(data);
}

fn check_simple_request(data: &[u8]) -> bool {
    type Req = crate::pb::SimpleRequest;
    let mut codec = ProstCodec::<Req, Req>::new();
    let Ok(msg) = codec.decoder().decode(Bytes::copy_from_slice(data)) else {
        return false;
    };
    let mut buf = BytesMut::new();
    codec
        .encoder()
        .encode(&msg, &mut buf)
        .expect("a decoded message encodes");
    let back = codec
        .decoder()
        .decode(buf.freeze())
        .expect("a re-encoded message decodes");
    assert_eq!(back, msg, "SimpleRequest changed in a round trip");
    true
}

/// The decompressor path (PROTOCOL.md §15.4): [`compression::decompress`] on arbitrary bytes,
/// directly and as a COMPRESSED message through [`ServerRecv`]. Layout: `[mode, limit, rest]`:
/// mode bit 0 picks gzip or zstd, bit 1 compresses `rest` first (round trip), bit 7 the
/// default 4 MiB limit instead of `limit * 64` bytes.
///
/// [`compression::decompress`]: rpc_core::compression::decompress
pub fn decompress(data: &[u8]) {
    check_decompress(data);
}

fn check_decompress(data: &[u8]) -> bool {
    use rpc_core::compression::{self, CompressionEncoding, DecompressError};
    let algorithms = CompressionEncoding::ALL;
    if algorithms.is_empty() || data.len() < 2 {
        return false;
    }
    let (mode, rest) = (data[0], &data[2..]);
    let encoding = algorithms[usize::from(mode & 1) % algorithms.len()];
    let limit = if mode & 0x80 != 0 {
        rpc_core::DEFAULT_MAX_MESSAGE_SIZE
    } else {
        usize::from(data[1]) * 64
    };
    let payload = if mode & 2 != 0 {
        let mut z = BytesMut::new();
        compression::compress(encoding, rest, &mut z).expect("compressing into memory");
        // What we compress decompresses to itself, within the limit or not at all.
        let back = compression::decompress(encoding, &z, limit);
        if rest.len() <= limit {
            assert_eq!(back.as_deref(), Ok(rest), "round trip");
        } else {
            assert_eq!(back, Err(DecompressError::TooLarge { limit }));
        }
        z.freeze()
    } else {
        Bytes::copy_from_slice(rest)
    };
    let direct = compression::decompress(encoding, &payload, limit);
    if let Ok(out) = &direct {
        assert!(
            out.len() <= limit,
            "{} bytes over a limit of {limit}",
            out.len()
        );
        // A larger limit changes nothing for a message that fits.
        let more = compression::decompress(encoding, &payload, limit.saturating_mul(2) + 1);
        assert_eq!(more.as_ref(), Ok(out));
    }
    // The same payload as a COMPRESSED message of a call: the machine agrees.
    let mut stream = BytesMut::new();
    let mut head = BytesMut::new();
    prost::encoding::string::encode(1, &"/a.B/C".to_string(), &mut head);
    prost::encoding::string::encode(5, &encoding.as_str().to_string(), &mut head);
    stream.extend_from_slice(&[1, 0]);
    stream.extend_from_slice(&(head.len() as u32).to_be_bytes());
    stream.extend_from_slice(&head);
    stream.extend_from_slice(&[0, wire::frame::FLAG_COMPRESSED]);
    stream.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    stream.extend_from_slice(&payload);
    let mut recv = ServerRecv::new(FrameLimits {
        max_message: limit.max(payload.len()),
        max_headers: 1024,
    });
    recv.handle_data(stream.freeze());
    recv.handle_fin();
    assert!(matches!(recv.poll_event(), Ok(Some(ServerEvent::Head(_)))));
    let limit = limit.max(payload.len());
    let via_machine = recv.poll_event();
    match (
        &via_machine,
        compression::decompress(encoding, &payload, limit),
    ) {
        (Ok(Some(ServerEvent::Message(m))), Ok(d)) => assert_eq!(m, &d),
        (Err(e), Err(d)) => {
            let status = e.to_status();
            let want = match d {
                DecompressError::TooLarge { .. } => rpc_core::Code::ResourceExhausted,
                _ => rpc_core::Code::Internal,
            };
            assert_eq!(status.code(), want, "{e}");
        }
        (m, d) => panic!("machine {m:?}, direct {d:?}"),
    }
    direct.is_ok()
}

/// [`wire::datagram::decode`] (PROTOCOL.md §18.1): no panic; what it accepts names a
/// client-initiated bidirectional stream and round-trips through the encoder.
pub fn datagram_prefix(data: &[u8]) {
    check_datagram_prefix(data);
}

fn check_datagram_prefix(data: &[u8]) -> bool {
    use rpc_core::wire::datagram;
    let Ok((stream_id, payload)) = datagram::decode(Bytes::copy_from_slice(data)) else {
        return false;
    };
    assert!(stream_id.is_multiple_of(4), "a call's stream");
    // A varint of 1, 2, 4 or 8 bytes (not necessarily the shortest), then the payload.
    let consumed = data.len() - payload.len();
    assert!(
        matches!(consumed, 1 | 2 | 4 | 8),
        "prefix of {consumed} bytes"
    );
    assert_eq!(&data[consumed..], &payload[..], "the payload is the rest");
    let prefix = datagram::prefix_len(stream_id).expect("a decoded id is encodable");
    assert!(prefix <= consumed, "the encoder writes the shortest form");
    let mut again = BytesMut::new();
    assert!(datagram::encode_prefix(stream_id, &mut again));
    assert_eq!(again.len(), prefix);
    again.extend_from_slice(&payload);
    let back = datagram::decode(again.freeze()).expect("re-encoded datagram decodes");
    assert_eq!(back, (stream_id, payload));
    true
}
