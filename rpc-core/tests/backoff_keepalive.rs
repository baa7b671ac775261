//! Reconnect backoff and keep-alive, observed as behaviour over real QUIC on 127.0.0.1: each
//! test here fails if the mechanism is taken out.
//!
//! * Backoff (PROTOCOL.md §11.3): after a failed connect the channel pauses before the next
//!   attempt (here 100 ms, doubling up to 5 s, without jitter; gRPC's defaults are tested
//!   with paused time in lifecycle_connectivity.rs), and calls meanwhile fail fast with
//!   `UNAVAILABLE` without a handshake. Counted as handshake attempts reaching a silent UDP
//!   "server".
//! * Keep-alive (§3.4): a client's QUIC `PING`s keep an idle connection past the idle
//!   timeout; without them the connection is lost.

mod common;

use common::*;
use rpc_core::client::BackoffConfig;
use rpc_core::{Channel, Code, Endpoint, Request, Status};
use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

async fn call(ch: &Channel) -> Result<Msg, Status> {
    ch.unary("/test.Test/Unary", Request::new(msg(7)), Codec::new())
        .await
        .map(|r| r.into_inner())
}

/// A UDP socket that reads and never answers, so every handshake with it times out.
struct SilentServer {
    socket: UdpSocket,
    /// Destination connection IDs of the QUIC long-header packets received so far.
    dcids: HashSet<Vec<u8>>,
}

impl SilentServer {
    fn bind() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        SilentServer {
            socket,
            dcids: HashSet::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// Handshake attempts seen: a client picks a fresh random destination connection ID for
    /// each new connection and keeps it for that connection's Initial packets (first sends,
    /// retransmissions, and the close when it gives up), so distinct IDs count attempts.
    /// Reads until the socket has been quiet for its read timeout.
    fn attempts(&mut self) -> usize {
        let mut buf = [0u8; 65536];
        while let Ok(n) = self.socket.recv(&mut buf) {
            let p = &buf[..n];
            // Long header (RFC 9000 §17.2): form bit, 4-byte version, DCID length, DCID.
            if p.first().is_some_and(|b| b & 0x80 != 0) && p.len() > 6 {
                let len = usize::from(p[5]);
                if let Some(dcid) = p.get(6..6 + len) {
                    self.dcids.insert(dcid.to_vec());
                }
            }
        }
        self.dcids.len()
    }
}

/// The most attempts the documented backoff allows in `elapsed`: consecutive attempts are at
/// least one pause apart, the pauses being 100 ms, 200 ms, ... up to 5 s. (The handshake
/// timeout between them only spreads them further; it is left out, so the bound holds on
/// any machine however slow.)
fn most_attempts_in(elapsed: Duration) -> usize {
    let mut attempts = 1;
    let mut pause = Duration::from_millis(100);
    let mut t = pause;
    while t <= elapsed {
        attempts += 1;
        pause = (pause * 2).min(Duration::from_secs(5));
        t += pause;
    }
    attempts
}

/// Calls during the backoff window after a failed handshake fail fast with `UNAVAILABLE`
/// and start no handshake: 40 calls (10 ms apart) against a server that never answers lead
/// to a few attempts, spaced by the growing pause, not 40. Without backoff every call would
/// start one.
#[tokio::test]
async fn calls_during_the_backoff_fail_fast_without_a_handshake() {
    const CALLS: usize = 40;
    let mut silent = SilentServer::bind();
    let ch = Endpoint::from_addr(silent.addr())
        .tls_config(cert().client_config())
        .handshake_timeout(Duration::from_millis(50))
        .connect_backoff(
            BackoffConfig::new()
                .base_delay(Duration::from_millis(100))
                .multiplier(2.0)
                .max_delay(Duration::from_secs(5))
                .jitter(0.0),
        )
        .connect_lazy();
    let start = Instant::now();
    for _ in 0..CALLS {
        let err = call(&ch).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed();
    let attempts = silent.attempts();
    // The channel does retry once a pause is over (and the count works): 40 calls take
    // over 400 ms, more than the first 100 ms pause.
    assert!(
        attempts >= 2,
        "{attempts} handshake attempt(s) in {elapsed:?}: no retry after the pause"
    );
    let most = most_attempts_in(elapsed);
    assert!(
        attempts <= most,
        "{attempts} handshake attempts for {CALLS} calls in {elapsed:?} (backoff allows \
         {most}): calls during the backoff did not fail fast"
    );
    assert!(!ch.is_connected());
}

/// Idle timeout of both sides in the keep-alive tests.
const IDLE: Duration = Duration::from_secs(1);

/// A server and a connected channel, both with idle timeout `IDLE`, the client sending
/// keep-alives every `keep_alive` (or none); one call made. Then nothing is sent for 3 x
/// `IDLE` while the connection is watched at both ends. Returns whether it stayed up all
/// along. A channel reconnects only when a call is made, so a connection still up after the
/// idle period is the first one.
async fn idle_for_three_timeouts(keep_alive: Option<Duration>) -> (TestServer, Channel, bool) {
    let srv = start_with(builder().idle_timeout(IDLE));
    let ch = endpoint(srv.addr)
        .idle_timeout(IDLE)
        .keep_alive_interval(keep_alive)
        .connect()
        .await
        .unwrap();
    assert_eq!(call(&ch).await.unwrap().seq, 7);
    assert_eq!(srv.handle.active_connections(), 1);

    let end = tokio::time::Instant::now() + 3 * IDLE;
    let mut up = true;
    while tokio::time::Instant::now() < end {
        up &= ch.is_connected() && srv.handle.active_connections() == 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    up &= ch.is_connected() && srv.handle.active_connections() == 1;
    (srv, ch, up)
}

/// With keep-alives (every 250 ms), a connection idle for three idle timeouts stays up at
/// both ends, and the next call runs on it.
#[tokio::test]
async fn keep_alive_holds_an_idle_connection() {
    let (srv, ch, up) = idle_for_three_timeouts(Some(Duration::from_millis(250))).await;
    assert!(up, "the idle connection was lost despite keep-alives");
    assert_eq!(call(&ch).await.unwrap().seq, 7);
    assert_eq!(srv.handle.active_connections(), 1);
    srv.handle.shutdown();
}

/// The control: the same idle period without keep-alives loses the connection at both ends
/// (so the test above would fail without them); the next call reconnects.
#[tokio::test]
async fn without_keep_alive_an_idle_connection_is_lost() {
    let (srv, ch, up) = idle_for_three_timeouts(None).await;
    assert!(!up, "the idle connection outlived the idle timeout");
    assert!(!ch.is_connected());
    assert!(eventually(|| srv.handle.active_connections() == 0).await);
    assert_eq!(call(&ch).await.unwrap().seq, 7);
    assert!(ch.is_connected());
    srv.handle.shutdown();
}
