//! Datagrams bound to calls (PROTOCOL.md §18): deterministic over the in-memory transport
//! (delivery, loss, size limit, ended and unknown calls, the inbox bound, a peer without
//! datagrams), then end to end over QUIC on 127.0.0.1, with and without a lossy socket.

mod common;

use bytes::Bytes;
use common::lossy::Lossy;
use common::Msg;
use futures_util::{stream, Stream, StreamExt};
use rpc_core::datagram::{DatagramStats, Datagrams};
use rpc_core::transport::mem::{MemConfig, MemConnection};
use rpc_core::transport::{Connection, Connector, DatagramError, Listener};
use rpc_core::{
    Channel, Code, Endpoint, Request, Response, Server, ServerBuilder, Status, Streaming,
};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A bidirectional method with datagrams, one without, and a server-streaming one with.
#[rpc_core::service(package = "dg", name = "Telemetry", descriptor = false)]
pub trait Telemetry {
    /// Answers one message, then echoes each request until the client ends its requests.
    #[rpc(datagrams)]
    async fn stream(
        &self,
        request: Request<Streaming<Msg>>,
    ) -> Result<Response<impl Stream<Item = Result<Msg, Status>>>, Status>;

    /// The same, without datagrams.
    async fn plain(
        &self,
        request: Request<Streaming<Msg>>,
    ) -> Result<Response<impl Stream<Item = Result<Msg, Status>>>, Status>;

    /// Sends `count` datagrams (payload: their index), then answers one message.
    #[rpc(datagrams)]
    async fn burst(
        &self,
        request: Request<Msg>,
    ) -> Result<Response<impl Stream<Item = Result<Msg, Status>>>, Status>;
}

use telemetry_client::TelemetryClient;
use telemetry_server::TelemetryServer;

type Replies = Pin<Box<dyn Stream<Item = Result<Msg, Status>> + Send>>;

/// The server's handles of the calls with datagrams, in arrival order; `None` for calls
/// without.
#[derive(Clone, Default)]
struct Svc(Arc<Mutex<Vec<Option<Datagrams>>>>);

impl Svc {
    fn handle(&self, i: usize) -> Datagrams {
        self.0.lock().unwrap()[i]
            .clone()
            .expect("the call has datagrams")
    }
}

fn echo(request: Request<Streaming<Msg>>) -> Replies {
    let first = stream::once(async { Ok(Msg::default()) });
    first.chain(request.into_inner()).boxed()
}

impl telemetry_server::Telemetry for Svc {
    type StreamStream = Replies;
    async fn stream(&self, request: Request<Streaming<Msg>>) -> Result<Response<Replies>, Status> {
        self.0.lock().unwrap().push(request.datagrams());
        Ok(Response::new(echo(request)))
    }

    type PlainStream = Replies;
    async fn plain(&self, request: Request<Streaming<Msg>>) -> Result<Response<Replies>, Status> {
        self.0.lock().unwrap().push(request.datagrams());
        Ok(Response::new(echo(request)))
    }

    type BurstStream = Replies;
    async fn burst(&self, request: Request<Msg>) -> Result<Response<Replies>, Status> {
        let datagrams = request
            .datagrams()
            .ok_or_else(|| Status::internal("no handle"))?;
        for i in 0..request.get_ref().count {
            datagrams.send(Bytes::from(i.to_be_bytes().to_vec()))?;
        }
        self.0.lock().unwrap().push(Some(datagrams));
        Ok(Response::new(
            stream::once(async { Ok(Msg::default()) }).boxed(),
        ))
    }
}

struct OneConnection(MemConnection);

impl Connector for OneConnection {
    type Connection = MemConnection;
    async fn connect(&self) -> Result<MemConnection, rpc_core::Error> {
        Ok(self.0.clone())
    }
}

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

/// A client and server over one in-memory connection; the client end, to lose datagrams.
struct MemSetup {
    client: TelemetryClient,
    channel: Channel,
    svc: Svc,
    client_end: MemConnection,
}

async fn mem_setup(config: MemConfig, server: ServerBuilder) -> MemSetup {
    let (client_end, server_end) = config.pair();
    let svc = Svc::default();
    let server = server
        .add_service(TelemetryServer::new(svc.clone()))
        .listen(OneListener(Some(server_end)));
    tokio::spawn(server.serve());
    let channel = Endpoint::from_connector(OneConnection(client_end.clone()))
        .connect()
        .await
        .expect("connect");
    MemSetup {
        client: TelemetryClient::new(channel.clone()),
        channel,
        svc,
        client_end,
    }
}

/// A bidi call with datagrams, kept open by its request stream (send on `tx`, drop it to end
/// the call): its responses and its client handle.
async fn open_call(
    client: &TelemetryClient,
) -> (
    tokio::sync::mpsc::UnboundedSender<Msg>,
    Streaming<Msg>,
    Datagrams,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let requests = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
    let response = client.stream(requests).await.expect("call");
    let datagrams = response.datagrams().expect("client handle");
    let mut replies = response.into_inner();
    // The server's first answer: its handler has run and holds its handle.
    replies.message().await.expect("first").expect("first");
    (tx, replies, datagrams)
}

/// Lets the connection's datagram reader run until `done` (bounded: a bug fails, not hangs).
async fn settle(mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("datagrams did not settle");
}

fn stats(sent: u64, received: u64, dropped: u64, unroutable: u64) -> DatagramStats {
    let mut s = DatagramStats::default();
    s.sent = sent;
    s.received = received;
    s.dropped = dropped;
    s.unroutable = unroutable;
    s
}

#[tokio::test(start_paused = true)]
async fn delivered_both_ways_and_counted() {
    let s = mem_setup(MemConfig::default(), Server::builder()).await;
    let (_tx, _replies, client) = open_call(&s.client).await;
    let server = s.svc.handle(0);
    for i in 0..3u8 {
        client.send(vec![i; 10]).unwrap();
    }
    for i in 0..3u8 {
        assert_eq!(server.recv().await.unwrap(), Bytes::from(vec![i; 10]));
    }
    server.send(Bytes::from_static(b"state")).unwrap();
    assert_eq!(client.recv().await.unwrap(), Bytes::from_static(b"state"));
    assert_eq!(client.stats(), stats(3, 1, 0, 0));
    assert_eq!(server.stats(), stats(1, 3, 0, 0));
    // mem's limit is 1200 bytes; the call's prefix takes 1 (quarter stream id 0).
    assert_eq!(client.max_size(), Some(1199));
}

#[tokio::test(start_paused = true)]
async fn lost_datagrams_are_counted() {
    let s = mem_setup(MemConfig::default(), Server::builder()).await;
    let (_tx, _replies, client) = open_call(&s.client).await;
    let server = s.svc.handle(0);
    s.client_end.lose_datagrams(2);
    for i in 0..5u8 {
        client.send(vec![i]).unwrap();
    }
    settle(|| server.stats().received == 3).await;
    // The first two were lost on the way: the survivors arrive, the loss is counted.
    for i in 2..5u8 {
        assert_eq!(server.recv().await.unwrap(), Bytes::from(vec![i]));
    }
    assert_eq!(s.client_end.datagrams_lost(), 2);
    assert_eq!(client.stats().sent, 5);
    assert_eq!(server.stats().received, 3);
}

#[tokio::test(start_paused = true)]
async fn oversize_is_a_clear_error() {
    let s = mem_setup(MemConfig::default(), Server::builder()).await;
    let (_tx, _replies, client) = open_call(&s.client).await;
    let max = client.max_size().unwrap();
    let err = client.send(vec![0; max + 1]).unwrap_err();
    assert!(
        matches!(err, DatagramError::TooLarge { size, max: m } if size == max + 1 && m == max),
        "{err:?}"
    );
    assert_eq!(Status::from(err).code(), Code::ResourceExhausted);
    // Exactly the limit goes.
    client.send(vec![0; max]).unwrap();
    assert_eq!(s.svc.handle(0).recv().await.unwrap().len(), max);
    assert_eq!(client.stats().sent, 1);
}

#[tokio::test(start_paused = true)]
async fn ended_and_unknown_calls_drop_and_count() {
    let s = mem_setup(MemConfig::default(), Server::builder()).await;
    let (tx, mut replies, ended) = open_call(&s.client).await;
    // A second call keeps the connection's datagram router running.
    let (_tx2, _replies2, live) = open_call(&s.client).await;
    let (server_ended, server_live) = (s.svc.handle(0), s.svc.handle(1));

    // The first call ends: the client finishes its requests, the server answers.
    drop(tx);
    assert!(replies.message().await.unwrap().is_none());
    settle(|| server_ended.is_ended()).await;
    assert!(ended.is_ended());
    assert!(matches!(ended.send(vec![1]), Err(DatagramError::CallEnded)));
    assert!(matches!(
        server_ended.send(vec![1]),
        Err(DatagramError::CallEnded)
    ));
    assert_eq!(server_ended.recv().await, None);

    // Raw datagrams: for the ended call (quarter stream id 0), for a call never opened
    // (quarter id 1000, two-byte varint 0x43e8), and one too short for any prefix.
    let conn = &s.client_end;
    conn.send_datagram(Bytes::from_static(&[0x00, 1, 2]))
        .unwrap();
    conn.send_datagram(Bytes::from_static(&[0x43, 0xe8, 1]))
        .unwrap();
    conn.send_datagram(Bytes::new()).unwrap();
    conn.send_datagram(Bytes::from_static(&[0x40])).unwrap();
    settle(|| server_live.stats().unroutable == 4).await;
    // The live call still works, and got none of them.
    live.send(vec![9]).unwrap();
    assert_eq!(server_live.recv().await.unwrap(), Bytes::from(vec![9]));
    assert_eq!(server_live.stats(), stats(0, 1, 0, 4));
}

#[tokio::test(start_paused = true)]
async fn a_call_without_datagrams_gets_none() {
    let s = mem_setup(MemConfig::default(), Server::builder()).await;
    let (_tx, _replies, _with) = open_call(&s.client).await;
    // A client that asks for datagrams on a method that does not take them: the server has
    // no handle, and drops and counts what comes.
    let mut request = Request::new(stream::iter([Msg::default()]).chain(stream::pending()));
    request.set_datagrams(true);
    let response = s
        .channel
        .streaming("/dg.Telemetry/Plain", request, common::Codec::new())
        .await
        .unwrap();
    let client = response.datagrams().expect("asked for");
    settle(|| s.svc.0.lock().unwrap().len() == 2).await;
    assert!(s.svc.0.lock().unwrap()[1].is_none());
    client.send(vec![1]).unwrap();
    let server_with = s.svc.handle(0);
    settle(|| server_with.stats().unroutable == 1).await;
    assert_eq!(server_with.stats().received, 0);
    // The generated client asks for none on such a method.
    let plain = s
        .client
        .plain(stream::iter([Msg::default()]))
        .await
        .unwrap();
    assert!(plain.datagrams().is_none());
}

#[tokio::test(start_paused = true)]
async fn full_inbox_drops_the_oldest() {
    let s = mem_setup(
        MemConfig::default(),
        Server::builder().max_datagram_queue(4),
    )
    .await;
    let (_tx, _replies, client) = open_call(&s.client).await;
    let server = s.svc.handle(0);
    for i in 0..10u8 {
        client.send(vec![i]).unwrap();
    }
    settle(|| server.stats().received == 10).await;
    assert_eq!(server.stats(), stats(0, 10, 6, 0));
    for i in 6..10u8 {
        assert_eq!(server.recv().await.unwrap(), Bytes::from(vec![i]));
    }
    // Nothing else waits: the next recv waits for more.
    use futures_util::FutureExt;
    assert!(server.recv().now_or_never().is_none());
}

#[tokio::test(start_paused = true)]
async fn without_negotiation_sending_is_unsupported() {
    let s = mem_setup(
        MemConfig::default().max_datagram_size(None),
        Server::builder(),
    )
    .await;
    let (_tx, _replies, client) = open_call(&s.client).await;
    let server = s.svc.handle(0);
    assert_eq!(client.max_size(), None);
    let err = client.send(vec![1]).unwrap_err();
    assert!(matches!(err, DatagramError::Unsupported), "{err:?}");
    assert_eq!(Status::from(err).code(), Code::Unimplemented);
    assert!(matches!(
        server.send(vec![1]),
        Err(DatagramError::Unsupported)
    ));
    // The call itself is unaffected.
    assert_eq!(client.stats(), stats(0, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn server_streaming_calls_have_datagrams() {
    let s = mem_setup(MemConfig::default(), Server::builder()).await;
    let response = s
        .client
        .burst(Msg {
            count: 3,
            ..Msg::default()
        })
        .await
        .unwrap();
    let client = response.datagrams().expect("client handle");
    let got: Vec<Bytes> = client.clone().into_stream().take(3).collect().await;
    let want: Vec<Bytes> = (0..3u32)
        .map(|i| Bytes::from(i.to_be_bytes().to_vec()))
        .collect();
    assert_eq!(got, want);
    // The response ends: so does the call, and its handles.
    let mut replies = response.into_inner();
    while replies.message().await.unwrap().is_some() {}
    drop(replies);
    assert!(client.is_ended());
    assert_eq!(client.recv().await, None);
}

// --- Over QUIC on 127.0.0.1 -----------------------------------------------------------------

const GUARD: Duration = Duration::from_secs(60);

async fn quic_setup(
    server: ServerBuilder,
    endpoint: impl FnOnce(Endpoint) -> Endpoint,
) -> (TelemetryClient, Channel, Svc) {
    let svc = Svc::default();
    let server = server
        .add_service(TelemetryServer::new(svc.clone()))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve());
    let channel = endpoint(common::endpoint(addr)).connect().await.unwrap();
    (TelemetryClient::new(channel.clone()), channel, svc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_datagrams_both_ways() {
    let work = async {
        let (client, channel, svc) = quic_setup(common::builder(), |e| e).await;
        let (_tx, _replies, datagrams) = open_call(&client).await;
        let server = svc.handle(0);
        // quinn's limit on loopback (path MTU at least 1200) less the 1-byte prefix.
        let max = datagrams.max_size().expect("negotiated");
        assert!(max >= 1100, "{max}");
        assert!(matches!(
            datagrams.send(vec![0; max + 1]),
            Err(DatagramError::TooLarge { .. })
        ));
        // Loopback loses nothing in practice, but datagrams promise nothing: send one at a
        // time and wait for each (well under the inbox bound).
        for i in 0..20u8 {
            datagrams.send(vec![i; 100]).unwrap();
            assert_eq!(server.recv().await.unwrap(), Bytes::from(vec![i; 100]));
            server.send(vec![i]).unwrap();
            assert_eq!(datagrams.recv().await.unwrap(), Bytes::from(vec![i]));
        }
        assert_eq!(datagrams.stats(), stats(20, 20, 0, 0));
        let conn = channel.connection_stats().unwrap();
        assert!(conn.sent_datagram_frames >= 20, "{conn:?}");
        assert!(conn.received_datagram_frames >= 20, "{conn:?}");
    };
    tokio::time::timeout(GUARD, work).await.expect("timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_peer_without_datagrams() {
    let work = async {
        let (client, _channel, svc) = quic_setup(common::builder().datagrams(false), |e| e).await;
        let (_tx, _replies, datagrams) = open_call(&client).await;
        // The server advertised no max_datagram_frame_size: nothing to send to it.
        assert_eq!(datagrams.max_size(), None);
        assert!(matches!(
            datagrams.send(vec![1]),
            Err(DatagramError::Unsupported)
        ));
        // The server's own sends: the client advertised datagrams, but the server turned
        // them off locally (quinn: `Disabled`), also reported as unsupported.
        let server = svc.handle(0);
        assert!(matches!(
            server.send(vec![1]),
            Err(DatagramError::Unsupported)
        ));
    };
    tokio::time::timeout(GUARD, work).await.expect("timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_lossy_path_delivers_or_counts() {
    let work = async {
        let server_sock = Lossy::bind(0, 100, Duration::from_millis(2), 5);
        let client_sock = Lossy::bind(0, 100, Duration::from_millis(2), 9);
        let svc = Svc::default();
        // An inbox that holds them all: what is missing was lost on the path.
        let server = common::builder()
            .max_datagram_queue(1000)
            .add_service(TelemetryServer::new(svc.clone()))
            .bind_socket(server_sock)
            .unwrap();
        let addr = server.local_addr();
        tokio::spawn(server.serve());
        let channel = common::endpoint(addr)
            .udp_socket(client_sock.clone())
            .connect()
            .await
            .unwrap();
        let client = TelemetryClient::new(channel.clone());
        let (tx, mut replies, datagrams) = open_call(&client).await;
        let server = svc.handle(0);
        let sent = 200u64;
        for i in 0..sent {
            datagrams.send(i.to_be_bytes().to_vec()).unwrap();
            // Spread out: a burst would overflow quinn's buffers, not the path.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The stream (reliable) is the barrier: once the echo of a request sent after the
        // datagrams is back, everything the path carried has had time to arrive.
        tx.send(Msg::default()).unwrap();
        replies.message().await.unwrap().unwrap();
        // Then the server's reader hands them to the call: wait until its count is still.
        let mut still = 0;
        let mut last = u64::MAX;
        while still < 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = server.stats().received;
            still = if now == last { still + 1 } else { 0 };
            last = now;
        }
        let mut seen = std::collections::BTreeSet::new();
        use futures_util::FutureExt;
        while let Some(Some(d)) = server.recv().now_or_never() {
            let i = u64::from_be_bytes(d[..].try_into().unwrap());
            assert!(
                i < sent && seen.insert(i),
                "each datagram at most once: {i}"
            );
        }
        let got = seen.len() as u64;
        let lost_on_path = client_sock
            .faults
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(datagrams.stats().sent, sent);
        assert_eq!(server.stats().received, got);
        assert_eq!(server.stats().dropped, 0);
        // 10 % loss: some were lost, most arrived, and the path's counters saw the loss.
        assert!(got < sent && got > sent / 2, "{got} of {sent}");
        assert!(lost_on_path > 0);
        assert!(channel.connection_stats().unwrap().lost_packets > 0);
    };
    tokio::time::timeout(GUARD, work).await.expect("timed out");
}
