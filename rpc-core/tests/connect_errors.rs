//! What connecting tells a user when it fails, and how soon.

mod common;

use common::*;
use rpc_core::{Code, Endpoint, Request};
use std::time::Duration;

/// A loopback UDP port where nothing answers (a QUIC server that is not running).
fn silent_port() -> (std::net::UdpSocket, std::net::SocketAddr) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

#[tokio::test]
async fn a_server_that_is_not_running_is_named_as_such() {
    let (_socket, addr) = silent_port();
    // Loopback: the default wait is 2 s, not 10.
    let err = endpoint(addr).connect().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let text = err.to_string();
    assert!(text.contains("within 2s"), "{text}");
    assert!(
        text.contains("is the server running, and listening on UDP"),
        "{text}"
    );
    assert!(text.contains("connect_timeout"), "{text}");

    let err = endpoint(addr)
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("within 300ms"), "{err}");
}

#[tokio::test]
async fn an_untrusted_certificate_says_what_to_do_once() {
    let srv = start();
    // The default roots (Mozilla's) do not include the test's self-signed certificate.
    let err = Endpoint::from_addr(srv.addr).connect().await.unwrap_err();
    assert!(err.is_handshake(), "{err}");
    let text = err.to_string();
    assert!(text.contains("ClientTlsConfig::ca_certificate"), "{text}");
    assert!(text.contains("tls::dev::SelfSigned"), "{text}");
    // The reason is told once, not again by the source.
    assert_eq!(
        text.matches("invalid peer certificate").count(),
        1,
        "{text}"
    );
}

#[tokio::test]
async fn clear_timeout_lifts_the_channel_default_for_one_call() {
    let srv = start();
    let ch = endpoint(srv.addr)
        .timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let mut slow = msg(1);
    slow.sleep_ms = 600;
    let err = ch
        .unary("/test.Test/Unary", Request::new(slow.clone()), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    let mut req = Request::new(slow);
    req.clear_timeout();
    let reply = ch
        .unary("/test.Test/Unary", req, Codec::new())
        .await
        .unwrap();
    // The server saw no deadline at all.
    assert_eq!(reply.trailers().get("remaining-ms"), None);
}
