//! tower on the server: `ServerBuilder::layer` with tower's own layers and one that sees
//! each call's head and outcome.

mod common;

use common::*;
use rpc_core::server::{CallOutcome, ServerCall};
use rpc_core::{Code, Request, Status};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::limit::{ConcurrencyLimitLayer, RateLimitLayer};
use tower::load_shed::LoadShedLayer;
use tower::timeout::TimeoutLayer;
use tower::{Service, ServiceExt};

type Seen = Arc<Mutex<Vec<(String, Option<String>, CallOutcome)>>>;

/// A layer recording each call's path, its `x-tag` metadata and its outcome.
fn recorder(
    seen: Seen,
) -> impl tower::Layer<
    rpc_core::server::BoxCallService,
    Service: Service<
        ServerCall,
        Response = CallOutcome,
        Error = Box<dyn std::error::Error + Send + Sync>,
        Future: Send,
    > + Send,
> + Send
       + Sync {
    tower::layer::layer_fn(move |inner: rpc_core::server::BoxCallService| {
        let seen = seen.clone();
        let inner = Arc::new(tokio::sync::Mutex::new(inner));
        tower::service_fn(move |call: ServerCall| {
            let (seen, inner) = (seen.clone(), inner.clone());
            async move {
                let path = call.path().to_owned();
                let tag = call.metadata().get("x-tag").map(str::to_owned);
                let future = inner.lock().await.ready().await?.call(call);
                let outcome = future.await?;
                seen.lock().unwrap().push((path, tag, outcome));
                Ok(outcome)
            }
        })
    })
}

#[tokio::test]
async fn a_layer_sees_head_and_outcome_of_every_call() {
    let seen = Seen::default();
    let srv = start_with(builder().layer(recorder(seen.clone())));
    let ch = connect(srv.addr).await;
    let mut req = Request::new(msg(1));
    req.metadata_mut().insert("x-tag", "first").unwrap();
    ch.unary("/test.Test/Unary", req, Codec::new())
        .await
        .unwrap();
    let mut m = msg(2);
    m.fail_code = Code::NotFound as u32;
    let err = ch
        .unary("/test.Test/Unary", Request::new(m), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = ch
        .unary("/test.Nope/Unary", Request::new(msg(3)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    // Refused before the layers (PROTOCOL.md §5.1): the recorder never sees it.
    // A call the client gives up on (drops): the outcome is the reset, not a status.
    let mut slow = msg(4);
    slow.sleep_ms = 30_000;
    let call = ch.unary("/test.Test/Unary", Request::new(slow), Codec::new());
    assert!(tokio::time::timeout(Duration::from_millis(100), call)
        .await
        .is_err());
    assert!(eventually(|| seen.lock().unwrap().len() == 3).await);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].0, "/test.Test/Unary");
    assert_eq!(seen[0].1.as_deref(), Some("first"));
    assert_eq!(seen[0].2, CallOutcome::Status(Code::Ok));
    assert_eq!(seen[1].2, CallOutcome::Status(Code::NotFound));
    assert_eq!(
        seen[2].2,
        CallOutcome::Reset(rpc_core::wire::ErrorCode::CANCELLED)
    );
}

#[tokio::test]
async fn tower_timeout_answers_deadline_exceeded() {
    let srv = start_with(builder().layer(TimeoutLayer::new(Duration::from_millis(100))));
    let ch = connect(srv.addr).await;
    let mut m = msg(1);
    m.sleep_ms = 30_000;
    let err = ch
        .unary("/test.Test/Unary", Request::new(m), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert_eq!(err.message(), "timeout elapsed");
    // The handler was dropped with the layer's future.
    assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 0).await);
    // Calls within the timeout are untouched.
    ch.unary("/test.Test/Unary", Request::new(msg(2)), Codec::new())
        .await
        .unwrap();
}

/// Counts handlers alive at once and remembers the most.
fn max_in_flight(probe: &Probe) -> Arc<AtomicUsize> {
    let max = Arc::new(AtomicUsize::new(0));
    let (p, m) = (probe.0.clone(), max.clone());
    tokio::spawn(async move {
        loop {
            m.fetch_max(p.load(Ordering::SeqCst), Ordering::SeqCst);
            tokio::task::yield_now().await;
        }
    });
    max
}

#[tokio::test]
async fn tower_concurrency_limit_runs_one_call_at_a_time() {
    let srv = start_with(builder().layer(ConcurrencyLimitLayer::new(1)));
    let max = max_in_flight(&srv.probe);
    let ch = connect(srv.addr).await;
    let calls = (0..4).map(|i| {
        let ch = ch.clone();
        async move {
            let mut m = msg(i);
            m.sleep_ms = 100;
            ch.unary("/test.Test/Unary", Request::new(m), Codec::new())
                .await
        }
    });
    for reply in futures_util::future::join_all(calls).await {
        reply.unwrap();
    }
    assert_eq!(max.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn tower_load_shed_answers_unavailable() {
    let srv = start_with(
        builder()
            .layer(LoadShedLayer::new())
            .layer(ConcurrencyLimitLayer::new(1)),
    );
    let ch = connect(srv.addr).await;
    let mut slow = msg(1);
    slow.sleep_ms = 30_000;
    let first = {
        let ch = ch.clone();
        tokio::spawn(async move {
            ch.unary("/test.Test/Unary", Request::new(slow), Codec::new())
                .await
        })
    };
    assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 1).await);
    let err = ch
        .unary("/test.Test/Unary", Request::new(msg(2)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert_eq!(err.message(), "overloaded: the call was shed");
    first.abort();
}

#[tokio::test]
async fn tower_rate_limit_holds_calls_per_connection() {
    let srv = start_with(builder().layer(RateLimitLayer::new(2, Duration::from_secs(3600))));
    let ch = connect(srv.addr).await;
    for i in 0..2 {
        ch.unary("/test.Test/Unary", Request::new(msg(i)), Codec::new())
            .await
            .unwrap();
    }
    let mut third = Request::new(msg(3));
    third.set_timeout(Duration::from_millis(300));
    let err = ch
        .unary("/test.Test/Unary", third, Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    // Another connection has its own limit.
    let other = connect(srv.addr).await;
    other
        .unary("/test.Test/Unary", Request::new(msg(4)), Codec::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_layer_answers_with_its_status() {
    let layer = tower::layer::layer_fn(|_inner: rpc_core::server::BoxCallService| {
        tower::service_fn(|_call: ServerCall| async {
            Err::<CallOutcome, Status>(Status::permission_denied("not you"))
        })
    });
    let srv = start_with(builder().layer(layer));
    let ch = connect(srv.addr).await;
    let err = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(err.message(), "not you");
}
