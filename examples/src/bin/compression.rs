//! Message compression (PROTOCOL.md §15): gzip and zstd, negotiated per call.
//!
//! ```text
//! cargo run -p examples --bin compression
//! ```
//!
//! * The server compresses its responses with gzip, for clients that accept gzip; it
//!   decompresses whatever this build supports.
//! * The client accepts gzip, and its generated `SayHello` compresses requests with zstd: a
//!   per-method setting of `rpc-codegen` (`examples/build.rs`), whatever the channel says.
//! * Messages under the threshold (here 256 bytes) go out as they are.
//! * A compressed message that inflates past the receiver's limit is refused while it is
//!   being decompressed: 1 MiB of zeros is ~40 bytes of zstd, and the server, with a
//!   64 KiB limit, stops at 64 KiB and answers `ResourceExhausted`.

use rpc_core::tls::dev::SelfSigned;
use rpc_core::{CompressionEncoding, Endpoint, Request, Response, Server, Status};

/// `helloworld.proto` generated with `send_compressed("helloworld.Greeter/SayHello", Zstd)`.
pub mod helloworld {
    include!(concat!(env!("OUT_DIR"), "/compressed/helloworld.rs"));
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
        // A long, repetitive answer: it compresses well.
        let message = format!("Hello {}!", name.repeat(50));
        Ok(Response::new(HelloReply { message }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::loopback()?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .send_compressed(CompressionEncoding::Gzip)
        .compression_threshold(256)
        // Also the limit on a decompressed message.
        .max_decoding_message_size(64 * 1024)
        .add_service(GreeterServer::new(MyGreeter))
        .bind("127.0.0.1:0".parse()?)?;
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());

    let channel = Endpoint::from_addr(addr)
        .tls_config(cert.client_config())
        .accept_compressed(CompressionEncoding::Gzip)
        .compression_threshold(256)
        .connect()
        .await?;
    let client = GreeterClient::new(channel);

    // Small both ways: nothing compressed.
    let reply = client.say_hello(HelloRequest { name: "w".into() }).await?;
    println!("small reply: {} bytes", reply.get_ref().message.len());

    // 400 bytes of request (zstd), 20 KB of reply (gzip).
    let reply = client
        .say_hello(HelloRequest {
            name: "world, ".repeat(60),
        })
        .await?;
    println!(
        "large reply: {} bytes, starts {:?}",
        reply.get_ref().message.len(),
        &reply.get_ref().message[..20]
    );

    // A bomb: tiny on the wire, 1 MiB once inflated, refused at the server's 64 KiB limit.
    let bomb = HelloRequest {
        name: "\0".repeat(1 << 20),
    };
    match client.say_hello(bomb).await {
        Ok(_) => println!("bomb: accepted?!"),
        Err(status) => println!("bomb: {:?}: {}", status.code(), status.message()),
    }

    handle.shutdown();
    serving.await?;
    Ok(())
}
