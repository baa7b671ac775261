//! Both layers over the in-memory transport and over QUIC, recording to a local
//! `DebuggingRecorder`: counts per method and status, the in-flight gauges back to zero
//! after a cancelled call, histogram sample counts.

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rpc_core::client::service::unary;
use rpc_core::codec::ProstCodec;
use rpc_core::server::{CallFuture, NamedService, ServerCall, Service};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Channel, Code, Endpoint, Request, Response, Server, ServerBuilder, Status};
use rpc_metrics::{ClientMetrics, ClientMetricsLayer, ServerMetricsLayer};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tower::Layer;

type Codec = ProstCodec<String, String>;

/// `Say` echoes, `Fail` answers NOT_FOUND, `Slow` never answers in time.
struct Echo;

impl NamedService for Echo {
    const NAME: &'static str = "demo.Echo";
}

impl Service for Echo {
    fn call(&self, call: ServerCall) -> CallFuture {
        let method = call.method().to_owned();
        rpc_core::server::unary(call, Codec::new(), move |req| async move {
            match method.as_str() {
                "Say" => Ok(Response::new(req.into_inner())),
                "Slow" => {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    Ok(Response::new(String::new()))
                }
                _ => Err(Status::not_found("no such thing")),
            }
        })
    }
}

/// What the recorder held, summed across reads: its snapshots drain counters, histograms
/// and even gauges (swapped to zero), so the sum of the reads is the value (the layers only
/// ever add to and take from a gauge).
#[derive(Default)]
struct Seen {
    values: HashMap<String, f64>,
    samples: HashMap<String, usize>,
}

/// `name{k=v,...}`, labels in order.
fn key_of(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

impl Seen {
    fn read(&mut self, snapshotter: &Snapshotter) {
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
            let k = key_of(key.name(), &labels);
            match value {
                DebugValue::Counter(n) => *self.values.entry(k).or_default() += n as f64,
                DebugValue::Gauge(g) => *self.values.entry(k).or_default() += g.into_inner(),
                DebugValue::Histogram(h) => *self.samples.entry(k).or_default() += h.len(),
            }
        }
    }

    fn value(&self, name: &str, method: &str, code: Option<&str>) -> f64 {
        let mut labels = vec![("rpc.service", "demo.Echo"), ("rpc.method", method)];
        labels.extend(code.map(|c| ("rpc.grpc.status_code", c)));
        let key = key_of(name, &labels);
        self.values.get(&key).copied().unwrap_or(0.0)
    }

    fn samples(&self, name: &str, method: &str, code: Option<&str>) -> usize {
        let mut labels = vec![("rpc.service", "demo.Echo"), ("rpc.method", method)];
        labels.extend(code.map(|c| ("rpc.grpc.status_code", c)));
        self.samples
            .get(&key_of(name, &labels))
            .copied()
            .unwrap_or(0)
    }
}

/// Runs `test` on a current-thread runtime with a local recorder, and returns what it
/// recorded.
fn recorded<F: Future<Output = ()>>(test: impl FnOnce(Snapshotter) -> F) -> Seen {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut seen = Seen::default();
    metrics::with_local_recorder(&recorder, || runtime.block_on(test(recorder.snapshotter())));
    seen.read(&snapshotter);
    seen
}

fn server() -> ServerBuilder {
    Server::builder().layer(ServerMetricsLayer::new())
}

/// Three `Say`, one `Fail`, one `Slow` given up on after 50 ms; then waits until the server
/// saw the cancellation.
async fn calls(client: ClientMetrics<Channel>, snapshotter: &Snapshotter, seen: &mut Seen) {
    let say = |s: &str| {
        unary(
            &client,
            "/demo.Echo/Say",
            Request::new(s.to_owned()),
            Codec::new(),
        )
    };
    for s in ["a", "bb", "ccc"] {
        assert_eq!(say(s).await.unwrap().into_inner(), s);
    }
    let err = unary(
        &client,
        "/demo.Echo/Fail",
        Request::new("x".into()),
        Codec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let slow = unary(
        &client,
        "/demo.Echo/Slow",
        Request::new("x".into()),
        Codec::new(),
    );
    assert!(tokio::time::timeout(Duration::from_millis(50), slow)
        .await
        .is_err());
    for _ in 0..500 {
        seen.read(snapshotter);
        if seen.value("rpc.server.calls_finished", "Slow", Some("1")) == 1.0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never counted the cancelled call");
}

fn check(seen: &Seen) {
    for side in ["server", "client"] {
        let name = |m: &str| format!("rpc.{side}.{m}");
        assert_eq!(
            seen.value(&name("calls_started"), "Say", None),
            3.0,
            "{side}"
        );
        assert_eq!(seen.value(&name("calls_finished"), "Say", Some("0")), 3.0);
        assert_eq!(seen.value(&name("calls_finished"), "Fail", Some("5")), 1.0);
        // The client dropped its future; the server saw the stream reset: CANCELLED both.
        assert_eq!(seen.value(&name("calls_finished"), "Slow", Some("1")), 1.0);
        for method in ["Say", "Fail", "Slow"] {
            assert_eq!(seen.value(&name("calls_in_flight"), method, None), 0.0);
        }
        assert_eq!(seen.samples(&name("duration"), "Say", Some("0")), 3);
        assert_eq!(seen.samples(&name("duration"), "Fail", Some("5")), 1);
    }
    // Every byte one side's streams sent, the other's received: the same stream bytes,
    // counted on each side as they crossed the transport (heads, frames, trailers).
    for method in ["Say", "Fail"] {
        let sent = seen.value("rpc.client.bytes_sent", method, None);
        let answered = seen.value("rpc.server.bytes_sent", method, None);
        assert!(sent > 0.0 && answered > 0.0, "{method}: {sent} {answered}");
        assert_eq!(seen.value("rpc.server.bytes_received", method, None), sent);
        assert_eq!(
            seen.value("rpc.client.bytes_received", method, None),
            answered
        );
    }
    // One request message per call, seen on the client only.
    assert_eq!(seen.samples("rpc.client.request.size", "Say", None), 3);
    assert_eq!(seen.samples("rpc.client.request.size", "Slow", None), 1);
}

#[test]
fn counts_calls_over_the_in_memory_transport() {
    let mut outer = Seen::default();
    let polled = &mut outer;
    let seen = recorded(|snapshotter| async move {
        let (connector, listener) = rpc_core::transport::mem::listener();
        tokio::spawn(server().add_service(Echo).listen(listener).serve());
        let channel = Endpoint::from_connector(connector).connect().await.unwrap();
        let client = ClientMetricsLayer::new().layer(channel);
        calls(client, &snapshotter, polled).await;
    });
    merge(&mut outer, seen);
    check(&outer);
}

#[test]
fn counts_calls_over_quic() {
    let mut outer = Seen::default();
    let polled = &mut outer;
    let seen = recorded(|snapshotter| async move {
        let cert = SelfSigned::loopback().unwrap();
        let server = server()
            .tls_config(cert.server_config().unwrap())
            .add_service(Echo)
            .bind("127.0.0.1:0".parse().unwrap())
            .unwrap();
        let port = server.local_addr().port();
        tokio::spawn(server.serve());
        let channel = Endpoint::new(format!("localhost:{port}"))
            .unwrap()
            .tls_config(cert.client_config())
            .connect()
            .await
            .unwrap();
        let client = ClientMetricsLayer::new().layer(channel);
        calls(client, &snapshotter, polled).await;
    });
    merge(&mut outer, seen);
    check(&outer);
}

/// `later`'s reads added to `earlier`'s.
fn merge(earlier: &mut Seen, later: Seen) {
    for (k, v) in later.values {
        *earlier.values.entry(k).or_default() += v;
    }
    for (k, n) in later.samples {
        *earlier.samples.entry(k).or_default() += n;
    }
}
