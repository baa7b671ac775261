//! Turning model names into valid, unique Rust identifiers.

use proc_macro2::{Ident, Span};

/// Keywords that can be written as raw identifiers (`r#type`).
const RAW_KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "false", "fn", "for", "if", "impl", "in",
    "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static", "struct",
    "trait", "true", "type", "unsafe", "use", "where", "while", "dyn", "abstract", "become", "box",
    "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "async",
    "await", "try", "gen",
];

/// Method names that belong to the generated client itself (`clone` so that
/// `client.clone()` keeps working). The generator gives an RPC whose snake_case
/// name is one of these a numeric suffix (`connect_2`); the `#[service]` macro
/// rejects such a method name instead.
pub const CLIENT_RESERVED: &[&str] = &["new", "connect", "channel", "clone"];

/// Keywords that cannot be raw identifiers: they get a `_` suffix (`self_`).
const NON_RAW_KEYWORDS: &[&str] = &["self", "Self", "super", "crate", "extern", "_"];

/// Strips the escaping a name may already carry (`r#type` -> `type`,
/// `self_` -> `self`), giving the plain name to derive other names from.
pub(crate) fn base_name(name: &str) -> &str {
    let name = name.strip_prefix("r#").unwrap_or(name);
    match name.strip_suffix('_') {
        Some(stripped) if NON_RAW_KEYWORDS.contains(&stripped) => stripped,
        _ => name,
    }
}

/// Makes a valid identifier from a plain name: raw for keywords, `_` suffix
/// for `self`/`super`/`crate`/`Self`/`extern`, `_` prefix for a leading digit,
/// `_` for characters that can't appear in an identifier.
pub(crate) fn ident(name: &str) -> Ident {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        s.push('_');
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if RAW_KEYWORDS.contains(&s.as_str()) {
        Ident::new_raw(&s, Span::call_site())
    } else if NON_RAW_KEYWORDS.contains(&s.as_str()) {
        s.push('_');
        Ident::new(&s, Span::call_site())
    } else {
        Ident::new(&s, Span::call_site())
    }
}

/// `UpperCamelCase` -> `snake_case` (`HTTPServer` -> `http_server`).
pub fn to_snake(s: &str) -> String {
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

/// `snake_case` -> `UpperCamelCase` (`get_foo_2` -> `GetFoo2`).
pub fn to_upper_camel(s: &str) -> String {
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

/// Picks `base`, or `base_2`, `base_3`, ... : the first candidate not in
/// `taken` and not in `reserved`; records it in `taken`.
pub(crate) fn unique(base: &str, sep: &str, taken: &mut Vec<String>, reserved: &[&str]) -> String {
    let mut candidate = base.to_string();
    let mut n = 2;
    while taken.contains(&candidate) || reserved.contains(&candidate.as_str()) {
        candidate = format!("{base}{sep}{n}");
        n += 1;
    }
    taken.push(candidate.clone());
    candidate
}

/// Primitive types, which prost uses for the wrapper well-known types
/// (`google.protobuf.Int64Value` -> `i64`).
pub fn is_primitive(name: &str) -> bool {
    matches!(
        name,
        "bool"
            | "char"
            | "str"
            | "f32"
            | "f64"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "u8"
            | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents() {
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("self").to_string(), "self_");
        assert_eq!(ident("Self").to_string(), "Self_");
        assert_eq!(ident("crate").to_string(), "crate_");
        assert_eq!(ident("2fa").to_string(), "_2fa");
        assert_eq!(ident("say_hello").to_string(), "say_hello");
        assert_eq!(base_name("r#type"), "type");
        assert_eq!(base_name("self_"), "self");
        assert_eq!(base_name("foo_"), "foo_");
    }

    #[test]
    fn cases() {
        assert_eq!(to_snake("RouteGuide"), "route_guide");
        assert_eq!(to_snake("HTTPServer"), "http_server");
        assert_eq!(to_snake("Greeter"), "greeter");
        assert_eq!(to_snake("Foo2Bar"), "foo2_bar");
        assert_eq!(to_upper_camel("list_things"), "ListThings");
        assert_eq!(to_upper_camel("get_foo_2"), "GetFoo2");
    }
}
