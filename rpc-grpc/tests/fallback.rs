//! Transport fallback end to end over real sockets on 127.0.0.1 (PROTOCOL.md §20): QUIC
//! when it answers, gRPC/HTTP2 when the QUIC port is silent. The same with UDP dropped by
//! the kernel is `fallback_netns.rs`.

mod fallback_support;

use fallback_support::{call, Running};
use rpc_core::transport::Security;
use rpc_core::Endpoint;
use rpc_grpc::{FallbackConnector, GrpcConnector, Transport};
use std::time::Duration;

#[tokio::test]
async fn quic_is_used_when_it_works() {
    let server = Running::start().await;
    let connector = server.connector();
    assert_eq!(call(&connector, "hello").await, Transport::Quic);
    assert_eq!(connector.transport(), Some(Transport::Quic));
    assert!(!connector.is_quic_broken());
    // QUIC with a development certificate to loopback; HTTP/2 with TLS: the weaker.
    let channel = connector.clone().connect().await.unwrap();
    assert_eq!(channel.transport_security(), Security::DevLoopback);
    server.stop().await;
}

/// A QUIC port that never answers (a bound UDP socket nobody reads): HTTP/2 after the head
/// start, remembered for the next connection.
#[tokio::test]
async fn a_silent_quic_port_falls_back_to_http2() {
    let server = Running::start().await;
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tls = server.cert.client_config();
    let quic = Endpoint::from_addr(silent.local_addr().unwrap()).tls_config(tls.clone());
    let http2 = GrpcConnector::new(format!("https://{}", server.http2))
        .unwrap()
        .tls_config(tls)
        .unwrap();
    let connector = FallbackConnector::new(quic, http2).head_start(Duration::from_millis(50));
    let calls = async {
        assert_eq!(call(&connector, "first").await, Transport::Http2);
        assert!(connector.is_quic_broken());
        assert_eq!(call(&connector, "second").await, Transport::Http2);
    };
    // A bound against hangs only: the fallback takes the head start, not a QUIC timeout.
    tokio::time::timeout(Duration::from_secs(20), calls)
        .await
        .expect("fell back in time");
    assert_eq!(connector.transport(), Some(Transport::Http2));
    server.stop().await;
}

/// Cleartext h2c only when configured so, and then the channel says it is unprotected.
#[tokio::test]
async fn a_cleartext_fallback_reports_no_protection() {
    let cert = rpc_core::tls::dev::SelfSigned::generate(&["localhost"]).unwrap();
    let quic = Endpoint::new("localhost:1")
        .unwrap()
        .tls_config(cert.client_config());
    let http2 = GrpcConnector::new("http://127.0.0.1:1").unwrap();
    let channel = FallbackConnector::new(quic, http2)
        .endpoint()
        .connect_lazy();
    assert_eq!(channel.transport_security(), Security::Unknown);
}
