//! The HTTP port end to end: the same service over QUIC and HTTP/2, metadata, deadlines,
//! cancellation, TLS, gRPC-Web, and bad input (each a clear status or refusal, the server
//! serving on).

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Request as HttpRequest, StatusCode};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Code, Endpoint, Request, Response, Server, Status};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}

#[rpc_core::service(package = "test", name = "Echo")]
pub trait Echo {
    async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
    async fn sleep(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
    async fn slow(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
}

#[derive(Default)]
struct Counters {
    sleeping: AtomicUsize,
    dropped: AtomicUsize,
}

struct EchoImpl(Arc<Counters>);

struct DropCount(Arc<Counters>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Echo for EchoImpl {
    async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        let transport = match request.extensions().get::<rpc_grpc::HttpCall>() {
            Some(call) => format!("{:?} {:?}", call.protocol, call.version),
            None => "quic".to_owned(),
        };
        let bin = request.metadata().get_bin("x-echo-bin").cloned();
        let who = request
            .peer_identity()
            .and_then(|id| id.common_name())
            .map(|cn| format!(" from {cn}"))
            .unwrap_or_default();
        let deadline = request.remaining().is_some();
        let msg = request.into_inner();
        if msg.text == "fail" {
            let mut status = Status::with_details(
                Code::NotFound,
                "no such thing: 100% \u{263A}",
                Bytes::from_static(b"\x00\xffdetails"),
            );
            status.metadata_mut().append("x-why", "because").unwrap();
            return Err(status);
        }
        let mut response = Response::new(Msg {
            text: format!("{} via {transport} deadline={deadline}{who}", msg.text),
            data: msg.data,
        });
        response
            .metadata_mut()
            .append("x-transport", "yes")
            .unwrap();
        if let Some(bin) = bin {
            response
                .trailers_mut()
                .append_bin("x-echo-bin", bin)
                .unwrap();
        }
        Ok(response)
    }

    async fn slow(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        self.0.sleeping.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(Response::new(request.into_inner()))
    }

    async fn sleep(&self, _request: Request<Msg>) -> Result<Response<Msg>, Status> {
        let _count = DropCount(self.0.clone());
        self.0.sleeping.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(Response::new(Msg::default()))
    }
}

struct Running {
    quic: SocketAddr,
    http: SocketAddr,
    cert: SelfSigned,
    counters: Arc<Counters>,
    handle: rpc_core::server::ServerHandle,
    serving: tokio::task::JoinHandle<()>,
}

async fn start(tls: bool, web: bool) -> Running {
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let counters = Arc::new(Counters::default());
    let server = Server::builder()
        .tls_config(cert.server_config().unwrap())
        .max_decoding_message_size(1 << 20)
        .add_service(echo_server::EchoServer::new(EchoImpl(counters.clone())))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let mut http = rpc_grpc::GrpcServer::new(server.handle()).grpc_web(web);
    if tls {
        http = http.tls_config(cert.server_config().unwrap());
    }
    let http = http.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let running = Running {
        quic: server.local_addr(),
        http: http.local_addr(),
        cert,
        counters,
        handle: server.handle(),
        serving: tokio::spawn(server.serve()),
    };
    tokio::spawn(http.serve());
    running
}

fn grpc_frame(msg: &Msg) -> Bytes {
    let body = prost::Message::encode_to_vec(msg);
    let mut buf = BytesMut::new();
    buf.put_u8(0);
    buf.put_u32(body.len() as u32);
    buf.put_slice(&body);
    buf.freeze()
}

/// A raw HTTP/2 connection (the h2 crate), for requests no gRPC client would send.
async fn raw_h2(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send.ready().await.unwrap()
}

fn request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpRequest<()> {
    let mut req = HttpRequest::post(format!("http://{addr}{path}"))
        .body(())
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    req
}

const GRPC: [(&str, &str); 2] = [("content-type", "application/grpc"), ("te", "trailers")];

/// What a raw call got back: HTTP status, headers, body, trailers.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    trailers: Option<HeaderMap>,
}

impl Raw {
    /// The grpc-status, from the trailers or (trailers-only) the headers.
    fn grpc_status(&self) -> Option<u32> {
        self.trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status"))
            .or_else(|| self.headers.get("grpc-status"))
            .map(|v| v.to_str().unwrap().parse().unwrap())
    }

    fn grpc_message(&self) -> String {
        self.trailers
            .as_ref()
            .and_then(|t| t.get("grpc-message"))
            .or_else(|| self.headers.get("grpc-message"))
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

async fn raw_call(
    send: &mut h2::client::SendRequest<Bytes>,
    req: HttpRequest<()>,
    body: Bytes,
) -> Raw {
    let (response, mut stream) = send.send_request(req, false).unwrap();
    // The server may have answered (and closed the stream) already: a refusal does not wait
    // for the body.
    let _ = stream.send_data(body, true);
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("a response")
        .unwrap();
    let (parts, mut body) = response.into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.unwrap();
    Raw {
        status: parts.status,
        headers: parts.headers,
        body: data,
        trailers,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_service_over_quic_and_http2_metadata_statuses_and_transport() {
    let running = start(false, false).await;
    let quic = Endpoint::from_addr(running.quic)
        .tls_config(running.cert.client_config())
        .connect()
        .await
        .unwrap();
    let http = rpc_grpc::GrpcConnector::new(format!("http://{}", running.http))
        .unwrap()
        .endpoint()
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let quic = echo_client::EchoClient::new(quic);
    let http = echo_client::EchoClient::new(http);

    let reply = quic
        .unary(Msg {
            text: "a".into(),
            data: vec![],
        })
        .await
        .unwrap();
    assert_eq!(reply.get_ref().text, "a via quic deadline=false");

    let mut request = Request::new(Msg {
        text: "b".into(),
        data: vec![1, 2, 3],
    });
    request
        .metadata_mut()
        .append_bin("x-echo-bin", vec![0u8, 0xff, 0xab])
        .unwrap();
    let reply = http.unary(request).await.unwrap();
    assert_eq!(reply.get_ref().text, "b via Grpc HTTP/2.0 deadline=true");
    assert_eq!(reply.get_ref().data, [1, 2, 3]);
    assert_eq!(reply.metadata().get("x-transport"), Some("yes"));
    assert_eq!(
        reply.trailers().get_bin("x-echo-bin").unwrap().as_ref(),
        &[0u8, 0xff, 0xab]
    );

    // A status with a message needing percent-encoding, details and trailing metadata.
    let status = http
        .unary(Msg {
            text: "fail".into(),
            data: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "no such thing: 100% \u{263A}");
    assert_eq!(status.details().as_ref(), b"\x00\xffdetails");
    assert_eq!(status.metadata().get("x-why"), Some("because"));

    // Deadlines: grpc-timeout goes out, the server ends the call, the client too.
    let mut request = Request::new(Msg::default());
    request.set_timeout(Duration::from_millis(100));
    let started = Instant::now();
    let status = http.sleep(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(3));
    wait_for(|| running.counters.dropped.load(Ordering::SeqCst) == 1).await;

    // Cancellation: dropping the call resets the stream; the handler is dropped.
    let call = tokio::spawn(async move { http.sleep(Msg::default()).await });
    wait_for(|| running.counters.sleeping.load(Ordering::SeqCst) == 2).await;
    call.abort();
    wait_for(|| running.counters.dropped.load(Ordering::SeqCst) == 2).await;
    wait_for(|| running.handle.active_calls() == 0).await;
    running.handle.shutdown();
}

async fn wait_for(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_alpn_h2() {
    let running = start(true, false).await;
    let channel =
        rpc_grpc::GrpcConnector::new(format!("https://localhost:{}", running.http.port()))
            .unwrap()
            .tls_config(running.cert.client_config())
            .unwrap()
            .connect()
            .await
            .unwrap();
    let reply = echo_client::EchoClient::new(channel)
        .unary(Msg {
            text: "t".into(),
            data: vec![],
        })
        .await
        .unwrap();
    assert_eq!(reply.get_ref().text, "t via Grpc HTTP/2.0 deadline=false");
    running.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reset_drops_the_handler() {
    let running = start(false, false).await;
    let mut send = raw_h2(running.http).await;
    let req = request(running.http, "/test.Echo/Sleep", &GRPC);
    let (_response, mut stream) = send.send_request(req, false).unwrap();
    stream.send_data(grpc_frame(&Msg::default()), true).unwrap();
    wait_for(|| running.counters.sleeping.load(Ordering::SeqCst) == 1).await;
    stream.send_reset(h2::Reason::CANCEL);
    wait_for(|| running.counters.dropped.load(Ordering::SeqCst) == 1).await;
    wait_for(|| running.handle.active_calls() == 0).await;
    running.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_status_or_refusal() {
    let running = start(false, false).await;
    let addr = running.http;
    let mut send = raw_h2(addr).await;
    let body = grpc_frame(&Msg {
        text: "x".into(),
        data: vec![],
    });

    // A good call, for reference.
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &GRPC),
        body.clone(),
    )
    .await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.grpc_status(), Some(0));
    assert!(raw.body.len() > 5);

    // Not gRPC: 415, no gRPC status.
    let headers = [("content-type", "application/json"), ("te", "trailers")];
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &headers),
        body.clone(),
    )
    .await;
    assert_eq!(raw.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let headers = [("te", "trailers")];
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &headers),
        body.clone(),
    )
    .await;
    assert_eq!(raw.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // No `te: trailers`: INTERNAL, trailers-only.
    let headers = [("content-type", "application/grpc")];
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &headers),
        body.clone(),
    )
    .await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.grpc_status(), Some(Code::Internal as u32));
    assert!(raw.grpc_message().contains("te"), "{}", raw.grpc_message());

    // Garbage grpc-timeout: INTERNAL, as grpc-go answers.
    for garbage in ["soon", "1", "123456789S", "-5m", "1x"] {
        let headers = [GRPC[0], GRPC[1], ("grpc-timeout", garbage)];
        let raw = raw_call(
            &mut send,
            request(addr, "/test.Echo/Unary", &headers),
            body.clone(),
        )
        .await;
        assert_eq!(raw.grpc_status(), Some(Code::Internal as u32), "{garbage}");
        assert!(raw.grpc_message().contains("grpc-timeout"));
    }

    // Unsupported compression: UNIMPLEMENTED.
    let headers = [GRPC[0], GRPC[1], ("grpc-encoding", "snappy")];
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &headers),
        body.clone(),
    )
    .await;
    assert_eq!(raw.grpc_status(), Some(Code::Unimplemented as u32));

    // gzip-compressed request messages are decompressed (PROTOCOL.md §15).
    let plain = prost::Message::encode_to_vec(&Msg {
        text: "zipped".into(),
        data: vec![7; 4096],
    });
    let mut zipped = BytesMut::new();
    rpc_core::compression::compress(rpc_core::CompressionEncoding::Gzip, &plain, &mut zipped)
        .unwrap();
    let mut frame = BytesMut::new();
    frame.put_u8(1);
    frame.put_u32(zipped.len() as u32);
    frame.put_slice(&zipped);
    let headers = [GRPC[0], GRPC[1], ("grpc-encoding", "gzip")];
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &headers),
        frame.freeze(),
    )
    .await;
    assert_eq!(raw.grpc_status(), Some(0), "{}", raw.grpc_message());
    let reply: Msg = prost::Message::decode(&raw.body[5..]).unwrap();
    assert_eq!(reply.text, "zipped via Grpc HTTP/2.0 deadline=false");
    assert!(raw.headers["grpc-accept-encoding"]
        .to_str()
        .unwrap()
        .contains("gzip"));
    // The compressed flag without an encoding: INTERNAL.
    let mut flagged = body.to_vec();
    flagged[0] = 1;
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &GRPC),
        Bytes::from(flagged),
    )
    .await;
    assert_eq!(raw.grpc_status(), Some(Code::Internal as u32));

    // Unknown method; malformed binary metadata.
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Nope", &GRPC),
        body.clone(),
    )
    .await;
    assert_eq!(raw.grpc_status(), Some(Code::Unimplemented as u32));
    let headers = [GRPC[0], GRPC[1], ("x-bad-bin", "!!!")];
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &headers),
        body.clone(),
    )
    .await;
    assert_eq!(raw.grpc_status(), Some(Code::Internal as u32));

    // A message declared past the server's limit (1 MiB here): RESOURCE_EXHAUSTED, before
    // anything is buffered.
    let mut big = BytesMut::new();
    big.put_u8(0);
    big.put_u32(64 << 20);
    big.put_slice(&[0; 100]);
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &GRPC),
        big.freeze(),
    )
    .await;
    assert_eq!(raw.grpc_status(), Some(Code::ResourceExhausted as u32));

    // A truncated message: INTERNAL.
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &GRPC),
        Bytes::from_static(&[0, 0, 0, 0, 9, 1]),
    )
    .await;
    assert_eq!(raw.grpc_status(), Some(Code::Internal as u32));

    // GET: 405.
    let mut get = request(addr, "/test.Echo/Unary", &GRPC);
    *get.method_mut() = http::Method::GET;
    let raw = raw_call(&mut send, get, Bytes::new()).await;
    assert_eq!(raw.status, StatusCode::METHOD_NOT_ALLOWED);

    // The same connection still serves calls.
    let raw = raw_call(&mut send, request(addr, "/test.Echo/Unary", &GRPC), body).await;
    assert_eq!(raw.grpc_status(), Some(0));
    wait_for(|| running.handle.active_calls() == 0).await;
    running.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_flood_is_cut_off_and_the_server_serves_on() {
    let running = start(false, false).await;
    let addr = running.http;
    // Streams opened and reset at once, as fast as the connection takes them
    // (CVE-2023-44487).
    let mut send = raw_h2(addr).await;
    let mut cut_off = false;
    for _ in 0..20_000 {
        match send.clone().ready().await {
            Ok(s) => send = s,
            Err(_) => {
                cut_off = true;
                break;
            }
        }
        let req = request(addr, "/test.Echo/Sleep", &GRPC);
        match send.send_request(req, false) {
            Ok((_response, mut stream)) => stream.send_reset(h2::Reason::CANCEL),
            Err(_) => {
                cut_off = true;
                break;
            }
        }
    }
    // hyper's reset limit closed the connection (GOAWAY, ENHANCE_YOUR_CALM), and whatever
    // streams were accepted before were dropped: nothing is left running.
    assert!(
        cut_off,
        "20,000 reset streams and the connection still open"
    );
    wait_for(|| running.handle.active_calls() == 0).await;
    wait_for(|| {
        running.counters.sleeping.load(Ordering::SeqCst)
            == running.counters.dropped.load(Ordering::SeqCst)
    })
    .await;
    // A new connection is served.
    let mut send = raw_h2(addr).await;
    let body = grpc_frame(&Msg {
        text: "after".into(),
        data: vec![],
    });
    let raw = raw_call(&mut send, request(addr, "/test.Echo/Unary", &GRPC), body).await;
    assert_eq!(raw.grpc_status(), Some(0));
    running.handle.shutdown();
}

/// A gRPC-Web call over HTTP/1.1 (hyper's client), as a browser library sends it.
async fn web_call(
    addr: SocketAddr,
    content_type: &str,
    body: Bytes,
) -> (http::response::Parts, Bytes) {
    use http_body_util::{BodyExt, Full};
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = HttpRequest::post(format!("http://{addr}/test.Echo/Unary"))
        .header("content-type", content_type)
        .header("x-grpc-web", "1")
        .header("origin", "https://example.test")
        .header("host", addr.to_string())
        .body(Full::new(body))
        .unwrap();
    let response = send.send_request(req).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

/// Splits a gRPC-Web body into messages and the trailers block.
fn web_frames(mut body: &[u8]) -> (Vec<Vec<u8>>, String) {
    let mut messages = Vec::new();
    let mut trailers = String::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let payload = body[5..5 + len].to_vec();
        if body[0] & 0x80 != 0 {
            trailers = String::from_utf8(payload).unwrap();
        } else {
            messages.push(payload);
        }
        body = &body[5 + len..];
    }
    assert!(body.is_empty());
    (messages, trailers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_binary_and_text_over_http1_with_cors() {
    use base64::Engine;
    let running = start(false, true).await;
    let addr = running.http;
    let body = grpc_frame(&Msg {
        text: "web".into(),
        data: vec![],
    });

    let (parts, reply) = web_call(addr, "application/grpc-web+proto", body.clone()).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers["content-type"], "application/grpc-web+proto");
    // The default CORS policy: any page, without credentials.
    assert_eq!(parts.headers["access-control-allow-origin"], "*");
    let (messages, trailers) = web_frames(&reply);
    let msg: Msg = prost::Message::decode(&messages[0][..]).unwrap();
    assert_eq!(msg.text, "web via GrpcWeb HTTP/1.1 deadline=false");
    assert!(trailers.contains("grpc-status: 0\r\n"), "{trailers:?}");

    // Text: base64 both ways (padded chunks).
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = Bytes::from(b64.encode(&body));
    let (parts, reply) = web_call(addr, "application/grpc-web-text", text).await;
    assert_eq!(
        parts.headers["content-type"],
        "application/grpc-web-text+proto"
    );
    let mut decoded = Vec::new();
    let reply = std::str::from_utf8(&reply).unwrap();
    // Each chunk is padded on its own: decode up to each end of padding.
    let mut rest = reply;
    while !rest.is_empty() {
        let end = rest
            .find('=')
            .map(|i| i + rest[i..].chars().take_while(|&c| c == '=').count())
            .unwrap_or(rest.len());
        let end = end.div_ceil(4) * 4;
        let end = end.min(rest.len());
        decoded.extend(b64.decode(&rest[..end]).unwrap());
        rest = &rest[end..];
    }
    let (messages, trailers) = web_frames(&decoded);
    let msg: Msg = prost::Message::decode(&messages[0][..]).unwrap();
    assert_eq!(msg.text, "web via GrpcWebText HTTP/1.1 deadline=false");
    assert!(trailers.contains("grpc-status: 0\r\n"));

    // An error status travels in the trailers frame.
    let fail = grpc_frame(&Msg {
        text: "fail".into(),
        data: vec![],
    });
    let (_, reply) = web_call(addr, "application/grpc-web", fail).await;
    let (messages, trailers) = web_frames(&reply);
    assert!(messages.is_empty());
    assert!(trailers.contains("grpc-status: 5\r\n"), "{trailers:?}");
    assert!(trailers.contains("x-why: because\r\n"));

    // gRPC-Web over HTTP/2 (h2c), no `te`: the status is in the body too.
    let mut send = raw_h2(addr).await;
    let headers = [("content-type", "application/grpc-web")];
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &headers),
        body.clone(),
    )
    .await;
    assert_eq!(raw.status, StatusCode::OK);
    assert!(raw.trailers.is_none());
    let (messages, trailers) = web_frames(&raw.body);
    let msg: Msg = prost::Message::decode(&messages[0][..]).unwrap();
    assert_eq!(msg.text, "web via GrpcWeb HTTP/2.0 deadline=false");
    assert!(trailers.contains("grpc-status: 0\r\n"));
    // Standard gRPC still works on the same port.
    let raw = raw_call(
        &mut send,
        request(addr, "/test.Echo/Unary", &GRPC),
        body.clone(),
    )
    .await;
    assert_eq!(raw.grpc_status(), Some(0));

    // CORS preflight.
    use http_body_util::{BodyExt, Empty};
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = HttpRequest::options(format!("http://{addr}/test.Echo/Unary"))
        .header("origin", "https://example.test")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-grpc-web")
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = send.send_request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert_eq!(h["access-control-allow-headers"], "content-type,x-grpc-web");
    let _ = response.into_body().collect().await;
    running.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_calls_in_flight_then_closes() {
    let running = start(false, false).await;
    let channel = rpc_grpc::GrpcConnector::new(format!("http://{}", running.http))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = echo_client::EchoClient::new(channel);
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .slow(Msg {
                    text: "s".into(),
                    data: vec![],
                })
                .await
        })
    };
    wait_for(|| running.counters.sleeping.load(Ordering::SeqCst) == 1).await;
    running.handle.shutdown();
    // The call in flight finishes normally (GOAWAY lets it), then the server stops.
    let reply = in_flight.await.unwrap().unwrap();
    assert_eq!(reply.get_ref().text, "s");
    tokio::time::timeout(Duration::from_secs(5), running.serving)
        .await
        .expect("the server stops")
        .unwrap();
    // Nothing serves the HTTP port any more.
    let status = client.unary(Msg::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_gives_calls_the_peer_identity() {
    use rpc_core::tls::dev::DevCa;
    let ca = DevCa::generate("test ca").unwrap();
    let server_cert = ca.issue("server", &["localhost"]).unwrap();
    let client_cert = ca.issue("alice", &[]).unwrap();
    let tls = rpc_core::tls::ServerTlsConfig::new(server_cert.identity().unwrap())
        .client_ca_root(ca.certificate());
    let server = Server::builder()
        .tls_config(tls.clone())
        .add_service(echo_server::EchoServer::new(EchoImpl(Arc::default())))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let http = rpc_grpc::GrpcServer::new(server.handle())
        .tls_config(tls)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = http.local_addr().port();
    let handle = server.handle();
    tokio::spawn(http.serve());
    tokio::spawn(server.serve());
    let client_tls = rpc_core::tls::ClientTlsConfig::new()
        .with_webpki_roots(false)
        .ca_certificate(ca.certificate());
    let channel = rpc_grpc::GrpcConnector::new(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(client_tls.clone().identity(client_cert.identity().unwrap()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let reply = echo_client::EchoClient::new(channel)
        .unary(Msg {
            text: "m".into(),
            data: vec![],
        })
        .await
        .unwrap();
    assert_eq!(
        reply.get_ref().text,
        "m via Grpc HTTP/2.0 deadline=false from alice"
    );
    // Without a certificate: refused in the handshake.
    let refused = rpc_grpc::GrpcConnector::new(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(client_tls)
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = refused {
        // TLS 1.3 reports the refusal after the client's handshake finished: the first call.
        let status = echo_client::EchoClient::new(channel)
            .unary(Msg::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }
    handle.shutdown();
}
