//! `Status::never_processed`: which failures are known to be before any handler.

mod common;

use common::*;
use rpc_core::{Code, Request};
use std::time::Duration;

#[tokio::test]
async fn calls_that_were_never_sent_are_marked() {
    let srv = start();
    let ch = connect(srv.addr).await;
    ch.close();
    let err = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.never_processed(), "{err}");

    // Nobody listening: the connect fails, nothing was sent.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let ch = endpoint(dead.local_addr().unwrap())
        .handshake_timeout(Duration::from_millis(200))
        .connect_lazy();
    let err = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.never_processed(), "{err}");
}

#[tokio::test]
async fn failures_after_the_server_got_the_call_are_not() {
    let srv = start_with(builder().shutdown_grace_period(Duration::from_millis(100)));
    let ch = connect(srv.addr).await;
    // A handler's own UNAVAILABLE: the call was processed.
    let mut m = msg(1);
    m.fail_code = Code::Unavailable as u32;
    let err = ch
        .unary("/test.Test/Unary", Request::new(m), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(!err.never_processed());

    // A call still running when the grace period ends: the connection closes under it.
    let mut slow = msg(2);
    slow.sleep_ms = 30_000;
    let call = {
        let ch = ch.clone();
        tokio::spawn(async move {
            ch.unary("/test.Test/Unary", Request::new(slow), Codec::new())
                .await
        })
    };
    assert!(eventually(|| srv.handle.active_calls() == 1).await);
    srv.handle.shutdown();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(!err.never_processed(), "{err}");
}
