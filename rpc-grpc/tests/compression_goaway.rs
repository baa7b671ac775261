//! Compression over HTTP/2 (PROTOCOL.md §16.6) both ways, checked on the wire, and GOAWAY as
//! the drain notice (§12.1, §16.5): calls in flight finish, new calls go on a new connection.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request as HttpRequest, Response as HttpResponse};
use rpc_core::compression::{compress, decompress};
use rpc_core::{Code, CompressionEncoding, Request, Response, Server, Status};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {
    #[prost(string, tag = "1")]
    pub text: String,
}

#[rpc_core::service(package = "test", name = "Echo")]
pub trait Echo {
    async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
    async fn held(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
}

/// Echoes with its name; `held` waits for a permit first.
struct EchoImpl {
    name: &'static str,
    held: Arc<AtomicUsize>,
    release: Arc<Semaphore>,
}

impl Echo for EchoImpl {
    async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        let text = format!("{} from {}", request.into_inner().text, self.name);
        Ok(Response::new(Msg { text }))
    }

    async fn held(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        self.held.fetch_add(1, Ordering::SeqCst);
        let _permit = self.release.acquire().await;
        self.unary(request).await
    }
}

struct Running {
    http: SocketAddr,
    held: Arc<AtomicUsize>,
    release: Arc<Semaphore>,
    handle: rpc_core::server::ServerHandle,
    serving: tokio::task::JoinHandle<()>,
}

/// A server named `name` whose HTTP/2 port is `http` (port 0: any), compressing its
/// responses with `send` if the client accepts it.
async fn start(name: &'static str, http: SocketAddr, send: Option<CompressionEncoding>) -> Running {
    let cert = rpc_core::tls::dev::SelfSigned::loopback().unwrap();
    let held = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Semaphore::new(0));
    let service = EchoImpl {
        name,
        held: held.clone(),
        release: release.clone(),
    };
    let mut builder = Server::builder().tls_config(cert.server_config().unwrap());
    if let Some(send) = send {
        builder = builder.send_compressed(send);
    }
    let server = builder
        .add_service(echo_server::EchoServer::new(service))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    // The port of a server just shut down is free once its listener is dropped.
    let mut tries = 0;
    let bound = loop {
        match rpc_grpc::GrpcServer::new(server.handle()).bind(http).await {
            Ok(bound) => break bound,
            Err(_) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("binding {http}: {e}"),
        }
    };
    let running = Running {
        http: bound.local_addr(),
        held,
        release,
        handle: server.handle(),
        serving: tokio::spawn(server.serve()),
    };
    tokio::spawn(bound.serve());
    running
}

async fn wait_for(cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached");
}

/// Text that compresses well, `len` bytes.
fn text(len: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < len {
        s.push_str(&format!("{{\"id\":{i},\"name\":\"item {i}\"}},"));
        i += 1;
    }
    s.truncate(len);
    s
}

/// A gRPC message: flag, length, payload.
fn grpc_message(flag: u8, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(flag);
    buf.put_u32(payload.len() as u32);
    buf.put_slice(payload);
    buf.freeze()
}

/// The one message of a gRPC body: (flag, payload).
fn one_message(body: &[u8]) -> (u8, Vec<u8>) {
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    assert_eq!(body.len(), 5 + len, "one message");
    (body[0], body[5..].to_vec())
}

/// A raw HTTP/2 unary call: response headers, body, trailers.
async fn raw_unary(
    addr: SocketAddr,
    headers: &[(&'static str, &str)],
    body: Bytes,
) -> (HeaderMap, Vec<u8>, HeaderMap) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let mut send = send.ready().await.unwrap();
    let mut req = HttpRequest::post(format!("http://{addr}/test.Echo/Unary"))
        .body(())
        .unwrap();
    for (k, v) in [("content-type", "application/grpc"), ("te", "trailers")]
        .iter()
        .chain(headers)
    {
        req.headers_mut()
            .append(*k, HeaderValue::from_str(v).unwrap());
    }
    let (response, mut stream) = send.send_request(req, false).unwrap();
    stream.send_data(body, true).unwrap();
    let (parts, mut body) = response.await.unwrap().into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.unwrap().unwrap_or_default();
    (parts.headers, data, trailers)
}

fn encode(msg: &Msg) -> Vec<u8> {
    prost::Message::encode_to_vec(msg)
}

fn decode(bytes: &[u8]) -> Msg {
    prost::Message::decode(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_compresses_responses_for_clients_that_accept_it() {
    let gzip = CompressionEncoding::Gzip;
    let running = start("a", "127.0.0.1:0".parse().unwrap(), Some(gzip)).await;
    let big = text(16 * 1024);
    let request = grpc_message(0, &encode(&Msg { text: big.clone() }));
    let want = format!("{big} from a");

    // The client accepts gzip (and an unknown name): gzip on the wire.
    let accept = [("grpc-accept-encoding", "br, gzip,identity")];
    let (headers, body, trailers) = raw_unary(running.http, &accept, request.clone()).await;
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(headers["grpc-encoding"], "gzip");
    let (flag, payload) = one_message(&body);
    assert_eq!(flag, 1, "compressed");
    assert!(payload.len() < big.len() / 4, "{} bytes", payload.len());
    let plain = decompress(gzip, &payload, 1 << 20).unwrap();
    assert_eq!(decode(&plain).text, want);

    // A client that accepts nothing, or only what the server does not send, gets it plain.
    for accept in [&[][..], &[("grpc-accept-encoding", "zstd,identity")][..]] {
        let (headers, body, trailers) = raw_unary(running.http, accept, request.clone()).await;
        assert_eq!(trailers["grpc-status"], "0");
        assert!(headers.get("grpc-encoding").is_none(), "{headers:?}");
        let (flag, payload) = one_message(&body);
        assert_eq!(flag, 0);
        assert_eq!(decode(&payload).text, want);
    }

    // A compressed request (zstd), a gzip response.
    let zstd = CompressionEncoding::Zstd;
    let mut packed = BytesMut::new();
    compress(zstd, &encode(&Msg { text: big.clone() }), &mut packed).unwrap();
    let headers = [("grpc-encoding", "zstd"), ("grpc-accept-encoding", "gzip")];
    let (got, body, trailers) = raw_unary(running.http, &headers, grpc_message(1, &packed)).await;
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(got["grpc-encoding"], "gzip");
    let (flag, payload) = one_message(&body);
    assert_eq!(flag, 1);
    assert_eq!(
        decode(&decompress(gzip, &payload, 1 << 20).unwrap()).text,
        want
    );

    // Small responses stay plain (the threshold), without `grpc-encoding`.
    let small = grpc_message(0, &encode(&Msg { text: "hi".into() }));
    let (headers, body, _) = raw_unary(running.http, &accept, small).await;
    assert!(headers.get("grpc-encoding").is_none());
    assert_eq!(one_message(&body).0, 0);
    running.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_channel_compresses_both_ways_over_http2() {
    let running = start(
        "a",
        "127.0.0.1:0".parse().unwrap(),
        Some(CompressionEncoding::Zstd),
    )
    .await;
    let channel = rpc_grpc::GrpcConnector::new(format!("http://{}", running.http))
        .unwrap()
        .endpoint()
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .connect()
        .await
        .unwrap();
    let client = echo_client::EchoClient::new(channel);
    let big = text(64 * 1024);
    for text in [big.clone(), "small".to_owned()] {
        let reply = client.unary(Msg { text: text.clone() }).await.unwrap();
        assert_eq!(reply.into_inner().text, format!("{text} from a"));
    }
    running.handle.shutdown();
}

type Recorded = tokio::sync::mpsc::UnboundedSender<(HeaderMap, Vec<u8>)>;
type Respond = fn(&HeaderMap) -> (Vec<(&'static str, &'static str)>, Bytes);

async fn answer(
    request: HttpRequest<h2::RecvStream>,
    mut reply: h2::server::SendResponse<Bytes>,
    respond: Respond,
    tx: Recorded,
) {
    let (parts, mut body) = request.into_parts();
    let mut data = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let (headers, out) = respond(&parts.headers);
    let _ = tx.send((parts.headers, data));
    let mut response = HttpResponse::new(());
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    for (k, v) in headers {
        response
            .headers_mut()
            .insert(k, HeaderValue::from_static(v));
    }
    // The client may reset the stream as soon as it read the headers.
    let Ok(mut stream) = reply.send_response(response, false) else {
        return;
    };
    let _ = stream.send_data(out, false);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let _ = stream.send_trailers(trailers);
}

/// A hand-made gRPC server over h2: records each request's headers and body, answers with
/// `respond`'s headers and body.
async fn recording_server(
    respond: Respond,
) -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(HeaderMap, Vec<u8>)>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut conn = h2::server::handshake(tcp).await.unwrap();
        // The connection makes progress only while `accept` is polled: each request is
        // answered on a task of its own.
        while let Some(Ok((request, reply))) = conn.accept().await {
            tokio::spawn(answer(request, reply, respond, tx.clone()));
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_sends_what_the_channel_compresses_and_reads_compressed_replies() {
    let gzip = CompressionEncoding::Gzip;
    // Replies gzip-compressed, as a gRPC server does for a client that accepts it.
    let (addr, mut requests) = recording_server(|_| {
        let msg = encode(&Msg {
            text: text(8 * 1024),
        });
        let mut packed = BytesMut::new();
        compress(CompressionEncoding::Gzip, &msg, &mut packed).unwrap();
        (vec![("grpc-encoding", "gzip")], grpc_message(1, &packed))
    })
    .await;
    let channel = rpc_grpc::GrpcConnector::new(format!("http://{addr}"))
        .unwrap()
        .endpoint()
        .send_compressed(gzip)
        .accept_compressed(gzip)
        .connect()
        .await
        .unwrap();
    let client = echo_client::EchoClient::new(channel);
    let big = text(32 * 1024);
    let reply = client.unary(Msg { text: big.clone() }).await.unwrap();
    assert_eq!(reply.into_inner().text, text(8 * 1024));
    let (headers, body) = requests.recv().await.unwrap();
    assert_eq!(headers["grpc-encoding"], "gzip");
    assert_eq!(headers["grpc-accept-encoding"], "gzip,identity");
    let (flag, payload) = one_message(&body);
    assert_eq!(flag, 1);
    assert!(payload.len() < big.len() / 4);
    assert_eq!(
        decode(&decompress(gzip, &payload, 1 << 20).unwrap()).text,
        big
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_replies_the_channel_cannot_read_fail_with_internal() {
    // `br`: unknown to this build.
    let (addr, _requests) =
        recording_server(|_| (vec![("grpc-encoding", "br")], grpc_message(1, b"xx"))).await;
    let channel = rpc_grpc::GrpcConnector::new(format!("http://{addr}"))
        .unwrap()
        .endpoint()
        .accept_compressed(CompressionEncoding::Gzip)
        .connect()
        .await
        .unwrap();
    let status = echo_client::EchoClient::new(channel)
        .unary(Msg::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains("br"), "{status:?}");

    // zstd: known, but this channel accepts none.
    let (addr, _requests) =
        recording_server(|_| (vec![("grpc-encoding", "zstd")], grpc_message(1, b"xx"))).await;
    let channel = rpc_grpc::GrpcConnector::new(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = echo_client::EchoClient::new(channel)
        .unary(Msg::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_drains_the_connection_in_flight_calls_finish_new_ones_reconnect() {
    let a = start("a", "127.0.0.1:0".parse().unwrap(), None).await;
    let addr = a.http;
    let channel = rpc_grpc::GrpcConnector::new(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = echo_client::EchoClient::new(channel.clone());
    let first = client.unary(Msg { text: "1".into() }).await.unwrap();
    assert_eq!(first.into_inner().text, "1 from a");
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { client.held(Msg { text: "2".into() }).await })
    };
    wait_for(|| a.held.load(Ordering::SeqCst) == 1).await;

    // Graceful shutdown: GOAWAY. The channel drops the connection for new calls at once,
    // while its call in flight goes on.
    a.handle.shutdown();
    wait_for(|| channel.state() != rpc_core::client::ConnectivityState::Ready).await;
    assert!(!in_flight.is_finished());

    // A new server on the same port gets the next call, on a new connection, while the
    // old server's call is still running on the old one.
    let b = start("b", addr, None).await;
    let reply = client.unary(Msg { text: "4".into() }).await.unwrap();
    assert_eq!(reply.into_inner().text, "4 from b");
    assert!(!in_flight.is_finished());

    // The call in flight finishes normally on the drained connection.
    a.release.add_permits(1);
    let reply = in_flight.await.unwrap().unwrap();
    assert_eq!(reply.into_inner().text, "2 from a");
    tokio::time::timeout(Duration::from_secs(10), a.serving)
        .await
        .expect("the old server stops once its call finished")
        .unwrap();
    let reply = client.unary(Msg { text: "5".into() }).await.unwrap();
    assert_eq!(reply.into_inner().text, "5 from b");

    // With no server left, the next call fails cleanly.
    b.handle.shutdown();
    wait_for(|| channel.state() != rpc_core::client::ConnectivityState::Ready).await;
    tokio::time::timeout(Duration::from_secs(10), b.serving)
        .await
        .expect("the server stops")
        .unwrap();
    let status = client.unary(Msg { text: "6".into() }).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}
