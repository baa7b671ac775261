//! A server with the reflection service on 127.0.0.1, and a client session for it.
#![allow(dead_code)]

use futures_util::stream;
use prost::Message;
use prost_types::FileDescriptorProto;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Server, Status, Streaming};
use rpc_reflection::pb::server_reflection_request::MessageRequest;
use rpc_reflection::pb::server_reflection_response::MessageResponse;
use rpc_reflection::pb::ExtensionRequest;
use rpc_reflection::{
    Builder, ServerReflectionClient, ServerReflectionRequest, ServerReflectionResponse,
};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::mpsc;

/// The set build.rs compiles from tests/protos: testpkg/shop.proto (services Shop and
/// Stock) and testpkg/ext.proto, with their imports.
pub const TEST_SET: &[u8] = rpc_reflection::include_file_descriptor_set!("reflection_test");

pub fn cert() -> &'static SelfSigned {
    static CERT: OnceLock<SelfSigned> = OnceLock::new();
    CERT.get_or_init(|| SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap())
}

/// Serves the reflection service built by `builder`; returns its address.
pub fn start(builder: Builder) -> SocketAddr {
    let server = Server::builder()
        .tls_config(cert().server_config().unwrap())
        .add_service(builder.build_v1().unwrap())
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve());
    addr
}

/// A server with the test set registered.
pub fn start_default() -> SocketAddr {
    start(Builder::configure().register_encoded_file_descriptor_set(TEST_SET))
}

/// One `ServerReflectionInfo` call: requests are sent one at a time, as the test asks.
pub struct Session {
    /// Holds the connection open.
    _client: ServerReflectionClient,
    requests: mpsc::Sender<ServerReflectionRequest>,
    responses: Streaming<ServerReflectionResponse>,
}

impl Session {
    pub async fn open(addr: SocketAddr) -> Session {
        let channel = Endpoint::from_addr(addr)
            .tls_config(cert().client_config())
            .connect()
            .await
            .unwrap();
        let client = ServerReflectionClient::new(channel);
        let (tx, rx) = mpsc::channel(1);
        let requests = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
        let mut request = rpc_core::Request::new(requests);
        request.clear_timeout();
        let responses = client
            .server_reflection_info(request)
            .await
            .unwrap()
            .into_inner();
        Session {
            _client: client,
            requests: tx,
            responses,
        }
    }

    /// Sends `request`, returns the whole response (or the status that ended the call).
    pub async fn call(
        &mut self,
        request: ServerReflectionRequest,
    ) -> Result<Option<ServerReflectionResponse>, Status> {
        self.requests.send(request).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.responses.message())
            .await
            .expect("no response within 5 s")
    }

    /// Sends a request for `what`, checks the echoed request, returns the answer.
    pub async fn ask(&mut self, what: MessageRequest) -> MessageResponse {
        let request = ServerReflectionRequest {
            host: "example.test".into(),
            message_request: Some(what),
        };
        let response = self
            .call(request.clone())
            .await
            .expect("the call failed")
            .expect("the call ended");
        assert_eq!(response.valid_host, "example.test");
        assert_eq!(response.original_request, Some(request));
        response.message_response.expect("no message_response")
    }

    pub async fn list_services(&mut self) -> Vec<String> {
        match self.ask(MessageRequest::ListServices("*".into())).await {
            MessageResponse::ListServicesResponse(list) => {
                list.service.into_iter().map(|s| s.name).collect()
            }
            other => panic!("not a service list: {other:?}"),
        }
    }

    /// The files answered for a symbol: decoded, or the error response's (code, message).
    pub async fn symbol(
        &mut self,
        symbol: &str,
    ) -> Result<Vec<FileDescriptorProto>, (i32, String)> {
        files(
            self.ask(MessageRequest::FileContainingSymbol(symbol.into()))
                .await,
        )
    }

    pub async fn file(&mut self, name: &str) -> Result<Vec<FileDescriptorProto>, (i32, String)> {
        files(self.ask(MessageRequest::FileByFilename(name.into())).await)
    }

    pub async fn extension(
        &mut self,
        containing_type: &str,
        extension_number: i32,
    ) -> Result<Vec<FileDescriptorProto>, (i32, String)> {
        let what = MessageRequest::FileContainingExtension(ExtensionRequest {
            containing_type: containing_type.into(),
            extension_number,
        });
        files(self.ask(what).await)
    }

    pub async fn extension_numbers(&mut self, ty: &str) -> Result<Vec<i32>, (i32, String)> {
        match self
            .ask(MessageRequest::AllExtensionNumbersOfType(ty.into()))
            .await
        {
            MessageResponse::AllExtensionNumbersResponse(r) => {
                assert_eq!(r.base_type_name, ty);
                Ok(r.extension_number)
            }
            MessageResponse::ErrorResponse(e) => Err((e.error_code, e.error_message)),
            other => panic!("not extension numbers: {other:?}"),
        }
    }
}

fn files(response: MessageResponse) -> Result<Vec<FileDescriptorProto>, (i32, String)> {
    match response {
        MessageResponse::FileDescriptorResponse(r) => Ok(r
            .file_descriptor_proto
            .iter()
            .map(|b| FileDescriptorProto::decode(b.as_slice()).unwrap())
            .collect()),
        MessageResponse::ErrorResponse(e) => Err((e.error_code, e.error_message)),
        other => panic!("not a file descriptor response: {other:?}"),
    }
}

/// The names of files, in order.
pub fn names(files: &[FileDescriptorProto]) -> Vec<&str> {
    files.iter().map(|f| f.name()).collect()
}

/// gRPC's NOT_FOUND.
pub const NOT_FOUND: i32 = 5;
