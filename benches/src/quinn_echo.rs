//! The raw quinn baseline: the echo service with no framework.
//!
//! One bidirectional stream per call. The client writes one kind byte (0 unary, 1
//! server-streaming, 2 client-streaming, 3 bidi), then `u32` big-endian length-prefixed
//! `EchoRequest`s; the server answers with length-prefixed `EchoResponse`s. A unary call
//! writes kind, length and message in one write and finishes the stream; the server reads
//! to the end, writes the one reply and finishes. Nothing else: no headers, no status, no
//! deadline, no cancellation. That is the floor a QUIC RPC framework is measured against.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use rpc_bench::driver::{Driver, Failure, PathStats};
use rpc_bench::echo::{EchoRequest, EchoResponse};
use rpc_bench::NetOptions;
use rpc_core::tls::dev::SelfSigned;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;

/// ALPN of the baseline protocol.
pub const ALPN: &[u8] = b"echo";

const UNARY: u8 = 0;
const SERVER_STREAM: u8 = 1;
const CLIENT_STREAM: u8 = 2;
const BIDI: u8 = 3;

/// Largest message accepted.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn transport(net: &NetOptions, server: bool) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    if server {
        // quinn's default of 100 streams throttles runs with more calls in flight.
        t.max_concurrent_bidi_streams(net.max_calls.unwrap_or(1024).into());
    }
    if let Some(mtu) = net.initial_mtu {
        t.initial_mtu(mtu);
    }
    if let Some(max) = net.max_udp_payload {
        let mut m = quinn::MtuDiscoveryConfig::default();
        m.upper_bound(max);
        t.mtu_discovery_config(Some(m));
    }
    Arc::new(t)
}

fn endpoint(
    addr: SocketAddr,
    net: &NetOptions,
    server: Option<quinn::ServerConfig>,
) -> std::io::Result<quinn::Endpoint> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(n) = net.udp_buffer {
        let _ = socket.set_recv_buffer_size(n);
        let _ = socket.set_send_buffer_size(n);
    }
    socket.bind(&addr.into())?;
    let mut cfg = quinn::EndpointConfig::default();
    if let Some(max) = net.max_udp_payload {
        let _ = cfg.max_udp_payload_size(max);
    }
    let runtime = quinn::default_runtime().ok_or_else(|| std::io::Error::other("no runtime"))?;
    quinn::Endpoint::new(cfg, server, socket.into(), runtime)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A quinn server endpoint serving the echo protocol with `cert`, bound to `addr`.
pub fn bind_server(
    addr: SocketAddr,
    cert: &SelfSigned,
    net: &NetOptions,
) -> Result<quinn::Endpoint, BoxError> {
    let chain = CertificateDer::pem_slice_iter(cert.cert_pem().as_bytes())
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem().as_bytes())?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(transport(net, true));
    Ok(endpoint(addr, net, Some(cfg))?)
}

/// Accepts connections and serves calls until the endpoint is closed.
pub async fn serve(endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            while let Ok((send, recv)) = conn.accept_bi().await {
                tokio::spawn(async move {
                    let _ = serve_call(send, recv).await;
                });
            }
        });
    }
}

/// Reads length-prefixed messages from a stream.
struct FrameReader {
    recv: quinn::RecvStream,
    buf: BytesMut,
}

impl FrameReader {
    fn new(recv: quinn::RecvStream) -> Self {
        FrameReader {
            recv,
            buf: BytesMut::new(),
        }
    }

    /// Reads more bytes; false at the end of the stream.
    async fn fill(&mut self) -> Result<bool, BoxError> {
        match self.recv.read_chunk(usize::MAX, true).await? {
            Some(chunk) => {
                self.buf.extend_from_slice(&chunk.bytes);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn kind(&mut self) -> Result<u8, BoxError> {
        while self.buf.is_empty() {
            if !self.fill().await? {
                return Err("stream ended before the call kind".into());
            }
        }
        Ok(self.buf.get_u8())
    }

    async fn next(&mut self) -> Result<Option<Bytes>, BoxError> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes(self.buf[..4].try_into()?) as usize;
                if len > MAX_MESSAGE {
                    return Err("message too large".into());
                }
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
                self.buf.reserve(4 + len - self.buf.len());
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err("stream ended inside a message".into())
                };
            }
        }
    }
}

fn frame(dst: &mut BytesMut, msg: &impl Message) {
    let len = msg.encoded_len();
    dst.reserve(4 + len);
    dst.put_u32(len as u32);
    msg.encode_raw(dst);
}

fn framed(kind: Option<u8>, msg: &impl Message) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + msg.encoded_len());
    if let Some(k) = kind {
        b.put_u8(k);
    }
    frame(&mut b, msg);
    b.freeze()
}

fn payload(pool: &Bytes, req: &EchoRequest) -> Bytes {
    match req.response_size as usize {
        0 => req.payload.clone(),
        n if n <= pool.len() => pool.slice(..n),
        n => Bytes::from(vec![0x5a; n]),
    }
}

thread_local! {
    static POOL: Bytes = Bytes::from(vec![0x5a; 1024 * 1024]);
}

async fn serve_call(mut send: quinn::SendStream, recv: quinn::RecvStream) -> Result<(), BoxError> {
    let mut rx = FrameReader::new(recv);
    let pool = POOL.with(Bytes::clone);
    match rx.kind().await? {
        UNARY | SERVER_STREAM => {
            let req = EchoRequest::decode(rx.next().await?.ok_or("no request")?)?;
            let resp = EchoResponse {
                payload: payload(&pool, &req),
                received: 1,
            };
            for _ in 0..req.response_count.max(1) {
                send.write_chunk(framed(None, &resp)).await?;
            }
        }
        CLIENT_STREAM => {
            let (mut n, mut size) = (0u64, 0);
            while let Some(m) = rx.next().await? {
                size = EchoRequest::decode(m)?.response_size;
                n += 1;
            }
            let req = EchoRequest {
                response_size: size,
                ..Default::default()
            };
            let resp = EchoResponse {
                payload: payload(&pool, &req),
                received: n,
            };
            send.write_chunk(framed(None, &resp)).await?;
        }
        BIDI => {
            while let Some(m) = rx.next().await? {
                let req = EchoRequest::decode(m)?;
                let resp = EchoResponse {
                    payload: payload(&pool, &req),
                    received: 1,
                };
                send.write_chunk(framed(None, &resp)).await?;
            }
        }
        _ => return Err("unknown call kind".into()),
    }
    send.finish()?;
    Ok(())
}

/// A quinn echo server on a thread of its own (single-threaded runtime).
#[derive(Debug)]
pub struct BackgroundServer {
    addr: SocketAddr,
    endpoint: quinn::Endpoint,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Binds `addr` and serves on a new thread.
    pub fn start(addr: SocketAddr, cert: &SelfSigned, net: &NetOptions) -> Result<Self, BoxError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (cert, net) = (cert.clone(), net.clone());
        let thread = crate::spawn_runtime_thread("quinn-echo", move || async move {
            match bind_server(addr, &cert, &net) {
                Ok(ep) => {
                    let _ = tx.send(Ok(ep.clone()));
                    serve(ep).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        })?;
        let endpoint = rx.recv()??;
        Ok(BackgroundServer {
            addr: endpoint.local_addr()?,
            endpoint,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"done");
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Drives the raw quinn echo protocol.
#[derive(Debug, Clone)]
pub struct QuinnDriver {
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    server_name: String,
    roots: rustls::RootCertStore,
    net: NetOptions,
}

fn client_config(
    roots: &rustls::RootCertStore,
    net: &NetOptions,
) -> Result<quinn::ClientConfig, BoxError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(transport(net, false));
    Ok(cfg)
}

impl QuinnDriver {
    /// A client endpoint (one UDP socket for every connection) trusting `cert`; its
    /// connections share one TLS config, so reconnects resume TLS sessions.
    pub fn new(
        addr: SocketAddr,
        server_name: &str,
        cert: &SelfSigned,
        net: &NetOptions,
    ) -> Result<Self, BoxError> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(cert.cert_pem().as_bytes()) {
            roots.add(c?)?;
        }
        let cfg = client_config(&roots, net)?;
        let local: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse()?
        } else {
            "[::]:0".parse()?
        };
        let mut endpoint = endpoint(local, net, None)?;
        endpoint.set_default_client_config(cfg);
        Ok(QuinnDriver {
            endpoint,
            addr,
            server_name: server_name.to_owned(),
            roots,
            net: net.clone(),
        })
    }

    /// Connects with a new TLS config (no session to resume): a full handshake, on the same
    /// UDP endpoint.
    pub async fn connect_full(&self) -> Result<quinn::Connection, Failure> {
        let cfg = client_config(&self.roots, &self.net).map_err(|e| format!("connect: {e}"))?;
        self.endpoint
            .connect_with(cfg, self.addr, &self.server_name)
            .map_err(|e| format!("connect: {e}"))?
            .await
            .map_err(|e| format!("connect: {e}"))
    }
}

fn fail(e: impl std::fmt::Display) -> Failure {
    let s = e.to_string();
    s.split(':').next().unwrap_or("error").to_owned()
}

async fn read_all(recv: quinn::RecvStream) -> Result<u64, Failure> {
    let mut rx = FrameReader::new(recv);
    let mut got = 0;
    while let Some(m) = rx.next().await.map_err(fail)? {
        got += EchoResponse::decode(m).map_err(fail)?.payload.len() as u64;
    }
    Ok(got)
}

/// An open bidi echo call.
#[derive(Debug)]
pub struct QuinnBidi {
    send: quinn::SendStream,
    rx: FrameReader,
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader").finish_non_exhaustive()
    }
}

fn request(payload: Bytes, size: u32, count: u32) -> EchoRequest {
    EchoRequest {
        payload,
        response_size: size,
        response_count: count,
    }
}

impl Driver for QuinnDriver {
    type Conn = quinn::Connection;
    type Bidi = QuinnBidi;

    async fn connect(&self) -> Result<quinn::Connection, Failure> {
        self.endpoint
            .connect(self.addr, &self.server_name)
            .map_err(|e| format!("connect: {e}"))?
            .await
            .map_err(|e| format!("connect: {e}"))
    }

    fn path_stats(&self, conn: &quinn::Connection) -> Option<PathStats> {
        let s = conn.stats();
        Some(PathStats {
            connections: 1,
            sent_datagrams: s.udp_tx.datagrams,
            received_datagrams: s.udp_rx.datagrams,
            sent_ios: s.udp_tx.ios,
            received_ios: s.udp_rx.ios,
            sent_bytes: s.udp_tx.bytes,
            received_bytes: s.udp_rx.bytes,
            sent_packets: s.path.sent_packets,
            lost_packets: s.path.lost_packets,
            path_mtu: s.path.current_mtu,
            rtt: s.path.rtt,
            cwnd: s.path.cwnd,
        })
    }

    async fn unary(&self, conn: &quinn::Connection, payload: Bytes) -> Result<u64, Failure> {
        let (mut send, recv) = conn.open_bi().await.map_err(fail)?;
        send.write_chunk(framed(Some(UNARY), &request(payload, 0, 0)))
            .await
            .map_err(fail)?;
        let _ = send.finish();
        read_all(recv).await
    }

    async fn server_stream(
        &self,
        conn: &quinn::Connection,
        size: u32,
        count: u32,
    ) -> Result<u64, Failure> {
        let (mut send, recv) = conn.open_bi().await.map_err(fail)?;
        send.write_chunk(framed(
            Some(SERVER_STREAM),
            &request(Bytes::new(), size, count),
        ))
        .await
        .map_err(fail)?;
        let _ = send.finish();
        read_all(recv).await
    }

    async fn client_stream(
        &self,
        conn: &quinn::Connection,
        payload: Bytes,
        count: u32,
    ) -> Result<u64, Failure> {
        let (mut send, recv) = conn.open_bi().await.map_err(fail)?;
        let req = request(payload, 0, 0);
        let mut first = Some(CLIENT_STREAM);
        for _ in 0..count {
            send.write_chunk(framed(first.take(), &req))
                .await
                .map_err(fail)?;
        }
        let _ = send.finish();
        read_all(recv).await
    }

    async fn open_bidi(&self, conn: &quinn::Connection) -> Result<QuinnBidi, Failure> {
        let (mut send, recv) = conn.open_bi().await.map_err(fail)?;
        send.write_chunk(Bytes::from_static(&[BIDI]))
            .await
            .map_err(fail)?;
        Ok(QuinnBidi {
            send,
            rx: FrameReader::new(recv),
        })
    }

    async fn ping(&self, bidi: &mut QuinnBidi, payload: Bytes) -> Result<u64, Failure> {
        bidi.send
            .write_chunk(framed(None, &request(payload, 0, 0)))
            .await
            .map_err(fail)?;
        match bidi.rx.next().await.map_err(fail)? {
            Some(m) => Ok(EchoResponse::decode(m).map_err(fail)?.payload.len() as u64),
            None => Err("BidiEnded".into()),
        }
    }
}
