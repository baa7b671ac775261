//! Deadlines, cancellation, limits, shutdown and TLS failures, over QUIC on 127.0.0.1.
//! Timeouts here are hang guards, never timing assertions.

mod common;

use bytes::Bytes;
use common::*;
use rpc_core::{Code, Endpoint, Request, Status};
use rustls::pki_types::pem::PemObject;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test]
async fn deadline_exceeded_when_server_sleeps() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let mut req = Request::new(Msg {
        sleep_ms: 60_000,
        ..Default::default()
    });
    req.set_timeout(Duration::from_millis(200));
    let err = ch
        .unary("/test.Test/Unary", req, Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    // The server's handler was dropped too.
    assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 0).await);
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
}

#[tokio::test]
async fn channel_default_timeout_and_server_sees_remaining_time() {
    let srv = start();
    let ch = endpoint(srv.addr)
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap();
    let r = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
    let remaining: u64 = r.trailers().get("remaining-ms").unwrap().parse().unwrap();
    assert!(remaining > 0 && remaining <= 30_000, "{remaining}");
}

#[tokio::test]
async fn deadline_on_streaming_response() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let mut req = Request::new(Msg {
        count: 1000,
        sleep_ms: 100,
        ..Default::default()
    });
    req.set_timeout(Duration::from_millis(300));
    let res = ch
        .server_streaming("/test.Test/Expand", req, Codec::new())
        .await;
    let mut stream = res.unwrap().into_inner();
    let err = loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("stream should not end"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
}

#[tokio::test]
async fn client_cancel_before_response_drops_handler() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let call = ch.unary(
        "/test.Test/Unary",
        Request::new(Msg {
            sleep_ms: 60_000,
            ..Default::default()
        }),
        Codec::new(),
    );
    let _ = tokio::time::timeout(Duration::from_millis(200), call).await;
    assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 0).await);
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
    // The connection still works.
    ch.unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn client_cancel_after_first_response() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let req = Msg {
        count: 1_000_000,
        sleep_ms: 1,
        ..Default::default()
    };
    let mut stream = ch
        .server_streaming("/test.Test/Expand", Request::new(req), Codec::new())
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    drop(stream);
    assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 0).await);
    assert!(eventually(|| srv.handle.active_calls() == 0).await);

    // Bidi: cancel mid-way.
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(1);
    tx.send(msg(0)).await.unwrap();
    let mut stream = ch
        .streaming(
            "/test.Test/Chat",
            Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
            Codec::new(),
        )
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    drop(stream);
    assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 0).await);
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
    drop(tx);
}

#[tokio::test]
async fn oversize_request_is_resource_exhausted() {
    let srv = start_with(builder().max_decoding_message_size(1024));
    let ch = connect(srv.addr).await;
    let big = Msg {
        payload: Bytes::from(vec![1u8; 4096]),
        ..Default::default()
    };
    let err = ch
        .unary("/test.Test/Unary", Request::new(big), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    // Which side's limit, and the setting that raises it.
    assert_eq!(
        err.message(),
        "message of 4099 bytes exceeds the server's limit of 1024 bytes \
         (max_decoding_message_size on the server)"
    );
    ch.unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn oversize_response_is_resource_exhausted() {
    let srv = start();
    let ch = endpoint(srv.addr)
        .max_decoding_message_size(1024)
        .connect()
        .await
        .unwrap();
    let big = Msg {
        payload: Bytes::from(vec![1u8; 4096]),
        ..Default::default()
    };
    let err = ch
        .unary("/test.Test/Unary", Request::new(big), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(
        err.message().contains("the client's limit of 1024 bytes"),
        "{err}"
    );
    assert!(err.message().contains("max_decoding_message_size"), "{err}");
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
    ch.unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn oversize_send_fails_locally() {
    let srv = start();
    let ch = endpoint(srv.addr)
        .max_encoding_message_size(100)
        .connect()
        .await
        .unwrap();
    let big = Msg {
        payload: Bytes::from(vec![1u8; 4096]),
        ..Default::default()
    };
    let err = ch
        .unary("/test.Test/Unary", Request::new(big), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().contains("max_encoding_message_size"), "{err}");
}

#[tokio::test]
async fn oversize_metadata_is_resource_exhausted() {
    let srv = start_with(builder().max_header_list_size(512));
    let ch = connect(srv.addr).await;
    let mut req = Request::new(msg(1));
    req.metadata_mut().insert("big", &"x".repeat(2048)).unwrap();
    let err = ch
        .unary("/test.Test/Unary", req, Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_and_refuses_new() {
    let srv = start_with(builder().shutdown_grace_period(Duration::from_secs(30)));
    let ch = connect(srv.addr).await;
    let slow = {
        let ch = ch.clone();
        tokio::spawn(async move {
            ch.unary(
                "/test.Test/Unary",
                Request::new(Msg {
                    sleep_ms: 300,
                    seq: 5,
                    ..Default::default()
                }),
                Codec::new(),
            )
            .await
        })
    };
    assert!(eventually(|| srv.handle.active_calls() == 1).await);
    srv.handle.shutdown();
    // New calls on the existing connection are refused with Unavailable.
    let err = loop {
        match ch
            .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
            .await
        {
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    // Refused before any handler saw it (REFUSED_STREAM): safe to retry elsewhere.
    assert!(err.never_processed(), "{err}");
    // The call in flight completes.
    let r = slow.await.unwrap().unwrap();
    assert_eq!(r.into_inner().seq, 5);
    tokio::time::timeout(Duration::from_secs(60), srv.task)
        .await
        .unwrap()
        .unwrap();
    // New connections are refused.
    assert!(endpoint(srv.addr)
        .handshake_timeout(Duration::from_secs(2))
        .connect()
        .await
        .is_err());
}

/// A channel whose reconnection attempts fail within a second: once a server is gone nothing
/// answers (UDP), so an attempt ends at the handshake timeout.
async fn connect_failing_fast(addr: std::net::SocketAddr) -> rpc_core::Channel {
    endpoint(addr)
        .handshake_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap()
}

/// A steady stream of calls must not keep a shutting-down server accepting (the accept loop
/// takes ready streams before it looks at the shutdown watch), and the close must reach the
/// client although the last responses fill the congestion window (quinn-rs/quinn#2785).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_seen_under_a_flood_of_calls() {
    let srv = start_with(builder().shutdown_grace_period(Duration::from_secs(30)));
    let ch = connect_failing_fast(srv.addr).await;
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let ch = ch.clone();
            tokio::spawn(async move {
                let mut ok = 0u64;
                loop {
                    // Responses large enough to fill the congestion window at shutdown.
                    let request = Request::new(Msg {
                        payload: vec![7; 64 * 1024].into(),
                        ..msg(1)
                    });
                    match ch.unary("/test.Test/Unary", request, Codec::new()).await {
                        Ok(_) => ok += 1,
                        Err(e) => return (ok, e.code()),
                    }
                }
            })
        })
        .collect();
    assert!(eventually(|| srv.handle.active_calls() > 0).await);
    srv.handle.shutdown();
    tokio::time::timeout(Duration::from_secs(60), srv.task)
        .await
        .expect("the server stops under load")
        .unwrap();
    // Well inside the client's 30 s idle timeout: a CONNECTION_CLOSE the server failed to
    // send (quinn-rs/quinn#2785) shows up here as a caller still waiting.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for caller in callers {
        let (_, code) = tokio::time::timeout_at(deadline, caller)
            .await
            .expect("every caller sees the shutdown promptly")
            .unwrap();
        assert_eq!(code, Code::Unavailable);
    }
}

/// Calls still streaming when the grace period ends: the close must reach their clients
/// while their data is still flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_after_grace_reaches_streaming_clients() {
    let srv = start_with(builder().shutdown_grace_period(Duration::from_millis(100)));
    let ch = connect_failing_fast(srv.addr).await;
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let ch = ch.clone();
            tokio::spawn(async move {
                let request = Request::new(Msg {
                    payload: vec![7; 64 * 1024].into(),
                    count: u32::MAX,
                    ..Default::default()
                });
                let mut stream = ch
                    .server_streaming("/test.Test/Expand", request, Codec::new())
                    .await?
                    .into_inner();
                while stream.message().await?.is_some() {}
                Ok::<(), Status>(())
            })
        })
        .collect();
    assert!(eventually(|| srv.handle.active_calls() == 4).await);
    srv.handle.shutdown();
    // Well inside the client's 30 s idle timeout.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for reader in readers {
        let err = tokio::time::timeout_at(deadline, reader)
            .await
            .expect("every stream sees the shutdown promptly")
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err}");
    }
}

#[tokio::test]
async fn shutdown_after_grace_fails_calls_with_unavailable() {
    let srv = start_with(builder().shutdown_grace_period(Duration::from_millis(100)));
    let ch = connect(srv.addr).await;
    let slow = {
        let ch = ch.clone();
        tokio::spawn(async move {
            ch.unary(
                "/test.Test/Unary",
                Request::new(Msg {
                    sleep_ms: 60_000,
                    ..Default::default()
                }),
                Codec::new(),
            )
            .await
        })
    };
    assert!(eventually(|| srv.handle.active_calls() == 1).await);
    srv.handle.shutdown();
    let err = tokio::time::timeout(Duration::from_secs(60), slow)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}

#[tokio::test]
async fn lost_connection_is_unavailable() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let slow = {
        let ch = ch.clone();
        tokio::spawn(async move {
            ch.unary(
                "/test.Test/Unary",
                Request::new(Msg {
                    sleep_ms: 60_000,
                    ..Default::default()
                }),
                Codec::new(),
            )
            .await
        })
    };
    assert!(eventually(|| srv.handle.active_calls() == 1).await);
    ch.close();
    let err = slow.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    let err = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
}

#[tokio::test]
async fn untrusted_certificate_fails_handshake() {
    let srv = start();
    let other = rpc_core::tls::dev::SelfSigned::generate(&["localhost"]).unwrap();
    let err = Endpoint::from_addr(srv.addr)
        .tls_config(other.client_config())
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_handshake(), "{err}");
    // Default roots (Mozilla) do not trust a self-signed certificate either.
    let err = Endpoint::from_addr(srv.addr).connect().await.unwrap_err();
    assert!(err.is_handshake(), "{err}");
}

#[tokio::test]
async fn alpn_mismatch_fails_handshake_clearly() {
    let srv = start();
    // A raw quinn client offering another protocol.
    let err = raw_connection_with_alpn(srv.addr, b"h3").await.unwrap_err();
    assert!(
        err.to_string().contains("120") || err.to_string().contains("application"),
        "{err}"
    );
    // The server keeps serving.
    let ch = connect(srv.addr).await;
    ch.unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn garbage_on_a_stream_gets_a_status_and_connection_survives() {
    let srv = start();
    let ch = connect(srv.addr).await;
    // Speak raw frames through a second, raw QUIC connection with the right ALPN.
    let conn = raw_connection(srv.addr).await;
    for junk in [
        &b"\x01\x00\x00\x00\x00\x03\xff\xff\xff"[..], // HEADERS with a malformed protobuf
        b"\x00\x00\x00\x00\x00\x01x",                 // MESSAGE before HEADERS
        b"\x01\x00\xff\xff\xff\xff",                  // HEADERS claiming 4 GiB
        b"\x01\x00\x00",                              // truncated header
    ] {
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(junk).await.unwrap();
        send.finish().unwrap();
        let mut rx = rpc_core::wire::ClientRecv::new(rpc_core::wire::FrameLimits {
            max_message: 1 << 20,
            max_headers: 1 << 14,
        });
        let data = recv.read_to_end(1 << 20).await.unwrap();
        rx.handle_data(Bytes::from(data));
        rx.handle_fin();
        match rx.poll_event().unwrap() {
            Some(rpc_core::wire::ClientEvent::Trailers(Err(s))) => {
                assert!(
                    matches!(s.code(), Code::Internal | Code::ResourceExhausted),
                    "{s:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    // Both connections keep working.
    ch.unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
}

#[tokio::test]
async fn huge_timeout_means_no_deadline() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let mut req = Request::new(msg(3));
    req.set_timeout(Duration::MAX);
    let r = ch
        .unary("/test.Test/Unary", req, Codec::new())
        .await
        .unwrap();
    assert_eq!(r.into_inner().seq, 3);
}

#[tokio::test]
async fn client_reports_alpn_mismatch_clearly() {
    // A raw QUIC server that speaks a future version of the protocol.
    let identity = cert();
    let certs: Vec<_> =
        rustls::pki_types::CertificateDer::pem_slice_iter(identity.cert_pem().as_bytes())
            .map(|c| c.unwrap())
            .collect();
    let key =
        rustls::pki_types::PrivateKeyDer::from_pem_slice(identity.key_pem().as_bytes()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tls.alpn_protocols = vec![b"qrpc/2".to_vec()];
    let qs = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
    let server = quinn::Endpoint::server(
        quinn::ServerConfig::with_crypto(std::sync::Arc::new(qs)),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            let _ = incoming.await;
        }
    });
    let err = endpoint(addr).connect().await.unwrap_err();
    assert!(err.is_handshake(), "{err}");
    assert!(err.to_string().contains("ALPN mismatch"), "{err}");
}

/// A hand-written service whose dispatch panics for one method.
struct Fragile;

impl rpc_core::server::NamedService for Fragile {
    const NAME: &'static str = "test.Fragile";
}

impl rpc_core::server::Service for Fragile {
    fn call(&self, call: rpc_core::server::ServerCall) -> rpc_core::server::CallFuture {
        match call.method() {
            "Boom" => panic!("dispatch bug"),
            _ => rpc_core::server::unimplemented(call),
        }
    }
}

#[tokio::test]
async fn a_panicking_dispatch_fails_its_call_only() {
    let srv = start_with(builder().add_service(Fragile));
    let ch = connect(srv.addr).await;
    // A call in flight on the same connection must not be lost.
    let slow = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let m = Msg {
                seq: 9,
                sleep_ms: 300,
                ..Default::default()
            };
            ch.unary("/test.Test/Unary", Request::new(m), Codec::new())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let boom = ch
        .unary("/test.Fragile/Boom", Request::new(msg(1)), Codec::new())
        .await
        .unwrap_err();
    // The dispatch failed before a handler took the call: the stream is reset with
    // INTERNAL_ERROR (PROTOCOL.md §7.1, S20).
    assert_eq!(boom.code(), Code::Internal, "{boom}");
    assert_eq!(slow.await.unwrap().unwrap().into_inner().seq, 9);
    let other = ch
        .unary("/test.Fragile/Other", Request::new(msg(3)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::Unimplemented);
}

/// `timeout_micros = 0`: the deadline passed on arrival, so the server resets the call with
/// DEADLINE_EXCEEDED without running the handler (PROTOCOL.md §8).
#[tokio::test]
async fn zero_timeout_is_reset_without_running_the_handler() {
    use prost::Message;
    let srv = start();
    let conn = raw_connection(srv.addr).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let mut b = bytes::BytesMut::new();
    rpc_core::wire::encode::request_head(
        &rpc_core::wire::RequestHead {
            path: "/test.Test/Unary".into(),
            timeout: Some(Duration::ZERO),
            flags: 0,
            metadata: Default::default(),
        },
        &mut b,
    );
    rpc_core::wire::encode::raw_message(&msg(1).encode_to_vec(), &mut b);
    send.write_all(&b).await.unwrap();
    send.finish().unwrap();
    match recv.read_to_end(1 << 20).await {
        Err(rpc_core::transport::quic::quinn::ReadToEndError::Read(
            rpc_core::transport::quic::quinn::ReadError::Reset(code),
        )) => {
            assert_eq!(
                code,
                rpc_core::transport::quic::quinn::VarInt::from_u32(0x2)
            )
        }
        other => panic!("expected a DEADLINE_EXCEEDED reset, got {other:?}"),
    }
    // The connection still serves.
    let ch = connect(srv.addr).await;
    let ok = ch
        .unary("/test.Test/Unary", Request::new(msg(2)), Codec::new())
        .await
        .unwrap();
    assert_eq!(ok.into_inner().seq, 2);
}

#[tokio::test]
async fn the_handle_tells_when_a_shutdown_starts() {
    let srv = start();
    let started = srv.handle.shutdown_started();
    assert!(!srv.handle.is_shutting_down());
    srv.handle.shutdown();
    tokio::time::timeout(Duration::from_secs(10), started)
        .await
        .expect("shutdown_started resolves");
    assert!(srv.handle.is_shutting_down());
}

/// A request message that fails locally in the middle of a bidirectional call ends the call
/// with that status at the client, and cancels it at the server (PROTOCOL.md §11.2 C16).
#[tokio::test]
async fn a_local_error_mid_stream_is_the_outcome_of_a_bidi_call() {
    let srv = start();
    let ch = endpoint(srv.addr)
        .max_encoding_message_size(100)
        .connect()
        .await
        .unwrap();
    let big = Msg {
        payload: Bytes::from(vec![1u8; 4096]),
        ..Default::default()
    };
    // One message that fits, one that does not, then nothing more (the stream stays open).
    let requests = futures_util::StreamExt::chain(
        futures_util::stream::iter([msg(1), big]),
        futures_util::stream::pending(),
    );
    // Depending on how soon the second message is encoded, the call fails before its first
    // answer or from its response stream; either way, with the local status.
    let call = async {
        let mut replies = ch
            .streaming("/test.Test/Chat", Request::new(requests), Codec::new())
            .await?
            .into_inner();
        while replies.message().await?.is_some() {}
        Ok::<_, Status>(())
    };
    let err = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the local error ends the call")
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("max_encoding_message_size"), "{err}");
    // The server's handler was cancelled with the call.
    assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 0).await);
}
