//! Golden files: the generator's output for hand-built models, compared with
//! `tests/golden/*.rs`. Regenerate with `UPDATE_GOLDEN=1 cargo test -p rpc-codegen --test golden`.

use std::path::PathBuf;

use rpc_codegen::{generate_string, GenConfig, Idempotency, Method, Service};

fn method(name: &str, proto: &str, input: &str, output: &str, cs: bool, ss: bool) -> Method {
    Method {
        name: name.into(),
        proto_name: proto.into(),
        input_type: input.into(),
        output_type: output.into(),
        client_streaming: cs,
        server_streaming: ss,
        ..Method::default()
    }
}

fn check(name: &str, service: &Service, config: &GenConfig) {
    let actual = generate_string(service, config);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.rs"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let first_diff = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the generator output (first difference at line {}):\n\
             expected: {:?}\n  actual: {:?}\n\
             If the change is intended, rerun with UPDATE_GOLDEN=1.",
            path.display(),
            first_diff + 1,
            expected.lines().nth(first_diff),
            actual.lines().nth(first_diff),
        );
    }
}

#[test]
fn helloworld() {
    let service = Service {
        name: "Greeter".into(),
        proto_name: "Greeter".into(),
        package: "helloworld".into(),
        comments: vec![" The greeting service definition.".into()],
        methods: vec![Method {
            comments: vec![" Sends a greeting".into()],
            ..method(
                "say_hello",
                "SayHello",
                "HelloRequest",
                "HelloReply",
                false,
                false,
            )
        }],
        deprecated: false,
    };
    check("helloworld", &service, &GenConfig::default());
}

#[test]
fn route_guide_all_call_kinds() {
    let service = Service {
        name: "RouteGuide".into(),
        proto_name: "RouteGuide".into(),
        package: "routeguide".into(),
        comments: vec![" Interface exported by the server.".into()],
        methods: vec![
            Method {
                comments: vec![" A simple RPC.".into()],
                idempotency: Idempotency::NoSideEffects,
                ..method(
                    "get_feature",
                    "GetFeature",
                    "Point",
                    "Feature",
                    false,
                    false,
                )
            },
            Method {
                comments: vec![" A server-to-client streaming RPC.".into()],
                ..method(
                    "list_features",
                    "ListFeatures",
                    "Rectangle",
                    "Feature",
                    false,
                    true,
                )
            },
            Method {
                comments: vec![" A client-to-server streaming RPC.".into()],
                deprecated: true,
                ..method(
                    "record_route",
                    "RecordRoute",
                    "Point",
                    "RouteSummary",
                    true,
                    false,
                )
            },
            Method {
                comments: vec![" A Bidirectional streaming RPC.".into()],
                ..method(
                    "route_chat",
                    "RouteChat",
                    "RouteNote",
                    "RouteNote",
                    true,
                    true,
                )
            },
        ],
        deprecated: false,
    };
    check("route_guide", &service, &GenConfig::default());
}

/// Message types as the `.proto` front end passes them: well-known types and prost's own
/// types through rpc-core's `codegen` module (prost-build's `prost_types_path`/`prost_path`).
#[test]
fn tricky_names_and_types() {
    let service = Service {
        name: "Type".into(),
        proto_name: "type".into(),
        package: "my.nested.pkg".into(),
        comments: vec![],
        methods: vec![
            method(
                "r#type",
                "type",
                "()",
                "::rpc_core::codegen::prost_types::Timestamp",
                false,
                false,
            ),
            method("self_", "self", "super::common::Point", "()", false, true),
            method("get_foo", "GetFoo", "Foo", "Foo", false, false),
            method("get_foo", "get_foo", "Foo", "Foo", false, true),
            method("get_foo", "Get_Foo", "Foo", "Foo", true, true),
            method("new", "New", "crate::external::Thing", "Foo", false, false),
            method("connect", "Connect", "Foo", "Foo", false, false),
            method("clone", "Clone", "Foo", "Foo", false, false),
            method(
                "wrappers",
                "Wrappers",
                "i64",
                "::rpc_core::codegen::prost::alloc::string::String",
                false,
                false,
            ),
        ],
        deprecated: true,
    };
    check("tricky", &service, &GenConfig::default());
}

#[test]
fn packageless_client_only_custom_crate_path() {
    let service = Service {
        name: "Ping".into(),
        proto_name: "Ping".into(),
        package: String::new(),
        comments: vec![],
        methods: vec![method("ping", "Ping", "()", "()", false, false)],
        deprecated: false,
    };
    let config = GenConfig {
        build_server: false,
        client_mod_attributes: vec![quote_attr("#[cfg(feature = \"client\")]")],
        ..GenConfig::default()
    }
    .with_crate_path("crate::rt")
    .unwrap();
    check("packageless_client_only", &service, &config);
}

#[test]
fn empty_service_server_only() {
    let service = Service {
        name: "Nothing".into(),
        proto_name: "Nothing".into(),
        package: "empty".into(),
        ..Service::default()
    };
    let config = GenConfig {
        build_client: false,
        ..GenConfig::default()
    };
    check("empty_server_only", &service, &config);
}

#[test]
fn invalid_type_is_a_compile_error_not_a_panic() {
    let service = Service {
        name: "Bad".into(),
        proto_name: "Bad".into(),
        package: "bad".into(),
        methods: vec![method("x", "X", "not a type!", "Foo", false, false)],
        ..Service::default()
    };
    let out = generate_string(&service, &GenConfig::default());
    assert!(out.contains("compile_error!"), "{out}");
    assert!(out.contains("bad.Bad.X"), "{out}");
}

fn quote_attr(s: &str) -> proc_macro2::TokenStream {
    s.parse().unwrap()
}

#[test]
fn per_method_compression() {
    let mut get = method("get", "Get", "Key", "Blob", false, false);
    get.idempotency = Idempotency::NoSideEffects;
    let service = Service {
        name: "Store".into(),
        proto_name: "Store".into(),
        package: "media".into(),
        methods: vec![
            get,
            method("upload", "Upload", "Blob", "Key", true, false),
            method("list", "List", "Key", "Key", false, true),
        ],
        ..Service::default()
    };
    let config = GenConfig {
        build_server: false,
        send_compression: vec![
            ("media".into(), rpc_codegen::Compression::Zstd),
            ("media.Store/Upload".into(), rpc_codegen::Compression::Off),
            ("other.Store".into(), rpc_codegen::Compression::Gzip),
        ],
        ..GenConfig::default()
    };
    check("compressed_client", &service, &config);
}

#[test]
fn method_priority() {
    // A method with a stream priority sets it on its requests (client) and on its
    // responses (server); one without generates what it did before.
    let service = Service {
        name: "Ticker".into(),
        proto_name: "Ticker".into(),
        package: "ticker".into(),
        methods: vec![
            Method {
                priority: 5,
                ..method("quote", "Quote", "QuoteRequest", "Quote", false, false)
            },
            method("feed", "Feed", "QuoteRequest", "Quote", false, true),
        ],
        ..Service::default()
    };
    check("priority", &service, &GenConfig::default());
}

#[path = "support/options_model.rs"]
mod options_model;
use options_model::telemetry_service;

#[test]
fn method_options() {
    // Datagram methods mark their requests (client) and register their calls (server).
    check("options", &telemetry_service(), &GenConfig::default());
}

#[test]
fn datagrams_on_a_single_response_is_a_compile_error() {
    for (cs, ss) in [(false, false), (true, false)] {
        let service = Service {
            name: "S".into(),
            proto_name: "S".into(),
            methods: vec![Method {
                datagrams: true,
                ..method("m", "M", "A", "B", cs, ss)
            }],
            ..Service::default()
        };
        let out = rpc_codegen::generate(&service, &GenConfig::default()).to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("datagrams need a streamed response"), "{out}");
    }
}
