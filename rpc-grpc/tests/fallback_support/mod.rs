//! What the fallback tests share: a server with QUIC on UDP and gRPC/HTTP2 (TLS) on TCP,
//! serving the same service, and a call that says which transport carried it.

use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Request, Response, Server, Status};
use rpc_grpc::{FallbackConnector, Transport};
use std::net::SocketAddr;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {
    #[prost(string, tag = "1")]
    pub text: String,
}

#[rpc_core::service(package = "test", name = "Echo")]
pub trait Echo {
    async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
}

struct EchoImpl;

impl Echo for EchoImpl {
    /// Echoes the text, naming the transport the server saw.
    async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        let seen = match request.extensions().get::<rpc_grpc::HttpCall>() {
            Some(_) => "http2",
            None => "quic",
        };
        let text = format!("{} ({seen})", request.into_inner().text);
        Ok(Response::new(Msg { text }))
    }
}

/// A server on 127.0.0.1: QUIC on UDP, gRPC/HTTP2 with TLS on TCP, the same service.
pub struct Running {
    pub quic: SocketAddr,
    pub http2: SocketAddr,
    pub cert: SelfSigned,
    handle: rpc_core::server::ServerHandle,
    serving: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn start() -> Running {
        let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
        let server = Server::builder()
            .tls_config(cert.server_config().unwrap())
            .add_service(echo_server::EchoServer::new(EchoImpl))
            .bind("127.0.0.1:0".parse().unwrap())
            .unwrap();
        let http2 = rpc_grpc::GrpcServer::new(server.handle())
            .tls_config(cert.server_config().unwrap())
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let running = Running {
            quic: server.local_addr(),
            http2: http2.local_addr(),
            cert,
            handle: server.handle(),
            serving: tokio::spawn(server.serve()),
        };
        tokio::spawn(http2.serve());
        running
    }

    /// A fallback connector to this server (both transports with the dev certificate).
    pub fn connector(&self) -> FallbackConnector {
        let tls = self.cert.client_config();
        FallbackConnector::for_host("127.0.0.1", self.quic.port(), self.http2.port(), tls).unwrap()
    }

    pub async fn stop(self) {
        self.handle.shutdown();
        self.serving.await.unwrap();
    }
}

/// One call on a new channel from `connector`: the transport its response names, checked
/// against the one the server saw.
pub async fn call(connector: &FallbackConnector, text: &str) -> Transport {
    let channel = connector.clone().connect().await.expect("connects");
    let client = echo_client::EchoClient::new(channel.clone());
    let reply = client
        .unary(Msg { text: text.into() })
        .await
        .expect("the call succeeds");
    let transport = *reply
        .extensions()
        .get::<Transport>()
        .expect("a response over a fallback channel names its transport");
    let seen = match transport {
        Transport::Quic => "quic",
        _ => "http2",
    };
    assert_eq!(reply.into_inner().text, format!("{text} ({seen})"));
    channel.close();
    transport
}
