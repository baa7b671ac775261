//! Where a server runs its calls. On a current-thread runtime a call takes its first step in
//! its connection's task and becomes a task of its own only when it has to wait; on a
//! multi-threaded runtime every call is a task from the start, so that a handler busy in its
//! first step never holds up the next call of its connection.

mod common;

use common::mem as memtest;
use common::{msg, Codec, Msg};
use rpc_core::server::{self, CallFuture, CallOutcome, NamedService, ServerCall, Service};
use rpc_core::transport::mem;
use rpc_core::{Code, Endpoint, Request, Response, Server, Status};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `Block` spins, without ever awaiting, until `Release` has run (or 20 s, a hang guard).
#[derive(Clone, Default)]
struct Gate {
    blocking: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
}

impl NamedService for Gate {
    const NAME: &'static str = "test.Gate";
}

impl Service for Gate {
    fn call(&self, call: ServerCall) -> CallFuture {
        let gate = self.clone();
        match call.method() {
            "Block" => server::unary(call, Codec::new(), move |req: Request<Msg>| async move {
                gate.blocking.store(true, Ordering::SeqCst);
                let start = Instant::now();
                while !gate.released.load(Ordering::SeqCst) {
                    if start.elapsed() > Duration::from_secs(20) {
                        return Err(Status::aborted("never released: the next call waited"));
                    }
                    std::thread::yield_now();
                }
                Ok(Response::new(req.into_inner()))
            }),
            "Release" => server::unary(call, Codec::new(), move |req: Request<Msg>| async move {
                gate.released.store(true, Ordering::SeqCst);
                Ok(Response::new(req.into_inner()))
            }),
            _ => server::unimplemented(call),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_handler_does_not_hold_up_its_connection_on_a_multi_threaded_runtime() {
    let gate = Gate::default();
    let (connector, listener) = mem::listener();
    let server = Server::builder().add_service(gate.clone()).listen(listener);
    let handle = server.handle();
    tokio::spawn(server.serve());
    let channel = Endpoint::from_connector(connector).connect().await.unwrap();

    let blocked = {
        let channel = channel.clone();
        tokio::spawn(async move {
            channel
                .unary("/test.Gate/Block", Request::new(msg(1)), Codec::new())
                .await
        })
    };
    let start = Instant::now();
    while !gate.blocking.load(Ordering::SeqCst) {
        assert!(start.elapsed() < Duration::from_secs(20), "Block never ran");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The same connection, while Block's handler holds its thread.
    let released = channel
        .unary("/test.Gate/Release", Request::new(msg(2)), Codec::new())
        .await
        .expect("Release");
    assert_eq!(released.into_inner().seq, 2);
    let blocked = blocked.await.unwrap().expect("Block");
    assert_eq!(blocked.into_inner().seq, 1);
    handle.shutdown();
}

#[tokio::test(start_paused = true)]
async fn calls_that_end_at_once_and_calls_that_wait_both_complete_on_a_current_thread_runtime() {
    let (channel, srv) = memtest::start().await;
    // Answered in its first step.
    let now = channel
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
    assert_eq!(now.into_inner().seq, 1);
    // Waits (a timer) after its first step: carried on by a task of its own.
    let waiting = Msg {
        seq: 2,
        sleep_ms: 500,
        ..Default::default()
    };
    let later = channel
        .unary("/test.Test/Unary", Request::new(waiting), Codec::new())
        .await
        .unwrap();
    assert_eq!(later.into_inner().seq, 2);
    // Both ended with OK at the server, the one that ended at once first.
    let start = tokio::time::Instant::now();
    while srv.calls.outcomes().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "outcomes missing"
        );
        tokio::task::yield_now().await;
    }
    let ok = CallOutcome::Status(Code::Ok);
    assert_eq!(srv.calls.outcomes(), vec![ok, ok]);
}

#[tokio::test(start_paused = true)]
async fn a_call_moved_to_its_task_still_hears_cancellation_and_shutdown_waits_for_it() {
    let (channel, srv) = memtest::start().await;
    // Cancelled by the client while its handler waits.
    let sleeping = Msg {
        sleep_ms: 60_000,
        ..Default::default()
    };
    let call = channel.unary("/test.Test/Unary", Request::new(sleeping), Codec::new());
    tokio::select! {
        _ = call => panic!("the call ended early"),
        () = wait_for(|| srv.live() == 1) => {}
    }
    // The call future is dropped here: the client resets the stream.
    wait_for(|| srv.live() == 0).await;
    assert_eq!(
        srv.calls.outcomes(),
        vec![CallOutcome::Reset(rpc_core::wire::ErrorCode::CANCELLED)]
    );

    // In flight at shutdown: served to the end (the grace period is longer).
    let short = Msg {
        seq: 7,
        sleep_ms: 1_000,
        ..Default::default()
    };
    let call = tokio::spawn(async move {
        channel
            .unary("/test.Test/Unary", Request::new(short), Codec::new())
            .await
    });
    wait_for(|| srv.live() == 1).await;
    srv.handle.shutdown();
    let done = call.await.unwrap().expect("served through the shutdown");
    assert_eq!(done.into_inner().seq, 7);
}

/// Lets the other tasks run until `cond` holds, within a minute of virtual time.
async fn wait_for(mut cond: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(60), "never held");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
