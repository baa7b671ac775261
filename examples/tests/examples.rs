//! Runs each example binary so they cannot rot.

use std::process::Command;

#[test]
fn helloworld_runs_end_to_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_helloworld"))
        .output()
        .expect("run helloworld");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("reply: Hello world!"), "{stdout}");
}

#[test]
fn mtls_greets_callers_by_their_certificate() {
    let out = Command::new(env!("CARGO_BIN_EXE_mtls"))
        .output()
        .expect("run mtls");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "alice: Hello alice, known as spiffe://example.org/alice!",
        "bob: Hello bob, known as bob!",
        "eve: refused:",
    ] {
        assert!(stdout.contains(line), "{line:?} not in {stdout}");
    }
    assert!(stdout.contains("requires a client certificate"), "{stdout}");
}

#[test]
fn macro_service_runs_end_to_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_macro_service"))
        .output()
        .expect("run macro_service");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "reply: Hello world!",
        "streamed reply: Hello stream (#1)!",
        "streamed reply: Hello stream (#2)!",
        "reply to all: Hello Ann, Bob, Cy!",
        "chat reply: Hello Dee!",
        "chat reply: Hello Eve!",
        // The reflection service, with the descriptors the macros built.
        "Reflection: services grpc.reflection.v1.ServerReflection, helloworld.Greeter",
        "Reflection: helloworld.Greeter is in helloworld/Greeter.proto (imports \
         helloworld/HelloReply.proto, helloworld/HelloRequest.proto)",
        "Reflection: rpc SayHello(.helloworld.HelloRequest) returns (.helloworld.HelloReply)",
        "Reflection: rpc SayHelloAgain(.helloworld.HelloRequest) returns \
         (stream .helloworld.HelloReply)",
        "Reflection: rpc GreetAll(stream .helloworld.HelloRequest) returns \
         (.helloworld.HelloReply)",
        "Reflection: rpc Chat(stream .helloworld.HelloRequest) returns \
         (stream .helloworld.HelloReply)",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

fn run(bin: &str) -> String {
    let out = Command::new(bin).output().expect("run example");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn route_guide_runs_all_four_kinds() {
    let out = run(env!("CARGO_BIN_EXE_route_guide"));
    assert!(out.contains("GetFeature: Patriots Path"), "{out}");
    assert!(out.contains("ListFeatures: 5 features"), "{out}");
    assert!(out.contains("RecordRoute: 5 points, 5 features"), "{out}");
    assert!(out.contains("RouteChat: got \"note 0\""), "{out}");
    assert!(
        out.contains(
            "Reflection: services grpc.health.v1.Health, grpc.reflection.v1.ServerReflection, \
             routeguide.RouteGuide"
        ),
        "{out}"
    );
}

#[test]
fn chat_shows_cancellation_and_shutdown() {
    let out = run(env!("CARGO_BIN_EXE_chat"));
    assert!(out.contains("[bob] alice: hi bob"), "{out}");
    assert!(out.contains("[alice] bob left"), "{out}");
    assert!(out.contains("[alice] call ended: Unavailable"), "{out}");
}

#[test]
fn middleware_runs_layers_and_interceptors_on_both_sides() {
    let out = run(env!("CARGO_BIN_EXE_middleware"));
    // The server's interceptor rejected the call without a token, and its layer saw it.
    assert!(
        out.contains("without a token: Unauthenticated (missing or unknown token)"),
        "{out}"
    );
    assert!(
        out.contains("server: /helloworld.Greeter/SayHello -> Unauthenticated"),
        "{out}"
    );
    // The client's stack added the token; the handler saw the user the interceptor found.
    assert!(
        out.contains("reply: Hello world! (asked by alice)"),
        "{out}"
    );
    assert!(
        out.contains("server: /helloworld.Greeter/SayHello -> Ok"),
        "{out}"
    );
}

#[test]
fn auth_allows_denies_and_refuses_unauthenticated_callers() {
    let out = run(env!("CARGO_BIN_EXE_auth"));
    assert!(
        out.contains("alice: Hello world! (asked by alice)"),
        "{out}"
    );
    assert!(out.contains("bob: PermissionDenied"), "{out}");
    assert!(
        out.contains("mallory: Unauthenticated (invalid token: InvalidAudience)"),
        "{out}"
    );
    assert!(
        out.contains("anonymous: Unauthenticated (missing credentials)"),
        "{out}"
    );
}

#[test]
fn rich_errors_prints_the_details_the_server_sent() {
    let out = run(env!("CARGO_BIN_EXE_rich_errors"));
    for line in [
        "reply: Hello Ada!",
        "status: InvalidArgument: bad name",
        "bad field: name: must not be empty",
        "tell the user (en-US): Please enter your name.",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn metrics_exports_what_both_layers_recorded() {
    let out = run(env!("CARGO_BIN_EXE_metrics"));
    assert!(out.contains("mallory: NotFound (who is mallory?)"), "{out}");
    let labels = r#"rpc_service="helloworld.Greeter",rpc_method="SayHello""#;
    for side in ["server", "client"] {
        // Three calls answered, one NOT_FOUND (code 5), none left in flight.
        for line in [
            format!("rpc_{side}_calls_started{{{labels}}} 4"),
            format!("rpc_{side}_calls_finished{{{labels},rpc_grpc_status_code=\"0\"}} 3"),
            format!("rpc_{side}_calls_finished{{{labels},rpc_grpc_status_code=\"5\"}} 1"),
            format!("rpc_{side}_calls_in_flight{{{labels}}} 0"),
            format!("rpc_{side}_duration_count{{{labels},rpc_grpc_status_code=\"0\"}} 3"),
        ] {
            assert!(
                out.lines().any(|l| l == line),
                "missing {line:?} in:\n{out}"
            );
        }
    }
    let sizes = format!("rpc_client_request_size_count{{{labels}}} 4");
    assert!(
        out.lines().any(|l| l == sizes),
        "missing {sizes:?} in:\n{out}"
    );
}

#[test]
fn tracing_shows_one_trace_over_two_hops() {
    let out = run(env!("CARGO_BIN_EXE_tracing"));
    assert!(out.contains("reply: Hello trace! (via front)"), "{out}");
    assert!(out.contains("call info: stream Some(0)"), "{out}");
    // Four spans closed (the client's, the front's server and client spans, the back's
    // server span), all in the trace the client started.
    let closed: Vec<&str> = out.lines().filter(|l| l.ends_with(": close")).collect();
    assert_eq!(closed.len(), 4, "{out}");
    let trace_ids: std::collections::HashSet<&str> = closed
        .iter()
        .flat_map(|l| l.split(['{', ' ', '}']))
        .filter_map(|f| f.strip_prefix("trace_id="))
        .collect();
    assert_eq!(trace_ids.len(), 1, "one trace: {out}");
    for field in ["quic.stream_id=", "quic.rtt_us=", "server.port="] {
        assert!(out.contains(field), "missing {field} in:\n{out}");
    }
}

#[test]
fn retries_retries_what_is_safe_and_hedges_the_slow_call() {
    let out = run(env!("CARGO_BIN_EXE_retries"));
    for line in [
        "server: lookup widget attempt 1: UNAVAILABLE",
        "server: lookup widget attempt 2: UNAVAILABLE, retry in 50 ms",
        "server: lookup widget attempt 3: 42 in stock",
        "client: widget: 42 in stock",
        "server: reserve attempt 1: UNAVAILABLE",
        "client: reserve failed: Unavailable (not idempotent: not retried)",
        "server: lookup gadget attempt 1: stuck",
        "server: lookup gadget attempt 2: 42 in stock",
        "client: gadget: 42 in stock (the hedge answered, the stuck attempt was cancelled)",
        "client: service config: methodConfig[0].retryPolicy.maxAttempts: must be 2 or more, got 1",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(!out.contains("reserve attempt 2"), "{out}");
}

#[test]
fn grpc_http2_serves_route_guide_over_quic_and_http2() {
    let out = run(env!("CARGO_BIN_EXE_grpc_http2"));
    for name in ["QUIC", "HTTP/2"] {
        for line in [
            "GetFeature: Patriots Path".to_owned(),
            "ListFeatures: 5 features".to_owned(),
            "RecordRoute: ".to_owned(),
            "RouteChat: ".to_owned(),
        ] {
            let line = format!("{name}: {line}");
            assert!(out.contains(&line), "missing {line:?} in:\n{out}");
        }
    }
    // One server: the tour over HTTP/2 hears the notes the QUIC tour left at the same point.
    assert!(out.contains("QUIC: RouteChat: 1 earlier notes"), "{out}");
    assert!(out.contains("HTTP/2: RouteChat: 5 earlier notes"), "{out}");
}

#[test]
fn compression_negotiates_and_refuses_a_bomb() {
    let out = run(env!("CARGO_BIN_EXE_compression"));
    assert!(out.contains("small reply: 57 bytes"), "{out}");
    assert!(
        out.contains("large reply: 21007 bytes, starts \"Hello world, world, \""),
        "{out}"
    );
    assert!(out.contains("bomb: ResourceExhausted"), "{out}");
    assert!(
        out.contains("compressed message inflates past the server's limit"),
        "{out}"
    );
}

#[test]
fn balancing_spreads_calls_and_survives_a_server_going_away() {
    let out = run(env!("CARGO_BIN_EXE_balancing"));
    assert!(out.contains("reply: Hello world from 127.0.0."), "{out}");
    assert!(
        out.contains("300 calls over three servers, 0 failed:"),
        "{out}"
    );
    assert!(
        out.contains("went away; 600 more calls, 0 failed:"),
        "{out}"
    );
    // Every server got calls before one went away.
    let before = out.split("went away").next().unwrap_or_default();
    for ip in ["127.0.0.2:", "127.0.0.3:", "127.0.0.4:"] {
        assert!(before.contains(ip), "{ip} missing in:\n{out}");
    }
}

#[test]
fn fallback_uses_http2_while_udp_is_dropped_and_quic_again_after() {
    let out = run(env!("CARGO_BIN_EXE_fallback"));
    for line in [
        "UDP open: GetFeature: Patriots Path, Mendham, NJ 07945, USA (over Quic)",
        "UDP dropped: GetFeature: Patriots Path, Mendham, NJ 07945, USA (over Http2)",
        "QUIC skipped for the next connections: true",
        "UDP dropped, remembered: GetFeature: Patriots Path, Mendham, NJ 07945, USA (over Http2)",
        "UDP open again: GetFeature: Patriots Path, Mendham, NJ 07945, USA (over Quic)",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn datagrams_travel_beside_the_call() {
    let out = run(env!("CARGO_BIN_EXE_datagrams"));
    for line in [
        "server: welcome to the game",
        "oversize datagram refused: datagram of ",
        "positions sent: 100",
        "server: ack: done (received ",
        " of 100 positions",
        "client received ",
        "client datagram stats: sent 100,",
        "send after the call: the call has ended",
    ] {
        assert!(out.contains(line), "{line:?} not in {out}");
    }
}
