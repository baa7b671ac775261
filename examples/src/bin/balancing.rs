//! Client-side load balancing: three Greeter servers on 127.0.0.2, .3 and .4, one
//! `BalancedChannel` over them (rpc-balance) under the same generated client as ever, how
//! the calls spread, and one server going away mid-way: its endpoint is taken out and the
//! calls it had in flight are retried on the others (a `RetryLayer` above the balancer).
//!
//! ```text
//! cargo run -p examples --bin balancing
//! ```

use rpc_balance::{BalancedChannel, Policy};
use rpc_core::client::retry::{MethodConfig, Name, RetryLayer, RetryPolicy, ServiceConfig};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Code, Endpoint, Request, Response, Server, Status};
use std::net::SocketAddr;
use std::time::Duration;

pub mod helloworld {
    rpc_core::include_proto!("helloworld");
}

use helloworld::greeter_client::GreeterClient;
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

/// Says which server answered.
struct Named(SocketAddr);

impl Greeter for Named {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(HelloReply {
            message: format!("Hello {} from {}!", request.into_inner().name, self.0),
        }))
    }
}

/// A server on `ip` (any port); its handle and address.
fn start(
    ip: [u8; 4],
    cert: &SelfSigned,
) -> Result<(rpc_core::server::ServerHandle, SocketAddr), Box<dyn std::error::Error>> {
    let socket = std::net::UdpSocket::bind(SocketAddr::from((ip, 0)))?;
    let addr = socket.local_addr()?;
    drop(socket);
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        // Going away at once: calls in flight fail with the connection.
        .shutdown_grace_period(Duration::ZERO)
        .add_service(GreeterServer::new(Named(addr)))
        .bind(addr)?;
    let handle = server.handle();
    tokio::spawn(server.serve());
    Ok((handle, addr))
}

fn print_distribution(balanced: &BalancedChannel) {
    for e in balanced.endpoints() {
        println!("  {:<18} {:>4} calls  {:?}", e.addr, e.calls, e.state);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::generate(&["localhost"])?;
    let mut servers = Vec::new();
    for ip in [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 4]] {
        servers.push(start(ip, &cert)?);
    }

    // One channel over the three: each address gets an endpoint built here.
    let tls = cert.client_config().domain_name("localhost");
    let balanced = BalancedChannel::builder(move |addr| {
        Endpoint::from_addr(addr)
            .tls_config(tls.clone())
            .connect_timeout(Duration::from_secs(1))
    })
    .addrs(servers.iter().map(|(_, addr)| *addr))
    .policy(Policy::PowerOfTwoChoices)
    .ejection(3, Duration::from_secs(5), Duration::from_secs(60))
    .build()?;
    balanced.ready(3).await;

    // Calls lost with a server are retried on another. A call in flight when its server
    // went away may have run there, and the retry layer repeats such a call only for a
    // method that says it is safe to run twice (`idempotency_level` in its proto, or this
    // opt-in): greeting twice is harmless.
    let policy = RetryPolicy::new(4)
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(100))
        .retryable_codes([Code::Unavailable])
        .retry_non_idempotent(true);
    let retries = RetryLayer::new(ServiceConfig::new().method(
        [Name::Service("helloworld.Greeter".into())],
        MethodConfig::new().retry(policy),
    ))?;
    let stack = tower::ServiceBuilder::new()
        .layer(retries)
        .service(balanced.clone());
    let client = GreeterClient::new(stack);

    let reply = client
        .say_hello(HelloRequest {
            name: "world".into(),
        })
        .await?;
    println!("reply: {}", reply.into_inner().message);

    let calls = |n: usize| {
        let client = client.clone();
        async move {
            let mut tasks = Vec::new();
            for i in 0..n {
                let client = client.clone();
                tasks.push(tokio::spawn(async move {
                    client
                        .say_hello(HelloRequest {
                            name: format!("caller {i}"),
                        })
                        .await
                }));
            }
            let mut failed = 0;
            for t in tasks {
                match t.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(status)) => {
                        failed += 1;
                        eprintln!("failed: {status}");
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("task failed: {e}");
                    }
                }
            }
            failed
        }
    };

    let failed = calls(300).await;
    println!("300 calls over three servers, {failed} failed:");
    print_distribution(&balanced);

    // One server goes away while calls run.
    let (gone, gone_addr) = servers.remove(1);
    let running = tokio::spawn(calls(300));
    tokio::time::sleep(Duration::from_millis(5)).await;
    gone.shutdown();
    let failed = running.await? + calls(300).await;
    println!("{gone_addr} went away; 600 more calls, {failed} failed:");
    print_distribution(&balanced);

    for (handle, _) in servers {
        handle.shutdown();
    }
    Ok(())
}
