//! Rolling restarts with zero failed calls (the fault-tolerance issue's acceptance tests),
//! while the client makes idempotent calls at a steady rate; every call must succeed:
//!
//! * three `interop-server` processes behind one balanced channel with a retry policy. Each
//!   server in turn gets SIGTERM (it sends the drain notice, finishes its calls and exits),
//!   and is started again on the same port; two rounds, six restarts;
//! * one server behind a plain `Channel` (retry policy from a service config, wait for
//!   ready, a short reconnect backoff), restarted five times: while it is down, calls wait
//!   for the new process within their deadline.
//!
//! What makes it work: the drain notice moves new calls off a draining server at once
//! (PROTOCOL.md §12.1); the balancer picks no server whose connection drains or fails; calls
//! refused before a handler saw them are sent again transparently, and the retry policy
//! covers the rest (UNAVAILABLE, up to 5 attempts, with backoff).

#![cfg(unix)]

use interop::pb::test_service_client::TestServiceClient;
use interop::pb::SimpleRequest;
use rpc_balance::{BalancedChannel, EndpointState, Policy};
use rpc_core::client::retry::RetryLayer;
use rpc_core::client::service::CallRequest;
use rpc_core::client::BackoffConfig;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Request};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{pem_files, ServerProcess};

mod support;

/// Rounds of restarts (each restarts every server once).
const ROUNDS: usize = 2;
/// Concurrent callers, each making one call every `PACE`.
const CALLERS: usize = 4;
const PACE: Duration = Duration::from_millis(5);

/// Counts the attempts that reach the balancer (below the retry layer).
fn counting(
    attempts: Arc<AtomicU64>,
) -> tower::util::MapRequestLayer<impl Fn(CallRequest) -> CallRequest + Clone> {
    tower::util::MapRequestLayer::new(move |call: CallRequest| {
        attempts.fetch_add(1, Ordering::Relaxed);
        call
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_fails_no_idempotent_call() {
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let (cert_path, key_path) = pem_files(&cert, "balanced");
    let mut servers: Vec<ServerProcess> = (0..3)
        .map(|_| ServerProcess::start(0, &cert_path, &key_path))
        .collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();

    let tls = cert.client_config();
    let balanced =
        BalancedChannel::builder(move |addr| Endpoint::from_addr(addr).tls_config(tls.clone()))
            .policy(Policy::PowerOfTwoChoices)
            .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(500))
            .addrs(addrs.iter().copied())
            .build()
            .unwrap();
    all_ready(&balanced).await;
    let retries = RetryLayer::from_service_config(SERVICE_CONFIG).unwrap();
    let attempts = Arc::new(AtomicU64::new(0));
    let stack = tower::ServiceBuilder::new()
        .layer(retries)
        .layer(counting(attempts.clone()))
        .service(balanced.clone());
    let client = TestServiceClient::new(stack);

    let load = Load::start(client);
    let mut restarts = 0;
    for _ in 0..ROUNDS {
        for server in servers.iter_mut() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let port = server.addr.port();
            let code = tokio::task::block_in_place(|| server.terminate());
            assert_eq!(code, Some(0), "a drained server exits 0");
            *server = ServerProcess::start(port, &cert_path, &key_path);
            restarts += 1;
        }
    }
    // Calls keep going until every server is back in the balancer's choice.
    all_ready(&balanced).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    load.check(
        "3 servers, balanced",
        restarts,
        attempts.load(Ordering::Relaxed),
    )
    .await;
    assert_eq!(restarts, 3 * ROUNDS);
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_restarted_five_times_fails_no_idempotent_call() {
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let (cert_path, key_path) = pem_files(&cert, "one");
    let mut server = ServerProcess::start(0, &cert_path, &key_path);
    let channel = Endpoint::from_addr(server.addr)
        .tls_config(cert.client_config())
        .connect_backoff(
            BackoffConfig::new()
                .base_delay(Duration::from_millis(50))
                .max_delay(Duration::from_millis(500)),
        )
        .wait_for_ready(true)
        .service_config(SERVICE_CONFIG)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let load = Load::start(TestServiceClient::new(channel));
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let port = server.addr.port();
        let code = tokio::task::block_in_place(|| server.terminate());
        assert_eq!(code, Some(0), "a drained server exits 0");
        server = ServerProcess::start(port, &cert_path, &key_path);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // (Attempts are not counted on this path: the retry layer is inside the channel.)
    load.check("1 server, plain channel", 5, 0).await;
}

/// Waits until the balancer has every server ready (a hang guard, not a timing assertion:
/// on a loaded machine a handshake may take a few tries).
async fn all_ready(balanced: &BalancedChannel) {
    for _ in 0..600 {
        if balanced
            .endpoints()
            .iter()
            .all(|e| e.state == EndpointState::Ready)
        {
            return;
        }
        let _ = balanced.ready(3).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("servers never all ready: {:?}", balanced.endpoints());
}

/// Retries of UNAVAILABLE, up to 5 attempts.
const SERVICE_CONFIG: &str = r#"{"methodConfig": [{"name": [{"service": "grpc.testing.TestService"}],
    "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.05s", "maxBackoff": "0.5s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#;

/// Callers making idempotent unary calls at a steady pace, counting calls and failures.
struct Load {
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    callers: Vec<tokio::task::JoinHandle<Vec<rpc_core::Status>>>,
}

impl Load {
    fn start<S: rpc_core::client::service::CallService>(client: TestServiceClient<S>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (calls, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (client, stop) = (client.clone(), stop.clone());
                let (calls, failed) = (calls.clone(), failed.clone());
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let mut request = Request::new(SimpleRequest {
                            response_size: 16,
                            ..Default::default()
                        });
                        request.set_idempotent(true);
                        request.set_timeout(Duration::from_secs(10));
                        calls.fetch_add(1, Ordering::Relaxed);
                        if let Err(status) = client.unary_call(request).await {
                            failed.fetch_add(1, Ordering::Relaxed);
                            failures.push(status);
                        }
                        tokio::time::sleep(PACE).await;
                    }
                    failures
                })
            })
            .collect();

        Load {
            stop,
            calls,
            failed,
            callers,
        }
    }

    /// Stops the callers and checks that no call failed; prints the figures.
    async fn check(self, setup: &str, restarts: usize, attempts: u64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = Vec::new();
        for caller in self.callers {
            failures.extend(caller.await.unwrap());
        }
        let calls = self.calls.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        println!(
            "rolling restart, {setup}: {restarts} restarts, {calls} calls, {attempts} attempts \
             ({} retried), {failed} failed",
            attempts.saturating_sub(calls)
        );
        assert!(calls > 100, "the load ran throughout: {calls} calls");
        assert_eq!(failed, 0, "failed calls: {failures:?}");
    }
}
