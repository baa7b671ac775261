//! `#[derive(Descriptor)]`: the protobuf descriptor of a prost message, enumeration or oneof,
//! read from the same `#[prost(...)]` attributes prost reads, as an implementation of
//! `DescribeMessage`, `DescribeEnum` or `DescribeOneof` (rpc-core's `codegen::descriptor`).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DataEnum, DataStruct, DeriveInput, Fields, LitStr, Path, Type, Variant,
};

use crate::names::{is_proto_ident, is_proto_package, to_snake};
use crate::prost_attr::{self, Kind, Label, MapValue, ProstField, Scalar};
use crate::service::{doc_lines, generic_args, Errors};

/// The largest protobuf field number, and the range reserved for the implementation.
const MAX_FIELD_NUMBER: u32 = (1 << 29) - 1;
const RESERVED_NUMBERS: std::ops::RangeInclusive<u32> = 19_000..=19_999;

/// The derive's expansion: the trait implementation, or the errors.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<DeriveInput>(input).and_then(|input| derive(&input)) {
        Ok(tokens) => tokens,
        Err(e) => e.to_compile_error(),
    }
}

/// `#[descriptor(...)]` on the type: `package`, `name`, `crate`.
#[derive(Default)]
struct TypeArgs {
    package: Option<String>,
    name: Option<String>,
    crate_path: Option<Path>,
}

/// A type's or item's doc comment (as protoc writes comments: each line ending in `\n`) and
/// `#[deprecated]`.
struct Docs {
    comment: String,
    deprecated: bool,
}

impl Docs {
    fn of(attrs: &[Attribute]) -> syn::Result<Docs> {
        let mut lines = Vec::new();
        for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
            lines.extend(doc_lines(attr)?);
        }
        Ok(Docs {
            comment: lines.iter().map(|l| format!("{l}\n")).collect(),
            deprecated: attrs.iter().any(|a| a.path().is_ident("deprecated")),
        })
    }
}

/// What the three kinds of implementation share.
struct Context<'a> {
    input: &'a DeriveInput,
    /// `<crate>::codegen::descriptor`.
    d: TokenStream,
    args: TypeArgs,
    docs: Docs,
}

fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            input.generics.span(),
            "a descriptor describes one protobuf type: generic types are not supported",
        ));
    }
    let args = type_args(&input.attrs)?;
    let cp = args
        .crate_path
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::rpc_core));
    let cx = Context {
        input,
        d: quote!(#cp::codegen::descriptor),
        args,
        docs: Docs::of(&input.attrs)?,
    };
    match &input.data {
        Data::Struct(s) => message(&cx, s),
        Data::Enum(e) if e.variants.iter().all(|v| v.fields.is_empty()) => enumeration(&cx, e),
        Data::Enum(e) => oneof(&cx, e),
        Data::Union(u) => Err(syn::Error::new(
            u.union_token.span(),
            "a descriptor describes a prost message (struct), enumeration or oneof (enum)",
        )),
    }
}

/// `impl DescribeMessage`: the fields in order, numbered as prost numbers them.
fn message(cx: &Context<'_>, data: &DataStruct) -> syn::Result<TokenStream> {
    let none = Punctuated::new();
    let fields = match &data.fields {
        Fields::Named(named) => &named.named,
        Fields::Unit => &none,
        Fields::Unnamed(u) => {
            return Err(syn::Error::new(
                u.span(),
                "protobuf fields have names: a described message is a struct with named fields",
            ))
        }
    };
    let d = &cx.d;
    let mut errors = Errors::default();
    let mut statements = Vec::new();
    // prost numbers a field without `tag` after the highest number before it.
    let mut next = 1;
    for field in fields {
        match message_field(d, field, next) {
            Ok((statement, last)) => {
                statements.push(statement);
                next = last + 1;
            }
            Err(e) => errors.push(e),
        }
    }
    errors.finish()?;
    let (ident, name_const) = (&cx.input.ident, name_const(cx)?);
    let (comment, deprecated) = (&cx.docs.comment, cx.docs.deprecated);
    Ok(quote! {
        #[automatically_derived]
        #[allow(deprecated)]
        impl #d::DescribeMessage for #ident {
            #name_const

            fn describe(builder: &mut #d::DescriptorBuilder) {
                let ::core::option::Option::Some(mut message) =
                    builder.begin_message::<Self>(#comment, #deprecated)
                else {
                    return;
                };
                #(#statements)*
                builder.end_message(message);
            }
        }
    })
}

/// One field of a message: the statement adding it, and its highest number.
fn message_field(
    d: &TokenStream,
    field: &syn::Field,
    next: u32,
) -> syn::Result<(TokenStream, u32)> {
    let (prost, span) = prost_field(&field.attrs, field.span())?;
    let name = item_name(&field.attrs)?.unwrap_or_else(|| {
        field
            .ident
            .as_ref()
            .map(|i| i.unraw().to_string())
            .unwrap_or_default()
    });
    let docs = Docs::of(&field.attrs)?;
    let comment = &docs.comment;
    if let Kind::Oneof(path) = &prost.kind {
        let last = check_numbers(&prost.tags, span)?;
        let statement = quote_spanned! {path.span()=>
            message.oneof(#name, #comment, <#path as #d::DescribeOneof>::describe_fields);
        };
        return Ok((statement, last));
    }
    let number = prost.tags.first().copied().unwrap_or(next);
    check_numbers(&[number], span)?;
    let (label, ty) = field_type(d, &prost, &field.ty)?;
    let deprecated = docs.deprecated;
    let number = number as i32;
    let statement = quote! {
        message.field(#d::Field {
            name: #name,
            number: #number,
            label: #d::Label::#label,
            ty: #ty,
            comment: #comment,
            deprecated: #deprecated,
        });
    };
    Ok((statement, number as u32))
}

/// The `Label` variant and the `FieldType` of a (non-oneof) field.
fn field_type(
    d: &TokenStream,
    prost: &ProstField,
    rust: &Type,
) -> syn::Result<(syn::Ident, TokenStream)> {
    let label = |name: &str| syn::Ident::new(name, Span::call_site());
    let scalar_label = match prost.label {
        Label::None => "Singular",
        Label::Optional => "Optional",
        Label::Repeated if prost.is_unpacked() => "Unpacked",
        Label::Repeated => "Repeated",
    };
    Ok(match &prost.kind {
        Kind::Scalar(scalar) => (label(scalar_label), scalar_type(d, *scalar)),
        Kind::Enum(path) => (label(scalar_label), enum_type(d, path)),
        Kind::Message => {
            let repeated = prost.label == Label::Repeated;
            let inner = message_type(rust, repeated)?;
            let label = label(if repeated { "Repeated" } else { "Singular" });
            (label, message_ref(d, inner))
        }
        Kind::Map(key, value) => {
            let value = match value {
                MapValue::Scalar(scalar) => scalar_type(d, *scalar),
                MapValue::Enum(path) => enum_type(d, path),
                MapValue::Message => message_ref(d, map_value_type(rust)?),
            };
            let key = syn::Ident::new(key.0, Span::call_site());
            let ty = quote!(#d::FieldType::Map(#d::Type::#key, ::std::boxed::Box::new(#value)));
            (label("Repeated"), ty)
        }
        Kind::Oneof(_) => unreachable!("oneof fields are handled by the caller"),
    })
}

fn scalar_type(d: &TokenStream, scalar: Scalar) -> TokenStream {
    let ty = syn::Ident::new(scalar.0, Span::call_site());
    quote!(#d::FieldType::Scalar(#d::Type::#ty))
}

fn enum_type(d: &TokenStream, path: &Path) -> TokenStream {
    quote_spanned!(path.span()=> #d::FieldType::Enum(#d::TypeRef::enumeration::<#path>()))
}

fn message_ref(d: &TokenStream, ty: &Type) -> TokenStream {
    quote_spanned!(ty.span()=> #d::FieldType::Message(#d::TypeRef::message::<#ty>()))
}

/// The message type of a message field: `Option<T>` (or `Option<Box<T>>`) -> `T`, or the
/// `T` of a repeated field's `Vec<T>`.
fn message_type(rust: &Type, repeated: bool) -> syn::Result<&Type> {
    let outer = if repeated { "Vec" } else { "Option" };
    let inner = match generic_args(rust, outer).as_deref() {
        Some(&[inner]) => inner,
        _ => {
            return Err(syn::Error::new(
                rust.span(),
                format!("expected `{outer}<T>`, where `T` is the message type"),
            ))
        }
    };
    Ok(match generic_args(inner, "Box").as_deref() {
        Some(&[boxed]) => boxed,
        _ => inner,
    })
}

/// The value type of a map of messages: the `V` of `HashMap<K, V>` or `BTreeMap<K, V>`.
fn map_value_type(rust: &Type) -> syn::Result<&Type> {
    for map in ["HashMap", "BTreeMap"] {
        if let Some(&[_, value]) = generic_args(rust, map).as_deref() {
            return Ok(value);
        }
    }
    Err(syn::Error::new(
        rust.span(),
        "expected `HashMap<K, V>` or `BTreeMap<K, V>`, where `V` is the message type",
    ))
}

/// `impl DescribeEnum`: a `prost::Enumeration`, its values named as prost-build strips them
/// (`Kind::Loud` is `KIND_LOUD`).
fn enumeration(cx: &Context<'_>, data: &DataEnum) -> syn::Result<TokenStream> {
    let d = &cx.d;
    let prefix = to_snake(&proto_name(cx)).to_uppercase();
    let mut errors = Errors::default();
    let mut values = Vec::new();
    for v in &data.variants {
        match enum_value(d, &prefix, v) {
            Ok(value) => values.push(value),
            Err(e) => errors.push(e),
        }
    }
    errors.finish()?;
    let (ident, name_const) = (&cx.input.ident, name_const(cx)?);
    let (comment, deprecated) = (&cx.docs.comment, cx.docs.deprecated);
    Ok(quote! {
        #[automatically_derived]
        #[allow(deprecated)]
        impl #d::DescribeEnum for #ident {
            #name_const

            fn describe(builder: &mut #d::DescriptorBuilder) {
                builder.enumeration::<Self>(#comment, #deprecated, &[#(#values),*]);
            }
        }
    })
}

fn enum_value(d: &TokenStream, prefix: &str, v: &Variant) -> syn::Result<TokenStream> {
    let ident = &v.ident;
    let name = item_name(&v.attrs)?.unwrap_or_else(|| {
        let variant = to_snake(&ident.unraw().to_string()).to_uppercase();
        format!("{prefix}_{variant}")
    });
    let docs = Docs::of(&v.attrs)?;
    let (comment, deprecated) = (&docs.comment, docs.deprecated);
    Ok(quote! {
        #d::EnumValue {
            name: #name,
            number: Self::#ident as i32,
            comment: #comment,
            deprecated: #deprecated,
        }
    })
}

/// `impl DescribeOneof`: a `prost::Oneof`, one field per variant, named after it
/// (`Choice::InnerMsg` is `inner_msg`, as prost-build names the variants).
fn oneof(cx: &Context<'_>, data: &DataEnum) -> syn::Result<TokenStream> {
    if cx.args.name.is_some() || cx.args.package.is_some() {
        return Err(syn::Error::new(
            cx.input.ident.span(),
            "a oneof is named after its field in the message: it takes no `name` or `package`",
        ));
    }
    let d = &cx.d;
    let mut errors = Errors::default();
    let mut statements = Vec::new();
    for v in &data.variants {
        match oneof_field(d, v) {
            Ok(statement) => statements.push(statement),
            Err(e) => errors.push(e),
        }
    }
    errors.finish()?;
    let ident = &cx.input.ident;
    Ok(quote! {
        #[automatically_derived]
        #[allow(deprecated)]
        impl #d::DescribeOneof for #ident {
            fn describe_fields(message: &mut #d::MessageBuilder) {
                #(#statements)*
            }
        }
    })
}

fn oneof_field(d: &TokenStream, v: &Variant) -> syn::Result<TokenStream> {
    let rust = match &v.fields {
        Fields::Unnamed(f) if f.unnamed.len() == 1 => &f.unnamed[0].ty,
        _ => {
            return Err(syn::Error::new(
                v.span(),
                "expected unit variants (a `prost::Enumeration`) or variants with one \
                 unnamed field (a `prost::Oneof`)",
            ))
        }
    };
    let (prost, span) = prost_field(&v.attrs, v.span())?;
    let number = match (&prost.kind, prost.label, prost.tags.as_slice()) {
        (Kind::Oneof(_) | Kind::Map(..), ..) => {
            return Err(syn::Error::new(
                span,
                "a oneof field cannot be a map or a oneof",
            ))
        }
        (_, Label::None, &[number]) => number,
        (_, Label::None, _) => return Err(syn::Error::new(span, "a oneof field needs a `tag`")),
        _ => return Err(syn::Error::new(span, "a oneof field takes no label")),
    };
    check_numbers(&[number], span)?;
    let ty = match prost.kind {
        Kind::Message => {
            let inner = match generic_args(rust, "Box").as_deref() {
                Some(&[boxed]) => boxed,
                _ => rust,
            };
            message_ref(d, inner)
        }
        _ => field_type(d, &prost, rust)?.1,
    };
    let name = item_name(&v.attrs)?.unwrap_or_else(|| to_snake(&v.ident.unraw().to_string()));
    let docs = Docs::of(&v.attrs)?;
    let (comment, deprecated, number) = (&docs.comment, docs.deprecated, number as i32);
    Ok(quote! {
        message.field(#d::Field {
            name: #name,
            number: #number,
            label: #d::Label::Singular,
            ty: #ty,
            comment: #comment,
            deprecated: #deprecated,
        });
    })
}

/// The `#[prost(...)]` of a field or variant, which it must have.
fn prost_field(attrs: &[Attribute], span: Span) -> syn::Result<(ProstField, Span)> {
    prost_attr::parse(attrs)?.ok_or_else(|| {
        syn::Error::new(
            span,
            "missing `#[prost(...)]`: the descriptor is read from prost's attributes",
        )
    })
}

/// Checks field numbers against protobuf's range; the highest of them.
fn check_numbers(numbers: &[u32], span: Span) -> syn::Result<u32> {
    for &n in numbers {
        if n == 0 || n > MAX_FIELD_NUMBER || RESERVED_NUMBERS.contains(&n) {
            return Err(syn::Error::new(
                span,
                format!(
                    "invalid field number {n}: protobuf numbers are 1 to {MAX_FIELD_NUMBER}, \
                     except 19000 to 19999"
                ),
            ));
        }
    }
    Ok(numbers.iter().copied().max().unwrap_or(0))
}

fn proto_name(cx: &Context<'_>) -> String {
    cx.args
        .name
        .clone()
        .unwrap_or_else(|| cx.input.ident.unraw().to_string())
}

/// `const NAME: ProtoName = ...;`
fn name_const(cx: &Context<'_>) -> syn::Result<TokenStream> {
    let d = &cx.d;
    let name = proto_name(cx);
    if !is_proto_ident(&name) {
        return Err(syn::Error::new(
            cx.input.ident.span(),
            format!(
                "`{name}` is not a protobuf name: set one with `#[descriptor(name = \"...\")]`"
            ),
        ));
    }
    let package = match &cx.args.package {
        Some(p) => quote!(::core::option::Option::Some(#p)),
        None => quote!(::core::option::Option::None),
    };
    Ok(quote! {
        const NAME: #d::ProtoName = #d::ProtoName { package: #package, name: #name };
    })
}

fn type_args(attrs: &[Attribute]) -> syn::Result<TypeArgs> {
    let mut args = TypeArgs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("descriptor")) {
        attr.parse_nested_meta(|meta| {
            let lit: LitStr = meta.value()?.parse()?;
            let value = lit.value();
            if meta.path.is_ident("package") {
                if !value.is_empty() && !is_proto_package(&value) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "invalid protobuf package: expected dot-separated identifiers, or \
                         `\"\"` for none",
                    ));
                }
                args.package = Some(value);
            } else if meta.path.is_ident("name") {
                args.name = Some(checked_name(&lit)?);
            } else if meta.path.is_ident("crate") {
                args.crate_path = Some(lit.parse()?);
            } else {
                return Err(meta.error(
                    "unknown `descriptor` argument: expected `package`, `name` or `crate`",
                ));
            }
            Ok(())
        })?;
    }
    Ok(args)
}

/// `#[descriptor(name = "...")]` on a field or variant.
fn item_name(attrs: &[Attribute]) -> syn::Result<Option<String>> {
    let mut name = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("descriptor")) {
        attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("name") {
                return Err(meta.error("unknown `descriptor` argument here: expected `name`"));
            }
            name = Some(checked_name(&meta.value()?.parse()?)?);
            Ok(())
        })?;
    }
    Ok(name)
}

fn checked_name(lit: &LitStr) -> syn::Result<String> {
    let name = lit.value();
    if !is_proto_ident(&name) {
        return Err(syn::Error::new(
            lit.span(),
            "invalid protobuf name: expected an identifier",
        ));
    }
    Ok(name)
}
