//! The classic four-kind example: unary `GetFeature`, server-streaming `ListFeatures`,
//! client-streaming `RecordRoute` and bidirectional `RouteChat`.
//!
//! ```text
//! cargo run -p examples --bin route_guide            # server and client in one process
//! cargo run -p examples --bin route_guide -- server  # a server on 127.0.0.1:10000
//! cargo run -p examples --bin route_guide -- server 127.0.0.1:0   # on another address
//! cargo run -p examples --bin route_guide -- client  # a client calling it
//! cargo run -p rpc-health --bin rpc-health-probe -- --addr localhost:10000 --insecure-dev
//! cargo run -p examples --bin route_guide -- server 127.0.0.1:10000 --browser
//! ```
//!
//! With `--browser`, the server also serves browsers on the next port (10001): WebTransport
//! over UDP (`rpc-webtransport`, a development certificate pinned by its SHA-256 hash) and
//! gRPC-Web over TCP (`rpc-grpc`, cleartext, CORS open to any page). It prints the URL of
//! the demo page, `rpc-webtransport/js/demo/route_guide.html`, which calls both; serve
//! `rpc-webtransport/js/` over HTTP on 127.0.0.1 for it (a secure context):
//!
//! ```text
//! python3 -m http.server -b 127.0.0.1 -d rpc-webtransport/js 8080
//! ```
//!
//! The server also serves the standard health service (`rpc-health`), which reports
//! `NOT_SERVING` once a graceful shutdown starts, and the server reflection service
//! (`rpc-reflection`) with route_guide's descriptors, embedded by `build.rs`. The service
//! itself is in `examples/src/route_guide.rs`.

use examples::route_guide::routeguide::route_guide_client::RouteGuideClient;
use examples::route_guide::routeguide::{Point, Rectangle, RouteNote};
use examples::route_guide::{bind, features};
use futures_util::stream;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::Endpoint;
use rpc_health::{HealthCheckRequest, HealthClient};
use rpc_reflection::pb::server_reflection_request::MessageRequest;
use rpc_reflection::pb::server_reflection_response::MessageResponse;
use rpc_reflection::{ServerReflectionClient, ServerReflectionRequest};
use std::net::SocketAddr;

/// Serves the server's services to browsers on the port after `addr`'s: WebTransport (UDP)
/// and gRPC-Web (TCP). Prints what a page needs.
async fn serve_browsers(
    handle: rpc_core::server::ServerHandle,
    addr: SocketAddr,
) -> Result<(), Box<dyn std::error::Error>> {
    // The next port; any free one when the server's own was picked by the system.
    let port = if addr.port() == 0 { 0 } else { addr.port() + 1 };
    let web_addr = SocketAddr::new(addr.ip(), port);
    // Browsers accept a self-signed certificate only by hash, and only for 14 days: a fresh
    // one per run.
    let cert = rpc_webtransport::dev::BrowserDevCertificate::loopback()?;
    let wt = rpc_webtransport::WebTransportServer::new(handle.clone())
        .bind(web_addr, cert.server_config()?)?;
    let http = rpc_grpc::GrpcServer::new(handle)
        .grpc_web(true)
        .bind(wt.local_addr())
        .await?;
    let (wt_url, hash) = (wt.url(), cert.sha256_hex());
    let grpc_web = format!("http://{}", http.local_addr());
    println!("WebTransport: {wt_url} (certificate sha-256 {hash})");
    println!("gRPC-Web:     {grpc_web}");
    println!(
        "Demo page:    http://127.0.0.1:8080/demo/route_guide.html?wt={wt_url}&hash={hash}&grpcweb={grpc_web}"
    );
    println!("              (python3 -m http.server -b 127.0.0.1 -d rpc-webtransport/js 8080)");
    tokio::spawn(wt.serve());
    tokio::spawn(http.serve());
    Ok(())
}

async fn run_client(addr: SocketAddr, cert: &SelfSigned) -> Result<(), Box<dyn std::error::Error>> {
    let channel = Endpoint::new(format!("localhost:{}", addr.port()))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    let client = RouteGuideClient::new(channel.clone());

    // Health: is the RouteGuide service serving?
    let health = HealthClient::new(channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: "routeguide.RouteGuide".into(),
        })
        .await?
        .into_inner()
        .status();
    println!("Health: {}", status.as_str_name());

    // Reflection: which services does the server describe, and where is GetFeature?
    let reflection = ServerReflectionClient::new(channel);
    let ask = |what| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(what),
    };
    let requests = [
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "routeguide.RouteGuide.GetFeature".into(),
        )),
    ];
    let mut answers = reflection
        .server_reflection_info(stream::iter(requests))
        .await?
        .into_inner();
    while let Some(answer) = answers.message().await? {
        match answer.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
                println!("Reflection: services {}", names.join(", "));
            }
            Some(MessageResponse::FileDescriptorResponse(files)) => println!(
                "Reflection: GetFeature is in {} file(s)",
                files.file_descriptor_proto.len()
            ),
            other => println!("Reflection: {other:?}"),
        }
    }

    // Unary.
    let feature = client
        .get_feature(Point {
            latitude: 409_146_138,
            longitude: -746_188_906,
        })
        .await?
        .into_inner();
    println!("GetFeature: {:?}", feature.name);
    let feature = client
        .get_feature(Point {
            latitude: 407_838_351,
            longitude: -746_143_763,
        })
        .await?
        .into_inner();
    println!("GetFeature: {}", feature.name);

    // Server streaming.
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
    while let Some(f) = listed.message().await? {
        count += 1;
        println!("ListFeatures: {}", f.name);
    }
    println!("ListFeatures: {count} features");

    // Client streaming.
    let route: Vec<Point> = features().iter().filter_map(|f| f.location).collect();
    let summary = client.record_route(stream::iter(route)).await?.into_inner();
    println!(
        "RecordRoute: {} points, {} features, {} m",
        summary.point_count, summary.feature_count, summary.distance
    );

    // Bidirectional.
    let notes = (0..4).map(|i| RouteNote {
        location: Some(Point {
            latitude: i % 2,
            longitude: 0,
        }),
        message: format!("note {i}"),
    });
    let mut replies = client.route_chat(stream::iter(notes)).await?.into_inner();
    while let Some(note) = replies.message().await? {
        println!("RouteChat: got {:?}", note.message);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::loopback()?;
    let addr: SocketAddr = std::env::args()
        .nth(2)
        .filter(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "127.0.0.1:10000".to_owned())
        .parse()?;
    match std::env::args().nth(1).unwrap_or_default().as_str() {
        "server" => {
            let server = bind(&cert, addr)?;
            println!(
                "RouteGuide listening on {} (Ctrl-C or SIGTERM to stop)",
                server.local_addr()
            );
            if std::env::args().any(|a| a == "--browser") {
                serve_browsers(server.handle(), addr).await?;
            }
            server
                // Drains gracefully on Ctrl-C or SIGTERM.
                .serve_with_shutdown(rpc_core::server::shutdown_signal())
                .await;
        }
        "client" => run_client(addr, &cert).await?,
        _ => {
            let server = bind(&cert, "127.0.0.1:0".parse()?)?;
            let addr = server.local_addr();
            let handle = server.handle();
            let serving = tokio::spawn(server.serve());
            run_client(addr, &cert).await?;
            handle.shutdown();
            serving.await?;
        }
    }
    Ok(())
}
