//! [`DnsResolver`]: servers from DNS, A/AAAA records of a name or SRV records of a service,
//! with their TTLs (hickory-resolver).

use crate::resolve::{Resolution, Resolve, ResolveError, ResolveFuture, MAX_ADDRESSES};
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most SRV records of one answer looked at (further ones are ignored), and so the most
/// target names looked up per resolution.
pub const MAX_SRV_RECORDS: usize = 64;

#[derive(Debug, Clone)]
enum Query {
    /// A and AAAA records of `name`, each address at `port`.
    Host { name: String, port: u16 },
    /// SRV records of `name`, then the A/AAAA records of each target.
    Srv { name: String },
}

/// Resolves a name through DNS: A and AAAA records of `host` (each address at the given
/// port), or the SRV records of a service name (`_qrpc._udp.example.com`: each target's
/// A/AAAA addresses at the record's port; records ordered by priority, then weight, and
/// records naming the root `.` or port 0 skipped). The answer's TTL says when the balancer
/// asks again.
///
/// By default it asks the system's resolvers (`/etc/resolv.conf`);
/// [`nameserver`](DnsResolver::nameserver) names one instead.
///
/// Everything a DNS server sends is bounded: at most [`MAX_SRV_RECORDS`] SRV records are
/// followed and at most [`MAX_ADDRESSES`] addresses kept; TTLs are clamped by the balancer.
#[derive(Clone)]
pub struct DnsResolver {
    query: Query,
    /// The DNS server to ask; `None`: the system's.
    nameserver: Option<SocketAddr>,
    /// Built on the first resolution (reading the system's configuration then, not before).
    resolver: Arc<std::sync::OnceLock<Result<Arc<TokioResolver>, ResolveError>>>,
}

impl std::fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsResolver")
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

impl DnsResolver {
    /// A and AAAA records of `host`, the servers listening at `port`.
    pub fn new(host: impl Into<String>, port: u16) -> Result<Self, ResolveError> {
        let name = host.into();
        check_name(&name)?;
        Ok(DnsResolver::with_query(Query::Host { name, port }))
    }

    /// SRV records of `service` (`_qrpc._udp.example.com`).
    pub fn srv(service: impl Into<String>) -> Result<Self, ResolveError> {
        let name = service.into();
        check_name(&name)?;
        Ok(DnsResolver::with_query(Query::Srv { name }))
    }

    fn with_query(query: Query) -> Self {
        DnsResolver {
            query,
            nameserver: None,
            resolver: Arc::default(),
        }
    }

    /// The resolver, built on first use.
    fn resolver(&self) -> Result<Arc<TokioResolver>, ResolveError> {
        self.resolver
            .get_or_init(|| match self.nameserver {
                None => system_resolver().map(Arc::new),
                Some(addr) => {
                    let servers =
                        NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                    let config = ResolverConfig::from_parts(None, vec![], servers);
                    Ok(Arc::new(build(config, options())))
                }
            })
            .clone()
    }

    /// Parses a target: `dns:///host:port` or `host:port` (A/AAAA), `dns+srv:///service`
    /// (SRV).
    pub fn parse(target: &str) -> Result<Self, ResolveError> {
        let invalid = |reason| ResolveError::InvalidTarget {
            target: target.to_owned(),
            reason,
        };
        if let Some(service) = target.strip_prefix("dns+srv:///") {
            return DnsResolver::srv(service).map_err(|_| invalid("expected a service name"));
        }
        let rest = target.strip_prefix("dns:///").unwrap_or(target);
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| invalid("expected host:port"))?;
        let port = port.parse().map_err(|_| invalid("invalid port"))?;
        DnsResolver::new(host, port).map_err(|_| invalid("expected a host name"))
    }

    /// Asks the DNS server at `addr` (over UDP, and TCP for long answers) instead of the
    /// system's resolvers.
    pub fn nameserver(mut self, addr: SocketAddr) -> Self {
        self.nameserver = Some(addr);
        self.resolver = Arc::default();
        self
    }

    async fn lookup(
        query: Query,
        resolver: Arc<TokioResolver>,
    ) -> Result<Resolution, ResolveError> {
        match query {
            Query::Host { name, port } => {
                let (ips, until) = lookup_ips(&resolver, &name).await?;
                let addrs = ips.into_iter().map(|ip| SocketAddr::new(ip, port));
                Ok(Resolution::new(addrs, Some(ttl(until))))
            }
            Query::Srv { name } => {
                let not_found = |reason: String| ResolveError::NotFound {
                    name: name.clone(),
                    reason,
                };
                let srv = resolver
                    .srv_lookup(name.as_str())
                    .await
                    .map_err(|e| not_found(e.to_string()))?;
                let mut until = srv.as_lookup().valid_until();
                let mut records: Vec<_> = srv
                    .iter()
                    .take(MAX_SRV_RECORDS)
                    .filter(|r| r.port() != 0 && !r.target().is_root())
                    .map(|r| (r.priority(), r.weight(), r.target().clone(), r.port()))
                    .collect();
                // RFC 2782: lower priority first; a heavier weight first within one.
                records.sort_by(|a, b| (a.0, u16::MAX - a.1).cmp(&(b.0, u16::MAX - b.1)));
                let mut addrs = Vec::new();
                let mut last_error = None;
                for (_, _, target, port) in records {
                    if addrs.len() >= MAX_ADDRESSES {
                        break;
                    }
                    match lookup_ips(&resolver, &target.to_ascii()).await {
                        Ok((ips, valid)) => {
                            until = until.min(valid);
                            addrs.extend(ips.into_iter().map(|ip| SocketAddr::new(ip, port)));
                        }
                        Err(e) => last_error = Some(e),
                    }
                }
                if addrs.is_empty() {
                    return Err(match last_error {
                        Some(e) => e,
                        None => not_found("no usable SRV record".to_owned()),
                    });
                }
                Ok(Resolution::new(addrs, Some(ttl(until))))
            }
        }
    }
}

impl Resolve for DnsResolver {
    fn resolve(&self) -> ResolveFuture {
        match self.resolver() {
            Ok(resolver) => Box::pin(DnsResolver::lookup(self.query.clone(), resolver)),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn describe(&self) -> String {
        match &self.query {
            Query::Host { name, port } => format!("dns:///{name}:{port}"),
            Query::Srv { name } => format!("dns+srv:///{name}"),
        }
    }
}

fn check_name(name: &str) -> Result<(), ResolveError> {
    if name.is_empty() || name.len() > 253 {
        return Err(ResolveError::InvalidTarget {
            target: name.to_owned(),
            reason: "a DNS name has 1 to 253 characters",
        });
    }
    Ok(())
}

/// The A and AAAA addresses of `name` (an IP literal is itself), and until when they hold.
async fn lookup_ips(
    resolver: &TokioResolver,
    name: &str,
) -> Result<(Vec<IpAddr>, Instant), ResolveError> {
    if let Ok(ip) = name.trim_end_matches('.').parse::<IpAddr>() {
        return Ok((vec![ip], Instant::now() + Duration::from_secs(3600)));
    }
    let found = resolver
        .lookup_ip(name)
        .await
        .map_err(|e| ResolveError::NotFound {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
    let ips: Vec<IpAddr> = found.iter().take(MAX_ADDRESSES).collect();
    if ips.is_empty() {
        return Err(ResolveError::NotFound {
            name: name.to_owned(),
            reason: "no A or AAAA record".to_owned(),
        });
    }
    Ok((ips, found.valid_until()))
}

fn ttl(until: Instant) -> Duration {
    until.saturating_duration_since(Instant::now())
}

fn options() -> ResolverOpts {
    let mut opts = ResolverOpts::default();
    // Both families: the balancer spreads over every address.
    opts.ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4AndIpv6;
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 2;
    // The balancer re-resolves on its own schedule: a small cache that never keeps an answer
    // longer than the balancer's default upper bound (a TTL of years changes nothing).
    opts.cache_size = 32;
    opts.positive_max_ttl = Some(Duration::from_secs(30));
    opts.negative_max_ttl = Some(Duration::from_secs(1));
    opts
}

fn build(config: ResolverConfig, opts: ResolverOpts) -> TokioResolver {
    TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        .with_options(opts)
        .build()
}

fn system_resolver() -> Result<TokioResolver, ResolveError> {
    let (config, mut opts) = hickory_resolver::system_conf::read_system_conf().map_err(|e| {
        ResolveError::Other(format!("cannot read the system DNS configuration: {e}").into())
    })?;
    let ours = options();
    opts.ip_strategy = ours.ip_strategy;
    opts.cache_size = ours.cache_size;
    opts.positive_max_ttl = ours.positive_max_ttl;
    opts.negative_max_ttl = ours.negative_max_ttl;
    Ok(build(config, opts))
}
