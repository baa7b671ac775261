//! The `<trait>_descriptor` module that `#[service]` emits: `file_descriptor_set()`, the
//! encoded `FileDescriptorSet` of the service and of the message types it uses, built at
//! the first call from the model and the messages' `DescribeMessage` implementations.
//!
//! The function's `where` clause names each message type with a `for<'a>` binder, which
//! makes the bound "not trivial": it is checked where the function is called, not where it
//! is defined. A trait whose messages have no descriptors (no `#[derive(Descriptor)]`) thus
//! compiles as before, and calling the function is what asks for the derive, with an error
//! on the call naming the type.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use rpc_codegen::{Idempotency, Service};
use syn::Type;

use crate::names::to_snake;

/// The module, next to the generated client and server modules.
pub(crate) fn module(
    service: &Service,
    vis: &syn::Visibility,
    cfgs: &[syn::Attribute],
    crate_path: &syn::Path,
) -> TokenStream {
    let d = quote!(#crate_path::codegen::descriptor);
    let module = format_ident!("{}_descriptor", to_snake(&service.name));
    let mut types: Vec<&str> = Vec::new();
    for m in &service.methods {
        for ty in [&m.input_type, &m.output_type] {
            if !types.contains(&ty.as_str()) {
                types.push(ty);
            }
        }
    }
    let bounds = types.iter().map(|ty| {
        let ty = message_path(ty);
        quote!(for<'a> #ty: #d::DescribeMessage)
    });
    let methods = service.methods.iter().map(|m| {
        let (name, cs, ss) = (&m.proto_name, m.client_streaming, m.server_streaming);
        let (input, output) = (message_path(&m.input_type), message_path(&m.output_type));
        let comment = comment(&m.comments);
        let deprecated = m.deprecated;
        let idempotency = format_ident!(
            "{}",
            match m.idempotency {
                Idempotency::Unknown => "IdempotencyUnknown",
                Idempotency::NoSideEffects => "NoSideEffects",
                Idempotency::Idempotent => "Idempotent",
            }
        );
        quote! {
            #d::Method {
                name: #name,
                input: #d::TypeRef::message::<#input>(),
                output: #d::TypeRef::message::<#output>(),
                client_streaming: #cs,
                server_streaming: #ss,
                comment: #comment,
                deprecated: #deprecated,
                idempotency: #d::IdempotencyLevel::#idempotency,
            }
        }
    });
    let (package, name) = (&service.package, &service.proto_name);
    let (comment, deprecated) = (comment(&service.comments), service.deprecated);
    let full_name = service.full_name();
    let doc = format!(
        " The protobuf descriptors of `{full_name}`, for a reflection service: see \
         [`file_descriptor_set`]."
    );
    let fn_doc = format!(
        " The encoded `FileDescriptorSet` of `{full_name}` and of the message types it \
         uses (built at the first call). Each message type must derive \
         `rpc_core::Descriptor`."
    );
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #vis mod #module {
            #![allow(private_bounds, deprecated, unused_lifetimes, clippy::all)]

            #[doc = #fn_doc]
            pub fn file_descriptor_set() -> &'static [u8]
            where
                #(#bounds,)*
            {
                static SET: ::std::sync::OnceLock<::std::vec::Vec<u8>> =
                    ::std::sync::OnceLock::new();
                SET.get_or_init(|| {
                    let mut builder = #d::DescriptorBuilder::new(#package);
                    builder.service(#d::Service {
                        name: #name,
                        comment: #comment,
                        deprecated: #deprecated,
                        methods: ::std::vec![#(#methods),*],
                    });
                    builder.encode()
                })
            }
        }
    }
}

/// Doc lines as protoc writes a leading comment: each line ending in `\n`.
fn comment(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// A message type of the model as seen from inside the module: relative paths get a
/// `super::` prefix (as the generator does for its modules).
fn message_path(ty: &str) -> TokenStream {
    let Ok(parsed) = syn::parse_str::<Type>(ty) else {
        let message = format!("invalid message type `{ty}`");
        return quote!(::core::compile_error!(#message));
    };
    let relative = match &parsed {
        Type::Path(p) if p.qself.is_none() && p.path.leading_colon.is_none() => {
            let first = p.path.segments[0].ident.to_string();
            let primitive = p.path.segments.len() == 1 && rpc_codegen::naming::is_primitive(&first);
            !primitive && first != "crate"
        }
        _ => false,
    };
    if relative {
        quote!(super::#parsed)
    } else {
        quote!(#parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_seen_from_the_module() {
        let path = |ty: &str| message_path(ty).to_string().replace(' ', "");
        assert_eq!(path("Note"), "super::Note");
        assert_eq!(path("super::Note"), "super::super::Note");
        assert_eq!(path("crate::pb::Note"), "crate::pb::Note");
        assert_eq!(path("::std::string::String"), "::std::string::String");
        assert_eq!(path("()"), "()");
        assert_eq!(path("i64"), "i64");
        assert_eq!(comment(&[" a".into(), "".into()]), " a\n\n");
    }
}
