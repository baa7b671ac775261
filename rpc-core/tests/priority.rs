//! Stream priority (`SendStream::set_priority`, `Request::set_priority`,
//! `ServerCall::set_priority`), observed deterministically: the in-memory transport with
//! `manual_transmit` moves written bytes only when the test says so, highest priority first,
//! so the order in which a constrained sender drains its streams is the test's to read, with
//! no clock involved.

mod common;

use bytes::Bytes;
use common::{Codec, Msg};
use rpc_core::server::{self, CallFuture, NamedService, ServerCall, Service};
use rpc_core::transport::mem::{MemConfig, MemConnection};
use rpc_core::transport::{Connection, Connector, Listener, RecvStream, SendStream};
use rpc_core::{Endpoint, Request, Server, Status};
use std::future::poll_fn;
use std::sync::{Arc, Mutex};

/// Writes all of `data` on `send`.
async fn write_all(send: &mut impl SendStream, mut data: Bytes) {
    while !data.is_empty() {
        poll_fn(|cx| send.poll_write(cx, &mut data))
            .await
            .expect("write");
    }
}

/// The stream ids in the order their bytes reached the reader, one entry per chunk read.
async fn read_order(server: &MemConnection, client: &MemConnection, streams: usize) -> Vec<u8> {
    let mut recvs = Vec::new();
    for _ in 0..streams {
        let (_send, recv) = server.accept_bi().await.expect("accept");
        recvs.push(recv);
    }
    let mut order = Vec::new();
    // 100 bytes a step: each step's bytes come from the stream the sender picks.
    while client.transmit(100) > 0 {
        for recv in recvs.iter_mut() {
            use futures_util::FutureExt;
            while let Some(Ok(Some(chunk))) = poll_fn(|cx| recv.poll_read(cx)).now_or_never() {
                order.push(chunk[0]);
            }
        }
    }
    order
}

#[tokio::test]
async fn constrained_sender_drains_higher_priority_streams_first() {
    let (client, server) = MemConfig::default().manual_transmit(true).pair();
    // Three streams opened in order 0, 1, 2, each with 300 bytes marked with its number;
    // stream 2 is urgent, 0 and 1 share priority 0.
    let mut sends = Vec::new();
    for (n, priority) in [(0u8, 0), (1, 0), (2, 7)] {
        let (mut send, _recv) = client.open_bi().await.expect("open");
        send.set_priority(priority);
        write_all(&mut send, Bytes::from(vec![n; 300])).await;
        send.finish();
        sends.push(send);
    }
    assert_eq!(client.unsent(), 900);
    let order = read_order(&server, &client, 3).await;
    // 100 bytes a step: the urgent stream's three steps, then the first opened, then the next.
    assert_eq!(order, [2, 2, 2, 0, 0, 0, 1, 1, 1]);
}

#[tokio::test]
async fn equal_priorities_drain_in_opening_order() {
    let (client, server) = MemConfig::default().manual_transmit(true).pair();
    let mut sends = Vec::new();
    for n in 0u8..3 {
        let (mut send, _recv) = client.open_bi().await.expect("open");
        write_all(&mut send, Bytes::from(vec![n; 200])).await;
        sends.push(send);
    }
    // A priority raised after the writes still applies to what is not yet sent.
    sends[1].set_priority(1);
    let order = read_order(&server, &client, 3).await;
    assert_eq!(order, [1, 1, 0, 0, 2, 2]);
}

/// Hands the channel one in-memory connection.
struct OneConnection(MemConnection);

impl Connector for OneConnection {
    type Connection = MemConnection;
    async fn connect(&self) -> Result<MemConnection, rpc_core::Error> {
        Ok(self.0.clone())
    }
}

/// Yields one in-memory connection to the server, then none.
struct OneListener(Option<MemConnection>);

impl Listener for OneListener {
    type Connection = MemConnection;
    async fn accept(&mut self) -> Option<MemConnection> {
        match self.0.take() {
            Some(c) => Some(c),
            None => std::future::pending().await,
        }
    }
}

/// Records the `seq` of each request as its handler runs, which is once its whole request
/// (head, message and FIN) arrived; answers with `count` bytes at the priority `seq` asks
/// for (`seq` >= 100: priority 5).
#[derive(Clone, Default)]
struct Order(Arc<Mutex<Vec<u64>>>);

impl NamedService for Order {
    const NAME: &'static str = "test.Order";
}

impl Service for Order {
    fn call(&self, mut call: ServerCall) -> CallFuture {
        let order = self.0.clone();
        let urgent = call.metadata().get("urgent").is_some();
        if urgent {
            call.set_priority(5);
        }
        server::unary(call, Codec::new(), move |req: Request<Msg>| async move {
            let m = req.into_inner();
            order.lock().unwrap().push(m.seq);
            Ok::<_, Status>(rpc_core::Response::new(Msg {
                payload: Bytes::from(vec![m.seq as u8; m.count as usize]),
                seq: m.seq,
                ..Msg::default()
            }))
        })
    }
}

#[tokio::test]
async fn a_request_priority_orders_the_calls_streams() {
    let (client_end, server_end) = MemConfig::default().manual_transmit(true).pair();
    let order = Order::default();
    let server = Server::builder()
        .add_service(order.clone())
        .listen(OneListener(Some(server_end.clone())));
    let handle = server.handle();
    tokio::spawn(server.serve());
    let channel = Endpoint::from_connector(OneConnection(client_end.clone()))
        .connect()
        .await
        .expect("connect");

    // Call 1: a large request at priority 0; call 2: a small one at priority 5, started
    // after it. Both ask for 4 KiB answers.
    let call = |seq: u64, size: usize, priority: i32| {
        let channel = channel.clone();
        async move {
            let mut req = Request::new(Msg {
                payload: Bytes::from(vec![0u8; size]),
                seq,
                count: 4096,
                ..Msg::default()
            });
            req.set_priority(priority);
            if priority > 0 {
                req.metadata_mut().insert("urgent", "1").unwrap();
            }
            channel
                .unary("/test.Order/Unary", req, Codec::new())
                .await
                .map(|r| r.into_inner().seq)
        }
    };
    let bulk = tokio::spawn(call(1, 64 * 1024, 0));
    // The large request is written whole (the stream window is 1 MiB) before the next starts.
    let mut written = 0;
    while written < 64 * 1024 || client_end.unsent() != written {
        written = client_end.unsent();
        tokio::task::yield_now().await;
    }
    let urgent = tokio::spawn(call(2, 16, 5));
    while client_end.unsent() == written {
        tokio::task::yield_now().await;
    }
    // The link carries 1 KiB at a time from each side; the urgent request overtakes the
    // large one, whose bytes were written first.
    for _ in 0..100_000 {
        if bulk.is_finished() && urgent.is_finished() {
            break;
        }
        client_end.transmit(1024);
        server_end.transmit(1024);
        tokio::task::yield_now().await;
    }
    assert_eq!(
        *order.0.lock().unwrap(),
        [2, 1],
        "the urgent request arrived first"
    );
    assert_eq!(urgent.await.unwrap().unwrap(), 2);
    assert_eq!(bulk.await.unwrap().unwrap(), 1);
    handle.shutdown();
}
