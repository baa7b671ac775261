//! Hostile clients: rapid reset, slowloris, oversize input, connection floods, cancellation
//! storms. The server stays bounded and keeps serving well-behaved clients.

mod common;

use bytes::Bytes;
use common::*;
use rpc_core::{Code, Request};
use std::sync::atomic::Ordering;
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(120);

async fn good_call(ch: &rpc_core::Channel) {
    let r = tokio::time::timeout(
        GUARD,
        ch.unary("/test.Test/Unary", Request::new(msg(42)), Codec::new()),
    )
    .await
    .expect("a well-behaved call hung")
    .unwrap();
    assert_eq!(r.into_inner().seq, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_is_survived() {
    let srv = start();
    let good = connect(srv.addr).await;
    let rogue = raw_connection(srv.addr).await;
    let mut head = bytes::BytesMut::new();
    rpc_core::wire::encode::request_head(
        &rpc_core::wire::RequestHead {
            path: "/test.Test/Unary".into(),
            timeout: None,
            flags: 0,
            metadata: Default::default(),
        },
        &mut head,
    );
    let head = head.freeze();
    for i in 0..5000u32 {
        let (mut send, mut recv) = rogue.open_bi().await.unwrap();
        if i % 2 == 0 {
            let _ = send.write_all(&head).await;
        }
        let _ = send.reset(1u32.into());
        let _ = recv.stop(1u32.into());
        if i % 1000 == 0 {
            good_call(&good).await;
        }
    }
    good_call(&good).await;
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
}

#[tokio::test]
async fn slowloris_streams_are_released_by_the_header_timeout() {
    let srv = start_with(builder().header_timeout(Duration::from_millis(200)));
    let good = connect(srv.addr).await;
    let rogue = raw_connection(srv.addr).await;
    let mut held = Vec::new();
    for _ in 0..100 {
        let (mut send, recv) = rogue.open_bi().await.unwrap();
        // One byte of a frame header, then nothing.
        send.write_all(&[1]).await.unwrap();
        held.push((send, recv));
    }
    assert!(eventually(|| srv.handle.active_calls() >= 100).await);
    good_call(&good).await;
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
    // Each held stream was reset by the server.
    for (_, mut recv) in held {
        let res = tokio::time::timeout(GUARD, recv.read_to_end(1024))
            .await
            .unwrap();
        assert!(res.is_err());
    }
}

#[tokio::test]
async fn lying_length_does_not_allocate_or_hang() {
    let srv = start();
    let rogue = raw_connection(srv.addr).await;
    let before = rss_bytes();
    let mut streams = Vec::new();
    for _ in 0..200 {
        let (mut send, recv) = rogue.open_bi().await.unwrap();
        // HEADERS claiming 4 GiB and MESSAGE claiming 4 MiB - 1 (under the limit), then silence.
        let mut b = bytes::BytesMut::new();
        rpc_core::wire::encode::request_head(
            &rpc_core::wire::RequestHead {
                path: "/test.Test/Unary".into(),
                timeout: None,
                flags: 0,
                metadata: Default::default(),
            },
            &mut b,
        );
        // A MESSAGE frame header (type 0, no flags) announcing 4 MiB - 1 that never come.
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&(4u32 * 1024 * 1024 - 1).to_be_bytes());
        b.extend_from_slice(&[0u8; 100]);
        send.write_all(&b).await.unwrap();
        streams.push((send, recv));
    }
    assert!(eventually(|| srv.handle.active_calls() >= 200).await);
    let grown = rss_bytes().saturating_sub(before);
    // 200 claims of 4 MiB would be 800 MiB if allocated up front.
    assert!(grown < 200 * 1024 * 1024, "rss grew by {grown} bytes");
    drop(streams);
    drop(rogue);
}

#[tokio::test]
async fn connection_limit_refuses_extra_handshakes() {
    let srv = start_with(builder().max_connections(3));
    let mut channels = Vec::new();
    for _ in 0..3 {
        channels.push(connect(srv.addr).await);
    }
    assert!(eventually(|| srv.handle.active_connections() == 3).await);
    let err = endpoint(srv.addr)
        .handshake_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
    for ch in &channels {
        good_call(ch).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_storm_leaves_nothing_behind() {
    let srv = start();
    let ch = connect(srv.addr).await;
    good_call(&ch).await;
    // The first storm warms the allocator up (it keeps freed memory); a leak shows as growth
    // in each storm after it. The smaller growth of two storms is what counts: the
    // allocator's peaks differ from storm to storm by several MiB, a leak would not.
    storm(&ch).await;
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
    let mut growth = Vec::new();
    for _ in 0..2 {
        let before = rss_bytes();
        storm(&ch).await;
        assert!(eventually(|| srv.handle.active_calls() == 0).await);
        assert!(eventually(|| srv.probe.0.load(Ordering::SeqCst) == 0).await);
        growth.push(rss_bytes().saturating_sub(before));
    }
    good_call(&ch).await;
    let grown = growth.iter().copied().min().unwrap_or(0);
    eprintln!(
        "cancellation storm: 3 x 3000 calls; rss grew {} and {} KiB in the last two",
        growth[0] / 1024,
        growth[1] / 1024
    );
    assert!(
        grown < 16 * 1024 * 1024,
        "rss grew by {growth:?} bytes in both storms"
    );
}

async fn storm(ch: &rpc_core::Channel) {
    let mut tasks = Vec::new();
    for i in 0..3000u64 {
        let ch = ch.clone();
        tasks.push(tokio::spawn(async move {
            let kind = i % 6;
            let cancel_after = Duration::from_micros((i * 7919) % 3000);
            match kind {
                // Unary dropped at a random point (before the request, mid-call, after).
                0 => {
                    let m = Msg {
                        sleep_ms: i % 3,
                        payload: Bytes::from(vec![0u8; (i % 5000) as usize]),
                        ..Default::default()
                    };
                    let _ = tokio::time::timeout(
                        cancel_after,
                        ch.unary("/test.Test/Unary", Request::new(m), Codec::new()),
                    )
                    .await;
                }
                // Deadline on a sleeping server.
                1 => {
                    let mut r = Request::new(Msg {
                        sleep_ms: 50,
                        ..Default::default()
                    });
                    r.set_timeout(cancel_after);
                    let res = ch.unary("/test.Test/Unary", r, Codec::new()).await;
                    if let Err(e) = res {
                        assert_eq!(e.code(), Code::DeadlineExceeded, "{e}");
                    }
                }
                // Server stream dropped mid-way.
                2 => {
                    let req = Msg {
                        count: 1000,
                        ..Default::default()
                    };
                    if let Ok(r) = ch
                        .server_streaming("/test.Test/Expand", Request::new(req), Codec::new())
                        .await
                    {
                        let mut s = r.into_inner();
                        for _ in 0..(i % 10) {
                            let _ = s.message().await;
                        }
                    }
                }
                // Client stream abandoned mid-way.
                3 => {
                    let reqs = futures_util::stream::iter((0..u64::MAX).map(msg));
                    let _ = tokio::time::timeout(
                        cancel_after,
                        ch.client_streaming("/test.Test/Collect", Request::new(reqs), Codec::new()),
                    )
                    .await;
                }
                // Bidi dropped after some replies.
                4 => {
                    let reqs = futures_util::stream::iter((0..1000u64).map(msg));
                    if let Ok(r) = ch
                        .streaming("/test.Test/Chat", Request::new(reqs), Codec::new())
                        .await
                    {
                        let mut s = r.into_inner();
                        for _ in 0..(i % 7) {
                            let _ = s.message().await;
                        }
                    }
                }
                // Completed normally.
                _ => {
                    let _ = ch
                        .unary("/test.Test/Unary", Request::new(msg(i)), Codec::new())
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(GUARD, t).await.unwrap().unwrap();
    }
}
