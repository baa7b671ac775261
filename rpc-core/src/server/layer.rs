//! tower on the server: every call through the builder's layers, then to its service.
//!
//! Each connection builds its own stack (`ServerBuilder::layer`), so a layer that is not
//! `Clone` (tower's `RateLimit`) works as it is, per connection; a layer sharing state across
//! clones (`ConcurrencyLimit`'s semaphore) shares it across connections. The connection
//! waits for the stack to be ready before it hands it a call, and accepts no new call
//! meanwhile: QUIC's stream credit holds the client back.
//!
//! A layer that fails a call (an error instead of an outcome) does so without the call's
//! streams, which it dropped or never saw; the server still answers the client with the
//! status of the error ([`Status::from_error`]). For that, a layered call's send half has a
//! [`Home`]: dropped unfinished, it parks there, or, when the server already knows the
//! status, writes the trailers on its way out.

use super::call::{CallOutcome, ServerCall};
use super::{CallFuture, Shared};
use crate::status::Status;
use crate::transport::{AnySend, Peer, SendHalf};
use crate::wire::{self, ErrorCode};
use bytes::BytesMut;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tower::util::BoxService;
use tower::ServiceExt;
use tower_service::Service;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A server's stack of layers around its services, as one type.
pub type BoxCallService = BoxService<ServerCall, CallOutcome, BoxError>;

/// Builds a connection's stack around the services.
pub(crate) type MakeStack = Arc<dyn Fn(BoxCallService) -> BoxCallService + Send + Sync>;

/// Where a layered call's send half goes when it is dropped unfinished.
#[derive(Default)]
pub(crate) struct Home(Mutex<HomeState>);

#[derive(Default)]
struct HomeState {
    /// The status the call ends with, once the stack failed it.
    status: Option<Status>,
    /// The send half, dropped before the status was known.
    parked: Option<AnySend>,
}

impl Home {
    fn lock(&self) -> std::sync::MutexGuard<'_, HomeState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A send half dropped unfinished: its stream ends the call with the status if known
    /// (trailers written now, or a reset if they do not fit), else waits here for it.
    pub(crate) fn take_back(&self, stream: AnySend) {
        let mut state = self.lock();
        match &state.status {
            Some(status) => {
                let mut half = SendHalf::new(stream, Peer::Client);
                match half.try_write(&mut trailers_only(status)) {
                    Some(Ok(())) => half.finish(),
                    _ => half.reset(ErrorCode::CANCELLED),
                }
            }
            None => {
                if let Some(mut old) = state.parked.replace(stream) {
                    old.reset(ErrorCode::CANCELLED);
                }
            }
        }
    }

    /// The stack failed the call with `status`: the send half, parked or still held by the
    /// failed future, ends the call with it.
    fn fail(&self, status: Status) -> Option<(AnySend, Status)> {
        let mut state = self.lock();
        match state.parked.take() {
            Some(stream) => Some((stream, status)),
            None => {
                state.status = Some(status);
                None
            }
        }
    }
}

/// The innermost service of a stack: the call's service, by its path.
pub(crate) struct Dispatch(pub(crate) Arc<Shared>);

impl Service<ServerCall> for Dispatch {
    type Response = CallOutcome;
    type Error = BoxError;
    type Future =
        futures_util::future::Map<CallFuture, fn(CallOutcome) -> Result<CallOutcome, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: ServerCall) -> Self::Future {
        use futures_util::FutureExt;
        super::dispatch(&self.0, call).map(Ok)
    }
}

/// A connection's stack, and the calls whose head came late (routed in their own task,
/// handed back to the connection for the stack).
pub(crate) struct ConnStack {
    stack: BoxCallService,
    late_tx: mpsc::UnboundedSender<Box<ServerCall>>,
    late_rx: mpsc::UnboundedReceiver<Box<ServerCall>>,
}

impl ConnStack {
    pub(crate) fn new(make: &MakeStack, shared: &Arc<Shared>) -> Self {
        let (late_tx, late_rx) = mpsc::unbounded_channel();
        ConnStack {
            stack: make(BoxService::new(Dispatch(shared.clone()))),
            late_tx,
            late_rx,
        }
    }

    pub(crate) fn late_sender(&self) -> mpsc::UnboundedSender<Box<ServerCall>> {
        self.late_tx.clone()
    }

    /// # Cancel safety
    /// Cancel safe.
    pub(crate) async fn next_late(&mut self) -> Option<Box<ServerCall>> {
        self.late_rx.recv().await
    }

    /// Hands `call` to the stack once it is ready, and spawns what it returns.
    pub(crate) async fn run(&mut self, call: Box<ServerCall>, shared: &Shared) {
        let mut call = *call;
        let home = Arc::new(Home::default());
        call.send.set_home(home.clone());
        let future = match self.stack.ready().await {
            Ok(stack) => stack.call(call),
            Err(e) => {
                drop(call);
                Box::pin(std::future::ready(Err(e)))
            }
        };
        shared.calls.spawn(finish(future, home));
    }
}

type StackFuture = Pin<Box<dyn Future<Output = Result<CallOutcome, BoxError>> + Send>>;

/// The whole response of a call the stack failed: its trailers.
fn trailers_only(status: &Status) -> bytes::Bytes {
    let mut buf = BytesMut::new();
    wire::encode::trailers(status, &mut buf);
    buf.freeze()
}

/// Awaits a layered call; if the stack failed it, answers the client with the error's status.
async fn finish(mut future: StackFuture, home: Arc<Home>) -> CallOutcome {
    let error = match (&mut future).await {
        Ok(outcome) => return outcome,
        Err(e) => e,
    };
    let status = Status::from_error(error);
    let code = status.code();
    match home.fail(status) {
        Some((stream, status)) => {
            let mut send = SendHalf::new(stream, Peer::Client);
            if send.write(trailers_only(&status)).await.is_ok() {
                send.finish();
            }
        }
        // Still in the failed future: dropping it writes the trailers.
        None => drop(future),
    }
    CallOutcome::Status(code)
}
