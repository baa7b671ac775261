//! Dead-peer detection (PROTOCOL.md §3.4), over real QUIC on 127.0.0.1 with the lossy socket
//! wrapper: a blackholed peer is noticed at the keep-alive timeout, long before the idle
//! timeout (set to a minute here, so that only the keep-alive timeout can end the calls
//! within the hang guard); and a restarted server with the same stateless reset key resets
//! its old connections at once.

mod common;

use common::lossy::Lossy;
use common::*;
use rpc_core::client::ConnectivityState;
use rpc_core::{Channel, Code, Request, Status};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Idle timeout of every connection here: far beyond the hang guards.
const IDLE: Duration = Duration::from_secs(60);
/// A hang guard, never a timing assertion; well under `IDLE`.
const GUARD: Duration = Duration::from_secs(20);

fn sleeping(ms: u64) -> Msg {
    Msg {
        sleep_ms: ms,
        ..Default::default()
    }
}

async fn unary(ch: &Channel, m: Msg) -> Result<Msg, Status> {
    ch.unary("/test.Test/Unary", Request::new(m), Codec::new())
        .await
        .map(|r| r.into_inner())
}

/// The client's side: a blackhole (both ways) fails the calls in flight with UNAVAILABLE
/// within the keep-alive interval + timeout (0.2 s + 0.5 s), not the idle timeout (60 s);
/// the channel turns Idle, and once the path is back the next call reconnects.
#[tokio::test]
async fn a_blackholed_server_is_noticed_at_the_keep_alive_timeout() {
    let client_sock = Lossy::bind(0, 0, Duration::ZERO, 1);
    let faults = client_sock.faults.clone();
    let srv = start_with(builder().idle_timeout(IDLE));
    let ch = endpoint(srv.addr)
        .udp_socket(client_sock)
        .idle_timeout(IDLE)
        .keep_alive_interval(Some(Duration::from_millis(200)))
        .keep_alive_timeout(Some(Duration::from_millis(500)))
        .connect()
        .await
        .unwrap();
    assert_eq!(unary(&ch, msg(1)).await.unwrap().seq, 1);
    // Quiet for several intervals: a live peer is never declared dead.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ch.state(), ConnectivityState::Ready);
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let ch = ch.clone();
            tokio::spawn(async move { unary(&ch, sleeping(120_000)).await })
        })
        .collect();
    assert!(eventually(|| srv.handle.active_calls() == 5).await);
    faults.blackhole.store(true, Ordering::SeqCst);
    for call in calls {
        let err = tokio::time::timeout(GUARD, call)
            .await
            .expect("a call outlived the keep-alive timeout")
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err}");
    }
    assert_eq!(ch.state(), ConnectivityState::Idle);
    faults.blackhole.store(false, Ordering::SeqCst);
    assert_eq!(unary(&ch, msg(2)).await.unwrap().seq, 2);
    srv.handle.shutdown();
}

/// The server's side: a client gone silent is noticed at the server's keep-alive timeout;
/// its handlers are dropped and its connection released, long before the idle timeout.
#[tokio::test]
async fn a_blackholed_client_is_released_by_the_server() {
    let client_sock = Lossy::bind(0, 0, Duration::ZERO, 2);
    let faults = client_sock.faults.clone();
    let srv = start_with(
        builder()
            .idle_timeout(IDLE)
            .keep_alive_interval(Some(Duration::from_millis(200)))
            .keep_alive_timeout(Some(Duration::from_millis(500))),
    );
    let ch = endpoint(srv.addr)
        .udp_socket(client_sock)
        .idle_timeout(IDLE)
        .keep_alive_timeout(None)
        .connect()
        .await
        .unwrap();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let ch = ch.clone();
            tokio::spawn(async move { unary(&ch, sleeping(120_000)).await })
        })
        .collect();
    assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 3).await);
    faults.blackhole.store(true, Ordering::SeqCst);
    let released = tokio::time::timeout(GUARD, async {
        while srv.handle.active_connections() > 0 || srv.probe.0.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(released.is_ok(), "the server kept a dead client's calls");
    for call in calls {
        call.abort();
    }
    srv.handle.shutdown();
}

/// A server restarted on the same port with the same stateless reset key resets the
/// connections of its previous run: an old client's next call fails at once with
/// UNAVAILABLE (the keep-alive timeout is off and the idle timeout is a minute, so nothing
/// else could end it within the guard), and the call after it reconnects.
#[tokio::test]
async fn a_restarted_server_resets_old_connections() {
    const KEY: [u8; 32] = [7; 32];
    // The first server's socket can be silenced, as if its process died.
    let server_sock = Lossy::bind(0, 0, Duration::ZERO, 3);
    let faults = server_sock.faults.clone();
    let first = builder()
        .idle_timeout(IDLE)
        .stateless_reset_key(KEY)
        .add_service(TestService::default())
        .bind_socket(server_sock)
        .unwrap();
    let addr = first.local_addr();
    let first_handle = first.handle();
    let serving = tokio::spawn(first.serve());
    let ch = endpoint(addr)
        .idle_timeout(IDLE)
        .keep_alive_timeout(None)
        .connect()
        .await
        .unwrap();
    assert_eq!(unary(&ch, msg(1)).await.unwrap().seq, 1);

    // "Crash": nothing more reaches the client from the first server (not even its close),
    // then it is gone and its port free.
    faults.blackhole.store(true, Ordering::SeqCst);
    first_handle.shutdown();
    tokio::time::timeout(GUARD, serving).await.unwrap().unwrap();
    let second = tokio::time::timeout(GUARD, async {
        loop {
            let b = builder().idle_timeout(IDLE).stateless_reset_key(KEY);
            match b.add_service(TestService::default()).bind(addr) {
                Ok(server) => break server,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("the port was not freed");
    let handle = second.handle();
    tokio::spawn(second.serve());

    let err = tokio::time::timeout(GUARD, unary(&ch, msg(2)))
        .await
        .expect("the old connection was not reset")
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert_eq!(unary(&ch, msg(3)).await.unwrap().seq, 3);
    handle.shutdown();
}
