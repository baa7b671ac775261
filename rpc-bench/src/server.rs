//! The echo server: the service implementation, and running it on its own thread.

use crate::echo::echo_server::{Echo, EchoServer};
use crate::echo::{EchoRequest, EchoResponse};
use crate::NetOptions;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use rpc_core::server::ServerHandle;
use rpc_core::tls::ServerTlsConfig;
use rpc_core::{Request, Response, Server, Status, Streaming};
use std::net::SocketAddr;
use std::pin::Pin;

/// Largest response payload served from the shared buffer without allocating.
const POOL: usize = 1024 * 1024;

/// The echo service. Response payloads are slices of one shared buffer (or the request's own
/// bytes), so the server allocates nothing per response payload.
#[derive(Debug, Clone)]
pub struct EchoService {
    pool: Bytes,
}

impl Default for EchoService {
    fn default() -> Self {
        EchoService {
            pool: Bytes::from(vec![0x5a; POOL]),
        }
    }
}

impl EchoService {
    fn payload(&self, size: u32, echo: &Bytes) -> Bytes {
        match size as usize {
            0 => echo.clone(),
            n if n <= POOL => self.pool.slice(..n),
            n => Bytes::from(vec![0x5a; n]),
        }
    }
}

/// The response stream type of both streaming methods.
pub type ResponseStream = Pin<Box<dyn Stream<Item = Result<EchoResponse, Status>> + Send>>;

impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        // `rpc-bench --cache` asks for its answers to be cacheable (crate::balance::CACHE_ASK).
        let cache = request
            .metadata()
            .get(crate::balance::CACHE_ASK)
            .and_then(|v| v.parse().ok());
        let req = request.into_inner();
        let mut response = Response::new(EchoResponse {
            payload: self.payload(req.response_size, &req.payload),
            received: 1,
        });
        if let Some(secs) = cache {
            rpc_balance::cache::allow_caching(&mut response, std::time::Duration::from_secs(secs));
        }
        Ok(response)
    }

    type ServerStreamStream = ResponseStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ResponseStream>, Status> {
        let req = request.into_inner();
        let payload = self.payload(req.response_size, &req.payload);
        let count = req.response_count.max(1);
        let stream = futures_util::stream::iter((0..count).map(move |i| {
            Ok(EchoResponse {
                payload: payload.clone(),
                received: u64::from(i),
            })
        }));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let mut requests = request.into_inner();
        let (mut received, mut size) = (0u64, 0u32);
        while let Some(req) = requests.message().await? {
            received += 1;
            size = req.response_size;
        }
        Ok(Response::new(EchoResponse {
            payload: self.payload(size, &Bytes::new()),
            received,
        }))
    }

    type BidiStream = ResponseStream;

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let me = self.clone();
        let stream = request.into_inner().map(move |req| {
            let req = req?;
            Ok(EchoResponse {
                payload: me.payload(req.response_size, &req.payload),
                received: 1,
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// A server builder with the echo service and `net` applied, handshake limits per address
/// lifted (see below).
pub fn builder(tls: ServerTlsConfig, net: &NetOptions) -> rpc_core::ServerBuilder {
    // The load generator connects from one address, as fast as it can in `connect` runs: the
    // per-address handshake rate and cap are for strangers, not for this client.
    let mut b = Server::builder()
        .tls_config(tls)
        .handshake_rate(u32::MAX, u32::MAX)
        .max_handshakes_per_address(usize::MAX)
        .add_service(EchoServer::new(EchoService::default()));
    if let Some(n) = net.max_udp_payload {
        b = b.max_udp_payload_size(n);
    }
    if let Some(n) = net.initial_mtu {
        b = b.initial_mtu(n);
    }
    if let Some(n) = net.udp_buffer {
        b = b.udp_socket_buffer_size(n);
    }
    if net.zero_rtt {
        b = b.zero_rtt(true);
    }
    if let Some(n) = net.max_calls {
        b = b.max_concurrent_calls(n);
    }
    b
}

/// A tokio runtime with `workers` worker threads; 0 means a single-threaded runtime (all
/// work on the calling thread).
pub fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

/// Serves `handle`'s server (its services, limits and shutdown) as gRPC over HTTP/2 (h2c)
/// on `addr` too, on the current runtime; returns the bound address.
pub async fn serve_http2(handle: ServerHandle, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let http = rpc_grpc::GrpcServer::new(handle).bind(addr).await?;
    let bound = http.local_addr();
    tokio::spawn(http.serve());
    Ok(bound)
}

/// An echo server running on a thread of its own, with its own single-threaded runtime.
#[derive(Debug)]
pub struct BackgroundServer {
    addr: SocketAddr,
    /// Its gRPC-over-HTTP/2 port, when it has one.
    http2: Option<SocketAddr>,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Binds `addr` and serves on a new thread.
    pub fn start(
        addr: SocketAddr,
        tls: ServerTlsConfig,
        net: &NetOptions,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Self::start_with(addr, builder(tls, net))
    }

    /// Binds `addr` and serves `builder`'s server on a new thread: [`builder`]'s with more
    /// added (`rpc-bench --metrics` adds a layer).
    pub fn start_with(
        addr: SocketAddr,
        builder: rpc_core::ServerBuilder,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Self::start_on(addr, builder, false)
    }

    /// [`start_with`](Self::start_with), also serving gRPC over HTTP/2 (h2c) on a port of
    /// 127.0.0.1 ([`http2_addr`](Self::http2_addr)).
    pub fn start_with_http2(
        addr: SocketAddr,
        builder: rpc_core::ServerBuilder,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Self::start_on(addr, builder, true)
    }

    fn start_on(
        addr: SocketAddr,
        builder: rpc_core::ServerBuilder,
        http2: bool,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let builder = builder.shutdown_grace_period(std::time::Duration::from_secs(1));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("echo-server".into())
            .spawn(move || {
                let rt = match runtime(0) {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let server = match builder.bind(addr) {
                        Ok(server) => server,
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let h2 = match http2 {
                        false => None,
                        true => {
                            let local = SocketAddr::from(([127, 0, 0, 1], 0));
                            match serve_http2(server.handle(), local).await {
                                Ok(bound) => Some(bound),
                                Err(e) => {
                                    let _ = tx.send(Err(e.to_string()));
                                    return;
                                }
                            }
                        }
                    };
                    let _ = tx.send(Ok((server.local_addr(), h2, server.handle())));
                    server.serve().await;
                });
            })?;
        let (addr, http2, handle) = rx.recv()??;
        Ok(BackgroundServer {
            addr,
            http2,
            handle,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The gRPC-over-HTTP/2 port, if started with
    /// [`start_with_http2`](Self::start_with_http2).
    pub fn http2_addr(&self) -> Option<SocketAddr> {
        self.http2
    }

    /// Shuts the server down and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
