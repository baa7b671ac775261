//! Call metrics on both sides, exported for Prometheus.
//!
//! ```text
//! cargo run -p examples --bin metrics
//! ```
//!
//! A Greeter that knows a few names, served with `ServerMetricsLayer`; a generated client
//! over a tower stack with `ClientMetricsLayer`. `metrics-exporter-prometheus` is the
//! recorder and serves `/metrics` on loopback. The client makes four calls (three answered,
//! one NOT_FOUND), then the example scrapes `/metrics` over plain HTTP and prints the
//! `rpc_*` lines but the quantiles: calls started and finished by status code, calls in
//! flight, and the count and sum of durations and request sizes.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Request, Response, Server, Status};
use rpc_metrics::{ClientMetricsLayer, ServerMetricsLayer};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceBuilder;

pub mod helloworld {
    rpc_core::include_proto!("helloworld");
}

use helloworld::greeter_client::GreeterClient;
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

/// Greets the people it knows, and no one else.
struct KnownGreeter;

const KNOWN: [&str; 2] = ["alice", "bob"];

impl Greeter for KnownGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        if !KNOWN.contains(&name.as_str()) {
            return Err(Status::not_found(format!("who is {name}?")));
        }
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}!"),
        }))
    }
}

/// A loopback address nobody listens on (the OS picks the port; the exporter binds it).
fn free_local_addr() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// The body of `GET /metrics`, as Prometheus would scrape it. No HTTP client needed: one
/// request, `Connection: close`, read to the end.
async fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (_head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP body"))?;
    Ok(body.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The recorder first: a layer registers each method's metrics on its first call.
    let metrics_addr = free_local_addr()?;
    // Histograms with buckets (cheaper than the default summaries, and aggregatable).
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("duration".into()),
            rpc_metrics::DURATION_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Suffix("size".into()), rpc_metrics::SIZE_BUCKETS)?
        .with_http_listener(metrics_addr)
        .install()?;

    let cert = SelfSigned::loopback()?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .layer(ServerMetricsLayer::new())
        .add_service(GreeterServer::new(KnownGreeter))
        .bind("127.0.0.1:0".parse()?)?;
    let port = server.local_addr().port();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());

    let channel = Endpoint::new(format!("localhost:{port}"))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    let client = GreeterClient::new(
        ServiceBuilder::new()
            .layer(ClientMetricsLayer::new())
            .service(channel),
    );
    for name in ["alice", "bob", "alice", "mallory"] {
        let request = HelloRequest { name: name.into() };
        match client.say_hello(request).await {
            Ok(reply) => println!("{name}: {}", reply.into_inner().message),
            Err(status) => println!("{name}: {:?} ({})", status.code(), status.message()),
        }
    }

    // Shut down first: a server call counts as finished when its future ends, which may be
    // just after the client has its answer.
    handle.shutdown();
    serving.await?;

    println!("scraped from http://{metrics_addr}/metrics:");
    for line in scrape(metrics_addr).await?.lines() {
        if line.starts_with("rpc_") && !line.contains("quantile=") {
            println!("{line}");
        }
    }
    Ok(())
}
