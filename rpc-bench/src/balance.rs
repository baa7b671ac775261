//! Balanced runs (`rpc-bench --target a,b,c` or a DNS name, `--policy`, `--cache`): the
//! calls go through an rpc-balance [`BalancedChannel`] over every server of the target,
//! and the report ends with how the calls spread over them (and the cache's hit ratio).

use crate::cli::LoadArgs;
use crate::driver::{
    client_stream, drain, failure, open_bidi, ping, request, stream_request, Driver, Failure,
    RpcBidi,
};
use crate::echo::echo_client::EchoClient;
use crate::echo::EchoRequest;
use bytes::Bytes;
use rpc_balance::cache::{Cache, CacheLayer};
use rpc_balance::{BalancedChannel, DnsResolver, Policy, StaticList};
use rpc_core::tls::ClientTlsConfig;
use rpc_core::{Endpoint, Request};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower_layer::Layer;

/// Request metadata by which `rpc-bench --cache` asks the echo server to allow caching its
/// unary answers for that many seconds (a benchmark's contrivance: a real server decides
/// for itself which answers may be cached).
pub const CACHE_ASK: &str = "rpc-bench-cache-max-age";

/// The echo service's unary method, which has no side effects: the one `--cache` caches.
pub const UNARY: &str = "/echo.Echo/Unary";

/// Options of balanced runs.
#[derive(Debug, Clone, clap::Args)]
pub struct BalanceArgs {
    /// How calls are spread over the servers of --target, which may then be a
    /// comma-separated list (`127.0.0.2:4433,127.0.0.3:4433`) or a DNS name
    /// (`dns:///name:port` for A/AAAA records, `dns+srv:///_svc._udp.name` for SRV):
    /// p2c, ewma, round-robin or pick-first (default ewma). The report ends with the calls
    /// each server got.
    #[arg(long, value_parser = parse_policy)]
    pub policy: Option<Policy>,
    /// Caches unary answers the servers allow in a client-side LRU of this many bytes (e.g.
    /// `16MiB`), asking the echo server to allow them (see `--cache-max-age`); the report
    /// ends with the hit ratio. Implies a balanced run.
    #[arg(long, value_parser = crate::cli::parse_size)]
    pub cache: Option<usize>,
    /// With --cache: how many distinct requests the unary calls cycle through.
    #[arg(long, default_value_t = 100)]
    pub cache_keys: u64,
    /// With --cache: the max-age the server is asked to allow, in seconds.
    #[arg(long, default_value_t = 60)]
    pub cache_max_age: u64,
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse()
}

impl BalanceArgs {
    /// Whether this run goes through a balanced channel: a list or DNS target, a policy
    /// or a cache. A plain `host:port` target without them keeps the plain channel.
    pub fn wanted(&self, load: &LoadArgs) -> bool {
        let target = load.target.as_deref().unwrap_or("");
        self.policy.is_some()
            || self.cache.is_some()
            || target.contains(',')
            || target.starts_with("dns:")
            || target.starts_with("dns+srv:")
    }
}

/// A target's resolver: a list of `ip:port`, or DNS.
pub fn resolver(target: &str) -> Result<Box<dyn rpc_balance::Resolve>, String> {
    if target.starts_with("dns:") || target.starts_with("dns+srv:") {
        return DnsResolver::parse(target)
            .map(|r| Box::new(r) as _)
            .map_err(|e| e.to_string());
    }
    if let Ok(list) = StaticList::parse(target) {
        return Ok(Box::new(list));
    }
    // One host name: its A/AAAA records.
    DnsResolver::parse(target)
        .map(|r| Box::new(r) as _)
        .map_err(|e| e.to_string())
}

struct Boxed(Box<dyn rpc_balance::Resolve>);

impl rpc_balance::Resolve for Boxed {
    fn resolve(&self) -> rpc_balance::resolve::ResolveFuture {
        self.0.resolve()
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

/// Makes the endpoint of each server address.
pub type MakeEndpoint = Arc<dyn Fn(SocketAddr) -> Endpoint + Send + Sync>;

/// Drives the echo service through a balanced channel (one per connection the load loop
/// asks for), optionally behind the response cache. Clones share the channels and the
/// cache (one is kept for [`summary`](Self::summary)).
#[derive(Clone)]
pub struct BalancedDriver {
    target: String,
    policy: Policy,
    make: MakeEndpoint,
    cache: CacheLayer,
    cache_on: bool,
    cache_keys: u64,
    cache_max_age: u64,
    next_key: Arc<AtomicU64>,
    channels: Arc<Mutex<Vec<BalancedChannel>>>,
}

impl std::fmt::Debug for BalancedDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BalancedDriver")
            .field("target", &self.target)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl BalancedDriver {
    /// A driver for `target` with `args`; `make` builds each server's endpoint (TLS,
    /// timeouts).
    pub fn new(target: String, args: &BalanceArgs, make: MakeEndpoint) -> Self {
        let cache = CacheLayer::new(args.cache.unwrap_or(0));
        let cache = if args.cache.is_some() {
            cache.methods([UNARY])
        } else {
            cache
        };
        BalancedDriver {
            target,
            policy: args.policy.unwrap_or_default(),
            make,
            cache,
            cache_on: args.cache.is_some(),
            cache_keys: args.cache_keys.max(1),
            cache_max_age: args.cache_max_age,
            next_key: Arc::new(AtomicU64::new(0)),
            channels: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// How the calls spread over the servers, and the cache's figures: the lines printed
    /// after the report.
    pub fn summary(&self) -> String {
        let channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let mut per: Vec<(SocketAddr, u64, usize, u64, String)> = Vec::new();
        for channel in channels.iter() {
            for e in channel.endpoints() {
                match per.iter_mut().find(|p| p.0 == e.addr) {
                    Some(p) => {
                        p.1 += e.calls;
                        p.2 += e.connections;
                        p.3 += e.ejections;
                    }
                    None => per.push((
                        e.addr,
                        e.calls,
                        e.connections,
                        e.ejections,
                        format!("{:?}", e.state),
                    )),
                }
            }
        }
        let total: u64 = per.iter().map(|p| p.1).sum();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "calls per server ({}, policy {}, warm-up included):",
            self.target, self.policy
        );
        for (addr, calls, conns, ejections, state) in &per {
            let share = if total == 0 {
                0.0
            } else {
                *calls as f64 * 100.0 / total as f64
            };
            let _ = writeln!(
                out,
                "  {addr:<24} {calls:>10} calls {share:>5.1} %  {conns} connection(s)  {ejections} ejection(s)  {state}"
            );
        }
        if self.cache_on {
            let s = self.cache.stats();
            let _ = writeln!(
                out,
                "response cache: hit ratio {:.3} ({} hits, {} misses, {} entries, {} bytes, {} evictions)",
                s.hit_ratio(),
                s.hits,
                s.misses,
                s.entries,
                s.bytes,
                s.evictions
            );
        }
        out
    }

    fn request(&self, payload: Bytes) -> Request<EchoRequest> {
        let mut message = request(payload);
        if !self.cache_on {
            return Request::new(message);
        }
        // Unused by unary calls: makes `cache_keys` distinct requests.
        message.response_count =
            (self.next_key.fetch_add(1, Ordering::Relaxed) % self.cache_keys) as u32;
        let mut request = Request::new(message);
        let _ = request
            .metadata_mut()
            .insert(CACHE_ASK, &self.cache_max_age.to_string());
        request
    }
}

impl Driver for BalancedDriver {
    type Conn = EchoClient<Cache<BalancedChannel>>;
    type Bidi = RpcBidi;

    async fn connect(&self) -> Result<Self::Conn, Failure> {
        let make = self.make.clone();
        let resolver = resolver(&self.target).map_err(|e| format!("connect: {e}"))?;
        let balanced = BalancedChannel::builder(move |addr| make(addr))
            .policy(self.policy)
            .resolver(Boxed(resolver))
            .build()
            .map_err(|e| format!("connect: {e}"))?;
        // Up as soon as one server is; the others join as they connect.
        let up = tokio::time::timeout(Duration::from_secs(30), balanced.ready(1)).await;
        if !matches!(up, Ok(true)) {
            // No server came up: say why with a call's status.
            let client = EchoClient::new(self.cache.layer(balanced.clone()));
            return Err(match client.unary(request(Bytes::new())).await {
                Err(status) => format!("connect: {}", status.message()),
                Ok(_) => "connect: no server of the target came up".to_owned(),
            });
        }
        self.channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(balanced.clone());
        Ok(EchoClient::new(self.cache.layer(balanced)))
    }

    async fn unary(&self, conn: &Self::Conn, payload: Bytes) -> Result<u64, Failure> {
        let reply = conn
            .unary(self.request(payload))
            .await
            .map_err(|s| failure(&s))?;
        Ok(reply.into_inner().payload.len() as u64)
    }

    async fn server_stream(
        &self,
        conn: &Self::Conn,
        size: u32,
        count: u32,
    ) -> Result<u64, Failure> {
        let response = conn
            .server_stream(stream_request(size, count))
            .await
            .map_err(|s| failure(&s))?;
        drain(response.into_inner()).await
    }

    async fn client_stream(
        &self,
        conn: &Self::Conn,
        payload: Bytes,
        count: u32,
    ) -> Result<u64, Failure> {
        client_stream(conn, payload, count).await
    }

    async fn open_bidi(&self, conn: &Self::Conn) -> Result<RpcBidi, Failure> {
        open_bidi(conn).await
    }

    async fn ping(&self, bidi: &mut RpcBidi, payload: Bytes) -> Result<u64, Failure> {
        ping(bidi, payload).await
    }
}

/// The TLS settings of `load` for a remote target (as for a single one).
pub fn client_tls(
    load: &LoadArgs,
) -> Result<ClientTlsConfig, Box<dyn std::error::Error + Send + Sync>> {
    let mut tls = ClientTlsConfig::new();
    if load.insecure_dev {
        tls = rpc_core::tls::dev::SelfSigned::loopback()?.client_config();
    }
    if let Some(ca) = &load.ca {
        tls = tls
            .with_webpki_roots(false)
            .ca_certificate(rpc_core::tls::Certificate::from_pem_file(ca)?);
    }
    if let Some(domain) = &load.domain {
        tls = tls.domain_name(domain.clone());
    }
    Ok(tls)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A balanced run: `rpc-bench` with a list or DNS target, `--policy` or `--cache`. Without
/// --target, over one in-process echo server on 127.0.0.1.
pub fn bench(load: LoadArgs, net: crate::NetOptions, args: BalanceArgs) -> Result<(), BoxError> {
    let plans = load.try_plans()?;
    let mut local = None;
    let (target, tls) = match &load.target {
        None => {
            let cert = rpc_core::tls::dev::SelfSigned::generate(&["localhost"])?;
            let builder = crate::server::builder(cert.server_config()?, &net);
            let server =
                crate::server::BackgroundServer::start_with("127.0.0.1:0".parse()?, builder)?;
            let target = server.local_addr().to_string();
            local = Some(server);
            (target, cert.client_config().domain_name("localhost"))
        }
        Some(target) => (target.clone(), client_tls(&load)?),
    };
    let (timeout, connect_timeout) = (load.timeout, load.connect_timeout);
    let make: MakeEndpoint = Arc::new(move |addr| {
        let mut ep = Endpoint::from_addr(addr).tls_config(tls.clone());
        if !timeout.is_zero() {
            ep = ep.timeout(timeout);
        }
        if let Some(t) = connect_timeout {
            ep = ep.handshake_timeout(t);
        }
        crate::apply_net(ep, &net)
    });
    let driver = BalancedDriver::new(target.clone(), &args, make);
    let kept = driver.clone();
    let reports = crate::run_plans(move || Ok(driver), &plans, load.workers, load.server_pid)
        .map_err(|e| match e {
            crate::RunError::Connect(failure) => {
                let (label, details) = crate::driver::split_failure(&failure);
                let reason =
                    crate::driver::failure_reason(label, details).replace(['\r', '\n'], " ");
                format!("could not reach {target}: {reason}")
            }
            e => e.to_string(),
        })?;
    let scope = crate::cpu_scope(local.is_some(), load.server_pid);
    if let Some(server) = local {
        server.stop();
    }
    crate::output(&reports, &load, &scope)?;
    if !load.output.json {
        print!("{}", kept.summary());
    }
    match crate::report::all_failed(&reports, &target) {
        Some(reason) => Err(reason.into()),
        None => Ok(()),
    }
}
