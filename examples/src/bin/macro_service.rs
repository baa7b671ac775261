//! A service defined in Rust, without a `.proto`: `#[rpc_core::service]` on a trait generates
//! the same client and server that `rpc-codegen` generates from a `.proto` file.
//!
//! ```text
//! cargo run -p examples --bin macro_service
//! ```
//!
//! Starts a server on 127.0.0.1 (any free port) with the Greeter and a reflection service,
//! asks the reflection service what it serves, makes one call of each kind, prints the
//! replies and shuts down.
//!
//! The reflection service describes the Greeter with the descriptors the macros build:
//! `#[derive(rpc_core::Descriptor)]` on the messages, and the `greeter_descriptor` module
//! that `#[service]` generates next to the client and server.

use futures_util::{stream, Stream, StreamExt};
use prost::Message;
use prost_types::FileDescriptorProto;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Channel, Endpoint, Request, Response, Server, Status, Streaming};
use rpc_reflection::pb::server_reflection_request::MessageRequest;
use rpc_reflection::pb::server_reflection_response::MessageResponse;
use rpc_reflection::{ServerReflectionClient, ServerReflectionRequest};
use std::pin::Pin;

/// The request: who to greet, and how many times.
#[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub times: u32,
}

/// The greeting.
#[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

/// The greeting service: routes are `/helloworld.Greeter/<Method>`, as for a `.proto` with
/// `package helloworld; service Greeter { ... }`.
#[rpc_core::service(package = "helloworld", name = "Greeter")]
pub trait Greeter {
    /// Unary: one greeting (`/helloworld.Greeter/SayHello`).
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status>;

    /// Server streaming: `times` greetings.
    async fn say_hello_again(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<impl Stream<Item = Result<HelloReply, Status>>>, Status>;

    /// Client streaming: one greeting for everybody.
    #[rpc(name = "GreetAll")]
    async fn greet_everybody(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<HelloReply>, Status>;

    /// Bidirectional: a greeting for each name as it arrives.
    async fn chat(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<impl Stream<Item = Result<HelloReply, Status>>>, Status>;
}

// The macro generated `greeter_server::{Greeter, GreeterServer}`,
// `greeter_client::GreeterClient` and `greeter_descriptor::file_descriptor_set()`; `Greeter`
// here is the generated server trait.
use greeter_client::GreeterClient;
use greeter_server::GreeterServer;

type ReplyStream = Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send>>;

struct MyGreeter;

fn hello(name: &str) -> HelloReply {
    HelloReply {
        message: format!("Hello {name}!"),
    }
}

impl Greeter for MyGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(hello(&request.into_inner().name)))
    }

    // Each streamed response gets an associated type named after its method.
    type SayHelloAgainStream = ReplyStream;
    async fn say_hello_again(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let HelloRequest { name, times } = request.into_inner();
        let replies = (1..=times).map(move |i| {
            Ok(HelloReply {
                message: format!("Hello {name} (#{i})!"),
            })
        });
        Ok(Response::new(stream::iter(replies).boxed()))
    }

    async fn greet_everybody(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<HelloReply>, Status> {
        let mut requests = request.into_inner();
        let mut names = Vec::new();
        while let Some(req) = requests.message().await? {
            names.push(req.name);
        }
        Ok(Response::new(hello(&names.join(", "))))
    }

    type ChatStream = ReplyStream;
    async fn chat(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let replies = request.into_inner().map(|req| Ok(hello(&req?.name)));
        Ok(Response::new(replies.boxed()))
    }
}

fn named(name: &str) -> HelloRequest {
    HelloRequest {
        name: name.into(),
        times: 0,
    }
}

/// Asks the reflection service for its services, and for the file declaring the Greeter.
async fn reflect(channel: Channel) -> Result<(), Box<dyn std::error::Error>> {
    let ask = |what| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(what),
    };
    let requests = [
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "helloworld.Greeter".into(),
        )),
    ];
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(stream::iter(requests))
        .await?
        .into_inner();
    while let Some(answer) = answers.message().await? {
        match answer.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
                println!("Reflection: services {}", names.join(", "));
            }
            Some(MessageResponse::FileDescriptorResponse(files)) => {
                // The file declaring the symbol, then its imports.
                let files = files
                    .file_descriptor_proto
                    .iter()
                    .map(|f| FileDescriptorProto::decode(f.as_slice()))
                    .collect::<Result<Vec<_>, _>>()?;
                let names: Vec<_> = files.iter().map(|f| f.name()).collect();
                if let Some((file, imports)) = names.split_first() {
                    let imports = imports.join(", ");
                    println!("Reflection: helloworld.Greeter is in {file} (imports {imports})");
                }
                for method in files
                    .iter()
                    .flat_map(|f| &f.service)
                    .flat_map(|s| &s.method)
                {
                    let stream = |yes| if yes { "stream " } else { "" };
                    println!(
                        "Reflection: rpc {}({}{}) returns ({}{})",
                        method.name(),
                        stream(method.client_streaming()),
                        method.input_type(),
                        stream(method.server_streaming()),
                        method.output_type()
                    );
                }
            }
            other => println!("Reflection: {other:?}"),
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::generate(&["localhost"])?;
    let reflection = rpc_reflection::Builder::configure()
        // The one line: the descriptors of the service and of its messages.
        .register_encoded_file_descriptor_set(greeter_descriptor::file_descriptor_set())
        .build_v1()?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .add_service(GreeterServer::new(MyGreeter))
        .add_service(reflection)
        .bind("127.0.0.1:0".parse()?)?;
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());
    println!("Greeter (defined with #[service]) listening on {addr}");

    let channel = Endpoint::new(format!("localhost:{}", addr.port()))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    reflect(channel.clone()).await?;
    let client = GreeterClient::new(channel);

    let reply = client.say_hello(named("world")).await?;
    println!("reply: {}", reply.into_inner().message);

    let mut replies = client
        .say_hello_again(HelloRequest {
            name: "stream".into(),
            times: 2,
        })
        .await?
        .into_inner();
    while let Some(reply) = replies.message().await? {
        println!("streamed reply: {}", reply.message);
    }

    let names = stream::iter(["Ann", "Bob", "Cy"].map(named));
    let reply = client.greet_everybody(names).await?;
    println!("reply to all: {}", reply.into_inner().message);

    let mut replies = client
        .chat(stream::iter(["Dee", "Eve"].map(named)))
        .await?
        .into_inner();
    while let Some(reply) = replies.message().await? {
        println!("chat reply: {}", reply.message);
    }

    handle.shutdown();
    serving.await?;
    Ok(())
}
