//! The well-known types prost maps to Rust types (`()` is `google.protobuf.Empty`, `String`
//! is `StringValue`, `prost_types::Timestamp` is `Timestamp`...), described in the files
//! that declare them, with the same content as protoc and protox give (less the comments):
//! a set built here and one compiled from `.proto` files then agree on these files, and a
//! reflection service can register both.

use super::{
    full_name, DescribeEnum, DescribeMessage, DescriptorBuilder, Field, FieldType, Label,
    MessageBuilder, ProtoName, Type, TypeRef,
};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileOptions};

const PACKAGE: &str = "google.protobuf";

macro_rules! well_known_messages {
    ($($rust:ty => $name:literal in $file:ident,)*) => {$(
        impl DescribeMessage for $rust {
            const NAME: ProtoName = ProtoName { package: Some(PACKAGE), name: $name };

            fn describe(builder: &mut DescriptorBuilder) {
                builder.well_known($file);
            }
        }
    )*};
}

well_known_messages! {
    () => "Empty" in empty,
    f64 => "DoubleValue" in wrappers,
    f32 => "FloatValue" in wrappers,
    i64 => "Int64Value" in wrappers,
    u64 => "UInt64Value" in wrappers,
    i32 => "Int32Value" in wrappers,
    u32 => "UInt32Value" in wrappers,
    bool => "BoolValue" in wrappers,
    String => "StringValue" in wrappers,
    Vec<u8> => "BytesValue" in wrappers,
    bytes::Bytes => "BytesValue" in wrappers,
    prost_types::Any => "Any" in any,
    prost_types::Duration => "Duration" in duration,
    prost_types::FieldMask => "FieldMask" in field_mask,
    prost_types::Struct => "Struct" in structs,
    prost_types::Value => "Value" in structs,
    prost_types::ListValue => "ListValue" in structs,
    prost_types::Timestamp => "Timestamp" in timestamp,
}

impl DescribeEnum for prost_types::NullValue {
    const NAME: ProtoName = ProtoName {
        package: Some(PACKAGE),
        name: "NullValue",
    };

    fn describe(builder: &mut DescriptorBuilder) {
        builder.well_known(structs);
    }
}

/// A well-known file: the options the `.proto` sets, then its declarations.
fn file(
    name: &str,
    class: &str,
    go: &str,
    arenas: bool,
    message_type: Vec<DescriptorProto>,
) -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some(format!("google/protobuf/{name}.proto")),
        package: Some(PACKAGE.to_owned()),
        message_type,
        options: Some(FileOptions {
            java_package: Some("com.google.protobuf".to_owned()),
            java_outer_classname: Some(class.to_owned()),
            java_multiple_files: Some(true),
            go_package: Some(format!("google.golang.org/protobuf/types/known/{go}")),
            cc_enable_arenas: arenas.then_some(true),
            objc_class_prefix: Some("GPB".to_owned()),
            csharp_namespace: Some("Google.Protobuf.WellKnownTypes".to_owned()),
            ..FileOptions::default()
        }),
        syntax: Some("proto3".to_owned()),
        ..FileDescriptorProto::default()
    }
}

fn message(name: &str, fields: Vec<Field>) -> DescriptorProto {
    let mut m = MessageBuilder::new(PACKAGE, PACKAGE.to_owned(), full_name(PACKAGE, name), name);
    for field in fields {
        m.field(field);
    }
    m.into_proto()
}

fn field(name: &'static str, number: i32, label: Label, ty: FieldType) -> Field {
    Field {
        name,
        number,
        label,
        ty,
        comment: "",
        deprecated: false,
    }
}

/// A message with `seconds` and `nanos`.
fn seconds_nanos(name: &str) -> DescriptorProto {
    message(
        name,
        vec![
            field(
                "seconds",
                1,
                Label::Singular,
                FieldType::Scalar(Type::Int64),
            ),
            field("nanos", 2, Label::Singular, FieldType::Scalar(Type::Int32)),
        ],
    )
}

fn any() -> FileDescriptorProto {
    let any = message(
        "Any",
        vec![
            field(
                "type_url",
                1,
                Label::Singular,
                FieldType::Scalar(Type::String),
            ),
            field("value", 2, Label::Singular, FieldType::Scalar(Type::Bytes)),
        ],
    );
    file("any", "AnyProto", "anypb", false, vec![any])
}

fn duration() -> FileDescriptorProto {
    let duration = seconds_nanos("Duration");
    file(
        "duration",
        "DurationProto",
        "durationpb",
        true,
        vec![duration],
    )
}

fn empty() -> FileDescriptorProto {
    file(
        "empty",
        "EmptyProto",
        "emptypb",
        true,
        vec![message("Empty", vec![])],
    )
}

fn field_mask() -> FileDescriptorProto {
    let paths = field("paths", 1, Label::Repeated, FieldType::Scalar(Type::String));
    let mask = message("FieldMask", vec![paths]);
    file(
        "field_mask",
        "FieldMaskProto",
        "fieldmaskpb",
        true,
        vec![mask],
    )
}

fn structs() -> FileDescriptorProto {
    let value = || FieldType::Message(TypeRef::message::<prost_types::Value>());
    let fields = FieldType::Map(Type::String, Box::new(value()));
    let strukt = message("Struct", vec![field("fields", 1, Label::Repeated, fields)]);
    let list = message(
        "ListValue",
        vec![field("values", 1, Label::Repeated, value())],
    );
    let mut value = MessageBuilder::new(
        PACKAGE,
        PACKAGE.to_owned(),
        full_name(PACKAGE, "Value"),
        "Value",
    );
    value.oneof("kind", "", |m| {
        let null = TypeRef::enumeration::<prost_types::NullValue>();
        let strukt = TypeRef::message::<prost_types::Struct>();
        let list = TypeRef::message::<prost_types::ListValue>();
        for (name, number, ty) in [
            ("null_value", 1, FieldType::Enum(null)),
            ("number_value", 2, FieldType::Scalar(Type::Double)),
            ("string_value", 3, FieldType::Scalar(Type::String)),
            ("bool_value", 4, FieldType::Scalar(Type::Bool)),
            ("struct_value", 5, FieldType::Message(strukt)),
            ("list_value", 6, FieldType::Message(list)),
        ] {
            m.field(field(name, number, Label::Singular, ty));
        }
    });
    let mut file = file(
        "struct",
        "StructProto",
        "structpb",
        true,
        vec![strukt, value.into_proto(), list],
    );
    file.enum_type.push(EnumDescriptorProto {
        name: Some("NullValue".to_owned()),
        value: vec![prost_types::EnumValueDescriptorProto {
            name: Some("NULL_VALUE".to_owned()),
            number: Some(0),
            options: None,
        }],
        ..EnumDescriptorProto::default()
    });
    file
}

fn timestamp() -> FileDescriptorProto {
    let timestamp = seconds_nanos("Timestamp");
    file(
        "timestamp",
        "TimestampProto",
        "timestamppb",
        true,
        vec![timestamp],
    )
}

fn wrappers() -> FileDescriptorProto {
    let wrappers = [
        ("DoubleValue", Type::Double),
        ("FloatValue", Type::Float),
        ("Int64Value", Type::Int64),
        ("UInt64Value", Type::Uint64),
        ("Int32Value", Type::Int32),
        ("UInt32Value", Type::Uint32),
        ("BoolValue", Type::Bool),
        ("StringValue", Type::String),
        ("BytesValue", Type::Bytes),
    ]
    .map(|(name, ty)| {
        message(
            name,
            vec![field("value", 1, Label::Singular, FieldType::Scalar(ty))],
        )
    });
    file(
        "wrappers",
        "WrappersProto",
        "wrapperspb",
        true,
        wrappers.to_vec(),
    )
}
