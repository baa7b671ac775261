//! Points of `docs/PROTOCOL.md` that an independent implementer could not settle from the text
//! alone, checked against the reference implementation.
mod common;

use bytes::{Bytes, BytesMut};
use common::{builder, cert, raw_connection, start, start_with};
use rpc_core::transport::quic::quinn;
use rpc_core::wire::{self, ClientEvent, ClientRecv, FrameLimits, RequestHead};
use rpc_core::{Code, Status};
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

/// §3.1, §3.3, §18.1: a server advertises `max_datagram_frame_size` (datagrams bound to
/// calls) unless datagrams are off; then a peer sees no datagram support (and may not send
/// DATAGRAM frames).
#[tokio::test]
async fn server_advertises_datagrams_unless_off() {
    for (server, advertised) in [
        (start(), true),
        (start_with(builder().datagrams(false)), false),
    ] {
        let conn = tokio::time::timeout(LIMIT, raw_connection(server.addr))
            .await
            .expect("handshake");
        assert_eq!(conn.max_datagram_size().is_some(), advertised);
        conn.close(0u32.into(), b"");
    }
}

/// §3.1, §3.3, §18.1: so does a client.
#[tokio::test]
async fn client_advertises_datagrams_unless_off() {
    for advertised in [true, false] {
        let endpoint = raw_server();
        let addr = endpoint.local_addr().unwrap();
        let accept = async {
            let incoming = endpoint.accept().await.expect("an incoming connection");
            incoming.await.expect("handshake")
        };
        let client = common::endpoint(addr).datagrams(advertised);
        let connect = client.connect();
        let (conn, channel) = tokio::time::timeout(LIMIT, async { tokio::join!(accept, connect) })
            .await
            .expect("handshake in time");
        let channel = channel.expect("the client connects");
        assert_eq!(
            conn.handshake_data()
                .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
                .and_then(|d| d.protocol),
            Some(rpc_core::wire::ALPN.to_vec())
        );
        assert_eq!(conn.max_datagram_size().is_some(), advertised);
        channel.close();
    }
}

/// A plain quinn server speaking our ALPN with the test certificate and quinn's default
/// transport settings (which do advertise datagrams).
fn raw_server() -> quinn::Endpoint {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(cert().cert_pem().as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(cert().key_pem().as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tls.alpn_protocols = vec![rpc_core::wire::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// §5.1: any characters but `/` are valid in a path's service and method; a path the server
/// does not serve is `UNIMPLEMENTED`, never a malformed head, and nothing is decoded.
#[tokio::test]
async fn path_characters_are_not_restricted() {
    let server = start();
    let conn = raw_connection(server.addr).await;
    for path in [
        "/test.Test/Un\0ary",
        "/test%2ETest/Unary",
        "/test.Test/Un%61ry",
        "/test.Test/ Unary",
        "/test.Test/Unary\n",
        "/tést.Test/Unary",
        "/.test.Test./Un.ary",
        "/\u{7f}/\u{1}",
    ] {
        let status = unary_status(&conn, path).await;
        assert_eq!(status.code(), Code::Unimplemented, "{path:?}: {status:?}");
    }
    // The same server answers a path it serves.
    assert_eq!(
        unary_status(&conn, "/test.Test/Unary").await.code(),
        Code::Ok
    );
}

/// §10: a stream opened implicitly (by data on a higher-numbered stream) is accepted in order
/// and gets the request head timeout like any other, without blocking the stream after it.
#[tokio::test]
async fn implicitly_opened_stream_is_accepted_and_timed_out() {
    let server = start_with(builder().header_timeout(Duration::from_millis(300)));
    let conn = raw_connection(server.addr).await;
    // Stream 0: opened here, but nothing is ever sent on it.
    let (_silent_send, mut silent_recv) = conn.open_bi().await.unwrap();
    // Stream 4: a whole call, whose data opens stream 0 at the server too.
    let status = tokio::time::timeout(LIMIT, unary_status(&conn, "/test.Test/Unary"))
        .await
        .expect("the later stream is not held up by the silent one");
    assert_eq!(status.code(), Code::Ok);
    let read = tokio::time::timeout(LIMIT, silent_recv.read_to_end(1024))
        .await
        .expect("the silent stream is reset by the head timeout");
    match read {
        Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(code))) => {
            assert_eq!(code, quinn::VarInt::from_u32(wire::ErrorCode::CANCELLED.0));
        }
        other => panic!("expected a reset with CANCELLED, got {other:?}"),
    }
}

/// Sends a unary call (head, one empty message, FIN) to `path` and returns its final status.
async fn unary_status(conn: &quinn::Connection, path: &str) -> Status {
    let mut b = BytesMut::new();
    wire::encode::request_head(
        &RequestHead {
            path: path.into(),
            timeout: None,
            flags: 0,
            metadata: Default::default(),
        },
        &mut b,
    );
    wire::encode::raw_message(&[], &mut b);
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&b).await.unwrap();
    send.finish().unwrap();
    let data = recv.read_to_end(1 << 20).await.unwrap();
    let mut rx = ClientRecv::new(FrameLimits {
        max_message: 1 << 20,
        max_headers: 1 << 14,
    });
    rx.handle_data(Bytes::from(data));
    rx.handle_fin();
    loop {
        match rx.poll_event().unwrap() {
            Some(ClientEvent::Trailers(outcome)) => {
                return outcome.err().unwrap_or_else(|| Status::new(Code::Ok, ""))
            }
            Some(_) => continue,
            None => panic!("no trailers"),
        }
    }
}
