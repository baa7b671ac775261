//! The drain notice (PROTOCOL.md §12.1), over real QUIC on 127.0.0.1: a server that will take
//! no new call on a connection (shutting down, or the connection reached its maximum age)
//! says so on its control stream; the client moves its next calls to a new connection while
//! the calls in flight finish on the old one.

mod common;

use common::*;
use rpc_core::client::ConnectivityState;
use rpc_core::{Channel, Request, Status};
use std::time::Duration;

/// A hang guard, never a timing assertion.
const GUARD: Duration = Duration::from_secs(30);

fn slow(ms: u64) -> Msg {
    Msg {
        seq: ms,
        sleep_ms: ms,
        ..Default::default()
    }
}

async fn unary(ch: &Channel, m: Msg) -> Result<Msg, Status> {
    ch.unary("/test.Test/Unary", Request::new(m), Codec::new())
        .await
        .map(|r| r.into_inner())
}

async fn wait_for(ch: &Channel, state: ConnectivityState) {
    let mut watch = ch.watch_state();
    tokio::time::timeout(GUARD, watch.wait_for(|s| *s == state))
        .await
        .unwrap_or_else(|_| panic!("never {state:?} (now {:?})", ch.state()))
        .unwrap();
}

/// The exact bytes: a raw QUIC client that allows a unidirectional stream gets `DRAIN`
/// (`03 00 00 00 00 00`, then FIN) on the server's control stream when it shuts down.
#[tokio::test]
async fn shutdown_sends_the_drain_frame() {
    let srv = start();
    let conn = raw_connection(srv.addr).await;
    srv.handle.shutdown();
    let mut control = tokio::time::timeout(GUARD, conn.accept_uni())
        .await
        .expect("no control stream")
        .unwrap();
    let bytes = tokio::time::timeout(GUARD, control.read_to_end(64))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bytes, [0x03, 0, 0, 0, 0, 0]);
    assert_eq!(control.id().index(), 0);
    tokio::time::timeout(GUARD, srv.task)
        .await
        .unwrap()
        .unwrap();
}

/// Shutting down with a call in flight: the client is told at once (its channel turns Idle
/// while the call still runs), the call completes, and the server stops.
#[tokio::test]
async fn shutdown_drains_then_in_flight_calls_finish() {
    let srv = start();
    let ch = connect(srv.addr).await;
    assert_eq!(unary(&ch, msg(1)).await.unwrap().seq, 1);
    assert_eq!(ch.state(), ConnectivityState::Ready);
    let in_flight = {
        let ch = ch.clone();
        tokio::spawn(async move { unary(&ch, slow(1500)).await })
    };
    assert!(eventually(|| srv.handle.active_calls() == 1).await);
    srv.handle.shutdown();
    wait_for(&ch, ConnectivityState::Idle).await;
    assert!(!in_flight.is_finished(), "the notice came after the call");
    assert!(!ch.is_connected());
    let done = tokio::time::timeout(GUARD, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.unwrap().seq, 1500);
    tokio::time::timeout(GUARD, srv.task)
        .await
        .unwrap()
        .unwrap();
}

/// Maximum connection age: the connection is drained once old; calls made after the notice
/// go to a new connection and succeed, the call in flight completes on the old one, and the
/// client closes the old connection after it (before the server's 60 s grace).
#[tokio::test]
async fn max_connection_age_moves_new_calls_to_a_new_connection() {
    let srv = start_with(
        builder()
            .max_connection_age(Duration::from_millis(400))
            .max_connection_age_grace(Duration::from_secs(60)),
    );
    let ch = connect(srv.addr).await;
    let in_flight = {
        let ch = ch.clone();
        tokio::spawn(async move { unary(&ch, slow(2000)).await })
    };
    assert!(eventually(|| srv.handle.active_calls() == 1).await);
    wait_for(&ch, ConnectivityState::Idle).await;
    // A new call: on a new connection, not refused.
    assert_eq!(unary(&ch, msg(7)).await.unwrap().seq, 7);
    assert!(!in_flight.is_finished(), "the call in flight ended early");
    let done = tokio::time::timeout(GUARD, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.unwrap().seq, 2000);
    // The old connection, drained and without calls, is closed by the client; the new one
    // is drained in turn once old, so all that is left is at most one connection.
    assert!(eventually(|| srv.handle.active_connections() <= 1).await);
    for i in 0..5 {
        assert_eq!(unary(&ch, msg(i)).await.unwrap().seq, i);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    srv.handle.shutdown();
}
