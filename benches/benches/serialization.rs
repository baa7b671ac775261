//! Serialization: raw prost encode/decode vs rpc-core's full message path (prost codec +
//! `MESSAGE` frame), for small (64 B), medium (~1 KiB, nested) and large (~1 MiB) messages;
//! and the frame codec alone.
//!
//! `cargo bench -p benches --bench serialization`

use benches::messages::{large, medium, small};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prost::Message;
use rpc_core::codec::{Codec, Decoder, Encoder, ProstCodec};
use rpc_core::wire::{self, FrameDecoder, FrameLimits};
use std::hint::black_box;
use std::time::Duration;

const LIMITS: FrameLimits = FrameLimits {
    max_message: 4 * 1024 * 1024,
    max_headers: 16 * 1024,
};

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

/// Our full encode path: what `encode_frame` in rpc-core does for every message sent.
fn frame_encode<E: Encoder>(enc: &mut E, msg: &E::Item, buf: &mut BytesMut) {
    buf.reserve(wire::frame::FRAME_HEADER_LEN + enc.size_hint(msg));
    wire::encode::message_with(buf, |b| enc.encode(msg, b)).expect("encodes");
}

fn bench_message<M>(c: &mut Criterion, name: &str, msg: M)
where
    M: Message + Default + Clone + Send + 'static,
{
    let len = msg.encoded_len();
    let mut group = c.benchmark_group(format!("serialization/{name}"));
    group.throughput(Throughput::Bytes(len as u64));

    let mut buf = BytesMut::with_capacity(len + 16);
    group.bench_function("encode/prost", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&msg).encode(&mut buf).expect("encodes");
            black_box(buf.len())
        })
    });
    let mut codec = ProstCodec::<M, M>::new();
    let mut enc = codec.encoder();
    group.bench_function("encode/rpc-frame", |b| {
        b.iter(|| {
            buf.clear();
            frame_encode(&mut enc, black_box(&msg), &mut buf);
            black_box(buf.len())
        })
    });

    let raw = Bytes::from(msg.encode_to_vec());
    group.bench_function("decode/prost", |b| {
        b.iter(|| M::decode(black_box(raw.clone())).expect("decodes"))
    });
    let mut framed = BytesMut::new();
    frame_encode(&mut enc, &msg, &mut framed);
    let framed = framed.freeze();
    let mut dec = codec.decoder();
    group.bench_function("decode/rpc-frame", |b| {
        b.iter(|| {
            let mut fd = FrameDecoder::new(LIMITS);
            fd.push(black_box(framed.clone()));
            let frame = fd.next_frame().expect("valid").expect("complete");
            dec.decode(frame.payload).expect("decodes")
        })
    });
    group.finish();
}

fn serialization(c: &mut Criterion) {
    bench_message(c, "small-64B", small());
    bench_message(c, "medium-1KiB-nested", medium());
    bench_message(c, "large-1MiB", large());
}

/// The frame codec alone: header + payload copy, and decoding whole or in 1200-byte chunks
/// (a QUIC packet's worth) through the decoder's read buffer, as the transport does.
fn frame_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame-codec");
    for size in [64usize, 16 * 1024, 1024 * 1024] {
        let payload = vec![0xa5u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        let mut buf = BytesMut::with_capacity(size + 16);
        group.bench_with_input(BenchmarkId::new("encode", size), &payload, |b, p| {
            b.iter(|| {
                buf.clear();
                wire::encode::raw_message(black_box(p), &mut buf);
                black_box(buf.len())
            })
        });
        let mut frame = BytesMut::new();
        wire::encode::raw_message(&payload, &mut frame);
        let frame = frame.freeze();
        group.bench_with_input(BenchmarkId::new("decode-whole", size), &frame, |b, f| {
            b.iter(|| {
                let mut fd = FrameDecoder::new(LIMITS);
                fd.push(f.clone());
                fd.next_frame().expect("valid").expect("complete")
            })
        });
        group.bench_with_input(
            BenchmarkId::new("decode-1200B-chunks", size),
            &frame,
            |b, f| {
                b.iter(|| {
                    let mut fd = FrameDecoder::new(LIMITS);
                    let mut out = None;
                    for chunk in f.chunks(1200) {
                        fd.read_buf().extend_from_slice(chunk);
                        if let Some(frame) = fd.next_frame().expect("valid") {
                            out = Some(frame);
                        }
                    }
                    out.expect("complete")
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = serialization, frame_codec
}
criterion_main!(benches);
