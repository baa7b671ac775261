//! Both layers over the in-memory transport, recording to a subscriber that keeps every
//! closed span's name and fields: attributes, status codes, the trace crossing the wire, and
//! malformed `traceparent` values ignored.

use rpc_core::client::service::unary;
use rpc_core::codec::ProstCodec;
use rpc_core::server::{CallFuture, NamedService, ServerCall, Service};
use rpc_core::{Channel, Code, Endpoint, Request, Response, Server, Status};
use rpc_tracing::{ClientTraceLayer, ServerTraceLayer, TraceContext, TraceState};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tower::Layer as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Codec = ProstCodec<String, String>;

/// `Say` echoes, `Trace` answers the trace id it was handed, `Fail` answers NOT_FOUND.
struct Echo;

impl NamedService for Echo {
    const NAME: &'static str = "demo.Echo";
}

impl Service for Echo {
    fn call(&self, call: ServerCall) -> CallFuture {
        if call.method() == "Chat" {
            // Echoes every request.
            return rpc_core::server::streaming(call, Codec::new(), |req| async move {
                Ok(Response::new(req.into_inner()))
            });
        }
        let method = call.method().to_owned();
        rpc_core::server::unary(call, Codec::new(), move |req| async move {
            match method.as_str() {
                "Say" => Ok(Response::new(req.into_inner())),
                "Trace" => {
                    let context = req.extensions().get::<TraceContext>();
                    Ok(Response::new(
                        context.map(|c| c.trace_id()).unwrap_or_default(),
                    ))
                }
                "State" => {
                    let state = req.extensions().get::<TraceState>();
                    Ok(Response::new(
                        state.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    ))
                }
                _ => Err(Status::not_found("no such thing")),
            }
        })
    }
}

/// A closed span: its name and fields, as strings, and the events recorded in it.
#[derive(Debug, Clone)]
struct Captured {
    name: &'static str,
    fields: HashMap<String, String>,
    events: Vec<HashMap<String, String>>,
}

impl Captured {
    fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

impl Visit for Captured {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields
            .insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), value.to_owned());
    }
}

/// Keeps each span's fields in its extensions, and the span in `closed` when it closes.
#[derive(Clone, Default)]
struct Capture {
    closed: Arc<Mutex<Vec<Captured>>>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut captured = Captured {
            name: attrs.metadata().name(),
            fields: HashMap::new(),
            events: Vec::new(),
        };
        attrs.record(&mut captured);
        ctx.span(id).unwrap().extensions_mut().insert(captured);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut extensions = span.extensions_mut();
        if let Some(captured) = extensions.get_mut::<Captured>() {
            values.record(captured);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut fields = Captured {
            name: "event",
            fields: HashMap::new(),
            events: Vec::new(),
        };
        event.record(&mut fields);
        let mut extensions = span.extensions_mut();
        if let Some(captured) = extensions.get_mut::<Captured>() {
            captured.events.push(fields.fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let captured = span.extensions_mut().remove::<Captured>();
        self.closed.lock().unwrap().extend(captured);
    }
}

/// Runs `test` against a traced server over the in-memory transport, with a plain channel
/// to it, and returns the spans closed by then.
fn traced<F: Future<Output = ()>>(test: impl FnOnce(Channel) -> F) -> Vec<Captured> {
    traced_over(false, test)
}

/// [`traced`], over QUIC on 127.0.0.1 if `quic`.
fn traced_over<F: Future<Output = ()>>(
    quic: bool,
    test: impl FnOnce(Channel) -> F,
) -> Vec<Captured> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let builder = Server::builder()
                .layer(ServerTraceLayer::new())
                .add_service(Echo);
            let (server, endpoint) = if quic {
                let cert = rpc_core::tls::dev::SelfSigned::loopback().unwrap();
                let server = builder
                    .tls_config(cert.server_config().unwrap())
                    .bind("127.0.0.1:0".parse().unwrap())
                    .unwrap();
                let addr = server.local_addr();
                let endpoint = Endpoint::from_addr(addr).tls_config(cert.client_config());
                (server, endpoint)
            } else {
                let (connector, listener) = rpc_core::transport::mem::listener();
                (
                    builder.listen(listener),
                    Endpoint::from_connector(connector),
                )
            };
            let handle = server.handle();
            let serving = tokio::spawn(server.serve());
            let channel = endpoint.connect().await.unwrap();
            test(channel.clone()).await;
            // A server span closes when its call's task ends, just after the answer: once the
            // server has stopped, every call task has ended.
            channel.close();
            handle.shutdown();
            serving.await.unwrap();
        })
    });
    let closed = capture.closed.lock().unwrap().clone();
    closed
}

fn one<'a>(spans: &'a [Captured], name: &str) -> &'a Captured {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "{name} in {spans:?}");
    found[0]
}

fn check_attributes(span: &Captured, method: &str) {
    assert_eq!(span.get("rpc.system"), Some("grpc"));
    assert_eq!(span.get("rpc.service"), Some("demo.Echo"));
    assert_eq!(span.get("rpc.method"), Some(method));
    let otel_name = format!("demo.Echo/{method}");
    assert_eq!(span.get("otel.name"), Some(otel_name.as_str()));
    assert_eq!(span.get("network.transport"), Some("quic"));
}

async fn call(
    client: &impl rpc_core::client::service::CallService,
    method: &str,
    request: Request<String>,
) -> Result<String, Status> {
    // The paths are 'static.
    let path = match method {
        "Say" => "/demo.Echo/Say",
        "Trace" => "/demo.Echo/Trace",
        "State" => "/demo.Echo/State",
        _ => "/demo.Echo/Fail",
    };
    Ok(unary(client, path, request, Codec::new())
        .await?
        .into_inner())
}

#[test]
fn a_call_has_a_client_and_a_server_span_in_one_trace() {
    let spans = traced(|channel| async move {
        let client = ClientTraceLayer::new().layer(channel);
        let reply = call(&client, "Say", Request::new("hi".into())).await;
        assert_eq!(reply.unwrap(), "hi");
    });
    let client = one(&spans, "rpc.client");
    let server = one(&spans, "rpc.server");
    check_attributes(client, "Say");
    check_attributes(server, "Say");
    assert_eq!(client.get("rpc.grpc.status_code"), Some("0"));
    assert_eq!(server.get("rpc.grpc.status_code"), Some("0"));
    assert_eq!(client.get("otel.kind"), Some("client"));
    assert_eq!(server.get("otel.kind"), Some("server"));
    assert_eq!(client.get("otel.status_code"), None);
    // The server continues the client's trace, under the client's span.
    let trace_id = client.get("trace_id").unwrap();
    assert_eq!(trace_id.len(), 32);
    assert_eq!(server.get("trace_id"), Some(trace_id));
    assert_eq!(server.get("parent_span_id"), client.get("span_id"));
    assert_eq!(client.get("parent_span_id"), None);
}

#[test]
fn a_client_continues_the_trace_in_its_request() {
    let parent = TraceContext::new_root();
    let spans = traced(|channel| async move {
        let client = ClientTraceLayer::new().layer(channel);
        let mut request = Request::new("hi".to_owned());
        request.extensions_mut().insert(parent);
        // The handler is handed the trace, for its own calls.
        let seen = call(&client, "Trace", request).await.unwrap();
        assert_eq!(seen, parent.trace_id());
    });
    let client = one(&spans, "rpc.client");
    let server = one(&spans, "rpc.server");
    let trace_id = parent.trace_id();
    assert_eq!(client.get("trace_id"), Some(trace_id.as_str()));
    assert_eq!(server.get("trace_id"), Some(trace_id.as_str()));
    assert_eq!(
        client.get("parent_span_id"),
        Some(parent.span_id().as_str())
    );
    assert_ne!(client.get("span_id"), Some(parent.span_id().as_str()));
}

#[test]
fn a_failing_call_records_its_code() {
    let spans = traced(|channel| async move {
        let client = ClientTraceLayer::new().layer(channel);
        let err = call(&client, "Fail", Request::new("x".into())).await;
        assert_eq!(err.unwrap_err().code(), Code::NotFound);
    });
    let client = one(&spans, "rpc.client");
    let server = one(&spans, "rpc.server");
    check_attributes(server, "Fail");
    assert_eq!(client.get("rpc.grpc.status_code"), Some("5"));
    assert_eq!(server.get("rpc.grpc.status_code"), Some("5"));
    // NOT_FOUND is the client's error, not the server's (OpenTelemetry).
    assert_eq!(client.get("otel.status_code"), Some("ERROR"));
    assert_eq!(server.get("otel.status_code"), None);
}

#[test]
fn a_server_ignores_a_malformed_traceparent() {
    const GARBAGE: &[&str] = &[
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-00",
        "not a traceparent",
    ];
    let spans = traced(|channel| async move {
        // A plain channel: the client layer would replace the header.
        for value in GARBAGE {
            let mut request = Request::new("hi".to_owned());
            request.metadata_mut().insert("traceparent", value).unwrap();
            assert_eq!(call(&channel, "Say", request).await.unwrap(), "hi");
        }
    });
    let servers: Vec<_> = spans.iter().filter(|s| s.name == "rpc.server").collect();
    assert_eq!(servers.len(), GARBAGE.len());
    for server in servers {
        assert_eq!(server.get("rpc.grpc.status_code"), Some("0"));
        assert_eq!(server.get("trace_id"), None);
        assert_eq!(server.get("parent_span_id"), None);
    }
}

#[test]
fn a_client_span_names_its_server_and_the_tracestate_travels() {
    let spans = traced(|channel| async move {
        let client = ClientTraceLayer::new()
            .server("db.internal", 7000)
            .layer(channel);
        let mut request = Request::new(String::new());
        request.extensions_mut().insert(TraceContext::new_root());
        request
            .extensions_mut()
            .insert(TraceState::parse("vendor=abc,other=1").unwrap());
        let state = call(&client, "State", request).await.unwrap();
        assert_eq!(state, "vendor=abc,other=1");
        // Garbage in a server's incoming tracestate is dropped, not handed on.
        let mut request = Request::new(String::new());
        let traceparent = TraceContext::new_root().to_traceparent();
        request
            .metadata_mut()
            .insert("traceparent", &traceparent)
            .unwrap();
        request
            .metadata_mut()
            .insert("tracestate", "no members here")
            .unwrap();
        let state = call(&channel_of(&client), "State", request).await.unwrap();
        assert_eq!(state, "");
    });
    let client = spans.iter().find(|s| s.name == "rpc.client").unwrap();
    assert_eq!(client.get("server.address"), Some("db.internal"));
    assert_eq!(client.get("server.port"), Some("7000"));
}

/// The channel under a traced client (its calls are not traced).
fn channel_of(client: &rpc_tracing::ClientTrace<Channel>) -> Channel {
    client.get_ref().clone()
}

#[test]
fn quic_facts_and_the_time_breakdown_are_span_fields() {
    let spans = traced_over(true, |channel| async move {
        let client = ClientTraceLayer::for_channel(&channel)
            .quic_facts(true)
            .layer(channel);
        for _ in 0..2 {
            let reply = call(&client, "Say", Request::new("hi".into())).await;
            assert_eq!(reply.unwrap(), "hi");
        }
    });
    let clients: Vec<_> = spans.iter().filter(|s| s.name == "rpc.client").collect();
    assert_eq!(clients.len(), 2);
    // Client-initiated bidirectional streams are 0, 4, 8... (RFC 9000 §2.1).
    let ids: Vec<_> = clients.iter().map(|s| s.get("quic.stream_id")).collect();
    assert_eq!(ids, [Some("0"), Some("4")]);
    for span in clients {
        assert_eq!(span.get("server.address"), Some("127.0.0.1"));
        // (The server's handler time comes with the trailers, after the span ends at the
        // response head: it is in the response's `CallInfo`, not on the span.)
        for field in ["quic.rtt_us", "quic.cwnd", "rpc.time.network_us"] {
            assert!(span.get(field).is_some(), "{field} in {span:?}");
        }
        assert_eq!(span.get("quic.zero_rtt"), Some("false"));
    }
}

/// The `message` events of `span` of one type, as their ids.
fn message_ids(span: &Captured, kind: &str) -> Vec<String> {
    span.events
        .iter()
        .filter(|e| e.get("rpc.message.type").map(String::as_str) == Some(kind))
        .map(|e| e["rpc.message.id"].clone())
        .collect()
}

#[test]
fn streamed_messages_are_events_in_the_call_spans() {
    let spans = traced(|channel| async move {
        let client = ClientTraceLayer::new().layer(channel);
        let requests = futures_util::stream::iter(["a", "b", "c"].map(String::from));
        let response = rpc_core::client::service::streaming(
            &client,
            "/demo.Echo/Chat",
            Request::new(requests),
            Codec::new(),
        )
        .await
        .unwrap();
        let mut replies = response.into_inner();
        let mut got = Vec::new();
        while let Some(m) = replies.message().await.unwrap() {
            got.push(m);
        }
        assert_eq!(got, ["a", "b", "c"]);
    });
    let server = one(&spans, "rpc.server");
    assert_eq!(message_ids(server, "RECEIVED"), ["1", "2", "3"]);
    assert_eq!(message_ids(server, "SENT"), ["1", "2", "3"]);
    // The client's requests go out from a task that carries the client's span.
    let client = one(&spans, "rpc.client");
    assert_eq!(message_ids(client, "SENT"), ["1", "2", "3"]);
    let size = server
        .events
        .iter()
        .find_map(|e| e.get("rpc.message.compressed_size"));
    // "a" encoded by prost as a message: field 1's tag, its length, the byte.
    assert_eq!(size.map(String::as_str), Some("3"), "{server:?}");
}
