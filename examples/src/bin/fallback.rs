//! Transport fallback, as browsers do for HTTP/3: a channel that uses QUIC when UDP gets
//! through and gRPC over HTTP/2 when the network drops it (PROTOCOL.md §20).
//!
//! One server serves route_guide on a QUIC port and, with `rpc_grpc::GrpcServer`, on a TCP
//! port (TLS, ALPN h2). The client's channels come from one `rpc_grpc::FallbackConnector`.
//! A network that drops UDP is played by the client's UDP socket, which loses every datagram
//! while its switch is on (on a real network it is a firewall; `rpc-grpc`'s
//! `fallback_netns` test does it with nftables). Each response says which transport carried
//! its call.
//!
//! ```text
//! cargo run -p examples --bin fallback
//! ```

use examples::route_guide::bind;
use examples::route_guide::routeguide::route_guide_client::RouteGuideClient;
use examples::route_guide::routeguide::Point;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::transport::quic::quinn::udp::{RecvMeta, Transmit};
use rpc_core::transport::quic::quinn::{self, AsyncUdpSocket, UdpPoller};
use rpc_core::Endpoint;
use rpc_grpc::{FallbackConnector, GrpcConnector, Transport};
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The client's UDP socket on a network that drops UDP while `blocked` is on: datagrams it
/// sends are lost (the server never hears the QUIC handshake).
#[derive(Debug)]
struct Firewalled {
    socket: Arc<dyn AsyncUdpSocket>,
    blocked: AtomicBool,
}

impl AsyncUdpSocket for Firewalled {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.socket.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        if self.blocked.load(Ordering::Relaxed) {
            return Ok(()); // lost on the way
        }
        self.socket.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.socket.poll_recv(cx, bufs, meta)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        1
    }
}

/// One call on a new channel from `connector`; prints the transport that carried it.
async fn call(connector: &FallbackConnector, what: &str) -> Result<Transport, rpc_core::Status> {
    let channel = connector
        .clone()
        .connect()
        .await
        .map_err(|e| rpc_core::Status::unavailable(e.to_string()))?;
    let client = RouteGuideClient::new(channel.clone());
    let point = Point {
        latitude: 407_838_351,
        longitude: -746_143_763,
    };
    let reply = client.get_feature(point).await?;
    let transport = *reply
        .extensions()
        .get::<Transport>()
        .expect("a fallback channel names the transport of each call");
    println!(
        "{what}: GetFeature: {} (over {transport:?})",
        reply.into_inner().name
    );
    channel.close();
    Ok(transport)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::generate(&["localhost"])?;
    let server = bind(&cert, "127.0.0.1:0".parse()?)?;
    let quic = server.local_addr();
    let http = rpc_grpc::GrpcServer::new(server.handle())
        .tls_config(cert.server_config()?)
        .bind("127.0.0.1:0".parse()?)
        .await?;
    let h2 = http.local_addr();
    println!("serving route_guide on QUIC {quic} and gRPC/HTTP2 {h2}");
    let handle = server.handle();
    tokio::spawn(http.serve());
    let serving = tokio::spawn(server.serve());

    let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let network = Arc::new(Firewalled {
        socket: quinn::default_runtime()
            .ok_or("no tokio runtime")?
            .wrap_udp_socket(udp)?,
        blocked: AtomicBool::new(false),
    });
    // Usually `FallbackConnector::for_host("example.com", 443, 443, tls)`; here the QUIC
    // endpoint goes through the firewalled socket.
    let quic_target = Endpoint::new(format!("localhost:{}", quic.port()))?
        .tls_config(cert.client_config())
        .udp_socket(network.clone());
    let http2_target = GrpcConnector::new(format!("https://localhost:{}", h2.port()))?
        .tls_config(cert.client_config())?;
    let connector = FallbackConnector::new(quic_target, http2_target)
        // Probe QUIC every 200 ms while it is skipped (default 30 s), for the demo.
        .probe_interval(Duration::from_millis(200));

    call(&connector, "UDP open").await?;

    network.blocked.store(true, Ordering::Relaxed);
    call(&connector, "UDP dropped").await?;
    println!(
        "QUIC skipped for the next connections: {}",
        connector.is_quic_broken()
    );
    call(&connector, "UDP dropped, remembered").await?;

    network.blocked.store(false, Ordering::Relaxed);
    // Connects go over HTTP/2 while QUIC is skipped, and probe it in the background.
    while connector.is_quic_broken() {
        call(&connector, "UDP open again, QUIC not yet probed").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    call(&connector, "UDP open again").await?;

    handle.shutdown();
    serving.await?;
    Ok(())
}
