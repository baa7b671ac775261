//! The interop server: `grpc.testing.TestService` as gRPC's interop descriptions specify it.
//!
//! * Every response payload is `size` zero bytes of type `COMPRESSABLE`; a negative size is
//!   `INVALID_ARGUMENT`.
//! * A request carrying `response_status` with a non-zero code ends the call with that code
//!   and message (after the responses asked for in the same request, for streams).
//! * The ASCII value of [`ECHO_INITIAL_KEY`] is echoed in the
//!   initial metadata, the binary value of [`ECHO_TRAILING_KEY`]
//!   in the trailing metadata (also on error statuses).
//! * `ResponseParameters.interval_us` pauses before each response.
//! * `UnimplementedCall` answers `UNIMPLEMENTED`; `grpc.testing.UnimplementedService` is not
//!   served at all.
//!
//! [`CallStats`] counts calls that started, completed, and ended without completing (the
//! handler or its response stream was dropped: cancellation or deadline), so a test can
//! check that a client's cancellation reached the server.

use crate::pb::test_service_server::{TestService, TestServiceServer};
use crate::pb::{
    EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};
use crate::{Failure, ECHO_INITIAL_KEY, ECHO_TRAILING_KEY};
use futures_util::stream::{self, BoxStream, StreamExt};
use rpc_core::server::{BoundServer, ServerHandle};
use rpc_core::tls::ServerTlsConfig;
use rpc_core::{Code, MetadataMap, Request, Response, Server, Status, Streaming};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The server's id, returned when a request sets `fill_server_id`.
pub const SERVER_ID: &str = "qrpc-interop-server";

/// Counters of the calls a [`TestServiceImpl`] handled.
#[derive(Debug, Default)]
pub struct CallStats {
    started: AtomicU64,
    completed: AtomicU64,
    abandoned: AtomicU64,
}

impl CallStats {
    /// Calls whose handler started.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    /// Calls whose handler produced its outcome (a response, a full response stream, or an
    /// error status).
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::SeqCst)
    }

    /// Calls whose handler (or response stream) was dropped before producing its outcome:
    /// cancelled by the client, or past their deadline.
    pub fn abandoned(&self) -> u64 {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// Calls started but neither completed nor abandoned yet.
    pub fn in_flight(&self) -> u64 {
        self.started()
            .saturating_sub(self.completed() + self.abandoned())
    }
}

/// Tracks one call: counts it as abandoned when dropped before [`Guard::complete`].
struct Guard {
    stats: Arc<CallStats>,
    done: bool,
}

impl Guard {
    fn new(stats: &Arc<CallStats>) -> Self {
        stats.started.fetch_add(1, Ordering::SeqCst);
        Guard {
            stats: stats.clone(),
            done: false,
        }
    }

    fn complete(&mut self) {
        if !self.done {
            self.done = true;
            self.stats.completed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.done {
            self.stats.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The `TestService` implementation.
#[derive(Debug, Clone, Default)]
pub struct TestServiceImpl {
    stats: Arc<CallStats>,
}

impl TestServiceImpl {
    /// A new service with zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The service's call counters (shared by clones).
    pub fn stats(&self) -> Arc<CallStats> {
        self.stats.clone()
    }
}

/// A payload of `size` zero bytes.
pub fn payload(size: i32) -> Result<Payload, Status> {
    let size = usize::try_from(size)
        .map_err(|_| Status::invalid_argument(format!("negative payload size {size}")))?;
    Ok(Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; size],
    })
}

/// The metadata to echo: (initial, trailing).
fn echo(md: &MetadataMap) -> Result<(MetadataMap, MetadataMap), Status> {
    let mut initial = MetadataMap::new();
    let mut trailing = MetadataMap::new();
    if let Some(v) = md.get(ECHO_INITIAL_KEY) {
        initial
            .insert(ECHO_INITIAL_KEY, v)
            .map_err(|e| Status::internal(e.to_string()))?;
    }
    if let Some(v) = md.get_bin(ECHO_TRAILING_KEY) {
        trailing
            .insert_bin(ECHO_TRAILING_KEY, v.clone())
            .map_err(|e| Status::internal(e.to_string()))?;
    }
    Ok((initial, trailing))
}

/// The status a request asks for, if it asks for a non-OK one.
fn echoed_status(status: Option<&EchoStatus>, trailing: &MetadataMap) -> Option<Status> {
    let s = status.filter(|s| s.code != 0)?;
    let code = u32::try_from(s.code).map_or(Code::Unknown, Code::from_u32);
    Some(Status::with_metadata(
        code,
        s.message.clone(),
        trailing.clone(),
    ))
}

fn with_metadata<T>(message: T, initial: MetadataMap, trailing: MetadataMap) -> Response<T> {
    let mut response = Response::new(message);
    response.metadata_mut().extend(initial);
    response.trailers_mut().extend(trailing);
    response
}

async fn pause(interval_us: i32) {
    if interval_us > 0 {
        tokio::time::sleep(Duration::from_micros(interval_us as u64)).await;
    }
}

/// The response stream type of the streaming methods.
pub type OutputStream = BoxStream<'static, Result<StreamingOutputCallResponse, Status>>;

/// Where a response stream takes its requests from.
enum Input {
    /// `StreamingOutputCall`: everything is known up front.
    None,
    /// `FullDuplexCall`: answer each request as it arrives.
    Duplex(Streaming<StreamingOutputCallRequest>),
    /// `HalfDuplexCall`: read every request first, then answer.
    Half(Streaming<StreamingOutputCallRequest>),
}

struct Output {
    input: Input,
    queue: VecDeque<ResponseParameters>,
    /// The status to end with once the queue is empty.
    end: Option<Status>,
    trailing: MetadataMap,
    guard: Guard,
    finished: bool,
}

impl Output {
    fn take(&mut self, request: StreamingOutputCallRequest) {
        self.queue.extend(request.response_parameters);
        if self.end.is_none() {
            self.end = echoed_status(request.response_status.as_ref(), &self.trailing);
        }
    }

    /// The next item of the response stream.
    async fn next(&mut self) -> Option<Result<StreamingOutputCallResponse, Status>> {
        if self.finished {
            return None;
        }
        loop {
            if let Some(p) = self.queue.pop_front() {
                pause(p.interval_us).await;
                return Some(payload(p.size).map(|payload| StreamingOutputCallResponse {
                    payload: Some(payload),
                }));
            }
            if let Some(status) = self.end.take() {
                self.finish();
                return Some(Err(status));
            }
            let read = match &mut self.input {
                Input::None => None,
                Input::Duplex(requests) => Some(requests.message().await),
                Input::Half(requests) => {
                    let mut all = Vec::new();
                    let res = loop {
                        match requests.message().await {
                            Ok(Some(r)) => all.push(r),
                            Ok(None) => break Ok(None),
                            Err(s) => break Err(s),
                        }
                    };
                    self.input = Input::None;
                    for r in all {
                        self.take(r);
                    }
                    Some(res)
                }
            };
            match read {
                Some(Ok(Some(request))) => self.take(request),
                Some(Ok(None)) | None if self.queue.is_empty() && self.end.is_none() => {
                    self.finish();
                    return None;
                }
                Some(Ok(None)) | None => self.input = Input::None,
                Some(Err(status)) => {
                    self.finish();
                    return Some(Err(status));
                }
            }
        }
    }

    fn finish(&mut self) {
        self.finished = true;
        self.guard.complete();
    }

    fn into_stream(self) -> OutputStream {
        stream::unfold(self, |mut out| async move {
            let item = out.next().await?;
            Some((item, out))
        })
        .boxed()
    }
}

impl TestService for TestServiceImpl {
    async fn empty_call(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        let mut guard = Guard::new(&self.stats);
        let (initial, trailing) = echo(request.metadata())?;
        guard.complete();
        Ok(with_metadata(Empty {}, initial, trailing))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let mut guard = Guard::new(&self.stats);
        let (initial, trailing) = echo(request.metadata())?;
        let req = request.into_inner();
        let result = match echoed_status(req.response_status.as_ref(), &trailing) {
            Some(status) => Err(status),
            None => payload(req.response_size).map(|p| {
                let response = SimpleResponse {
                    payload: Some(p),
                    server_id: if req.fill_server_id {
                        SERVER_ID.to_owned()
                    } else {
                        String::new()
                    },
                    ..SimpleResponse::default()
                };
                with_metadata(response, initial, trailing)
            }),
        };
        guard.complete();
        result
    }

    type StreamingOutputCallStream = OutputStream;

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<OutputStream>, Status> {
        let guard = Guard::new(&self.stats);
        let (initial, trailing) = echo(request.metadata())?;
        let mut out = Output {
            input: Input::None,
            queue: VecDeque::new(),
            end: None,
            trailing: trailing.clone(),
            guard,
            finished: false,
        };
        out.take(request.into_inner());
        Ok(with_metadata(out.into_stream(), initial, trailing))
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let mut guard = Guard::new(&self.stats);
        let (initial, trailing) = echo(request.metadata())?;
        let mut requests = request.into_inner();
        let mut total: usize = 0;
        while let Some(r) = requests.message().await? {
            total += r.payload.map_or(0, |p| p.body.len());
        }
        let aggregated_payload_size = i32::try_from(total)
            .map_err(|_| Status::out_of_range(format!("{total} bytes do not fit an int32")))?;
        guard.complete();
        Ok(with_metadata(
            StreamingInputCallResponse {
                aggregated_payload_size,
            },
            initial,
            trailing,
        ))
    }

    type FullDuplexCallStream = OutputStream;

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<OutputStream>, Status> {
        let guard = Guard::new(&self.stats);
        let (initial, trailing) = echo(request.metadata())?;
        let out = Output {
            input: Input::Duplex(request.into_inner()),
            queue: VecDeque::new(),
            end: None,
            trailing: trailing.clone(),
            guard,
            finished: false,
        };
        Ok(with_metadata(out.into_stream(), initial, trailing))
    }

    type HalfDuplexCallStream = OutputStream;

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<OutputStream>, Status> {
        let guard = Guard::new(&self.stats);
        let (initial, trailing) = echo(request.metadata())?;
        let out = Output {
            input: Input::Half(request.into_inner()),
            queue: VecDeque::new(),
            end: None,
            trailing: trailing.clone(),
            guard,
            finished: false,
        };
        Ok(with_metadata(out.into_stream(), initial, trailing))
    }

    async fn unimplemented_call(&self, _: Request<Empty>) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "grpc.testing.TestService/UnimplementedCall is not implemented",
        ))
    }
}

/// A bound interop server, ready to serve on its task.
#[derive(Debug)]
pub struct InteropServer {
    /// The server; call `serve` or `serve_with_shutdown` on it.
    pub server: BoundServer,
    /// Observes and stops the server.
    pub handle: ServerHandle,
    /// The service's call counters.
    pub stats: Arc<CallStats>,
}

/// Binds an interop server serving `TestService` (and only it) on `addr`.
pub fn bind(addr: SocketAddr, tls: ServerTlsConfig) -> Result<InteropServer, Failure> {
    let service = TestServiceImpl::new();
    let stats = service.stats();
    let server = Server::builder()
        .tls_config(tls)
        .add_service(TestServiceServer::new(service))
        .bind(addr)?;
    let handle = server.handle();
    Ok(InteropServer {
        server,
        handle,
        stats,
    })
}
