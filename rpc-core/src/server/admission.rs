//! Admission of QUIC connection attempts, before their handshake: what a peer that has not
//! authenticated yet can make the server spend (issue 13).
//!
//! Each attempt passes, in order: a cap on handshakes in progress (all peers), address
//! validation (a QUIC Retry, RFC 9000 §8.1.2, always or under load), then, per source
//! address (an IPv4 address, an IPv6 /64), a cap on its handshakes in progress and a token
//! bucket on its handshake rate. Retried attempts cost the server one stateless packet and
//! touch no table, so a flood from spoofed addresses never reaches the per-address table
//! while the server is under load. The table is bounded: an entry whose bucket has refilled
//! and that has no handshake in progress says nothing a fresh entry would not, so sweeps drop
//! it; when the table is full of live entries, new addresses share one overflow entry (they
//! are limited together, never let through unlimited).
//!
//! [`Admission`] is the policy with time passed in (unit-tested without a clock); [`Gate`]
//! puts it behind a lock for the accept loop, with counters ([`AdmissionStats`]).

use super::{Incoming, ServerBuilder, ServerHandle};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default handshakes per second one address may start.
pub const DEFAULT_HANDSHAKE_RATE: u32 = 50;
/// Default burst of handshakes one address may start at once.
pub const DEFAULT_HANDSHAKE_BURST: u32 = 100;
/// Default number of handshakes in progress at once, all addresses together.
pub const DEFAULT_MAX_HANDSHAKES: usize = 256;
/// Default number of handshakes in progress at once from one address.
pub const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS: usize = 32;
/// Default number of handshakes in progress past which unvalidated attempts get a Retry.
pub const DEFAULT_RETRY_THRESHOLD: usize = 64;
/// Default number of source addresses the rate limit tracks.
pub const DEFAULT_MAX_TRACKED_ADDRESSES: usize = 8192;

/// A full table is swept at most this often: a sweep scans every entry.
const SWEEP_GAP: Duration = Duration::from_millis(100);

/// When the server asks a client to prove it receives packets at its source address, with a
/// QUIC Retry, before doing any cryptography for it: the client's QUIC stack answers the
/// Retry by itself, at the cost of one round trip. A flood from spoofed source addresses
/// cannot answer, so it costs the server one small stateless packet per attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressValidation {
    /// Every new connection pays the extra round trip.
    Always,
    /// Only while at least `handshakes` handshakes are in progress (the default:
    /// [`DEFAULT_RETRY_THRESHOLD`]): normal connections pay nothing.
    UnderLoad {
        /// Handshakes in progress from which attempts are validated.
        handshakes: usize,
    },
    /// Never: every attempt goes straight to the handshake (subject to the other limits).
    Never,
}

impl Default for AddressValidation {
    fn default() -> Self {
        AddressValidation::UnderLoad {
            handshakes: DEFAULT_RETRY_THRESHOLD,
        }
    }
}

impl AddressValidation {
    /// Whether an attempt whose address is not validated gets a Retry with `in_progress`
    /// handshakes running.
    fn retries(self, in_progress: usize) -> bool {
        match self {
            AddressValidation::Always => true,
            AddressValidation::UnderLoad { handshakes } => in_progress >= handshakes,
            AddressValidation::Never => false,
        }
    }
}

/// What the server did with QUIC connection attempts since it started, and what it holds
/// now; see [`ServerHandle::admission_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdmissionStats {
    /// Attempts whose handshake started.
    pub admitted: u64,
    /// Attempts answered with a Retry (address validation).
    pub retries_sent: u64,
    /// Attempts refused because their address exceeded its handshake rate.
    pub refused_by_rate: u64,
    /// Attempts refused because too many handshakes were in progress (in all, or from their
    /// address).
    pub refused_by_cap: u64,
    /// Handshakes in progress now.
    pub handshakes_in_progress: usize,
    /// Source addresses the rate limit tracks now (at most the configured maximum).
    pub tracked_addresses: usize,
}

/// The admission settings of a server.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    validation: AddressValidation,
    rate: u32,
    burst: u32,
    max_handshakes: usize,
    max_per_address: usize,
    max_tracked: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            validation: AddressValidation::default(),
            rate: DEFAULT_HANDSHAKE_RATE,
            burst: DEFAULT_HANDSHAKE_BURST,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            max_per_address: DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
            max_tracked: DEFAULT_MAX_TRACKED_ADDRESSES,
        }
    }
}

/// The admission limits of QUIC connection attempts (before their TLS handshake). Every limit
/// is on by default; an address is an IPv4 address or an IPv6 /64 (what one host usually
/// holds). Connections of [`listen`](ServerBuilder::listen)'s transports are not subject to
/// them: they arrive established.
impl ServerBuilder {
    /// When to validate client addresses with a QUIC Retry (default:
    /// [`AddressValidation::UnderLoad`] from 64 handshakes in progress, so a flood from spoofed
    /// addresses stops reaching the TLS handshake while normal connections pay nothing).
    pub fn validate_addresses(mut self, validation: AddressValidation) -> Self {
        self.admission.validation = validation;
        self
    }

    /// How many handshakes per second one address may start, after a burst of `burst`
    /// (default 50 per second, burst 100: a client reconnecting or a few dozen behind one NAT
    /// never notice; a flood from one host is refused past it). Beyond, attempts are refused
    /// (`CONNECTION_REFUSED`). `u32::MAX` for both lifts the limit (a load generator on
    /// loopback).
    pub fn handshake_rate(mut self, per_second: u32, burst: u32) -> Self {
        self.admission.rate = per_second;
        self.admission.burst = burst.max(1);
        self
    }

    /// How many handshakes may be in progress at once (default 256): each holds TLS state
    /// and a task until it completes or times out (`handshake_timeout`). Beyond, attempts are
    /// refused. Unlike [`max_connections`](ServerBuilder::max_connections), which counts
    /// connections, this bounds what peers that have not authenticated can hold.
    pub fn max_handshakes(mut self, handshakes: usize) -> Self {
        self.admission.max_handshakes = handshakes;
        self
    }

    /// How many handshakes one address may have in progress at once (default 32), so that one
    /// host cannot take all of [`max_handshakes`](ServerBuilder::max_handshakes) with
    /// handshakes it never finishes.
    pub fn max_handshakes_per_address(mut self, handshakes: usize) -> Self {
        self.admission.max_per_address = handshakes;
        self
    }

    /// How many source addresses the handshake rate limit remembers (default 8192, under a
    /// megabyte). Addresses idle long enough for their allowance to refill are forgotten;
    /// when more are active at once, new ones share one allowance.
    pub fn max_tracked_addresses(mut self, addresses: usize) -> Self {
        self.admission.max_tracked = addresses;
        self
    }
}

impl ServerHandle {
    /// What the server did with QUIC connection attempts (retries, refusals) and what it
    /// holds now: for tests, metrics and alerts.
    pub fn admission_stats(&self) -> AdmissionStats {
        self.shared.admission.stats()
    }
}

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(cfg: &Config, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(cfg.burst),
            at: now,
        }
    }

    /// The tokens at `now` (time never runs backwards here).
    fn level(&self, cfg: &Config, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * f64::from(cfg.rate)).min(f64::from(cfg.burst))
    }

    /// Takes a token if there is one.
    fn take(&mut self, cfg: &Config, now: Instant) -> bool {
        self.tokens = self.level(cfg, now);
        self.at = self.at.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn is_full(&self, cfg: &Config, now: Instant) -> bool {
        self.level(cfg, now) >= f64::from(cfg.burst)
    }
}

/// One source address: its rate and its handshakes in progress.
#[derive(Clone, Copy, Debug)]
struct Entry {
    bucket: Bucket,
    in_progress: usize,
}

impl Entry {
    fn new(cfg: &Config, now: Instant) -> Self {
        Entry {
            bucket: Bucket::full(cfg, now),
            in_progress: 0,
        }
    }

    /// Forgetting it loses nothing: a new entry would be the same.
    fn is_idle(&self, cfg: &Config, now: Instant) -> bool {
        self.in_progress == 0 && self.bucket.is_full(cfg, now)
    }
}

/// Where an admitted handshake is counted, to uncount it when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Address(Ipv6Addr),
    /// The entry new addresses share while the table is full.
    Overflow,
}

/// What to do with a connection attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start its handshake, counted in the slot.
    Admit(Slot),
    /// Send a Retry: the client comes back with its address validated.
    Retry,
    /// Refuse it: its address is over its handshake rate.
    RefuseRate,
    /// Refuse it: too many handshakes in progress.
    RefuseCap,
}

/// The admission policy, with time passed in.
#[derive(Debug)]
pub(crate) struct Admission {
    cfg: Config,
    in_progress: usize,
    table: HashMap<Ipv6Addr, Entry>,
    overflow: Entry,
    last_sweep: Instant,
}

impl Admission {
    pub(crate) fn new(cfg: Config, now: Instant) -> Self {
        Admission {
            cfg,
            in_progress: 0,
            table: HashMap::new(),
            overflow: Entry::new(&cfg, now),
            last_sweep: now,
        }
    }

    /// Decides on an attempt from `ip`; `unvalidated`: its address is not validated and a
    /// Retry may be sent. An admitted attempt is counted until [`Admission::finish`].
    pub(crate) fn decide(&mut self, ip: IpAddr, unvalidated: bool, now: Instant) -> Decision {
        if self.in_progress >= self.cfg.max_handshakes {
            return Decision::RefuseCap;
        }
        // Before the table: an address that cannot answer a Retry never gets an entry.
        if unvalidated && self.cfg.validation.retries(self.in_progress) {
            return Decision::Retry;
        }
        self.maybe_sweep(now);
        let slot = self.slot(key(ip));
        let cfg = self.cfg;
        let entry = self.entry(slot, now);
        if entry.in_progress >= cfg.max_per_address {
            return Decision::RefuseCap;
        }
        if !entry.bucket.take(&cfg, now) {
            return Decision::RefuseRate;
        }
        entry.in_progress += 1;
        self.in_progress += 1;
        Decision::Admit(slot)
    }

    /// A handshake admitted in `slot` ended (established, failed or timed out).
    pub(crate) fn finish(&mut self, slot: Slot) {
        let entry = match slot {
            Slot::Address(k) => self.table.get_mut(&k),
            Slot::Overflow => Some(&mut self.overflow),
        };
        // Entries with handshakes in progress are never swept, so it is there.
        if let Some(entry) = entry {
            entry.in_progress = entry.in_progress.saturating_sub(1);
        }
        self.in_progress = self.in_progress.saturating_sub(1);
    }

    pub(crate) fn in_progress(&self) -> usize {
        self.in_progress
    }

    pub(crate) fn tracked(&self) -> usize {
        self.table.len()
    }

    /// The address's own entry if it has or can get one, else the shared one.
    fn slot(&self, k: Ipv6Addr) -> Slot {
        if self.table.contains_key(&k) || self.table.len() < self.cfg.max_tracked {
            Slot::Address(k)
        } else {
            Slot::Overflow
        }
    }

    fn entry(&mut self, slot: Slot, now: Instant) -> &mut Entry {
        let cfg = self.cfg;
        match slot {
            Slot::Address(k) => self.table.entry(k).or_insert_with(|| Entry::new(&cfg, now)),
            Slot::Overflow => &mut self.overflow,
        }
    }

    /// Drops idle entries: once per refill period (so the table shrinks after a burst), and
    /// when the table is full (at most every [`SWEEP_GAP`], as a sweep scans it all).
    fn maybe_sweep(&mut self, now: Instant) {
        let since = now.saturating_duration_since(self.last_sweep);
        let refill = self.refill_period();
        let full = self.table.len() >= self.cfg.max_tracked;
        if since >= refill || (full && since >= refill.min(SWEEP_GAP)) {
            let cfg = self.cfg;
            self.table.retain(|_, e| !e.is_idle(&cfg, now));
            self.last_sweep = now;
        }
    }

    /// How long an empty bucket takes to refill.
    fn refill_period(&self) -> Duration {
        let secs = f64::from(self.cfg.burst) / f64::from(self.cfg.rate.max(1));
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}

/// The table key of an address: IPv4 (also when mapped into IPv6) or an IPv6 /64.
fn key(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_ipv6_mapped(),
            None => Ipv6Addr::from(u128::from(v6) & (!0u128 << 64)),
        },
    }
}

/// [`Admission`] shared by the accept loop and the handshakes it admitted, with counters.
#[derive(Debug)]
pub(crate) struct Gate {
    policy: Mutex<Admission>,
    admitted: AtomicU64,
    retries: AtomicU64,
    refused_rate: AtomicU64,
    refused_cap: AtomicU64,
}

impl Gate {
    pub(crate) fn new(cfg: Config) -> Self {
        Gate {
            policy: Mutex::new(Admission::new(cfg, now())),
            admitted: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            refused_rate: AtomicU64::new(0),
            refused_cap: AtomicU64::new(0),
        }
    }

    fn policy(&self) -> std::sync::MutexGuard<'_, Admission> {
        self.policy.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stats(&self) -> AdmissionStats {
        let policy = self.policy();
        AdmissionStats {
            admitted: self.admitted.load(Ordering::Relaxed),
            retries_sent: self.retries.load(Ordering::Relaxed),
            refused_by_rate: self.refused_rate.load(Ordering::Relaxed),
            refused_by_cap: self.refused_cap.load(Ordering::Relaxed),
            handshakes_in_progress: policy.in_progress(),
            tracked_addresses: policy.tracked(),
        }
    }
}

/// The clock of the policy: tokio's, so that tests with paused time see it stand still.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Counts an admitted handshake until it is dropped (the handshake ended either way).
#[derive(Debug)]
pub(crate) struct Ticket {
    gate: Arc<Gate>,
    slot: Slot,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.policy().finish(self.slot);
    }
}

/// Applies the admission policy to `incoming`: the attempt to hand to its handshake (holding
/// its ticket), or `None` once it was retried or refused. Established connections of other
/// transports pass through.
pub(super) fn admit(incoming: Incoming, gate: &Arc<Gate>) -> Option<Incoming> {
    let Incoming::Quic(quic, None) = incoming else {
        return Some(incoming);
    };
    let addr = quic.remote_address();
    let unvalidated = !quic.remote_address_validated() && quic.may_retry();
    let decision = gate.policy().decide(addr.ip(), unvalidated, now());
    match decision {
        Decision::Admit(slot) => {
            gate.admitted.fetch_add(1, Ordering::Relaxed);
            let ticket = Ticket {
                gate: gate.clone(),
                slot,
            };
            return Some(Incoming::Quic(quic, Some(ticket)));
        }
        Decision::Retry => {
            gate.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%addr, "handshake load: asking for address validation (Retry)");
            quic.retry();
        }
        Decision::RefuseRate => {
            gate.refused_rate.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%addr, "handshake rate exceeded; refusing a connection");
            quic.refuse();
        }
        Decision::RefuseCap => {
            gate.refused_cap.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%addr, "too many handshakes in progress; refusing a connection");
            quic.refuse();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            validation: AddressValidation::Never,
            rate: 10,
            burst: 5,
            max_handshakes: 1000,
            max_per_address: 1000,
            max_tracked: 1000,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let cfg = cfg();
        let t0 = Instant::now();
        let mut b = Bucket::full(&cfg, t0);
        assert_eq!((0..10).filter(|_| b.take(&cfg, t0)).count(), 5);
        // 10 per second: one token per 100 ms, never more than the burst.
        assert!(!b.take(&cfg, t0 + ms(99)));
        assert!(b.take(&cfg, t0 + ms(100)));
        assert!(!b.take(&cfg, t0 + ms(150)));
        let later = t0 + Duration::from_secs(60);
        assert!(b.is_full(&cfg, later));
        assert_eq!((0..10).filter(|_| b.take(&cfg, later)).count(), 5);
    }

    #[test]
    fn bucket_ignores_time_running_backwards() {
        let cfg = cfg();
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut b = Bucket::full(&cfg, t0);
        for _ in 0..5 {
            assert!(b.take(&cfg, t0));
        }
        assert!(!b.take(&cfg, t0 - ms(500)));
        assert!(!b.take(&cfg, t0 + ms(50)));
        assert!(b.take(&cfg, t0 + ms(100)));
    }

    #[test]
    fn rate_is_per_address_and_per_ipv6_64() {
        let mut a = Admission::new(cfg(), Instant::now());
        let t = Instant::now();
        for _ in 0..5 {
            assert!(matches!(
                a.decide(ip("10.0.0.1"), false, t),
                Decision::Admit(_)
            ));
        }
        assert_eq!(a.decide(ip("10.0.0.1"), false, t), Decision::RefuseRate);
        // The same host as IPv4-mapped IPv6.
        assert_eq!(
            a.decide(ip("::ffff:10.0.0.1"), false, t),
            Decision::RefuseRate
        );
        assert!(matches!(
            a.decide(ip("10.0.0.2"), false, t),
            Decision::Admit(_)
        ));
        for i in 0..5 {
            let v6 = ip(&format!("2001:db8:1:2::{i}"));
            assert!(matches!(a.decide(v6, false, t), Decision::Admit(_)));
        }
        assert_eq!(
            a.decide(ip("2001:db8:1:2:ffff::1"), false, t),
            Decision::RefuseRate
        );
        assert!(matches!(
            a.decide(ip("2001:db8:1:3::1"), false, t),
            Decision::Admit(_)
        ));
    }

    #[test]
    fn caps_count_handshakes_in_progress_until_they_finish() {
        let cfg = Config {
            max_handshakes: 3,
            max_per_address: 2,
            ..cfg()
        };
        let t = Instant::now();
        let mut a = Admission::new(cfg, t);
        let Decision::Admit(s1) = a.decide(ip("10.0.0.1"), false, t) else {
            panic!()
        };
        assert!(matches!(
            a.decide(ip("10.0.0.1"), false, t),
            Decision::Admit(_)
        ));
        assert_eq!(a.decide(ip("10.0.0.1"), false, t), Decision::RefuseCap);
        assert!(matches!(
            a.decide(ip("10.0.0.2"), false, t),
            Decision::Admit(_)
        ));
        assert_eq!(a.decide(ip("10.0.0.3"), false, t), Decision::RefuseCap);
        assert_eq!(a.in_progress(), 3);
        a.finish(s1);
        assert_eq!(a.in_progress(), 2);
        assert!(matches!(
            a.decide(ip("10.0.0.1"), false, t),
            Decision::Admit(_)
        ));
    }

    #[test]
    fn retry_decisions() {
        assert!(AddressValidation::Always.retries(0));
        assert!(!AddressValidation::Never.retries(usize::MAX));
        let under = AddressValidation::UnderLoad { handshakes: 2 };
        assert!(!under.retries(1));
        assert!(under.retries(2));

        let cfg = Config {
            validation: under,
            ..cfg()
        };
        let t = Instant::now();
        let mut a = Admission::new(cfg, t);
        // Not under load: unvalidated attempts go straight to their handshake.
        assert!(matches!(
            a.decide(ip("10.0.0.1"), true, t),
            Decision::Admit(_)
        ));
        assert!(matches!(
            a.decide(ip("10.0.0.2"), true, t),
            Decision::Admit(_)
        ));
        // Under load: unvalidated ones are retried, without touching the table or a bucket.
        let tracked = a.tracked();
        for i in 0..100 {
            let spoofed = ip(&format!("10.1.{}.{}", i / 256, i % 256));
            assert_eq!(a.decide(spoofed, true, t), Decision::Retry);
        }
        assert_eq!(a.tracked(), tracked);
        // A validated attempt (it answered a Retry) is admitted.
        assert!(matches!(
            a.decide(ip("10.0.0.3"), false, t),
            Decision::Admit(_)
        ));
        // Past the total cap, even a Retry is not worth sending.
        let mut full = Admission::new(
            Config {
                validation: AddressValidation::Always,
                max_handshakes: 0,
                ..cfg
            },
            t,
        );
        assert_eq!(full.decide(ip("10.0.0.1"), true, t), Decision::RefuseCap);
    }

    #[test]
    fn table_stays_bounded_and_full_tables_share_an_entry() {
        let cfg = Config {
            max_tracked: 8,
            ..cfg()
        };
        let t0 = Instant::now();
        let mut a = Admission::new(cfg, t0);
        // A spray of addresses, each trying a whole burst.
        let mut admitted = Vec::new();
        for i in 0..1000u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            for _ in 0..5 {
                if let Decision::Admit(slot) = a.decide(addr, false, t0) {
                    admitted.push(slot);
                }
            }
            assert!(a.tracked() <= 8);
        }
        // 8 addresses with their own burst, then the rest shared one: limited, not unlimited.
        let overflowed = admitted.iter().filter(|s| **s == Slot::Overflow).count();
        assert_eq!((admitted.len(), overflowed), (8 * 5 + 5, 5));
        assert_eq!(a.decide(ip("192.168.0.1"), false, t0), Decision::RefuseRate);
        // The handshakes end; once the buckets refilled (0.5 s), a sweep forgets everyone.
        for slot in admitted {
            a.finish(slot);
        }
        assert_eq!(a.in_progress(), 0);
        let later = t0 + ms(600);
        assert!(matches!(
            a.decide(ip("192.168.0.1"), false, later),
            Decision::Admit(Slot::Address(_))
        ));
        assert_eq!(a.tracked(), 1);
    }

    #[test]
    fn handshakes_in_progress_keep_their_entry_through_sweeps() {
        let cfg = Config {
            max_tracked: 2,
            ..cfg()
        };
        let t0 = Instant::now();
        let mut a = Admission::new(cfg, t0);
        let Decision::Admit(slot) = a.decide(ip("10.0.0.1"), false, t0) else {
            panic!()
        };
        let later = t0 + Duration::from_secs(10);
        let _ = a.decide(ip("10.0.0.2"), false, later);
        let _ = a.decide(ip("10.0.0.3"), false, later);
        assert!(a.table.contains_key(&key(ip("10.0.0.1"))));
        a.finish(slot);
        assert_eq!(a.table[&key(ip("10.0.0.1"))].in_progress, 0);
    }
}
