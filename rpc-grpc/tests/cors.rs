//! gRPC-Web's CORS policy end to end over HTTP/1.1: a restricted list of origins, with
//! credentials and exposed metadata; origins not on it are refused before any handler runs.

use bytes::Bytes;
use http::{Request as HttpRequest, StatusCode};
use http_body_util::{BodyExt, Full};
use rpc_core::{Request, Response, Server, Status};
use rpc_grpc::{Cors, GrpcServer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {
    #[prost(string, tag = "1")]
    pub text: String,
}

#[rpc_core::service(package = "test", name = "Echo")]
pub trait Echo {
    async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
}

struct EchoImpl(Arc<AtomicUsize>);

impl Echo for EchoImpl {
    async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let mut response = Response::new(request.into_inner());
        response
            .metadata_mut()
            .insert("x-request-id", "42")
            .unwrap();
        Ok(response)
    }
}

async fn start(cors: Cors) -> (SocketAddr, Arc<AtomicUsize>, rpc_core::server::ServerHandle) {
    let calls = Arc::new(AtomicUsize::new(0));
    let cert = rpc_core::tls::dev::SelfSigned::loopback().unwrap();
    let server = Server::builder()
        .tls_config(cert.server_config().unwrap())
        .add_service(echo_server::EchoServer::new(EchoImpl(calls.clone())))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let handle = server.handle();
    let http = GrpcServer::new(handle.clone())
        .grpc_web(true)
        .cors(cors)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = http.local_addr();
    tokio::spawn(http.serve());
    tokio::spawn(server.serve());
    (addr, calls, handle)
}

async fn send(addr: SocketAddr, req: HttpRequest<Full<Bytes>>) -> (http::response::Parts, Bytes) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let (parts, body) = sender.send_request(req).await.unwrap().into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

fn call(addr: SocketAddr, origin: &str) -> HttpRequest<Full<Bytes>> {
    let msg = prost::Message::encode_to_vec(&Msg { text: "hi".into() });
    let mut body = vec![0u8];
    body.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    body.extend_from_slice(&msg);
    HttpRequest::post(format!("http://{addr}/test.Echo/Unary"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("origin", origin)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn preflight(addr: SocketAddr, origin: &str) -> HttpRequest<Full<Bytes>> {
    HttpRequest::options(format!("http://{addr}/test.Echo/Unary"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,grpc-timeout,x-trace",
        )
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn listed_origins_only_with_credentials_and_exposed_metadata() {
    let cors = Cors::allow_origins(["https://app.example"])
        .expose_headers(["x-request-id"])
        .allow_credentials(true);
    let (addr, calls, handle) = start(cors).await;

    // The listed origin: preflight and call, its origin reflected, credentials allowed.
    let (parts, _) = send(addr, preflight(addr, "https://app.example")).await;
    assert_eq!(parts.status, StatusCode::NO_CONTENT);
    let h = &parts.headers;
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(
        h["access-control-allow-headers"],
        "content-type,x-grpc-web,grpc-timeout,x-trace"
    );
    assert_eq!(h["vary"], "origin");

    let (parts, body) = send(addr, call(addr, "https://app.example")).await;
    assert_eq!(parts.status, StatusCode::OK);
    let h = &parts.headers;
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(
        h["access-control-expose-headers"],
        "grpc-status,grpc-message,grpc-status-details-bin,grpc-accept-encoding,x-request-id"
    );
    assert_eq!(h["x-request-id"], "42");
    assert!(body.ends_with(b"grpc-status: 0\r\n"), "{body:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Another origin: the preflight and the call are refused, and no handler runs.
    let (parts, _) = send(addr, preflight(addr, "https://evil.example")).await;
    assert_eq!(parts.status, StatusCode::FORBIDDEN);
    assert!(parts.headers.get("access-control-allow-origin").is_none());
    let (parts, _) = send(addr, call(addr, "https://evil.example")).await;
    assert_eq!(parts.status, StatusCode::FORBIDDEN);
    assert!(parts.headers.get("access-control-allow-origin").is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    handle.shutdown();
}
