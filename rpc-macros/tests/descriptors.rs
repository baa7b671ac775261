//! `#[derive(Descriptor)]` and the `<trait>_descriptor` module of `#[service]` build the
//! descriptors protox builds from the `.proto` twin (`tests/protos/kitchen.proto`): every
//! scalar, label, map, oneof, recursion and well-known type, with comments and options.

#![allow(deprecated)]

use futures_util::Stream;
use prost::Message as _;
use prost_reflect::DescriptorPool;
use prost_types::{FileDescriptorProto, FileDescriptorSet};
use rpc_core::{Request, Response, Status, Streaming};
use std::collections::{BTreeMap, HashMap};

/// Every scalar, label, map, oneof and well-known type.
#[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
pub struct Sink {
    #[prost(double, tag = "1")]
    pub f_double: f64,
    #[prost(float, tag = "2")]
    pub f_float: f32,
    #[prost(int32, tag = "3")]
    pub f_int32: i32,
    #[prost(int64, tag = "4")]
    pub f_int64: i64,
    #[prost(uint32, tag = "5")]
    pub f_uint32: u32,
    #[prost(uint64, tag = "6")]
    pub f_uint64: u64,
    #[prost(sint32, tag = "7")]
    pub f_sint32: i32,
    #[prost(sint64, tag = "8")]
    pub f_sint64: i64,
    #[prost(fixed32, tag = "9")]
    pub f_fixed32: u32,
    #[prost(fixed64, tag = "10")]
    pub f_fixed64: u64,
    #[prost(sfixed32, tag = "11")]
    pub f_sfixed32: i32,
    #[prost(sfixed64, tag = "12")]
    pub f_sfixed64: i64,
    // Numbered after the field before it, as prost does.
    #[prost(bool)]
    pub f_bool: bool,
    /// A string.
    #[prost(string, tag = 14)]
    pub f_string: String,
    #[prost(bytes, tag = "15")]
    pub f_bytes: Vec<u8>,
    #[prost(bytes = "bytes", tag = "16")]
    pub f_bytes_bytes: bytes::Bytes,

    #[prost(int32, optional, tag = "17")]
    pub maybe: Option<i32>,
    #[prost(string, optional, tag = "18")]
    pub maybe_text: Option<String>,

    #[prost(int32, repeated, tag = "20")]
    pub packed_ints: Vec<i32>,
    #[prost(sint64, repeated, packed = "false", tag = "21")]
    pub unpacked_ints: Vec<i64>,
    #[prost(string, repeated, tag = "22")]
    pub names: Vec<String>,
    #[prost(bytes = "vec", repeated, tag = "23")]
    pub blobs: Vec<Vec<u8>>,
    #[prost(enumeration = "Color", repeated, tag = "24")]
    pub colors: Vec<i32>,
    #[prost(enumeration(Color), tag = "25")]
    pub color: i32,
    #[prost(enumeration = "Color", optional, tag = "26")]
    pub maybe_color: Option<i32>,

    #[prost(message, optional, tag = "30")]
    pub leaf: Option<Leaf>,
    #[prost(message, repeated, tag = "31")]
    pub leaves: Vec<Leaf>,

    #[prost(map = "string, int32", tag = "40")]
    pub counts: HashMap<String, i32>,
    #[prost(btree_map = "int64, message", tag = "41")]
    pub leaf_by_id: BTreeMap<i64, Leaf>,
    #[prost(map = "uint32, enumeration(Color)", tag = "42")]
    pub color_by_id: HashMap<u32, i32>,
    #[prost(hash_map = "bool, bytes", tag = "43")]
    pub flags: HashMap<bool, Vec<u8>>,

    /// One of four.
    #[prost(oneof = "sink::Choice", tags = "50, 51, 52, 53")]
    pub choice: Option<sink::Choice>,

    #[prost(message, optional, tag = "60")]
    pub at: Option<::prost_types::Timestamp>,
    #[prost(message, optional, tag = "61")]
    pub took: Option<::prost_types::Duration>,
    #[prost(message, optional, tag = "62")]
    pub any: Option<::prost_types::Any>,
    #[prost(message, optional, tag = "63")]
    pub nothing: Option<()>,
    #[prost(message, optional, tag = "64")]
    pub mask: Option<::prost_types::FieldMask>,
    #[prost(message, optional, tag = "65")]
    pub object: Option<::prost_types::Struct>,
    #[prost(message, optional, tag = "66")]
    pub value: Option<::prost_types::Value>,
    #[prost(message, optional, tag = "67")]
    pub list: Option<::prost_types::ListValue>,
    #[prost(enumeration = "::prost_types::NullValue", tag = "68")]
    pub null: i32,
    #[prost(message, optional, tag = "70")]
    pub w_double: Option<f64>,
    #[prost(message, optional, tag = "71")]
    pub w_float: Option<f32>,
    #[prost(message, optional, tag = "72")]
    pub w_int64: Option<i64>,
    #[prost(message, optional, tag = "73")]
    pub w_uint64: Option<u64>,
    #[prost(message, optional, tag = "74")]
    pub w_int32: Option<i32>,
    #[prost(message, optional, tag = "75")]
    pub w_uint32: Option<u32>,
    #[prost(message, optional, tag = "76")]
    pub w_bool: Option<bool>,
    #[prost(message, optional, tag = "77")]
    pub w_string: Option<String>,
    #[prost(message, optional, tag = "78")]
    pub w_bytes: Option<Vec<u8>>,

    #[deprecated]
    #[prost(int32, tag = "80")]
    pub old_field: i32,
    #[prost(string, tag = "81")]
    pub r#type: String,
}

pub mod sink {
    /// One of four.
    #[derive(Clone, PartialEq, prost::Oneof, rpc_core::Descriptor)]
    pub enum Choice {
        #[prost(string, tag = "50")]
        Text(String),
        #[prost(message, tag = "51")]
        ChosenLeaf(super::Leaf),
        #[prost(enumeration = "super::Color", tag = "52")]
        ChosenColor(i32),
        #[prost(bytes, tag = "53")]
        Raw(Vec<u8>),
    }
}

/// A leaf.
#[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
pub struct Leaf {
    /// Its name.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// Recursion: a tree refers to itself and to nodes, which refer to trees.
#[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
pub struct Tree {
    #[prost(message, optional, tag = "1")]
    pub root: Option<Node>,
    #[prost(message, repeated, tag = "2")]
    pub subtrees: Vec<Tree>,
}

#[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
pub struct Node {
    #[prost(message, optional, boxed, tag = "1")]
    pub tree: Option<Box<Tree>>,
    #[prost(message, optional, tag = "2")]
    pub leaf: Option<Leaf>,
}

/// Colors.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    prost::Enumeration,
    rpc_core::Descriptor,
)]
#[repr(i32)]
pub enum Color {
    Unspecified = 0,
    /// Red.
    Red = 1,
    #[deprecated]
    DarkBlue = 2,
}

/// Every kind of field, in one service.
#[rpc_core::service(package = "kitchen")]
pub trait Kitchen {
    /// Takes a sink, gives a tree.
    async fn cook(&self, request: Request<Sink>) -> Result<Response<Tree>, Status>;

    /// Well-known types as messages.
    #[rpc(no_side_effects)]
    async fn drain(
        &self,
        request: Request<Streaming<()>>,
    ) -> Result<Response<impl Stream<Item = Result<String, Status>>>, Status>;

    #[deprecated]
    #[rpc(idempotent)]
    async fn old(&self, request: Request<i64>) -> Result<Response<Vec<u8>>, Status>;
}

fn protox_set() -> FileDescriptorSet {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/protos");
    protox::compile(["kitchen.proto"], [dir]).unwrap()
}

fn built_set() -> FileDescriptorSet {
    FileDescriptorSet::decode(kitchen_descriptor::file_descriptor_set()).unwrap()
}

/// The leading comment of the element at `path` of its file.
fn comment(file: &prost_reflect::FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    location.leading_comments.clone()
}

#[test]
fn every_declaration_is_the_one_protox_builds() {
    let built = DescriptorPool::from_file_descriptor_set(built_set()).unwrap();
    let twin = DescriptorPool::from_file_descriptor_set(protox_set()).unwrap();

    let services: Vec<_> = twin.services().collect();
    assert_eq!(services.len(), 1);
    for twin in services {
        let service = built.get_service_by_name(twin.full_name()).unwrap();
        assert_eq!(
            service.service_descriptor_proto(),
            twin.service_descriptor_proto()
        );
        assert_eq!(
            comment(&service.parent_file(), service.path()),
            comment(&twin.parent_file(), twin.path())
        );
        for (method, twin) in service.methods().zip(twin.methods()) {
            let expected = comment(&twin.parent_file(), twin.path());
            assert_eq!(comment(&method.parent_file(), method.path()), expected);
        }
    }

    let kitchen = |name: &str| name.starts_with("kitchen.");
    let mut messages = 0;
    for twin in twin.all_messages().filter(|m| kitchen(m.full_name())) {
        let message = built.get_message_by_name(twin.full_name()).unwrap();
        assert_eq!(
            message.descriptor_proto(),
            twin.descriptor_proto(),
            "{}",
            twin.full_name()
        );
        let expected = comment(&twin.parent_file(), twin.path());
        assert_eq!(comment(&message.parent_file(), message.path()), expected);
        for (field, twin) in message.fields().zip(twin.fields()) {
            let expected = comment(&twin.parent_file(), twin.path());
            assert_eq!(
                comment(&field.parent_file(), field.path()),
                expected,
                "{}",
                twin.full_name()
            );
        }
        for (oneof, twin) in message.oneofs().zip(twin.oneofs()) {
            let expected = comment(&twin.parent_file(), twin.path());
            assert_eq!(comment(&oneof.parent_file(), oneof.path()), expected);
        }
        messages += 1;
    }
    // Sink and its four map entries, Leaf, Tree, Node.
    assert_eq!(messages, 8);

    let color = built.get_enum_by_name("kitchen.Color").unwrap();
    let twin = twin.get_enum_by_name("kitchen.Color").unwrap();
    assert_eq!(color.enum_descriptor_proto(), twin.enum_descriptor_proto());
    for (value, twin) in color.values().zip(twin.values()) {
        let expected = comment(&twin.parent_file(), twin.path());
        assert_eq!(comment(&value.parent_file(), value.path()), expected);
    }
}

#[test]
fn well_known_files_are_protox_s() {
    let without_source = |mut file: FileDescriptorProto| {
        file.source_code_info = None;
        (file.name().to_owned(), file)
    };
    let twin: HashMap<_, _> = protox_set().file.into_iter().map(without_source).collect();
    let mut well_known = 0;
    for file in built_set().file {
        if file.name().starts_with("google/protobuf/") {
            assert_eq!(
                without_source(file.clone()).1,
                twin[file.name()],
                "{}",
                file.name()
            );
            well_known += 1;
        }
    }
    assert_eq!(well_known, 7);
}

#[test]
fn files_are_named_after_declarations_and_imports_come_first() {
    let set = built_set();
    let names: Vec<_> = set.file.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "google/protobuf/any.proto",
            "google/protobuf/duration.proto",
            "google/protobuf/empty.proto",
            "google/protobuf/field_mask.proto",
            "google/protobuf/struct.proto",
            "google/protobuf/timestamp.proto",
            "google/protobuf/wrappers.proto",
            "kitchen/Color.proto",
            "kitchen/Leaf.proto",
            "kitchen/Sink.proto",
            // Node and Tree refer to each other: one file, named after the first.
            "kitchen/Node.proto",
            "kitchen/Kitchen.proto",
        ]
    );
    let node = set
        .file
        .iter()
        .find(|f| f.name() == "kitchen/Node.proto")
        .unwrap();
    let declared: Vec<_> = node.message_type.iter().map(|m| m.name()).collect();
    assert_eq!(declared, ["Node", "Tree"]);
    assert_eq!(node.dependency, ["kitchen/Leaf.proto"]);
}

/// Names: a package and a name of the type's own, a field and a value renamed, and the
/// service's package (here none) for the rest.
mod named {
    use super::Leaf;
    use rpc_core::{Request, Response, Status};

    #[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
    #[descriptor(package = "other.v1", name = "Renamed")]
    pub struct Local {
        #[descriptor(name = "label")]
        #[prost(string, tag = "1")]
        pub text: String,
        #[prost(enumeration = "Mood", tag = "2")]
        pub mood: i32,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration, rpc_core::Descriptor)]
    #[repr(i32)]
    pub enum Mood {
        Unknown = 0,
        #[descriptor(name = "HAPPY")]
        Happy = 1,
        VeryGlad = 2,
    }

    #[rpc_core::service(name = "Namer")]
    pub trait Names {
        async fn name(&self, request: Request<Local>) -> Result<Response<Leaf>, Status>;
    }
}

#[test]
fn types_take_the_service_package_unless_they_name_their_own() {
    let pool = DescriptorPool::decode(named::names_descriptor::file_descriptor_set()).unwrap();
    let service = pool.get_service_by_name("Namer").unwrap();
    assert_eq!(service.parent_file().name(), "Namer.proto");
    let method = service.methods().next().unwrap();
    assert_eq!(method.input().full_name(), "other.v1.Renamed");
    assert_eq!(method.output().full_name(), "Leaf");
    assert_eq!(
        method.input().parent_file().name(),
        "other/v1/Renamed.proto"
    );

    let field = method.input().get_field(1).unwrap();
    assert_eq!((field.name(), field.json_name()), ("label", "label"));
    let mood = method.input().get_field(2).unwrap();
    let prost_reflect::Kind::Enum(mood) = mood.kind() else {
        panic!("not an enum: {mood:?}");
    };
    assert_eq!(mood.full_name(), "Mood");
    let values: Vec<_> = mood
        .values()
        .map(|v| (v.name().to_owned(), v.number()))
        .collect();
    assert_eq!(
        values,
        [
            ("MOOD_UNKNOWN".into(), 0),
            ("HAPPY".into(), 1),
            ("MOOD_VERY_GLAD".into(), 2)
        ]
    );
}

/// A second service in the package, sharing `Leaf` with `Kitchen`.
#[rpc_core::service(package = "kitchen")]
pub trait Garden {
    async fn pick(&self, request: Request<Leaf>) -> Result<Response<Leaf>, Status>;
}

#[test]
fn sets_sharing_types_register_together() {
    // The same files for `Leaf` in both sets, and well-known files equal to protox's.
    let protox_wkt = protox::compile(
        [
            "google/protobuf/timestamp.proto",
            "google/protobuf/wrappers.proto",
        ],
        [concat!(env!("CARGO_MANIFEST_DIR"), "/tests/protos")],
    )
    .unwrap();
    rpc_reflection::Builder::configure()
        .register_encoded_file_descriptor_set(kitchen_descriptor::file_descriptor_set())
        .register_encoded_file_descriptor_set(garden_descriptor::file_descriptor_set())
        .register_file_descriptor_set(protox_wkt)
        .build_v1()
        .unwrap();

    let mut pool = DescriptorPool::new();
    pool.decode_file_descriptor_set(kitchen_descriptor::file_descriptor_set())
        .unwrap();
    pool.decode_file_descriptor_set(garden_descriptor::file_descriptor_set())
        .unwrap();
    assert!(pool.get_service_by_name("kitchen.Garden").is_some());
}

mod clash {
    pub mod a {
        #[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
        pub struct Same {}
    }

    pub mod b {
        #[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
        pub struct Same {}
    }

    #[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
    pub struct Both {
        #[prost(message, optional, tag = "1")]
        pub a: Option<a::Same>,
        #[prost(message, optional, tag = "2")]
        pub b: Option<b::Same>,
    }

    #[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
    #[descriptor(package = "one")]
    pub struct Ping {
        #[prost(message, optional, boxed, tag = "1")]
        pub pong: Option<Box<Pong>>,
    }

    #[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
    #[descriptor(package = "two")]
    pub struct Pong {
        #[prost(message, optional, boxed, tag = "1")]
        pub ping: Option<Box<Ping>>,
    }
}

fn describe<T: rpc_core::codegen::descriptor::DescribeMessage>() -> Vec<u8> {
    let mut builder = rpc_core::codegen::descriptor::DescriptorBuilder::new("x");
    T::describe(&mut builder);
    builder.encode()
}

#[test]
#[should_panic(expected = "are both described as the protobuf type `x.Same`")]
fn two_types_with_one_name_are_a_panic() {
    describe::<clash::Both>();
}

#[test]
#[should_panic(expected = "refer to each other but are in different packages")]
fn a_cycle_across_packages_is_a_panic() {
    describe::<clash::Ping>();
}
