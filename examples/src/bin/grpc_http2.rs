//! route_guide over QUIC and standard gRPC over HTTP/2 at once, from one server, called with
//! both clients: the same generated `RouteGuideClient` over a QUIC channel and over an HTTP/2
//! channel (`rpc_grpc::GrpcConnector`), which also calls any other gRPC server (tonic,
//! grpc-go, ...). gRPC clients of other implementations call the HTTP/2 port as they would
//! any gRPC server; here it runs over TLS with ALPN `h2`, with the QUIC port's certificate.
//!
//! ```text
//! cargo run -p examples --bin grpc_http2
//! ```

use examples::route_guide::routeguide::route_guide_client::RouteGuideClient;
use examples::route_guide::routeguide::{Point, Rectangle, RouteNote};
use examples::route_guide::{bind, features};
use futures_util::stream;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Channel, Endpoint};

/// The four kinds of call, through whichever channel `channel` is.
async fn tour(name: &'static str, channel: Channel) -> Result<(), Box<dyn std::error::Error>> {
    let client = RouteGuideClient::new(channel);
    let feature = client
        .get_feature(Point {
            latitude: 407_838_351,
            longitude: -746_143_763,
        })
        .await?
        .into_inner();
    println!("{name}: GetFeature: {}", feature.name);

    let rect = Rectangle {
        lo: Some(Point {
            latitude: 400_000_000,
            longitude: -750_000_000,
        }),
        hi: Some(Point {
            latitude: 420_000_000,
            longitude: -730_000_000,
        }),
    };
    let mut listed = client.list_features(rect).await?.into_inner();
    let mut count = 0;
    while listed.message().await?.is_some() {
        count += 1;
    }
    println!("{name}: ListFeatures: {count} features");

    let route: Vec<Point> = features().iter().filter_map(|f| f.location).collect();
    let summary = client.record_route(stream::iter(route)).await?.into_inner();
    println!(
        "{name}: RecordRoute: {} points, {} features",
        summary.point_count, summary.feature_count
    );

    let notes = (0..2).map(move |i| RouteNote {
        location: Some(Point {
            latitude: 7,
            longitude: 7,
        }),
        message: format!("{name} note {i}"),
    });
    let mut replies = client.route_chat(stream::iter(notes)).await?.into_inner();
    let mut heard = 0;
    while replies.message().await?.is_some() {
        heard += 1;
    }
    println!("{name}: RouteChat: {heard} earlier notes");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::generate(&["localhost"])?;
    // One server: its QUIC port ...
    let server = bind(&cert, "127.0.0.1:0".parse()?)?;
    let quic = server.local_addr();
    // ... and the same services as gRPC over HTTP/2 on a TCP port (TLS, ALPN h2).
    let http = rpc_grpc::GrpcServer::new(server.handle())
        .tls_config(cert.server_config()?)
        .bind("127.0.0.1:0".parse()?)
        .await?;
    let h2 = http.local_addr();
    println!("serving route_guide on QUIC {quic} and gRPC/HTTP2 {h2}");
    let handle = server.handle();
    tokio::spawn(http.serve());
    let serving = tokio::spawn(server.serve());

    let over_quic = Endpoint::new(format!("localhost:{}", quic.port()))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    tour("QUIC", over_quic).await?;

    let over_http2 = rpc_grpc::GrpcConnector::new(format!("https://localhost:{}", h2.port()))?
        .tls_config(cert.client_config())?
        .connect()
        .await?;
    tour("HTTP/2", over_http2).await?;

    handle.shutdown();
    serving.await?;
    Ok(())
}
