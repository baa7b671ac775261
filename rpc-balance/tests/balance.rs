//! The balancer over real QUIC servers on distinct loopback addresses: how calls spread,
//! a slow server, a server killed mid-load, connection scaling past a connection's stream
//! limit. Assertions are on counts, never on time.

mod common;

use common::who_client::WhoClient;
use common::{ask, builder, serve, servers, TestServer};
use rpc_balance::{BalancedChannel, EndpointState, Policy};
use rpc_core::client::retry::RetryLayer;
use rpc_core::client::service::CallService;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `calls` calls of `who` through `client`, `concurrency` at a time; returns the failures.
async fn load<S: CallService>(client: &WhoClient<S>, calls: u64, concurrency: u64) -> u64 {
    let failures = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let (failures, next) = (failures.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < calls {
                if let Err(status) = client.who(ask(1)).await {
                    eprintln!("call failed: {status}");
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    failures.load(Ordering::Relaxed)
}

fn counts(servers: &[TestServer]) -> Vec<u64> {
    servers.iter().map(|s| s.node.calls()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_spreads_calls_evenly_over_equal_servers() {
    let servers = servers(3, 0);
    let balanced = builder()
        .policy(Policy::PowerOfTwoChoices)
        .addrs(servers.iter().map(|s| s.addr))
        .build()
        .unwrap();
    assert!(balanced.ready(3).await);
    let client = WhoClient::new(balanced.clone());
    assert_eq!(load(&client, 3000, 16).await, 0);
    let counts = counts(&servers);
    println!("p2c over 3 equal servers, 3000 calls: {counts:?}");
    for c in &counts {
        assert!(
            (900..=1100).contains(c),
            "not within 10 % of 1000: {counts:?}"
        );
    }
    // The balancer's own view agrees with the servers'.
    let seen: u64 = balanced.endpoints().iter().map(|e| e.calls).sum();
    assert_eq!(seen, 3000);

    // Round robin: exactly even when nothing fails.
    let rr = builder()
        .policy(Policy::RoundRobin)
        .addrs(servers.iter().map(|s| s.addr))
        .build()
        .unwrap();
    assert!(rr.ready(3).await);
    assert_eq!(load(&WhoClient::new(rr.clone()), 300, 1).await, 0);
    let per: Vec<u64> = rr.endpoints().iter().map(|e| e.calls).collect();
    assert_eq!(per, [100, 100, 100]);

    // Pick first: the first address only.
    let first = builder()
        .policy(Policy::PickFirst)
        .addrs(servers.iter().map(|s| s.addr))
        .build()
        .unwrap();
    assert!(first.ready(3).await);
    assert_eq!(load(&WhoClient::new(first.clone()), 100, 4).await, 0);
    let per: Vec<u64> = first.endpoints().iter().map(|e| e.calls).collect();
    assert_eq!(per, [100, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_gets_markedly_less() {
    for policy in [Policy::PowerOfTwoChoices, Policy::PeakEwma] {
        let servers = servers(3, 0);
        servers[0].node.sleep_ms.store(50, Ordering::Relaxed);
        let balanced = builder()
            .policy(policy)
            .addrs(servers.iter().map(|s| s.addr))
            .build()
            .unwrap();
        assert!(balanced.ready(3).await);
        let client = WhoClient::new(balanced.clone());
        let total = 1500;
        assert_eq!(load(&client, total, 16).await, 0);
        let counts = counts(&servers);
        let share = counts[0] as f64 / total as f64;
        println!(
            "{policy}: slowed server (50 ms) got {} of {total} calls ({:.1} %, even share 33.3 %): {counts:?}",
            counts[0],
            share * 100.0
        );
        assert!(counts[0] < total / 3 / 2, "{policy}: {counts:?}");
        for s in servers {
            s.kill().await;
        }
    }
}

/// A retry policy for the test service: UNAVAILABLE retried up to 5 attempts.
fn retries() -> RetryLayer {
    RetryLayer::from_service_config(
        r#"{"methodConfig": [{"name": [{"service": "balance.test.Who"}],
            "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.01s", "maxBackoff": "0.05s",
                            "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
    )
    .unwrap()
}

async fn wait_for_state(
    balanced: &BalancedChannel,
    addr: SocketAddr,
    want: impl Fn(EndpointState) -> bool,
) {
    for _ in 0..400 {
        if balanced
            .endpoints()
            .iter()
            .any(|e| e.addr == addr && want(e.state))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "endpoint {addr} never reached the state: {:?}",
        balanced.endpoints()
    );
}

/// Binds a server at `addr` again, once the old socket is released.
async fn restart(addr: SocketAddr) -> TestServer {
    for _ in 0..100 {
        if std::net::UdpSocket::bind(addr).is_ok() {
            return serve(addr);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("cannot bind {addr} again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_ejected_and_calls_fail_over() {
    let mut servers = servers(3, 0);
    let balanced = builder()
        .policy(Policy::PowerOfTwoChoices)
        .ejection(3, Duration::from_millis(300), Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(200))
        .addrs(servers.iter().map(|s| s.addr))
        .build()
        .unwrap();
    assert!(balanced.ready(3).await);
    let stack = tower::ServiceBuilder::new()
        .layer(retries())
        .service(balanced.clone());
    let client = WhoClient::new(stack);

    // Load runs while the server goes away.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        let (stop, failures, done) = (stop.clone(), failures.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match client.who(ask(1)).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(status) => {
                        eprintln!("failed: {status}");
                        failures.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    let wait_done = |n: u64| {
        let done = done.clone();
        async move {
            let target = done.load(Ordering::Relaxed) + n;
            while done.load(Ordering::Relaxed) < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    wait_done(600).await;
    let victim = servers.remove(1);
    let addr = victim.addr;
    let before_kill = victim.node.calls();
    victim.kill().await;
    wait_for_state(&balanced, addr, |s| s != EndpointState::Ready).await;
    wait_done(300).await;
    let calls_there = balanced
        .endpoints()
        .iter()
        .find(|e| e.addr == addr)
        .unwrap()
        .calls;
    wait_done(1000).await;
    let after = balanced
        .endpoints()
        .iter()
        .find(|e| e.addr == addr)
        .unwrap()
        .clone();
    assert_eq!(
        after.calls, calls_there,
        "calls went to a dead server: {after:?}"
    );
    println!(
        "killed {addr} after it served {before_kill} calls: {:?}; ejections {}, failures seen there {}",
        after.state, after.ejections, after.failures
    );

    // It comes back: picked again.
    let back = restart(addr).await;
    wait_for_state(&balanced, addr, |s| s == EndpointState::Ready).await;
    wait_done(1000).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "idempotent calls failed"
    );
    assert!(
        back.node.calls() > 0,
        "the server that came back gets no calls"
    );
    println!(
        "after its return: {} calls there; distribution {:?}",
        back.node.calls(),
        balanced
            .endpoints()
            .iter()
            .map(|e| (e.addr, e.calls))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_calls_in_flight_get_extra_connections() {
    let server = serve(SocketAddr::from(([127, 0, 0, 2], 0)));
    let balanced = builder().addrs([server.addr]).build().unwrap();
    assert!(balanced.ready(1).await);
    let client = WhoClient::new(balanced.clone());
    let n = 5000;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut held = ask(1);
            held.hold = true;
            client.who(held).await
        }));
    }
    // Every call reaches the handler while all are held: none queues for a stream.
    let mut peak_connections = 0;
    for _ in 0..3000 {
        peak_connections = peak_connections.max(server.handle.active_connections());
        if server.handle.active_calls() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let in_handlers = server.handle.active_calls();
    let connections = server.handle.active_connections();
    let stats = balanced.endpoints()[0].clone();
    println!(
        "{in_handlers} calls in flight at once over {connections} connections (server's view; \
         client opened {}); limit 1024 calls per connection",
        stats.connections_opened
    );
    assert_eq!(in_handlers, n);
    assert_eq!(connections, 5, "ceil(5000 / 1024) connections");
    server.node.gate.send_replace(true);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_server_gets_no_new_calls_and_finishes_its_own() {
    let graceful = rpc_core::Server::builder().shutdown_grace_period(Duration::from_secs(30));
    let a = common::serve_with(
        SocketAddr::from(([127, 0, 0, 2], 0)),
        graceful,
        common::Node::default(),
    );
    let b = serve(SocketAddr::from(([127, 0, 0, 3], 0)));
    b.node.gate.send_replace(true);
    let balanced = builder()
        .policy(Policy::RoundRobin)
        .addrs([a.addr, b.addr])
        .build()
        .unwrap();
    assert!(balanced.ready(2).await);
    let client = WhoClient::new(balanced.clone());

    // Calls held in A's handlers (B answers its share at once).
    let mut held = Vec::new();
    for _ in 0..10 {
        let client = client.clone();
        held.push(tokio::spawn(async move {
            let mut ask = ask(1);
            ask.hold = true;
            client.who(ask).await
        }));
    }
    for _ in 0..400 {
        if a.handle.active_calls() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(a.handle.active_calls(), 5);

    // A drains (PROTOCOL.md §12.1): no new call goes there, its own calls finish.
    a.handle.shutdown();
    wait_for_state(&balanced, a.addr, |s| s != EndpointState::Ready).await;
    let on_a = a.node.calls();
    for i in 0..100 {
        let answer = client.who(ask(i)).await.unwrap().into_inner();
        assert_eq!(answer.server, b.addr.to_string());
    }
    assert_eq!(a.node.calls(), on_a);
    a.node.gate.send_replace(true);
    for call in held {
        call.await.unwrap().unwrap();
    }
    println!("drained: {:?}", balanced.endpoints());
}
