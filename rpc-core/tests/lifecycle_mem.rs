//! The life of a call (deadlines, cancellation, shutdown, cardinality, reconnect backoff)
//! over the in-memory transport with paused time: every wait is virtual, so the tests are
//! deterministic and take no real time. Each await is bounded by a (virtual) hang guard, so
//! a regression fails instead of hanging. PROTOCOL.md §6.4, §8, §9, §11, §12.

mod common;

use common::mem::{self as memtest, FixedConnector, MemServer};
use common::{msg, Codec, Msg};
use futures_util::StreamExt;
use rpc_core::client::BackoffConfig;
use rpc_core::server::CallOutcome;
use rpc_core::transport::mem::{self, MemConnection, MemConnector};
use rpc_core::transport::{Connection, Connector, SendStream, StreamError};
use rpc_core::wire::{ClientEvent, ErrorCode};
use rpc_core::{Channel, Code, Endpoint, Request, Server, Status};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const UNARY: &str = "/test.Test/Unary";
const EXPAND: &str = "/test.Test/Expand";
const COLLECT: &str = "/test.Test/Collect";
const CHAT: &str = "/test.Test/Chat";

/// `f`, or a panic after ten minutes of virtual time: a hang guard, never a timing assertion.
async fn guard<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(600), f)
        .await
        .expect("hung (ten minutes of virtual time)")
}

/// Lets the other tasks run until `cond` holds, without letting time pass.
async fn settle(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..10_000 {
        if cond() {
            return true;
        }
        tokio::task::yield_now().await;
    }
    cond()
}

/// Lets every task that is ready run (a hundred turns of the scheduler); no time passes.
async fn let_run() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

/// Polls `call` (and every other task) until `cond` holds, without letting time pass; the
/// call must still be in flight then.
async fn drive_until<F: Future + Unpin>(call: &mut F, cond: impl FnMut() -> bool) {
    tokio::select! {
        biased;
        _ = call => panic!("the call ended early"),
        held = settle(cond) => assert!(held, "the condition never held"),
    }
}

fn request(m: Msg, timeout: Option<Duration>) -> Request<Msg> {
    let mut req = Request::new(m);
    if let Some(t) = timeout {
        req.set_timeout(t);
    }
    req
}

fn sleeping(ms: u64) -> Msg {
    Msg {
        sleep_ms: ms,
        ..Default::default()
    }
}

/// Asserts that the call ended at the server by a reset, not trailers (PROTOCOL.md §8: the
/// server never sends TRAILERS for an expired call). When the client's deadline and the
/// server's fire at the same virtual instant, the client's reset (§9.1, code 0x2) may reach
/// the server first, which then resets with CANCELLED (§9.2); either way no status is sent.
fn assert_reset_by_deadline(outcomes: &[CallOutcome]) {
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert!(
        matches!(
            outcomes[0],
            CallOutcome::Reset(ErrorCode::DEADLINE_EXCEEDED | ErrorCode::CANCELLED)
        ),
        "{outcomes:?}"
    );
}

async fn assert_all_dropped(srv: &MemServer) {
    assert!(settle(|| srv.live() == 0).await, "a handler is still alive");
    assert!(
        settle(|| srv.handle.active_calls() == 0).await,
        "a call task is still running"
    );
}

// ---------------------------------------------------------------------------------------
// Deadlines (PROTOCOL.md §8, C14, S18)
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn unary_deadline_exceeded_drops_the_handler() {
    let (ch, srv) = memtest::start().await;
    let t0 = Instant::now();
    let call = tokio::spawn({
        let ch = ch.clone();
        async move {
            let req = request(sleeping(10_000), Some(Duration::from_secs(1)));
            ch.unary(UNARY, req, Codec::new()).await
        }
    });
    assert!(settle(|| srv.live() == 1).await, "the handler never ran");
    let err = guard(call).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(1010),
        "ended after {elapsed:?} of virtual time"
    );
    assert_all_dropped(&srv).await;
    assert_reset_by_deadline(&srv.calls.outcomes());
    // The handler never finished its sleep: it was dropped, not left to run out.
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn server_streaming_deadline_ends_the_stream_after_its_messages() {
    let (ch, srv) = memtest::start().await;
    let t0 = Instant::now();
    let m = Msg {
        count: 1000,
        sleep_ms: 300,
        ..Default::default()
    };
    let mut stream = guard(ch.server_streaming(
        EXPAND,
        request(m, Some(Duration::from_secs(1))),
        Codec::new(),
    ))
    .await
    .unwrap()
    .into_inner();
    // Messages at 300, 600 and 900 ms; the deadline at 1000 ms.
    let mut seqs = Vec::new();
    let err = loop {
        match guard(stream.message()).await {
            Ok(Some(m)) => seqs.push(m.seq),
            Ok(None) => panic!("the stream ended successfully after {seqs:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(seqs, [0, 1, 2]);
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        guard(stream.message()).await.unwrap(),
        None,
        "the stream is over"
    );
    assert_all_dropped(&srv).await;
    assert_reset_by_deadline(&srv.calls.outcomes());
}

#[tokio::test(start_paused = true)]
async fn client_streaming_deadline_drops_the_handler() {
    let (ch, srv) = memtest::start().await;
    let t0 = Instant::now();
    let call = tokio::spawn({
        let ch = ch.clone();
        async move {
            // Two requests, then the request stream never ends.
            let requests =
                futures_util::stream::iter([msg(0), msg(1)]).chain(futures_util::stream::pending());
            let mut req = Request::new(requests);
            req.set_timeout(Duration::from_secs(1));
            ch.client_streaming(COLLECT, req, Codec::new()).await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(srv.live(), 1, "the handler runs, waiting for more requests");
    let err = guard(call).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert_all_dropped(&srv).await;
    assert_reset_by_deadline(&srv.calls.outcomes());
}

#[tokio::test(start_paused = true)]
async fn bidi_deadline_ends_the_exchange() {
    let (ch, srv) = memtest::start().await;
    let t0 = Instant::now();
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(4);
    let mut req = Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    req.set_timeout(Duration::from_secs(1));
    tx.send(msg(0)).await.unwrap();
    let mut stream = guard(ch.streaming(CHAT, req, Codec::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(guard(stream.message()).await.unwrap().unwrap().seq, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.send(msg(1)).await.unwrap();
    assert_eq!(guard(stream.message()).await.unwrap().unwrap().seq, 1);
    assert_eq!(srv.live(), 1);
    let err = guard(stream.message()).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert_all_dropped(&srv).await;
    assert_reset_by_deadline(&srv.calls.outcomes());
    // The task sending the requests is gone too.
    assert!(settle(|| tx.is_closed()).await);
}

#[tokio::test(start_paused = true)]
async fn a_generous_deadline_is_met() {
    let (ch, srv) = memtest::start().await;
    let req = request(
        Msg {
            seq: 7,
            sleep_ms: 500,
            ..Default::default()
        },
        Some(Duration::from_secs(10)),
    );
    let reply = guard(ch.unary(UNARY, req, Codec::new())).await.unwrap();
    // The handler saw the deadline, and read the remaining time after its 500 ms sleep.
    assert_eq!(reply.trailers().get("remaining-ms"), Some("9500"));
    assert_eq!(reply.into_inner().seq, 7);

    let m = Msg {
        count: 3,
        sleep_ms: 100,
        ..Default::default()
    };
    let req = request(m, Some(Duration::from_secs(10)));
    let mut stream = guard(ch.server_streaming(EXPAND, req, Codec::new()))
        .await
        .unwrap()
        .into_inner();
    let mut seqs = Vec::new();
    while let Some(m) = guard(stream.message()).await.unwrap() {
        seqs.push(m.seq);
    }
    assert_eq!(seqs, [0, 1, 2]);
    assert_all_dropped(&srv).await;
    assert_eq!(
        srv.calls.outcomes(),
        [CallOutcome::Status(Code::Ok), CallOutcome::Status(Code::Ok)]
    );
}

/// A zero timeout: expired on arrival; the handler never runs (PROTOCOL.md §8).
#[tokio::test(start_paused = true)]
async fn a_zero_timeout_never_runs_the_handler() {
    let (ch, srv) = memtest::start().await;
    let t0 = Instant::now();
    let err = guard(ch.unary(UNARY, request(msg(1), Some(Duration::ZERO)), Codec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    let err =
        guard(ch.server_streaming(EXPAND, request(msg(1), Some(Duration::ZERO)), Codec::new()))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert_eq!(t0.elapsed(), Duration::ZERO, "nothing to wait for");
    assert!(settle(|| srv.handle.active_calls() == 0).await);
    assert_eq!(srv.calls.dispatched(), 0, "a handler was started");
    assert_eq!(srv.live(), 0);
    // The connection still serves.
    let ok = guard(ch.unary(UNARY, Request::new(msg(2)), Codec::new()))
        .await
        .unwrap();
    assert_eq!(ok.into_inner().seq, 2);
}

/// A request head with `timeout_micros = 0`, from a raw client that enforces nothing itself:
/// the server resets with DEADLINE_EXCEEDED without routing the call (PROTOCOL.md §8).
#[tokio::test(start_paused = true)]
async fn a_raw_zero_timeout_head_is_reset_without_running_the_handler() {
    let (conn, srv) = memtest::start_raw(Server::builder());
    let (mut send, mut recv) = guard(conn.open_bi()).await.unwrap();
    let mut frames = memtest::head(UNARY, Some(Duration::ZERO));
    memtest::push_message(&mut frames, &msg(1));
    memtest::write_all(&mut send, &frames).await.unwrap();
    send.finish();
    let reply = guard(memtest::read_reply(&mut recv)).await;
    assert!(reply.events.is_empty(), "{reply:?}");
    assert!(
        matches!(
            reply.end,
            Err(StreamError::Reset(ErrorCode::DEADLINE_EXCEEDED))
        ),
        "{reply:?}"
    );
    assert!(settle(|| srv.handle.active_calls() == 0).await);
    assert_eq!(srv.calls.dispatched(), 0);
    assert_eq!(srv.live(), 0);
    // The connection still serves.
    let ch = Endpoint::from_connector(FixedConnector(conn.clone())).connect_lazy();
    let ok = guard(ch.unary(UNARY, Request::new(msg(3)), Codec::new()))
        .await
        .unwrap();
    assert_eq!(ok.into_inner().seq, 3);
}

/// The server keeps the deadline of the head even when the client does not enforce it:
/// it drops the handler and resets with DEADLINE_EXCEEDED, without TRAILERS (S18).
#[tokio::test(start_paused = true)]
async fn the_server_enforces_the_deadline_on_its_own() {
    let (conn, srv) = memtest::start_raw(Server::builder());
    let t0 = Instant::now();
    let (mut send, mut recv) = guard(conn.open_bi()).await.unwrap();
    let mut frames = memtest::head(UNARY, Some(Duration::from_secs(1)));
    memtest::push_message(&mut frames, &sleeping(10_000));
    memtest::write_all(&mut send, &frames).await.unwrap();
    send.finish();
    assert!(settle(|| srv.live() == 1).await);
    let reply = guard(memtest::read_reply(&mut recv)).await;
    assert!(
        reply.events.is_empty(),
        "no status after a deadline: {reply:?}"
    );
    assert!(
        matches!(
            reply.end,
            Err(StreamError::Reset(ErrorCode::DEADLINE_EXCEEDED))
        ),
        "{reply:?}"
    );
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(1010),
        "reset after {elapsed:?} of virtual time"
    );
    assert_all_dropped(&srv).await;
    assert_eq!(
        srv.calls.outcomes(),
        [CallOutcome::Reset(ErrorCode::DEADLINE_EXCEEDED)]
    );

    // A bidi call whose request stream is still open: the response head, then the reset;
    // the request stream is stopped (its code is advisory, §11: the reference server drops
    // the handler's request stream, which QUIC stops with NO_ERROR).
    let (mut send, mut recv) = guard(conn.open_bi()).await.unwrap();
    let stopped = send.stopped();
    let mut frames = memtest::head(CHAT, Some(Duration::from_secs(1)));
    memtest::push_message(&mut frames, &msg(4));
    memtest::write_all(&mut send, &frames).await.unwrap();
    let reply = guard(memtest::read_reply(&mut recv)).await;
    assert!(
        matches!(
            reply.end,
            Err(StreamError::Reset(ErrorCode::DEADLINE_EXCEEDED))
        ),
        "{reply:?}"
    );
    assert!(
        matches!(reply.events[0], ClientEvent::Headers(_)),
        "{reply:?}"
    );
    assert_eq!(
        reply.messages().iter().map(|m| m.seq).collect::<Vec<_>>(),
        [4]
    );
    assert_eq!(reply.status(), None, "{reply:?}");
    assert_eq!(
        guard(stopped).await.unwrap(),
        Some(ErrorCode::NO_ERROR),
        "the request stream is stopped"
    );
    assert_all_dropped(&srv).await;
    assert_eq!(
        srv.calls.outcomes()[1],
        CallOutcome::Reset(ErrorCode::DEADLINE_EXCEEDED)
    );
}

// ---------------------------------------------------------------------------------------
// Cancellation (PROTOCOL.md §9, C15, S17)
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn dropping_a_unary_call_cancels_the_handler() {
    let (ch, srv) = memtest::start().await;
    let mut call = Box::pin(ch.unary(UNARY, Request::new(sleeping(10_000)), Codec::new()));
    drive_until(&mut call, || srv.live() == 1).await;
    drop(call);
    assert_all_dropped(&srv).await;
    assert_eq!(
        srv.calls.outcomes(),
        [CallOutcome::Reset(ErrorCode::CANCELLED)]
    );
    // No time passed: the handler was dropped, not left to finish its sleep.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(srv.calls.outcomes().len(), 1);
    let ok = guard(ch.unary(UNARY, Request::new(msg(1)), Codec::new()))
        .await
        .unwrap();
    assert_eq!(ok.into_inner().seq, 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_server_stream_mid_way_cancels_the_handler() {
    let (ch, srv) = memtest::start().await;
    let m = Msg {
        count: 1000,
        sleep_ms: 100,
        ..Default::default()
    };
    let mut stream = guard(ch.server_streaming(EXPAND, Request::new(m), Codec::new()))
        .await
        .unwrap()
        .into_inner();
    for seq in 0..3 {
        assert_eq!(guard(stream.message()).await.unwrap().unwrap().seq, seq);
    }
    // The handler future and its response stream.
    assert_eq!(srv.live(), 2);
    drop(stream);
    assert_all_dropped(&srv).await;
    assert_eq!(
        srv.calls.outcomes(),
        [CallOutcome::Reset(ErrorCode::CANCELLED)]
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_a_client_streaming_call_cancels_the_handler() {
    let (ch, srv) = memtest::start().await;
    let requests =
        futures_util::stream::iter([msg(0), msg(1)]).chain(futures_util::stream::pending());
    let mut call = Box::pin(ch.client_streaming(COLLECT, Request::new(requests), Codec::new()));
    drive_until(&mut call, || srv.live() == 1).await;
    drop(call);
    assert_all_dropped(&srv).await;
    assert_eq!(
        srv.calls.outcomes(),
        [CallOutcome::Reset(ErrorCode::CANCELLED)]
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_a_bidi_call_cancels_the_handler() {
    let (ch, srv) = memtest::start().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(4);
    let req = Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut stream = guard(ch.streaming(CHAT, req, Codec::new()))
        .await
        .unwrap()
        .into_inner();
    for seq in 0..2 {
        tx.send(msg(seq)).await.unwrap();
        assert_eq!(guard(stream.message()).await.unwrap().unwrap().seq, seq);
    }
    assert_eq!(srv.live(), 1);
    drop(stream);
    assert_all_dropped(&srv).await;
    assert_eq!(
        srv.calls.outcomes(),
        [CallOutcome::Reset(ErrorCode::CANCELLED)]
    );
    // The task sending the requests is gone too.
    assert!(settle(|| tx.is_closed()).await);
}

// ---------------------------------------------------------------------------------------
// Graceful shutdown (PROTOCOL.md §12, S23)
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_finishes_refuses_then_abandons() {
    let (signal, signalled) = tokio::sync::oneshot::channel::<()>();
    let builder = Server::builder().shutdown_grace_period(Duration::from_secs(5));
    let (ch, connector, mut srv) = memtest::start_until(builder, async move {
        let _ = signalled.await;
    })
    .await;
    let t0 = Instant::now();
    // Finishes within the grace period.
    let quick = tokio::spawn({
        let ch = ch.clone();
        let m = Msg {
            seq: 5,
            sleep_ms: 2_000,
            ..Default::default()
        };
        async move { ch.unary(UNARY, Request::new(m), Codec::new()).await }
    });
    // Still running when the grace period ends.
    let slow = tokio::spawn({
        let ch = ch.clone();
        async move {
            ch.unary(UNARY, Request::new(sleeping(60_000)), Codec::new())
                .await
        }
    });
    let streaming = tokio::spawn({
        let ch = ch.clone();
        let m = Msg {
            count: 1000,
            sleep_ms: 1_200,
            ..Default::default()
        };
        async move {
            let mut stream = ch
                .server_streaming(EXPAND, Request::new(m), Codec::new())
                .await
                .map_err(|e| (0, e))?
                .into_inner();
            let mut received = 0;
            loop {
                match stream.message().await {
                    Ok(Some(_)) => received += 1,
                    Ok(None) => return Ok(received),
                    Err(e) => return Err((received, e)),
                }
            }
        }
    });
    // One handler each for the unary calls, two for the stream.
    assert!(settle(|| srv.live() == 4).await);
    assert_eq!(srv.calls.dispatched(), 3);

    signal.send(()).unwrap();
    // The server takes the signal (a call racing it could still be accepted; see
    // `a_call_started_after_shutdown_is_refused`).
    let_run().await;
    assert_eq!(srv.handle.active_connections(), 1);
    // New calls on the connection are refused, at once and without reaching the service.
    let refused = guard(ch.unary(UNARY, Request::new(msg(1)), Codec::new()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused}");
    assert!(
        refused.message().contains("0x5"),
        "REFUSED_STREAM: {refused}"
    );
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(srv.calls.dispatched(), 3);
    // A new connection during the grace period is closed at once.
    let late = Endpoint::from_connector(connector.clone()).connect_lazy();
    let err = guard(late.unary(UNARY, Request::new(msg(1)), Codec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");

    // The quick call completes normally.
    let ok = guard(quick).await.unwrap().unwrap();
    assert_eq!(ok.into_inner().seq, 5);
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    assert_eq!(srv.live(), 3);
    tokio::time::sleep(Duration::from_millis(2_900)).await;
    assert!(!srv.task.is_finished(), "the grace period is not over");
    assert!(!slow.is_finished());

    // The grace period ends: the rest end with UNAVAILABLE, and serving returns.
    let err = guard(slow).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
    let (received, err) = guard(streaming).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    // Messages at 1.2, 2.4, 3.6 and 4.8 s; the next one was due at 6 s.
    assert_eq!(received, 4);
    guard(&mut srv.task).await.unwrap();
    assert!(
        settle(|| srv.live() == 0).await,
        "a handler outlived the server"
    );
    assert_eq!(srv.handle.active_connections(), 0);
    // The server no longer listens.
    assert!(guard(Endpoint::from_connector(connector).connect())
        .await
        .is_err());
    let err = guard(ch.unary(UNARY, Request::new(msg(1)), Codec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}

/// With no call left, shutdown does not wait for the grace period.
#[tokio::test(start_paused = true)]
async fn shutdown_returns_once_the_calls_are_done() {
    let builder = Server::builder().shutdown_grace_period(Duration::from_secs(10));
    let (ch, mut srv) = memtest::start_with(builder).await;
    let t0 = Instant::now();
    let call = tokio::spawn({
        let ch = ch.clone();
        async move {
            ch.unary(UNARY, Request::new(sleeping(1_000)), Codec::new())
                .await
        }
    });
    assert!(settle(|| srv.live() == 1).await);
    srv.handle.shutdown();
    guard(&mut srv.task).await.unwrap();
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs(1),
        "the call's sleep, no more"
    );
    guard(call).await.unwrap().unwrap();
    assert_eq!(srv.calls.outcomes(), [CallOutcome::Status(Code::Ok)]);
    let err = guard(ch.unary(UNARY, Request::new(msg(1)), Codec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}

/// A call started after `ServerHandle::shutdown` returned is a new call (§12 phase 2): it
/// must be refused, whether or not the connection's task has run since.
#[tokio::test(start_paused = true)]
async fn a_call_started_after_shutdown_is_refused() {
    let (ch, srv) = memtest::start().await;
    let running = tokio::spawn({
        let ch = ch.clone();
        async move {
            ch.unary(UNARY, Request::new(sleeping(1_000)), Codec::new())
                .await
        }
    });
    assert!(settle(|| srv.live() == 1).await);
    srv.handle.shutdown();
    let refused = guard(ch.unary(UNARY, Request::new(msg(1)), Codec::new())).await;
    let refused = refused.map(|r| r.into_inner().seq).unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused}");
    assert!(
        refused.message().contains("0x5"),
        "REFUSED_STREAM: {refused}"
    );
    assert_eq!(srv.calls.dispatched(), 1);
    guard(running).await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------
// Cardinality, with raw frames (PROTOCOL.md §6.2, §6.4, S13, S14)
// ---------------------------------------------------------------------------------------

/// The reply of a single-request call that broke the cardinality rule: trailers-only
/// INTERNAL, then FIN.
fn assert_trailers_only_internal(reply: &memtest::Reply) {
    assert!(reply.end.is_ok(), "{reply:?}");
    assert_eq!(reply.events.len(), 1, "trailers only: {reply:?}");
    let status = reply.status().expect("trailers").unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status}");
}

/// A channel over the raw connection, to show it still serves.
async fn still_serves(conn: &MemConnection) {
    let ch = Endpoint::from_connector(FixedConnector(conn.clone())).connect_lazy();
    let ok = guard(ch.unary(UNARY, Request::new(msg(9)), Codec::new()))
        .await
        .unwrap();
    assert_eq!(ok.into_inner().seq, 9);
}

#[tokio::test(start_paused = true)]
async fn unary_with_two_requests_is_internal_and_stopped_with_protocol_error() {
    let (conn, srv) = memtest::start_raw(Server::builder());
    let (mut send, mut recv) = guard(conn.open_bi()).await.unwrap();
    let stopped = send.stopped();
    let mut frames = memtest::head(UNARY, None);
    memtest::push_message(&mut frames, &msg(1));
    memtest::write_all(&mut send, &frames).await.unwrap();
    // The server waits for the FIN before it runs the handler (§6.2).
    assert!(settle(|| srv.calls.dispatched() == 1).await);
    let_run().await;
    assert_eq!(srv.live(), 0, "the handler ran before the request ended");

    let mut second = bytes::BytesMut::new();
    memtest::push_message(&mut second, &msg(2));
    memtest::write_all(&mut send, &second).await.unwrap();
    let reply = guard(memtest::read_reply(&mut recv)).await;
    assert_trailers_only_internal(&reply);
    assert_eq!(
        guard(stopped).await.unwrap(),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
    let e = memtest::write_all(&mut send, b"more")
        .await
        .expect_err("the request stream was stopped");
    assert!(
        matches!(e, StreamError::Stopped(ErrorCode::PROTOCOL_ERROR)),
        "{e:?}"
    );
    assert_all_dropped(&srv).await;
    assert_eq!(srv.calls.outcomes(), [CallOutcome::Status(Code::Internal)]);
    still_serves(&conn).await;
}

#[tokio::test(start_paused = true)]
async fn unary_with_no_request_is_internal() {
    let (conn, srv) = memtest::start_raw(Server::builder());
    let (mut send, mut recv) = guard(conn.open_bi()).await.unwrap();
    memtest::write_all(&mut send, &memtest::head(UNARY, None))
        .await
        .unwrap();
    send.finish();
    let reply = guard(memtest::read_reply(&mut recv)).await;
    assert_trailers_only_internal(&reply);
    assert_all_dropped(&srv).await;
    assert_eq!(srv.calls.outcomes(), [CallOutcome::Status(Code::Internal)]);
    still_serves(&conn).await;
}

#[tokio::test(start_paused = true)]
async fn server_streaming_with_two_requests_or_none_is_internal() {
    let (conn, srv) = memtest::start_raw(Server::builder());
    let (mut send, mut recv) = guard(conn.open_bi()).await.unwrap();
    let stopped = send.stopped();
    let mut frames = memtest::head(EXPAND, None);
    let m = Msg {
        count: 3,
        ..Default::default()
    };
    memtest::push_message(&mut frames, &m);
    memtest::push_message(&mut frames, &m);
    memtest::write_all(&mut send, &frames).await.unwrap();
    let reply = guard(memtest::read_reply(&mut recv)).await;
    assert_trailers_only_internal(&reply);
    assert_eq!(
        guard(stopped).await.unwrap(),
        Some(ErrorCode::PROTOCOL_ERROR)
    );

    let (mut send, mut recv) = guard(conn.open_bi()).await.unwrap();
    memtest::write_all(&mut send, &memtest::head(EXPAND, None))
        .await
        .unwrap();
    send.finish();
    let reply = guard(memtest::read_reply(&mut recv)).await;
    assert_trailers_only_internal(&reply);

    assert_all_dropped(&srv).await;
    assert_eq!(
        srv.calls.outcomes(),
        [
            CallOutcome::Status(Code::Internal),
            CallOutcome::Status(Code::Internal)
        ]
    );
    still_serves(&conn).await;
}

// ---------------------------------------------------------------------------------------
// Reconnect backoff (PROTOCOL.md §11.3; here 100 ms doubling to 5 s, failing fast meanwhile)
// ---------------------------------------------------------------------------------------

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

async fn call(ch: &Channel) -> Result<Msg, Status> {
    guard(ch.unary(UNARY, Request::new(msg(1)), Codec::new()))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(start_paused = true)]
async fn reconnect_attempts_back_off_while_calls_fail_fast() {
    let (dead, listener) = mem::listener();
    drop(listener);
    let attempts = Arc::new(AtomicUsize::new(0));
    let target = Arc::new(Mutex::new(dead));
    // Exact pauses (no jitter): 100 ms doubling to 5 s. gRPC's defaults are tested in
    // lifecycle_connectivity.rs.
    let backoff = BackoffConfig::new()
        .base_delay(Duration::from_millis(100))
        .multiplier(2.0)
        .max_delay(Duration::from_secs(5))
        .jitter(0.0);
    let ch = Endpoint::from_connector(CountingConnector {
        target: target.clone(),
        attempts: attempts.clone(),
    })
    .connect_backoff(backoff)
    .connect_lazy();
    let attempts = || attempts.load(Ordering::SeqCst);

    let err = call(&ch).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert_eq!(attempts(), 1);
    // Within the first backoff (100 ms), calls fail fast without an attempt.
    for _ in 0..10 {
        tokio::time::advance(Duration::from_millis(5)).await;
        let err = call(&ch).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err}");
    }
    assert_eq!(attempts(), 1, "attempts within 50 ms");
    tokio::time::advance(Duration::from_millis(49)).await;
    assert_eq!(call(&ch).await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(attempts(), 1, "attempts within 99 ms");
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(call(&ch).await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(attempts(), 2, "no attempt once the backoff passed");

    // Each failure doubles the backoff, up to 5 s.
    for backoff_ms in [200, 400, 800, 1_600, 3_200, 5_000, 5_000] {
        let before = attempts();
        tokio::time::advance(Duration::from_millis(backoff_ms - 1)).await;
        let err = call(&ch).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err}");
        assert_eq!(
            attempts(),
            before,
            "attempt before the {backoff_ms} ms backoff"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        let err = call(&ch).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err}");
        assert_eq!(attempts(), before + 1, "after the {backoff_ms} ms backoff");
    }

    // The server comes up: the first call after the backoff connects and succeeds, and the
    // connection is kept.
    let (live, listener) = mem::listener();
    let srv = memtest::serve(Server::builder(), listener, std::future::pending());
    *target.lock().unwrap() = live;
    let before = attempts();
    tokio::time::advance(Duration::from_millis(4_999)).await;
    assert_eq!(call(&ch).await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(attempts(), before);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(call(&ch).await.unwrap().seq, 1);
    assert_eq!(call(&ch).await.unwrap().seq, 1);
    assert_eq!(attempts(), before + 1);
    assert!(ch.is_connected());
    assert_eq!(srv.calls.dispatched(), 2);
}

/// A bidirectional call past its deadline abandons its request stream (written by its own
/// task) with DEADLINE_EXCEEDED, as its response stream, not with a generic CANCELLED
/// (PROTOCOL.md §11.2 C14).
#[tokio::test(start_paused = true)]
async fn a_bidi_deadline_resets_the_requests_with_its_code() {
    use rpc_core::transport::RecvStream;
    let (client_end, server_end) = mem::pair();
    let ch = Endpoint::from_connector(FixedConnector(client_end))
        .connect()
        .await
        .unwrap();
    // Requests that never end: the call is still sending when its deadline passes.
    let requests = futures_util::stream::pending::<Msg>();
    let mut req = Request::new(requests);
    req.set_timeout(Duration::from_secs(1));
    // The channel outlives the call: its close would hide the reset.
    let caller = ch.clone();
    let call =
        tokio::spawn(async move { caller.streaming("/test.Test/Chat", req, Codec::new()).await });
    // The raw server end: accepts the stream and reads until it fails.
    let (_send, mut recv) = server_end.accept_bi().await.unwrap();
    let code = loop {
        match std::future::poll_fn(|cx| recv.poll_read(cx)).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the request stream was finished, not reset"),
            Err(StreamError::Reset(code)) => break code,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(code, ErrorCode::DEADLINE_EXCEEDED);
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    drop(ch);
}
