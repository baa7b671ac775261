//! The smallest server and client.
//!
//! ```text
//! cargo run -p examples --bin helloworld            # both, in one process, on loopback
//! cargo run -p examples --bin helloworld -- server  # a server on 127.0.0.1:50051
//! cargo run -p examples --bin helloworld -- client  # a client calling it
//! ```
//!
//! Server and client trust each other through a development certificate kept in the system
//! temporary folder (`rpc_core::tls::dev::SelfSigned::loopback`): verification stays on.

use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Request, Response, Server, Status};
use std::net::SocketAddr;

pub mod helloworld {
    rpc_core::include_proto!("helloworld");
}

use helloworld::greeter_client::GreeterClient;
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

struct MyGreeter;

impl Greeter for MyGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}!"),
        }))
    }
}

async fn client(addr: SocketAddr, cert: &SelfSigned) -> Result<(), Box<dyn std::error::Error>> {
    let channel = Endpoint::new(format!("localhost:{}", addr.port()))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    let client = GreeterClient::new(channel);
    let reply = client
        .say_hello(HelloRequest {
            name: "world".into(),
        })
        .await?;
    println!("reply: {}", reply.into_inner().message);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::loopback()?;
    let mode = std::env::args().nth(1).unwrap_or_default();
    let addr: SocketAddr = "127.0.0.1:50051".parse()?;
    match mode.as_str() {
        "server" => {
            println!("Greeter listening on {addr} (Ctrl-C or SIGTERM to stop)");
            Server::builder()
                .tls_config(cert.server_config()?)
                .add_service(GreeterServer::new(MyGreeter))
                // Drains gracefully on Ctrl-C or SIGTERM.
                .serve_with_shutdown(addr, rpc_core::server::shutdown_signal())
                .await?;
        }
        "client" => client(addr, &cert).await?,
        _ => {
            let server = Server::builder()
                .tls_config(cert.server_config()?)
                .add_service(GreeterServer::new(MyGreeter))
                .bind("127.0.0.1:0".parse()?)?;
            let addr = server.local_addr();
            let handle = server.handle();
            let serving = tokio::spawn(server.serve());
            println!("Greeter listening on {addr}");
            client(addr, &cert).await?;
            handle.shutdown();
            serving.await?;
        }
    }
    Ok(())
}
