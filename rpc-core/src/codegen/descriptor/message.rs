//! [`MessageBuilder`]: the fields, oneofs and map entries of one message, as protoc
//! declares them (JSON names, map entry types, synthetic oneofs of proto3 `optional`).

use super::{
    full_name_of, push_comment, Comments, Decl, Declared, Field, FieldType, Label, Type, TypeRef,
};
use prost_types::field_descriptor_proto::Label as ProtoLabel;
use prost_types::{DescriptorProto, FieldDescriptorProto, MessageOptions, OneofDescriptorProto};
use std::collections::BTreeSet;

/// Builds one message: its fields, oneofs and map entries.
#[derive(Debug)]
pub struct MessageBuilder {
    /// The package of the builder, for the types that name none.
    default_package: String,
    package: String,
    pub(super) full_name: String,
    pub(super) proto: DescriptorProto,
    /// The oneof being filled, if any.
    oneof: Option<i32>,
    /// Indexes of the proto3 `optional` fields, which get synthetic oneofs at the end.
    synthetic: Vec<usize>,
    refs: BTreeSet<String>,
    deps: Vec<TypeRef>,
    comments: Comments,
}

impl MessageBuilder {
    pub(super) fn new(
        default_package: &str,
        package: String,
        full_name: String,
        name: &str,
    ) -> Self {
        MessageBuilder {
            default_package: default_package.to_owned(),
            package,
            full_name,
            proto: DescriptorProto {
                name: Some(name.to_owned()),
                ..DescriptorProto::default()
            },
            oneof: None,
            synthetic: Vec::new(),
            refs: BTreeSet::new(),
            deps: Vec::new(),
            comments: Vec::new(),
        }
    }

    /// Adds a field (to the open oneof, if any).
    pub fn field(&mut self, field: Field) {
        let index = self.proto.field.len();
        let mut proto = FieldDescriptorProto {
            name: Some(field.name.to_owned()),
            number: Some(field.number),
            json_name: Some(json_name(field.name)),
            ..FieldDescriptorProto::default()
        };
        let is_map = matches!(field.ty, FieldType::Map(..));
        self.set_type(&mut proto, field.name, field.ty);
        self.set_label(
            &mut proto,
            index,
            if is_map { Label::Repeated } else { field.label },
        );
        proto.oneof_index = self.oneof;
        if field.deprecated {
            proto
                .options
                .get_or_insert_with(Default::default)
                .deprecated = Some(true);
        }
        self.comment(vec![2, index as i32], field.comment);
        self.proto.field.push(proto);
    }

    /// Opens oneof `name`, adds its fields with `fields`, and closes it.
    pub fn oneof(&mut self, name: &str, comment: &'static str, fields: fn(&mut MessageBuilder)) {
        let index = self.proto.oneof_decl.len() as i32;
        self.proto.oneof_decl.push(OneofDescriptorProto {
            name: Some(name.to_owned()),
            options: None,
        });
        self.comment(vec![8, index], comment);
        let outer = self.oneof.replace(index);
        fields(self);
        self.oneof = outer;
    }

    fn set_type(&mut self, proto: &mut FieldDescriptorProto, name: &str, ty: FieldType) {
        match ty {
            FieldType::Scalar(ty) => proto.set_type(ty),
            FieldType::Message(r) => {
                proto.set_type(Type::Message);
                proto.type_name = Some(self.refer(r));
            }
            FieldType::Enum(r) => {
                proto.set_type(Type::Enum);
                proto.type_name = Some(self.refer(r));
            }
            FieldType::Map(key, value) => {
                let entry = self.map_entry(name, key, *value);
                proto.set_type(Type::Message);
                proto.type_name = Some(format!(".{}.{}", self.full_name, entry.name()));
                self.proto.nested_type.push(entry);
            }
        }
    }

    fn set_label(&mut self, proto: &mut FieldDescriptorProto, index: usize, label: Label) {
        match label {
            Label::Singular => proto.set_label(ProtoLabel::Optional),
            Label::Optional => {
                proto.set_label(ProtoLabel::Optional);
                proto.proto3_optional = Some(true);
                self.synthetic.push(index);
            }
            Label::Repeated => proto.set_label(ProtoLabel::Repeated),
            Label::Unpacked => {
                proto.set_label(ProtoLabel::Repeated);
                proto.options.get_or_insert_with(Default::default).packed = Some(false);
            }
        }
    }

    /// The nested `<Field>Entry` message of a map field, as protoc declares it.
    fn map_entry(&mut self, field: &str, key: Type, value: FieldType) -> DescriptorProto {
        let name = map_entry_name(field);
        let mut entry = MessageBuilder::new(
            &self.default_package,
            self.package.clone(),
            format!("{}.{name}", self.full_name),
            &name,
        );
        for (name, number, ty) in [("key", 1, FieldType::Scalar(key)), ("value", 2, value)] {
            entry.field(Field {
                name,
                number,
                label: Label::Singular,
                ty,
                comment: "",
                deprecated: false,
            });
        }
        entry.proto.options = Some(MessageOptions {
            map_entry: Some(true),
            ..MessageOptions::default()
        });
        self.refs.append(&mut entry.refs);
        self.deps.append(&mut entry.deps);
        entry.proto
    }

    /// `.full.Name` of a referenced type, which is described after this message.
    fn refer(&mut self, r: TypeRef) -> String {
        let name = full_name_of(&self.default_package, r.name);
        self.refs.insert(name.clone());
        self.deps.push(r);
        format!(".{name}")
    }

    pub(super) fn comment(&mut self, path: Vec<i32>, comment: &str) {
        push_comment(&mut self.comments, path, comment);
    }

    /// The message, with a synthetic oneof for each proto3 `optional` field after the real
    /// oneofs (as protoc orders them), and the types to describe next.
    pub(super) fn finish(mut self) -> (Declared, Vec<TypeRef>) {
        for &i in &self.synthetic {
            let index = self.proto.oneof_decl.len() as i32;
            let name = format!("_{}", self.proto.field[i].name());
            self.proto.oneof_decl.push(OneofDescriptorProto {
                name: Some(name),
                options: None,
            });
            self.proto.field[i].oneof_index = Some(index);
        }
        let declared = Declared {
            package: self.package,
            decl: Decl::Message(self.proto),
            refs: self.refs,
            comments: self.comments,
        };
        (declared, self.deps)
    }

    /// The message alone (for the well-known types, built from the same parts).
    pub(super) fn into_proto(self) -> DescriptorProto {
        match self.finish().0.decl {
            Decl::Message(proto) => proto,
            _ => unreachable!("a message builder builds a message"),
        }
    }
}

/// protoc's JSON name of a field: `foo_bar` -> `fooBar`.
fn json_name(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// protoc's name of the entry message of a map field: `foo_bar` -> `FooBarEntry`.
fn map_entry_name(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 5);
    let mut upper = true;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out + "Entry"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::descriptor::full_name;

    #[test]
    fn names_as_protoc_makes_them() {
        assert_eq!(json_name("foo_bar_baz"), "fooBarBaz");
        assert_eq!(json_name("value"), "value");
        assert_eq!(json_name("a_1"), "a1");
        assert_eq!(map_entry_name("labels"), "LabelsEntry");
        assert_eq!(map_entry_name("by_id_2"), "ById2Entry");
        assert_eq!(full_name("", "Note"), "Note");
        assert_eq!(full_name("a.b", "Note"), "a.b.Note");
    }
}
