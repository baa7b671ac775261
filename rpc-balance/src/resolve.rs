//! Where the servers are: the [`Resolve`] trait, a static list ([`StaticList`]) and DNS
//! ([`DnsResolver`](crate::DnsResolver)).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The most addresses a resolution may hold; a longer answer is cut there (and logged), so
/// that nothing a registry or DNS server sends grows memory without bound.
pub const MAX_ADDRESSES: usize = 256;

/// What a [`Resolve`] found: the servers' addresses, in the order the registry gives them
/// (`pick-first` follows it), and for how long the answer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The servers' addresses, without duplicates.
    pub addrs: Vec<SocketAddr>,
    /// How long the answer holds (a DNS TTL): the balancer asks again then, within its
    /// refresh bounds. `None`: ask again at the upper bound.
    pub ttl: Option<Duration>,
}

impl Resolution {
    /// A resolution of `addrs`, duplicates dropped (first one kept) and cut at
    /// [`MAX_ADDRESSES`].
    pub fn new(addrs: impl IntoIterator<Item = SocketAddr>, ttl: Option<Duration>) -> Self {
        let mut unique = Vec::new();
        for addr in addrs {
            if unique.len() == MAX_ADDRESSES {
                tracing::warn!("resolution cut at {MAX_ADDRESSES} addresses");
                break;
            }
            if !unique.contains(&addr) {
                unique.push(addr);
            }
        }
        Resolution { addrs: unique, ttl }
    }
}

/// Why resolving failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The name does not resolve, or to no usable address.
    #[error("cannot resolve {name}: {reason}")]
    NotFound {
        /// The name asked for.
        name: String,
        /// What the resolver said.
        reason: String,
    },
    /// The target is not something this resolver understands.
    #[error("invalid target {target:?}: {reason}")]
    InvalidTarget {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another resolver's failure.
    #[error("{0}")]
    Other(Arc<str>),
}

/// A boxed future of a resolution.
pub type ResolveFuture = Pin<Box<dyn Future<Output = Result<Resolution, ResolveError>> + Send>>;

/// A source of server addresses: DNS, a static list, or any other registry (implement it
/// for yours). The balancer calls [`resolve`](Resolve::resolve) at start, again when the
/// last answer's TTL runs out (within its refresh bounds), and sooner when a connection
/// fails; it keeps the previous list when a later resolution fails.
pub trait Resolve: Send + Sync + 'static {
    /// The current addresses.
    ///
    /// # Cancel safety
    /// The balancer may drop the future (when it shuts down); implementations must allow it.
    fn resolve(&self) -> ResolveFuture;

    /// What the resolver looks up, for messages.
    fn describe(&self) -> String {
        "a resolver".to_owned()
    }
}

/// A fixed list of addresses, resolved once.
#[derive(Debug, Clone)]
pub struct StaticList(Vec<SocketAddr>);

impl StaticList {
    /// The list `addrs`; empty is an error.
    pub fn new(addrs: impl IntoIterator<Item = SocketAddr>) -> Result<Self, ResolveError> {
        let addrs = Resolution::new(addrs, None).addrs;
        if addrs.is_empty() {
            return Err(ResolveError::InvalidTarget {
                target: String::new(),
                reason: "the endpoint list is empty",
            });
        }
        Ok(StaticList(addrs))
    }

    /// Parses `a,b,c` of `ip:port` (`[v6]:port`) addresses.
    pub fn parse(list: &str) -> Result<Self, ResolveError> {
        let mut addrs = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let addr = part.parse().map_err(|_| ResolveError::InvalidTarget {
                target: part.to_owned(),
                reason: "expected ip:port",
            })?;
            addrs.push(addr);
        }
        StaticList::new(addrs).map_err(|_| ResolveError::InvalidTarget {
            target: list.to_owned(),
            reason: "the endpoint list is empty",
        })
    }

    /// The addresses.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.0
    }
}

impl Resolve for StaticList {
    fn resolve(&self) -> ResolveFuture {
        let resolution = Resolution::new(self.0.iter().copied(), None);
        Box::pin(std::future::ready(Ok(resolution)))
    }

    fn describe(&self) -> String {
        format!("{} static addresses", self.0.len())
    }
}

impl fmt::Display for StaticList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_lists() {
        let l = StaticList::parse("127.0.0.2:1, 127.0.0.3:1,127.0.0.2:1").unwrap();
        assert_eq!(l.addrs().len(), 2);
        assert!(StaticList::parse("").is_err());
        assert!(StaticList::parse(" , ").is_err());
        assert!(StaticList::parse("host:1").is_err());
        assert!(StaticList::new([]).is_err());
        let many = (0..1000u16).map(|p| SocketAddr::from(([127, 0, 0, 1], p + 1)));
        assert_eq!(Resolution::new(many, None).addrs.len(), MAX_ADDRESSES);
    }
}
