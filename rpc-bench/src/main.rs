//! `rpc-bench`: benchmarks an rpc-core echo server (in-process by default), or serves one.

use clap::{CommandFactory, Parser, Subcommand};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rpc_bench::breakdown::Breakdown;
use rpc_bench::driver::{failure_reason, split_failure, RpcDriver};
use rpc_bench::server::{self, BackgroundServer};
use rpc_bench::{LoadArgs, NetOptions, RunError, ServeArgs};
use rpc_core::client::service::CallRequest;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::tls::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use rpc_core::Endpoint;
use rpc_metrics::{ClientMetricsLayer, ServerMetricsLayer};
use rpc_tracing::{ClientTraceLayer, ServerTraceLayer};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tower_layer::{Identity as NoLayer, Stack};

/// Load generator for rpc-core (like ghz). It drives the echo.Echo service of
/// proto/echo.proto: with no arguments it starts an echo server in-process on 127.0.0.1 and
/// runs a short suite; with --target, the server must serve echo.Echo (as `rpc-bench serve`
/// does). It exits non-zero when every call failed, saying why.
#[derive(Debug, Parser)]
#[command(name = "rpc-bench", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    net: NetOptions,
    /// Record call metrics with rpc-metrics, to a Prometheus recorder: ServerMetricsLayer on
    /// the in-process server, ClientMetricsLayer over the client's channels (what they cost
    /// is what this measures). The table is followed by the calls they counted.
    #[arg(long)]
    metrics: bool,
    /// Where the time of unary and server-streaming calls went, by phase (encode, waiting
    /// for a stream, network, the server's handler as it reports it, decode): percentiles
    /// printed after the table. Costs a few clock reads per call.
    #[arg(long)]
    breakdown: bool,
    /// Trace every call with rpc-tracing: ServerTraceLayer on the in-process server,
    /// ClientTraceLayer over the client's channels, to a tracing-subscriber at INFO (what
    /// spans cost is what this measures): `fmt` (the default) formats each span's fields
    /// into a sink; `fmt-close` also writes a line per closed span; `registry` only keeps
    /// the spans (the cost of the instrumentation itself).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "fmt")]
    tracing: Option<TraceMode>,
    /// Send the client's calls through a tower layer that does nothing: what leaving the
    /// plain channel's direct path costs (the base that --metrics and --tracing add to).
    #[arg(long)]
    pass_through_layer: bool,
    /// Call over gRPC on HTTP/2 (cleartext h2c, rpc-grpc's `GrpcConnector`) instead of QUIC:
    /// --target is then an HTTP/2 gRPC server (`rpc-bench serve --h2-addr`, tonic, ...);
    /// without it, the in-process server's HTTP/2 port.
    #[arg(long)]
    http2: bool,
    /// Balanced runs: a list or DNS --target, --policy, --cache (rpc_bench::balance).
    #[command(flatten)]
    balance: rpc_bench::balance::BalanceArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the echo server alone (for client and server in separate processes).
    Serve(ServeArgs),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        None if cli.balance.wanted(&cli.load) => {
            rpc_bench::balance::bench(cli.load, cli.net, cli.balance)
        }
        None => {
            let extras = Extras::from(&cli);
            bench(cli.load, cli.net, extras)
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rpc-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), BoxError> {
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => ServerTlsConfig::new(Identity::from_pem_files(cert, key)?),
        _ => SelfSigned::loopback()?.server_config()?,
    };
    let rt = server::runtime(args.workers)?;
    rt.block_on(async {
        let server = server::builder(tls, &args.net).bind(args.addr)?;
        println!(
            "echo server listening on {} (pid {})",
            server.local_addr(),
            std::process::id()
        );
        if let Some(addr) = args.h2_addr {
            let bound = server::serve_http2(server.handle(), addr).await?;
            println!("gRPC over HTTP/2 (h2c) on {bound}");
        }
        let limit = args.exit_after;
        server
            .serve_with_shutdown(async move {
                // Drains gracefully on Ctrl-C or SIGTERM (or after `--exit-after`).
                let signal = rpc_core::server::shutdown_signal();
                match limit {
                    Some(d) => {
                        tokio::select! {
                            () = signal => {}
                            _ = tokio::time::sleep(d) => {}
                        }
                    }
                    None => signal.await,
                }
            })
            .await;
        Ok::<_, BoxError>(())
    })
}

/// A Prometheus recorder for `--metrics`, drained every 5 s as its HTTP exporter would (so
/// a run pays for the upkeep too).
fn install_recorder() -> Result<PrometheusHandle, BoxError> {
    // Buckets, as production setups use: the default summaries' quantile sketches would
    // weigh on every recorded value.
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("duration".into()),
            rpc_metrics::DURATION_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Suffix("size".into()), rpc_metrics::SIZE_BUCKETS)?
        .install_recorder()?;
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            upkeep.run_upkeep();
        })?;
    Ok(handle)
}

/// The call counters and gauges of a `--metrics` run, as Prometheus would scrape them.
fn print_call_counts(recorder: &PrometheusHandle) {
    println!("metrics recorded:");
    for line in recorder.render().lines() {
        if line.starts_with("rpc_") && line.contains("_calls_") {
            println!("  {line}");
        }
    }
}

/// The subscriber of `--tracing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TraceMode {
    /// A registry keeping spans, no output.
    Registry,
    /// `tracing_subscriber::fmt`, span fields formatted, output to a sink.
    Fmt,
    /// The same, plus a line for every closed span.
    FmtClose,
}

/// What a run adds to the plain calls.
#[derive(Debug, Clone, Copy)]
struct Extras {
    metrics: bool,
    tracing: Option<TraceMode>,
    breakdown: bool,
    pass_through: bool,
    http2: bool,
}

impl From<&Cli> for Extras {
    fn from(cli: &Cli) -> Self {
        Extras {
            metrics: cli.metrics,
            tracing: cli.tracing,
            breakdown: cli.breakdown,
            pass_through: cli.pass_through_layer,
            http2: cli.http2,
        }
    }
}

/// Runs `plans` with the calls going through `layer` (the plain channel's direct path when
/// it is `Identity`).
fn run_layered<L>(
    endpoint: Endpoint,
    layer: L,
    phases: Option<Arc<Breakdown>>,
    plans: &[rpc_bench::load::Plan],
    load: &LoadArgs,
) -> Result<Vec<rpc_bench::report::Report>, RunError>
where
    L: tower_layer::Layer<rpc_core::Channel> + Send + Sync + 'static,
    L::Service: rpc_core::client::service::CallService,
{
    let driver = || Ok(RpcDriver::with_layer(endpoint, layer).with_breakdown(phases));
    rpc_bench::run_plans(driver, plans, load.workers, load.server_pid)
}

/// The `tracing` subscriber of `mode`, at INFO, writing to a sink.
fn install_subscriber(mode: TraceMode) -> Result<(), BoxError> {
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::layer::SubscriberExt;
    let level = tracing_subscriber::filter::LevelFilter::INFO;
    let fmt = |events| {
        tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .with_max_level(level)
            .with_span_events(events)
            .finish()
    };
    match mode {
        TraceMode::Registry => {
            let registry = tracing_subscriber::registry().with(level);
            tracing::subscriber::set_global_default(registry)?
        }
        TraceMode::Fmt => tracing::subscriber::set_global_default(fmt(FmtSpan::NONE))?,
        TraceMode::FmtClose => tracing::subscriber::set_global_default(fmt(FmtSpan::CLOSE))?,
    }
    Ok(())
}

fn bench(load: LoadArgs, net: NetOptions, extras: Extras) -> Result<(), BoxError> {
    let Extras {
        metrics,
        tracing,
        breakdown,
        pass_through,
        http2,
    } = extras;
    if let Some(mode) = tracing {
        install_subscriber(mode)?;
    }
    // Options clap cannot check alone (a ramp with -n...) are usage errors all the same.
    let plans = load.try_plans().unwrap_or_else(|e| {
        Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, e)
            .exit()
    });
    // Before any call: the layers register their metrics on a method's first call.
    let recorder = if metrics {
        Some(install_recorder()?)
    } else {
        None
    };
    let mut local = None;
    let mut target = load.target.clone().unwrap_or_default();
    let endpoint = match &load.target {
        None => {
            let cert = SelfSigned::generate(&["localhost"])?;
            let mut builder = server::builder(cert.server_config()?, &net);
            if metrics {
                builder = builder.layer(ServerMetricsLayer::new());
            }
            if tracing.is_some() {
                builder = builder.layer(ServerTraceLayer::new());
            }
            let addr = "127.0.0.1:0".parse()?;
            let ep = if http2 {
                let server = BackgroundServer::start_with_http2(addr, builder)?;
                let h2 = server.http2_addr().ok_or("no HTTP/2 port")?;
                target = h2.to_string();
                local = Some(server);
                rpc_grpc::GrpcConnector::new(format!("http://{h2}"))?.endpoint()
            } else {
                let server = BackgroundServer::start_with(addr, builder)?;
                target = server.local_addr().to_string();
                local = Some(server);
                Endpoint::from_addr(target.parse()?)
                    .tls_config(cert.client_config().domain_name("localhost"))
            };
            ep
        }
        Some(target) if http2 => {
            rpc_grpc::GrpcConnector::new(format!("http://{target}"))?.endpoint()
        }
        Some(target) => {
            let mut tls = ClientTlsConfig::new();
            if load.insecure_dev {
                tls = SelfSigned::loopback()?.client_config();
            }
            if let Some(ca) = &load.ca {
                tls = tls
                    .with_webpki_roots(false)
                    .ca_certificate(Certificate::from_pem_file(ca)?);
            }
            if let Some(domain) = &load.domain {
                tls = tls.domain_name(domain.clone());
            }
            Endpoint::new(target)?.tls_config(tls)
        }
    };
    let endpoint = if load.timeout.is_zero() {
        endpoint
    } else {
        endpoint.timeout(load.timeout)
    };
    let endpoint = match load.connect_timeout {
        Some(t) => endpoint.handshake_timeout(t),
        None => endpoint,
    };
    let endpoint = rpc_bench::apply_net(endpoint, &net);
    // Two driver types: without --metrics the client keeps the plain Channel (direct path).
    let phases = breakdown.then(|| Arc::new(Breakdown::new()));
    // Without layers the client keeps the plain Channel (direct path).
    let reports = match (metrics, tracing.is_some()) {
        (false, false) if pass_through => {
            let nothing = tower::util::MapRequestLayer::new(|call: CallRequest| call);
            run_layered(endpoint, nothing, phases.clone(), &plans, &load)
        }
        (false, false) => run_layered(endpoint, NoLayer::new(), phases.clone(), &plans, &load),
        (true, false) => run_layered(
            endpoint,
            ClientMetricsLayer::new(),
            phases.clone(),
            &plans,
            &load,
        ),
        (false, true) => run_layered(
            endpoint,
            ClientTraceLayer::new(),
            phases.clone(),
            &plans,
            &load,
        ),
        (true, true) => {
            let both = Stack::new(ClientMetricsLayer::new(), ClientTraceLayer::new());
            run_layered(endpoint, both, phases.clone(), &plans, &load)
        }
    }
    .map_err(|e| match e {
        RunError::Connect(failure) => {
            let (label, details) = split_failure(&failure);
            let reason = failure_reason(label, details).replace(['\r', '\n'], " ");
            format!("could not reach {target}: {reason}")
        }
        e => e.to_string(),
    })?;
    let scope = rpc_bench::cpu_scope(local.is_some(), load.server_pid);
    if let Some(server) = local {
        server.stop();
    }
    rpc_bench::output(&reports, &load, &scope)?;
    if let Some(phases) = phases.filter(|_| !load.output.json) {
        println!(
            "where the time went ({} calls, warm-up included):",
            phases.calls()
        );
        print!("{}", phases.table());
    }
    if let Some(recorder) = recorder.filter(|_| !load.output.json) {
        print_call_counts(&recorder);
    }
    match rpc_bench::report::all_failed(&reports, &target) {
        Some(reason) => Err(reason.into()),
        None => Ok(()),
    }
}
