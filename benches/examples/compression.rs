//! Message compression figures (PROTOCOL.md §15) for benches/README.md, all in one run.
//!
//! ```text
//! cargo run --release -p benches --example compression              # everything below
//! cargo run --release -p benches --example compression -- codec     # the algorithms alone
//! cargo run --release -p benches --example compression -- calls     # 64 KiB unary calls
//! cargo run --release -p benches --example compression -- small     # 64 B calls, off vs on
//! cargo run --release -p benches --example compression -- count off 5000   # for callgrind
//! ```
//!
//! * `codec`: for a JSON-like text message of 64 KiB and a random one: compressed size,
//!   MB/s and CPU per MB of `compression::compress` and `decompress`, gzip and zstd.
//! * `calls`: 64 KiB unary calls over QUIC on loopback (in-process server on its own thread,
//!   64 in flight): calls/s, MB/s of payload each way and CPU per call (both sides: the
//!   process's CPU time), compression off, gzip, zstd.
//! * `small`: 64 B unary calls, 64 in flight, with compression off (the defaults) and on
//!   (client sends zstd and accepts gzip and zstd, server sends zstd): nothing is
//!   compressed below the 1 KiB threshold; what is left is the head's `accept_encoding`.
//!   CPU per call, alternating runs, median of the pairs' ratios.
//! * `count MODE N`: N such calls after 2,000 to warm up, for callgrind (`--instr-atstart=no`
//!   and `callgrind_control -i on` are not needed: compare N = 25,000 with N = 5,000).

use bytes::{Bytes, BytesMut};
use rpc_bench::echo::echo_client::EchoClient;
use rpc_bench::echo::EchoRequest;
use rpc_bench::server::BackgroundServer;
use rpc_bench::NetOptions;
use rpc_core::compression::{self, CompressionEncoding};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Channel, Endpoint};
use std::time::{Duration, Instant};

const SIZE: usize = 64 * 1024;

fn json_like(len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len + 128);
    let mut i = 0u64;
    while v.len() < len {
        let line = format!(
            "{{\"id\":{i},\"name\":\"user {i}\",\"email\":\"user{i}@example.com\",\
             \"active\":{},\"score\":{},\"tags\":[\"a{}\",\"b{}\"]}},",
            i.is_multiple_of(3),
            (i * 7919) % 1000,
            i % 17,
            i % 5
        );
        v.extend_from_slice(line.as_bytes());
        i += 1;
    }
    v.truncate(len);
    v.into()
}

fn random(len: usize) -> Bytes {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn cpu() -> Duration {
    rpc_bench::cpu::process_cpu(None).unwrap_or_default()
}

/// Runs `f` over and over for about `time`; returns (runs, wall, CPU).
fn repeat(time: Duration, mut f: impl FnMut()) -> (u64, Duration, Duration) {
    let (start, cpu0) = (Instant::now(), cpu());
    let mut n = 0;
    while start.elapsed() < time {
        for _ in 0..16 {
            f();
        }
        n += 16;
    }
    (n, start.elapsed(), cpu() - cpu0)
}

fn codec() {
    println!("## codec: 64 KiB messages, one thread");
    println!(
        "| payload | algorithm | compressed | ratio | compress MB/s | compress CPU/MB | \
         decompress MB/s | decompress CPU/MB |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, data) in [("JSON-like", json_like(SIZE)), ("random", random(SIZE))] {
        for &enc in CompressionEncoding::ALL {
            let mut z = BytesMut::new();
            compression::compress(enc, &data, &mut z).unwrap();
            let z = z.freeze();
            let (n, wall, cpu_c) = repeat(Duration::from_secs(2), || {
                let mut out = BytesMut::with_capacity(SIZE);
                compression::compress(enc, &data, &mut out).unwrap();
                std::hint::black_box(out);
            });
            let mb = (n as f64) * SIZE as f64 / 1e6;
            let (dn, dwall, cpu_d) = repeat(Duration::from_secs(2), || {
                let out = compression::decompress(enc, &z, SIZE).unwrap();
                std::hint::black_box(out);
            });
            let dmb = (dn as f64) * SIZE as f64 / 1e6;
            println!(
                "| {name} | {enc} | {} B | {:.3} ({:.1}x) | {:.0} | {:.2} ms | {:.0} | {:.2} ms |",
                z.len(),
                z.len() as f64 / SIZE as f64,
                SIZE as f64 / z.len() as f64,
                mb / wall.as_secs_f64(),
                cpu_c.as_secs_f64() * 1e3 / mb,
                dmb / dwall.as_secs_f64(),
                cpu_d.as_secs_f64() * 1e3 / dmb,
            );
        }
    }
}

/// An in-process echo server, optionally compressing its responses.
fn server(tls: &SelfSigned, send: Option<CompressionEncoding>) -> BackgroundServer {
    let mut b = rpc_bench::server::builder(tls.server_config().unwrap(), &NetOptions::default());
    if let Some(e) = send {
        b = b.send_compressed(e);
    }
    BackgroundServer::start_with("127.0.0.1:0".parse().unwrap(), b).unwrap()
}

async fn channel(
    tls: &SelfSigned,
    srv: &BackgroundServer,
    on: Option<CompressionEncoding>,
) -> Channel {
    let mut ep = Endpoint::from_addr(srv.local_addr()).tls_config(tls.client_config());
    if let Some(e) = on {
        ep = ep.send_compressed(e);
        for &a in CompressionEncoding::ALL {
            ep = ep.accept_compressed(a);
        }
    }
    ep.connect().await.unwrap()
}

/// `total` unary calls with `payload`, 64 in flight; returns (wall, CPU) of the process.
async fn run_calls(ch: &Channel, payload: &Bytes, total: u64) -> (Duration, Duration) {
    let client = EchoClient::new(ch.clone());
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (start, cpu0) = (Instant::now(), cpu());
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (client, next, payload) = (client.clone(), next.clone(), payload.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                    let req = EchoRequest {
                        payload: payload.clone(),
                        ..Default::default()
                    };
                    let resp = client.unary(req).await.unwrap();
                    assert_eq!(resp.get_ref().payload.len(), payload.len());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (start.elapsed(), cpu() - cpu0)
}

async fn calls(tls: &SelfSigned) {
    println!("\n## 64 KiB unary calls, 64 in flight, client and in-process server");
    println!("| payload | compression | calls/s | MB/s each way | CPU per call | CPU per MB |");
    println!("|---|---|---|---|---|---|");
    let modes: Vec<Option<CompressionEncoding>> = std::iter::once(None)
        .chain(CompressionEncoding::ALL.iter().copied().map(Some))
        .collect();
    for (name, data) in [("JSON-like", json_like(SIZE)), ("random", random(SIZE))] {
        for &mode in &modes {
            let srv = server(tls, mode);
            let ch = channel(tls, &srv, mode).await;
            run_calls(&ch, &data, 500).await;
            let n = 6000;
            let (wall, cpu) = run_calls(&ch, &data, n).await;
            let mb = n as f64 * SIZE as f64 / 1e6;
            println!(
                "| {name} | {} | {:.0} | {:.0} | {:.1} µs | {:.2} ms |",
                mode.map_or("off", CompressionEncoding::as_str),
                n as f64 / wall.as_secs_f64(),
                mb / wall.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / n as f64,
                cpu.as_secs_f64() * 1e3 / mb,
            );
            ch.close();
            srv.stop();
        }
    }
}

async fn small(tls: &SelfSigned) {
    println!("\n## 64 B unary calls, 64 in flight: compression off vs on (below the threshold)");
    let payload = Bytes::from(vec![7u8; 64]);
    let on = CompressionEncoding::ALL.last().copied();
    let off_srv = server(tls, None);
    let on_srv = server(tls, on);
    let off_ch = channel(tls, &off_srv, None).await;
    let on_ch = channel(tls, &on_srv, on).await;
    run_calls(&off_ch, &payload, 20_000).await;
    run_calls(&on_ch, &payload, 20_000).await;
    let n = 60_000;
    let mut ratios = Vec::new();
    let (mut off_sum, mut on_sum) = (0.0, 0.0);
    for _ in 0..7 {
        let (_, off) = run_calls(&off_ch, &payload, n).await;
        let (_, on) = run_calls(&on_ch, &payload, n).await;
        let (off, on) = (
            off.as_secs_f64() * 1e6 / n as f64,
            on.as_secs_f64() * 1e6 / n as f64,
        );
        ratios.push(on / off);
        off_sum += off;
        on_sum += on;
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "CPU per call (both sides), mean of 7 alternating pairs: off {:.2} µs, on {:.2} µs; \
         median ratio {:.3}x (pairs {:.3}x-{:.3}x)",
        off_sum / 7.0,
        on_sum / 7.0,
        ratios[3],
        ratios[0],
        ratios[6],
    );
    off_ch.close();
    on_ch.close();
    off_srv.stop();
    on_srv.stop();
}

async fn count(tls: &SelfSigned, on: bool, n: u64) {
    let enc = if on {
        CompressionEncoding::ALL.last().copied()
    } else {
        None
    };
    let srv = server(tls, enc);
    let ch = channel(tls, &srv, enc).await;
    let payload = Bytes::from(vec![7u8; 64]);
    run_calls(&ch, &payload, 2000).await;
    let (wall, cpu) = run_calls(&ch, &payload, n).await;
    println!(
        "{n} calls, compression {}: {:.2} µs CPU per call, {:.0} calls/s",
        if on { "on" } else { "off" },
        cpu.as_secs_f64() * 1e6 / n as f64,
        n as f64 / wall.as_secs_f64()
    );
    ch.close();
    srv.stop();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tls = SelfSigned::loopback().unwrap();
    match args.first().map(String::as_str) {
        Some("codec") => codec(),
        Some("calls") => rt.block_on(calls(&tls)),
        Some("small") => rt.block_on(small(&tls)),
        Some("count") => {
            let on = args.get(1).is_some_and(|m| m == "on");
            let n = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(25_000);
            rt.block_on(count(&tls, on, n));
        }
        None => {
            codec();
            rt.block_on(calls(&tls));
            rt.block_on(small(&tls));
        }
        Some(other) => eprintln!("unknown mode {other:?}; see the file's docs"),
    }
}
