//! Channels share one QUIC client endpoint (one UDP socket) per runtime and socket settings;
//! a channel with its own local address or socket settings gets its own.

mod common;

use common::*;
use rpc_core::{Channel, Request};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Starts a server that records the client address of every call.
fn recording_server() -> (TestServer, Arc<Mutex<Vec<SocketAddr>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let server = start_with(builder().interceptor(move |req: &mut Request<()>| {
        record.lock().unwrap().push(req.remote_addr().unwrap());
        Ok(())
    }));
    (server, seen)
}

/// The client address the server saw for one call on `ch`.
async fn source(ch: &Channel, seen: &Mutex<Vec<SocketAddr>>) -> SocketAddr {
    let reply = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().seq, 1);
    *seen.lock().unwrap().last().unwrap()
}

#[tokio::test]
async fn channels_share_a_socket_unless_told_otherwise() {
    let (srv, seen) = recording_server();
    let a = connect(srv.addr).await;
    // A separately built endpoint with the same settings shares the socket too.
    let b = endpoint(srv.addr).connect().await.unwrap();
    let (sa, sb) = (source(&a, &seen).await, source(&b, &seen).await);
    assert_eq!(sa, sb, "same runtime and settings: one socket");

    let own = endpoint(srv.addr)
        .local_address("127.0.0.1:0".parse().unwrap())
        .connect()
        .await
        .unwrap();
    assert_ne!(
        source(&own, &seen).await,
        sa,
        "local_address binds its own socket"
    );

    let other = endpoint(srv.addr)
        .max_udp_payload_size(1472)
        .connect()
        .await
        .unwrap();
    assert_ne!(
        source(&other, &seen).await,
        sa,
        "different socket settings: another socket"
    );

    // A channel dropped and made again soon reuses the socket: connecting stays cheap.
    drop((a, b));
    let again = connect(srv.addr).await;
    assert_eq!(source(&again, &seen).await, sa);
}

#[test]
fn each_runtime_has_its_own_socket() {
    // An endpoint is driven by the runtime that made it and dies with it: never shared.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (srv, seen) = rt.block_on(async { recording_server() });
    // Calls one after the other (the server's record is read right after each), with both
    // runtimes alive until both have called, so their ports cannot be recycled.
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let spawn = |barrier: Arc<std::sync::Barrier>| {
        let (addr, seen) = (srv.addr, seen.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let ch = rt.block_on(connect(addr));
            tx.send(rt.block_on(source(&ch, &seen))).unwrap();
            barrier.wait();
        });
        (rx.recv().unwrap(), thread)
    };
    let (first, a) = spawn(barrier.clone());
    let (second, b) = spawn(barrier);
    assert_ne!(first, second);
    a.join().unwrap();
    b.join().unwrap();
}
