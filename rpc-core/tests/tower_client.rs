//! tower on the client: calls through a layered channel, by the same entry points generated
//! clients use (`rpc_core::codegen::client`), with tower's own layers.

mod common;

use common::*;
use futures_util::StreamExt;
use rpc_core::client::service::{CallRequest, CallResponse};
use rpc_core::codegen::client;
use rpc_core::{Code, Request, Status};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::{Service, ServiceBuilder};

/// A layer adding `x-layer: seen` to every call.
fn tag(mut call: CallRequest) -> CallRequest {
    call.request_mut()
        .metadata_mut()
        .insert("x-layer", "seen")
        .unwrap();
    call
}

#[tokio::test]
async fn every_call_kind_goes_through_the_stack() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let paths = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = paths.clone();
    let stack = ServiceBuilder::new()
        .map_request(move |call: CallRequest| {
            seen.lock()
                .unwrap()
                .push((call.path().to_owned(), call.kind()));
            tag(call)
        })
        .service(ch);

    let reply = client::unary(
        &stack,
        "/test.Test/Unary",
        Request::new(msg(7)),
        Codec::new(),
    )
    .await
    .unwrap();
    assert_eq!(reply.metadata().get("x-layer"), Some("seen"));
    assert_eq!(reply.trailers().get("x-layer-t"), Some("seen"));
    assert_eq!(reply.into_inner().seq, 7);

    let mut m = msg(0);
    m.count = 3;
    let mut expand =
        client::server_streaming(&stack, "/test.Test/Expand", Request::new(m), Codec::new())
            .await
            .unwrap()
            .into_inner();
    let mut seqs = Vec::new();
    while let Some(m) = expand.message().await.unwrap() {
        seqs.push(m.seq);
    }
    assert_eq!(seqs, [0, 1, 2]);

    let requests = futures_util::stream::iter((0..4).map(msg));
    let sum = client::client_streaming(
        &stack,
        "/test.Test/Collect",
        Request::new(requests),
        Codec::new(),
    )
    .await
    .unwrap();
    assert_eq!(sum.into_inner().seq, 4);

    let requests = futures_util::stream::iter((0..3).map(msg));
    let chat = client::streaming(
        &stack,
        "/test.Test/Chat",
        Request::new(requests),
        Codec::new(),
    )
    .await
    .unwrap()
    .into_inner();
    let echoed: Vec<u64> = chat.map(|m| m.unwrap().seq).collect().await;
    assert_eq!(echoed, [0, 1, 2]);

    use rpc_core::client::service::MethodKind::*;
    let kinds: Vec<_> = paths.lock().unwrap().iter().map(|(_, k)| *k).collect();
    assert_eq!(kinds, [Unary, ServerStreaming, ClientStreaming, Streaming]);
}

#[tokio::test]
async fn errors_keep_their_status_through_the_stack() {
    let srv = start();
    let stack = ServiceBuilder::new()
        .map_request(tag)
        .service(connect(srv.addr).await);
    let mut m = msg(1);
    m.fail_code = Code::NotFound as u32;
    let err = client::unary(&stack, "/test.Test/Unary", Request::new(m), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = client::unary(
        &stack,
        "/test.Test/Nope",
        Request::new(msg(1)),
        Codec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
}

#[tokio::test]
async fn tower_timeout_ends_the_call_with_deadline_exceeded() {
    let srv = start();
    let stack = ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .service(connect(srv.addr).await);
    let mut m = msg(1);
    m.sleep_ms = 30_000;
    let err = client::unary(&stack, "/test.Test/Unary", Request::new(m), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    // Dropping the call cancelled it at the server too: its handler is gone.
    assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 0).await);
}

/// Counts calls in flight below a layer, and the most seen at once.
#[derive(Clone, Default)]
struct InFlight {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl InFlight {
    fn wrap<S>(
        &self,
        inner: S,
    ) -> impl Service<CallRequest, Response = CallResponse, Error = Status, Future: Send> + Clone
    where
        S: Service<CallRequest, Response = CallResponse, Error = Status> + Clone + Send + 'static,
        S::Future: Send + 'static,
    {
        let this = self.clone();
        tower::service_fn(move |call: CallRequest| {
            let this = this.clone();
            let mut inner = inner.clone();
            async move {
                let n = this.now.fetch_add(1, Ordering::SeqCst) + 1;
                this.max.fetch_max(n, Ordering::SeqCst);
                let res = inner.call(call).await;
                this.now.fetch_sub(1, Ordering::SeqCst);
                res
            }
        })
    }
}

#[tokio::test]
async fn tower_concurrency_limit_holds_calls_back() {
    let srv = start();
    let counter = InFlight::default();
    let stack = ServiceBuilder::new()
        .concurrency_limit(1)
        .service(counter.wrap(connect(srv.addr).await));
    let calls = (0..4).map(|i| {
        let stack = stack.clone();
        async move {
            let mut m = msg(i);
            m.sleep_ms = 50;
            client::unary(&stack, "/test.Test/Unary", Request::new(m), Codec::new()).await
        }
    });
    for reply in futures_util::future::join_all(calls).await {
        reply.unwrap();
    }
    assert_eq!(counter.max.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn tower_load_shed_refuses_with_unavailable() {
    let srv = start();
    let stack = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(1)
        .service(connect(srv.addr).await);
    let mut slow = msg(1);
    slow.sleep_ms = 30_000;
    let first = {
        let stack = stack.clone();
        tokio::spawn(async move {
            client::unary(&stack, "/test.Test/Unary", Request::new(slow), Codec::new()).await
        })
    };
    assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 1).await);
    let err = client::unary(
        &stack,
        "/test.Test/Unary",
        Request::new(msg(2)),
        Codec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    // Shed before it left: safe to retry.
    assert!(err.never_processed());
    first.abort();
}

#[tokio::test]
async fn tower_rate_limit_behind_a_buffer() {
    let srv = start();
    // RateLimit is not Clone; tower's Buffer shares it between the callers.
    let stack = ServiceBuilder::new()
        .buffer(16)
        .rate_limit(2, Duration::from_secs(3600))
        .service(connect(srv.addr).await);
    for i in 0..2 {
        client::unary(
            &stack,
            "/test.Test/Unary",
            Request::new(msg(i)),
            Codec::new(),
        )
        .await
        .unwrap();
    }
    // The third call of the window waits for the next one.
    let third = client::unary(
        &stack,
        "/test.Test/Unary",
        Request::new(msg(3)),
        Codec::new(),
    );
    assert!(tokio::time::timeout(Duration::from_millis(300), third)
        .await
        .is_err());
}

#[tokio::test]
async fn requests_can_be_replayed_only_when_single() {
    let call = CallRequest::new(
        "/test.Test/Unary",
        rpc_core::client::service::MethodKind::Unary,
        Request::new(rpc_core::client::service::RequestBody::single(
            bytes::Bytes::from_static(b"x"),
        )),
    );
    let copy = call.try_clone().unwrap();
    assert_eq!(copy.path(), "/test.Test/Unary");
    let streamed = CallRequest::new(
        "/test.Test/Chat",
        rpc_core::client::service::MethodKind::Streaming,
        Request::new(rpc_core::client::service::RequestBody::stream(
            futures_util::stream::empty(),
        )),
    );
    assert!(streamed.try_clone().is_none());
}
