//! The interop cases, as gRPC's interop test descriptions define them, run with the generated
//! `TestServiceClient`.
//!
//! Cancellation in Rust is dropping the call's future (or its response stream): the cases
//! `cancel_after_begin` and `cancel_after_first_response` drop the call at the point the
//! description names, then check that the connection still serves calls. (Whether the server
//! saw the cancellation is checked by the in-process tests through
//! [`CallStats`](crate::server::CallStats).)

use crate::pb::test_service_client::TestServiceClient;
use crate::pb::unimplemented_service_client::UnimplementedServiceClient;
use crate::pb::{
    EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest,
    StreamingInputCallRequest, StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use crate::{Failure, ECHO_INITIAL_KEY, ECHO_TRAILING_KEY};
use futures_util::stream::{self, Stream};
use rpc_core::{Channel, Code, Endpoint, Request, Status, Streaming};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Request payload size of `large_unary` and `custom_metadata`.
pub const LARGE_REQUEST_SIZE: i32 = 271_828;
/// Response payload size of `large_unary` and `custom_metadata`.
pub const LARGE_RESPONSE_SIZE: i32 = 314_159;
/// Request payload sizes of `client_streaming` and `ping_pong`.
pub const REQUEST_SIZES: [i32; 4] = [27_182, 8, 1_828, 45_904];
/// Response payload sizes of `server_streaming` and `ping_pong`.
pub const RESPONSE_SIZES: [i32; 4] = [31_415, 9, 2_653, 58_979];
/// The message of `special_status_message`: whitespace and Unicode that must survive as is.
pub const SPECIAL_STATUS_MESSAGE: &str =
    "\t\ntest with whitespace\r\nand Unicode BMP \u{263A} and non-BMP \u{1F608}\t\n";
/// Value sent under [`ECHO_INITIAL_KEY`] by `custom_metadata`.
pub const INITIAL_METADATA_VALUE: &str = "test_initial_metadata_value";
/// Value sent under [`ECHO_TRAILING_KEY`] by `custom_metadata`.
pub const TRAILING_METADATA_VALUE: &[u8] = b"\xab\xab\xab";

/// Longest any single case may take before it fails (no case may hang).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest one call of a soak run may take (connection included) before it counts as failed.
pub const SOAK_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// An interop case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Case {
    /// One `EmptyCall`.
    EmptyUnary,
    /// `UnaryCall` with a 271,828-byte request and a 314,159-byte response.
    LargeUnary,
    /// `StreamingInputCall` with four requests; the server adds up their sizes.
    ClientStreaming,
    /// `StreamingOutputCall` with four responses of the asked sizes.
    ServerStreaming,
    /// `FullDuplexCall`: four request/response rounds, each waiting for the response.
    PingPong,
    /// `FullDuplexCall` with no request: no response, status OK.
    EmptyStream,
    /// ASCII initial and binary trailing metadata echoed, on `UnaryCall` and `FullDuplexCall`.
    CustomMetadata,
    /// A requested status code and message come back, on `UnaryCall` and `FullDuplexCall`.
    StatusCodeAndMessage,
    /// A status message with whitespace and Unicode comes back unchanged.
    SpecialStatusMessage,
    /// `TestService/UnimplementedCall` is `UNIMPLEMENTED`.
    UnimplementedMethod,
    /// `UnimplementedService/UnimplementedCall` is `UNIMPLEMENTED`.
    UnimplementedService,
    /// `StreamingInputCall` cancelled before any request.
    CancelAfterBegin,
    /// `FullDuplexCall` cancelled after its first response.
    CancelAfterFirstResponse,
    /// `FullDuplexCall` with a 1 ms deadline on a server that never answers:
    /// `DEADLINE_EXCEEDED`.
    TimeoutOnSleepingServer,
    /// Many `large_unary` calls on one connection.
    RpcSoak,
    /// Many `large_unary` calls, each on a new connection.
    ChannelSoak,
}

impl Case {
    /// Every case, in the order `all` runs them.
    pub const ALL: [Case; 16] = [
        Case::EmptyUnary,
        Case::LargeUnary,
        Case::ClientStreaming,
        Case::ServerStreaming,
        Case::PingPong,
        Case::EmptyStream,
        Case::CustomMetadata,
        Case::StatusCodeAndMessage,
        Case::SpecialStatusMessage,
        Case::UnimplementedMethod,
        Case::UnimplementedService,
        Case::CancelAfterBegin,
        Case::CancelAfterFirstResponse,
        Case::TimeoutOnSleepingServer,
        Case::RpcSoak,
        Case::ChannelSoak,
    ];

    /// The case's name, as gRPC's interop clients spell it.
    pub fn name(self) -> &'static str {
        match self {
            Case::EmptyUnary => "empty_unary",
            Case::LargeUnary => "large_unary",
            Case::ClientStreaming => "client_streaming",
            Case::ServerStreaming => "server_streaming",
            Case::PingPong => "ping_pong",
            Case::EmptyStream => "empty_stream",
            Case::CustomMetadata => "custom_metadata",
            Case::StatusCodeAndMessage => "status_code_and_message",
            Case::SpecialStatusMessage => "special_status_message",
            Case::UnimplementedMethod => "unimplemented_method",
            Case::UnimplementedService => "unimplemented_service",
            Case::CancelAfterBegin => "cancel_after_begin",
            Case::CancelAfterFirstResponse => "cancel_after_first_response",
            Case::TimeoutOnSleepingServer => "timeout_on_sleeping_server",
            Case::RpcSoak => "rpc_soak",
            Case::ChannelSoak => "channel_soak",
        }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Case {
    type Err = Failure;

    fn from_str(s: &str) -> Result<Self, Failure> {
        Case::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| Failure(format!("unknown test case {s:?}")))
    }
}

/// What the cases connect to and how.
#[derive(Debug, Clone)]
pub struct Context {
    /// The endpoint; `channel_soak` connects anew from it for every call.
    pub endpoint: Endpoint,
    /// The shared channel every other case uses.
    pub channel: Channel,
    /// Iterations of each soak case.
    pub soak_iterations: u32,
}

impl Context {
    /// Connects to `endpoint`.
    pub async fn connect(endpoint: Endpoint, soak_iterations: u32) -> Result<Self, Failure> {
        let channel = endpoint.connect().await?;
        Ok(Context {
            endpoint,
            channel,
            soak_iterations,
        })
    }

    fn client(&self) -> TestServiceClient {
        TestServiceClient::new(self.channel.clone())
    }
}

/// Figures of a soak run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SoakReport {
    /// Calls made.
    pub calls: u32,
    /// Calls that did not end correctly (must be 0).
    pub failures: u32,
    /// Connections opened for the run.
    pub connections: u32,
    /// Median call latency.
    pub p50: Duration,
    /// Slowest call.
    pub max: Duration,
    /// Whole run.
    pub elapsed: Duration,
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} calls, {} failures, {} connections, p50 {:?}, max {:?}, total {:?}",
            self.calls, self.failures, self.connections, self.p50, self.max, self.elapsed
        )
    }
}

/// What a case reports when it passes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Calls the case made.
    pub calls: u32,
    /// Soak figures, for the soak cases.
    pub soak: Option<SoakReport>,
}

impl Outcome {
    fn calls(calls: u32) -> Self {
        Outcome { calls, soak: None }
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Failure(format!($($fmt)+)));
        }
    };
}

/// Runs `case`, bounded by [`CASE_TIMEOUT`].
pub async fn run(case: Case, ctx: &Context) -> Result<Outcome, Failure> {
    let run = async {
        match case {
            Case::EmptyUnary => empty_unary(ctx).await,
            Case::LargeUnary => large_unary(&ctx.client()).await.map(|()| Outcome::calls(1)),
            Case::ClientStreaming => client_streaming(ctx).await,
            Case::ServerStreaming => server_streaming(ctx).await,
            Case::PingPong => ping_pong(ctx).await,
            Case::EmptyStream => empty_stream(ctx).await,
            Case::CustomMetadata => custom_metadata(ctx).await,
            Case::StatusCodeAndMessage => status_code_and_message(ctx).await,
            Case::SpecialStatusMessage => special_status_message(ctx).await,
            Case::UnimplementedMethod => unimplemented_method(ctx).await,
            Case::UnimplementedService => unimplemented_service(ctx).await,
            Case::CancelAfterBegin => cancel_after_begin(ctx).await,
            Case::CancelAfterFirstResponse => cancel_after_first_response(ctx).await,
            Case::TimeoutOnSleepingServer => timeout_on_sleeping_server(ctx).await,
            Case::RpcSoak => soak(ctx, false).await,
            Case::ChannelSoak => soak(ctx, true).await,
        }
    };
    // A soak run is bounded per call instead (SOAK_CALL_TIMEOUT).
    let limit = match case {
        Case::RpcSoak | Case::ChannelSoak => SOAK_CALL_TIMEOUT * (ctx.soak_iterations + 1),
        _ => CASE_TIMEOUT,
    };
    match tokio::time::timeout(limit, run).await {
        Ok(res) => res.map_err(|f| Failure(format!("{case}: {f}"))),
        Err(_) => Err(Failure(format!("{case}: no result within {limit:?}"))),
    }
}

fn zeros(size: i32) -> Payload {
    Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; size.max(0) as usize],
    }
}

fn check_payload(p: Option<&Payload>, size: i32, what: &str) -> Result<(), Failure> {
    let body = p.map_or(&[][..], |p| &p.body[..]);
    ensure!(
        body.len() == size as usize,
        "{what}: payload of {} bytes, expected {size}",
        body.len()
    );
    ensure!(
        body.iter().all(|&b| b == 0),
        "{what}: payload is not all zeros"
    );
    Ok(())
}

fn expect_status<T: fmt::Debug>(
    res: Result<T, Status>,
    code: Code,
    message: Option<&str>,
    what: &str,
) -> Result<Status, Failure> {
    match res {
        Ok(v) => Err(Failure(format!(
            "{what}: succeeded with {v:?}, expected {code:?}"
        ))),
        Err(s) => {
            ensure!(
                s.code() == code,
                "{what}: status {:?} ({:?}), expected {code:?}",
                s.code(),
                s.message()
            );
            if let Some(m) = message {
                ensure!(
                    s.message() == m,
                    "{what}: status message {:?}, expected {m:?}",
                    s.message()
                );
            }
            Ok(s)
        }
    }
}

/// A request stream fed from a channel: the sender decides when each request goes and
/// when the stream ends (dropping the sender).
fn request_stream<T: Send + 'static>() -> (mpsc::Sender<T>, impl Stream<Item = T> + Send + 'static)
{
    let (tx, rx) = mpsc::channel(8);
    let s = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    (tx, s)
}

fn output_request(response_size: Option<i32>, request_size: i32) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_type: PayloadType::Compressable as i32,
        response_parameters: response_size
            .map(|size| ResponseParameters {
                size,
                ..ResponseParameters::default()
            })
            .into_iter()
            .collect(),
        payload: Some(zeros(request_size)),
        ..StreamingOutputCallRequest::default()
    }
}

async fn next_response(
    responses: &mut Streaming<StreamingOutputCallResponse>,
    what: &str,
) -> Result<StreamingOutputCallResponse, Failure> {
    match responses.message().await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(Failure(format!("{what}: response stream ended early"))),
        Err(s) => Err(Failure(format!(
            "{what}: status {:?} ({:?})",
            s.code(),
            s.message()
        ))),
    }
}

async fn expect_end(
    responses: &mut Streaming<StreamingOutputCallResponse>,
    what: &str,
) -> Result<(), Failure> {
    match responses.message().await {
        Ok(None) => Ok(()),
        Ok(Some(r)) => Err(Failure(format!(
            "{what}: unexpected extra response of {} bytes",
            r.payload.map_or(0, |p| p.body.len())
        ))),
        Err(s) => Err(Failure(format!(
            "{what}: status {:?} ({:?}) instead of OK",
            s.code(),
            s.message()
        ))),
    }
}

async fn empty_unary(ctx: &Context) -> Result<Outcome, Failure> {
    let reply = ctx.client().empty_call(Empty {}).await?;
    ensure!(
        *reply.get_ref() == Empty {},
        "empty_call returned {:?}",
        reply.get_ref()
    );
    Ok(Outcome::calls(1))
}

/// The `large_unary` call: 271,828 bytes out, 314,159 bytes back.
pub async fn large_unary(client: &TestServiceClient) -> Result<(), Failure> {
    let reply = client
        .unary_call(SimpleRequest {
            response_type: PayloadType::Compressable as i32,
            response_size: LARGE_RESPONSE_SIZE,
            payload: Some(zeros(LARGE_REQUEST_SIZE)),
            ..SimpleRequest::default()
        })
        .await?
        .into_inner();
    check_payload(reply.payload.as_ref(), LARGE_RESPONSE_SIZE, "large_unary")
}

async fn client_streaming(ctx: &Context) -> Result<Outcome, Failure> {
    let requests: Vec<_> = REQUEST_SIZES
        .iter()
        .map(|&n| StreamingInputCallRequest {
            payload: Some(zeros(n)),
            ..StreamingInputCallRequest::default()
        })
        .collect();
    let reply = ctx
        .client()
        .streaming_input_call(stream::iter(requests))
        .await?
        .into_inner();
    let want: i32 = REQUEST_SIZES.iter().sum();
    ensure!(
        reply.aggregated_payload_size == want,
        "aggregated size {}, expected {want}",
        reply.aggregated_payload_size
    );
    Ok(Outcome::calls(1))
}

async fn server_streaming(ctx: &Context) -> Result<Outcome, Failure> {
    let request = StreamingOutputCallRequest {
        response_type: PayloadType::Compressable as i32,
        response_parameters: RESPONSE_SIZES
            .iter()
            .map(|&size| ResponseParameters {
                size,
                ..ResponseParameters::default()
            })
            .collect(),
        ..StreamingOutputCallRequest::default()
    };
    let mut responses = ctx
        .client()
        .streaming_output_call(request)
        .await?
        .into_inner();
    for (i, &size) in RESPONSE_SIZES.iter().enumerate() {
        let r = next_response(&mut responses, &format!("response {i}")).await?;
        check_payload(r.payload.as_ref(), size, &format!("response {i}"))?;
    }
    expect_end(&mut responses, "after 4 responses").await?;
    Ok(Outcome::calls(1))
}

async fn ping_pong(ctx: &Context) -> Result<Outcome, Failure> {
    let (tx, requests) = request_stream();
    tx.send(output_request(Some(RESPONSE_SIZES[0]), REQUEST_SIZES[0]))
        .await
        .map_err(|_| Failure("request stream closed".into()))?;
    let mut responses = ctx.client().full_duplex_call(requests).await?.into_inner();
    for i in 0..REQUEST_SIZES.len() {
        if i > 0 {
            tx.send(output_request(Some(RESPONSE_SIZES[i]), REQUEST_SIZES[i]))
                .await
                .map_err(|_| Failure("request stream closed".into()))?;
        }
        let what = format!("round {i}");
        let r = next_response(&mut responses, &what).await?;
        check_payload(r.payload.as_ref(), RESPONSE_SIZES[i], &what)?;
    }
    drop(tx);
    expect_end(&mut responses, "after the last round").await?;
    Ok(Outcome::calls(1))
}

async fn empty_stream(ctx: &Context) -> Result<Outcome, Failure> {
    let requests = stream::iter(Vec::<StreamingOutputCallRequest>::new());
    let mut responses = ctx.client().full_duplex_call(requests).await?.into_inner();
    expect_end(&mut responses, "empty_stream").await?;
    Ok(Outcome::calls(1))
}

fn echo_metadata<T>(request: &mut Request<T>) -> Result<(), Failure> {
    let md = request.metadata_mut();
    md.insert(ECHO_INITIAL_KEY, INITIAL_METADATA_VALUE)
        .map_err(|e| Failure(e.to_string()))?;
    md.insert_bin(ECHO_TRAILING_KEY, TRAILING_METADATA_VALUE)
        .map_err(|e| Failure(e.to_string()))?;
    Ok(())
}

fn check_echo(
    initial: &rpc_core::MetadataMap,
    trailing: Option<&rpc_core::MetadataMap>,
    what: &str,
) -> Result<(), Failure> {
    ensure!(
        initial.get(ECHO_INITIAL_KEY) == Some(INITIAL_METADATA_VALUE),
        "{what}: initial metadata {initial:?}, expected {ECHO_INITIAL_KEY}: {INITIAL_METADATA_VALUE}"
    );
    let got = trailing.and_then(|t| t.get_bin(ECHO_TRAILING_KEY));
    ensure!(
        got.map(|b| &b[..]) == Some(TRAILING_METADATA_VALUE),
        "{what}: trailing metadata {trailing:?}, expected {ECHO_TRAILING_KEY}: {TRAILING_METADATA_VALUE:?}"
    );
    Ok(())
}

async fn custom_metadata(ctx: &Context) -> Result<Outcome, Failure> {
    let client = ctx.client();
    // Unary.
    let mut request = Request::new(SimpleRequest {
        response_type: PayloadType::Compressable as i32,
        response_size: LARGE_RESPONSE_SIZE,
        payload: Some(zeros(LARGE_REQUEST_SIZE)),
        ..SimpleRequest::default()
    });
    echo_metadata(&mut request)?;
    let reply = client.unary_call(request).await?;
    check_echo(reply.metadata(), Some(reply.trailers()), "UnaryCall")?;
    check_payload(
        reply.get_ref().payload.as_ref(),
        LARGE_RESPONSE_SIZE,
        "UnaryCall",
    )?;
    // Full duplex.
    let mut request = Request::new(stream::iter(vec![output_request(
        Some(LARGE_RESPONSE_SIZE),
        LARGE_REQUEST_SIZE,
    )]));
    echo_metadata(&mut request)?;
    let reply = client.full_duplex_call(request).await?;
    let initial = reply.metadata().clone();
    let mut responses = reply.into_inner();
    let r = next_response(&mut responses, "FullDuplexCall").await?;
    check_payload(r.payload.as_ref(), LARGE_RESPONSE_SIZE, "FullDuplexCall")?;
    expect_end(&mut responses, "FullDuplexCall").await?;
    check_echo(&initial, responses.trailers(), "FullDuplexCall")?;
    Ok(Outcome::calls(2))
}

fn status_request(code: i32, message: &str) -> EchoStatus {
    EchoStatus {
        code,
        message: message.to_owned(),
    }
}

async fn status_code_and_message(ctx: &Context) -> Result<Outcome, Failure> {
    const MESSAGE: &str = "test status message";
    let client = ctx.client();
    let res = client
        .unary_call(SimpleRequest {
            response_status: Some(status_request(2, MESSAGE)),
            ..SimpleRequest::default()
        })
        .await;
    expect_status(res, Code::Unknown, Some(MESSAGE), "UnaryCall")?;
    let request = StreamingOutputCallRequest {
        response_status: Some(status_request(2, MESSAGE)),
        ..StreamingOutputCallRequest::default()
    };
    let what = "FullDuplexCall";
    match client.full_duplex_call(stream::iter(vec![request])).await {
        Err(s) => {
            expect_status::<()>(Err(s), Code::Unknown, Some(MESSAGE), what)?;
        }
        Ok(reply) => {
            let mut responses = reply.into_inner();
            let res = responses.message().await.map(|m| m.map(|_| ()));
            expect_status(res, Code::Unknown, Some(MESSAGE), what)?;
        }
    }
    Ok(Outcome::calls(2))
}

async fn special_status_message(ctx: &Context) -> Result<Outcome, Failure> {
    let res = ctx
        .client()
        .unary_call(SimpleRequest {
            response_status: Some(status_request(2, SPECIAL_STATUS_MESSAGE)),
            ..SimpleRequest::default()
        })
        .await;
    expect_status(
        res,
        Code::Unknown,
        Some(SPECIAL_STATUS_MESSAGE),
        "UnaryCall",
    )?;
    Ok(Outcome::calls(1))
}

async fn unimplemented_method(ctx: &Context) -> Result<Outcome, Failure> {
    let res = ctx.client().unimplemented_call(Empty {}).await;
    expect_status(res, Code::Unimplemented, None, "UnimplementedCall")?;
    Ok(Outcome::calls(1))
}

async fn unimplemented_service(ctx: &Context) -> Result<Outcome, Failure> {
    let client = UnimplementedServiceClient::new(ctx.channel.clone());
    let res = client.unimplemented_call(Empty {}).await;
    expect_status(
        res,
        Code::Unimplemented,
        None,
        "UnimplementedService/UnimplementedCall",
    )?;
    Ok(Outcome::calls(1))
}

/// Checks the connection still serves calls after a cancellation.
async fn still_serving(ctx: &Context, what: &str) -> Result<(), Failure> {
    ctx.client()
        .empty_call(Empty {})
        .await
        .map_err(|s| Failure(format!("{what}: the next call failed: {s:?}")))?;
    Ok(())
}

async fn cancel_after_begin(ctx: &Context) -> Result<Outcome, Failure> {
    let (tx, requests) = request_stream::<StreamingInputCallRequest>();
    let client = ctx.client();
    let call = client.streaming_input_call(requests);
    // Give the call time to reach the server, then cancel it by dropping it.
    match tokio::time::timeout(Duration::from_millis(100), call).await {
        Ok(res) => {
            return Err(Failure(format!(
                "the call ended before it was cancelled: {res:?}"
            )))
        }
        Err(_elapsed) => {}
    }
    drop(tx);
    still_serving(ctx, "cancel_after_begin").await?;
    Ok(Outcome::calls(2))
}

async fn cancel_after_first_response(ctx: &Context) -> Result<Outcome, Failure> {
    let (tx, requests) = request_stream();
    tx.send(output_request(Some(RESPONSE_SIZES[0]), REQUEST_SIZES[0]))
        .await
        .map_err(|_| Failure("request stream closed".into()))?;
    let mut responses = ctx.client().full_duplex_call(requests).await?.into_inner();
    let r = next_response(&mut responses, "first response").await?;
    check_payload(r.payload.as_ref(), RESPONSE_SIZES[0], "first response")?;
    // Cancel: drop the response stream while the request stream is still open.
    drop(responses);
    // A request after the cancellation goes nowhere.
    let _ = tx
        .send(output_request(Some(RESPONSE_SIZES[1]), REQUEST_SIZES[1]))
        .await;
    drop(tx);
    still_serving(ctx, "cancel_after_first_response").await?;
    Ok(Outcome::calls(2))
}

async fn timeout_on_sleeping_server(ctx: &Context) -> Result<Outcome, Failure> {
    let (tx, requests) = request_stream();
    tx.send(output_request(None, REQUEST_SIZES[0]))
        .await
        .map_err(|_| Failure("request stream closed".into()))?;
    let mut request = Request::new(requests);
    request.set_timeout(Duration::from_millis(1));
    let what = "FullDuplexCall with a 1 ms deadline";
    match ctx.client().full_duplex_call(request).await {
        Err(s) => {
            expect_status::<()>(Err(s), Code::DeadlineExceeded, None, what)?;
        }
        Ok(reply) => {
            let mut responses = reply.into_inner();
            let res = responses.message().await.map(|m| m.map(|_| ()));
            expect_status(res, Code::DeadlineExceeded, None, what)?;
        }
    }
    drop(tx);
    still_serving(ctx, "timeout_on_sleeping_server").await?;
    Ok(Outcome::calls(2))
}

/// Runs `ctx.soak_iterations` `large_unary` calls, on the shared channel or each on a new
/// connection; every call must succeed.
pub async fn soak_run(ctx: &Context, new_connection: bool) -> SoakReport {
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(ctx.soak_iterations as usize);
    let mut report = SoakReport {
        connections: u32::from(!new_connection),
        ..SoakReport::default()
    };
    for _ in 0..ctx.soak_iterations {
        let t = Instant::now();
        let call = async {
            if new_connection {
                let channel = ctx.endpoint.connect().await?;
                let res = large_unary(&TestServiceClient::new(channel.clone())).await;
                channel.close();
                res
            } else {
                large_unary(&ctx.client()).await
            }
        };
        report.connections += u32::from(new_connection);
        let ok = matches!(
            tokio::time::timeout(SOAK_CALL_TIMEOUT, call).await,
            Ok(Ok(()))
        );
        latencies.push(t.elapsed());
        report.calls += 1;
        report.failures += u32::from(!ok);
    }
    latencies.sort();
    report.p50 = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    report.max = latencies.last().copied().unwrap_or_default();
    report.elapsed = start.elapsed();
    report
}

async fn soak(ctx: &Context, new_connection: bool) -> Result<Outcome, Failure> {
    let report = soak_run(ctx, new_connection).await;
    ensure!(report.failures == 0, "{report}");
    Ok(Outcome {
        calls: report.calls,
        soak: Some(report),
    })
}
