//! Test servers for the balancer: a service that says which server answered, on distinct
//! loopback addresses (127.0.0.2, .3, ...: all of 127.0.0.0/8 is loopback on Linux).
#![allow(dead_code)]

use rpc_balance::{BalancedChannel, Builder};
use rpc_core::server::ServerHandle;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Request, Response, Server, Status};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Ask {
    /// Any value: part of the request bytes (cache keys).
    #[prost(uint64, tag = "1")]
    pub n: u64,
    /// `lookup`: allow caching the answer for this many seconds (0: not).
    #[prost(uint64, tag = "2")]
    pub cache_secs: u64,
    /// `lookup`: fail with this code (0: answer).
    #[prost(int32, tag = "3")]
    pub fail: i32,
    /// Hold the call until the server's gate opens.
    #[prost(bool, tag = "4")]
    pub hold: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Answer {
    /// The address of the server that answered.
    #[prost(string, tag = "1")]
    pub server: String,
    /// How many calls that server had seen.
    #[prost(uint64, tag = "2")]
    pub calls: u64,
}

#[rpc_core::service(package = "balance.test", name = "Who")]
pub trait Who {
    /// Says who answered. Idempotent: retried by a retry policy.
    #[rpc(idempotent)]
    async fn who(&self, request: Request<Ask>) -> Result<Response<Answer>, Status>;
    /// The same, side-effect-free: cacheable when the server allows it.
    #[rpc(no_side_effects)]
    async fn lookup(&self, request: Request<Ask>) -> Result<Response<Answer>, Status>;
}

pub const LOOKUP: &str = "/balance.test.Who/Lookup";

/// One test server's state.
#[derive(Clone, Default)]
pub struct Node {
    pub name: Arc<OnceLock<String>>,
    pub calls: Arc<AtomicU64>,
    /// Handlers sleep this long (ms) before answering.
    pub sleep_ms: Arc<AtomicU64>,
    /// Held calls wait until this is true.
    pub gate: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Node {
    async fn answer(&self, ask: &Ask) -> Answer {
        let calls = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let sleep = self.sleep_ms.load(Ordering::Relaxed);
        if sleep > 0 {
            tokio::time::sleep(Duration::from_millis(sleep)).await;
        }
        if ask.hold {
            let mut gate = self.gate.subscribe();
            let _ = gate.wait_for(|open| *open).await;
        }
        Answer {
            server: self.name.get().cloned().unwrap_or_default(),
            calls,
        }
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Who for Node {
    async fn who(&self, request: Request<Ask>) -> Result<Response<Answer>, Status> {
        let ask = request.into_inner();
        let mut response = Response::new(self.answer(&ask).await);
        // Allowed or not, a client never caches it: the method is not side-effect-free.
        if ask.cache_secs > 0 {
            rpc_balance::cache::allow_caching(&mut response, Duration::from_secs(ask.cache_secs));
        }
        Ok(response)
    }

    async fn lookup(&self, request: Request<Ask>) -> Result<Response<Answer>, Status> {
        let ask = request.into_inner();
        let answer = self.answer(&ask).await;
        if ask.fail != 0 {
            return Err(Status::new(
                rpc_core::Code::from_u32(ask.fail as u32),
                "asked to fail",
            ));
        }
        let mut response = Response::new(answer);
        if ask.cache_secs > 0 {
            rpc_balance::cache::allow_caching(&mut response, Duration::from_secs(ask.cache_secs));
        }
        Ok(response)
    }
}

pub fn cert() -> &'static SelfSigned {
    static CERT: OnceLock<SelfSigned> = OnceLock::new();
    CERT.get_or_init(|| SelfSigned::generate(&["localhost"]).unwrap())
}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub node: Node,
    pub handle: ServerHandle,
    pub task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Stops it; a server from [`serve`] has no grace for the calls in flight, which fail
    /// with the connection.
    pub async fn kill(self) {
        self.handle.shutdown();
        let _ = self.task.await;
    }
}

/// A server at `addr` (port 0: any).
pub fn serve(addr: SocketAddr) -> TestServer {
    let builder = Server::builder().shutdown_grace_period(Duration::ZERO);
    serve_with(addr, builder, Node::default())
}

pub fn serve_with(addr: SocketAddr, builder: rpc_core::ServerBuilder, node: Node) -> TestServer {
    let server = builder
        .tls_config(cert().server_config().unwrap())
        .add_service(who_server::WhoServer::new(node.clone()))
        .bind(addr)
        .unwrap();
    let addr = server.local_addr();
    let _ = node.name.set(addr.to_string());
    let handle = server.handle();
    let task = tokio::spawn(server.serve());
    TestServer {
        addr,
        node,
        handle,
        task,
    }
}

/// `n` servers on 127.0.0.2, 127.0.0.3, ... (any port each, or `port` on all).
pub fn servers(n: u8, port: u16) -> Vec<TestServer> {
    (0..n)
        .map(|i| serve(SocketAddr::from(([127, 0, 0, 2 + i], port))))
        .collect()
}

/// A balancer builder whose endpoints trust the test certificate.
pub fn builder() -> Builder {
    BalancedChannel::builder(|addr| {
        Endpoint::from_addr(addr)
            .tls_config(cert().client_config().domain_name("localhost"))
            .connect_timeout(Duration::from_secs(1))
    })
}

pub fn ask(n: u64) -> Ask {
    Ask {
        n,
        ..Default::default()
    }
}
