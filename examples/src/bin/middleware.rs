//! Middleware on both sides: tower layers and an async interceptor.
//!
//! ```text
//! cargo run -p examples --bin middleware
//! ```
//!
//! The server checks a bearer token in an async interceptor (a lookup may wait) and hands
//! the user to the handler through the request's extensions; a tower layer of its own logs
//! every call's path and outcome; tower's timeout bounds every handler. The client is a
//! generated `GreeterClient` over a tower stack: a layer adding the token to every call, and
//! tower's timeout.

use rpc_core::client::service::CallRequest;
use rpc_core::server::{CallOutcome, ServerCall};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Code, Endpoint, Request, Response, Server, Status};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service, ServiceBuilder};

pub mod helloworld {
    rpc_core::include_proto!("helloworld");
}

use helloworld::greeter_client::GreeterClient;
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

/// Who called, as the interceptor found out.
#[derive(Clone)]
struct User(String);

struct MyGreeter;

impl Greeter for MyGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let user = request.extensions().get::<User>().cloned();
        let by = user.map_or_else(|| "nobody".to_owned(), |u| u.0);
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}! (asked by {by})"),
        }))
    }
}

/// The server's token check: waits for a (pretend) lookup, then admits or rejects.
async fn authenticate(mut request: Request<()>) -> Result<Request<()>, Status> {
    let token = request.metadata().get("authorization").map(str::to_owned);
    tokio::task::yield_now().await; // a database or an identity provider, in real life
    match token.as_deref() {
        Some("Bearer secret") => {
            request.extensions_mut().insert(User("alice".into()));
            Ok(request)
        }
        _ => Err(Status::unauthenticated("missing or unknown token")),
    }
}

/// A server layer that logs each call's path, outcome and duration.
#[derive(Clone)]
struct LogLayer;

impl<S> Layer<S> for LogLayer {
    type Service = Log<S>;
    fn layer(&self, inner: S) -> Log<S> {
        Log(inner)
    }
}

struct Log<S>(S);

impl<S> Service<ServerCall> for Log<S>
where
    S: Service<ServerCall, Response = CallOutcome>,
    S::Future: Send + 'static,
{
    type Response = CallOutcome;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<CallOutcome, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, call: ServerCall) -> Self::Future {
        let path = call.path().to_owned();
        let start = Instant::now();
        let outcome = self.0.call(call);
        Box::pin(async move {
            let outcome = outcome.await;
            if let Ok(o) = &outcome {
                println!("server: {path} -> {:?} in {:?}", o.code(), start.elapsed());
            }
            outcome
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::loopback()?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .async_interceptor(authenticate)
        .layer(LogLayer)
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
        .add_service(GreeterServer::new(MyGreeter))
        .bind("127.0.0.1:0".parse()?)?;
    let port = server.local_addr().port();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());

    let channel = Endpoint::new(format!("localhost:{port}"))?
        .tls_config(cert.client_config())
        .connect()
        .await?;

    // Without the token: rejected by the interceptor before the handler runs.
    let plain = GreeterClient::new(channel.clone());
    let err = plain
        .say_hello(HelloRequest {
            name: "world".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    println!("without a token: {:?} ({})", err.code(), err.message());

    // With a client stack that adds it to every call.
    let stack = ServiceBuilder::new()
        .timeout(Duration::from_secs(5))
        .map_request(|mut call: CallRequest| {
            call.request_mut()
                .metadata_mut()
                .insert("authorization", "Bearer secret")
                .expect("valid metadata");
            call
        })
        .service(channel);
    let client = GreeterClient::new(stack);
    let reply = client
        .say_hello(HelloRequest {
            name: "world".into(),
        })
        .await?;
    println!("reply: {}", reply.into_inner().message);

    handle.shutdown();
    serving.await?;
    Ok(())
}
