//! Round trips over loopback QUIC, each group with its baselines measured in the same run:
//! rpc-core, raw quinn (one stream per call, length-prefixed prost: the floor), tonic h2c
//! and tonic TLS (gRPC over HTTP/2). Every server runs on its own thread and runtime; the
//! client runs on criterion's thread.
//!
//! `cargo bench -p benches --bench roundtrip` (`-- unary` to pick groups)

#[path = "../tonic/mod.rs"]
mod tonic_echo;

use benches::quinn_echo::{self, QuinnDriver};
use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use rpc_bench::driver::{Driver, RpcDriver};
use rpc_bench::NetOptions;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::Endpoint;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use tonic_echo::TonicDriver;

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

/// Every system under test, with its server running.
struct Systems {
    rt: Runtime,
    /// What `rpc` connects with, to make fresh endpoints (no TLS session to resume).
    rpc_endpoint: Endpoint,
    rpc_tls: rpc_core::tls::ClientTlsConfig,
    rpc: (Arc<RpcDriver>, <RpcDriver as Driver>::Conn),
    quinn: (Arc<QuinnDriver>, quinn::Connection),
    h2c: (Arc<TonicDriver>, <TonicDriver as Driver>::Conn),
    tls: (Arc<TonicDriver>, <TonicDriver as Driver>::Conn),
    _servers: (
        rpc_bench::server::BackgroundServer,
        quinn_echo::BackgroundServer,
        tonic_echo::BackgroundServer,
        tonic_echo::BackgroundServer,
    ),
}

fn systems() -> Systems {
    let cert = SelfSigned::generate(&["localhost"]).expect("certificate");
    let net = NetOptions::default();
    let any = "127.0.0.1:0".parse().expect("address");
    let rpc_server =
        rpc_bench::server::BackgroundServer::start(any, cert.server_config().expect("tls"), &net)
            .expect("rpc server");
    let quinn_server = quinn_echo::BackgroundServer::start(any, &cert, &net).expect("quinn");
    let h2c_server = tonic_echo::BackgroundServer::start(any, None).expect("tonic h2c");
    let tls_server = tonic_echo::BackgroundServer::start(any, Some(cert.clone())).expect("tonic");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rpc_tls = cert.client_config().domain_name("localhost");
    let rpc_endpoint = Endpoint::from_addr(rpc_server.local_addr()).tls_config(rpc_tls.clone());
    let (rpc, quinn, h2c, tls) = rt.block_on(async {
        let rpc = Arc::new(RpcDriver::new(rpc_endpoint.clone()));
        let quinn = Arc::new(
            QuinnDriver::new(quinn_server.local_addr(), "localhost", &cert, &net).expect("quinn"),
        );
        let h2c = Arc::new(TonicDriver::new(h2c_server.local_addr(), None, "localhost"));
        let tls = Arc::new(TonicDriver::new(
            tls_server.local_addr(),
            Some(&cert),
            "localhost",
        ));
        let c = (
            rpc.connect().await.expect("rpc connect"),
            quinn.connect().await.expect("quinn connect"),
            h2c.connect().await.expect("h2c connect"),
            tls.connect().await.expect("tls connect"),
        );
        ((rpc, c.0), (quinn, c.1), (h2c, c.2), (tls, c.3))
    });
    Systems {
        rt,
        rpc_endpoint,
        rpc_tls,
        rpc,
        quinn,
        h2c,
        tls,
        _servers: (rpc_server, quinn_server, h2c_server, tls_server),
    }
}

/// Runs `f` (one call through a driver) for each system, in one group.
macro_rules! each_system {
    ($group:expr, $sys:expr, |$d:ident, $c:ident| $body:expr) => {{
        let rt = &$sys.rt;
        {
            let ($d, $c) = (&$sys.rpc.0, &$sys.rpc.1);
            $group.bench_function("rpc-core", |b| b.to_async(rt).iter(|| $body));
        }
        {
            let ($d, $c) = (&$sys.quinn.0, &$sys.quinn.1);
            $group.bench_function("raw-quinn", |b| b.to_async(rt).iter(|| $body));
        }
        {
            let ($d, $c) = (&$sys.h2c.0, &$sys.h2c.1);
            $group.bench_function("tonic-h2c", |b| b.to_async(rt).iter(|| $body));
        }
        {
            let ($d, $c) = (&$sys.tls.0, &$sys.tls.1);
            $group.bench_function("tonic-tls", |b| b.to_async(rt).iter(|| $body));
        }
    }};
}

fn unary(c: &mut Criterion, sys: &Systems) {
    for (name, size) in [("unary/64B", 64usize), ("unary/16KiB", 16 * 1024)] {
        let payload = Bytes::from(vec![0xa5u8; size]);
        let mut g: BenchmarkGroup<'_, WallTime> = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(2 * size as u64));
        each_system!(g, sys, |d, c| async {
            d.unary(c, payload.clone()).await.expect("call")
        });
        g.finish();
    }
}

fn server_stream(c: &mut Criterion, sys: &Systems) {
    for (name, size, count) in [
        ("server-stream/1KiB-x256", 1024u32, 256u32),
        ("server-stream/64KiB-x64", 64 * 1024, 64),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(u64::from(size) * u64::from(count)));
        each_system!(g, sys, |d, c| async {
            d.server_stream(c, size, count).await.expect("call")
        });
        g.finish();
    }
}

fn bidi(c: &mut Criterion, sys: &Systems) {
    let payload = Bytes::from(vec![0xa5u8; 64]);
    let mut g = c.benchmark_group("bidi-ping-pong/64B");
    macro_rules! one {
        ($name:expr, $sys:expr) => {{
            let (d, conn) = (&$sys.0, &$sys.1);
            let mut call = sys.rt.block_on(d.open_bidi(conn)).expect("open bidi");
            g.bench_function($name, |b| {
                b.iter(|| {
                    sys.rt
                        .block_on(d.ping(&mut call, payload.clone()))
                        .expect("ping")
                })
            });
        }};
    }
    one!("rpc-core", sys.rpc);
    one!("raw-quinn", sys.quinn);
    one!("tonic-h2c", sys.h2c);
    one!("tonic-tls", sys.tls);
    g.finish();
}

/// Connection setup and a first call: `resumed` reconnects with the TLS config (and session
/// cache) of earlier connections, `full` with a new one, so the handshake is a full one.
/// tonic builds a new TLS config for every connect, so it appears under `full` only.
fn connect(c: &mut Criterion, sys: &Systems) {
    let payload = Bytes::from(vec![0xa5u8; 64]);
    let rt = &sys.rt;
    let mut g = c.benchmark_group("connect+first-call/resumed");
    g.sample_size(10);
    g.bench_function("rpc-core", |b| {
        b.to_async(rt).iter(|| async {
            let d = &sys.rpc.0;
            let conn = d.connect().await.expect("connect");
            d.unary(&conn, payload.clone()).await.expect("call")
        })
    });
    g.bench_function("raw-quinn", |b| {
        b.to_async(rt).iter(|| async {
            let d = &sys.quinn.0;
            let conn = d.connect().await.expect("connect");
            d.unary(&conn, payload.clone()).await.expect("call")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("connect+first-call/full");
    g.sample_size(10);
    g.bench_function("rpc-core", |b| {
        b.to_async(rt).iter(|| async {
            // A fresh TLS config: nothing to resume.
            let d = RpcDriver::new(sys.rpc_endpoint.clone().tls_config(sys.rpc_tls.clone()));
            let conn = d.connect().await.expect("connect");
            d.unary(&conn, payload.clone()).await.expect("call")
        })
    });
    g.bench_function("raw-quinn", |b| {
        b.to_async(rt).iter(|| async {
            let d = &sys.quinn.0;
            let conn = d.connect_full().await.expect("connect");
            d.unary(&conn, payload.clone()).await.expect("call")
        })
    });
    for (name, d) in [("tonic-h2c", &sys.h2c.0), ("tonic-tls", &sys.tls.0)] {
        g.bench_function(name, |b| {
            b.to_async(rt).iter(|| async {
                let conn = d.connect().await.expect("connect");
                d.unary(&conn, payload.clone()).await.expect("call")
            })
        });
    }
    g.finish();
}

fn roundtrip(c: &mut Criterion) {
    let sys = systems();
    unary(c, &sys);
    server_stream(c, &sys);
    bidi(c, &sys);
    connect(c, &sys);
}

criterion_group! {
    name = benches;
    config = config();
    targets = roundtrip
}
criterion_main!(benches);
