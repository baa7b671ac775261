//! `qrpc describe`: a symbol of a descriptor pool as `.proto` text, the way grpcurl shows it.

use prost_reflect::{
    DescriptorPool, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    ServiceDescriptor,
};
use prost_types::field_descriptor_proto::Label;
use std::fmt::Write;

/// `symbol` (a service, method, message, enum or field, fully qualified) described, or
/// `None` if the pool does not declare it.
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
        return Some(format!("{symbol} is a method:\n{}\n", method_line(&method)));
    }
    let message = pool.get_message_by_name(parent)?;
    let field = message.get_field_by_name(name)?;
    Some(format!("{symbol} is a field:\n{}\n", field_line(&field)))
}

fn service_text(service: &ServiceDescriptor) -> String {
    let mut out = format!("service {} {{\n", service.name());
    for method in service.methods() {
        let _ = writeln!(out, "  {}", method_line(&method));
    }
    out.push_str("}\n");
    out
}

/// `rpc Name ( [stream ].pkg.In ) returns ( [stream ].pkg.Out );`
pub fn method_line(method: &MethodDescriptor) -> String {
    let stream = |yes: bool| if yes { "stream " } else { "" };
    format!(
        "rpc {} ( {}.{} ) returns ( {}.{} );",
        method.name(),
        stream(method.is_client_streaming()),
        method.input().full_name(),
        stream(method.is_server_streaming()),
        method.output().full_name()
    )
}

fn message_text(message: &MessageDescriptor, indent: &str) -> String {
    let mut out = format!("{indent}message {} {{\n", message.name());
    let inner = format!("{indent}  ");
    for field in message.fields() {
        let in_real_oneof = field
            .containing_oneof()
            .is_some_and(|oneof| !oneof.is_synthetic());
        if !in_real_oneof {
            let _ = writeln!(out, "{inner}{}", field_line(&field));
        }
    }
    for oneof in message.oneofs().filter(|o| !o.is_synthetic()) {
        let _ = writeln!(out, "{inner}oneof {} {{", oneof.name());
        for field in oneof.fields() {
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
    let mut out = format!("{indent}enum {} {{\n", enumeration.name());
    for value in enumeration.values() {
        let _ = writeln!(out, "{indent}  {} = {};", value.name(), value.number());
    }
    let _ = writeln!(out, "{indent}}}");
    out
}

/// `[repeated |optional |required ]type name = number;`, maps as `map<k, v>`.
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
    format!("{label}{ty} {} = {};", field.name(), field.number())
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
