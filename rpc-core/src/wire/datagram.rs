//! Datagrams bound to calls (PROTOCOL.md §18), sans-IO: the prefix that names a datagram's
//! call, and the bounded per-call inbox.
//!
//! A QUIC `DATAGRAM` frame's payload starts with the *quarter stream id* of the call's stream
//! (its stream id divided by 4, a QUIC variable-length integer), as HTTP/3 datagrams do
//! (RFC 9297 §2.1): calls travel on client-initiated bidirectional streams, whose ids are
//! multiples of 4, so the quarter id loses nothing and keeps the prefix short (1 byte for the
//! first 64 calls of a connection, 2 bytes up to 16,384).

use bytes::{Buf, BufMut, Bytes};
use quinn_proto::coding::Codec;
use quinn_proto::VarInt;
use std::collections::VecDeque;

/// Why a received datagram's prefix is unusable (PROTOCOL.md §18.2: the datagram is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// The datagram ends inside (or before) its quarter stream id.
    #[error("datagram shorter than its call prefix")]
    Truncated,
    /// The quarter stream id is over 2^60 - 1: four times it is no QUIC stream id.
    #[error("datagram prefix names no stream (quarter stream id over 2^60 - 1)")]
    NoSuchStream,
}

/// The largest stream id whose quarter id fits a varint and that is itself a varint.
const MAX_STREAM_ID: u64 = (1 << 62) - 4;

/// The bytes of the prefix naming the call on `stream_id`; `None` for a stream that cannot
/// carry a call's datagrams (not client-initiated bidirectional).
pub fn prefix_len(stream_id: u64) -> Option<usize> {
    let quarter = quarter(stream_id)?;
    Some(match quarter {
        0..=63 => 1,
        64..=16_383 => 2,
        16_384..=1_073_741_823 => 4,
        _ => 8,
    })
}

fn quarter(stream_id: u64) -> Option<u64> {
    (stream_id.is_multiple_of(4) && stream_id <= MAX_STREAM_ID).then_some(stream_id / 4)
}

/// Appends the prefix naming the call on `stream_id` (see [`prefix_len`]); `false`, with
/// nothing written, for a stream that cannot carry datagrams.
pub fn encode_prefix(stream_id: u64, dst: &mut impl BufMut) -> bool {
    let Some(q) = quarter(stream_id).and_then(|q| VarInt::from_u64(q).ok()) else {
        return false;
    };
    q.encode(dst);
    true
}

/// Splits a received datagram into the stream id of its call and its payload (which may be
/// empty). Never panics, whatever the bytes.
pub fn decode(mut datagram: Bytes) -> Result<(u64, Bytes), PrefixError> {
    let q = VarInt::decode(&mut datagram).map_err(|_| PrefixError::Truncated)?;
    // Stream ids are below 2^62 (RFC 9000 §2.1), so quarter ids are below 2^60 (as in
    // RFC 9297 §2.1).
    let stream_id = q
        .into_inner()
        .checked_mul(4)
        .filter(|&id| id <= MAX_STREAM_ID)
        .ok_or(PrefixError::NoSuchStream)?;
    let payload = datagram.copy_to_bytes(datagram.remaining());
    Ok((stream_id, payload))
}

/// A call's received datagrams, waiting for the application: at most `capacity`; when full,
/// the oldest is dropped (the newest is the freshest, PROTOCOL.md §18.4).
#[derive(Debug)]
pub struct Inbox {
    queue: VecDeque<Bytes>,
    capacity: usize,
    received: u64,
    dropped: u64,
}

impl Inbox {
    /// An empty inbox holding at most `capacity` datagrams (at least 1).
    pub fn new(capacity: usize) -> Self {
        Inbox {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            received: 0,
            dropped: 0,
        }
    }

    /// Takes a received payload; returns whether an older one was dropped to make room.
    pub fn push(&mut self, payload: Bytes) -> bool {
        self.received += 1;
        let full = self.queue.len() >= self.capacity;
        if full {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back(payload);
        full
    }

    /// The oldest payload waiting.
    pub fn pop(&mut self) -> Option<Bytes> {
        self.queue.pop_front()
    }

    /// Payloads waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Payloads taken so far (including those dropped since).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Payloads dropped because the inbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn framed(stream_id: u64, payload: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        assert!(encode_prefix(stream_id, &mut buf));
        assert_eq!(buf.len(), prefix_len(stream_id).unwrap());
        buf.extend_from_slice(payload);
        buf.freeze()
    }

    #[test]
    fn round_trips_and_sizes() {
        for (id, len) in [
            (0, 1),
            (252, 1),
            (256, 2),
            (65_532, 2),
            (65_536, 4),
            (MAX_STREAM_ID, 8),
        ] {
            let d = framed(id, b"xy");
            assert_eq!(prefix_len(id), Some(len), "{id}");
            assert_eq!(decode(d), Ok((id, Bytes::from_static(b"xy"))));
        }
        assert_eq!(framed(4, b"")[..], [1]);
        assert_eq!(decode(Bytes::from_static(&[1])), Ok((4, Bytes::new())));
    }

    #[test]
    fn refuses_streams_that_carry_no_call() {
        for id in [1, 2, 3, 5, MAX_STREAM_ID + 4] {
            assert_eq!(prefix_len(id), None);
            assert!(!encode_prefix(id, &mut BytesMut::new()));
        }
    }

    #[test]
    fn quarter_ids_past_the_last_stream_are_refused() {
        // 2^60 - 1 is the last; 2^60 and the largest varint name no stream.
        let last = Bytes::from_static(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode(last).map(|d| d.0), Ok(MAX_STREAM_ID));
        for past in [[0xd0, 0, 0, 0, 0, 0, 0, 0], [0xff; 8]] {
            assert_eq!(
                decode(Bytes::copy_from_slice(&past)),
                Err(PrefixError::NoSuchStream)
            );
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let d = framed(MAX_STREAM_ID, b"");
        for cut in 0..d.len() {
            assert_eq!(decode(d.slice(..cut)), Err(PrefixError::Truncated));
        }
    }

    #[test]
    fn inbox_drops_the_oldest() {
        let mut inbox = Inbox::new(2);
        assert!(!inbox.push(Bytes::from_static(b"1")));
        assert!(!inbox.push(Bytes::from_static(b"2")));
        assert!(inbox.push(Bytes::from_static(b"3")));
        assert_eq!((inbox.received(), inbox.dropped(), inbox.len()), (3, 1, 2));
        assert_eq!(inbox.pop().as_deref(), Some(&b"2"[..]));
        assert_eq!(inbox.pop().as_deref(), Some(&b"3"[..]));
        assert!(inbox.is_empty());
    }
}
