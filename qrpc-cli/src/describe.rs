//! `qrpc describe`: a symbol of a descriptor pool as `.proto` text, the way grpcurl shows it.

use prost_reflect::{
    DescriptorPool, DynamicMessage, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind,
    MessageDescriptor, MethodDescriptor, ServiceDescriptor, Value,
};
use prost_types::field_descriptor_proto::Label;
use std::fmt::Write;

/// `symbol` (a service, method, message, enum or field, fully qualified) described, or
/// `None` if the pool does not declare it. Comments and options come along when the
/// descriptors have them.
pub fn describe(pool: &DescriptorPool, symbol: &str) -> Option<String> {
    if let Some(service) = pool.get_service_by_name(symbol) {
        return Some(format!(
            "{symbol} is a service:\n{}",
            service_text(&service)
        ));
    }
    if let Some(message) = pool.get_message_by_name(symbol) {
        return Some(format!(
            "{symbol} is a message:\n{}",
            message_text(&message, "")
        ));
    }
    if let Some(enumeration) = pool.get_enum_by_name(symbol) {
        return Some(format!(
            "{symbol} is an enum:\n{}",
            enum_text(&enumeration, "")
        ));
    }
    let (parent, name) = symbol.rsplit_once('.')?;
    if let Some(service) = pool.get_service_by_name(parent) {
        let method = service.methods().find(|m| m.name() == name)?;
        return Some(format!(
            "{symbol} is a method:\n{}",
            method_text(&method, "")
        ));
    }
    let message = pool.get_message_by_name(parent)?;
    let field = message.get_field_by_name(name)?;
    Some(format!(
        "{symbol} is a field:\n{}{}\n",
        comments(&field.parent_file(), field.path(), ""),
        field_line(&field)
    ))
}

/// The leading comments of the element at `path` of `file`, as `//` lines.
fn comments(file: &FileDescriptor, path: &[i32], indent: &str) -> String {
    let proto = file.file_descriptor_proto();
    let text = proto
        .source_code_info
        .as_ref()
        .and_then(|info| info.location.iter().find(|l| l.path == path))
        .and_then(|location| location.leading_comments.as_deref())
        .unwrap_or_default();
    let mut out = String::new();
    for line in text.strip_suffix('\n').unwrap_or(text).lines() {
        let _ = writeln!(out, "{indent}//{line}");
    }
    out
}

/// `option name = value;` lines for the options set in `options`.
fn option_lines(options: &DynamicMessage, indent: &str) -> String {
    options_set(options)
        .into_iter()
        .map(|(name, value)| format!("{indent}option {name} = {value};\n"))
        .collect()
}

/// The options set in `options`, as (name, value) pairs; custom options known to the pool
/// as `(full.name)`.
fn options_set(options: &DynamicMessage) -> Vec<(String, String)> {
    let fields = options
        .fields()
        .map(|(field, value)| (field.name().to_owned(), value_text(value, &field.kind())));
    let extensions = options.extensions().map(|(ext, value)| {
        (
            format!("({})", ext.full_name()),
            value_text(value, &ext.kind()),
        )
    });
    fields.chain(extensions).collect()
}

/// A value in `.proto` text: enums by name, messages as `{ field: value ... }`.
fn value_text(value: &Value, kind: &Kind) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Bytes(b) => format!("\"{}\"", b.escape_ascii()),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => e
                .get_value(*n)
                .map_or_else(|| n.to_string(), |v| v.name().to_owned()),
            _ => n.to_string(),
        },
        Value::Message(m) => {
            let inner: Vec<String> = options_set(m)
                .into_iter()
                .map(|(name, value)| format!("{name}: {value}"))
                .collect();
            format!("{{ {} }}", inner.join(" "))
        }
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(|v| value_text(v, kind)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Map(map) => format!("{{ {} entries }}", map.len()),
        Value::Bool(v) => v.to_string(),
        Value::I32(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::U32(v) => v.to_string(),
        Value::U64(v) => v.to_string(),
        Value::F32(v) => v.to_string(),
        Value::F64(v) => v.to_string(),
    }
}

fn service_text(service: &ServiceDescriptor) -> String {
    let mut out = comments(&service.parent_file(), service.path(), "");
    let _ = writeln!(out, "service {} {{", service.name());
    out.push_str(&option_lines(&service.options(), "  "));
    for method in service.methods() {
        out.push_str(&method_text(&method, "  "));
    }
    out.push_str("}\n");
    out
}

/// `rpc Name ( [stream ].pkg.In ) returns ( [stream ].pkg.Out );`, with its comments, and
/// its options in a body.
fn method_text(method: &MethodDescriptor, indent: &str) -> String {
    let stream = |yes: bool| if yes { "stream " } else { "" };
    let mut out = comments(&method.parent_file(), method.path(), indent);
    let _ = write!(
        out,
        "{indent}rpc {} ( {}.{} ) returns ( {}.{} )",
        method.name(),
        stream(method.is_client_streaming()),
        method.input().full_name(),
        stream(method.is_server_streaming()),
        method.output().full_name()
    );
    let options = option_lines(&method.options(), &format!("{indent}  "));
    if options.is_empty() {
        out.push_str(";\n");
    } else {
        let _ = write!(out, " {{\n{options}{indent}}}\n");
    }
    out
}

fn message_text(message: &MessageDescriptor, indent: &str) -> String {
    let mut out = comments(&message.parent_file(), message.path(), indent);
    let _ = writeln!(out, "{indent}message {} {{", message.name());
    let inner = format!("{indent}  ");
    out.push_str(&option_lines(&message.options(), &inner));
    let file = message.parent_file();
    for field in message.fields() {
        let in_real_oneof = field
            .containing_oneof()
            .is_some_and(|oneof| !oneof.is_synthetic());
        if !in_real_oneof {
            out.push_str(&comments(&file, field.path(), &inner));
            let _ = writeln!(out, "{inner}{}", field_line(&field));
        }
    }
    for oneof in message.oneofs().filter(|o| !o.is_synthetic()) {
        out.push_str(&comments(&file, oneof.path(), &inner));
        let _ = writeln!(out, "{inner}oneof {} {{", oneof.name());
        for field in oneof.fields() {
            out.push_str(&comments(&file, field.path(), &format!("{inner}  ")));
            let _ = writeln!(out, "{inner}  {}", field_line(&field));
        }
        let _ = writeln!(out, "{inner}}}");
    }
    for nested in message.child_messages().filter(|m| !m.is_map_entry()) {
        out.push_str(&message_text(&nested, &inner));
    }
    for nested in message.child_enums() {
        out.push_str(&enum_text(&nested, &inner));
    }
    let _ = writeln!(out, "{indent}}}");
    out
}

fn enum_text(enumeration: &EnumDescriptor, indent: &str) -> String {
    let file = enumeration.parent_file();
    let mut out = comments(&file, enumeration.path(), indent);
    let _ = writeln!(out, "{indent}enum {} {{", enumeration.name());
    let inner = format!("{indent}  ");
    out.push_str(&option_lines(&enumeration.options(), &inner));
    for value in enumeration.values() {
        out.push_str(&comments(&file, value.path(), &inner));
        let _ = writeln!(
            out,
            "{inner}{} = {}{};",
            value.name(),
            value.number(),
            bracketed(&value.options())
        );
    }
    let _ = writeln!(out, "{indent}}}");
    out
}

/// ` [name = value, ...]` for the options set in `options`, or nothing.
fn bracketed(options: &DynamicMessage) -> String {
    let set = options_set(options);
    if set.is_empty() {
        return String::new();
    }
    let items: Vec<String> = set.into_iter().map(|(n, v)| format!("{n} = {v}")).collect();
    format!(" [{}]", items.join(", "))
}

/// `[repeated |optional |required ]type name = number[ [options]];`, maps as `map<k, v>`.
fn field_line(field: &FieldDescriptor) -> String {
    let ty = if field.is_map() {
        match field.kind() {
            Kind::Message(entry) => format!(
                "map<{}, {}>",
                type_name(&entry.map_entry_key_field().kind()),
                type_name(&entry.map_entry_value_field().kind())
            ),
            other => type_name(&other),
        }
    } else {
        type_name(&field.kind())
    };
    let proto = field.field_descriptor_proto();
    let proto3 = field.parent_file().file_descriptor_proto().syntax() == "proto3";
    let label = match proto.label() {
        _ if field.is_map() => "",
        Label::Repeated => "repeated ",
        Label::Required => "required ",
        Label::Optional if proto.proto3_optional() => "optional ",
        Label::Optional if !proto3 && field.containing_oneof().is_none() => "optional ",
        Label::Optional => "",
    };
    format!(
        "{label}{ty} {} = {}{};",
        field.name(),
        field.number(),
        bracketed(&field.options())
    )
}

fn type_name(kind: &Kind) -> String {
    let scalar = match kind {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Message(message) => return format!(".{}", message.full_name()),
        Kind::Enum(enumeration) => return format!(".{}", enumeration.full_name()),
    };
    scalar.to_owned()
}
