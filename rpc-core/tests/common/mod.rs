//! A hand-written test service over real QUIC on 127.0.0.1 (generated code looks the same).
#![allow(dead_code)]

pub mod lossy;
pub mod mem;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use rpc_core::codec::ProstCodec;
use rpc_core::server::{self, CallFuture, NamedService, ServerCall, Service};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Channel, Endpoint, Request, Response, Server, ServerBuilder, Status, Streaming};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {
    #[prost(bytes = "bytes", tag = "1")]
    pub payload: Bytes,
    #[prost(uint64, tag = "2")]
    pub seq: u64,
    #[prost(uint32, tag = "3")]
    pub count: u32,
    /// Server: fail with this code after `count` messages (0 = never).
    #[prost(uint32, tag = "4")]
    pub fail_code: u32,
    /// Server: sleep this long (ms) before answering.
    #[prost(uint64, tag = "5")]
    pub sleep_ms: u64,
}

pub type Codec = ProstCodec<Msg, Msg>;
pub type BoxStream = Pin<Box<dyn Stream<Item = Result<Msg, Status>> + Send>>;

/// Counts handler futures alive, to check that cancellation drops them.
#[derive(Clone, Default)]
pub struct Probe(pub Arc<AtomicUsize>);

struct Alive(Arc<AtomicUsize>);
impl Alive {
    fn new(p: &Probe) -> Self {
        p.0.fetch_add(1, Ordering::SeqCst);
        Alive(p.0.clone())
    }
}
impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Put in request extensions by interceptors in tests.
#[derive(Clone, Debug)]
pub struct User(pub String);

#[derive(Clone, Default)]
pub struct TestService {
    pub probe: Probe,
}

impl NamedService for TestService {
    const NAME: &'static str = "test.Test";
}

fn echo_metadata<T, U>(req: &Request<T>, resp: &mut Response<U>) {
    for (k, v) in req.metadata().iter() {
        match v {
            rpc_core::metadata::MetadataValue::Ascii(s) => {
                resp.metadata_mut().append(k, s).unwrap();
                resp.trailers_mut().append(&format!("{k}-t"), s).unwrap();
            }
            rpc_core::metadata::MetadataValue::Binary(b) => {
                resp.metadata_mut().append_bin(k, b.clone()).unwrap();
                let t = format!("{}-t-bin", k.trim_end_matches("-bin"));
                resp.trailers_mut().append_bin(&t, b.clone()).unwrap();
            }
        }
    }
}

impl Service for TestService {
    fn call(&self, call: ServerCall) -> CallFuture {
        let probe = self.probe.clone();
        match call.method() {
            "Unary" => server::unary(call, Codec::new(), move |req: Request<Msg>| async move {
                let _alive = Alive::new(&probe);
                let m = req.get_ref().clone();
                if m.sleep_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(m.sleep_ms)).await;
                }
                if m.fail_code != 0 {
                    return Err(Status::new(
                        rpc_core::Code::from_u32(m.fail_code),
                        String::from_utf8_lossy(&m.payload).into_owned(),
                    ));
                }
                let mut resp = Response::new(m);
                echo_metadata(&req, &mut resp);
                if let Some(User(u)) = req.extensions().get::<User>() {
                    resp.trailers_mut().insert("user", u).unwrap();
                }
                if let Some(p) = req.path() {
                    resp.trailers_mut().insert("path", p).unwrap();
                }
                if let Some(d) = req.remaining() {
                    resp.trailers_mut()
                        .insert("remaining-ms", &d.as_millis().to_string())
                        .unwrap();
                }
                Ok(resp)
            }),
            "Expand" => {
                server::server_streaming(call, Codec::new(), move |req: Request<Msg>| async move {
                    let alive = Alive::new(&probe);
                    let m = req.into_inner();
                    let stream = futures_util::stream::iter(0..m.count as u64).then(move |i| {
                        let m = m.clone();
                        let _keep = &alive;
                        async move {
                            if m.sleep_ms > 0 {
                                tokio::time::sleep(Duration::from_millis(m.sleep_ms)).await;
                            }
                            if m.fail_code != 0 && i + 1 == m.count as u64 {
                                return Err(Status::new(
                                    rpc_core::Code::from_u32(m.fail_code),
                                    "failed mid-stream",
                                ));
                            }
                            Ok(Msg {
                                payload: m.payload.clone(),
                                seq: i,
                                ..Default::default()
                            })
                        }
                    });
                    let alive2 = Alive::new(&probe);
                    let stream = stream.map(move |x| {
                        let _ = &alive2;
                        x
                    });
                    Ok(Response::new(Box::pin(stream) as BoxStream))
                })
            }
            "Collect" => server::client_streaming(
                call,
                Codec::new(),
                move |req: Request<Streaming<Msg>>| async move {
                    let _alive = Alive::new(&probe);
                    let mut stream = req.into_inner();
                    let mut n = 0u64;
                    let mut bytes = 0usize;
                    while let Some(m) = stream.message().await? {
                        if m.seq != n {
                            return Err(Status::invalid_argument(format!(
                                "out of order: {} != {n}",
                                m.seq
                            )));
                        }
                        n += 1;
                        bytes += m.payload.len();
                    }
                    Ok(Response::new(Msg {
                        seq: n,
                        count: bytes as u32,
                        ..Default::default()
                    }))
                },
            ),
            "Chat" => server::streaming(
                call,
                Codec::new(),
                move |req: Request<Streaming<Msg>>| async move {
                    let alive = Alive::new(&probe);
                    let stream = req.into_inner().map(move |m| {
                        let _ = &alive;
                        let m = m?;
                        if m.fail_code != 0 {
                            return Err(Status::new(
                                rpc_core::Code::from_u32(m.fail_code),
                                "chat failed",
                            ));
                        }
                        Ok(m)
                    });
                    Ok(Response::new(Box::pin(stream) as BoxStream))
                },
            ),
            _ => server::unimplemented(call),
        }
    }
}

pub fn cert() -> &'static SelfSigned {
    static CERT: OnceLock<SelfSigned> = OnceLock::new();
    CERT.get_or_init(|| SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap())
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: rpc_core::server::ServerHandle,
    pub task: tokio::task::JoinHandle<()>,
    pub probe: Probe,
}

pub fn builder() -> ServerBuilder {
    Server::builder().tls_config(cert().server_config().unwrap())
}

pub fn start_with(b: ServerBuilder) -> TestServer {
    start_with_addr(b, "127.0.0.1:0".parse().unwrap())
}

pub fn start_with_addr(b: ServerBuilder, addr: SocketAddr) -> TestServer {
    let svc = TestService::default();
    let probe = svc.probe.clone();
    let server = b.add_service(svc).bind(addr).unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let task = tokio::spawn(server.serve());
    TestServer {
        addr,
        handle,
        task,
        probe,
    }
}

pub fn start() -> TestServer {
    start_with(builder())
}

pub fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::from_addr(addr).tls_config(cert().client_config())
}

pub async fn connect(addr: SocketAddr) -> Channel {
    endpoint(addr).connect().await.unwrap()
}

pub fn msg(seq: u64) -> Msg {
    Msg {
        seq,
        ..Default::default()
    }
}

/// Waits (bounded) until `f` holds; a hang guard, not a timing assertion.
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

/// A raw QUIC connection speaking our ALPN, for tests that misbehave on purpose.
pub async fn raw_connection(addr: SocketAddr) -> rpc_core::transport::quic::quinn::Connection {
    raw_connection_with_alpn(addr, rpc_core::wire::ALPN)
        .await
        .unwrap()
}

/// A raw QUIC connection offering `alpn`, trusting the test certificate.
pub async fn raw_connection_with_alpn(
    addr: SocketAddr,
    alpn: &[u8],
) -> Result<
    rpc_core::transport::quic::quinn::Connection,
    rpc_core::transport::quic::quinn::ConnectionError,
> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(cert().cert_pem().as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    let qc = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(qc)));
    ep.connect(addr, "localhost").unwrap().await
}

/// Resident set size of this process in bytes (Linux).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
