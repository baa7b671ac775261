//! A new connection to a peer starts at the path MTU the previous one found
//! (`transport::quic::pmtu`), instead of searching from 1200 bytes again; both sides report
//! their connections' statistics.

mod common;

use common::*;
use rpc_core::Request;

#[tokio::test]
async fn a_new_connection_starts_at_the_path_mtu_the_last_one_found() {
    let srv = start();
    let first = connect(srv.addr).await;
    let reply = first
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().seq, 1);
    // Path MTU discovery runs after the handshake: on loopback it reaches the 6000-byte
    // ceiling within a few round trips.
    let ceiling = rpc_core::DEFAULT_MAX_UDP_PAYLOAD_SIZE;
    assert!(
        eventually(|| first.connection_stats().unwrap().path_mtu == ceiling).await,
        "the first connection's search ends at the ceiling"
    );
    assert!(
        eventually(|| srv
            .handle
            .connection_stats()
            .iter()
            .any(|s| s.path_mtu == ceiling && s.received_datagrams > 0))
        .await
    );
    drop(first);

    // Right after its handshake, before any probe could have been acknowledged, the next
    // connection already sends at the learned MTU.
    let second = connect(srv.addr).await;
    assert_eq!(second.connection_stats().unwrap().path_mtu, ceiling);
    let reply = second
        .unary("/test.Test/Unary", Request::new(msg(2)), Codec::new())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().seq, 2);
}
