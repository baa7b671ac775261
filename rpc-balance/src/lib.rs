//! Client-side load balancing for qrpc: one channel over many servers.
//!
//! A [`BalancedChannel`] spreads calls over the servers a [`Resolve`] finds: a fixed list of
//! addresses, DNS ([`DnsResolver`]: A/AAAA records of a name, or SRV records of a service,
//! re-resolved when their TTL runs out and sooner when a connection fails), or a registry of
//! your own. It is a tower `Service<CallRequest>` like [`Channel`](rpc_core::Channel), so
//! generated clients take it unchanged, and so do rpc-core's layers
//! ([`RetryLayer`](rpc_core::client::retry::RetryLayer) above it fails calls over to another
//! server).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rpc_balance::{BalancedChannel, DnsResolver, Policy};
//! use rpc_core::tls::ClientTlsConfig;
//! use rpc_core::Endpoint;
//!
//! let tls = ClientTlsConfig::new().domain_name("api.example.com");
//! let balanced = BalancedChannel::builder(move |addr| {
//!     Endpoint::from_addr(addr).tls_config(tls.clone())
//! })
//! .resolver(DnsResolver::new("api.example.com", 4433)?)
//! .policy(Policy::PeakEwma)
//! .build()?;
//! // let client = GreeterClient::new(balanced.clone());
//! for endpoint in balanced.endpoints() {
//!     println!("{} {:?} {} calls", endpoint.addr, endpoint.state, endpoint.calls);
//! }
//! # Ok(()) }
//! ```
//!
//! # What it does
//!
//! * **Policies** ([`Policy`]): peak EWMA of latency times calls in flight (the default),
//!   power of two choices on calls in flight, round robin, pick first. The two-choice
//!   policies compare two endpoints drawn at random, as `tower::balance::p2c` does, and the
//!   peak-EWMA cost is `tower::load::PeakEwma`'s (Finagle's).
//! * **Slow start**: an endpoint that appears after the first resolution starts at a tenth
//!   of its share and ramps up over [`Builder::slow_start`].
//! * **Connection scaling** (as gRPC's A105): once each connection to a server carries
//!   [`max_calls_per_connection`](Builder::max_calls_per_connection) calls (the server's
//!   stream limit), another connection is opened, up to
//!   [`max_connections_per_endpoint`](Builder::max_connections_per_endpoint), instead of
//!   queueing calls for a stream.
//! * **Outlier ejection**: an endpoint whose calls fail with `UNAVAILABLE` (or whose
//!   connection is lost, or connects fail) several times in a row is taken out for a
//!   growing time, then probed with one call. An endpoint without a `Ready` connection (its
//!   connection lost, drained by the server, PROTOCOL.md §12, or failing to connect) is not
//!   picked; it reconnects in the background.
//! * **Fail-over**: calls that never reached a server ([`Status::never_processed`](rpc_core::Status::never_processed)) are
//!   sent to another endpoint transparently; with a retry policy above the balancer,
//!   idempotent calls lost with a server are retried on another.
//! * **Response cache** ([`cache`]): an opt-in layer serving repeats of side-effect-free
//!   calls the server allowed to be cached (PROTOCOL.md §17).
//!
//! # Why not `tower::balance::p2c::Balance` itself
//!
//! tower's balancer takes `&mut self`: sharing it between clients takes a `Buffer`, one task
//! that every call goes through. It drops an endpoint for good when its readiness fails,
//! has no round robin, pick first or slow start, and when no endpoint is ready it makes
//! calls wait without bound, where gRPC fails them fast. So the picking is here, over a
//! shared table of endpoints that any clone reads without a lock, with the same two-choice
//! algorithm and load measures.
//!
//! Balancing is the client's alone: servers need nothing (PROTOCOL.md §17).

#![deny(missing_docs)]

mod balancer;
pub mod cache;
mod dns;
mod endpoint;
pub mod resolve;

pub use balancer::{BalancedChannel, BuildError, Builder};
pub(crate) use balancer::{MakeEndpoint, Shared};
pub use dns::{DnsResolver, MAX_SRV_RECORDS};
pub use endpoint::{EndpointState, EndpointStats};
pub use resolve::{Resolution, Resolve, ResolveError, StaticList};

use std::time::Duration;

/// How a [`BalancedChannel`] spreads calls over its ready endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Policy {
    /// Two endpoints drawn at random; the one with fewer calls in flight gets the call.
    PowerOfTwoChoices,
    /// Two endpoints drawn at random; the one whose peak-EWMA latency times calls in flight
    /// is lower gets the call: slow servers get less. The default.
    #[default]
    PeakEwma,
    /// Each ready endpoint in turn.
    RoundRobin,
    /// The first ready endpoint in the resolver's order; the next only when it is down.
    PickFirst,
}

impl std::str::FromStr for Policy {
    type Err = String;

    /// `p2c`, `ewma`, `round-robin`, `pick-first`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "p2c" => Ok(Policy::PowerOfTwoChoices),
            "ewma" | "peak-ewma" => Ok(Policy::PeakEwma),
            "round-robin" | "rr" => Ok(Policy::RoundRobin),
            "pick-first" => Ok(Policy::PickFirst),
            other => Err(format!(
                "unknown policy {other:?}: expected p2c, ewma, round-robin or pick-first"
            )),
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Policy::PowerOfTwoChoices => "p2c",
            Policy::PeakEwma => "ewma",
            Policy::RoundRobin => "round-robin",
            Policy::PickFirst => "pick-first",
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Ejection {
    pub(crate) consecutive_failures: u32,
    pub(crate) base_time: Duration,
    pub(crate) max_time: Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) policy: Policy,
    pub(crate) slow_start: Duration,
    pub(crate) max_calls_per_connection: usize,
    pub(crate) max_connections_per_endpoint: usize,
    pub(crate) ejection: Ejection,
    pub(crate) min_refresh: Duration,
    pub(crate) max_refresh: Duration,
    pub(crate) reconnect_base: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) transparent_retry: bool,
    pub(crate) default_rtt: Duration,
    pub(crate) decay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: Policy::default(),
            slow_start: Duration::from_secs(10),
            max_calls_per_connection: 1024,
            max_connections_per_endpoint: 8,
            ejection: Ejection {
                consecutive_failures: 5,
                base_time: Duration::from_secs(10),
                max_time: Duration::from_secs(300),
            },
            min_refresh: Duration::from_secs(1),
            max_refresh: Duration::from_secs(30),
            reconnect_base: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
            transparent_retry: true,
            default_rtt: Duration::from_millis(1),
            decay: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_a_call_service() {
        fn call_service<S: rpc_core::client::service::CallService>() {}
        call_service::<crate::BalancedChannel>();
        call_service::<crate::cache::Cache<crate::BalancedChannel>>();
    }

    #[test]
    fn policies_parse() {
        for p in ["p2c", "ewma", "round-robin", "pick-first"] {
            assert_eq!(p.parse::<crate::Policy>().unwrap().to_string(), p);
        }
        assert!("random".parse::<crate::Policy>().is_err());
    }
}
