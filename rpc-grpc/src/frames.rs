//! Byte translation between qrpc frames (PROTOCOL.md §4) and gRPC's length-prefixed messages,
//! and the pipe that carries a call's translated output to hyper as an HTTP body.
//!
//! Messages are never buffered whole: a gRPC prefix becomes a qrpc `MESSAGE` header (and back)
//! and the payload bytes pass through as they come, so the receiving side's own frame decoder
//! checks each message's declared length against its limit before anything is held.

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use http::HeaderMap;
use rpc_core::wire::frame::{kind, FRAME_HEADER_LEN};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tokio_util::sync::DropGuard;

/// Largest header block (qrpc `HEADERS` / `TRAILERS` payload) accepted from the local side.
const MAX_BLOCK: usize = 1 << 20;

/// gRPC's message prefix: compressed flag and a big-endian u32 length.
const GRPC_PREFIX_LEN: usize = 5;

/// Messages that arrive whole go out without a copy (a qrpc `MESSAGE` frame header ends with
/// the gRPC prefix, so the frame minus its first byte is the gRPC message) when they are at
/// least this long, or have no message next to them. Smaller neighbours are copied into one
/// buffer: one body chunk (one HTTP/2 `DATA` frame) for a batch costs less than a chunk
/// each.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// What a qrpc frame sequence says, in gRPC terms.
#[derive(Debug)]
pub(crate) enum QEvent {
    /// A `HEADERS` payload.
    Head(Bytes),
    /// gRPC message bytes (prefixes and payloads).
    Data(Bytes),
    /// A `TRAILERS` payload.
    Trailers(Bytes),
}

enum QState {
    Header,
    Message(u64),
    Block(u8, usize, BytesMut),
    Skip(u64),
}

/// Reads the qrpc frames the local side writes; messages come out gRPC-framed.
pub(crate) struct QrpcReader {
    header: [u8; FRAME_HEADER_LEN],
    have: usize,
    state: QState,
}

impl QrpcReader {
    pub(crate) fn new() -> Self {
        QrpcReader {
            header: [0; FRAME_HEADER_LEN],
            have: 0,
            state: QState::Header,
        }
    }

    /// Whether a message has started and not ended: a status cannot follow it yet.
    pub(crate) fn in_message(&self) -> bool {
        self.have > 0 || matches!(self.state, QState::Message(_))
    }

    /// The type and payload length of a frame that starts `data`, lies whole in it and can
    /// go on as a slice of it: a header block, or a message that is large, or alone (no
    /// message copied before it, `alone`, and none after it).
    fn whole_frame(&self, data: &[u8], alone: bool) -> Option<(u8, usize)> {
        if self.have != 0 || !matches!(self.state, QState::Header) {
            return None;
        }
        let [ty, _, a, b, c, d] = *data.first_chunk::<FRAME_HEADER_LEN>()?;
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        let rest = data.get(FRAME_HEADER_LEN + len..)?;
        let slice = match ty {
            kind::MESSAGE => {
                len >= ZERO_COPY_MIN || (alone && rest.first() != Some(&kind::MESSAGE))
            }
            kind::HEADERS | kind::TRAILERS => len <= MAX_BLOCK,
            _ => false,
        };
        slice.then_some((ty, len))
    }

    /// Consumes `data`, appending what it says to `out`.
    pub(crate) fn push(&mut self, mut data: Bytes, out: &mut Vec<QEvent>) -> Result<(), String> {
        let mut acc = BytesMut::new();
        let flush = |acc: &mut BytesMut, out: &mut Vec<QEvent>| {
            if !acc.is_empty() {
                out.push(QEvent::Data(acc.split().freeze()));
            }
        };
        while !data.is_empty() {
            if let Some((ty, len)) = self.whole_frame(&data, acc.is_empty()) {
                flush(&mut acc, out);
                let end = FRAME_HEADER_LEN + len;
                out.push(match ty {
                    kind::MESSAGE => QEvent::Data(data.slice(1..end)),
                    kind::HEADERS => QEvent::Head(data.slice(FRAME_HEADER_LEN..end)),
                    _ => QEvent::Trailers(data.slice(FRAME_HEADER_LEN..end)),
                });
                data = data.slice(end..);
                continue;
            }
            match &mut self.state {
                QState::Header => {
                    let n = (FRAME_HEADER_LEN - self.have).min(data.len());
                    self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
                    self.have += n;
                    data = data.slice(n..);
                    if self.have < FRAME_HEADER_LEN {
                        continue;
                    }
                    self.have = 0;
                    let [ty, flags, a, b, c, d] = self.header;
                    let len = u32::from_be_bytes([a, b, c, d]);
                    self.state = match ty {
                        kind::MESSAGE => {
                            // Room for every message left in the chunk at once: growing by
                            // doubling would copy what was gathered at every step.
                            acc.reserve(GRPC_PREFIX_LEN + data.len());
                            acc.put_u8(flags);
                            acc.put_u32(len);
                            QState::Message(u64::from(len))
                        }
                        kind::HEADERS | kind::TRAILERS => {
                            let len = len as usize;
                            if len > MAX_BLOCK {
                                return Err(format!("header block of {len} bytes"));
                            }
                            QState::Block(ty, len, BytesMut::with_capacity(len))
                        }
                        _ => QState::Skip(u64::from(len)),
                    };
                }
                QState::Message(left) => {
                    let n = (*left).min(data.len() as u64) as usize;
                    acc.extend_from_slice(&data[..n]);
                    data = data.slice(n..);
                    *left -= n as u64;
                }
                QState::Block(_, left, buf) => {
                    let n = (*left).min(data.len());
                    buf.extend_from_slice(&data[..n]);
                    data = data.slice(n..);
                    *left -= n;
                }
                QState::Skip(left) => {
                    let n = (*left).min(data.len() as u64) as usize;
                    data = data.slice(n..);
                    *left -= n as u64;
                }
            }
            // A finished frame.
            match &mut self.state {
                QState::Message(0) | QState::Skip(0) => self.state = QState::Header,
                QState::Block(ty, 0, buf) => {
                    flush(&mut acc, out);
                    let payload = std::mem::take(buf).freeze();
                    out.push(if *ty == kind::HEADERS {
                        QEvent::Head(payload)
                    } else {
                        QEvent::Trailers(payload)
                    });
                    self.state = QState::Header;
                }
                _ => {}
            }
        }
        // A block of length 0 completes with its header.
        if let QState::Block(ty, 0, _) = self.state {
            flush(&mut acc, out);
            out.push(if ty == kind::HEADERS {
                QEvent::Head(Bytes::new())
            } else {
                QEvent::Trailers(Bytes::new())
            });
            self.state = QState::Header;
        }
        if let QState::Message(0) = self.state {
            self.state = QState::Header;
        }
        flush(&mut acc, out);
        Ok(())
    }
}

/// Reads gRPC length-prefixed messages; they come out as qrpc `MESSAGE` frames.
#[derive(Default)]
pub(crate) struct GrpcReader {
    prefix: [u8; GRPC_PREFIX_LEN],
    have: usize,
    left: u64,
}

impl GrpcReader {
    /// Whether a message has started and not ended.
    pub(crate) fn in_message(&self) -> bool {
        self.have > 0 || self.left > 0
    }

    /// Consumes `data`; payload bytes pass through without copying.
    pub(crate) fn push(&mut self, mut data: Bytes, out: &mut VecDeque<Bytes>) {
        while !data.is_empty() {
            if self.left > 0 {
                let n = self.left.min(data.len() as u64) as usize;
                out.push_back(data.split_to(n));
                self.left -= n as u64;
                continue;
            }
            let n = (GRPC_PREFIX_LEN - self.have).min(data.len());
            self.prefix[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = data.slice(n..);
            if self.have == GRPC_PREFIX_LEN {
                self.have = 0;
                let [flags, a, b, c, d] = self.prefix;
                let mut header = BytesMut::with_capacity(FRAME_HEADER_LEN);
                header.put_u8(kind::MESSAGE);
                header.put_u8(flags);
                header.put_slice(&[a, b, c, d]);
                out.push_back(header.freeze());
                self.left = u64::from(u32::from_be_bytes([a, b, c, d]));
            }
        }
    }

    /// At the end of the body: a prefix cut short goes on as a qrpc frame header cut short,
    /// so that the receiver reports the truncation.
    pub(crate) fn finish(&mut self, out: &mut VecDeque<Bytes>) {
        if self.have > 0 {
            let mut cut = vec![kind::MESSAGE];
            cut.extend_from_slice(&self.prefix[..self.have]);
            out.push_back(Bytes::from(cut));
            self.have = 0;
        }
    }
}

/// What a pipe carries to its body.
pub(crate) enum Item {
    Data(Bytes),
    Trailers(HeaderMap),
    /// Ends the body with an error: hyper resets the HTTP/2 stream with this reason.
    Reset(h2::Reason),
}

/// Bytes queued in a pipe beyond which its writer waits.
const PIPE_LIMIT: usize = 256 * 1024;

struct Budget {
    queued: AtomicUsize,
    waker: AtomicWaker,
}

/// The writing end of a body: unbounded, so ending it never waits, with a byte budget for
/// flow control (the writer waits while more than [`PIPE_LIMIT`] bytes are queued).
pub(crate) struct PipeTx {
    tx: mpsc::UnboundedSender<Item>,
    budget: Arc<Budget>,
}

impl PipeTx {
    /// Ready when the body has room (or is gone: sending then fails).
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.budget.queued.load(Ordering::Acquire) < PIPE_LIMIT || self.tx.is_closed() {
            return Poll::Ready(());
        }
        self.budget.waker.register(cx.waker());
        if self.budget.queued.load(Ordering::Acquire) < PIPE_LIMIT {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Queues `item`; false once the body is gone.
    pub(crate) fn send(&self, item: Item) -> bool {
        if let Item::Data(b) = &item {
            self.budget.queued.fetch_add(b.len(), Ordering::AcqRel);
        }
        self.tx.send(item).is_ok()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// How a body writes trailers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// HTTP trailers (gRPC over HTTP/2).
    Http,
    /// A gRPC-Web trailers frame in the body (flag 0x80).
    Web,
    /// gRPC-Web, the whole body base64 (`application/grpc-web-text`).
    WebText,
}

/// An HTTP body fed by a [`PipeTx`], or made whole at once; or empty, for a trailers-only
/// response.
pub(crate) struct PipeBody {
    /// Items known when the body was made (a whole response), sent first.
    ready: VecDeque<Item>,
    rx: Option<mpsc::UnboundedReceiver<Item>>,
    budget: Arc<Budget>,
    framing: Framing,
    /// Signals the call's end to its writer when the body is dropped (done, or abandoned by
    /// hyper because the peer reset the stream).
    _guard: Option<DropGuard>,
}

/// A pipe: its writing end and its body.
pub(crate) fn pipe(framing: Framing) -> (PipeTx, PipeBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    let budget = Arc::new(Budget {
        queued: AtomicUsize::new(0),
        waker: AtomicWaker::new(),
    });
    (
        PipeTx {
            tx,
            budget: budget.clone(),
        },
        PipeBody {
            ready: VecDeque::new(),
            rx: Some(rx),
            budget,
            framing,
            _guard: None,
        },
    )
}

impl PipeBody {
    /// A body with nothing in it (a trailers-only response, an HTTP error).
    pub(crate) fn empty() -> Self {
        Self::whole(VecDeque::new(), Framing::Http)
    }

    /// A body of exactly `items`: a response the call wrote whole (no channel needed).
    pub(crate) fn whole(items: VecDeque<Item>, framing: Framing) -> Self {
        PipeBody {
            ready: items,
            rx: None,
            budget: Arc::new(Budget {
                queued: AtomicUsize::new(0),
                waker: AtomicWaker::new(),
            }),
            framing,
            _guard: None,
        }
    }

    /// A body holding exactly `bytes`.
    pub(crate) fn full(bytes: Bytes, framing: Framing) -> Self {
        Self::whole(VecDeque::from([Item::Data(bytes)]), framing)
    }

    pub(crate) fn set_guard(&mut self, guard: DropGuard) {
        self._guard = Some(guard);
    }
}

/// A gRPC-Web trailers frame: flag 0x80, length, then `name: value\r\n` lines.
pub(crate) fn web_trailers_frame(trailers: &HeaderMap) -> Bytes {
    let mut block = Vec::new();
    for (name, value) in trailers {
        block.extend_from_slice(name.as_str().as_bytes());
        block.extend_from_slice(b": ");
        block.extend_from_slice(value.as_bytes());
        block.extend_from_slice(b"\r\n");
    }
    let mut frame = BytesMut::with_capacity(GRPC_PREFIX_LEN + block.len());
    frame.put_u8(0x80);
    frame.put_u32(block.len() as u32);
    frame.put_slice(&block);
    frame.freeze()
}

impl http_body::Body for PipeBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, h2::Error>>> {
        use base64::Engine;
        let this = &mut *self;
        let item = match this.ready.pop_front() {
            Some(item) => item,
            None => {
                let Some(rx) = this.rx.as_mut() else {
                    return Poll::Ready(None);
                };
                match rx.poll_recv(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => {
                        this.rx = None;
                        return Poll::Ready(None);
                    }
                    Poll::Ready(Some(item)) => {
                        if let Item::Data(b) = &item {
                            this.budget.queued.fetch_sub(b.len(), Ordering::AcqRel);
                            this.budget.waker.wake();
                        }
                        item
                    }
                }
            }
        };
        let data = match item {
            Item::Data(b) => b,
            Item::Trailers(t) => {
                this.ready.clear();
                this.rx = None;
                match this.framing {
                    Framing::Http => return Poll::Ready(Some(Ok(http_body::Frame::trailers(t)))),
                    Framing::Web | Framing::WebText => web_trailers_frame(&t),
                }
            }
            Item::Reset(reason) => {
                this.ready.clear();
                this.rx = None;
                return Poll::Ready(Some(Err(h2::Error::from(reason))));
            }
        };
        let data = match this.framing {
            Framing::WebText => {
                Bytes::from(base64::engine::general_purpose::STANDARD.encode(&data))
            }
            _ => data,
        };
        Poll::Ready(Some(Ok(http_body::Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_empty() && self.rx.is_none()
    }
}

/// HTTP/2 frame header length (RFC 9113 §4.1).
const H2_HEADER_LEN: usize = 9;
/// HTTP/2 `GOAWAY` frame type (RFC 9113 §6.8).
const H2_GOAWAY: u8 = 0x7;

/// Spots `GOAWAY` frames in the bytes an HTTP/2 server sends, which hyper's client does not
/// report: a server's side of a connection is frames from its first byte (its preface is a
/// `SETTINGS` frame), so reading each 9-byte header and skipping its payload finds them.
/// Nothing is buffered but a header cut short.
#[derive(Debug, Default)]
pub(crate) struct GoawayScanner {
    header: [u8; H2_HEADER_LEN],
    have: usize,
    skip: usize,
}

impl GoawayScanner {
    /// Consumes bytes as read; true if a `GOAWAY` frame started among them.
    pub(crate) fn push(&mut self, mut data: &[u8]) -> bool {
        let mut goaway = false;
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            let n = (H2_HEADER_LEN - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == H2_HEADER_LEN {
                self.have = 0;
                let [a, b, c, ty, ..] = self.header;
                self.skip = u32::from_be_bytes([0, a, b, c]) as usize;
                goaway |= ty == H2_GOAWAY;
            }
        }
        goaway
    }
}

/// Decodes a `grpc-web-text` body: base64 in groups of four characters, padded chunks
/// concatenated.
#[derive(Default)]
pub(crate) struct Base64Stream {
    rest: Vec<u8>,
}

impl Base64Stream {
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<Bytes, base64::DecodeError> {
        use base64::Engine;
        self.rest
            .extend(data.iter().copied().filter(|b| !b.is_ascii_whitespace()));
        let whole = self.rest.len() / 4 * 4;
        let mut out = Vec::with_capacity(whole / 4 * 3);
        // Padded groups may sit anywhere: decode group by group where there is padding.
        for group in self.rest[..whole].chunks(4) {
            base64::engine::general_purpose::STANDARD.decode_vec(group, &mut out)?;
        }
        self.rest.drain(..whole);
        Ok(Bytes::from(out))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qrpc_frames_become_grpc_bytes_split_anywhere() {
        let mut frames = BytesMut::new();
        frames.put_slice(&[1, 0, 0, 0, 0, 2, 0xaa, 0xbb]); // HEADERS, 2 bytes
        frames.put_slice(&[0, 0, 0, 0, 0, 3, 1, 2, 3]); // MESSAGE, 3 bytes
        frames.put_slice(&[9, 0, 0, 0, 0, 1, 7]); // unknown type: skipped
        frames.put_slice(&[0, 0, 0, 0, 0, 0]); // empty MESSAGE
        frames.put_slice(&[2, 0, 0, 0, 0, 0]); // TRAILERS, empty
        let frames = frames.freeze();
        for split in 0..frames.len() {
            let mut r = QrpcReader::new();
            let mut out = Vec::new();
            r.push(frames.slice(..split), &mut out).unwrap();
            r.push(frames.slice(split..), &mut out).unwrap();
            let mut data = Vec::new();
            let mut blocks = Vec::new();
            for ev in out {
                match ev {
                    QEvent::Data(b) => data.extend_from_slice(&b),
                    QEvent::Head(b) => blocks.push(("h", b)),
                    QEvent::Trailers(b) => blocks.push(("t", b)),
                }
            }
            assert_eq!(
                data,
                [0, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 0],
                "split {split}"
            );
            assert_eq!(blocks.len(), 2);
            assert_eq!(blocks[0], ("h", Bytes::from_static(&[0xaa, 0xbb])));
            assert_eq!(blocks[1], ("t", Bytes::new()));
            assert!(!r.in_message());
        }
    }

    #[test]
    fn large_whole_messages_pass_without_a_copy() {
        let payload = vec![7u8; ZERO_COPY_MIN];
        let mut frames = BytesMut::new();
        frames.put_slice(&[0, 0, 0, 0, 0, 1, 9]); // a small MESSAGE
        frames.put_slice(&[0, 1]); // a large one, COMPRESSED
        frames.put_u32(payload.len() as u32);
        frames.put_slice(&payload);
        frames.put_slice(&[2, 0, 0, 0, 0, 0]); // TRAILERS
        let frames = frames.freeze();
        let mut want = vec![0, 0, 0, 0, 1, 9, 1];
        want.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        want.extend_from_slice(&payload);
        for split in [0, 3, 7, 20, frames.len() - 6, frames.len()] {
            let mut r = QrpcReader::new();
            let mut out = Vec::new();
            r.push(frames.slice(..split), &mut out).unwrap();
            r.push(frames.slice(split..), &mut out).unwrap();
            let mut data = Vec::new();
            let mut shared = false;
            for ev in &out {
                if let QEvent::Data(b) = ev {
                    // The large message's bytes are the input's own when it came whole.
                    shared |=
                        b.len() > ZERO_COPY_MIN && frames.as_ptr_range().contains(&b.as_ptr());
                    data.extend_from_slice(b);
                }
            }
            assert_eq!(data, want, "split {split}");
            assert_eq!(
                shared,
                split <= 7 || split >= frames.len() - 6,
                "split {split}"
            );
            assert!(matches!(out.last(), Some(QEvent::Trailers(_))));
        }
    }

    #[test]
    fn a_lone_message_and_header_blocks_are_slices() {
        // A unary response as the server writes it: HEADERS, MESSAGE, TRAILERS at once.
        let frames = Bytes::from_static(&[
            1, 0, 0, 0, 0, 1, 0xaa, 0, 0, 0, 0, 0, 2, 5, 6, 2, 0, 0, 0, 0, 1, 0xbb,
        ]);
        let mut r = QrpcReader::new();
        let mut out = Vec::new();
        r.push(frames.clone(), &mut out).unwrap();
        let within = |b: &Bytes| frames.as_ptr_range().contains(&b.as_ptr());
        match &out[..] {
            [QEvent::Head(h), QEvent::Data(m), QEvent::Trailers(t)] => {
                assert_eq!(
                    (&h[..], &m[..], &t[..]),
                    (&[0xaa][..], &[0, 0, 0, 0, 2, 5, 6][..], &[0xbb][..])
                );
                assert!(within(h) && within(m) && within(t));
            }
            other => panic!("{other:?}"),
        }
        assert!(!r.in_message());
    }

    #[test]
    fn grpc_messages_become_qrpc_frames() {
        let body = Bytes::from_static(&[0, 0, 0, 0, 2, 9, 9, 1, 0, 0, 0, 0]);
        for split in 0..body.len() {
            let mut r = GrpcReader::default();
            let mut out = VecDeque::new();
            r.push(body.slice(..split), &mut out);
            r.push(body.slice(split..), &mut out);
            r.finish(&mut out);
            let all: Vec<u8> = out.iter().flat_map(|b| b.to_vec()).collect();
            assert_eq!(all, [0, 0, 0, 0, 0, 2, 9, 9, 0, 1, 0, 0, 0, 0]);
        }
        let mut r = GrpcReader::default();
        let mut out = VecDeque::new();
        r.push(Bytes::from_static(&[0, 0, 1]), &mut out);
        assert!(r.in_message());
        r.finish(&mut out);
        assert_eq!(out.pop_back().unwrap().as_ref(), &[0, 0, 0, 1]);
    }

    #[test]
    fn goaway_frames_are_spotted_split_anywhere() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&[0, 0, 6, 4, 0, 0, 0, 0, 0]); // SETTINGS, 6 bytes
        bytes.extend_from_slice(&[0, 3, 0, 0, 0, 0x07]); // its payload (holds a 0x07)
        bytes.extend_from_slice(&[0, 0, 2, 0, 1, 0, 0, 0, 1, 7, 7]); // DATA: 7s in payload
        let before = bytes.len();
        bytes.extend_from_slice(&[0, 0, 8, 7, 0, 0, 0, 0, 0]); // GOAWAY
        bytes.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        for split in 0..bytes.len() {
            let mut s = GoawayScanner::default();
            let first = s.push(&bytes[..split]);
            let second = s.push(&bytes[split..]);
            // Seen once, in the part where its header ends.
            assert_eq!(first, split >= before + H2_HEADER_LEN, "split {split}");
            assert_eq!(second, split < before + H2_HEADER_LEN, "split {split}");
        }
        let mut s = GoawayScanner::default();
        assert!(!s.push(&bytes[..before]));
    }

    #[test]
    fn base64_chunks_decode() {
        let mut d = Base64Stream::default();
        let mut got = Vec::new();
        for part in ["AAAA", "AA", "E=", "AAAB", "Ag=="] {
            got.extend_from_slice(&d.push(part.as_bytes()).unwrap());
        }
        assert!(d.is_empty());
        assert_eq!(got, [0, 0, 0, 0, 1, 0, 0, 1, 2]);
    }
}
