//! Name conversions, the same as `rpc-codegen`'s (so that a trait and a `.proto` with the same
//! names give the same routes and the same generated module names).

/// `snake_case` -> `UpperCamelCase` (`say_hello` -> `SayHello`, `get_foo_2` -> `GetFoo2`).
pub(crate) fn to_upper_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for part in s.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// `UpperCamelCase` -> `snake_case` (`RouteGuide` -> `route_guide`, `HTTPServer` -> `http_server`).
pub(crate) fn to_snake(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(|n| n.is_lowercase()),
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

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
