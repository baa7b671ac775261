//! Name rules for the macro input. The case conversions and the reserved client method names
//! are `rpc-codegen`'s own, so a trait and a `.proto` with the same names give the same routes
//! and generated module names.

pub(crate) use rpc_codegen::naming::{to_snake, to_upper_camel, CLIENT_RESERVED};

/// Whether `s` is a protobuf identifier: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_proto_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `s` is a protobuf package name: dot-separated identifiers.
pub(crate) fn is_proto_package(s: &str) -> bool {
    s.split('.').all(is_proto_ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_proto_names() {
        for (rust, proto) in [
            ("say_hello", "SayHello"),
            ("get_feature", "GetFeature"),
            ("list_features", "ListFeatures"),
            ("route_chat", "RouteChat"),
            ("echo", "Echo"),
        ] {
            assert_eq!(to_upper_camel(rust), proto);
            assert_eq!(to_snake(proto), rust);
        }
        assert_eq!(to_snake("HTTPServer"), "http_server");
        assert_eq!(to_upper_camel("get_foo_2"), "GetFoo2");
    }

    #[test]
    fn proto_names() {
        assert!(is_proto_ident("Greeter"));
        assert!(is_proto_ident("_x1"));
        assert!(!is_proto_ident("1x"));
        assert!(!is_proto_ident(""));
        assert!(!is_proto_ident("a-b"));
        assert!(is_proto_package("helloworld"));
        assert!(is_proto_package("grpc.health.v1"));
        assert!(!is_proto_package("a..b"));
        assert!(!is_proto_package(".a"));
    }
}
