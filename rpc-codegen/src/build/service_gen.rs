//! prost-build's `ServiceGenerator` hook: prost's service descriptors -> our
//! model -> formatted source appended to the package's file.

use proc_macro2::TokenStream;
use prost_types::method_options::IdempotencyLevel;

use super::options::MethodOptions;
use crate::{generate_string, GenConfig, Idempotency, Method, Service};

pub(super) struct RpcServiceGenerator {
    config: GenConfig,
    options: MethodOptions,
    client_attrs: Vec<(String, TokenStream)>,
    server_attrs: Vec<(String, TokenStream)>,
}

impl RpcServiceGenerator {
    pub(super) fn new(
        config: GenConfig,
        client_attrs: Vec<(String, TokenStream)>,
        server_attrs: Vec<(String, TokenStream)>,
        options: MethodOptions,
    ) -> Self {
        RpcServiceGenerator {
            config,
            options,
            client_attrs,
            server_attrs,
        }
    }
}

impl prost_build::ServiceGenerator for RpcServiceGenerator {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        let service = from_prost(service, &self.options);
        let full_name = service.full_name();
        let mut config = self.config.clone();
        config.client_mod_attributes = matching(&self.client_attrs, &full_name);
        config.server_mod_attributes = matching(&self.server_attrs, &full_name);
        buf.push('\n');
        buf.push_str(&generate_string(&service, &config));
    }
}

/// `.` (or empty) matches everything; `pkg` matches the package and its
/// sub-packages; `pkg.Service` matches one service. A leading `.` is ignored.
pub(crate) fn path_matches(pattern: &str, full_name: &str) -> bool {
    let pattern = pattern.trim_start_matches('.');
    pattern.is_empty()
        || full_name == pattern
        || full_name
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with('.'))
}

fn matching(attrs: &[(String, TokenStream)], full_name: &str) -> Vec<TokenStream> {
    attrs
        .iter()
        .filter(|(path, _)| path_matches(path, full_name))
        .map(|(_, attr)| attr.clone())
        .collect()
}

/// `options`: the qrpc options of the tree's methods (`qrpc/options.proto`).
pub(crate) fn from_prost(service: prost_build::Service, options: &MethodOptions) -> Service {
    let full_name = if service.package.is_empty() {
        service.proto_name.clone()
    } else {
        format!("{}.{}", service.package, service.proto_name)
    };
    Service {
        deprecated: service.options.deprecated(),
        comments: doc_lines(&service.comments),
        name: service.name,
        proto_name: service.proto_name,
        package: service.package,
        methods: service
            .methods
            .into_iter()
            .map(|m| (options.get(&full_name, &m.proto_name), m))
            .map(|(qrpc, m)| Method {
                deprecated: m.options.deprecated(),
                idempotency: match m.options.idempotency_level() {
                    IdempotencyLevel::IdempotencyUnknown => Idempotency::Unknown,
                    IdempotencyLevel::NoSideEffects => Idempotency::NoSideEffects,
                    IdempotencyLevel::Idempotent => Idempotency::Idempotent,
                },
                comments: doc_lines(&m.comments),
                priority: qrpc.priority,
                datagrams: qrpc.datagrams,
                name: m.name,
                proto_name: m.proto_name,
                input_type: m.input_type,
                output_type: m.output_type,
                client_streaming: m.client_streaming,
                server_streaming: m.server_streaming,
            })
            .collect(),
    }
}

/// Leading comments, then trailing comments after a blank line, made safe
/// for rustdoc: bare URLs wrapped in `<>`, brackets escaped (no accidental
/// intra-doc links), indented blocks fenced as ```` ```text ```` (no
/// accidental doctests).
pub(crate) fn doc_lines(comments: &prost_build::Comments) -> Vec<String> {
    let mut lines: Vec<String> = comments.leading.clone();
    if !comments.leading.is_empty() && !comments.trailing.is_empty() {
        lines.push(String::new());
    }
    lines.extend(comments.trailing.iter().cloned());
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    while lines.first().is_some_and(|l| l.trim().is_empty()) {
        lines.remove(0);
    }
    fence_indented(lines.iter().map(|l| sanitize(l)).collect())
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn fence_indented(lines: Vec<String>) -> Vec<String> {
    let common = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    let mut out = Vec::with_capacity(lines.len());
    let mut in_code = false;
    let mut in_fence = false;
    let mut prev_blank = true;
    for line in lines {
        let blank = line.trim().is_empty();
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence {
            let code_line = !blank && indent_of(&line) >= common + 4;
            if !in_code && code_line && prev_blank {
                out.push(format!("{}```text", " ".repeat(common)));
                in_code = true;
            } else if in_code && !blank && !code_line {
                out.push(format!("{}```", " ".repeat(common)));
                in_code = false;
            }
        }
        prev_blank = blank;
        out.push(line);
    }
    if in_code {
        // Put the closing fence before trailing blank lines.
        let mut trailing = Vec::new();
        while out.last().is_some_and(|l| l.trim().is_empty()) {
            trailing.push(out.pop().unwrap_or_default());
        }
        out.push(format!("{}```", " ".repeat(common)));
        out.extend(trailing);
    }
    if in_fence {
        out.push(format!("{}```", " ".repeat(common)));
    }
    out
}

fn sanitize(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut rest = line;
    while !rest.is_empty() {
        let url_at = ["http://", "https://"]
            .iter()
            .filter_map(|p| rest.find(p))
            .min();
        let (text, tail) = match url_at {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let mut prev = out.chars().last();
        for c in text.chars() {
            if (c == '[' || c == ']') && prev != Some('\\') {
                out.push('\\');
            }
            out.push(c);
            prev = Some(c);
        }
        if tail.is_empty() {
            break;
        }
        let end = tail
            .find(|c: char| c.is_whitespace() || c == ')' || c == '>' || c == '"')
            .unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',', ';', ':']);
        let wrapped = out.ends_with('<') || out.ends_with('(');
        if wrapped {
            out.push_str(url);
        } else {
            out.push('<');
            out.push_str(url);
            out.push('>');
        }
        rest = &tail[url.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes() {
        assert_eq!(sanitize(" see https://x.io/a."), " see <https://x.io/a>.");
        assert_eq!(sanitize(" a [b] c"), " a \\[b\\] c");
        assert_eq!(sanitize(" <https://x.io>"), " <https://x.io>");
        assert_eq!(sanitize(" [x](https://x.io)"), " \\[x\\](https://x.io)");
    }

    #[test]
    fn fences_indented_blocks() {
        let lines = vec![
            " Example:".to_string(),
            "".to_string(),
            "     foo {".to_string(),
            "       bar".to_string(),
            "".to_string(),
            " done".to_string(),
        ];
        let out = fence_indented(lines);
        assert_eq!(
            out,
            vec![
                " Example:",
                "",
                " ```text",
                "     foo {",
                "       bar",
                "",
                " ```",
                " done"
            ]
        );
    }

    #[test]
    fn matches() {
        assert!(path_matches(".", "a.B"));
        assert!(path_matches("a", "a.B"));
        assert!(path_matches(".a.B", "a.B"));
        assert!(!path_matches("a.B", "a.BC"));
        assert!(!path_matches("ab", "a.B"));
    }
}
