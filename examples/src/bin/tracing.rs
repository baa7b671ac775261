//! A trace across two hops, printed to stdout by `tracing-subscriber`.
//!
//! ```text
//! cargo run -p examples --bin tracing
//! ```
//!
//! The client calls a front server, whose handler calls a back server to compose its answer:
//! client -> front -> back. Every hop goes through `rpc-tracing`'s layers, so the four spans
//! (client, front's server span, front's own client span, back's server span) are one trace:
//! the `traceparent` crosses each hop in metadata, and the front's handler continues the
//! trace by handing its call's `TraceContext` to the call it makes. The client spans also
//! carry the call's QUIC facts (stream id, RTT, congestion window, losses, 0-RTT) and where
//! its time went, and the client prints the full breakdown of its own call from the
//! response's `CallInfo`.

use rpc_core::tls::dev::SelfSigned;
use rpc_core::{CallInfo, Channel, Endpoint, Request, Response, Server, Status};
use rpc_tracing::{ClientTrace, ClientTraceLayer, ServerTraceLayer, TraceContext};
use tower::Layer;
use tracing_subscriber::fmt::format::FmtSpan;

pub mod helloworld {
    rpc_core::include_proto!("helloworld");
}

use helloworld::greeter_client::GreeterClient;
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

/// The back server: greets.
struct Back;

impl Greeter for Back {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        tracing::info!("back: composing the greeting");
        Ok(Response::new(HelloReply {
            message: format!("Hello {}!", request.into_inner().name),
        }))
    }
}

/// The front server: asks the back server, and decorates its answer.
struct Front {
    back: GreeterClient<ClientTrace<Channel>>,
}

impl Greeter for Front {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        // The server layer put the incoming trace's context in the call's extensions: the
        // call to the back server continues it.
        let context = request.extensions().get::<TraceContext>().copied();
        let mut onward = Request::new(request.into_inner());
        if let Some(context) = context {
            onward.extensions_mut().insert(context);
        }
        let reply = self.back.say_hello(onward).await?.into_inner();
        Ok(Response::new(HelloReply {
            message: format!("{} (via front)", reply.message),
        }))
    }
}

/// A traced client over `channel`, recording QUIC facts on its spans.
fn traced(channel: Channel) -> GreeterClient<ClientTrace<Channel>> {
    let layer = ClientTraceLayer::for_channel(&channel).quic_facts(true);
    GreeterClient::new(layer.layer(channel))
}

async fn connect(port: u16, cert: &SelfSigned) -> Result<Channel, rpc_core::Error> {
    Endpoint::new(format!("localhost:{port}"))?
        .tls_config(cert.client_config())
        .connect()
        .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Each span is printed when it closes, with its fields.
    tracing_subscriber::fmt()
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .init();

    let cert = SelfSigned::loopback()?;
    let back = Server::builder()
        .tls_config(cert.server_config()?)
        .layer(ServerTraceLayer::new())
        .add_service(GreeterServer::new(Back))
        .bind("127.0.0.1:0".parse()?)?;
    let back_port = back.local_addr().port();
    let back_handle = back.handle();
    let back_serving = tokio::spawn(back.serve());

    let front = Server::builder()
        .tls_config(cert.server_config()?)
        .layer(ServerTraceLayer::new())
        .add_service(GreeterServer::new(Front {
            back: traced(connect(back_port, &cert).await?),
        }))
        .bind("127.0.0.1:0".parse()?)?;
    let front_port = front.local_addr().port();
    let front_handle = front.handle();
    let front_serving = tokio::spawn(front.serve());

    let client = traced(connect(front_port, &cert).await?);
    let response = client
        .say_hello(HelloRequest {
            name: "trace".into(),
        })
        .await?;
    if let Some(info) = CallInfo::of(&response) {
        let t = info.timings;
        println!(
            "call info: stream {:?}, encode {:?}, queue {:?}, network {:?} (server {:?}), \
             decode {:?}, total {:?}",
            info.stream_id, t.encode, t.queue, t.network, t.server, t.decode, t.total
        );
    }
    println!("reply: {}", response.into_inner().message);

    // Stop the servers so every server span has closed before exiting.
    front_handle.shutdown();
    front_serving.await?;
    back_handle.shutdown();
    back_serving.await?;
    Ok(())
}
