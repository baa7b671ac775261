//! Reads the `#[prost(...)]` attribute of a field (the one `prost::Message` and
//! `prost::Oneof` read) into what a descriptor needs: type, label, number.
//!
//! It accepts what prost-derive accepts, in the same spellings (`tag = "1"`, `tag = 1`,
//! `enumeration = "Kind"`, `enumeration(Kind)`, `map = "string, int32"`, `map(string, int32)`,
//! ...). What proto3 cannot express (`required`, `default = ...`, `group`) is an error.

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Lit, LitStr, Meta, Path, Token};

/// A scalar type: the `Type` variant of the descriptor (`Int32`, `Sfixed64`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scalar(pub &'static str);

impl Scalar {
    fn from_name(name: &str) -> Option<Scalar> {
        Some(Scalar(match name {
            "double" => "Double",
            "float" => "Float",
            "int32" => "Int32",
            "int64" => "Int64",
            "uint32" => "Uint32",
            "uint64" => "Uint64",
            "sint32" => "Sint32",
            "sint64" => "Sint64",
            "fixed32" => "Fixed32",
            "fixed64" => "Fixed64",
            "sfixed32" => "Sfixed32",
            "sfixed64" => "Sfixed64",
            "bool" => "Bool",
            "string" => "String",
            "bytes" => "Bytes",
            _ => return None,
        }))
    }

    /// Packed when repeated (proto3's default), unless `packed = false`.
    fn is_numeric(self) -> bool {
        !matches!(self.0, "String" | "Bytes")
    }

    /// Allowed as a map key: integral types, `bool` and `string`.
    fn is_map_key(self) -> bool {
        !matches!(self.0, "Double" | "Float" | "Bytes")
    }
}

/// The value type of a map.
#[derive(Debug, Clone)]
pub(crate) enum MapValue {
    Scalar(Scalar),
    Enum(Path),
    /// The message type is the map's value type in Rust.
    Message,
}

/// What a field holds.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Scalar(Scalar),
    Enum(Path),
    /// The message type comes from the Rust type of the field.
    Message,
    Map(Scalar, MapValue),
    /// `oneof = "path::Enum"`: a `prost::Oneof` enum.
    Oneof(Path),
}

/// The label keyword, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    None,
    Optional,
    Repeated,
}

/// One field's `#[prost(...)]`, read.
#[derive(Debug, Clone)]
pub(crate) struct ProstField {
    pub kind: Kind,
    pub label: Label,
    /// `packed = false`.
    pub unpacked: bool,
    /// `tag = ...`, or the tags of a oneof.
    pub tags: Vec<u32>,
}

impl ProstField {
    /// Whether a repeated field of this kind is written unpacked.
    pub(crate) fn is_unpacked(&self) -> bool {
        self.unpacked
            && match self.kind {
                Kind::Scalar(s) => s.is_numeric(),
                Kind::Enum(_) => true,
                _ => false,
            }
    }
}

/// The proto2 features a proto3 descriptor cannot carry.
const PROTO2: &str = "descriptors are proto3, which has no";

/// Reads the `#[prost(...)]` attributes of a field; `None` if it has none.
pub(crate) fn parse(attrs: &[Attribute]) -> syn::Result<Option<(ProstField, Span)>> {
    let mut metas = Vec::new();
    let mut span = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("prost")) {
        span.get_or_insert(attr.span());
        let list = attr.meta.require_list()?;
        metas.extend(list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?);
    }
    let Some(span) = span else {
        return Ok(None);
    };
    let mut parts = Parts::default();
    for meta in &metas {
        parts.add(meta)?;
    }
    parts.finish(span).map(|field| Some((field, span)))
}

/// The arguments as they are read, before they are checked against each other.
#[derive(Default)]
struct Parts {
    kind: Option<(Kind, Span)>,
    label: Option<Label>,
    unpacked: bool,
    tag: Option<u32>,
    tags: Option<Vec<u32>>,
}

impl Parts {
    fn add(&mut self, meta: &Meta) -> syn::Result<()> {
        let path = meta.path();
        let Some(key) = path.get_ident().map(|i| i.to_string()) else {
            return Err(syn::Error::new(path.span(), "unknown `prost` argument"));
        };
        match key.as_str() {
            "optional" | "repeated" => {
                meta.require_path_only()?;
                let label = if key == "optional" {
                    Label::Optional
                } else {
                    Label::Repeated
                };
                self.set_label(label, meta.span())
            }
            "required" | "default" | "group" => Err(syn::Error::new(
                meta.span(),
                format!(
                    "`{key}` cannot be described: {PROTO2} {}",
                    match key.as_str() {
                        "required" => "required fields",
                        "default" => "default values",
                        _ => "groups",
                    }
                ),
            )),
            "tag" => set(&mut self.tag, int(meta)?, meta.span(), "tag"),
            "tags" => set(&mut self.tags, ints(meta)?, meta.span(), "tags"),
            "packed" => {
                self.unpacked = !boolean(meta)?;
                Ok(())
            }
            // Only where prost keeps the value: nothing to describe.
            "boxed" => meta.require_path_only().map(drop),
            _ => {
                let kind = kind(&key, meta)?;
                set(&mut self.kind, (kind, meta.span()), meta.span(), "type")
            }
        }
    }

    fn set_label(&mut self, label: Label, span: Span) -> syn::Result<()> {
        if self.label.is_some() {
            return Err(syn::Error::new(span, "duplicate label"));
        }
        self.label = Some(label);
        Ok(())
    }

    fn finish(self, span: Span) -> syn::Result<ProstField> {
        let Some((kind, kind_span)) = self.kind else {
            return Err(syn::Error::new(
                span,
                "missing the field's type in `#[prost(...)]`",
            ));
        };
        let label = self.label.unwrap_or(Label::None);
        if matches!(kind, Kind::Map(..) | Kind::Oneof(_)) && label != Label::None {
            return Err(syn::Error::new(
                kind_span,
                "a map or oneof field takes no label",
            ));
        }
        let tags = match (&kind, self.tags, self.tag) {
            (Kind::Oneof(_), Some(tags), None) => tags,
            (Kind::Oneof(_), None, _) => {
                return Err(syn::Error::new(
                    kind_span,
                    "a oneof field needs `tags = \"...\"`",
                ))
            }
            (_, None, tag) => tag.into_iter().collect(),
            (_, Some(_), _) => return Err(syn::Error::new(span, "`tags` is for oneof fields")),
        };
        Ok(ProstField {
            kind,
            label,
            unpacked: self.unpacked,
            tags,
        })
    }
}

fn set<T>(slot: &mut Option<T>, value: T, span: Span, what: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("duplicate {what}")));
    }
    *slot = Some(value);
    Ok(())
}

/// The type keywords: scalars, `bytes = "..."`, `enumeration`, `message`, maps, `oneof`.
fn kind(key: &str, meta: &Meta) -> syn::Result<Kind> {
    if key == "message" {
        meta.require_path_only()?;
        return Ok(Kind::Message);
    }
    if key == "bytes" && !matches!(meta, Meta::Path(_)) {
        let value = string(meta)?;
        if value.value() != "vec" && value.value() != "bytes" {
            return Err(syn::Error::new(
                value.span(),
                "expected `\"vec\"` or `\"bytes\"`",
            ));
        }
        return Ok(Kind::Scalar(Scalar("Bytes")));
    }
    if let Some(scalar) = Scalar::from_name(key) {
        meta.require_path_only()?;
        return Ok(Kind::Scalar(scalar));
    }
    match key {
        "enumeration" => Ok(Kind::Enum(path_arg(meta)?)),
        "oneof" => Ok(Kind::Oneof(path_arg(meta)?)),
        "map" | "hash_map" | "btree_map" => map(meta),
        _ => Err(syn::Error::new(
            meta.path().span(),
            format!(
                "`{key}` cannot be described: expected a scalar type, `bytes = \"...\"`, \
                 `enumeration = \"...\"`, `message`, `map = \"...\"` or `oneof = \"...\"`"
            ),
        )),
    }
}

/// `map = "key, value"` or `map(key, value)`.
fn map(meta: &Meta) -> syn::Result<Kind> {
    let (text, span) = match meta {
        Meta::NameValue(_) => {
            let lit = string(meta)?;
            (lit.value(), lit.span())
        }
        Meta::List(list) => (list.tokens.to_string(), list.span()),
        Meta::Path(p) => return Err(syn::Error::new(p.span(), "expected `map = \"key, value\"`")),
    };
    let Some((key, value)) = text.split_once(',') else {
        return Err(syn::Error::new(span, "expected `\"key, value\"`"));
    };
    let key = match Scalar::from_name(key.trim()) {
        Some(key) if key.is_map_key() => key,
        _ => {
            return Err(syn::Error::new(
                span,
                format!(
                    "invalid map key type `{}`: an integer type, `bool` or `string`",
                    key.trim()
                ),
            ))
        }
    };
    Ok(Kind::Map(key, map_value(value.trim(), span)?))
}

fn map_value(value: &str, span: Span) -> syn::Result<MapValue> {
    if value == "message" {
        return Ok(MapValue::Message);
    }
    if let Some(scalar) = Scalar::from_name(value) {
        return Ok(MapValue::Scalar(scalar));
    }
    let inner = value
        .strip_prefix("enumeration")
        .map(str::trim)
        .and_then(|v| v.strip_prefix(['(', '<']))
        .and_then(|v| v.strip_suffix([')', '>']));
    match inner.map(syn::parse_str::<Path>) {
        Some(Ok(mut path)) => {
            respan_path(&mut path, span);
            Ok(MapValue::Enum(path))
        }
        _ => Err(syn::Error::new(
            span,
            format!(
                "invalid map value type `{value}`: a scalar type, `message` or \
                 `enumeration(Path)`"
            ),
        )),
    }
}

fn respan_path(path: &mut Path, span: Span) {
    for segment in &mut path.segments {
        segment.ident.set_span(span);
    }
}

/// `key = "path::Type"` or `key(path::Type)`.
fn path_arg(meta: &Meta) -> syn::Result<Path> {
    match meta {
        Meta::List(list) => list.parse_args(),
        _ => string(meta)?.parse(),
    }
}

fn string(meta: &Meta) -> syn::Result<LitStr> {
    match &meta.require_name_value()?.value {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(s) => Ok(s.clone()),
            other => Err(syn::Error::new(other.span(), "expected a string")),
        },
        other => Err(syn::Error::new(other.span(), "expected a string")),
    }
}

/// `tag = "1"`, `tag = 1` or `tag(1)`.
fn int(meta: &Meta) -> syn::Result<u32> {
    let (text, span) = match meta {
        Meta::List(list) => (list.tokens.to_string(), list.span()),
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Str(s) => (s.value(), s.span()),
                Lit::Int(i) => return i.base10_parse(),
                other => return Err(syn::Error::new(other.span(), "expected a number")),
            },
            other => return Err(syn::Error::new(other.span(), "expected a number")),
        },
        Meta::Path(p) => return Err(syn::Error::new(p.span(), "expected `tag = \"...\"`")),
    };
    text.trim()
        .parse()
        .map_err(|_| syn::Error::new(span, "expected a field number"))
}

/// `tags = "1, 2"` or `tags(1, 2)`.
fn ints(meta: &Meta) -> syn::Result<Vec<u32>> {
    let (text, span) = match meta {
        Meta::List(list) => (list.tokens.to_string(), list.span()),
        _ => {
            let lit = string(meta)?;
            (lit.value(), lit.span())
        }
    };
    text.split(',')
        .map(|t| t.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| syn::Error::new(span, "expected field numbers, such as `\"1, 2\"`"))
}

/// `packed`, `packed = "false"`, `packed = false` or `packed(false)`.
fn boolean(meta: &Meta) -> syn::Result<bool> {
    let value = match meta {
        Meta::Path(_) => return Ok(true),
        Meta::List(list) => list.tokens.to_string(),
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Str(s) => s.value(),
                Lit::Bool(b) => return Ok(b.value),
                other => return Err(syn::Error::new(other.span(), "expected a boolean")),
            },
            other => return Err(syn::Error::new(other.span(), "expected a boolean")),
        },
    };
    value
        .trim()
        .parse()
        .map_err(|_| syn::Error::new(meta.span(), "expected `true` or `false`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn field(attr: Attribute) -> Result<ProstField, String> {
        match parse(&[attr]) {
            Ok(Some((f, _))) => Ok(f),
            Ok(None) => Err("none".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn reads_what_prost_build_writes() {
        let f = field(parse_quote!(#[prost(sint64, repeated, tag = "3")])).unwrap();
        assert!(matches!(f.kind, Kind::Scalar(Scalar("Sint64"))));
        assert_eq!(
            (f.label, f.tags.as_slice(), f.is_unpacked()),
            (Label::Repeated, &[3][..], false)
        );

        let f =
            field(parse_quote!(#[prost(int32, repeated, packed = "false", tag = "4")])).unwrap();
        assert!(f.is_unpacked());

        let f = field(parse_quote!(#[prost(bytes = "vec", optional, tag = 7)])).unwrap();
        assert!(matches!(f.kind, Kind::Scalar(Scalar("Bytes"))));
        assert_eq!(f.label, Label::Optional);

        let f = field(parse_quote!(#[prost(enumeration = "super::Kind", tag = "5")])).unwrap();
        assert!(
            matches!(f.kind, Kind::Enum(p) if quote::quote!(#p).to_string() == "super :: Kind")
        );

        let f =
            field(parse_quote!(#[prost(map = "string, enumeration(Kind)", tag = "6")])).unwrap();
        assert!(matches!(
            f.kind,
            Kind::Map(Scalar("String"), MapValue::Enum(_))
        ));

        let f = field(parse_quote!(#[prost(btree_map(int64, message), tag(8))])).unwrap();
        assert!(matches!(
            f.kind,
            Kind::Map(Scalar("Int64"), MapValue::Message)
        ));
        assert_eq!(f.tags, [8]);

        let f = field(parse_quote!(#[prost(oneof = "note::Choice", tags = "1, 2")])).unwrap();
        assert!(matches!(f.kind, Kind::Oneof(_)));
        assert_eq!(f.tags, [1, 2]);

        let f = field(parse_quote!(#[prost(message, optional, boxed, tag = "9")])).unwrap();
        assert!(matches!(f.kind, Kind::Message));
    }

    #[test]
    fn rejects_what_proto3_cannot_say() {
        for (attr, error) in [
            (
                parse_quote!(#[prost(int32, required, tag = "1")]),
                "required fields",
            ),
            (
                parse_quote!(#[prost(int32, default = "5", tag = "1")]),
                "default values",
            ),
            (parse_quote!(#[prost(group, tag = "1")]), "groups"),
            (
                parse_quote!(#[prost(map = "float, int32", tag = "1")]),
                "invalid map key",
            ),
            (
                parse_quote!(#[prost(map = "string, what", tag = "1")]),
                "invalid map value",
            ),
            (
                parse_quote!(#[prost(decimal, tag = "1")]),
                "cannot be described",
            ),
            (
                parse_quote!(#[prost(tag = "1")]),
                "missing the field's type",
            ),
            (parse_quote!(#[prost(oneof = "X")]), "needs `tags"),
        ] {
            let e = field(attr).unwrap_err();
            assert!(e.contains(error), "{e}");
        }
    }
}
