//! The lossy-network benchmark's two processes (benches/lossy/run.sh runs them inside a
//! network namespace whose loopback drops packets at random): an echo server, and a client
//! that makes small unary calls on one connection while, optionally, one bulk server stream
//! shares that connection. The same for rpc-core over QUIC and for tonic over HTTP/2 (h2c or
//! TLS), with the same handler work (the echo services of `rpc-bench` and `benches/tonic`).
//!
//! ```text
//! lossy serve --system qrpc --addr 127.0.0.1:50071 &
//! lossy --system qrpc --target 127.0.0.1:50071 --payload 64 -c 16 --bulk -z 5s
//! ```
//!
//! The client prints one JSON object: calls, errors, calls/s, p50/p99/p99.9/max of the
//! unary calls in µs, and the bulk stream's MB/s (10^6 B of payload) over the measured time.

#[path = "../tonic/mod.rs"]
mod tonic_echo;

use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use rpc_bench::driver::{Driver, RpcDriver};
use rpc_core::server::ServerCall;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Request};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic_echo::TonicDriver;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Lossy-network benchmark: server and client.
#[derive(Debug, Parser)]
#[command(name = "lossy")]
struct Cli {
    /// What carries the calls.
    #[arg(long, value_enum, global = true, default_value = "qrpc")]
    system: System,
    /// QUIC only: the ACK delay asked of the peer, in µs (0: none asked, quinn's 25 ms);
    /// default rpc-core's.
    #[arg(long, global = true)]
    max_ack_delay_us: Option<u64>,
    /// QUIC only: the stream priority of the unary calls, set by the client on its requests
    /// and by the server on its responses (the bulk stream keeps 0). The server always runs
    /// a layer that sets it, 0 included, so on and off differ only by the priority.
    #[arg(long, global = true, default_value_t = 0)]
    priority: i32,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: Load,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum System {
    /// rpc-core over QUIC.
    Qrpc,
    /// tonic, HTTP/2 over plaintext TCP.
    H2c,
    /// tonic, HTTP/2 over TLS over TCP.
    Tls,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the echo server.
    Serve {
        /// Address to listen on.
        #[arg(long)]
        addr: SocketAddr,
    },
}

#[derive(Debug, clap::Args)]
struct Load {
    /// The server's address.
    #[arg(long)]
    target: Option<SocketAddr>,
    /// Unary payload bytes (each way).
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// Unary calls in flight.
    #[arg(short, long, default_value_t = 16)]
    concurrency: usize,
    /// One server stream of 64 KiB messages on the same connection, all the time.
    #[arg(long)]
    bulk: bool,
    /// Measured seconds.
    #[arg(short = 'z', long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// A label copied into the JSON (the loss rate, for the script).
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lossy: {e}");
            return ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(async {
        match cli.command {
            Some(Command::Serve { addr }) => {
                serve(cli.system, addr, cli.max_ack_delay_us, cli.priority).await
            }
            None => client(cli.system, cli.load, cli.max_ack_delay_us, cli.priority).await,
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lossy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The ACK delay setting from the flag: absent, rpc-core's default; 0, none.
fn ack_delay(us: Option<u64>) -> Option<Option<Duration>> {
    us.map(|us| (us > 0).then(|| Duration::from_micros(us)))
}

/// A server layer setting the response priority of echo's `Unary` calls.
#[derive(Clone, Copy)]
struct PriorityLayer(i32);

impl<S> tower_layer::Layer<S> for PriorityLayer {
    type Service = Prioritized<S>;
    fn layer(&self, inner: S) -> Prioritized<S> {
        Prioritized(inner, self.0)
    }
}

struct Prioritized<S>(S, i32);

impl<S> tower_service::Service<ServerCall> for Prioritized<S>
where
    S: tower_service::Service<ServerCall>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }
    fn call(&mut self, mut call: ServerCall) -> S::Future {
        if call.method() == "Unary" {
            call.set_priority(self.1);
        }
        self.0.call(call)
    }
}

async fn serve(
    system: System,
    addr: SocketAddr,
    ack_us: Option<u64>,
    priority: i32,
) -> Result<(), BoxError> {
    match system {
        System::Qrpc => {
            let tls = SelfSigned::loopback()?.server_config()?;
            let mut builder = rpc_bench::server::builder(tls, &rpc_bench::NetOptions::default());
            if let Some(d) = ack_delay(ack_us) {
                builder = builder.max_ack_delay(d);
            }
            let server = builder.layer(PriorityLayer(priority)).bind(addr)?;
            println!("lossy qrpc server on {}", server.local_addr());
            server.serve().await;
            Ok(())
        }
        System::H2c | System::Tls => {
            let cert = (system == System::Tls)
                .then(SelfSigned::loopback)
                .transpose()?;
            let listener = tokio::net::TcpListener::bind(addr).await?;
            println!("lossy tonic server on {}", listener.local_addr()?);
            tonic_echo::serve(listener, cert.as_ref(), std::future::pending()).await
        }
    }
}

/// What the client's tasks share.
#[derive(Default)]
struct Shared {
    measuring: AtomicBool,
    stop: AtomicBool,
    bulk_bytes: AtomicU64,
    errors: AtomicU64,
}

async fn client(
    system: System,
    load: Load,
    ack_us: Option<u64>,
    priority: i32,
) -> Result<(), BoxError> {
    let target = load.target.ok_or("--target is required")?;
    match system {
        System::Qrpc => {
            let mut ep = Endpoint::from_addr(target)
                .tls_config(SelfSigned::loopback()?.client_config())
                .handshake_timeout(Duration::from_secs(10));
            if let Some(d) = ack_delay(ack_us) {
                ep = ep.max_ack_delay(d);
            }
            let driver = Arc::new(RpcDriver::new(ep.clone()));
            let conn = driver.connect().await?;
            let unary_conn = conn.clone();
            run(
                move |payload| {
                    let conn = unary_conn.clone();
                    async move {
                        let mut req = Request::new(rpc_bench::echo::EchoRequest {
                            payload,
                            response_size: 0,
                            response_count: 0,
                        });
                        req.set_priority(priority);
                        conn.unary(req).await.map(drop).map_err(drop)
                    }
                },
                &load,
                system,
                move |shared| async move {
                    let req = rpc_bench::echo::EchoRequest {
                        payload: Bytes::new(),
                        response_size: 64 * 1024,
                        response_count: u32::MAX,
                    };
                    let mut stream = match conn.server_stream(Request::new(req)).await {
                        Ok(r) => r.into_inner(),
                        Err(_) => return,
                    };
                    while let Ok(Some(m)) = stream.message().await {
                        if shared.measuring.load(Ordering::Relaxed) {
                            shared
                                .bulk_bytes
                                .fetch_add(m.payload.len() as u64, Ordering::Relaxed);
                        }
                        if shared.stop.load(Ordering::Relaxed) {
                            return;
                        }
                    }
                },
                priority,
            )
            .await
        }
        System::H2c | System::Tls => {
            let cert = (system == System::Tls)
                .then(SelfSigned::loopback)
                .transpose()?;
            let driver = Arc::new(TonicDriver::new(target, cert.as_ref(), "localhost"));
            let conn = driver.connect().await?;
            let unary_conn = conn.clone();
            run(
                move |payload| {
                    let (driver, conn) = (driver.clone(), unary_conn.clone());
                    async move { driver.unary(&conn, payload).await.map(drop).map_err(drop) }
                },
                &load,
                system,
                move |shared| async move {
                    let mut c = conn.clone();
                    let req = tonic_echo::pb::EchoRequest {
                        payload: Bytes::new(),
                        response_size: 64 * 1024,
                        response_count: u32::MAX,
                    };
                    let mut stream = match c.server_stream(req).await {
                        Ok(r) => r.into_inner(),
                        Err(_) => return,
                    };
                    while let Ok(Some(m)) = stream.message().await {
                        if shared.measuring.load(Ordering::Relaxed) {
                            shared
                                .bulk_bytes
                                .fetch_add(m.payload.len() as u64, Ordering::Relaxed);
                        }
                        if shared.stop.load(Ordering::Relaxed) {
                            return;
                        }
                    }
                },
                0,
            )
            .await
        }
    }
}

/// Runs the load: `load.concurrency` workers of unary calls on `conn`, and `bulk` if asked;
/// prints the JSON result.
async fn run<U, UF, B, F>(
    unary: U,
    load: &Load,
    system: System,
    bulk: B,
    priority: i32,
) -> Result<(), BoxError>
where
    U: Fn(Bytes) -> UF + Clone + 'static,
    UF: std::future::Future<Output = Result<(), ()>>,
    B: FnOnce(Arc<Shared>) -> F,
    F: std::future::Future<Output = ()> + 'static,
{
    let shared = Arc::new(Shared::default());
    let local = tokio::task::LocalSet::new();
    let payload = Bytes::from(vec![0x5a; load.payload]);
    let mut workers = Vec::new();
    for _ in 0..load.concurrency {
        let (unary, shared, payload) = (unary.clone(), shared.clone(), payload.clone());
        workers.push(local.spawn_local(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            while !shared.stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let ok = unary(payload.clone()).await.is_ok();
                let measuring = shared.measuring.load(Ordering::Relaxed);
                if !measuring {
                    continue;
                }
                if ok {
                    lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                } else {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    if load.bulk {
        local.spawn_local(bulk(shared.clone()));
    }
    let warmup = Duration::from_secs_f64(load.warmup);
    let measured = Duration::from_secs_f64(load.duration);
    let elapsed = local
        .run_until(async {
            tokio::time::sleep(warmup).await;
            shared.measuring.store(true, Ordering::Relaxed);
            let t0 = Instant::now();
            tokio::time::sleep(measured).await;
            shared.measuring.store(false, Ordering::Relaxed);
            let elapsed = t0.elapsed();
            shared.stop.store(true, Ordering::Relaxed);
            elapsed
        })
        .await;
    // Calls still stuck in retransmission are abandoned after a grace period: their
    // latencies are not counted (they started before the end, and did not finish in time).
    let mut all = Vec::new();
    let grace = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(grace);
    let collect = local.run_until(async {
        for w in workers {
            if let Ok(l) = w.await {
                all.extend(l);
            }
        }
    });
    let unfinished = tokio::select! {
        () = collect => false,
        () = &mut grace => true,
    };
    all.sort_unstable();
    let pct = |p: f64| -> u32 {
        if all.is_empty() {
            return 0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i]
    };
    let secs = elapsed.as_secs_f64();
    let json = format!(
        "{{\"system\":\"{:?}\",\"label\":\"{}\",\"payload\":{},\"concurrency\":{},\"bulk\":{},\"priority\":{},\"calls\":{},\"errors\":{},\"calls_per_s\":{:.0},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"bulk_mb_s\":{:.2},\"unfinished\":{}}}",
        system,
        load.label,
        load.payload,
        load.concurrency,
        load.bulk,
        priority,
        all.len(),
        shared.errors.load(Ordering::Relaxed),
        all.len() as f64 / secs,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        all.last().copied().unwrap_or(0),
        shared.bulk_bytes.load(Ordering::Relaxed) as f64 / secs / 1e6,
        unfinished,
    );
    println!("{}", json.to_lowercase());
    Ok(())
}
