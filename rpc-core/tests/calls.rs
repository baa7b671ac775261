//! Every call kind end to end over QUIC on 127.0.0.1.

mod common;

use bytes::Bytes;
use common::*;
use futures_util::StreamExt;
use rpc_core::{Code, Request};

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

#[tokio::test]
async fn unary_empty_and_large() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let r = ch
        .unary(
            "/test.Test/Unary",
            Request::new(Msg::default()),
            Codec::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.into_inner(), Msg::default());

    let big = Msg {
        payload: Bytes::from(vec![7u8; 1 << 20]),
        seq: 9,
        ..Default::default()
    };
    let r = ch
        .unary("/test.Test/Unary", Request::new(big.clone()), Codec::new())
        .await
        .unwrap();
    assert_eq!(r.into_inner(), big);
}

#[tokio::test]
async fn server_streaming_10k_in_order() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let req = Msg {
        count: 10_000,
        payload: Bytes::from_static(b"x"),
        ..Default::default()
    };
    let mut stream = ch
        .server_streaming("/test.Test/Expand", Request::new(req), Codec::new())
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(m) = stream.message().await.unwrap() {
        assert_eq!(m.seq, n);
        n += 1;
    }
    assert_eq!(n, 10_000);
    assert!(stream.trailers().is_some());
}

#[tokio::test]
async fn server_streaming_empty() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let mut stream = ch
        .server_streaming(
            "/test.Test/Expand",
            Request::new(Msg::default()),
            Codec::new(),
        )
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_none());
}

#[tokio::test]
async fn client_streaming_10k_in_order() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let reqs = futures_util::stream::iter((0..10_000u64).map(|i| Msg {
        seq: i,
        payload: Bytes::from_static(b"ab"),
        ..Default::default()
    }));
    let r = ch
        .client_streaming("/test.Test/Collect", Request::new(reqs), Codec::new())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.seq, 10_000);
    assert_eq!(r.count, 20_000);

    // No messages at all.
    let r = ch
        .client_streaming(
            "/test.Test/Collect",
            Request::new(futures_util::stream::empty::<Msg>()),
            Codec::new(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.seq, 0);
}

#[tokio::test]
async fn bidi_10k_in_order() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let reqs = futures_util::stream::iter((0..10_000u64).map(msg));
    let mut stream = ch
        .streaming("/test.Test/Chat", Request::new(reqs), Codec::new())
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(m) = stream.next().await {
        assert_eq!(m.unwrap().seq, n);
        n += 1;
    }
    assert_eq!(n, 10_000);
}

#[tokio::test]
async fn bidi_ping_pong() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(1);
    let reqs = tokio_stream::wrappers::ReceiverStream::new(rx);
    tx.send(msg(0)).await.unwrap();
    let mut stream = ch
        .streaming("/test.Test/Chat", Request::new(reqs), Codec::new())
        .await
        .unwrap()
        .into_inner();
    for i in 0..100 {
        let m = stream.message().await.unwrap().unwrap();
        assert_eq!(m.seq, i);
        tx.send(msg(i + 1)).await.unwrap();
    }
    drop(tx);
    assert_eq!(stream.message().await.unwrap().unwrap().seq, 100);
    assert!(stream.message().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_calls_on_one_connection() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let mut tasks = Vec::new();
    for i in 0..1000u64 {
        let ch = ch.clone();
        tasks.push(tokio::spawn(async move {
            let m = Msg {
                seq: i,
                payload: Bytes::from(i.to_string()),
                ..Default::default()
            };
            let r = ch
                .unary("/test.Test/Unary", Request::new(m.clone()), Codec::new())
                .await
                .unwrap();
            assert_eq!(r.into_inner(), m);
        }));
    }
    for t in tasks {
        tokio::time::timeout(TIMEOUT, t).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn unknown_service_and_method_are_unimplemented() {
    let srv = start();
    let ch = connect(srv.addr).await;
    for path in ["/test.Test/Nope", "/nope.Svc/Unary"] {
        let err = ch
            .unary(path, Request::new(msg(0)), Codec::new())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented, "{path}: {err}");
    }
    // A malformed path is refused too, and the connection stays usable.
    let err = ch
        .unary("no-slash", Request::new(msg(0)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err}");
    ch.unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn statuses_and_unicode_messages() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let text = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";
    for code in 1..=16u32 {
        let m = Msg {
            fail_code: code,
            payload: Bytes::from(text),
            ..Default::default()
        };
        let err = ch
            .unary("/test.Test/Unary", Request::new(m), Codec::new())
            .await
            .unwrap_err();
        assert_eq!(err.code() as u32, code);
        assert_eq!(err.message(), text);
    }
}

#[tokio::test]
async fn metadata_round_trip() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let mut req = Request::new(msg(1));
    req.metadata_mut().insert("x-ascii", "hello world").unwrap();
    req.metadata_mut()
        .insert_bin("x-bin", Bytes::from_static(b"\x00\xff\xfe"))
        .unwrap();
    let r = ch
        .unary("/test.Test/Unary", req, Codec::new())
        .await
        .unwrap();
    assert_eq!(r.metadata().get("x-ascii"), Some("hello world"));
    assert_eq!(
        r.metadata().get_bin("x-bin").unwrap().as_ref(),
        b"\x00\xff\xfe"
    );
    assert_eq!(r.trailers().get("x-ascii-t"), Some("hello world"));
    assert_eq!(
        r.trailers().get_bin("x-t-bin").unwrap().as_ref(),
        b"\x00\xff\xfe"
    );
}

#[tokio::test]
async fn server_error_mid_stream() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let req = Msg {
        count: 5,
        fail_code: Code::DataLoss as u32,
        ..Default::default()
    };
    let mut stream = ch
        .server_streaming("/test.Test/Expand", Request::new(req), Codec::new())
        .await
        .unwrap()
        .into_inner();
    for i in 0..4 {
        assert_eq!(stream.message().await.unwrap().unwrap().seq, i);
    }
    let err = stream.message().await.unwrap_err();
    assert_eq!(err.code(), Code::DataLoss);
    assert!(stream.message().await.unwrap().is_none());
}
