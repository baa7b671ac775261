//! The life of one call, sans-IO: a client-call and a server-call state machine.
//!
//! A call has two directions. What arrives is checked by the receive machines of
//! [`call`](super::call) (frame order, PROTOCOL.md §6, and how many messages the method
//! kind carries). Everything else PROTOCOL.md says about a call lives here: the deadline
//! (§8), which code ends each direction in each way a call can end (§9, §11.1, §11.2), and
//! when the call is complete. Time comes in as [`Instant`]s, stream signals and the caller's
//! decisions as method calls; out come the next timeout and the stream actions owed
//! ([`StreamAction`]). The async call paths only move bytes, signals and time between these
//! machines and a [transport](crate::transport), so every rule is tested without a socket or
//! a clock:
//!
//! ```
//! use rpc_core::wire::machine::{ClientCallState, StreamAction};
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! let mut call = ClientCallState::new(Some(start + Duration::from_secs(1)));
//! assert_eq!(call.poll_timeout(), Some(start + Duration::from_secs(1)));
//! call.finish_send();
//! assert_eq!(call.poll_action(), Some(StreamAction::Finish));
//! // No answer in time: the call ends, both directions are abandoned with DEADLINE_EXCEEDED.
//! let status = call.handle_timeout(start + Duration::from_secs(1)).unwrap();
//! assert_eq!(status.code(), rpc_core::Code::DeadlineExceeded);
//! assert_eq!(call.poll_action(), Some(StreamAction::Stop(rpc_core::wire::ErrorCode::DEADLINE_EXCEEDED)));
//! assert_eq!(call.poll_action(), None); // the request stream was already finished
//! ```

use super::ErrorCode;
use crate::status::Status;
use std::time::{Duration, Instant};

/// What a call asks of its stream; drain with `poll_action` after every input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamAction {
    /// Ask the peer to stop sending (`STOP_SENDING`) with this code.
    Stop(ErrorCode),
    /// Abandon the sending direction (`RESET_STREAM`) with this code.
    Reset(ErrorCode),
    /// End the sending direction gracefully (FIN) after everything written.
    Finish,
}

/// Where a sending direction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    Open,
    Finished,
    Reset,
}

/// The pending actions of a call: at most one of each kind, taken in a fixed order.
#[derive(Debug, Default, Clone, Copy)]
struct Actions {
    stop: Option<ErrorCode>,
    reset: Option<ErrorCode>,
    finish: bool,
}

impl Actions {
    #[inline]
    fn any(&self) -> bool {
        self.stop.is_some() || self.reset.is_some() || self.finish
    }

    #[inline]
    fn poll(&mut self) -> Option<StreamAction> {
        if let Some(c) = self.stop.take() {
            return Some(StreamAction::Stop(c));
        }
        if let Some(c) = self.reset.take() {
            return Some(StreamAction::Reset(c));
        }
        std::mem::take(&mut self.finish).then_some(StreamAction::Finish)
    }
}

/// The side-independent part of a call: its sending direction, whether its receiving
/// direction still runs, the deadline, and the actions owed to the stream.
#[derive(Debug)]
struct Ends {
    send: Send,
    /// The receiving direction ended (FIN consumed, or stopped, or failed).
    recv_done: bool,
    /// The call is over: nothing more is delivered.
    done: bool,
    /// The code the call was abandoned with, if it was.
    aborted: Option<ErrorCode>,
    deadline: Option<Instant>,
    actions: Actions,
}

impl Ends {
    fn new(deadline: Option<Instant>) -> Self {
        Ends {
            send: Send::Open,
            recv_done: false,
            done: false,
            aborted: None,
            deadline,
            actions: Actions::default(),
        }
    }

    #[inline]
    fn finish_send(&mut self) {
        if self.send == Send::Open {
            self.send = Send::Finished;
            self.actions.finish = true;
        }
    }

    #[inline]
    fn reset_send(&mut self, code: ErrorCode) {
        if self.send == Send::Open {
            self.send = Send::Reset;
            self.actions.reset = Some(code);
        }
    }

    #[inline]
    fn stop_recv(&mut self, code: ErrorCode) {
        if !self.recv_done {
            self.recv_done = true;
            self.actions.stop = Some(code);
        }
    }

    /// Ends the call abnormally: both directions abandoned with `code` (PROTOCOL.md §9).
    fn abort(&mut self, code: ErrorCode) {
        self.done = true;
        self.aborted = Some(code);
        self.stop_recv(code);
        self.reset_send(code);
    }

    fn expired(&self, now: Instant) -> bool {
        !self.done && self.deadline.is_some_and(|d| now >= d)
    }

    #[inline]
    fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            None
        } else {
            self.deadline
        }
    }
}

/// The client side of one call.
///
/// Feed it what happens to the call (`handle_trailers`, `handle_recv_error`,
/// `handle_timeout`) and the caller's decisions (`finish_send`, `cancel`); take the stream
/// actions owed with `poll_action`.
#[derive(Debug)]
pub struct ClientCallState {
    ends: Ends,
}

impl ClientCallState {
    /// A call that ends at `deadline`, if any.
    #[inline]
    pub fn new(deadline: Option<Instant>) -> Self {
        ClientCallState {
            ends: Ends::new(deadline),
        }
    }

    /// The call's deadline.
    #[inline]
    pub fn deadline(&self) -> Option<Instant> {
        self.ends.deadline
    }

    /// The caller finished its requests.
    #[inline]
    pub fn finish_send(&mut self) {
        self.ends.finish_send();
    }

    /// The trailers arrived: the call is complete, and a request stream still open is no
    /// longer wanted (reset with `CANCELLED`, PROTOCOL.md §11.2).
    #[inline]
    pub fn handle_trailers(&mut self) {
        self.ends.done = true;
        self.ends.recv_done = true;
        self.ends.reset_send(ErrorCode::CANCELLED);
    }

    /// The response direction failed: the server broke the protocol (the receive machine
    /// stopped the stream with the error's code), reset the stream, or the connection is
    /// gone. The call is over; the request stream is reset with `CANCELLED`.
    pub fn handle_recv_error(&mut self) {
        self.ends.recv_done = true;
        self.ends.abort(ErrorCode::CANCELLED);
    }

    /// The caller gave up on the call (dropped it): `CANCELLED` both ways, unless it is over.
    pub fn cancel(&mut self) {
        if !self.ends.done {
            self.ends.abort(ErrorCode::CANCELLED);
        }
    }

    /// Time passed: at the deadline the call ends with `DEADLINE_EXCEEDED` both ways; the
    /// status is returned once.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Status> {
        if !self.ends.expired(now) {
            return None;
        }
        self.ends.abort(ErrorCode::DEADLINE_EXCEEDED);
        Some(Status::deadline_exceeded("deadline exceeded"))
    }

    /// When to call `handle_timeout` next.
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ends.poll_timeout()
    }

    /// The next stream action owed.
    #[inline]
    pub fn poll_action(&mut self) -> Option<StreamAction> {
        self.ends.actions.poll()
    }

    /// Whether a stream action is owed (`poll_action` would give one).
    #[inline]
    pub fn has_actions(&self) -> bool {
        self.ends.actions.any()
    }

    /// Whether the call is over (trailers, error, deadline or cancellation).
    #[inline]
    pub fn is_done(&self) -> bool {
        self.ends.done
    }
}

/// The server side of one call.
///
/// Feed it what happens to the call (`start`, `handle_stopped`, `handle_write_error`,
/// `handle_timeout`) and the handler's progress (`finish`); take the stream actions owed with
/// `poll_action`.
#[derive(Debug)]
pub struct ServerCallState {
    ends: Ends,
    started: bool,
}

impl Default for ServerCallState {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCallState {
    /// A call on a freshly accepted stream.
    #[inline]
    pub fn new() -> Self {
        ServerCallState {
            ends: Ends::new(None),
            started: false,
        }
    }

    /// Arms the request-head timeout (PROTOCOL.md §10): without a head by `at`,
    /// `handle_timeout` abandons the stream with `CANCELLED` and no status.
    pub fn await_head(&mut self, at: Instant) {
        self.ends.deadline = Some(at);
    }

    /// Starts the call once its head arrived, with the head's `timeout`; `now` is asked only
    /// when there is one (calls without a deadline never read the clock). Returns `false` if
    /// the call expired on arrival (timeout 0, PROTOCOL.md §8): both directions are then
    /// reset with `DEADLINE_EXCEEDED` and no handler may run.
    pub fn start(&mut self, timeout: Option<Duration>, now: impl FnOnce() -> Instant) -> bool {
        self.started = true;
        if timeout == Some(Duration::ZERO) {
            self.ends.abort(ErrorCode::DEADLINE_EXCEEDED);
            return false;
        }
        // A timeout too large to represent means no deadline (PROTOCOL.md §8).
        self.ends.deadline = timeout.and_then(|t| now().checked_add(t));
        true
    }

    /// The call's deadline, once started.
    #[inline]
    pub fn deadline(&self) -> Option<Instant> {
        self.ends.deadline
    }

    /// The client stopped reading the response (`STOP_SENDING`), or the connection is
    /// gone: the call is cancelled, both directions abandoned with `CANCELLED` (§9).
    pub fn handle_stopped(&mut self) {
        if !self.ends.done {
            self.ends.abort(ErrorCode::CANCELLED);
        }
    }

    /// Writing the response failed: the call is abandoned with `CANCELLED`.
    pub fn handle_write_error(&mut self) {
        self.handle_stopped();
    }

    /// Time passed: at the deadline the call is abandoned with `DEADLINE_EXCEEDED`; at the
    /// head timeout, with `CANCELLED`. Returns whether the call ended now.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if !self.ends.expired(now) {
            return false;
        }
        let code = if self.started {
            ErrorCode::DEADLINE_EXCEEDED
        } else {
            ErrorCode::CANCELLED
        };
        self.ends.abort(code);
        true
    }

    /// When to call `handle_timeout` next.
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ends.poll_timeout()
    }

    /// The next stream action owed.
    #[inline]
    pub fn poll_action(&mut self) -> Option<StreamAction> {
        self.ends.actions.poll()
    }

    /// Whether the call is over.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.ends.done
    }

    /// The code the call was abandoned with (both directions reset or stopped), if it was.
    #[inline]
    pub fn aborted(&self) -> Option<ErrorCode> {
        self.ends.aborted
    }

    /// The response, trailers included, has been written: finish the stream, and stop the
    /// request stream with `NO_ERROR` if the client is still sending (§11.1).
    #[inline]
    pub fn finish(&mut self) {
        if self.ends.done {
            return;
        }
        self.ends.done = true;
        self.ends.finish_send();
        self.ends.stop_recv(ErrorCode::NO_ERROR);
    }

    /// The request stream ended or failed: nothing is owed to it any more.
    pub fn handle_recv_end(&mut self) {
        self.ends.recv_done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(poll: impl FnMut() -> Option<StreamAction>) -> Vec<StreamAction> {
        std::iter::from_fn(poll).collect()
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn client_unary_completes_without_resets() {
        let t0 = Instant::now();
        let mut c = ClientCallState::new(Some(t0 + S));
        c.finish_send();
        c.handle_trailers();
        assert_eq!(drain(|| c.poll_action()), [StreamAction::Finish]);
        assert!(c.is_done());
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.handle_timeout(t0 + 2 * S), None);
        c.cancel();
        assert_eq!(c.poll_action(), None);
    }

    #[test]
    fn client_trailers_while_sending_reset_the_requests() {
        let mut c = ClientCallState::new(None);
        c.handle_trailers();
        assert_eq!(
            drain(|| c.poll_action()),
            [StreamAction::Reset(ErrorCode::CANCELLED)]
        );
    }

    #[test]
    fn client_deadline_aborts_both_ways_once() {
        let t0 = Instant::now();
        let mut c = ClientCallState::new(Some(t0 + S));
        assert_eq!(c.handle_timeout(t0 + S / 2), None);
        assert_eq!(c.poll_action(), None);
        let status = c.handle_timeout(t0 + S).unwrap();
        assert_eq!(status.code(), crate::Code::DeadlineExceeded);
        assert_eq!(
            drain(|| c.poll_action()),
            [
                StreamAction::Stop(ErrorCode::DEADLINE_EXCEEDED),
                StreamAction::Reset(ErrorCode::DEADLINE_EXCEEDED)
            ]
        );
        assert_eq!(c.handle_timeout(t0 + 2 * S), None);
        c.cancel();
        c.finish_send();
        assert_eq!(c.poll_action(), None);
    }

    #[test]
    fn client_cancel_and_recv_error() {
        let mut c = ClientCallState::new(None);
        c.cancel();
        assert_eq!(
            drain(|| c.poll_action()),
            [
                StreamAction::Stop(ErrorCode::CANCELLED),
                StreamAction::Reset(ErrorCode::CANCELLED)
            ]
        );
        let mut c = ClientCallState::new(None);
        c.handle_recv_error();
        assert_eq!(
            drain(|| c.poll_action()),
            [StreamAction::Reset(ErrorCode::CANCELLED)]
        );
        assert!(c.is_done());
    }

    #[test]
    fn server_expired_on_arrival_runs_nothing() {
        let t0 = Instant::now();
        let mut s = ServerCallState::new();
        assert!(!s.start(Some(Duration::ZERO), || t0));
        assert!(s.is_done());
        assert_eq!(
            drain(|| s.poll_action()),
            [
                StreamAction::Stop(ErrorCode::DEADLINE_EXCEEDED),
                StreamAction::Reset(ErrorCode::DEADLINE_EXCEEDED)
            ]
        );
    }

    #[test]
    fn server_deadline_and_head_timeout_codes() {
        let t0 = Instant::now();
        let mut s = ServerCallState::new();
        s.await_head(t0 + S);
        assert!(s.handle_timeout(t0 + S));
        assert_eq!(
            drain(|| s.poll_action()),
            [
                StreamAction::Stop(ErrorCode::CANCELLED),
                StreamAction::Reset(ErrorCode::CANCELLED)
            ]
        );

        let mut s = ServerCallState::new();
        assert!(s.start(Some(S), || t0));
        assert_eq!(s.poll_timeout(), Some(t0 + S));
        assert!(!s.handle_timeout(t0));
        assert!(s.handle_timeout(t0 + S));
        assert_eq!(
            s.poll_action(),
            Some(StreamAction::Stop(ErrorCode::DEADLINE_EXCEEDED))
        );
    }

    #[test]
    fn server_huge_timeout_means_no_deadline() {
        let mut s = ServerCallState::new();
        assert!(s.start(Some(Duration::MAX), Instant::now));
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn server_finish_stops_a_client_still_sending_and_then_ignores_the_stop() {
        let mut s = ServerCallState::new();
        s.start(None, || unreachable!("no timeout, no clock"));
        s.finish();
        assert_eq!(
            drain(|| s.poll_action()),
            [
                StreamAction::Stop(ErrorCode::NO_ERROR),
                StreamAction::Finish
            ]
        );
        s.handle_stopped();
        assert_eq!(s.poll_action(), None);

        let mut s = ServerCallState::new();
        s.start(None, || unreachable!("no timeout, no clock"));
        s.handle_recv_end();
        s.finish();
        assert_eq!(drain(|| s.poll_action()), [StreamAction::Finish]);
    }

    #[test]
    fn server_stop_cancels_both_ways() {
        let mut s = ServerCallState::new();
        s.start(None, || unreachable!("no timeout, no clock"));
        s.handle_stopped();
        assert_eq!(
            drain(|| s.poll_action()),
            [
                StreamAction::Stop(ErrorCode::CANCELLED),
                StreamAction::Reset(ErrorCode::CANCELLED)
            ]
        );
        s.finish();
        assert_eq!(s.poll_action(), None);
    }
}
