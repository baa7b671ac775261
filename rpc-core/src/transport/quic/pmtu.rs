//! Path MTUs learned by earlier connections, per peer address: a new connection to a peer
//! starts at the MTU the last one found, instead of searching from 1200 bytes again.
//!
//! Path MTU discovery (quinn's DPLPMTUD, RFC 8899) sends one probe at a time, each padded to
//! the size tried and waiting for its acknowledgement: with the 6000-byte ceiling
//! ([`DEFAULT_MAX_UDP_PAYLOAD_SIZE`](crate::DEFAULT_MAX_UDP_PAYLOAD_SIZE)) a binary search
//! from 1200 takes eight probes each way, and they go out right after the handshake, beside
//! the first calls. quinn 0.11 cannot start the search later, so a connection to a peer
//! whose path was measured recently starts at that MTU (its `initial_mtu`), as an operating
//! system's per-destination PMTU cache does for TCP (RFC 8899 §4.3 allows a cached value as
//! the starting point): the search then has nothing left to probe. The first connection to a
//! peer searches as before.
//!
//! Safety: the value is clamped to both sides' `max_udp_payload_size` (the peer's transport
//! parameter); if the path shrank since, quinn's black-hole detection (RFC 8899 §4.4) drops
//! the MTU back to 1200 after a burst of lost packets, and that lower value is what the
//! connection leaves here. Entries expire after [`TTL`] (quinn's own re-search interval).

use crate::transport::AnyConn;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a learned MTU is trusted: quinn searches again after as long on a live
/// connection (`MtuDiscoveryConfig::interval`'s default).
const TTL: Duration = Duration::from_secs(600);

/// At most this many peers are remembered (the map is cleared when full: a bound, not an
/// eviction policy; a peer forgotten searches again).
const MAX_PEERS: usize = 4096;

/// Below this nothing is worth remembering: 1200 is where every search starts.
const FLOOR: u16 = 1200;

static LEARNED: Mutex<Option<HashMap<IpAddr, (u16, Instant)>>> = Mutex::new(None);

/// The MTU an earlier connection to `ip` found, if recent and above the floor.
pub(crate) fn recall(ip: IpAddr) -> Option<u16> {
    let learned = LEARNED.lock().unwrap_or_else(|e| e.into_inner());
    let (mtu, at) = *learned.as_ref()?.get(&ip)?;
    (at.elapsed() < TTL && mtu > FLOOR).then_some(mtu)
}

/// Records what `conn`'s path MTU is now, for the next connection to its peer (a lower value
/// replaces a higher one: a path that shrank is remembered so).
pub(crate) fn remember(conn: &quinn::Connection) {
    let mtu = conn.stats().path.current_mtu;
    learn(conn.remote_address().ip(), mtu);
}

/// [`remember`] for a QUIC connection of the transport enum; other transports have no MTU.
pub(crate) fn remember_any(conn: &AnyConn) {
    if let AnyConn::Quic(c) = conn {
        remember(c);
    }
}

fn learn(ip: IpAddr, mtu: u16) {
    let mut learned = LEARNED.lock().unwrap_or_else(|e| e.into_inner());
    let map = learned.get_or_insert_with(HashMap::new);
    if map.len() >= MAX_PEERS && !map.contains_key(&ip) {
        map.clear();
    }
    map.insert(ip, (mtu, Instant::now()));
}

/// The MTU a new connection to `ip` starts at: the one learned, within `max` (this side's
/// largest UDP payload), if above `initial` (the configured start).
pub(crate) fn initial_for(ip: IpAddr, initial: u16, max: u16) -> Option<u16> {
    recall(ip)
        .map(|m| m.min(max))
        .filter(|&m| m > initial.max(FLOOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learned_mtu_is_recalled_clamped_and_replaced_when_lower() {
        let ip: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(initial_for(ip, 1200, 6000), None);
        learn(ip, 6000);
        assert_eq!(initial_for(ip, 1200, 6000), Some(6000));
        assert_eq!(initial_for(ip, 1200, 1472), Some(1472));
        assert_eq!(initial_for(ip, 6000, 6000), None);
        // Black-hole detection brought it down: the next connection searches from 1200.
        learn(ip, 1200);
        assert_eq!(initial_for(ip, 1200, 6000), None);
    }
}
