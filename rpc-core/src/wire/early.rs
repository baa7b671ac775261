//! 0-RTT rules (PROTOCOL.md §3.5), sans-IO: when a client may put a call in early data, when
//! it sends one again, and what a server does with a call that arrived in early data.
//!
//! Early data can be replayed by anyone who captured it (RFC 9001 §9.2, RFC 8446 §8): a
//! replay runs whatever it carries once more, on a connection whose handshake never
//! completes. So only calls that may run twice go in it, and a server runs no other call
//! that arrived before its handshake completed.

use super::ErrorCode;

/// When a client call may open its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The handshake is confirmed: as usual.
    Now,
    /// In 0-RTT data, before the handshake completes.
    Early,
    /// Once the handshake has completed.
    AfterHandshake,
}

/// Whether a call may go in 0-RTT data at all. `single_request`: the request is one
/// message (unary, server-streaming), so it is all in hand to send again. `idempotent`: the
/// request head's IDEMPOTENT flag.
///
/// PROTOCOL.md §3.5: "A client MUST NOT send a call in 0-RTT data unless its request head
/// has the IDEMPOTENT flag (§5.1) and its request is a single message"
pub(crate) fn may_send_early(single_request: bool, idempotent: bool) -> bool {
    single_request && idempotent
}

/// Where a client call starts. `handshaking`: the connection was resumed in 0-RTT and its
/// handshake is not confirmed yet; `early_ok`: [`may_send_early`].
pub(crate) fn start(handshaking: bool, early_ok: bool) -> Start {
    match (handshaking, early_ok) {
        (false, _) => Start::Now,
        (true, true) => Start::Early,
        (true, false) => Start::AfterHandshake,
    }
}

/// Whether a call that failed so is sent again, once, after the handshake: it went out in
/// 0-RTT data (`sent_early`) and either that data was rejected or the server refused it as
/// `TOO_EARLY` (`too_early`). Neither reached a handler (PROTOCOL.md §3.5: "The client MUST
/// send it again, once, after the handshake has completed").
pub(crate) fn resend(sent_early: bool, too_early: bool) -> bool {
    sent_early && too_early
}

/// What a server does with a call whose stream arrived before the handshake completed
/// (`early`): `Err(TOO_EARLY)` unless the server itself knows the method to be idempotent
/// (`idempotent_here`). The client's IDEMPOTENT flag is not enough: a replayer cannot alter
/// early data, but a client may be wrong about a method, and the server's table is
/// authoritative (PROTOCOL.md §3.5).
pub(crate) fn admit(early: bool, idempotent_here: bool) -> Result<(), ErrorCode> {
    if early && !idempotent_here {
        return Err(ErrorCode::TOO_EARLY);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_single_requests_go_early() {
        assert!(may_send_early(true, true));
        // A request stream is never early, even for an idempotent method.
        assert!(!may_send_early(false, true));
        assert!(!may_send_early(true, false));
        assert_eq!(start(false, false), Start::Now);
        assert_eq!(start(false, true), Start::Now);
        assert_eq!(start(true, true), Start::Early);
        assert_eq!(start(true, false), Start::AfterHandshake);
    }

    #[test]
    fn resent_only_when_sent_early_and_refused_as_such() {
        assert!(resend(true, true));
        assert!(!resend(false, true));
        assert!(!resend(true, false));
    }

    #[test]
    fn server_runs_early_calls_of_its_idempotent_methods_only() {
        assert_eq!(admit(false, false), Ok(()));
        assert_eq!(admit(true, true), Ok(()));
        assert_eq!(admit(true, false), Err(ErrorCode::TOO_EARLY));
    }
}
