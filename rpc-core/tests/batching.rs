//! Calls written in the same scheduler turn share QUIC packets (quinn's connection driver
//! runs after the tasks that wrote, and packs what they wrote), over QUIC on 127.0.0.1:
//! their frames still arrive whole and in order per stream, a lone call is sent without
//! waiting for anything, and a call cancelled inside a batch is reset without holding up
//! the others. Behaviour only: no timing is asserted.

mod common;

use bytes::Bytes;
use common::{connect, msg, start, Codec, Msg, TestServer};
use futures_util::future::join_all;
use futures_util::StreamExt;
use rpc_core::{Channel, Request};
use std::sync::atomic::Ordering;
use std::time::Duration;

const UNARY: &str = "/test.Test/Unary";
const EXPAND: &str = "/test.Test/Expand";
const COLLECT: &str = "/test.Test/Collect";

/// A payload that says which call it belongs to.
fn payload(call: u64, len: usize) -> Bytes {
    (0..len)
        .map(|i| (call as usize * 31 + i) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn sent_datagrams(channel: &Channel) -> u64 {
    channel
        .connection_stats()
        .expect("a live QUIC connection")
        .sent_datagrams
}

/// A server and a channel to it whose handshake is done and first call answered.
async fn connected() -> (TestServer, Channel) {
    let srv = start();
    let ch = connect(srv.addr).await;
    ch.unary(UNARY, Request::new(msg(0)), Codec::new())
        .await
        .unwrap();
    (srv, ch)
}

/// Waits (bounded) until `cond` holds; a hang guard, not a timing assertion.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..2_000 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

#[tokio::test]
async fn calls_written_in_one_turn_share_packets_and_arrive_whole_and_in_order() {
    let (_srv, ch) = connected().await;

    // 64 unary calls written in one turn (join_all polls them all before yielding).
    let before = sent_datagrams(&ch);
    let calls = (1..=64u64).map(|i| {
        let m = Msg {
            seq: i,
            payload: payload(i, 100),
            ..Default::default()
        };
        ch.unary(UNARY, Request::new(m), Codec::new())
    });
    for (i, res) in (1..=64u64).zip(join_all(calls).await) {
        let m = res.unwrap().into_inner();
        assert_eq!(m.seq, i);
        assert_eq!(
            m.payload,
            payload(i, 100),
            "call {i} got another call's bytes"
        );
    }
    let sent = sent_datagrams(&ch) - before;
    assert!(
        sent < 32,
        "64 requests written together took {sent} datagrams: not packed together"
    );

    // Streams of several messages each, started together with unary calls: every stream's
    // messages arrive complete and in order (the server checks the client streams' order).
    let expands = (0..4u64).map(|k| {
        let ch = ch.clone();
        async move {
            let m = Msg {
                count: 50,
                payload: payload(k, 300),
                ..Default::default()
            };
            let mut stream = ch
                .server_streaming(EXPAND, Request::new(m), Codec::new())
                .await
                .unwrap()
                .into_inner();
            let mut n = 0;
            while let Some(m) = stream.message().await.unwrap() {
                assert_eq!(m.seq, n, "stream {k}: out of order");
                assert_eq!(m.payload, payload(k, 300), "stream {k}: foreign bytes");
                n += 1;
            }
            assert_eq!(n, 50, "stream {k}: messages missing");
        }
    });
    let collects = (0..4u64).map(|k| {
        let ch = ch.clone();
        async move {
            let requests = futures_util::stream::iter((0..100u64).map(move |i| Msg {
                seq: i,
                payload: payload(k + i, 200),
                ..Default::default()
            }));
            let done = ch
                .client_streaming(COLLECT, Request::new(requests), Codec::new())
                .await
                .unwrap()
                .into_inner();
            assert_eq!((done.seq, done.count), (100, 100 * 200), "collect {k}");
        }
    });
    let unaries = (0..32u64).map(|i| {
        let ch = ch.clone();
        async move {
            let m = ch
                .unary(UNARY, Request::new(msg(1000 + i)), Codec::new())
                .await
                .unwrap();
            assert_eq!(m.into_inner().seq, 1000 + i);
        }
    });
    let all: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> = expands
        .map(|f| Box::pin(f) as _)
        .chain(collects.map(|f| Box::pin(f) as _))
        .chain(unaries.map(|f| Box::pin(f) as _))
        .collect();
    futures_util::stream::iter(all)
        .buffer_unordered(usize::MAX)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test]
async fn a_lone_call_is_sent_without_waiting_for_a_timer() {
    let (_srv, ch) = connected().await;

    // With the clock stopped no timer can fire: a request held back for a flush timer
    // would never leave while this task only yields.
    tokio::time::pause();
    let before = sent_datagrams(&ch);
    let mut call = Box::pin(ch.unary(UNARY, Request::new(msg(7)), Codec::new()));
    tokio::select! {
        biased;
        _ = &mut call => panic!("answered before it was sent"),
        () = std::future::ready(()) => {}
    }
    let mut turns = 0;
    while sent_datagrams(&ch) == before && turns < 10_000 {
        tokio::task::yield_now().await;
        turns += 1;
    }
    assert!(
        sent_datagrams(&ch) > before,
        "the request did not leave while the clock stood still"
    );
    tokio::time::resume();
    assert_eq!(call.await.unwrap().into_inner().seq, 7);
}

#[tokio::test]
async fn a_call_cancelled_in_a_batch_is_reset_without_delaying_the_others() {
    let (srv, ch) = connected().await;

    // One slow call in the middle of a batch of fast ones, all written in one turn.
    let slow = Msg {
        seq: 99,
        sleep_ms: 600_000,
        ..Default::default()
    };
    let mut slow = Box::pin(ch.unary(UNARY, Request::new(slow), Codec::new()));
    let mut fast = Box::pin(join_all((1..=15u64).map(|i| {
        let m = Msg {
            seq: i,
            payload: payload(i, 64),
            ..Default::default()
        };
        ch.unary(UNARY, Request::new(m), Codec::new())
    })));
    tokio::select! {
        biased;
        _ = &mut slow => panic!("the slow call ended at once"),
        _ = &mut fast => panic!("the batch ended before its first round trip"),
        () = std::future::ready(()) => {}
    }
    // The slow call's handler runs at the server, then the client gives up on it.
    assert!(
        eventually(|| srv.probe.0.load(Ordering::SeqCst) == 1).await,
        "the slow handler never started"
    );
    drop(slow);
    for (i, res) in (1..=15u64).zip(fast.await) {
        let m = res.expect("a call of the batch failed").into_inner();
        assert_eq!((m.seq, m.payload), (i, payload(i, 64)));
    }
    // The server heard the reset: the handler was dropped, not left running.
    assert!(
        eventually(|| srv.probe.0.load(Ordering::SeqCst) == 0).await,
        "the cancelled call's handler still runs"
    );
    // And the connection carries on.
    assert_eq!(
        ch.unary(UNARY, Request::new(msg(5)), Codec::new())
            .await
            .unwrap()
            .into_inner()
            .seq,
        5
    );
}
