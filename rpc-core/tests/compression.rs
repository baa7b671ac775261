//! Message compression over QUIC (PROTOCOL.md §15): negotiated end to end for every call
//! kind, the threshold, and hostile input (unknown algorithms, a compressed flag without
//! negotiation, decompression bombs), each a clear status with bounded memory.
#![cfg(all(feature = "gzip", feature = "zstd"))]

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use futures_util::StreamExt;
use rpc_core::compression::{self, CompressionEncoding};
use rpc_core::wire::frame::{FrameDecoder, FrameKind, FLAG_COMPRESSED};
use rpc_core::wire::{self, FrameLimits};
use rpc_core::{Code, Request, Status};

const GZIP: CompressionEncoding = CompressionEncoding::Gzip;
const ZSTD: CompressionEncoding = CompressionEncoding::Zstd;

/// A JSON-like text payload of `len` bytes.
fn text(len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while v.len() < len {
        let line = format!(
            "{{\"id\":{i},\"name\":\"user {i}\",\"email\":\"user{i}@example.com\",\"active\":{}}},",
            i.is_multiple_of(3)
        );
        v.extend_from_slice(line.as_bytes());
        i += 1;
    }
    v.truncate(len);
    v.into()
}

fn big(seq: u64) -> Msg {
    Msg {
        payload: text(64 * 1024),
        seq,
        ..Default::default()
    }
}

#[tokio::test]
async fn every_call_kind_round_trips_compressed() {
    // Each direction its own algorithm: requests gzip, responses zstd (and the reverse).
    for (req_enc, resp_enc) in [(GZIP, ZSTD), (ZSTD, GZIP)] {
        let srv = start_with(builder().send_compressed(resp_enc));
        let ch = endpoint(srv.addr)
            .send_compressed(req_enc)
            .accept_compressed(resp_enc)
            .connect()
            .await
            .unwrap();
        let codec = Codec::new;

        let r = ch
            .unary("/test.Test/Unary", Request::new(big(1)), codec())
            .await
            .unwrap();
        assert_eq!(r.get_ref(), &big(1));

        let mut m = big(0);
        m.count = 3;
        let r = ch
            .server_streaming("/test.Test/Expand", Request::new(m), codec())
            .await
            .unwrap();
        let got: Vec<_> = r.into_inner().collect().await;
        assert_eq!(got.len(), 3);
        for (i, m) in got.into_iter().enumerate() {
            assert_eq!(
                m.unwrap(),
                Msg {
                    seq: i as u64,
                    ..big(0)
                }
            );
        }

        let reqs = futures_util::stream::iter((0..3).map(big));
        let r = ch
            .client_streaming("/test.Test/Collect", Request::new(reqs), codec())
            .await
            .unwrap();
        assert_eq!((r.get_ref().seq, r.get_ref().count), (3, 3 * 64 * 1024));

        let reqs = futures_util::stream::iter((0..3).map(big));
        let r = ch
            .streaming("/test.Test/Chat", Request::new(reqs), codec())
            .await
            .unwrap();
        let got: Vec<_> = r.into_inner().collect().await;
        assert_eq!(got.len(), 3);
        for (i, m) in got.into_iter().enumerate() {
            assert_eq!(m.unwrap(), big(i as u64));
        }

        // A per-call override: this request goes out plain.
        let mut req = Request::new(big(7));
        req.set_send_compressed(None);
        let r = ch.unary("/test.Test/Unary", req, codec()).await.unwrap();
        assert_eq!(r.get_ref(), &big(7));
    }
}

/// What a raw client reads back: the frames of the response stream.
async fn raw_call(addr: std::net::SocketAddr, request: Bytes) -> Vec<wire::Frame> {
    let conn = raw_connection(addr).await;
    raw_call_on(&conn, request).await
}

async fn raw_call_on(
    conn: &rpc_core::transport::quic::quinn::Connection,
    request: Bytes,
) -> Vec<wire::Frame> {
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    // The server may stop reading before it has it all: the answer is in the response.
    let _ = send.write_all(&request).await;
    let _ = send.finish();
    let data = recv.read_to_end(16 << 20).await.unwrap();
    let mut dec = FrameDecoder::new(FrameLimits {
        max_message: 16 << 20,
        max_headers: 1 << 16,
    });
    dec.push(Bytes::from(data));
    std::iter::from_fn(|| dec.next_frame().unwrap()).collect()
}

/// Appends a frame (PROTOCOL.md §4): type, flags, big-endian length, payload.
fn put_frame(dst: &mut BytesMut, kind: u8, flags: u8, payload: &[u8]) {
    dst.extend_from_slice(&[kind, flags]);
    dst.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    dst.extend_from_slice(payload);
}

/// A request head for `/test.Test/Unary` with raw compression fields, then `msgs`.
fn request(encoding: &str, accept: &[&str], msgs: &[(u8, &[u8])]) -> Bytes {
    use prost::encoding as pb;
    let mut head = BytesMut::new();
    pb::string::encode(1, &"/test.Test/Unary".to_string(), &mut head);
    if !encoding.is_empty() {
        pb::string::encode(5, &encoding.to_string(), &mut head);
    }
    for a in accept {
        pb::string::encode(6, &a.to_string(), &mut head);
    }
    let mut b = BytesMut::new();
    put_frame(&mut b, 1, 0, &head);
    for (flags, m) in msgs {
        put_frame(&mut b, 0, *flags, m);
    }
    b.freeze()
}

fn encoded(m: &Msg) -> Vec<u8> {
    prost::Message::encode_to_vec(m)
}

fn status_of(frames: &[wire::Frame]) -> Status {
    let last = frames.last().expect("a response");
    assert_eq!(last.kind, FrameKind::Trailers);
    wire::head::decode_trailers(last.payload.clone()).unwrap()
}

#[tokio::test]
async fn server_compresses_only_what_the_client_accepts_above_the_threshold() {
    let srv = start_with(builder().send_compressed(ZSTD));
    let large = encoded(&big(1));
    let small = encoded(&Msg {
        payload: Bytes::from_static(&[b'a'; 64]),
        ..Default::default()
    });

    // Accepted and large: a response head naming zstd, then a compressed message.
    let frames = raw_call(srv.addr, request("", &["zstd"], &[(0, &large)])).await;
    assert_eq!(frames[0].kind, FrameKind::Headers);
    let head = &frames[0].payload[..];
    assert_eq!(
        head, b"\x12\x04zstd",
        "ResponseHead {{ encoding: \"zstd\" }}"
    );
    assert_eq!(frames[1].flags, FLAG_COMPRESSED);
    assert!(frames[1].payload.len() < large.len() / 4);
    let back = compression::decompress(ZSTD, &frames[1].payload, 1 << 20).unwrap();
    assert_eq!(&back[..], &large[..]);
    assert_eq!(status_of(&frames).code(), Code::Ok);

    // Not accepted (gzip only): plain, and no response head at all.
    let frames = raw_call(srv.addr, request("", &["gzip"], &[(0, &large)])).await;
    assert_eq!(frames[0].kind, FrameKind::Message);
    assert_eq!(frames[0].flags, 0);
    assert_eq!(&frames[0].payload[..], &large[..]);

    // Below the threshold (1 KiB): exactly what an uncompressed call gets.
    let frames = raw_call(srv.addr, request("", &["zstd"], &[(0, &small)])).await;
    let plain = raw_call(srv.addr, request("", &[], &[(0, &small)])).await;
    assert_eq!(frames, plain);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].flags, 0);
}

#[tokio::test]
async fn unknown_algorithm_is_unimplemented() {
    let srv = start();
    let frames = raw_call(srv.addr, request("br", &[], &[(FLAG_COMPRESSED, b"xx")])).await;
    assert_eq!(frames.len(), 1, "trailers only");
    let status = status_of(&frames);
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(status.message().contains("\"br\""), "{}", status.message());
    assert!(
        status.message().contains("gzip, zstd"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn compressed_flag_without_negotiation_is_internal() {
    let srv = start();
    let mut z = BytesMut::new();
    compression::compress(GZIP, &encoded(&big(1)), &mut z).unwrap();
    for encoding in ["", "identity"] {
        let frames = raw_call(srv.addr, request(encoding, &[], &[(FLAG_COMPRESSED, &z)])).await;
        let status = status_of(&frames);
        assert_eq!(status.code(), Code::Internal);
        assert!(
            status.message().contains("compress"),
            "{}",
            status.message()
        );
    }
    // Announced but corrupt: INTERNAL too.
    let frames = raw_call(srv.addr, request("zstd", &[], &[(FLAG_COMPRESSED, &z)])).await;
    assert_eq!(status_of(&frames).code(), Code::Internal);
}

/// 1 GiB of zeros as zstd RLE blocks (128 KiB each, 4 bytes): 32 KiB, the smallest zstd
/// encoding there is. With `declared`, the frame header also states the size.
fn zstd_bomb(blocks: usize, declared: Option<u64>) -> Vec<u8> {
    let mut v = vec![0x28, 0xb5, 0x2f, 0xfd];
    match declared {
        // Single segment, 8-byte content size.
        Some(n) => {
            v.push(0xe0);
            v.extend_from_slice(&n.to_le_bytes());
        }
        // No content size; a 1 MiB window.
        None => v.extend_from_slice(&[0x00, 0x50]),
    }
    for i in 0..blocks {
        let last = (i + 1 == blocks) as u32;
        let header = last | (1 << 1) | ((128 * 1024) << 3);
        v.extend_from_slice(&header.to_le_bytes()[..3]);
        v.push(0);
    }
    v
}

/// 1 GiB of zeros as 1024 gzip members of 1 MiB each (about 1 KiB apiece).
fn gzip_bomb() -> Vec<u8> {
    let mut member = BytesMut::new();
    compression::compress(GZIP, &vec![0u8; 1 << 20], &mut member).unwrap();
    assert!(member.len() < 1100, "{}", member.len());
    member.repeat(1024)
}

#[tokio::test]
async fn decompression_bombs_stop_at_the_limit() {
    let srv = start();
    let conn = raw_connection(srv.addr).await;
    // Sanity: the hand-made zstd frame really is 1 GiB of zeros.
    let small = zstd_bomb(8, None);
    assert_eq!(
        compression::decompress(ZSTD, &small, 1 << 20)
            .unwrap()
            .len(),
        1 << 20
    );
    let bombs = [
        ("zstd", zstd_bomb(8192, None)),
        ("zstd", zstd_bomb(8, Some(1 << 30))),
        ("gzip", gzip_bomb()),
    ];
    let rss_before = rss_bytes();
    for (name, bomb) in &bombs {
        assert!(bomb.len() < 2 << 20, "{name}: {}", bomb.len());
        let started = std::time::Instant::now();
        let frames = raw_call_on(&conn, request(name, &[], &[(FLAG_COMPRESSED, bomb)])).await;
        let status = status_of(&frames);
        assert_eq!(status.code(), Code::ResourceExhausted, "{name}: {status:?}");
        assert!(
            status.message().contains("max_decoding_message_size"),
            "{}",
            status.message()
        );
        // Stopped at 4 MiB, not after inflating 1 GiB.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
    let grown = rss_bytes().saturating_sub(rss_before);
    assert!(grown < 128 << 20, "RSS grew by {grown} bytes");
    // The connection is still good.
    let frames = raw_call_on(&conn, request("", &[], &[(0, &encoded(&msg(1)))])).await;
    assert_eq!(status_of(&frames).code(), Code::Ok);
}

#[tokio::test]
async fn a_smaller_limit_bounds_decompression_on_both_sides() {
    let srv = start_with(
        builder()
            .max_decoding_message_size(32 * 1024)
            .send_compressed(GZIP),
    );
    // The compressed request is small; inflated it is 64 KiB, over the server's limit.
    let ch = endpoint(srv.addr)
        .send_compressed(ZSTD)
        .connect()
        .await
        .unwrap();
    let err = ch
        .unary("/test.Test/Unary", Request::new(big(1)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().contains("server"), "{}", err.message());

    // The client's own limit holds for a compressed response.
    let srv = start_with(builder().send_compressed(GZIP));
    let ch = endpoint(srv.addr)
        .accept_compressed(GZIP)
        .max_decoding_message_size(32 * 1024)
        .connect()
        .await
        .unwrap();
    let err = ch
        .unary("/test.Test/Unary", Request::new(big(1)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().contains("client"), "{}", err.message());
}
