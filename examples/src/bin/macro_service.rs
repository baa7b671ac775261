//! A service defined in Rust, without a `.proto`: `#[rpc_core::service]` on a trait generates
//! the same client and server that `rpc-codegen` generates from a `.proto` file.
//!
//! ```text
//! cargo run -p examples --bin macro_service
//! ```
//!
//! Starts a server on 127.0.0.1 (any free port), makes one call of each kind, prints the
//! replies and shuts down.

use futures_util::{stream, Stream, StreamExt};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Request, Response, Server, Status, Streaming};
use std::pin::Pin;

/// The request: who to greet, and how many times.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub times: u32,
}

/// The greeting.
#[derive(Clone, PartialEq, prost::Message)]
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

// The macro generated `greeter_server::{Greeter, GreeterServer}` and
// `greeter_client::GreeterClient`; `Greeter` here is the generated server trait.
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::generate(&["localhost"])?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .add_service(GreeterServer::new(MyGreeter))
        .bind("127.0.0.1:0".parse()?)?;
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());
    println!("Greeter (defined with #[service]) listening on {addr}");

    let channel = Endpoint::new(format!("localhost:{}", addr.port()))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
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
