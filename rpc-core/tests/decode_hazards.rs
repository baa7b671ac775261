//! Protobuf decode hazards inside well-framed calls: a status, never a panic, a hang or an
//! allocation of a claimed length.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use rpc_core::wire::{self, ClientEvent, ClientRecv, FrameLimits, RequestHead};
use rpc_core::{Code, Status};

/// Sends one raw request message to `/test.Test/Unary` and returns the final status.
async fn call_with_payload(
    conn: &rpc_core::transport::quic::quinn::Connection,
    payload: &[u8],
) -> rpc_core::Status {
    let mut b = BytesMut::new();
    wire::encode::request_head(
        &RequestHead {
            path: "/test.Test/Unary".into(),
            timeout: None,
            flags: 0,
            metadata: Default::default(),
        },
        &mut b,
    );
    wire::encode::raw_message(payload, &mut b);
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&b).await.unwrap();
    send.finish().unwrap();
    let data = recv.read_to_end(1 << 20).await.unwrap();
    let mut rx = ClientRecv::new(FrameLimits {
        max_message: 1 << 20,
        max_headers: 1 << 14,
    });
    rx.handle_data(Bytes::from(data));
    rx.handle_fin();
    loop {
        match rx.poll_event().unwrap() {
            Some(ClientEvent::Trailers(outcome)) => {
                return outcome.err().unwrap_or_else(|| Status::new(Code::Ok, ""))
            }
            Some(_) => continue,
            None => panic!("no trailers"),
        }
    }
}

#[tokio::test]
async fn hostile_protobuf_gets_a_status() {
    let srv = start();
    let conn = raw_connection(srv.addr).await;
    // Unknown fields of every wire type are skipped: the call succeeds.
    let mut unknown = vec![0x50, 0x96, 0x01]; // field 10 varint
    unknown.extend([0x59, 1, 2, 3, 4, 5, 6, 7, 8]); // field 11 fixed64
    unknown.extend([0x62, 3, b'a', b'b', b'c']); // field 12 length-delimited
    unknown.extend([0x6b, 0x08, 0x01, 0x6c]); // field 13 group with a varint inside
    unknown.extend([0x75, 1, 2, 3, 4]); // field 14 fixed32
    unknown.extend([0x10, 0x07]); // seq = 7
    assert_eq!(call_with_payload(&conn, &unknown).await.code(), Code::Ok);

    let hazards: Vec<(&str, Vec<u8>)> = vec![
        ("deeply nested groups", [0x6bu8].repeat(100_000)),
        (
            "malformed varint",
            [0x10u8].into_iter().chain([0xff; 11]).collect(),
        ),
        (
            "length past the buffer",
            vec![0x0a, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3],
        ),
        ("truncated fixed64", vec![0x59, 1, 2]),
        ("end group without start", vec![0x6c]),
        ("field number zero", vec![0x00, 0x01]),
        ("invalid wire type", vec![0x0f, 0x01]),
    ];
    for (what, payload) in hazards {
        let before = rss_bytes();
        let status = call_with_payload(&conn, &payload).await;
        assert_eq!(status.code(), Code::Internal, "{what}: {status:?}");
        assert!(
            rss_bytes().saturating_sub(before) < 64 * 1024 * 1024,
            "{what}: memory grew"
        );
    }
    // The connection and the server are fine.
    let ch = connect(srv.addr).await;
    let r = ch
        .unary(
            "/test.Test/Unary",
            rpc_core::Request::new(msg(3)),
            Codec::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.into_inner().seq, 3);
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
}
