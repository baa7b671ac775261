//! Message compression (PROTOCOL.md §15): gzip and zstd, negotiated per call.
//!
//! The client's request head says which algorithm its messages use and which it accepts;
//! the server answers in its response head with the algorithm of its messages, one the
//! client accepts. Each `MESSAGE` frame then says with its COMPRESSED flag whether its
//! payload is compressed, so messages below a size threshold go out as they are.
//!
//! Both sides configure it on their builders ([`Endpoint`](crate::Endpoint) and
//! [`ServerBuilder`](crate::ServerBuilder)): `send_compressed`, `accept_compressed`,
//! `compression_threshold`; a client call may override the sending side
//! ([`Request::set_send_compressed`](crate::Request::set_send_compressed)). Off by default
//! on the client: a call that compresses nothing costs nothing.
//!
//! The functions here are pure (bytes in, bytes out), so the sans-IO wire machine calls
//! them and fuzzers drive them directly. Decompression writes into a buffer that never
//! grows past the receiver's message limit: a small message that inflates beyond it
//! stops there, with [`DecompressError::TooLarge`], never after inflating in full.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// A message compression algorithm (PROTOCOL.md §15.1), each behind the cargo feature of
/// its name (both on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompressionEncoding {
    /// gzip (RFC 1952), level 6; the name `gzip` on the wire.
    #[cfg(feature = "gzip")]
    Gzip,
    /// Zstandard (RFC 8878), level 3; the name `zstd` on the wire.
    #[cfg(feature = "zstd")]
    Zstd,
}

impl CompressionEncoding {
    /// Every algorithm this build supports.
    pub const ALL: &'static [CompressionEncoding] = &[
        #[cfg(feature = "gzip")]
        CompressionEncoding::Gzip,
        #[cfg(feature = "zstd")]
        CompressionEncoding::Zstd,
    ];

    /// The algorithm's name on the wire (`gzip`, `zstd`), as in gRPC's `grpc-encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            #[cfg(feature = "gzip")]
            CompressionEncoding::Gzip => "gzip",
            #[cfg(feature = "zstd")]
            CompressionEncoding::Zstd => "zstd",
        }
    }

    /// The algorithm of a wire name, if this build supports it. Names are case-sensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.as_str() == name)
    }

    /// [`from_name`](Self::from_name) of a name as received (no UTF-8 check needed: every
    /// known name is ASCII).
    pub(crate) fn from_wire(name: &[u8]) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|e| e.as_str().as_bytes() == name)
    }

    fn bit(self) -> u8 {
        match self {
            #[cfg(feature = "gzip")]
            CompressionEncoding::Gzip => 1,
            #[cfg(feature = "zstd")]
            CompressionEncoding::Zstd => 2,
        }
    }
}

impl fmt::Display for CompressionEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of algorithms: those a side accepts.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EncodingSet(u8);

impl EncodingSet {
    /// No algorithm.
    pub const fn empty() -> Self {
        EncodingSet(0)
    }

    /// Every algorithm this build supports.
    pub fn all() -> Self {
        CompressionEncoding::ALL
            .iter()
            .fold(Self::empty(), |s, &e| s.with(e))
    }

    /// The set with `encoding` added.
    pub fn with(self, encoding: CompressionEncoding) -> Self {
        EncodingSet(self.0 | encoding.bit())
    }

    /// Whether `encoding` is in the set.
    pub fn contains(self, encoding: CompressionEncoding) -> bool {
        self.0 & encoding.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The algorithms in the set, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = CompressionEncoding> {
        CompressionEncoding::ALL
            .iter()
            .copied()
            .filter(move |&e| self.contains(e))
    }
}

impl fmt::Debug for EncodingSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for EncodingSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, e) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(e.as_str())?;
        }
        Ok(())
    }
}

/// Why a compressed message could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// The message inflates beyond the receiver's message limit; decompression stopped there.
    #[error("decompressed message exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The receiver's message limit.
        limit: usize,
    },
    /// The payload is not valid data of its algorithm.
    #[error("corrupt {encoding} data: {reason}")]
    Corrupt {
        /// The algorithm announced.
        encoding: CompressionEncoding,
        /// What the decompressor said.
        reason: String,
    },
}

/// Appends `src` compressed with `encoding` to `dst`.
pub fn compress(
    encoding: CompressionEncoding,
    src: &[u8],
    dst: &mut BytesMut,
) -> std::io::Result<()> {
    let _ = (src, &dst);
    match encoding {
        #[cfg(feature = "gzip")]
        CompressionEncoding::Gzip => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(dst.writer(), flate2::Compression::new(6));
            enc.write_all(src)?;
            enc.finish().map(drop)
        }
        #[cfg(feature = "zstd")]
        CompressionEncoding::Zstd => zstd_compress(src, dst),
    }
}

#[cfg(feature = "zstd")]
fn zstd_compress(src: &[u8], dst: &mut BytesMut) -> std::io::Result<()> {
    use std::cell::RefCell;
    thread_local! {
        // A compression context is ~1 MiB to set up at level 3: one per thread, reused.
        static CCTX: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    }
    CCTX.with(|cctx| {
        let mut cctx = cctx.borrow_mut();
        let cctx = match cctx.as_mut() {
            Some(c) => c,
            None => cctx.insert(zstd::bulk::Compressor::new(3)?),
        };
        let start = dst.len();
        let bound = zstd::zstd_safe::compress_bound(src.len());
        dst.resize(start + bound, 0);
        let n = cctx.compress_to_buffer(src, &mut dst[start..])?;
        dst.truncate(start + n);
        Ok(())
    })
}

/// Decompresses `src`, refusing to produce more than `limit` bytes: the output buffer
/// never grows past `limit + 1` bytes, and decompression stops as soon as it would.
pub fn decompress(
    encoding: CompressionEncoding,
    src: &[u8],
    limit: usize,
) -> Result<Bytes, DecompressError> {
    let _ = (src, limit);
    let corrupt = |e: std::io::Error| DecompressError::Corrupt {
        encoding,
        reason: e.to_string(),
    };
    match encoding {
        #[cfg(feature = "gzip")]
        CompressionEncoding::Gzip => {
            read_bounded(flate2::bufread::MultiGzDecoder::new(src), src.len(), limit)?
                .map_err(corrupt)
        }
        #[cfg(feature = "zstd")]
        CompressionEncoding::Zstd => {
            // A frame that declares its size says at once whether it fits; one that fits
            // (what single-shot compressors send) decodes in one pass into a buffer of
            // exactly that size, which the decoder cannot overrun.
            if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(src) {
                if n > limit as u64 {
                    return Err(DecompressError::TooLarge { limit });
                }
                if let Some(out) = zstd_single_frame(src, n as usize) {
                    return Ok(out);
                }
            }
            let mut dec = zstd::stream::read::Decoder::with_buffer(src).map_err(corrupt)?;
            // The window is the decoder's own buffer: a frame may declare up to 2 GiB. No
            // valid message needs one larger than the limit (but 1 MiB is always allowed,
            // the usual window of streaming compressors at low levels).
            let log = usize::BITS - limit.saturating_sub(1).leading_zeros();
            dec.window_log_max(log.clamp(20, 27)).map_err(corrupt)?;
            read_bounded(dec, src.len(), limit)?.map_err(corrupt)
        }
    }
}

/// Decodes `src` when it is exactly one frame of `size` bytes (declared, and checked against
/// the limit); `None` otherwise, for the streaming path to decide.
#[cfg(feature = "zstd")]
fn zstd_single_frame(src: &[u8], size: usize) -> Option<Bytes> {
    use std::cell::RefCell;
    thread_local! {
        static DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    }
    if zstd::zstd_safe::find_frame_compressed_size(src).ok()? != src.len() {
        return None;
    }
    DCTX.with(|dctx| {
        let mut dctx = dctx.borrow_mut();
        let dctx = match dctx.as_mut() {
            Some(d) => d,
            None => dctx.insert(zstd::bulk::Decompressor::new().ok()?),
        };
        let mut out = Vec::with_capacity(size);
        let n = dctx.decompress_to_buffer(src, &mut out).ok()?;
        (n == size).then(|| Bytes::from(out))
    })
}

/// Reads `r` to its end into a buffer of at most `limit + 1` bytes. The outer error is the
/// limit; the inner one, the decompressor's.
fn read_bounded(
    mut r: impl std::io::Read,
    src_len: usize,
    limit: usize,
) -> Result<std::io::Result<Bytes>, DecompressError> {
    let cap = limit.saturating_add(1);
    // Start at a guess (a few times the input) and double as output really arrives.
    let mut buf = vec![0u8; src_len.saturating_mul(4).clamp(256, 64 * 1024).min(cap)];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() >= cap {
                return Err(DecompressError::TooLarge { limit });
            }
            buf.resize(buf.len().saturating_mul(2).min(cap), 0);
        }
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Ok(Err(e)),
        }
    }
    if filled > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    buf.truncate(filled);
    Ok(Ok(Bytes::from(buf)))
}

/// How one side compresses the messages of a call: the algorithm agreed (none: never) and
/// the size below which a message goes out as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendCompression {
    pub(crate) encoding: Option<CompressionEncoding>,
    pub(crate) threshold: usize,
}

impl SendCompression {
    /// Never compresses.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const OFF: SendCompression = SendCompression {
        encoding: None,
        threshold: 0,
    };

    /// Compresses the `MESSAGE` frame that starts at `buf[start]` (header included) in
    /// place, when it is at least the threshold and compression makes it smaller.
    pub(crate) fn apply(&self, buf: &mut BytesMut, start: usize) -> Result<(), crate::Status> {
        use crate::wire::frame::{FLAG_COMPRESSED, FRAME_HEADER_LEN};
        let Some(encoding) = self.encoding else {
            return Ok(());
        };
        let body = start + FRAME_HEADER_LEN;
        let len = buf.len() - body;
        if len < self.threshold {
            return Ok(());
        }
        let mut out = BytesMut::with_capacity(len / 2 + 64);
        compress(encoding, &buf[body..], &mut out).map_err(|e| {
            crate::Status::internal(format!("failed to compress a message ({encoding}): {e}"))
        })?;
        // Incompressible data (already compressed, random) goes out as it is.
        if out.len() >= len {
            return Ok(());
        }
        buf.truncate(body);
        buf[start + 1] |= FLAG_COMPRESSED;
        buf[start + 2..body].copy_from_slice(&(out.len() as u32).to_be_bytes());
        buf.extend_from_slice(&out);
        Ok(())
    }
}

/// A side's compression settings (its builder's `send_compressed`, `accept_compressed` and
/// `compression_threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompressionConfig {
    /// What this side compresses its messages with (if the peer accepts it).
    pub(crate) send: Option<CompressionEncoding>,
    /// What this side decompresses.
    pub(crate) accept: EncodingSet,
    /// Messages smaller than this are never compressed.
    pub(crate) threshold: usize,
}

/// Default `compression_threshold` of both builders: below 1 KiB compression saves little and
/// costs a compressor's setup.
pub const DEFAULT_COMPRESSION_THRESHOLD: usize = 1024;

impl CompressionConfig {
    /// A client's default: sends and accepts nothing, so its heads carry nothing.
    pub(crate) fn client() -> Self {
        CompressionConfig {
            send: None,
            accept: EncodingSet::empty(),
            threshold: DEFAULT_COMPRESSION_THRESHOLD,
        }
    }

    /// A server's default: compresses nothing, decompresses whatever this build supports
    /// (bounded by its message limit, so it costs nothing unless a client compresses).
    pub(crate) fn server() -> Self {
        CompressionConfig {
            accept: EncodingSet::all(),
            ..Self::client()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len);
        let mut i = 0u32;
        while v.len() < len {
            v.extend_from_slice(format!("{{\"id\":{i},\"name\":\"item {i}\"}},").as_bytes());
            i += 1;
        }
        v.truncate(len);
        v
    }

    #[test]
    fn names_round_trip() {
        for &e in CompressionEncoding::ALL {
            assert_eq!(CompressionEncoding::from_name(e.as_str()), Some(e));
        }
        assert_eq!(CompressionEncoding::from_name("br"), None);
        assert_eq!(CompressionEncoding::from_name("GZIP"), None);
        assert_eq!(
            EncodingSet::all().iter().count(),
            CompressionEncoding::ALL.len()
        );
    }

    #[test]
    fn round_trip_and_limits() {
        let data = text(10_000);
        for &e in CompressionEncoding::ALL {
            let mut z = BytesMut::new();
            compress(e, &data, &mut z).unwrap();
            assert!(z.len() < data.len() / 3, "{e}: {}", z.len());
            assert_eq!(&decompress(e, &z, data.len()).unwrap()[..], &data[..]);
            assert_eq!(
                decompress(e, &z, data.len() - 1),
                Err(DecompressError::TooLarge {
                    limit: data.len() - 1
                })
            );
            assert!(matches!(
                decompress(e, &z[..z.len() / 2], 1 << 20),
                Err(DecompressError::Corrupt { .. })
            ));
            assert!(matches!(
                decompress(e, b"not compressed at all", 1 << 20),
                Err(DecompressError::Corrupt { .. })
            ));
            let mut empty = BytesMut::new();
            compress(e, b"", &mut empty).unwrap();
            assert!(decompress(e, &empty, 0).unwrap().is_empty());
        }
    }

    #[test]
    fn frames_below_threshold_or_incompressible_stay_plain() {
        use crate::wire::frame::{put_frame, FLAG_COMPRESSED};
        for &e in CompressionEncoding::ALL {
            let sc = SendCompression {
                encoding: Some(e),
                threshold: 100,
            };
            let mut small = BytesMut::new();
            put_frame(&mut small, 0, 0, &[b'a'; 99]);
            let before = small.clone();
            sc.apply(&mut small, 0).unwrap();
            assert_eq!(small, before);

            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            let random: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            let mut buf = BytesMut::from(&b"xx"[..]);
            put_frame(&mut buf, 0, 0, &random);
            sc.apply(&mut buf, 2).unwrap();
            assert_eq!(buf[3] & FLAG_COMPRESSED, 0, "{e}");

            let data = text(4096);
            let mut buf = BytesMut::from(&b"xx"[..]);
            put_frame(&mut buf, 0, 0, &data);
            sc.apply(&mut buf, 2).unwrap();
            assert_eq!(buf[3], FLAG_COMPRESSED);
            let len = u32::from_be_bytes(buf[4..8].try_into().unwrap()) as usize;
            assert_eq!(len, buf.len() - 8);
            assert_eq!(&decompress(e, &buf[8..], 4096).unwrap()[..], &data[..]);
        }
    }
}
