//! Frame codec (PROTOCOL.md §4).
//!
//! Every frame is a 6-byte header followed by its payload:
//!
//! ```text
//! +--------+--------+--------------------------------+
//! | type   | flags  | length (u32, big-endian)       |  payload (length bytes)
//! +--------+--------+--------------------------------+
//! ```
//!
//! The decoder is push-based: feed it the chunks read from a stream, pull frames out. The
//! declared length is checked against the limit for the frame type as soon as the header is
//! complete, before any byte of the payload is buffered, and partial payloads grow only as
//! bytes really arrive, so a lying length never makes us allocate what the peer claims.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Size of the frame header in bytes.
pub const FRAME_HEADER_LEN: usize = 6;

/// Frame type codes (PROTOCOL.md §4.1).
pub mod kind {
    /// One application message.
    pub const MESSAGE: u8 = 0x00;
    /// Call head: request head from the client, response head from the server.
    pub const HEADERS: u8 = 0x01;
    /// Final status and trailing metadata (server only).
    pub const TRAILERS: u8 = 0x02;
}

/// `MESSAGE` flag: the payload is compressed (PROTOCOL.md §4.2). No compression is negotiated
/// in protocol version 1, so a receiver rejects a message that carries it.
pub const FLAG_COMPRESSED: u8 = 0x01;

/// The kind of a decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A `MESSAGE` frame.
    Message,
    /// A `HEADERS` frame.
    Headers,
    /// A `TRAILERS` frame.
    Trailers,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame is.
    pub kind: FrameKind,
    /// The flags byte as sent.
    pub flags: u8,
    /// The payload, sliced out of the received chunks without copying when it fits in one.
    pub payload: Bytes,
}

/// Limits applied while decoding, per frame type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest `MESSAGE` payload accepted.
    pub max_message: usize,
    /// Largest `HEADERS` or `TRAILERS` payload accepted.
    pub max_headers: usize,
}

/// Errors found while decoding frames. Each is a protocol violation by the peer, or a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A message frame declares more bytes than the receive limit.
    #[error("message of {len} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// Declared length.
        len: u64,
        /// Configured limit.
        limit: usize,
    },
    /// A headers or trailers frame declares more bytes than the metadata limit.
    #[error("header block of {len} bytes exceeds the limit of {limit} bytes")]
    HeadersTooLarge {
        /// Declared length.
        len: u64,
        /// Configured limit.
        limit: usize,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({missing} bytes missing)")]
    Truncated {
        /// How many bytes of the frame were still expected (at least).
        missing: usize,
    },
}

/// Smallest reservation of [`FrameDecoder::read_buf`].
const MIN_READ_RESERVE: usize = 1024;
/// Largest reservation made for a frame before its bytes arrive.
const MAX_READ_RESERVE: usize = 256 * 1024;

/// Push-based frame decoder.
#[derive(Debug)]
pub struct FrameDecoder {
    limits: FrameLimits,
    /// Bytes of the frame in progress that did not arrive in a single chunk.
    partial: BytesMut,
    /// The unconsumed rest of the last chunk pushed.
    pending: Bytes,
    /// Bytes of an unknown frame type still to be discarded.
    skip: usize,
}

impl FrameDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: FrameLimits) -> Self {
        Self {
            limits,
            partial: BytesMut::new(),
            pending: Bytes::new(),
            skip: 0,
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> FrameLimits {
        self.limits
    }

    /// Feeds received bytes. Call [`FrameDecoder::next_frame`] until it returns `Ok(None)`
    /// before pushing again.
    pub fn push(&mut self, chunk: Bytes) {
        if self.pending.is_empty() {
            self.pending = chunk;
        } else {
            // Only reached when the caller pushes without draining; keep the bytes in order.
            self.partial.extend_from_slice(&self.pending);
            self.pending = chunk;
        }
    }

    /// The buffer to read more stream bytes into (appending), with room reserved.
    ///
    /// An alternative to [`FrameDecoder::push`] for transports that copy into a buffer: bytes
    /// land where frames are sliced from, so nothing is copied twice. Room is reserved for the
    /// frame in progress, capped so a lying length does not allocate up front. Not used by
    /// rpc-core's transports (which push received chunks without a copy); kept for the fuzz
    /// harness that checks both ways of feeding agree.
    #[doc(hidden)]
    pub fn read_buf(&mut self) -> &mut BytesMut {
        self.stash_pending();
        self.reserve_for_frame(MIN_READ_RESERVE);
        &mut self.partial
    }

    /// Reserves room in `partial` for the rest of the frame in progress (at least `min`),
    /// capped so a lying length does not allocate up front.
    fn reserve_for_frame(&mut self, min: usize) {
        let want = match self.peek_header() {
            Some((_, _, len)) if self.skip == 0 => (FRAME_HEADER_LEN + len as usize)
                .saturating_sub(self.partial.len() + self.pending.len()),
            _ => 0,
        };
        // At least `min` (bytes about to be copied in), which may itself exceed the cap.
        self.partial.reserve(want.min(MAX_READ_RESERVE).max(min));
    }

    /// Whether no bytes are buffered (the decoder is between frames).
    pub fn is_idle(&self) -> bool {
        self.partial.is_empty() && self.pending.is_empty() && self.skip == 0
    }

    /// Checks that the stream may end here: between frames.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.is_idle() {
            return Ok(());
        }
        let have = self.partial.len() + self.pending.len();
        let missing = if self.skip > 0 {
            self.skip.saturating_sub(self.pending.len())
        } else {
            match self.peek_header() {
                Some((_, _, len)) => (FRAME_HEADER_LEN + len as usize).saturating_sub(have),
                None => FRAME_HEADER_LEN - have,
            }
        };
        Err(FrameError::Truncated {
            missing: missing.max(1),
        })
    }

    /// Returns the next complete frame, `Ok(None)` if more bytes are needed.
    ///
    /// Frames of unknown type are discarded (PROTOCOL.md §4.1), still bounded by the limits.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.partial.len());
                self.partial.advance(n);
                self.skip -= n;
                let n = self.skip.min(self.pending.len());
                self.pending.advance(n);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(None);
                }
            }
            if self.partial.is_empty() {
                // Fast path: the whole frame sits in the current chunk; slice it out.
                let Some((ty, flags, len)) = header_of(&self.pending) else {
                    self.stash_pending();
                    return Ok(None);
                };
                let len = self.check(ty, len)?;
                if self.pending.len() - FRAME_HEADER_LEN >= len {
                    self.pending.advance(FRAME_HEADER_LEN);
                    let payload = self.pending.split_to(len);
                    match frame_kind(ty) {
                        Some(kind) => {
                            return Ok(Some(Frame {
                                kind,
                                flags,
                                payload,
                            }))
                        }
                        None => continue,
                    }
                }
                if frame_kind(ty).is_none() {
                    self.pending.advance(FRAME_HEADER_LEN);
                    self.skip = len;
                    continue;
                }
                self.stash_pending();
                return Ok(None);
            }
            // Only the header straddled chunks (it ended one, its payload is whole in the
            // next, as when the HTTP/2 bridge writes headers apart): slice, no copy.
            if let Some(frame) = self.after_split_header()? {
                return Ok(Some(frame));
            }
            // Slow path: the frame straddles chunks; gather it in `partial`.
            self.stash_pending();
            let Some((ty, flags, len)) = header_of(&self.partial) else {
                return Ok(None);
            };
            let len = self.check(ty, len)?;
            if frame_kind(ty).is_none() {
                let have = self.partial.len() - FRAME_HEADER_LEN;
                if have >= len {
                    self.partial.advance(FRAME_HEADER_LEN + len);
                    self.pending = self.partial.split().freeze();
                } else {
                    self.partial.clear();
                    self.skip = len - have;
                }
                continue;
            }
            if self.partial.len() - FRAME_HEADER_LEN < len {
                return Ok(None);
            }
            self.partial.advance(FRAME_HEADER_LEN);
            let payload = self.partial.split_to(len).freeze();
            // Whatever followed the frame becomes pending again, so the fast path resumes.
            self.pending = self.partial.split().freeze();
            let kind = frame_kind(ty).expect("checked above");
            return Ok(Some(Frame {
                kind,
                flags,
                payload,
            }));
        }
    }

    /// The frame whose header is (partly) in `partial` and whose payload lies whole in
    /// `pending`, sliced out of `pending`; `None` otherwise.
    fn after_split_header(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.partial.len() > FRAME_HEADER_LEN {
            return Ok(None);
        }
        let Some((ty, flags, len)) = self.peek_header() else {
            return Ok(None);
        };
        let len = self.check(ty, len)?;
        let from_pending = FRAME_HEADER_LEN - self.partial.len();
        let Some(kind) = frame_kind(ty) else {
            return Ok(None);
        };
        if self.pending.len() < from_pending + len {
            return Ok(None);
        }
        self.partial.clear();
        self.pending.advance(from_pending);
        let payload = self.pending.split_to(len);
        Ok(Some(Frame {
            kind,
            flags,
            payload,
        }))
    }

    fn stash_pending(&mut self) {
        if !self.pending.is_empty() {
            if self.partial.len() + self.pending.len() <= FRAME_HEADER_LEN {
                // A header alone: its payload may come whole in the next chunk, sliced
                // without a copy (`after_split_header`), so no room for it yet.
                self.partial.extend_from_slice(&self.pending);
                self.pending = Bytes::new();
                return;
            }
            // Room for the whole frame at once, not a doubling per chunk.
            self.reserve_for_frame(self.pending.len());
            self.partial.extend_from_slice(&self.pending);
            self.pending = Bytes::new();
        }
    }

    fn peek_header(&self) -> Option<(u8, u8, u32)> {
        if self.partial.is_empty() {
            header_of(&self.pending)
        } else if self.partial.len() >= FRAME_HEADER_LEN {
            header_of(&self.partial)
        } else {
            let mut head = [0u8; FRAME_HEADER_LEN];
            let have = self.partial.len();
            head[..have].copy_from_slice(&self.partial);
            let rest = (FRAME_HEADER_LEN - have).min(self.pending.len());
            head[have..have + rest].copy_from_slice(&self.pending[..rest]);
            (have + rest == FRAME_HEADER_LEN).then(|| header_of(&head[..]))?
        }
    }

    fn check(&self, ty: u8, len: u32) -> Result<usize, FrameError> {
        let len64 = u64::from(len);
        let (limit, err) = match ty {
            kind::HEADERS | kind::TRAILERS => (self.limits.max_headers, false),
            // Unknown frames are held to the message limit: they are skipped, never buffered,
            // but an absurd length is still a sign of a broken peer.
            _ => (self.limits.max_message, true),
        };
        if len64 > limit as u64 {
            return Err(if err {
                FrameError::MessageTooLarge { len: len64, limit }
            } else {
                FrameError::HeadersTooLarge { len: len64, limit }
            });
        }
        Ok(len as usize)
    }
}

fn header_of(buf: &[u8]) -> Option<(u8, u8, u32)> {
    if buf.len() < FRAME_HEADER_LEN {
        return None;
    }
    let len = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]);
    Some((buf[0], buf[1], len))
}

fn frame_kind(ty: u8) -> Option<FrameKind> {
    match ty {
        kind::MESSAGE => Some(FrameKind::Message),
        kind::HEADERS => Some(FrameKind::Headers),
        kind::TRAILERS => Some(FrameKind::Trailers),
        _ => None,
    }
}

/// Writes a frame header.
///
/// # Panics
/// If `len` does not fit the 32-bit length field; callers check sizes first.
pub(crate) fn put_frame_header(dst: &mut impl BufMut, ty: u8, flags: u8, len: usize) {
    let len = u32::try_from(len).expect("frame length checked by caller");
    dst.put_u8(ty);
    dst.put_u8(flags);
    dst.put_u32(len);
}

/// Appends a whole frame (header and payload) to `dst`.
pub(crate) fn put_frame(dst: &mut BytesMut, ty: u8, flags: u8, payload: &[u8]) {
    dst.reserve(FRAME_HEADER_LEN + payload.len());
    put_frame_header(dst, ty, flags, payload.len());
    dst.extend_from_slice(payload);
}

/// Reserves a frame header in `dst`, lets `body` append the payload, then patches the length.
///
/// This is how messages are encoded in place without an intermediate buffer. Returns the
/// payload length.
pub(crate) fn put_frame_with<E>(
    dst: &mut BytesMut,
    ty: u8,
    flags: u8,
    body: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<usize, E> {
    let start = dst.len();
    put_frame_header(dst, ty, flags, 0);
    body(dst)?;
    let len = dst.len() - start - FRAME_HEADER_LEN;
    let len32 = u32::try_from(len).unwrap_or(u32::MAX);
    dst[start + 2..start + FRAME_HEADER_LEN].copy_from_slice(&len32.to_be_bytes());
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: FrameLimits = FrameLimits {
        max_message: 1024,
        max_headers: 64,
    };

    fn frame(ty: u8, flags: u8, payload: &[u8]) -> Bytes {
        let mut b = BytesMut::new();
        put_frame(&mut b, ty, flags, payload);
        b.freeze()
    }

    fn drain(dec: &mut FrameDecoder) -> Result<Vec<Frame>, FrameError> {
        let mut out = Vec::new();
        while let Some(f) = dec.next_frame()? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn single_chunk_round_trip_is_zero_copy() {
        let wire = frame(kind::MESSAGE, 0, b"hello");
        let mut dec = FrameDecoder::new(LIMITS);
        dec.push(wire.clone());
        let f = dec.next_frame().unwrap().unwrap();
        assert_eq!(f.kind, FrameKind::Message);
        assert_eq!(&f.payload[..], b"hello");
        // The payload points into the pushed chunk.
        assert_eq!(f.payload.as_ptr(), wire[FRAME_HEADER_LEN..].as_ptr());
        assert!(dec.is_idle());
        dec.finish().unwrap();
    }

    #[test]
    fn a_payload_whole_after_a_split_header_is_not_copied() {
        let wire = frame(kind::MESSAGE, 3, b"hello, world");
        for cut in 1..=FRAME_HEADER_LEN {
            let mut dec = FrameDecoder::new(LIMITS);
            dec.push(wire.slice(..cut));
            assert_eq!(dec.next_frame().unwrap(), None, "cut at {cut}");
            // The rest of the header, the payload and the next frame's first bytes.
            let mut rest = BytesMut::from(&wire[cut..]);
            rest.extend_from_slice(&frame(kind::TRAILERS, 0, b"t")[..2]);
            let rest = rest.freeze();
            dec.push(rest.clone());
            let f = dec.next_frame().unwrap().unwrap();
            assert_eq!(
                (f.kind, f.flags, &f.payload[..]),
                (FrameKind::Message, 3, &b"hello, world"[..])
            );
            assert_eq!(
                f.payload.as_ptr(),
                rest[FRAME_HEADER_LEN - cut..].as_ptr(),
                "cut at {cut}: copied"
            );
            // The bytes after it are still there, in order.
            assert_eq!(dec.next_frame().unwrap(), None);
            dec.push(frame(kind::TRAILERS, 0, b"t").slice(2..));
            let t = dec.next_frame().unwrap().unwrap();
            assert_eq!((t.kind, &t.payload[..]), (FrameKind::Trailers, &b"t"[..]));
            assert!(dec.is_idle());
        }
    }

    #[test]
    fn empty_payload() {
        let mut dec = FrameDecoder::new(LIMITS);
        dec.push(frame(kind::MESSAGE, 0, b""));
        let f = dec.next_frame().unwrap().unwrap();
        assert!(f.payload.is_empty());
        assert_eq!(dec.next_frame().unwrap(), None);
    }

    #[test]
    fn byte_by_byte() {
        let mut wire = BytesMut::new();
        put_frame(&mut wire, kind::HEADERS, 0, b"head");
        put_frame(&mut wire, kind::MESSAGE, 1, b"body");
        put_frame(&mut wire, kind::TRAILERS, 0, b"");
        let mut dec = FrameDecoder::new(LIMITS);
        let mut got = Vec::new();
        for b in wire.iter() {
            dec.push(Bytes::copy_from_slice(&[*b]));
            got.extend(drain(&mut dec).unwrap());
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].kind, FrameKind::Headers);
        assert_eq!(&got[1].payload[..], b"body");
        assert_eq!(got[1].flags, 1);
        assert_eq!(got[2].kind, FrameKind::Trailers);
        dec.finish().unwrap();
    }

    #[test]
    fn every_truncation_is_reported() {
        let mut wire = BytesMut::new();
        put_frame(&mut wire, kind::HEADERS, 0, b"head");
        put_frame(&mut wire, kind::MESSAGE, 0, b"0123456789");
        let whole = wire.freeze();
        let boundaries = [0, FRAME_HEADER_LEN + 4, whole.len()];
        for cut in 0..=whole.len() {
            let mut dec = FrameDecoder::new(LIMITS);
            dec.push(whole.slice(..cut));
            drain(&mut dec).unwrap();
            let res = dec.finish();
            if boundaries.contains(&cut) {
                assert!(res.is_ok(), "cut at {cut}");
            } else {
                assert!(
                    matches!(res, Err(FrameError::Truncated { .. })),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn lying_length_is_rejected_before_payload() {
        let mut dec = FrameDecoder::new(LIMITS);
        let mut head = BytesMut::new();
        put_frame_header(&mut head, kind::MESSAGE, 0, 1025);
        dec.push(head.freeze());
        assert_eq!(
            dec.next_frame(),
            Err(FrameError::MessageTooLarge {
                len: 1025,
                limit: 1024
            })
        );
        let mut dec = FrameDecoder::new(LIMITS);
        let mut head = BytesMut::new();
        put_frame_header(&mut head, kind::TRAILERS, 0, u32::MAX as usize);
        dec.push(head.freeze());
        assert!(matches!(
            dec.next_frame(),
            Err(FrameError::HeadersTooLarge { .. })
        ));
    }

    #[test]
    fn large_claim_reserves_at_most_the_cap() {
        let mut dec = FrameDecoder::new(FrameLimits {
            max_message: 1 << 30,
            max_headers: 64,
        });
        let mut head = BytesMut::new();
        put_frame_header(&mut head, kind::MESSAGE, 0, 1 << 30);
        head.put_u8(7);
        dec.push(head.freeze());
        assert_eq!(dec.next_frame().unwrap(), None);
        // Room for the frame is reserved once it straddles chunks, but capped: a lying length
        // cannot make the decoder reserve its claim.
        assert!(dec.partial.capacity() <= MAX_READ_RESERVE);
    }

    #[test]
    fn chunks_larger_than_the_reservation_cap_are_fine() {
        let mut dec = FrameDecoder::new(FrameLimits {
            max_message: 1 << 22,
            max_headers: 64,
        });
        let payload = vec![7u8; 1 << 20];
        let mut wire = BytesMut::new();
        put_frame(&mut wire, kind::MESSAGE, 0, &payload);
        let wire = wire.freeze();
        // 300 KiB, then the rest: the first chunk is stashed whole.
        let cut = 300 * 1024;
        dec.push(wire.slice(..cut));
        assert_eq!(dec.next_frame().unwrap(), None);
        dec.push(wire.slice(cut..));
        let frame = dec.next_frame().unwrap().unwrap();
        assert_eq!(frame.payload.len(), payload.len());
        assert!(dec.is_idle());
    }

    #[test]
    fn unknown_frames_are_skipped() {
        let mut wire = BytesMut::new();
        put_frame(&mut wire, 0x7f, 0, b"ignored payload");
        put_frame(&mut wire, kind::MESSAGE, 0, b"m");
        let whole = wire.freeze();
        for split in 0..whole.len() {
            let mut dec = FrameDecoder::new(LIMITS);
            dec.push(whole.slice(..split));
            let mut got = drain(&mut dec).unwrap();
            dec.push(whole.slice(split..));
            got.extend(drain(&mut dec).unwrap());
            assert_eq!(got.len(), 1, "split {split}");
            assert_eq!(&got[0].payload[..], b"m");
            dec.finish().unwrap();
        }
    }

    #[test]
    fn read_buf_mode_matches_push_mode() {
        let mut wire = BytesMut::new();
        put_frame(&mut wire, 0x7f, 0, b"skip me please");
        put_frame(&mut wire, kind::MESSAGE, 0, &[9u8; 20_000]);
        put_frame(&mut wire, kind::TRAILERS, 0, b"t");
        for step in [1usize, 5, 7, 4096, 100_000] {
            let mut dec = FrameDecoder::new(FrameLimits {
                max_message: 1 << 20,
                max_headers: 64,
            });
            let mut got = Vec::new();
            for piece in wire.chunks(step) {
                dec.read_buf().extend_from_slice(piece);
                got.extend(drain(&mut dec).unwrap());
            }
            assert_eq!(got.len(), 2, "step {step}");
            assert_eq!(got[0].payload.len(), 20_000);
            assert_eq!(got[1].kind, FrameKind::Trailers);
            dec.finish().unwrap();
        }
    }

    #[test]
    fn put_frame_with_patches_length() {
        let mut b = BytesMut::new();
        let n = put_frame_with::<()>(&mut b, kind::MESSAGE, 0, |d| {
            d.extend_from_slice(b"abc");
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(&b[..], &[0, 0, 0, 0, 0, 3, b'a', b'b', b'c']);
    }
}
