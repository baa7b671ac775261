//! A flaky service for the retry tests: it fails, slows down or pushes back on the calls the
//! request asks it to, and records what each handler saw (attempt metadata, time, whether
//! it was dropped before finishing).
#![allow(dead_code)]

use futures_util::StreamExt;
use rpc_core::client::retry::{PREVIOUS_ATTEMPTS, RETRY_PUSHBACK};
use rpc_core::transport::mem::{MemConnection, MemRecvStream, MemSendStream};
use rpc_core::transport::{
    BidiStream, Connection, ConnectionError, Listener, RecvStream, SendStream,
};
use rpc_core::wire::ErrorCode;
use rpc_core::{Code, Request, Response, Status, Streaming};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Ask {
    /// Fail this many calls (counted by the server, all methods together), from the first.
    #[prost(uint32, tag = "1")]
    pub fail_first: u32,
    /// With this code (14, UNAVAILABLE, when 0).
    #[prost(int32, tag = "2")]
    pub code: i32,
    /// On the failures: > 0, `Status::with_retry_pushback` of that many ms; < 0,
    /// `Status::with_no_retry`.
    #[prost(int64, tag = "3")]
    pub pushback_ms: i64,
    /// On the failures: this raw pushback trailer value instead, when not empty.
    #[prost(string, tag = "4")]
    pub raw_pushback: String,
    /// The first `slow_first` calls wait `slow_ms` before answering.
    #[prost(uint32, tag = "5")]
    pub slow_first: u32,
    #[prost(uint64, tag = "6")]
    pub slow_ms: u64,
    #[prost(bytes = "vec", tag = "7")]
    pub payload: Vec<u8>,
    /// Watch: fail inside the response stream, after the response head (committed).
    #[prost(bool, tag = "8")]
    pub fail_in_stream: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Answer {
    /// The server's index of the call that answered (0: the first it saw).
    #[prost(uint32, tag = "1")]
    pub call: u32,
    /// Request messages the handler read (streaming requests).
    #[prost(uint32, tag = "2")]
    pub messages: u32,
}

#[rpc_core::service(package = "retry.test", name = "Flaky")]
pub trait Flaky {
    /// Idempotent.
    #[rpc(idempotent)]
    async fn get(&self, request: Request<Ask>) -> Result<Response<Answer>, Status>;
    /// Not idempotent.
    async fn put(&self, request: Request<Ask>) -> Result<Response<Answer>, Status>;
    /// Idempotent, with a request stream: the first message says what to do.
    #[rpc(idempotent)]
    async fn upload(&self, request: Request<Streaming<Ask>>) -> Result<Response<Answer>, Status>;
    /// Idempotent, with a response stream of one answer.
    #[rpc(idempotent)]
    async fn watch(
        &self,
        request: Request<Ask>,
    ) -> Result<
        Response<impl futures_util::Stream<Item = Result<Answer, Status>> + Send + 'static>,
        Status,
    >;
}

pub type AnswerStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Answer, Status>> + Send + 'static>>;

pub const GET: &str = "/retry.test.Flaky/Get";
pub const PUT: &str = "/retry.test.Flaky/Put";
pub const UPLOAD: &str = "/retry.test.Flaky/Upload";

/// One handler run, as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    /// The `qrpc-previous-rpc-attempts` metadata.
    pub previous: Option<String>,
}

/// What the server saw; shared by clones.
#[derive(Clone, Default)]
pub struct Server {
    calls: Arc<AtomicU32>,
    seen: Arc<Mutex<Vec<Seen>>>,
    live: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

/// Counts a live handler; a handler dropped before it finished is counted as cancelled.
struct Running {
    server: Server,
    done: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.live.fetch_sub(1, Ordering::SeqCst);
        if !self.done {
            self.server.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Server {
    /// Handler runs so far.
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Handlers running now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Handlers dropped before they finished (cancelled calls).
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    pub fn service(&self) -> flaky_server::FlakyServer<Server> {
        flaky_server::FlakyServer::new(self.clone())
    }

    async fn handle(
        &self,
        md: &rpc_core::MetadataMap,
        ask: Ask,
        messages: u32,
    ) -> Result<Response<Answer>, Status> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push(Seen {
            at: Instant::now(),
            previous: md.get(PREVIOUS_ATTEMPTS).map(str::to_owned),
        });
        self.live.fetch_add(1, Ordering::SeqCst);
        let mut running = Running {
            server: self.clone(),
            done: false,
        };
        if n < ask.slow_first {
            tokio::time::sleep(Duration::from_millis(ask.slow_ms)).await;
        }
        running.done = true;
        if n < ask.fail_first {
            let code = if ask.code == 0 { 14 } else { ask.code as u32 };
            let mut status = Status::new(Code::from_u32(code), format!("flaky call {n}"));
            if !ask.raw_pushback.is_empty() {
                status
                    .metadata_mut()
                    .insert(RETRY_PUSHBACK, &ask.raw_pushback)
                    .unwrap();
            } else if ask.pushback_ms > 0 {
                status = status.with_retry_pushback(Duration::from_millis(ask.pushback_ms as u64));
            } else if ask.pushback_ms < 0 {
                status = status.with_no_retry();
            }
            return Err(status);
        }
        Ok(Response::new(Answer { call: n, messages }))
    }
}

impl Flaky for Server {
    async fn get(&self, request: Request<Ask>) -> Result<Response<Answer>, Status> {
        let md = request.metadata().clone();
        self.handle(&md, request.into_inner(), 1).await
    }

    async fn put(&self, request: Request<Ask>) -> Result<Response<Answer>, Status> {
        let md = request.metadata().clone();
        self.handle(&md, request.into_inner(), 1).await
    }

    async fn upload(&self, request: Request<Streaming<Ask>>) -> Result<Response<Answer>, Status> {
        let md = request.metadata().clone();
        let mut stream = request.into_inner();
        let mut first = None;
        let mut messages = 0;
        while let Some(ask) = stream.next().await {
            let ask = ask?;
            messages += 1;
            first.get_or_insert(ask);
        }
        self.handle(&md, first.unwrap_or_default(), messages).await
    }

    type WatchStream = AnswerStream;

    async fn watch(&self, request: Request<Ask>) -> Result<Response<AnswerStream>, Status> {
        let md = request.metadata().clone();
        let ask = request.into_inner();
        let in_stream = ask.fail_in_stream;
        let answer = match self.handle(&md, ask, 1).await {
            Ok(answer) => Ok(answer.into_inner()),
            // Committed: the response head goes out before this error.
            Err(status) if in_stream => Err(status),
            Err(status) => return Err(status),
        };
        Ok(Response::new(Box::pin(futures_util::stream::iter([
            answer,
        ]))))
    }
}

/// A server end of an in-memory connection that refuses its next `refuse` streams with
/// `REFUSED_STREAM` before the server sees them, as a draining server does (PROTOCOL.md §12).
pub struct Refusing {
    pub inner: MemConnection,
    pub refuse: Arc<AtomicUsize>,
}

impl Connection for Refusing {
    type SendStream = MemSendStream;
    type RecvStream = MemRecvStream;

    async fn open_bi(&self) -> Result<BidiStream<Self>, ConnectionError> {
        self.inner.open_bi().await
    }

    async fn accept_bi(&self) -> Result<BidiStream<Self>, ConnectionError> {
        loop {
            let (mut send, mut recv) = self.inner.accept_bi().await?;
            let refused = self
                .refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if !refused {
                return Ok((send, recv));
            }
            send.reset(ErrorCode::REFUSED_STREAM);
            recv.stop(ErrorCode::REFUSED_STREAM);
        }
    }

    fn close(&self, code: ErrorCode, reason: &[u8]) {
        self.inner.close(code, reason)
    }

    fn close_reason(&self) -> Option<ConnectionError> {
        self.inner.close_reason()
    }
}

/// Yields one connection, then nothing (without ending, which would stop the server).
pub struct OnceListener<C>(pub Option<C>);

impl<C: Connection> Listener for OnceListener<C> {
    type Connection = C;

    async fn accept(&mut self) -> Option<C> {
        match self.0.take() {
            Some(conn) => Some(conn),
            None => std::future::pending().await,
        }
    }
}

/// `f`, or a panic after ten minutes of virtual time: a hang guard, never a timing assertion.
pub async fn guard<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(600), f)
        .await
        .expect("hung (ten minutes of virtual time)")
}

/// Lets the other tasks run until `cond` holds, without letting time pass.
pub async fn settle(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..10_000 {
        if cond() {
            return true;
        }
        tokio::task::yield_now().await;
    }
    cond()
}

/// Connects to one fixed in-memory connection (clones of one end).
pub struct Fixed(pub MemConnection);

impl rpc_core::transport::Connector for Fixed {
    type Connection = MemConnection;

    async fn connect(&self) -> Result<MemConnection, rpc_core::Error> {
        Ok(self.0.clone())
    }
}

/// An in-memory server of [`Flaky`] that refuses its next `refuse` streams (see
/// [`Refusing`]), and a channel to it.
pub async fn start_mem(refuse: usize) -> (rpc_core::Channel, Server, Arc<AtomicUsize>) {
    start_mem_with(refuse, |e| e).await
}

/// The same, with the endpoint's settings changed by `f`.
pub async fn start_mem_with(
    refuse: usize,
    f: impl FnOnce(rpc_core::Endpoint) -> rpc_core::Endpoint,
) -> (rpc_core::Channel, Server, Arc<AtomicUsize>) {
    let (client, server_end) = rpc_core::transport::mem::pair();
    let refuse = Arc::new(AtomicUsize::new(refuse));
    let flaky = Server::default();
    let listener = OnceListener(Some(Refusing {
        inner: server_end,
        refuse: refuse.clone(),
    }));
    let server = rpc_core::Server::builder()
        .add_service(flaky.service())
        .listen(listener);
    tokio::spawn(server.serve_with_shutdown(std::future::pending()));
    let channel = f(rpc_core::Endpoint::from_connector(Fixed(client)))
        .connect()
        .await
        .expect("in-memory connect");
    (channel, flaky, refuse)
}

/// A service config retrying the whole Flaky service.
pub fn retry_config(max_attempts: u32, initial: &str, max: &str, codes: &str) -> String {
    format!(
        r#"{{"methodConfig": [{{
            "name": [{{"service": "retry.test.Flaky"}}],
            "retryPolicy": {{"maxAttempts": {max_attempts}, "initialBackoff": "{initial}",
              "maxBackoff": "{max}", "backoffMultiplier": 2, "retryableStatusCodes": [{codes}]}}
        }}]}}"#
    )
}
