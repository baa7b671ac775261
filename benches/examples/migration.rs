//! Connection migration figure (RFC 9000 §9, `Channel::rebind`) for benches/README.md.
//!
//! ```text
//! cargo run --release -p benches --example migration                 # 3 s per run, rebind every 100 ms
//! cargo run --release -p benches --example migration -- 5 50         # 5 s per run, every 50 ms
//! ```
//!
//! 64 B unary calls, 16 in flight, against an in-process echo server (its own thread and
//! runtime) on 127.0.0.1, twice: once with the client moving its connection to a new UDP
//! socket (a new local port: what a change of network looks like to the server) every
//! interval, and once without. It prints the calls, the failures (a migration must lose
//! none), the latency percentiles of all calls and of the calls that were in flight while a
//! rebind happened. TCP has nothing to compare with: a new address means a new connection,
//! its handshake, and the calls in flight on the old one failed.

use bytes::Bytes;
use rpc_bench::echo::echo_client::EchoClient;
use rpc_bench::echo::EchoRequest;
use rpc_bench::server::BackgroundServer;
use rpc_bench::NetOptions;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Channel, Endpoint};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const IN_FLIGHT: usize = 16;

/// One call's start, end and outcome.
struct Sample {
    start: Instant,
    end: Instant,
    ok: bool,
}

/// What one run saw: its calls and the instants of its rebinds.
struct Run {
    samples: Vec<Sample>,
    rebinds: Vec<Instant>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let every: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let tls = SelfSigned::loopback().expect("dev certificate");
    let server = BackgroundServer::start(
        "127.0.0.1:0".parse().unwrap(),
        tls.server_config().unwrap(),
        &NetOptions::default(),
    )
    .expect("server");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let time = Duration::from_secs(secs);
    for (name, rebind) in [
        ("no migration", None),
        ("rebind", Some(Duration::from_millis(every))),
    ] {
        let run = rt.block_on(run(&tls, &server, time, rebind));
        report(name, every, &run);
    }
    server.stop();
}

async fn run(
    tls: &SelfSigned,
    server: &BackgroundServer,
    time: Duration,
    rebind: Option<Duration>,
) -> Run {
    let channel = Endpoint::from_addr(server.local_addr())
        .tls_config(tls.client_config())
        .local_address("127.0.0.1:0".parse().unwrap())
        .connect()
        .await
        .expect("connect");
    let samples = Arc::new(Mutex::new(Vec::new()));
    let until = Instant::now() + time;
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| tokio::spawn(worker(channel.clone(), until, samples.clone())))
        .collect();
    let mut rebinds = Vec::new();
    if let Some(every) = rebind {
        while Instant::now() + every < until {
            tokio::time::sleep(every).await;
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            channel.rebind(socket).await.expect("rebind");
            rebinds.push(Instant::now());
        }
    }
    for w in workers {
        w.await.expect("worker");
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    Run { samples, rebinds }
}

async fn worker(channel: Channel, until: Instant, out: Arc<Mutex<Vec<Sample>>>) {
    let client = EchoClient::new(channel);
    let payload = Bytes::from(vec![0x5a; 64]);
    let mut mine = Vec::new();
    while Instant::now() < until {
        let start = Instant::now();
        let ok = client
            .unary(EchoRequest {
                payload: payload.clone(),
                ..Default::default()
            })
            .await
            .is_ok();
        mine.push(Sample {
            start,
            end: Instant::now(),
            ok,
        });
    }
    out.lock().unwrap().extend(mine);
}

fn report(name: &str, every: u64, run: &Run) {
    let failed = run.samples.iter().filter(|s| !s.ok).count();
    let all: Vec<Duration> = run.samples.iter().map(|s| s.end - s.start).collect();
    // In flight while a rebind happened (the rebind returned between its start and end).
    let crossing: Vec<Duration> = run
        .samples
        .iter()
        .filter(|s| run.rebinds.iter().any(|r| s.start <= *r && *r <= s.end))
        .map(|s| s.end - s.start)
        .collect();
    let label = if run.rebinds.is_empty() {
        name.to_owned()
    } else {
        format!("{name} every {every} ms")
    };
    println!(
        "{label}: {} rebinds, {} calls, {failed} failed; all calls {}; in flight at a rebind ({}): {}",
        run.rebinds.len(),
        run.samples.len(),
        percentiles(all),
        crossing.len(),
        percentiles(crossing),
    );
}

fn percentiles(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    format!(
        "p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}
