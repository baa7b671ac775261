//! `CallInfo` over real QUIC on 127.0.0.1: the stream a call went on, the connection's QUIC
//! facts, and where the time went, including the server's own handler time from the
//! trailers. Asserted as facts and orderings (a sleeping handler's time is at least its
//! sleep), never as wall-clock budgets.

mod common;

use common::*;
use rpc_core::codegen::client;
use rpc_core::{CallInfo, Request};
use std::time::Duration;
use tower::ServiceBuilder;

fn collected(m: Msg) -> Request<Msg> {
    let mut request = Request::new(m);
    CallInfo::collect(&mut request);
    request
}

fn sleepy(ms: u64) -> Msg {
    let mut m = msg(1);
    m.sleep_ms = ms;
    m
}

#[tokio::test]
async fn a_unary_call_reports_its_stream_connection_and_phases() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = ch
            .unary("/test.Test/Unary", collected(sleepy(20)), Codec::new())
            .await
            .unwrap();
        let info = CallInfo::of(&response).expect("collected").clone();
        ids.push(info.stream_id.expect("QUIC numbers streams"));
        let t = info.timings;
        let server = t.server.expect("the server reports its handler time");
        assert!(server >= Duration::from_millis(20), "{t:?}");
        assert!(
            t.network >= server,
            "the network phase includes the handler: {t:?}"
        );
        assert!(
            t.total >= t.encode + t.queue + t.network + t.decode,
            "{t:?}"
        );
        let stats = info.connection.expect("QUIC keeps statistics");
        assert!(stats.rtt > Duration::ZERO && stats.cwnd > 0 && stats.sent_packets > 0);
        assert!(!info.early_data && !info.zero_rtt_connection);
    }
    // Client-initiated bidirectional streams: 0, 4, 8... (RFC 9000 §2.1).
    assert_eq!(ids[1], ids[0] + 4, "{ids:?}");
}

#[tokio::test]
async fn nothing_is_collected_unless_asked() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let response = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
    assert!(CallInfo::of(&response).is_none());
    assert!(CallInfo::server_time(response.trailers()).is_none());
}

#[tokio::test]
async fn the_tower_path_and_server_streaming_report_too() {
    let srv = start();
    let ch = connect(srv.addr).await;
    let stack = ServiceBuilder::new().service(ch.clone());
    let through_tower = client::unary(
        &stack,
        "/test.Test/Unary",
        collected(sleepy(10)),
        Codec::new(),
    )
    .await
    .unwrap();
    let info = CallInfo::of(&through_tower).expect("kept through the stack");
    assert!(info.stream_id.is_some());
    assert!(info.timings.server.expect("from the trailers") >= Duration::from_millis(10));

    let mut m = msg(0);
    m.count = 3;
    let response = ch
        .server_streaming("/test.Test/Expand", collected(m), Codec::new())
        .await
        .unwrap();
    let info = CallInfo::of(&response).expect("collected at the first answer");
    assert!(info.stream_id.is_some() && info.connection.is_some());
    let mut stream = response.into_inner();
    while stream.message().await.unwrap().is_some() {}
}
