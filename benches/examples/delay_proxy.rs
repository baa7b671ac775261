//! A forwarder that adds a fixed one-way delay in both directions, over UDP (QUIC) or TCP
//! (HTTP/2), so that round trips show in benchmarks on loopback, where the kernel here has
//! no netem. The same delay for both transports: packets (UDP) or read chunks (TCP) are
//! held `--delay` and then sent on, in order. TCP's own handshake is completed by the local
//! kernels at once, so the proxy holds a connection's first client bytes one round trip
//! longer: what SYN and SYN-ACK cost on a real path before the client can send.
//!
//! ```text
//! cargo run --release -p benches --example delay_proxy -- --udp --listen 127.0.0.1:6061 \
//!     --upstream 127.0.0.1:50061 --delay 10ms &
//! cargo run --release -p benches --example delay_proxy -- --tcp --listen 127.0.0.1:6063 \
//!     --upstream 127.0.0.1:50063 --delay 10ms &
//! ```

use clap::Parser;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Forwards UDP datagrams or TCP streams to `--upstream`, each way `--delay` late.
#[derive(Debug, Parser)]
struct Args {
    /// Where clients connect.
    #[arg(long)]
    listen: SocketAddr,
    /// Where the server listens.
    #[arg(long)]
    upstream: SocketAddr,
    /// One-way delay (each direction), e.g. 10ms.
    #[arg(long, value_parser = rpc_bench::cli::parse_duration)]
    delay: Duration,
    /// Forward UDP (QUIC).
    #[arg(long, conflicts_with = "tcp", required_unless_present = "tcp")]
    udp: bool,
    /// Forward TCP.
    #[arg(long)]
    tcp: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    println!(
        "forwarding {} {} -> {} with {:?} each way",
        if args.udp { "udp" } else { "tcp" },
        args.listen,
        args.upstream,
        args.delay
    );
    if args.udp {
        udp(args).await
    } else {
        tcp(args).await
    }
}

/// Sends what arrives on the returned channel, each item at its due time, in order.
fn delayed<F, Fut>(send: F) -> mpsc::UnboundedSender<(Instant, Vec<u8>)>
where
    F: Fn(Vec<u8>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    tokio::spawn(async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if !send(bytes).await {
                break;
            }
        }
    });
    tx
}

async fn udp(args: Args) -> Result<(), BoxError> {
    let front = Arc::new(UdpSocket::bind(args.listen).await?);
    // One upstream socket per client address, so the server's answers find their way back.
    let mut clients: HashMap<SocketAddr, mpsc::UnboundedSender<(Instant, Vec<u8>)>> =
        HashMap::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = front.recv_from(&mut buf).await?;
        let due = Instant::now() + args.delay;
        let to_server = match clients.get(&from) {
            Some(tx) => tx.clone(),
            None => {
                let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
                back.connect(args.upstream).await?;
                let to_client = {
                    let front = front.clone();
                    delayed(move |b| {
                        let front = front.clone();
                        async move { front.send_to(&b, from).await.is_ok() }
                    })
                };
                let reader = back.clone();
                let delay = args.delay;
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = reader.recv(&mut buf).await {
                        let _ = to_client.send((Instant::now() + delay, buf[..n].to_vec()));
                    }
                });
                let tx = delayed(move |b| {
                    let back = back.clone();
                    async move { back.send(&b).await.is_ok() }
                });
                clients.insert(from, tx.clone());
                tx
            }
        };
        let _ = to_server.send((due, buf[..n].to_vec()));
    }
}

async fn tcp(args: Args) -> Result<(), BoxError> {
    let listener = TcpListener::bind(args.listen).await?;
    loop {
        let (client, _) = listener.accept().await?;
        let (upstream, delay) = (args.upstream, args.delay);
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::join!(
                pipe(cr, sw, delay, 2 * delay),
                pipe(sr, cw, delay, Duration::ZERO)
            );
        });
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read, the first `first_extra` later
/// still (and the rest after it).
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    first_extra: Duration,
) {
    let to = Arc::new(tokio::sync::Mutex::new(to));
    let writer = to.clone();
    let tx = delayed(move |b| {
        let writer = writer.clone();
        async move { writer.lock().await.write_all(&b).await.is_ok() }
    });
    let mut buf = vec![0u8; 65536];
    let mut extra = first_extra;
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let due = Instant::now() + delay + std::mem::take(&mut extra);
        if tx.send((due, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    // Let the delayed chunks go out, then close this direction.
    tokio::time::sleep(delay).await;
    drop(tx);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let _ = to.lock().await.shutdown().await;
}
