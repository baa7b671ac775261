//! Retries and hedging end to end over QUIC on 127.0.0.1 (client::retry, PROTOCOL.md §9.3):
//! the attempt metadata and the pushback trailer cross the real wire, a hedge's loser is
//! cancelled at the server, a non-idempotent call runs once.

mod common;
mod retry_support;

use retry_support::*;
use rpc_core::client::retry::{HedgingPolicy, MethodConfig, Name, RetryLayer, ServiceConfig};
use rpc_core::Code;
use std::time::Duration;

/// A QUIC server of the flaky service and a client through `layer`.
async fn start(
    layer: RetryLayer,
) -> (
    flaky_client::FlakyClient<rpc_core::client::retry::Retry<rpc_core::Channel>>,
    Server,
    rpc_core::server::ServerHandle,
) {
    let flaky = Server::default();
    let server = common::builder()
        .add_service(flaky.service())
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.serve());
    let channel = common::connect(addr).await;
    let stack = tower::ServiceBuilder::new().layer(layer).service(channel);
    (flaky_client::FlakyClient::new(stack), flaky, handle)
}

#[tokio::test]
async fn retries_carry_the_attempt_count_and_honour_pushback() {
    let json = retry_config(4, "0.01s", "0.05s", r#""UNAVAILABLE""#);
    let (client, srv, handle) = start(RetryLayer::from_service_config(&json).unwrap()).await;
    let answer = client.get(retry_support::Ask {
        fail_first: 2,
        pushback_ms: 20,
        ..Default::default()
    });
    let answer = answer.await.unwrap().into_inner();
    assert_eq!(answer.call, 2);
    let seen = srv.seen();
    let previous: Vec<_> = seen.iter().map(|s| s.previous.as_deref()).collect();
    assert_eq!(previous, [None, Some("1"), Some("2")]);
    // The pushback (20 ms) replaced the policy's backoff (at most 10 ms, then 20 ms).
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(20));
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(20));

    // A pushback of -1 stops retries.
    let err = client
        .get(retry_support::Ask {
            fail_first: u32::MAX,
            pushback_ms: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(srv.calls(), 4);
    handle.shutdown();
}

#[tokio::test]
async fn a_non_idempotent_call_runs_once() {
    let json = retry_config(5, "0.01s", "0.05s", r#""UNAVAILABLE", "INTERNAL""#);
    let (client, srv, handle) = start(RetryLayer::from_service_config(&json).unwrap()).await;
    for code in [Code::Unavailable, Code::Internal] {
        let before = srv.calls();
        let err = client
            .put(retry_support::Ask {
                fail_first: u32::MAX,
                code: code as i32,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), code);
        assert_eq!(srv.calls() - before, 1);
    }
    handle.shutdown();
}

#[tokio::test]
async fn a_hedge_wins_and_the_loser_is_cancelled_at_the_server() {
    let config = ServiceConfig::new().method(
        [Name::Service("retry.test.Flaky".into())],
        MethodConfig::new().hedging(HedgingPolicy::new(3, Duration::from_millis(50))),
    );
    let (client, srv, handle) = start(RetryLayer::new(config).unwrap()).await;
    let answer = client
        .get(retry_support::Ask {
            slow_first: 1,
            slow_ms: 30_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.call, 1);
    // The first attempt's stream was reset: its handler is dropped.
    assert!(
        common::eventually(|| srv.live() == 0).await,
        "the loser still runs"
    );
    assert_eq!(srv.dropped(), 1);
    assert_eq!(srv.calls(), 2);
    handle.shutdown();
}
