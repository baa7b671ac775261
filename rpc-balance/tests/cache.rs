//! The response cache over a balanced channel: repeats of a side-effect-free call the
//! server allowed to be cached are answered by the client; nothing else is.

mod common;

use common::who_client::{WhoClient, NO_SIDE_EFFECT_METHODS};
use common::{builder, servers, Ask};
use rpc_balance::cache::CacheLayer;
use rpc_core::Code;
use std::time::{Duration, Instant};
use tower_layer::Layer;

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_of_a_cacheable_call_are_served_from_the_cache() {
    assert_eq!(NO_SIDE_EFFECT_METHODS, [common::LOOKUP]);
    let servers = servers(2, 0);
    let balanced = builder()
        .addrs(servers.iter().map(|s| s.addr))
        .build()
        .unwrap();
    assert!(balanced.ready(2).await);
    let cache = CacheLayer::new(1 << 20)
        .methods(NO_SIDE_EFFECT_METHODS.iter().copied())
        .key_metadata(["authorization"]);
    let client = WhoClient::new(cache.layer(balanced.clone()));
    let calls = || servers.iter().map(|s| s.node.calls()).sum::<u64>();

    // Allowed for 60 s: one call reaches a server, the rest are hits.
    let allowed = Ask {
        n: 7,
        cache_secs: 60,
        ..Default::default()
    };
    let mut times = Vec::new();
    let mut first = None;
    for _ in 0..200 {
        let start = Instant::now();
        let answer = client.lookup(allowed.clone()).await.unwrap().into_inner();
        times.push(start.elapsed());
        assert_eq!(*first.get_or_insert(answer.clone()), answer);
    }
    assert_eq!(calls(), 1);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.stores), (199, 1, 1));
    let miss = times[0];
    let hit_p50 = p50(times[1..].to_vec());

    // The same calls without the cache, for comparison.
    let plain = WhoClient::new(balanced.clone());
    let mut uncached = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        plain.lookup(allowed.clone()).await.unwrap();
        uncached.push(start.elapsed());
    }
    println!(
        "cache: hit ratio {:.3} ({} hits, {} misses); p50 {:?} from the cache vs {:?} from a \
         server (first call {:?})",
        stats.hit_ratio(),
        stats.hits,
        stats.misses,
        hit_p50,
        p50(uncached),
        miss
    );

    // Other request bytes, other metadata: other entries.
    client
        .lookup(Ask {
            n: 8,
            ..allowed.clone()
        })
        .await
        .unwrap();
    let mut request = rpc_core::Request::new(allowed.clone());
    request
        .metadata_mut()
        .insert("authorization", "Bearer other")
        .unwrap();
    let before = calls();
    client.lookup(request).await.unwrap();
    assert_eq!(calls(), before + 1, "another caller's answer was served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_cached_without_the_servers_permission() {
    let servers = servers(1, 0);
    let balanced = builder().addrs([servers[0].addr]).build().unwrap();
    let cache = CacheLayer::new(1 << 20).methods(NO_SIDE_EFFECT_METHODS.iter().copied());
    let client = WhoClient::new(cache.layer(balanced));

    // No trailer: every call reaches the server.
    for _ in 0..20 {
        client.lookup(common::ask(1)).await.unwrap();
    }
    assert_eq!(servers[0].node.calls(), 20);
    // An error, even with the trailer asked for: never cached.
    let failing = Ask {
        cache_secs: 60,
        fail: Code::NotFound as i32,
        ..Default::default()
    };
    for _ in 0..5 {
        let err = client.lookup(failing.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
    }
    assert_eq!(servers[0].node.calls(), 25);
    // An idempotent method that is not side-effect-free: never cached.
    let allowed = Ask {
        cache_secs: 60,
        ..Default::default()
    };
    for _ in 0..5 {
        client.who(allowed.clone()).await.unwrap();
    }
    assert_eq!(servers[0].node.calls(), 30);
    assert_eq!(cache.stats().stores, 0);
    assert_eq!(cache.stats().hits, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_stays_within_its_byte_bound() {
    let servers = servers(1, 0);
    let balanced = builder().addrs([servers[0].addr]).build().unwrap();
    let cache = CacheLayer::new(16 << 10).methods(NO_SIDE_EFFECT_METHODS.iter().copied());
    let client = WhoClient::new(cache.layer(balanced));
    for n in 0..500 {
        let ask = Ask {
            n,
            cache_secs: 60,
            ..Default::default()
        };
        client.lookup(ask).await.unwrap();
        assert!(cache.stats().bytes <= 16 << 10);
    }
    let stats = cache.stats();
    assert!(stats.evictions > 0 && stats.entries < 500, "{stats:?}");
    // The most recent entries are still there.
    let last = Ask {
        n: 499,
        cache_secs: 60,
        ..Default::default()
    };
    client.lookup(last).await.unwrap();
    assert_eq!(cache.stats().hits, 1);
}
