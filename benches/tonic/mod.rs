//! The tonic baseline (gRPC over HTTP/2, plaintext h2c or TLS): the same echo service, a
//! server on its own thread and a [`Driver`] for the shared load loop.
//!
//! Included with `#[path]` by the criterion benches and the `tonic_echo` example, because
//! tonic is a dev-dependency of this crate only.

#![allow(dead_code, missing_docs, unreachable_pub)]

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use rpc_bench::driver::{Driver, Failure};
use rpc_core::tls::dev::SelfSigned;
use std::net::SocketAddr;
use std::pin::Pin;
use tokio::sync::mpsc;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

pub mod pb {
    tonic::include_proto!("echo");
}

use pb::echo_client::EchoClient;
use pb::echo_server::{Echo, EchoServer};
use pb::{EchoRequest, EchoResponse};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
pub struct TonicEcho {
    pool: Bytes,
}

impl Default for TonicEcho {
    fn default() -> Self {
        TonicEcho {
            pool: Bytes::from(vec![0x5a; 1024 * 1024]),
        }
    }
}

impl TonicEcho {
    fn payload(&self, size: u32, echo: &Bytes) -> Bytes {
        match size as usize {
            0 => echo.clone(),
            n if n <= self.pool.len() => self.pool.slice(..n),
            n => Bytes::from(vec![0x5a; n]),
        }
    }
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<EchoResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for TonicEcho {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(EchoResponse {
            payload: self.payload(req.response_size, &req.payload),
            received: 1,
        }))
    }

    type ServerStreamStream = ResponseStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ResponseStream>, Status> {
        let req = request.into_inner();
        let payload = self.payload(req.response_size, &req.payload);
        let stream = futures_util::stream::iter((0..req.response_count.max(1)).map(move |i| {
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

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<&SelfSigned>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), BoxError> {
    let mut builder = tonic::transport::Server::builder().tcp_nodelay(true);
    if let Some(cert) = tls {
        builder = builder.tls_config(
            ServerTlsConfig::new().identity(Identity::from_pem(cert.cert_pem(), cert.key_pem())),
        )?;
    }
    let incoming = tokio_stream_listener(listener);
    builder
        .add_service(EchoServer::new(TonicEcho::default()))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

/// Accepted TCP connections as a stream (with TCP_NODELAY), for `serve_with_incoming`.
fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures_util::stream::unfold(listener, |l| async move {
        let res = l.accept().await.map(|(s, _)| {
            let _ = s.set_nodelay(true);
            s
        });
        Some((res, l))
    })
}

/// A tonic echo server on a thread of its own (single-threaded runtime).
pub struct BackgroundServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    pub fn start(addr: SocketAddr, tls: Option<SelfSigned>) -> Result<Self, BoxError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = benches::spawn_runtime_thread("tonic-echo", move || async move {
            let listener = match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = tx.send(listener.local_addr().map_err(|e| e.to_string()));
            let _ = serve(listener, tls.as_ref(), async {
                let _ = stop_rx.await;
            })
            .await;
        })?;
        let addr = rx.recv()??;
        Ok(BackgroundServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Drives tonic's generated echo client; one `Channel` (one HTTP/2 connection) per
/// connection.
#[derive(Clone)]
pub struct TonicDriver {
    uri: String,
    tls: Option<ClientTlsConfig>,
}

impl TonicDriver {
    /// Plaintext h2c when `tls` is `None`, else TLS trusting `tls`'s certificate.
    pub fn new(addr: SocketAddr, tls: Option<&SelfSigned>, domain: &str) -> Self {
        match tls {
            None => TonicDriver {
                uri: format!("http://{addr}"),
                tls: None,
            },
            Some(cert) => TonicDriver {
                uri: format!("https://{addr}"),
                tls: Some(
                    ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(cert.cert_pem()))
                        .domain_name(domain),
                ),
            },
        }
    }
}

fn failure(s: &Status) -> Failure {
    format!("{:?}", s.code())
}

fn request(payload: Bytes, size: u32, count: u32) -> EchoRequest {
    EchoRequest {
        payload,
        response_size: size,
        response_count: count,
    }
}

pub struct TonicBidi {
    tx: mpsc::Sender<EchoRequest>,
    rx: Streaming<EchoResponse>,
}

impl Driver for TonicDriver {
    type Conn = EchoClient<Channel>;
    type Bidi = TonicBidi;

    async fn connect(&self) -> Result<EchoClient<Channel>, Failure> {
        let mut ep = Channel::from_shared(self.uri.clone())
            .map_err(|e| format!("connect: {e}"))?
            .tcp_nodelay(true);
        if let Some(tls) = &self.tls {
            ep = ep
                .tls_config(tls.clone())
                .map_err(|e| format!("connect: {e}"))?;
        }
        let ch = ep.connect().await.map_err(|e| format!("connect: {e}"))?;
        Ok(EchoClient::new(ch)
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024))
    }

    async fn unary(&self, conn: &EchoClient<Channel>, payload: Bytes) -> Result<u64, Failure> {
        let mut c = conn.clone();
        let r = c
            .unary(request(payload, 0, 0))
            .await
            .map_err(|s| failure(&s))?;
        Ok(r.into_inner().payload.len() as u64)
    }

    async fn server_stream(
        &self,
        conn: &EchoClient<Channel>,
        size: u32,
        count: u32,
    ) -> Result<u64, Failure> {
        let mut c = conn.clone();
        let mut s = c
            .server_stream(request(Bytes::new(), size, count))
            .await
            .map_err(|s| failure(&s))?
            .into_inner();
        let mut got = 0;
        while let Some(m) = s.message().await.map_err(|s| failure(&s))? {
            got += m.payload.len() as u64;
        }
        Ok(got)
    }

    async fn client_stream(
        &self,
        conn: &EchoClient<Channel>,
        payload: Bytes,
        count: u32,
    ) -> Result<u64, Failure> {
        let mut c = conn.clone();
        let reqs =
            futures_util::stream::iter((0..count).map(move |_| request(payload.clone(), 0, 0)));
        let r = c.client_stream(reqs).await.map_err(|s| failure(&s))?;
        Ok(r.into_inner().payload.len() as u64)
    }

    async fn open_bidi(&self, conn: &EchoClient<Channel>) -> Result<TonicBidi, Failure> {
        let mut c = conn.clone();
        let (tx, mut rx) = mpsc::channel::<EchoRequest>(16);
        let reqs = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let rx = c.bidi(reqs).await.map_err(|s| failure(&s))?.into_inner();
        Ok(TonicBidi { tx, rx })
    }

    async fn ping(&self, bidi: &mut TonicBidi, payload: Bytes) -> Result<u64, Failure> {
        bidi.tx
            .send(request(payload, 0, 0))
            .await
            .map_err(|_| "BidiClosed".to_owned())?;
        match bidi.rx.message().await {
            Ok(Some(m)) => Ok(m.payload.len() as u64),
            Ok(None) => Err("BidiEnded".to_owned()),
            Err(s) => Err(failure(&s)),
        }
    }
}
