//! A channel outlives its connection: after the server restarts, the next call reconnects.

mod common;

use common::*;
use rpc_core::{Code, Request};
use std::time::Duration;

async fn call(ch: &rpc_core::Channel) -> Result<Msg, rpc_core::Status> {
    ch.unary("/test.Test/Unary", Request::new(msg(7)), Codec::new())
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn channel_reconnects_after_server_restart() {
    let first = start();
    let addr = first.addr;
    // A short handshake timeout: with the server gone, a reconnect attempt waits that long.
    let ch = endpoint(addr)
        .handshake_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    assert_eq!(call(&ch).await.unwrap().seq, 7);

    first.handle.shutdown();
    tokio::time::timeout(Duration::from_secs(60), first.task)
        .await
        .unwrap()
        .unwrap();
    let err = call(&ch).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");

    // Same address again.
    let second = start_with_addr(builder(), addr);
    let mut ok = false;
    for _ in 0..200 {
        match call(&ch).await {
            Ok(m) => {
                assert_eq!(m.seq, 7);
                ok = true;
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), Code::Unavailable, "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(ok, "the channel did not reconnect");
    assert!(ch.is_connected());
    second.handle.shutdown();
}

#[tokio::test]
async fn lazy_channel_connects_on_first_call() {
    // Reserve a port, then free it, then start the server there after the channel exists.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let ch = endpoint(addr)
        .handshake_timeout(Duration::from_millis(300))
        .connect_lazy();
    assert!(!ch.is_connected());
    let err = call(&ch).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");

    let srv = start_with_addr(builder(), addr);
    let mut ok = false;
    for _ in 0..200 {
        if call(&ch).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok);
    srv.handle.shutdown();
}
