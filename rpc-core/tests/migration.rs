//! Connection migration (RFC 9000 §9), over real QUIC on 127.0.0.1: calls of all four kinds
//! in flight carry on when the client's address changes, whether the client moves on
//! purpose (`Channel::rebind`, a new network) or a NAT on the path rebinds its source port
//! behind its back (the lossy socket wrapper's `nat_rebind`). The server keeps serving the
//! same connection: no reconnect, no call lost.

mod common;

use common::lossy::Lossy;
use common::*;
use rpc_core::client::ConnectivityState;
use rpc_core::{Channel, Request, Status};
use std::time::Duration;
use tokio::task::JoinHandle;

/// A hang guard, never a timing assertion.
const GUARD: Duration = Duration::from_secs(30);
/// Messages per streaming call, one every `STEP`.
const N: u64 = 10;
const STEP: Duration = Duration::from_millis(80);

fn paced() -> impl futures_util::Stream<Item = Msg> + Send + 'static {
    futures_util::stream::unfold(0u64, |i| async move {
        if i == N {
            return None;
        }
        tokio::time::sleep(STEP).await;
        Some((msg(i), i + 1))
    })
}

type Outcome = Result<Vec<u64>, Status>;

/// Starts one call of each kind, each lasting about `N x STEP`; each resolves to the
/// sequence numbers it received.
fn four_calls(ch: &Channel) -> Vec<(&'static str, JoinHandle<Outcome>)> {
    let unary = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let m = Msg {
                seq: 42,
                sleep_ms: N * STEP.as_millis() as u64,
                ..Default::default()
            };
            let r = ch
                .unary("/test.Test/Unary", Request::new(m), Codec::new())
                .await?;
            Ok(vec![r.into_inner().seq])
        })
    };
    let server_streaming = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let m = Msg {
                count: N as u32,
                sleep_ms: STEP.as_millis() as u64,
                ..Default::default()
            };
            let mut s = ch
                .server_streaming("/test.Test/Expand", Request::new(m), Codec::new())
                .await?
                .into_inner();
            let mut seen = Vec::new();
            while let Some(m) = s.message().await? {
                seen.push(m.seq);
            }
            Ok(seen)
        })
    };
    let client_streaming = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let r = ch
                .client_streaming("/test.Test/Collect", Request::new(paced()), Codec::new())
                .await?;
            Ok(vec![r.into_inner().seq])
        })
    };
    let bidi = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let mut s = ch
                .streaming("/test.Test/Chat", Request::new(paced()), Codec::new())
                .await?
                .into_inner();
            let mut seen = Vec::new();
            while let Some(m) = s.message().await? {
                seen.push(m.seq);
            }
            Ok(seen)
        })
    };
    vec![
        ("unary", unary),
        ("server streaming", server_streaming),
        ("client streaming", client_streaming),
        ("bidi", bidi),
    ]
}

async fn check(calls: Vec<(&'static str, JoinHandle<Outcome>)>) {
    let all: Vec<u64> = (0..N).collect();
    for (kind, call) in calls {
        let got = tokio::time::timeout(GUARD, call)
            .await
            .unwrap_or_else(|_| panic!("{kind}: hung after the address change"))
            .unwrap()
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let want = match kind {
            "unary" => vec![42],
            "client streaming" => vec![N],
            _ => all.clone(),
        };
        assert_eq!(got, want, "{kind}");
    }
}

/// The client moves to a new UDP socket mid-call (`Channel::rebind`): every call completes
/// with all its messages, on the same connection.
#[tokio::test]
async fn calls_survive_the_client_moving_to_a_new_socket() {
    let srv = start();
    let ch = endpoint(srv.addr)
        .local_address("127.0.0.1:0".parse().unwrap())
        .connect()
        .await
        .unwrap();
    assert_eq!(
        ch.unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
            .await
            .unwrap()
            .into_inner()
            .seq,
        1
    );
    let calls = four_calls(&ch);
    tokio::time::sleep(STEP * 3).await;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let new = socket.local_addr().unwrap();
    assert_eq!(ch.rebind(socket).await.unwrap(), new);
    check(calls).await;
    assert_eq!(ch.state(), ConnectivityState::Ready);
    assert_eq!(
        srv.handle.active_connections(),
        1,
        "a new connection was made"
    );

    // A channel sharing the runtime's socket cannot move it.
    let shared = connect(srv.addr).await;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(shared.rebind(socket).await.is_err());
    srv.handle.shutdown();
}

/// A NAT rebinding: the client's datagrams suddenly come from another port, which its QUIC
/// stack does not know about. The server validates the new path and answers there; every
/// call completes, on the same connection.
#[tokio::test]
async fn calls_survive_a_nat_rebinding() {
    let client_sock = Lossy::bind(0, 0, Duration::ZERO, 5);
    let srv = start();
    let ch = endpoint(srv.addr)
        .udp_socket(client_sock.clone())
        .connect()
        .await
        .unwrap();
    let calls = four_calls(&ch);
    tokio::time::sleep(STEP * 3).await;
    client_sock.nat_rebind();
    check(calls).await;
    assert_eq!(ch.state(), ConnectivityState::Ready);
    assert_eq!(
        srv.handle.active_connections(),
        1,
        "a new connection was made"
    );
    srv.handle.shutdown();
}
