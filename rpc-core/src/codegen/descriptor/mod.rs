//! Protobuf descriptors built at run time for services and messages written in Rust.
//!
//! `#[derive(Descriptor)]` implements [`DescribeMessage`], [`DescribeEnum`] or
//! [`DescribeOneof`] from a type's `#[prost(...)]` attributes, and `#[service]` generates a
//! function that describes the service and, through these traits, every type it uses. A
//! [`DescriptorBuilder`] collects the descriptions (each type once, by full name) and lays
//! them out as a `FileDescriptorSet` (see [`DescriptorBuilder::file_descriptor_set`]).
//!
//! Used only by generated code: not a public API.

mod files;
mod message;
mod wkt;

pub use message::MessageBuilder;

use prost::Message as _;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumOptions, EnumValueDescriptorProto, EnumValueOptions,
    FileDescriptorProto, FileDescriptorSet, MessageOptions, MethodDescriptorProto, MethodOptions,
    ServiceDescriptorProto, ServiceOptions,
};
use std::collections::{btree_map, BTreeMap, BTreeSet};

pub use prost_types::field_descriptor_proto::Type;
pub use prost_types::method_options::IdempotencyLevel;

/// The protobuf name of a described type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtoName {
    /// The package; `None`: the package of the service that describes the type.
    pub package: Option<&'static str>,
    /// The type's own name (no dots).
    pub name: &'static str,
}

/// A message type with a descriptor: `#[derive(rpc_core::Descriptor)]` on a prost message,
/// or one of the types prost maps well-known types to (`()`, `String`, `i64`, ...,
/// `prost_types::Timestamp`, ...).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no protobuf descriptor",
    label = "no descriptor for this type",
    note = "add `#[derive(rpc_core::Descriptor)]` next to `prost::Message` on `{Self}` \
            (and on the messages, enums and oneofs it uses)"
)]
pub trait DescribeMessage {
    /// The message's protobuf name.
    const NAME: ProtoName;

    /// Adds the message, and the types it uses, to `builder` (nothing if it is there).
    fn describe(builder: &mut DescriptorBuilder);
}

/// An enumeration with a descriptor: `#[derive(rpc_core::Descriptor)]` on a
/// `prost::Enumeration` enum.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no protobuf descriptor",
    label = "no descriptor for this enumeration",
    note = "add `#[derive(rpc_core::Descriptor)]` next to `prost::Enumeration` on `{Self}`"
)]
pub trait DescribeEnum {
    /// The enumeration's protobuf name.
    const NAME: ProtoName;

    /// Adds the enumeration to `builder` (nothing if it is there).
    fn describe(builder: &mut DescriptorBuilder);
}

/// The fields of a oneof: `#[derive(rpc_core::Descriptor)]` on a `prost::Oneof` enum.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no protobuf descriptor",
    label = "no descriptor for this oneof",
    note = "add `#[derive(rpc_core::Descriptor)]` next to `prost::Oneof` on `{Self}`"
)]
pub trait DescribeOneof {
    /// Adds the oneof's fields to the message being built (which has opened the oneof).
    fn describe_fields(message: &mut MessageBuilder);
}

/// A reference to a message or enumeration type: its name, and how to describe it.
#[derive(Clone, Copy)]
pub struct TypeRef {
    name: ProtoName,
    describe: fn(&mut DescriptorBuilder),
}

impl TypeRef {
    /// A message type.
    pub fn message<T: DescribeMessage + ?Sized>() -> TypeRef {
        TypeRef {
            name: T::NAME,
            describe: T::describe,
        }
    }

    /// An enumeration.
    pub fn enumeration<T: DescribeEnum + ?Sized>() -> TypeRef {
        TypeRef {
            name: T::NAME,
            describe: T::describe,
        }
    }
}

impl std::fmt::Debug for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TypeRef").field(&self.name).finish()
    }
}

/// How many values a field holds, in proto3 terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// One value, no presence (also a message field, and a field of a oneof).
    Singular,
    /// `optional`: one value with presence (a synthetic oneof).
    Optional,
    /// `repeated`; numeric scalars are packed, as proto3's default.
    Repeated,
    /// `repeated` with `[packed = false]`.
    Unpacked,
}

/// The type of a field.
#[derive(Clone)]
pub enum FieldType {
    /// A scalar: `Type::Int32`, `Type::String`, `Type::Bytes`...
    Scalar(Type),
    /// A message.
    Message(TypeRef),
    /// An enumeration.
    Enum(TypeRef),
    /// `map<key, value>`: a scalar key, and a scalar, message or enumeration value.
    Map(Type, Box<FieldType>),
}

/// One field of a message.
pub struct Field {
    /// The field's name.
    pub name: &'static str,
    /// The field number (prost's tag).
    pub number: i32,
    /// Singular, optional or repeated (maps are repeated whatever this says).
    pub label: Label,
    /// The field's type.
    pub ty: FieldType,
    /// Its leading comment (`""`: none), lines ending in `\n` as protoc writes them.
    pub comment: &'static str,
    /// `[deprecated = true]`.
    pub deprecated: bool,
}

/// One value of an enumeration.
pub struct EnumValue {
    /// The value's name (`KIND_LOUD`).
    pub name: &'static str,
    /// Its number.
    pub number: i32,
    /// Its leading comment (`""`: none).
    pub comment: &'static str,
    /// `[deprecated = true]`.
    pub deprecated: bool,
}

/// A service, in the package of the builder.
pub struct Service {
    /// The service's name (`Greeter`).
    pub name: &'static str,
    /// Its leading comment (`""`: none).
    pub comment: &'static str,
    /// `option deprecated = true`.
    pub deprecated: bool,
    /// Its methods, in order.
    pub methods: Vec<Method>,
}

/// One method of a [`Service`].
pub struct Method {
    /// The method's name as routed (`SayHello`).
    pub name: &'static str,
    /// The request message.
    pub input: TypeRef,
    /// The response message.
    pub output: TypeRef,
    /// A stream of requests.
    pub client_streaming: bool,
    /// A stream of responses.
    pub server_streaming: bool,
    /// Its leading comment (`""`: none).
    pub comment: &'static str,
    /// `option deprecated = true`.
    pub deprecated: bool,
    /// `option idempotency_level`.
    pub idempotency: IdempotencyLevel,
}

/// Comments of a declaration, by path relative to it (`[]`: the declaration itself).
type Comments = Vec<(Vec<i32>, String)>;

/// What a file declares at its top level.
#[derive(Debug)]
pub(crate) enum Decl {
    Message(DescriptorProto),
    Enum(EnumDescriptorProto),
    Service(ServiceDescriptorProto),
}

/// One described message, enumeration or service.
#[derive(Debug)]
pub(crate) struct Declared {
    package: String,
    decl: Decl,
    /// Full names of the types it refers to.
    refs: BTreeSet<String>,
    comments: Comments,
}

/// Collects the descriptions of a service and of the types it uses, each once.
#[derive(Debug)]
pub struct DescriptorBuilder {
    /// The package of the service, and of the types that name none.
    package: String,
    /// The Rust type behind each full name begun, to catch two types with one name.
    begun: BTreeMap<String, &'static str>,
    /// Everything described, by full name.
    decls: BTreeMap<String, Declared>,
    /// The files of the well-known types used, by name.
    well_known: BTreeMap<String, FileDescriptorProto>,
    /// The types those files declare: full name -> file name.
    well_known_types: BTreeMap<String, String>,
}

impl DescriptorBuilder {
    /// A builder for a service in `package` (`""`: none).
    pub fn new(package: &str) -> DescriptorBuilder {
        DescriptorBuilder {
            package: package.to_owned(),
            begun: BTreeMap::new(),
            decls: BTreeMap::new(),
            well_known: BTreeMap::new(),
            well_known_types: BTreeMap::new(),
        }
    }

    /// Starts describing message `T`; `None` if it is described already (or being so).
    ///
    /// # Panics
    ///
    /// If another Rust type has the same protobuf name.
    pub fn begin_message<T: DescribeMessage + ?Sized>(
        &mut self,
        comment: &'static str,
        deprecated: bool,
    ) -> Option<MessageBuilder> {
        let (package, full_name) = self.resolve(T::NAME);
        if !self.begin(&full_name, std::any::type_name::<T>()) {
            return None;
        }
        let mut message = MessageBuilder::new(&self.package, package, full_name, T::NAME.name);
        message.comment(Vec::new(), comment);
        if deprecated {
            message.proto.options = Some(MessageOptions {
                deprecated: Some(true),
                ..MessageOptions::default()
            });
        }
        Some(message)
    }

    /// Adds a message begun with [`begin_message`](Self::begin_message), then describes
    /// the types its fields use.
    pub fn end_message(&mut self, message: MessageBuilder) {
        let full_name = message.full_name.clone();
        let (declared, deps) = message.finish();
        self.decls.insert(full_name, declared);
        for dep in deps {
            (dep.describe)(self);
        }
    }

    /// Adds enumeration `T` with its values (nothing if it is described already).
    ///
    /// # Panics
    ///
    /// If another Rust type has the same protobuf name.
    pub fn enumeration<T: DescribeEnum + ?Sized>(
        &mut self,
        comment: &'static str,
        deprecated: bool,
        values: &[EnumValue],
    ) {
        let (package, full_name) = self.resolve(T::NAME);
        if !self.begin(&full_name, std::any::type_name::<T>()) {
            return;
        }
        let mut comments = Vec::new();
        push_comment(&mut comments, Vec::new(), comment);
        let value = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                push_comment(&mut comments, vec![2, i as i32], v.comment);
                EnumValueDescriptorProto {
                    name: Some(v.name.to_owned()),
                    number: Some(v.number),
                    options: v.deprecated.then(|| EnumValueOptions {
                        deprecated: Some(true),
                        ..EnumValueOptions::default()
                    }),
                }
            })
            .collect();
        let proto = EnumDescriptorProto {
            name: Some(T::NAME.name.to_owned()),
            value,
            options: deprecated.then(|| EnumOptions {
                deprecated: Some(true),
                ..EnumOptions::default()
            }),
            ..EnumDescriptorProto::default()
        };
        let declared = Declared {
            package,
            decl: Decl::Enum(proto),
            refs: BTreeSet::new(),
            comments,
        };
        self.decls.insert(full_name, declared);
    }

    /// Adds a service of the builder's package, then describes its messages.
    ///
    /// # Panics
    ///
    /// If a described type has the service's full name.
    pub fn service(&mut self, service: Service) {
        let full_name = full_name(&self.package, service.name);
        self.begin(&full_name, "(the service)");
        let mut refs = BTreeSet::new();
        let mut comments = Vec::new();
        push_comment(&mut comments, Vec::new(), service.comment);
        let mut deps = Vec::new();
        let method = service
            .methods
            .iter()
            .enumerate()
            .map(|(i, m)| {
                push_comment(&mut comments, vec![2, i as i32], m.comment);
                let mut type_name = |r: TypeRef| {
                    let name = full_name_of(&self.package, r.name);
                    refs.insert(name.clone());
                    deps.push(r);
                    format!(".{name}")
                };
                MethodDescriptorProto {
                    name: Some(m.name.to_owned()),
                    input_type: Some(type_name(m.input)),
                    output_type: Some(type_name(m.output)),
                    options: method_options(m),
                    client_streaming: m.client_streaming.then_some(true),
                    server_streaming: m.server_streaming.then_some(true),
                }
            })
            .collect();
        let proto = ServiceDescriptorProto {
            name: Some(service.name.to_owned()),
            method,
            options: service.deprecated.then(|| ServiceOptions {
                deprecated: Some(true),
                ..ServiceOptions::default()
            }),
        };
        let declared = Declared {
            package: self.package.clone(),
            decl: Decl::Service(proto),
            refs,
            comments,
        };
        self.decls.insert(full_name, declared);
        for dep in deps {
            (dep.describe)(self);
        }
    }

    /// Everything described, as files: each service in `<package path>/<Service>.proto`,
    /// each message or enumeration in `<package path>/<Type>.proto` (types that refer to
    /// each other in a cycle share the file of the first of them by name), importing the
    /// files of the types they use; the well-known types in their usual files. Imported
    /// files come before the files that import them.
    ///
    /// # Panics
    ///
    /// If types of different packages refer to each other in a cycle: protobuf files
    /// cannot import each other.
    pub fn file_descriptor_set(&self) -> FileDescriptorSet {
        files::layout(self)
    }

    /// [`file_descriptor_set`](Self::file_descriptor_set), encoded.
    pub fn encode(&self) -> Vec<u8> {
        self.file_descriptor_set().encode_to_vec()
    }

    /// Adds a file of well-known types (once).
    fn well_known(&mut self, file: fn() -> FileDescriptorProto) {
        let file = file();
        if self.well_known.contains_key(file.name()) {
            return;
        }
        let package = file.package().to_owned();
        let names = file.message_type.iter().map(|m| m.name());
        for name in names.chain(file.enum_type.iter().map(|e| e.name())) {
            let full = full_name(&package, name);
            self.well_known_types.insert(full, file.name().to_owned());
        }
        self.well_known.insert(file.name().to_owned(), file);
    }

    /// (package, full name) of a type.
    fn resolve(&self, name: ProtoName) -> (String, String) {
        let package = name.package.unwrap_or(&self.package).to_owned();
        let full = full_name(&package, name.name);
        (package, full)
    }

    /// Marks `full_name` as begun; false if it was already, by the same Rust type.
    fn begin(&mut self, full_name: &str, rust: &'static str) -> bool {
        match self.begun.entry(full_name.to_owned()) {
            btree_map::Entry::Vacant(entry) => {
                entry.insert(rust);
                true
            }
            btree_map::Entry::Occupied(entry) if *entry.get() == rust => false,
            btree_map::Entry::Occupied(entry) => panic!(
                "`{}` and `{rust}` are both described as the protobuf type `{full_name}`: \
                 give one another name with `#[descriptor(name = \"...\")]` or \
                 `#[descriptor(package = \"...\")]`",
                entry.get()
            ),
        }
    }
}

/// `deprecated` and `idempotency_level`, if either is set.
fn method_options(m: &Method) -> Option<MethodOptions> {
    if !m.deprecated && m.idempotency == IdempotencyLevel::IdempotencyUnknown {
        return None;
    }
    let mut options = MethodOptions {
        deprecated: m.deprecated.then_some(true),
        ..MethodOptions::default()
    };
    if m.idempotency != IdempotencyLevel::IdempotencyUnknown {
        options.set_idempotency_level(m.idempotency);
    }
    Some(options)
}

fn push_comment(comments: &mut Comments, path: Vec<i32>, comment: &str) {
    if !comment.is_empty() {
        comments.push((path, comment.to_owned()));
    }
}

fn full_name(package: &str, name: &str) -> String {
    if package.is_empty() {
        name.to_owned()
    } else {
        format!("{package}.{name}")
    }
}

fn full_name_of(default_package: &str, name: ProtoName) -> String {
    full_name(name.package.unwrap_or(default_package), name.name)
}
