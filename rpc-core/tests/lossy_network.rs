//! Calls over a lossy, delaying link, and through a blackhole longer than the idle timeout.

mod common;

use bytes::Bytes;
use common::lossy::Lossy;
use common::*;
use futures_util::StreamExt;
use rpc_core::{Code, Request};
use std::sync::atomic::Ordering;
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_call_kinds_complete_with_loss_and_delay() {
    let server_sock = Lossy::bind(0, 50, Duration::from_millis(5), 7);
    let client_sock = Lossy::bind(0, 50, Duration::from_millis(5), 11);
    let (sf, cf) = (server_sock.faults.clone(), client_sock.faults.clone());
    let svc = TestService::default();
    let server = builder().add_service(svc).bind_socket(server_sock).unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.serve());
    let ch = endpoint(addr)
        .udp_socket(client_sock)
        .connect()
        .await
        .unwrap();

    let work = async {
        for i in 0..20u64 {
            let m = Msg {
                seq: i,
                payload: Bytes::from(vec![i as u8; 3000]),
                ..Default::default()
            };
            let r = ch
                .unary("/test.Test/Unary", Request::new(m.clone()), Codec::new())
                .await
                .unwrap();
            assert_eq!(r.into_inner(), m);
        }
        let req = Msg {
            count: 200,
            payload: Bytes::from(vec![1u8; 1000]),
            ..Default::default()
        };
        let stream = ch
            .server_streaming("/test.Test/Expand", Request::new(req), Codec::new())
            .await
            .unwrap()
            .into_inner();
        let got: Vec<_> = stream.map(|m| m.unwrap().seq).collect().await;
        assert_eq!(got, (0..200).collect::<Vec<_>>());

        let reqs = futures_util::stream::iter((0..200u64).map(|i| Msg {
            seq: i,
            payload: Bytes::from(vec![2u8; 1000]),
            ..Default::default()
        }));
        let r = ch
            .client_streaming("/test.Test/Collect", Request::new(reqs), Codec::new())
            .await
            .unwrap();
        assert_eq!(r.into_inner().seq, 200);

        let reqs = futures_util::stream::iter((0..200u64).map(msg));
        let stream = ch
            .streaming("/test.Test/Chat", Request::new(reqs), Codec::new())
            .await
            .unwrap()
            .into_inner();
        let got: Vec<_> = stream.map(|m| m.unwrap().seq).collect().await;
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    };
    tokio::time::timeout(GUARD, work).await.unwrap();
    let dropped = sf.dropped.load(Ordering::Relaxed) + cf.dropped.load(Ordering::Relaxed);
    let sent = sf.sent.load(Ordering::Relaxed) + cf.sent.load(Ordering::Relaxed);
    eprintln!("lossy link: {dropped} of {sent} datagrams dropped");
    assert!(dropped > 0, "the test must actually lose packets");
    handle.shutdown();
}

#[tokio::test]
async fn blackhole_fails_in_flight_calls_with_unavailable() {
    let client_sock = Lossy::bind(0, 0, Duration::ZERO, 1);
    let faults = client_sock.faults.clone();
    let srv = start();
    let ch = endpoint(srv.addr)
        .udp_socket(client_sock)
        .idle_timeout(Duration::from_secs(1))
        .keep_alive_interval(Some(Duration::from_millis(300)))
        .connect()
        .await
        .unwrap();
    ch.unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
    let mut calls = Vec::new();
    for _ in 0..10 {
        let ch = ch.clone();
        calls.push(tokio::spawn(async move {
            ch.unary(
                "/test.Test/Unary",
                Request::new(Msg {
                    sleep_ms: 60_000,
                    ..Default::default()
                }),
                Codec::new(),
            )
            .await
        }));
    }
    assert!(eventually(|| srv.handle.active_calls() == 10).await);
    faults.blackhole.store(true, Ordering::SeqCst);
    for c in calls {
        let err = tokio::time::timeout(GUARD, c)
            .await
            .expect("a call hung through the blackhole")
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err}");
    }
}
