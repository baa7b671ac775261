//! A channel's connectivity (PROTOCOL.md §11.3) over the in-memory transport with paused
//! time: gRPC's connection backoff (1 s, x1.6, ±20 %, capped at 120 s) counted in attempts
//! at exact virtual instants, the connectivity states and their watch, and wait-for-ready
//! against fail-fast calls. No real time passes; every await has a (virtual) hang guard.

mod common;

use common::mem as memtest;
use common::{msg, Codec, Msg};
use rpc_core::client::{BackoffConfig, ConnectivityState, WaitForReady};
use rpc_core::transport::mem::{self, MemConfig, MemConnection, MemConnector};
use rpc_core::transport::Connector;
use rpc_core::{Channel, Code, Endpoint, Request, Server, Status};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const UNARY: &str = "/test.Test/Unary";

/// `f`, or a panic after an hour of virtual time: a hang guard, never a timing assertion.
async fn guard<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(3600), f)
        .await
        .expect("hung (an hour of virtual time)")
}

/// Connects with whichever connector it holds now, counting attempts.
struct CountingConnector {
    target: Arc<Mutex<MemConnector>>,
    attempts: Arc<AtomicUsize>,
}

impl Connector for CountingConnector {
    type Connection = MemConnection;

    async fn connect(&self) -> Result<MemConnection, rpc_core::Error> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let target = self.target.lock().unwrap().clone();
        target.connect().await
    }
}

/// A lazy channel to a server that is down (its connector swappable), and its attempt count.
fn down(
    endpoint: impl FnOnce(Endpoint) -> Endpoint,
) -> (Channel, Arc<Mutex<MemConnector>>, Arc<AtomicUsize>) {
    let (dead, listener) = mem::listener();
    drop(listener);
    let attempts = Arc::new(AtomicUsize::new(0));
    let target = Arc::new(Mutex::new(dead));
    let ch = endpoint(Endpoint::from_connector(CountingConnector {
        target: target.clone(),
        attempts: attempts.clone(),
    }))
    .connect_lazy();
    (ch, target, attempts)
}

fn up(target: &Mutex<MemConnector>) -> memtest::MemServer {
    let (live, listener) = mem::listener();
    let srv = memtest::serve(Server::builder(), listener, std::future::pending());
    *target.lock().unwrap() = live;
    srv
}

async fn call(ch: &Channel) -> Result<Msg, Status> {
    guard(ch.unary(UNARY, Request::new(msg(1)), Codec::new()))
        .await
        .map(|r| r.into_inner())
}

/// gRPC's defaults: the attempt after the first failure comes exactly 1 s after the failed
/// one started; each later pause is 1.6 times the previous one, spread by ±20 %, and never
/// more than 120 s (x 1.2). Calls in between fail fast without an attempt. Each attempt's
/// instant is found by probing every 10 ms of virtual time.
#[tokio::test(start_paused = true)]
async fn grpc_backoff_paces_attempts() {
    let (ch, target, attempts) = down(|e| e);
    let attempts = || attempts.load(Ordering::SeqCst);
    assert_eq!(ch.state(), ConnectivityState::Idle);
    assert_eq!(call(&ch).await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(attempts(), 1);
    assert_eq!(ch.state(), ConnectivityState::TransientFailure);

    // The first pause is exact.
    tokio::time::advance(Duration::from_millis(999)).await;
    assert_eq!(call(&ch).await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(attempts(), 1, "an attempt before the first 1 s pause ended");
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(call(&ch).await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(attempts(), 2, "no attempt once the first pause ended");

    // Later pauses: within ±20 % of 1.6^n s, capped at 120 s; spread (not all at the centre).
    let step = Duration::from_millis(10);
    let mut pause = 1.0f64;
    let mut off_centre = 0;
    for n in 0..14 {
        pause = (pause * 1.6).min(120.0);
        let (low, high) = (pause * 0.8, pause * 1.2);
        let before = attempts();
        let start = Instant::now();
        let took = loop {
            tokio::time::advance(step).await;
            let err = call(&ch).await.unwrap_err();
            assert_eq!(err.code(), Code::Unavailable, "{err}");
            if attempts() > before {
                break start.elapsed().as_secs_f64();
            }
            assert!(
                start.elapsed().as_secs_f64() <= high + 0.011,
                "pause {n}: no attempt within {high:.3} s"
            );
        };
        assert_eq!(attempts(), before + 1, "pause {n}: one attempt");
        assert!(
            took >= low - 0.001,
            "pause {n}: attempt after {took:.3} s, before {low:.3} s"
        );
        if (took - pause).abs() > 0.02 * pause {
            off_centre += 1;
        }
    }
    assert!(off_centre > 0, "no pause was spread by the jitter");

    // The server comes up: the first call after the pause connects; the channel is ready.
    let srv = up(&target);
    let mut ready = ch.watch_state();
    loop {
        tokio::time::advance(Duration::from_secs(1)).await;
        if call(&ch).await.is_ok() {
            break;
        }
    }
    assert_eq!(ch.state(), ConnectivityState::Ready);
    assert!(ready.has_changed().unwrap());
    assert_eq!(*ready.borrow_and_update(), ConnectivityState::Ready);
    assert_eq!(srv.calls.dispatched(), 1);
}

/// The states a channel goes through, as its watch sees them: Idle, Connecting,
/// TransientFailure (failed), Connecting, Ready, then Shutdown for good when closed.
#[tokio::test(start_paused = true)]
async fn connectivity_states_are_watched() {
    let backoff = BackoffConfig::new().jitter(0.0);
    let (ch, target, _) = down(|e| e.connect_backoff(backoff));
    let mut watch = ch.watch_state();
    assert_eq!(*watch.borrow_and_update(), ConnectivityState::Idle);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = {
        let seen = seen.clone();
        let mut watch = ch.watch_state();
        tokio::spawn(async move {
            while watch.changed().await.is_ok() {
                let state = *watch.borrow_and_update();
                seen.lock().unwrap().push(state);
                if state == ConnectivityState::Shutdown {
                    break;
                }
            }
        })
    };
    let settle = || async {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    };
    assert_eq!(call(&ch).await.unwrap_err().code(), Code::Unavailable);
    settle().await;
    let _srv = up(&target);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(call(&ch).await.unwrap().seq, 1);
    assert_eq!(ch.state(), ConnectivityState::Ready);
    settle().await;
    ch.close();
    assert_eq!(ch.state(), ConnectivityState::Shutdown);
    guard(recorder).await.unwrap();
    use ConnectivityState::*;
    // A watch keeps only the latest value: a `Connecting` may be overtaken before the
    // recorder runs. The rest is seen in order.
    let seen = seen.lock().unwrap().clone();
    let settled: Vec<_> = seen.iter().copied().filter(|s| *s != Connecting).collect();
    assert_eq!(settled, [TransientFailure, Ready, Shutdown], "{seen:?}");
    // Closed for good: calls fail, the state stays.
    assert_eq!(call(&ch).await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(ch.state(), Shutdown);
}

/// While the channel backs off, a fail-fast call fails at once with UNAVAILABLE; a call
/// that waits for ready waits through failed attempts (made on the backoff's schedule)
/// until the server is up, then succeeds; one whose deadline passes first ends with
/// DEADLINE_EXCEEDED.
#[tokio::test(start_paused = true)]
async fn wait_for_ready_waits_out_the_backoff() {
    let backoff = BackoffConfig::new().jitter(0.0);
    let (ch, target, attempts) = down(|e| e.connect_backoff(backoff));
    let count = attempts.clone();
    let attempts = move || count.load(Ordering::SeqCst);
    assert_eq!(call(&ch).await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(attempts(), 1);

    // Fail fast (the default): no time passes, no attempt.
    let start = Instant::now();
    let err = call(&ch).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(attempts(), 1);

    // Waiting with a deadline shorter than the pause: DEADLINE_EXCEEDED, no attempt.
    let mut short = Request::new(msg(2));
    short.extensions_mut().insert(WaitForReady(true));
    short.set_timeout(Duration::from_millis(500));
    let err = guard(ch.unary(UNARY, short, Codec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert_eq!(attempts(), 1);

    // Waiting with room: attempts at 1 s and 2.6 s after the first fail; the server comes
    // up at 3 s; the attempt at 5.16 s connects and the call succeeds.
    let waiting = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let mut request = Request::new(msg(3));
            request.extensions_mut().insert(WaitForReady(true));
            request.set_timeout(Duration::from_secs(30));
            ch.unary(UNARY, request, Codec::new()).await
        })
    };
    tokio::time::sleep_until(start + Duration::from_secs(3)).await;
    assert_eq!(attempts(), 3, "attempts at 1 s and 2.6 s");
    assert!(!waiting.is_finished(), "the waiting call gave up");
    let srv = up(&target);
    let response = guard(waiting).await.unwrap().unwrap();
    assert_eq!(response.into_inner().seq, 3);
    assert_eq!(attempts(), 4);
    assert_eq!(start.elapsed(), Duration::from_millis(5160));
    assert_eq!(srv.calls.dispatched(), 1);

    // The endpoint's default can be waiting too: the first attempt fails, the call waits
    // for the next.
    let (ch, target, attempts) = down(|e| e.connect_backoff(backoff).wait_for_ready(true));
    let waiting = {
        let ch = ch.clone();
        tokio::spawn(async move { call(&ch).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    let _srv = up(&target);
    assert_eq!(guard(waiting).await.unwrap().unwrap().seq, 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

/// Maximum connection age with a client that cannot be told (one that predates the drain
/// notice, `MemConfig::drain_notice(false)`): its calls are still
/// served after the connection's age (9 to 11 s here), none refused, until the grace period
/// (5 s) ends; then the connection is closed, and the next call reconnects.
#[tokio::test(start_paused = true)]
async fn max_connection_age_without_a_drain_notice_serves_until_the_grace_ends() {
    let (connector, listener) = MemConfig::default().drain_notice(false).listener();
    let builder = Server::builder()
        .max_connection_age(Duration::from_secs(10))
        .max_connection_age_grace(Duration::from_secs(5));
    let srv = memtest::serve(builder, listener, std::future::pending());
    let attempts = Arc::new(AtomicUsize::new(0));
    let ch = Endpoint::from_connector(CountingConnector {
        target: Arc::new(Mutex::new(connector)),
        attempts: attempts.clone(),
    })
    .connect()
    .await
    .unwrap();
    let start = Instant::now();
    // Past the age (at most 11 s), within the grace (at least 9 + 5 s): served.
    tokio::time::sleep_until(start + Duration::from_secs(12)).await;
    assert_eq!(call(&ch).await.unwrap().seq, 1);
    assert_eq!(srv.handle.active_connections(), 1);
    // Past age and grace (at most 16 s): closed by the server; the next call reconnects.
    tokio::time::sleep_until(start + Duration::from_millis(16_100)).await;
    assert_eq!(ch.state(), ConnectivityState::Idle);
    assert_eq!(call(&ch).await.unwrap().seq, 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(srv.calls.dispatched(), 2);
}

/// Maximum connection age with a client that takes the drain notice: at the age (9 to 11 s)
/// the client is told; its next call goes to a new connection (nothing refused) while the
/// call in flight (30 s) completes on the old one, which the client then closes, long before
/// the server's grace period (60 s) would.
#[tokio::test(start_paused = true)]
async fn max_connection_age_drains_to_a_new_connection() {
    let (connector, listener) = mem::listener();
    let builder = Server::builder()
        .max_connection_age(Duration::from_secs(10))
        .max_connection_age_grace(Duration::from_secs(60));
    let srv = memtest::serve(builder, listener, std::future::pending());
    let attempts = Arc::new(AtomicUsize::new(0));
    let ch = Endpoint::from_connector(CountingConnector {
        target: Arc::new(Mutex::new(connector)),
        attempts: attempts.clone(),
    })
    .connect()
    .await
    .unwrap();
    let start = Instant::now();
    let long = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let m = Msg {
                seq: 30,
                sleep_ms: 30_000,
                ..Default::default()
            };
            ch.unary(UNARY, Request::new(m), Codec::new()).await
        })
    };
    let mut state = ch.watch_state();
    guard(state.wait_for(|s| *s == ConnectivityState::Idle))
        .await
        .unwrap();
    let drained_at = start.elapsed();
    assert!(
        drained_at >= Duration::from_secs(9) && drained_at <= Duration::from_secs(11),
        "drained after {drained_at:?}"
    );
    assert_eq!(call(&ch).await.unwrap().seq, 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(srv.handle.active_connections(), 2);
    let done = guard(long).await.unwrap().unwrap();
    assert_eq!(done.into_inner().seq, 30);
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    // The old connection is closed once its last call ended, by the client (the server's
    // grace runs for a minute more); the second one, drained in turn at its age without a
    // call, was closed by the client at once.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(srv.handle.active_connections(), 0);
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}
