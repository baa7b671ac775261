//! `#[service]`: a trait -> the `rpc_codegen` service model -> the generator's client and server.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use rpc_codegen::{GenConfig, Method, Service};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, FnArg, GenericArgument, ItemTrait, Lit, Meta, PathArguments, ReturnType,
    TraitItem, TraitItemFn, Type, TypeParamBound,
};

use crate::args::{RpcArgs, ServiceArgs};
use crate::names::{to_snake, to_upper_camel, CLIENT_RESERVED};
use crate::service_descriptor;

const EXPECTED_REQUEST: &str = "expected `Request<T>` (one message) or \
     `Request<Streaming<T>>` (a stream of messages), where `T` is a prost message";

const EXPECTED_RESPONSE: &str = "expected `Result<Response<T>, Status>` (one message) or \
     `Result<Response<impl Stream<Item = Result<T, Status>>>, Status>` (a stream of messages), \
     where `T` is a prost message";

const EXPECTED_MESSAGE: &str = "unsupported message type: expected a prost message such as \
     `HelloRequest` or `crate::pb::Point`, or `()`";

/// Collects every error of the input, so that one build shows them all.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// `Err` with all the errors, if any.
    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The macro's expansion: the generated modules, or the input and `compile_error!`s.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = ServiceArgs::parse(attr).unwrap_or_else(|e| {
        errors.push(e);
        ServiceArgs::default()
    });
    let item_trait = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Trait(t)) => t,
        Ok(other) => {
            errors.at(
                other.span(),
                "`#[service]` goes on a trait whose methods are the RPCs",
            );
            return with_errors(item, errors);
        }
        Err(e) => {
            errors.push(e);
            return with_errors(item, errors);
        }
    };
    let parsed = parse_trait(&args, &item_trait, &mut errors);
    if errors.0.is_some() {
        return with_errors(reemit(item_trait), errors);
    }
    output(&args, &item_trait, &parsed)
}

/// The item as written, followed by the errors: the item keeps IDEs working.
fn with_errors(item: TokenStream, errors: Errors) -> TokenStream {
    let errors = errors.0.map(|e| e.to_compile_error());
    quote!(#item #errors)
}

/// The trait as written, minus the `#[rpc]` attributes (which mean nothing outside the macro).
fn reemit(mut item: ItemTrait) -> TokenStream {
    for it in &mut item.items {
        if let TraitItem::Fn(f) = it {
            f.attrs.retain(|a| !a.path().is_ident("rpc"));
        }
    }
    quote! {
        #[allow(async_fn_in_trait)]
        #item
    }
}

/// What the trait turns into besides the model.
struct Parsed {
    service: Service,
    /// `#[cfg]`s of the trait, put on everything emitted.
    cfgs: Vec<Attribute>,
    /// Message types as written, checked where they were written (for error spans).
    messages: Vec<Type>,
}

fn parse_trait(args: &ServiceArgs, t: &ItemTrait, errors: &mut Errors) -> Parsed {
    if let Some(u) = &t.unsafety {
        errors.at(u.span(), "a service trait cannot be `unsafe`");
    }
    if let Some(a) = &t.auto_token {
        errors.at(a.span(), "a service trait cannot be `auto`");
    }
    if !t.generics.params.is_empty() || t.generics.where_clause.is_some() {
        let span = match &t.generics.where_clause {
            Some(w) if t.generics.params.is_empty() => w.where_token.span(),
            _ => t.generics.span(),
        };
        errors.at(
            span,
            "a service trait cannot be generic: its messages are fixed protobuf types",
        );
    }
    if t.colon_token.is_some() {
        errors.at(
            t.supertraits.span(),
            "a service trait cannot have supertraits: the generated trait is \
             `Send + Sync + 'static` already",
        );
    }

    let mut comments = Vec::new();
    let mut deprecated = false;
    let mut cfgs = Vec::new();
    for attr in &t.attrs {
        if attr.path().is_ident("doc") {
            match doc_lines(attr) {
                Ok(lines) => comments.extend(lines),
                Err(e) => errors.push(e),
            }
        } else if attr.path().is_ident("deprecated") {
            deprecated = true;
        } else if attr.path().is_ident("cfg") {
            cfgs.push(attr.clone());
        } else {
            errors.at(
                attr.span(),
                "unsupported attribute on a service trait: only doc comments, \
                 `#[deprecated]` and `#[cfg(...)]` are carried over",
            );
        }
    }

    let mut methods = Vec::new();
    let mut messages = Vec::new();
    for item in &t.items {
        match item {
            TraitItem::Fn(f) => {
                if let Some((method, types)) = parse_method(f, errors) {
                    methods.push((method, f.sig.ident.span()));
                    messages.extend(types);
                }
            }
            other => errors.at(
                other.span(),
                "a service trait holds only `async fn` RPC methods",
            ),
        }
    }

    // The generator would rename colliding Rust names silently; here the user can fix them.
    for (i, (m, span)) in methods.iter().enumerate() {
        let earlier = &methods[..i];
        if earlier.iter().any(|(e, _)| e.proto_name == m.proto_name) {
            errors.at(
                *span,
                format!(
                    "duplicate RPC name `{}`: rename the method or set another name with \
                     `#[rpc(name = \"...\")]`",
                    m.proto_name
                ),
            );
        } else if earlier.iter().any(|(e, _)| e.name == m.name) {
            errors.at(*span, format!("duplicate method name `{}`", m.name));
        }
    }

    let name = t.ident.unraw().to_string();
    Parsed {
        service: Service {
            proto_name: args.name.clone().unwrap_or_else(|| name.clone()),
            name,
            package: args.package.clone(),
            comments,
            methods: methods.into_iter().map(|(m, _)| m).collect(),
            deprecated,
        },
        cfgs,
        messages,
    }
}

/// One RPC, and its message types as written.
fn parse_method(f: &TraitItemFn, errors: &mut Errors) -> Option<(Method, Vec<Type>)> {
    let sig = &f.sig;
    let attrs = method_attrs(f, errors);
    check_signature(f, errors);
    let base = sig.ident.unraw().to_string();
    check_reserved(&base, sig.ident.span(), errors);
    let request = request_arg(sig, errors);
    let response = response_type(&sig.output, sig.ident.span())
        .map_err(|e| errors.push(e))
        .ok();

    let ((client_streaming, input), (server_streaming, output)) = (request?, response?);
    if attrs.rpc.datagrams && !server_streaming {
        errors.at(
            sig.ident.span(),
            "`datagrams` needs a streamed response (server-streaming or bidirectional): the \
             client of a unary or client-streaming call has no handle while the call runs"
                .to_owned(),
        );
    }
    let mut types = Vec::new();
    // With any error, nothing is generated: the model only needs to be right without them.
    let input_type = checked_message(input, &mut types, errors);
    let output_type = checked_message(output, &mut types, errors);
    Some((
        Method {
            name: sig.ident.to_string(),
            proto_name: attrs.rpc.name.unwrap_or_else(|| to_upper_camel(&base)),
            input_type,
            output_type,
            client_streaming,
            server_streaming,
            comments: attrs.comments,
            deprecated: attrs.deprecated,
            idempotency: attrs.rpc.idempotency,
            priority: attrs.rpc.priority,
            datagrams: attrs.rpc.datagrams,
        },
        types,
    ))
}

/// What the attributes of an RPC method say.
struct MethodAttrs {
    comments: Vec<String>,
    deprecated: bool,
    rpc: RpcArgs,
}

/// Doc comments, `#[deprecated]` and `#[rpc(...)]`; anything else is an error.
fn method_attrs(f: &TraitItemFn, errors: &mut Errors) -> MethodAttrs {
    let mut attrs = MethodAttrs {
        comments: Vec::new(),
        deprecated: false,
        rpc: RpcArgs::default(),
    };
    for attr in &f.attrs {
        if attr.path().is_ident("doc") {
            match doc_lines(attr) {
                Ok(lines) => attrs.comments.extend(lines),
                Err(e) => errors.push(e),
            }
        } else if attr.path().is_ident("deprecated") {
            attrs.deprecated = true;
        } else if attr.path().is_ident("rpc") {
            if let Err(e) = attrs.rpc.parse_into(attr) {
                errors.push(e);
            }
        } else {
            errors.at(
                attr.span(),
                "unsupported attribute on an RPC method: only doc comments, `#[deprecated]` \
                 and `#[rpc(...)]` are allowed",
            );
        }
    }
    attrs
}

/// The parts of the signature an RPC method cannot have, and a body it must not have.
fn check_signature(f: &TraitItemFn, errors: &mut Errors) {
    let sig = &f.sig;
    if let Some(c) = &sig.constness {
        errors.at(c.span(), "an RPC method cannot be `const`");
    }
    if let Some(u) = &sig.unsafety {
        errors.at(u.span(), "an RPC method cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        errors.at(abi.span(), "an RPC method cannot have an ABI");
    }
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span(),
            "RPC methods are `async fn`: write `async fn` here",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let span = match &sig.generics.where_clause {
            Some(w) if sig.generics.params.is_empty() => w.where_token.span(),
            _ => sig.generics.span(),
        };
        errors.at(
            span,
            "an RPC method cannot be generic: its messages are fixed protobuf types",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.at(v.span(), "an RPC method cannot be variadic");
    }
    if let Some(body) = &f.default {
        errors.at(
            body.span(),
            "an RPC method has no body here: implement the generated trait on your server type",
        );
    }
}

/// A method name the generated client uses itself is an error (the generator would rename
/// it silently; here the user can choose).
fn check_reserved(base: &str, span: Span, errors: &mut Errors) {
    if CLIENT_RESERVED.contains(&base) {
        errors.at(
            span,
            format!(
                "`{base}` is a method of the generated client: give the Rust method another \
                 name and keep the RPC's name with `#[rpc(name = \"{}\")]`",
                to_upper_camel(base)
            ),
        );
    }
}

/// `&self`, then one request argument: (client streaming, message type) of the request.
fn request_arg<'a>(sig: &'a syn::Signature, errors: &mut Errors) -> Option<(bool, &'a Type)> {
    let mut inputs = sig.inputs.iter();
    if !receiver(sig, inputs.next(), errors) {
        return None; // reported there
    }
    match (inputs.next(), inputs.next()) {
        (Some(FnArg::Typed(arg)), None) => request_type(&arg.ty).map_err(|e| errors.push(e)).ok(),
        (_, Some(extra)) => {
            errors.at(
                extra.span(),
                "RPC methods take exactly one request argument after `&self`",
            );
            None
        }
        (Some(FnArg::Receiver(r)), None) => {
            errors.at(r.span(), "RPC methods take one `&self`");
            None
        }
        (None, None) => {
            errors.at(
                sig.paren_token.span.join(),
                "missing the request argument: `request: Request<T>` or \
                 `request: Request<Streaming<T>>`",
            );
            None
        }
    }
}

/// Checks the first argument, `&self`. False when it is not a receiver at all, so the
/// arguments after it cannot be read as the request.
fn receiver(sig: &syn::Signature, first: Option<&FnArg>, errors: &mut Errors) -> bool {
    match first {
        Some(FnArg::Receiver(r))
            if r.reference.is_some() && r.mutability.is_none() && r.colon_token.is_none() =>
        {
            true
        }
        Some(FnArg::Receiver(r)) => {
            match (&r.reference, &r.mutability) {
                (Some(_), Some(m)) => {
                    errors.at(m.span(), "RPC methods take `&self`, not `&mut self`")
                }
                (None, _) => errors.at(r.self_token.span(), "RPC methods take `&self`, not `self`"),
                (Some(_), None) => errors.at(r.self_token.span(), "RPC methods take `&self`"),
            }
            true
        }
        Some(FnArg::Typed(a)) => {
            errors.at(
                a.span(),
                "RPC methods take `&self` first, then the request argument",
            );
            false
        }
        None => {
            errors.at(
                sig.paren_token.span.join(),
                "RPC methods take `&self` and one request argument: `(&self, request: Request<T>)`",
            );
            false
        }
    }
}

fn checked_message(ty: &Type, types: &mut Vec<Type>, errors: &mut Errors) -> String {
    match message_type(ty) {
        Ok(s) => {
            types.push(ty.clone());
            s
        }
        Err(e) => {
            errors.push(e);
            String::new()
        }
    }
}

/// The lines of a `///` comment (`#[doc = "..."]`).
pub(crate) fn doc_lines(attr: &Attribute) -> syn::Result<Vec<String>> {
    if let Meta::NameValue(nv) = &attr.meta {
        if let Expr::Lit(lit) = &nv.value {
            if let Lit::Str(s) = &lit.lit {
                // Not `lines()`: an empty `///` is an empty line (a paragraph break), not none.
                return Ok(s
                    .value()
                    .split('\n')
                    .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
                    .collect());
            }
        }
    }
    Err(syn::Error::new(
        attr.span(),
        "only literal doc comments (`/// ...`) can be carried over to the generated code",
    ))
}

/// `( T )` and invisible groups (from `macro_rules!`) -> `T`.
fn peel(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Paren(p) => ty = &p.elem,
            Type::Group(g) => ty = &g.elem,
            _ => return ty,
        }
    }
}

/// If `ty` is a path ending in `name` (`Request`, `rpc_core::Request`), its type arguments.
pub(crate) fn generic_args<'a>(ty: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let Type::Path(p) = peel(ty) else {
        return None;
    };
    if p.qself.is_some() {
        return None;
    }
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    match &last.arguments {
        PathArguments::None => Some(Vec::new()),
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .map(|arg| match arg {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        PathArguments::Parenthesized(_) => None,
    }
}

/// The request argument: (client streaming, message type).
fn request_type(ty: &Type) -> syn::Result<(bool, &Type)> {
    let args = generic_args(ty, "Request");
    let Some(&[inner]) = args.as_deref() else {
        return Err(syn::Error::new(ty.span(), EXPECTED_REQUEST));
    };
    match generic_args(inner, "Streaming").as_deref() {
        Some(&[message]) => Ok((true, message)),
        Some(_) => Err(syn::Error::new(inner.span(), EXPECTED_REQUEST)),
        None => Ok((false, inner)),
    }
}

/// The return type: (server streaming, message type).
fn response_type(output: &ReturnType, name: Span) -> syn::Result<(bool, &Type)> {
    let ty = match output {
        ReturnType::Type(_, ty) => &**ty,
        ReturnType::Default => {
            return Err(syn::Error::new(
                name,
                format!("missing return type: {EXPECTED_RESPONSE}"),
            ))
        }
    };
    let result = generic_args(ty, "Result");
    let Some(&[ok, err]) = result.as_deref() else {
        return Err(syn::Error::new(ty.span(), EXPECTED_RESPONSE));
    };
    if !matches!(generic_args(err, "Status").as_deref(), Some([])) {
        return Err(syn::Error::new(
            err.span(),
            "the error type of an RPC method is `Status`",
        ));
    }
    let response = generic_args(ok, "Response");
    let Some(&[inner]) = response.as_deref() else {
        return Err(syn::Error::new(ok.span(), EXPECTED_RESPONSE));
    };
    if let Type::ImplTrait(it) = peel(inner) {
        return stream_item(it).map(|m| (true, m));
    }
    if generic_args(inner, "Streaming").is_some() {
        return Err(syn::Error::new(
            inner.span(),
            "a stream of responses is written `impl Stream<Item = Result<T, Status>>`: the \
             server returns any stream (`Streaming<T>` is what clients receive)",
        ));
    }
    Ok((false, inner))
}

/// `impl Stream<Item = Result<T, Status>> + ...` -> `T`.
fn stream_item(it: &syn::TypeImplTrait) -> syn::Result<&Type> {
    const EXPECTED: &str = "expected `impl Stream<Item = Result<T, Status>>` (plus any \
                            `+ Send + 'static`), where `T` is a prost message";
    for bound in &it.bounds {
        let TypeParamBound::Trait(tb) = bound else {
            continue;
        };
        let Some(last) = tb.path.segments.last() else {
            continue;
        };
        if last.ident != "Stream" {
            continue;
        }
        let PathArguments::AngleBracketed(a) = &last.arguments else {
            return Err(syn::Error::new(last.span(), EXPECTED));
        };
        for arg in &a.args {
            if let GenericArgument::AssocType(assoc) = arg {
                if assoc.ident == "Item" {
                    return match generic_args(&assoc.ty, "Result").as_deref() {
                        Some(&[message, err])
                            if matches!(generic_args(err, "Status").as_deref(), Some([])) =>
                        {
                            Ok(message)
                        }
                        _ => Err(syn::Error::new(assoc.ty.span(), EXPECTED)),
                    };
                }
            }
        }
        return Err(syn::Error::new(last.span(), EXPECTED));
    }
    Err(syn::Error::new(it.span(), EXPECTED))
}

/// A message type for the model: a Rust path as seen from the trait's module (the generator
/// prefixes relative paths with `super::`), with prelude names made absolute.
fn message_type(ty: &Type) -> syn::Result<String> {
    let ty = peel(ty);
    let path = match ty {
        Type::Tuple(t) if t.elems.is_empty() => return Ok("()".to_owned()),
        Type::Path(p) if p.qself.is_none() => &p.path,
        _ => return Err(syn::Error::new(ty.span(), EXPECTED_MESSAGE)),
    };
    let relative = path.leading_colon.is_none();
    if relative && path.segments.len() == 1 {
        let seg = &path.segments[0];
        if seg.ident == "String" && seg.arguments.is_none() {
            return Ok("::std::string::String".to_owned());
        }
        if seg.ident == "Vec"
            && matches!(generic_args(ty, "Vec").as_deref(), Some(&[t]) if is_u8(t))
        {
            return Ok("::std::vec::Vec<u8>".to_owned());
        }
    }
    if let Some(seg) = path.segments.iter().find(|s| !s.arguments.is_none()) {
        return Err(syn::Error::new(
            seg.arguments.span(),
            "generic message types are not supported (except `Vec<u8>`)",
        ));
    }
    if relative && path.segments[0].ident == "Self" {
        return Err(syn::Error::new(
            path.segments[0].span(),
            "a message type cannot be named through `Self`",
        ));
    }
    let mut path = path.clone();
    if relative && path.segments.len() > 1 && path.segments[0].ident == "self" {
        // `self::Foo` is `Foo`; the generator adds the `super::` itself.
        path.segments = path.segments.into_iter().skip(1).collect();
    }
    Ok(quote!(#path).to_string().replace(' ', ""))
}

fn is_u8(ty: &Type) -> bool {
    matches!(peel(ty), Type::Path(p) if p.qself.is_none() && p.path.is_ident("u8"))
}

/// The generated modules, the re-export of the trait, and the message checks.
fn output(args: &ServiceArgs, t: &ItemTrait, parsed: &Parsed) -> TokenStream {
    let mut config = GenConfig {
        build_client: args.client,
        build_server: args.server,
        ..GenConfig::default()
    };
    if let Some(path) = &args.crate_path {
        config.crate_path = path.clone();
    }
    let cfgs = &parsed.cfgs;
    let cfg_tokens: Vec<TokenStream> = cfgs.iter().map(|a| quote!(#a)).collect();
    config.client_mod_attributes = cfg_tokens.clone();
    config.server_mod_attributes = cfg_tokens;
    let spans = message_spans(&parsed.messages);
    let generated = respan(rpc_codegen::generate(&parsed.service, &config), &spans);
    let cp = &config.crate_path;
    let descriptor = args.descriptor.then(|| {
        let module = service_descriptor::module(&parsed.service, &t.vis, cfgs, cp);
        respan(module, &spans)
    });

    // Where the trait was written, its name now means the generated server trait.
    let reexport = args.server.then(|| {
        let vis = &t.vis;
        let name = t.ident.unraw();
        let module = format_ident!("{}_server", to_snake(&name.to_string()));
        quote! {
            #(#cfgs)*
            #[allow(unused_imports, deprecated)]
            #vis use self::#module::#name;
        }
    });

    // The trait as written, private and unused, in an anonymous const: its names resolve (and
    // count as used) where the user wrote them, so a misspelt or unimported type is reported
    // on its own span. Then a check that each message type is a prost message, also reported
    // on the type itself.
    let mut shadow = t.clone();
    shadow.vis = syn::Visibility::Inherited;
    shadow.attrs.retain(|a| !a.path().is_ident("cfg"));
    for it in &mut shadow.items {
        if let TraitItem::Fn(f) = it {
            f.attrs.retain(|a| !a.path().is_ident("rpc"));
        }
    }
    let asserts = parsed.messages.iter().map(|ty| {
        quote_spanned! {ty.span()=>
            __assert_message::<#ty>();
        }
    });
    let checks = quote! {
        #(#cfgs)*
        #[allow(deprecated)]
        const _: () = {
            #[allow(dead_code, async_fn_in_trait, unknown_lints, clippy::all)]
            #shadow

            fn __assert_message<
                T: #cp::codegen::prost::Message + ::core::default::Default + ::core::marker::Send + 'static,
            >() {
            }

            #[allow(dead_code)]
            fn __assert_messages() {
                #(#asserts)*
            }
        };
    };

    quote! {
        #generated
        #descriptor
        #reexport
        #checks
    }
}

/// The identifiers of the message types as written, with their spans.
fn message_spans(messages: &[Type]) -> Vec<(String, Span)> {
    fn walk(tokens: TokenStream, out: &mut Vec<(String, Span)>) {
        for tt in tokens {
            match tt {
                TokenTree::Ident(i) => out.push((i.to_string(), i.span())),
                TokenTree::Group(g) => walk(g.stream(), out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for ty in messages {
        walk(quote!(#ty), &mut out);
    }
    out
}

/// Gives the generated code's mentions of the message types the spans they were written with,
/// so that errors about them (and an IDE's "go to definition") land on the user's code.
fn respan(tokens: TokenStream, spans: &[(String, Span)]) -> TokenStream {
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Ident(mut i) => {
                let name = i.to_string();
                if let Some((_, span)) = spans.iter().find(|(n, _)| *n == name) {
                    i.set_span(*span);
                }
                TokenTree::Ident(i)
            }
            TokenTree::Group(g) => {
                let mut out = Group::new(g.delimiter(), respan(g.stream(), spans));
                out.set_span(g.span());
                TokenTree::Group(out)
            }
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpc_codegen::Idempotency;

    fn model(attr: TokenStream, item: TokenStream) -> Result<Service, String> {
        let args = ServiceArgs::parse(attr).map_err(|e| e.to_string())?;
        let t: ItemTrait = syn::parse2(item).map_err(|e| e.to_string())?;
        let mut errors = Errors::default();
        let parsed = parse_trait(&args, &t, &mut errors);
        match errors.0 {
            Some(e) => Err(e.to_string()),
            None => Ok(parsed.service),
        }
    }

    #[test]
    fn builds_the_model_a_proto_would() {
        let service = model(
            quote!(package = "route.v1", name = "RouteGuide"),
            quote! {
                /// Interface exported by the server.
                #[deprecated]
                pub trait Guide {
                    /// A simple RPC.
                    ///
                    /// Second paragraph.
                    #[rpc(no_side_effects)]
                    async fn get_feature(&self, r: Request<Point>) -> Result<Response<Feature>, Status>;
                    async fn list_features(&self, r: rpc_core::Request<self::Rectangle>)
                        -> Result<Response<impl Stream<Item = Result<Feature, Status>> + Send>, Status>;
                    #[deprecated = "use route_chat"]
                    #[rpc(name = "RecordRoute", idempotent, priority = -2)]
                    async fn record(&self, r: Request<Streaming<crate::pb::Point>>)
                        -> Result<Response<()>, Status>;
                    #[rpc(datagrams)]
                    async fn route_chat(&self, r: Request<Streaming<super::Note>>)
                        -> Result<Response<impl futures::Stream<Item = Result<::pb::Note, Status>>>, Status>;
                    async fn raw(&self, r: Request<String>) -> Result<Response<Vec<u8>>, Status>;
                }
            },
        )
        .unwrap();
        assert_eq!(service.full_name(), "route.v1.RouteGuide");
        assert_eq!(service.name, "Guide");
        assert_eq!(service.comments, [" Interface exported by the server."]);
        assert!(service.deprecated);

        let m = &service.methods;
        let summary: Vec<_> = m
            .iter()
            .map(|m| {
                (
                    m.name.as_str(),
                    m.proto_name.as_str(),
                    m.input_type.as_str(),
                    m.output_type.as_str(),
                    m.client_streaming,
                    m.server_streaming,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "get_feature",
                    "GetFeature",
                    "Point",
                    "Feature",
                    false,
                    false
                ),
                (
                    "list_features",
                    "ListFeatures",
                    "Rectangle",
                    "Feature",
                    false,
                    true
                ),
                (
                    "record",
                    "RecordRoute",
                    "crate::pb::Point",
                    "()",
                    true,
                    false
                ),
                (
                    "route_chat",
                    "RouteChat",
                    "super::Note",
                    "::pb::Note",
                    true,
                    true
                ),
                (
                    "raw",
                    "Raw",
                    "::std::string::String",
                    "::std::vec::Vec<u8>",
                    false,
                    false
                ),
            ]
        );
        assert_eq!(m[0].comments, [" A simple RPC.", "", " Second paragraph."]);
        assert_eq!(m[0].idempotency, Idempotency::NoSideEffects);
        assert!(!m[0].deprecated);
        assert_eq!(m[2].idempotency, Idempotency::Idempotent);
        assert!(m[2].deprecated);
        assert_eq!(m[1].idempotency, Idempotency::Unknown);
        assert_eq!(m[2].priority, -2);
        assert_eq!(m[0].priority, 0);
        assert!(m[3].datagrams);
        assert!(!m[1].datagrams);
    }

    #[test]
    fn errors_never_panic_and_keep_the_item() {
        let item = quote! {
            pub trait Svc {
                #[rpc(name = "X")]
                fn bad(self);
            }
        };
        let out = expand(quote!(package = 1), item).to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("trait Svc"), "{out}");
        assert!(
            !out.contains("rpc (name"),
            "the `#[rpc]` helper is stripped: {out}"
        );
        // Not even a trait, or not even Rust.
        let out = expand(
            TokenStream::new(),
            quote!(
                fn f() {}
            ),
        )
        .to_string();
        assert!(
            out.contains("compile_error") && out.contains("fn f"),
            "{out}"
        );
        let out = expand(TokenStream::new(), quote!(trait 1 {})).to_string();
        assert!(out.contains("compile_error"), "{out}");
    }

    #[test]
    fn datagrams_need_a_streamed_response() {
        let err = model(
            TokenStream::new(),
            quote! {
                pub trait Svc {
                    #[rpc(datagrams)]
                    async fn one(&self, r: Request<A>) -> Result<Response<B>, Status>;
                }
            },
        )
        .unwrap_err();
        assert!(
            err.contains("`datagrams` needs a streamed response"),
            "{err}"
        );
    }
}
