//! Retries, hedging, throttling and pushback (client::retry, PROTOCOL.md §9.3) over the
//! in-memory transport with paused time: backoffs and hedging delays are virtual, so the
//! tests are deterministic and take no real time. Every count is the server's: handler
//! runs, what each saw, which were dropped.

mod retry_support;

use retry_support::*;
use rpc_core::client::retry::{
    ConfigError, HedgingPolicy, MethodConfig, Name, Retry, RetryLayer, RetryPolicy, ServiceConfig,
};
use rpc_core::client::service::MethodKind;
use rpc_core::{Channel, Code};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use tower::Layer;

type Client = flaky_client::FlakyClient<Retry<Channel>>;

fn make_client(channel: Channel, layer: &RetryLayer) -> (Client, Retry<Channel>) {
    let stack = layer.layer(channel);
    (flaky_client::FlakyClient::new(stack.clone()), stack)
}

fn failing(n: u32) -> Ask {
    Ask {
        fail_first: n,
        ..Default::default()
    }
}

fn previous(seen: &[Seen]) -> Vec<Option<String>> {
    seen.iter().map(|s| s.previous.clone()).collect()
}

// ---------------------------------------------------------------------------------------
// Retry policy
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn idempotent_calls_are_retried_with_backoff_until_they_succeed() {
    let (ch, srv, _) = start_mem(0).await;
    let layer = RetryLayer::from_service_config(&retry_config(4, "0.1s", "1s", r#""UNAVAILABLE""#))
        .unwrap();
    let (client, _) = make_client(ch, &layer);
    let answer = guard(client.get(failing(2))).await.unwrap().into_inner();
    assert_eq!(answer.call, 2, "the third attempt answered");
    assert_eq!(srv.calls(), 3);
    let seen = srv.seen();
    // The server sees how many attempts came before each one.
    assert_eq!(previous(&seen), [None, Some("1".into()), Some("2".into())]);
    // Full jitter below 100 ms, then below 200 ms (virtual time, exact).
    assert!(seen[1].at - seen[0].at <= Duration::from_millis(100));
    assert!(seen[2].at - seen[1].at <= Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_max_attempts_and_on_other_codes() {
    let (ch, srv, _) = start_mem(0).await;
    // maxAttempts 9 is capped at 5, like gRPC.
    let layer =
        RetryLayer::from_service_config(&retry_config(9, "0.01s", "0.1s", r#""UNAVAILABLE""#))
            .unwrap();
    let (client, _) = make_client(ch, &layer);
    let err = guard(client.get(failing(100))).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(srv.calls(), 5, "5 attempts at most");
    // A code not in the list is not retried.
    let ask = Ask {
        fail_first: 100,
        code: Code::InvalidArgument as i32,
        ..Default::default()
    };
    let err = guard(client.get(ask)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(srv.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn non_idempotent_calls_are_never_retried_once_a_handler_may_have_run() {
    let (ch, srv, _) = start_mem(0).await;
    let codes = r#""UNAVAILABLE", "ABORTED", "INTERNAL", "UNKNOWN""#;
    let layer = RetryLayer::from_service_config(&retry_config(5, "0.01s", "0.1s", codes)).unwrap();
    let (client, _) = make_client(ch.clone(), &layer);
    for code in [
        Code::Unavailable,
        Code::Aborted,
        Code::Internal,
        Code::Unknown,
    ] {
        let before = srv.calls();
        let ask = Ask {
            fail_first: 1000,
            code: code as i32,
            ..Default::default()
        };
        let err = guard(client.put(ask)).await.unwrap_err();
        assert_eq!(err.code(), code);
        assert_eq!(srv.calls() - before, 1, "{code}: the handler ran once");
    }
    // Nor hedged: a hedging policy on the service sends Put once.
    let hedging = ServiceConfig::new().method(
        [Name::Service("retry.test.Flaky".into())],
        MethodConfig::new().hedging(
            HedgingPolicy::new(5, Duration::from_millis(10)).non_fatal_codes([Code::Unavailable]),
        ),
    );
    let (client, _) = client_with(ch.clone(), hedging);
    let before = srv.calls();
    let ask = Ask {
        fail_first: 1000,
        slow_first: 1000,
        slow_ms: 1000,
        ..Default::default()
    };
    let err = guard(client.put(ask)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(srv.calls() - before, 1);
    // Only an explicit opt-in retries them.
    let opted = ServiceConfig::new().method(
        [Name::Method("retry.test.Flaky".into(), "Put".into())],
        MethodConfig::new().retry(RetryPolicy::new(3).retry_non_idempotent(true)),
    );
    let (client, _) = client_with(ch, opted);
    let before = srv.calls();
    guard(client.put(failing(srv.calls() + 1))).await.unwrap();
    assert_eq!(srv.calls() - before, 2);
}

fn client_with(channel: Channel, config: ServiceConfig) -> (Client, Retry<Channel>) {
    make_client(channel, &RetryLayer::new(config).unwrap())
}

#[tokio::test(start_paused = true)]
async fn committed_calls_are_never_retried() {
    let (ch, srv, _) = start_mem(0).await;
    let json = retry_config(5, "0.01s", "0.1s", r#""UNAVAILABLE""#);
    let (client, _) = make_client(ch, &RetryLayer::from_service_config(&json).unwrap());
    // A failure before the response head: retried (the method is idempotent).
    let mut stream = guard(client.watch(failing(1))).await.unwrap().into_inner();
    assert_eq!(guard(stream.message()).await.unwrap().unwrap().call, 1);
    assert_eq!(srv.calls(), 2);
    // After the response head the call is committed: its failure is the outcome.
    let ask = Ask {
        fail_first: u32::MAX,
        fail_in_stream: true,
        ..Default::default()
    };
    let mut stream = guard(client.watch(ask)).await.unwrap().into_inner();
    let err = guard(stream.message()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(srv.calls(), 3, "one run: not retried");
}

#[tokio::test(start_paused = true)]
async fn the_deadline_covers_every_attempt() {
    let (ch, srv, _) = start_mem(0).await;
    let layer =
        RetryLayer::from_service_config(&retry_config(5, "1s", "1s", r#""UNAVAILABLE""#)).unwrap();
    let (client, _) = make_client(ch, &layer);
    let t0 = Instant::now();
    let mut request = rpc_core::Request::new(Ask {
        fail_first: 1000,
        slow_first: 1000,
        slow_ms: 400,
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(1000));
    let err = guard(client.get(request)).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::Unavailable | Code::DeadlineExceeded),
        "{err}"
    );
    assert!(
        t0.elapsed() <= Duration::from_millis(1000),
        "{:?}",
        t0.elapsed()
    );
    assert!(srv.calls() < 5, "{} attempts in 1 s", srv.calls());
}

#[tokio::test(start_paused = true)]
async fn streamed_requests_are_replayed_while_they_fit_the_buffer() {
    let (ch, srv, _) = start_mem(0).await;
    let json = retry_config(3, "0.01s", "0.1s", r#""UNAVAILABLE""#);
    let (client, _) = make_client(ch.clone(), &RetryLayer::from_service_config(&json).unwrap());
    let asks = |payload: usize| {
        let ask = Ask {
            fail_first: 1,
            payload: vec![7; payload],
            ..Default::default()
        };
        futures_util::stream::iter(vec![ask.clone(), ask.clone(), ask])
    };
    let answer = guard(client.upload(asks(100))).await.unwrap().into_inner();
    assert_eq!(
        (answer.call, answer.messages),
        (1, 3),
        "all three messages again"
    );
    assert_eq!(srv.calls(), 2);

    // Over the per-call buffer limit the call is committed: no retry.
    let layer = RetryLayer::builder(ServiceConfig::from_json(&json).unwrap())
        .per_call_buffer_limit(250)
        .build()
        .unwrap();
    let (client, _) = make_client(ch, &layer);
    let ask = Ask {
        fail_first: srv.calls() + 1,
        payload: vec![7; 100],
        ..Default::default()
    };
    let err = guard(client.upload(futures_util::stream::iter(vec![
        ask.clone(),
        ask.clone(),
        ask,
    ])))
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(srv.calls(), 3, "one attempt only");
}

#[tokio::test(start_paused = true)]
async fn requests_over_the_buffer_limit_are_not_retried() {
    let (ch, srv, _) = start_mem(0).await;
    let json = retry_config(3, "0.01s", "0.1s", r#""UNAVAILABLE""#);
    let (client, _) = make_client(ch, &RetryLayer::from_service_config(&json).unwrap());
    let ask = Ask {
        fail_first: 1,
        payload: vec![1; 65 * 1024],
        ..Default::default()
    };
    let err = guard(client.get(ask)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(srv.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_service_config_retries_generated_clients_over_a_plain_channel() {
    let json = r#"{"methodConfig": [{
        "name": [{"service": "retry.test.Flaky"}],
        "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.1s",
          "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}],
      "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}}"#;
    let (ch, srv, _) = start_mem_with(0, |e| e.service_config(json).unwrap()).await;
    // The client's type is unchanged: FlakyClient<Channel>.
    let client: flaky_client::FlakyClient<Channel> = flaky_client::FlakyClient::new(ch.clone());
    let answer = guard(client.get(failing(2))).await.unwrap().into_inner();
    assert_eq!(answer.call, 2);
    assert_eq!(
        previous(&srv.seen()),
        [None, Some("1".into()), Some("2".into())]
    );
    // Not idempotent: once.
    let before = srv.calls();
    guard(client.put(failing(u32::MAX))).await.unwrap_err();
    assert_eq!(srv.calls() - before, 1);
    // The channel's own throttle: 2 failures of Get, 1 success (Put's failure was never a
    // candidate for a retry: no token).
    assert_eq!(ch.retry_tokens(), Some(8.1));
    // A bad config is refused when the endpoint is built.
    let err = rpc_core::Endpoint::new("localhost:1")
        .unwrap()
        .service_config(r#"{"methodConfig": [{"name": [{"service": "a"}], "timeout": "-1s"}]}"#)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "service config: methodConfig[0].timeout: \"-1s\" is negative"
    );
}

// ---------------------------------------------------------------------------------------
// Throttling
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn throttling_caps_retries_during_an_outage() {
    let (ch, srv, _) = start_mem(0).await;
    let json = r#"{"methodConfig": [{
        "name": [{"service": "retry.test.Flaky"}],
        "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.01s", "maxBackoff": "0.1s",
          "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}],
      "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}}"#;
    let layer = RetryLayer::from_service_config(json).unwrap();
    let (client, stack) = make_client(ch.clone(), &layer);
    // An outage: every call fails.
    for _ in 0..20 {
        let err = guard(client.get(failing(u32::MAX))).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
    }
    // The first call used 5 attempts (tokens 10 -> 5), then each call got one.
    assert_eq!(srv.calls(), 5 + 19, "24 attempts for 20 calls, not 100");
    assert_eq!(stack.retry_tokens(), Some(0.0));

    // Without throttling the same outage costs 5 attempts per call.
    let json = retry_config(5, "0.01s", "0.1s", r#""UNAVAILABLE""#);
    let (unthrottled, _) = make_client(ch, &RetryLayer::from_service_config(&json).unwrap());
    let before = srv.calls();
    for _ in 0..20 {
        guard(unthrottled.get(failing(u32::MAX))).await.unwrap_err();
    }
    assert_eq!(srv.calls() - before, 100);

    // Recovery: successes refill the bucket by 0.1; above 5 tokens, retries resume.
    for _ in 0..50 {
        guard(client.get(Ask::default())).await.unwrap();
    }
    assert_eq!(stack.retry_tokens(), Some(5.0));
    let before = srv.calls();
    guard(client.get(failing(u32::MAX))).await.unwrap_err();
    assert_eq!(srv.calls() - before, 1, "at 5 tokens: still throttled");
    // That failure took a token (4 left); 30 successes give back 3.
    for _ in 0..30 {
        guard(client.get(Ask::default())).await.unwrap();
    }
    assert_eq!(stack.retry_tokens(), Some(7.0));
    let before = srv.calls();
    let ask = failing(srv.calls() + 1);
    guard(client.get(ask)).await.unwrap();
    assert_eq!(srv.calls() - before, 2, "retried again");
}

// ---------------------------------------------------------------------------------------
// Server pushback
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn pushback_sets_the_delay_or_stops_retries() {
    let (ch, srv, _) = start_mem(0).await;
    let json = retry_config(3, "0.01s", "0.01s", r#""UNAVAILABLE""#);
    let (client, _) = make_client(ch, &RetryLayer::from_service_config(&json).unwrap());

    // 3 s asked with Status::with_retry_pushback: the retry waits exactly that.
    let ask = Ask {
        fail_first: 1,
        pushback_ms: 3000,
        ..Default::default()
    };
    guard(client.get(ask)).await.unwrap();
    let seen = srv.seen();
    assert_eq!(seen[1].at - seen[0].at, Duration::from_millis(3000));

    // Status::with_no_retry (-1), a negative or garbage value: no retry.
    for (pushback_ms, raw) in [(-1, ""), (0, "-5"), (0, "soon"), (0, "1.5")] {
        let before = srv.calls();
        let ask = Ask {
            fail_first: u32::MAX,
            pushback_ms,
            raw_pushback: raw.into(),
            ..Default::default()
        };
        let err = guard(client.get(ask)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        assert_eq!(srv.calls() - before, 1, "{pushback_ms} {raw:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Hedging
// ---------------------------------------------------------------------------------------

fn hedging(max: u32, delay: Duration, non_fatal: &[Code]) -> ServiceConfig {
    ServiceConfig::new().method(
        [Name::Service("retry.test.Flaky".into())],
        MethodConfig::new()
            .hedging(HedgingPolicy::new(max, delay).non_fatal_codes(non_fatal.iter().copied())),
    )
}

#[tokio::test(start_paused = true)]
async fn hedging_keeps_the_first_answer_and_cancels_the_others() {
    let (ch, srv, _) = start_mem(0).await;
    let (client, _) = client_with(ch, hedging(3, Duration::from_millis(100), &[]));
    let t0 = Instant::now();
    // The first attempt hangs for 10 s; the hedge sent at 100 ms answers at once.
    let ask = Ask {
        slow_first: 1,
        slow_ms: 10_000,
        ..Default::default()
    };
    let answer = guard(client.get(ask)).await.unwrap().into_inner();
    assert_eq!(answer.call, 1, "the hedge answered");
    assert_eq!(t0.elapsed(), Duration::from_millis(100));
    assert_eq!(previous(&srv.seen()), [None, Some("1".into())]);
    // The loser's handler is dropped: the server saw the cancellation.
    assert!(settle(|| srv.live() == 0).await, "a handler still runs");
    assert_eq!(srv.dropped(), 1);
    assert_eq!(srv.calls(), 2, "no third hedge");
}

#[tokio::test(start_paused = true)]
async fn non_fatal_failures_send_the_next_hedge_at_once() {
    let (ch, srv, _) = start_mem(0).await;
    let (client, _) = client_with(
        ch,
        hedging(4, Duration::from_secs(10), &[Code::Unavailable]),
    );
    let t0 = Instant::now();
    let answer = guard(client.get(failing(2))).await.unwrap().into_inner();
    assert_eq!(answer.call, 2);
    assert_eq!(t0.elapsed(), Duration::ZERO, "no hedging delay waited");
    assert_eq!(srv.calls(), 3);
    // A fatal code ends the call at once, cancelling the hedges in flight.
    let ask = Ask {
        fail_first: srv.calls() + 1,
        code: Code::InvalidArgument as i32,
        ..Default::default()
    };
    let err = guard(client.get(ask)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(srv.calls(), 4);
}

// ---------------------------------------------------------------------------------------
// Transparent retry
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn refused_calls_are_retried_once_whatever_the_method() {
    let (ch, srv, refuse) = start_mem(1).await;
    // No policy at all: a refused call is still sent once more.
    let (client, _) = client_with(ch, ServiceConfig::new());
    let answer = guard(client.put(Ask::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.call, 0);
    assert_eq!(srv.calls(), 1, "the handler ran once");
    assert_eq!(previous(&srv.seen()), [Some("1".into())]);
    // Once only.
    refuse.store(2, Ordering::SeqCst);
    let err = guard(client.put(Ask::default())).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.never_processed());
    assert_eq!(srv.calls(), 1);
}

// ---------------------------------------------------------------------------------------
// Build-time validation
// ---------------------------------------------------------------------------------------

#[test]
fn bad_configs_are_refused_when_the_layer_is_built() {
    let message = |e: ConfigError| e.to_string();
    let e = RetryLayer::from_service_config(
        r#"{"methodConfig": [{"name": [{"service": "a"}], "retryPolicy": {"maxAttempts": 0}}]}"#,
    )
    .unwrap_err();
    assert!(message(e).contains("initialBackoff: is required"));
    let e = RetryLayer::from_service_config(r#"{"methodConfig": [{"nmae": []}]}"#).unwrap_err();
    assert!(message(e).contains("unknown field `nmae`"));
    // Policies built in code are checked too.
    let e = RetryLayer::new(
        ServiceConfig::new().method([Name::All], MethodConfig::new().retry(RetryPolicy::new(1))),
    )
    .unwrap_err();
    assert_eq!(
        message(e),
        "service config: methodConfig[0].retryPolicy.maxAttempts: must be 2 or more, got 1"
    );
    // A request stream buffered without limit.
    let json = retry_config(3, "0.1s", "1s", r#""UNAVAILABLE""#);
    let e = RetryLayer::builder(ServiceConfig::from_json(&json).unwrap())
        .unbounded_buffer()
        .build()
        .unwrap_err();
    assert!(message(e).contains("unbounded buffer"), "service-wide");
    let exact = |m: &str| {
        ServiceConfig::new().method(
            [Name::Method("retry.test.Flaky".into(), m.into())],
            MethodConfig::new().retry(RetryPolicy::new(3)),
        )
    };
    let e = RetryLayer::builder(exact("Upload"))
        .unbounded_buffer()
        .method(UPLOAD, MethodKind::ClientStreaming)
        .build()
        .unwrap_err();
    assert!(message(e).contains("buffered without limit"));
    RetryLayer::builder(exact("Get"))
        .unbounded_buffer()
        .method(GET, MethodKind::Unary)
        .build()
        .expect("a single-request method may have an unbounded buffer");
    // Hedging a request stream.
    let e = RetryLayer::builder(hedging(3, Duration::from_millis(10), &[]))
        .method(UPLOAD, MethodKind::ClientStreaming)
        .build()
        .unwrap_err();
    assert!(message(e).contains("not hedged"));
}

// ---------------------------------------------------------------------------------------
// Method settings
// ---------------------------------------------------------------------------------------

/// Fails its first `fail` connection attempts.
struct FailingFirst {
    inner: rpc_core::transport::mem::MemConnector,
    fail: std::sync::atomic::AtomicUsize,
}

impl rpc_core::transport::Connector for FailingFirst {
    type Connection = rpc_core::transport::mem::MemConnection;

    async fn connect(&self) -> Result<Self::Connection, rpc_core::Error> {
        let failing = self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(rpc_core::Endpoint::new("").expect_err("an empty address is refused"));
        }
        self.inner.connect().await
    }
}

#[tokio::test(start_paused = true)]
async fn wait_for_ready_from_the_config_waits_through_a_failed_connect() {
    let (connector, listener) = rpc_core::transport::mem::listener();
    let flaky = Server::default();
    let server = rpc_core::Server::builder()
        .add_service(flaky.service())
        .listen(listener);
    tokio::spawn(server.serve_with_shutdown(std::future::pending()));
    let ch = rpc_core::Endpoint::from_connector(FailingFirst {
        inner: connector,
        fail: 1.into(),
    })
    .connect_lazy();
    // Fail fast (the default): the failed connect is the outcome.
    let (plain, _) = client_with(ch.clone(), ServiceConfig::new());
    let err = guard(plain.get(Ask::default())).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    // waitForReady: the call waits for the backoff and the next connect.
    let json = r#"{"methodConfig": [{"name": [{"service": "retry.test.Flaky"}],
        "waitForReady": true}]}"#;
    let (waiting, _) = make_client(ch, &RetryLayer::from_service_config(json).unwrap());
    guard(waiting.get(Ask::default())).await.unwrap();
    assert_eq!(flaky.calls(), 1);
}
