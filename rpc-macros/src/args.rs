//! The arguments of `#[service(...)]` and of `#[rpc(...)]` on a method.

use proc_macro2::TokenStream;
use rpc_codegen::Idempotency;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Attribute, LitBool, LitStr};

use crate::names::{is_proto_ident, is_proto_package};

/// `#[service(package = "...", name = "...", crate = "...", client = false, server = false,
/// descriptor = false)]`.
pub(crate) struct ServiceArgs {
    /// The protobuf package (`""`: none).
    pub package: String,
    /// The protobuf service name, if not the trait's name.
    pub name: Option<String>,
    /// Path of the runtime crate (default `::rpc_core`).
    pub crate_path: Option<syn::Path>,
    /// Emit the client module.
    pub client: bool,
    /// Emit the server module.
    pub server: bool,
    /// Emit the descriptor module.
    pub descriptor: bool,
}

impl Default for ServiceArgs {
    fn default() -> Self {
        ServiceArgs {
            package: String::new(),
            name: None,
            crate_path: None,
            client: true,
            server: true,
            descriptor: true,
        }
    }
}

const SERVICE_KEYS: &str =
    "expected `package`, `name`, `crate`, `client`, `server` or `descriptor`";

impl ServiceArgs {
    /// Parses the attribute's arguments (possibly empty).
    pub(crate) fn parse(attr: TokenStream) -> syn::Result<ServiceArgs> {
        let mut args = ServiceArgs::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("package") {
                let lit: LitStr = meta.value()?.parse()?;
                let package = lit.value();
                if !package.is_empty() && !is_proto_package(&package) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "invalid protobuf package: expected dot-separated identifiers, \
                         such as `helloworld` or `grpc.health.v1`",
                    ));
                }
                args.package = package;
            } else if meta.path.is_ident("name") {
                args.name = Some(proto_ident(&meta, "service")?);
            } else if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                args.crate_path = Some(lit.parse().map_err(|_| {
                    syn::Error::new(lit.span(), "expected a path, such as `::rpc_core`")
                })?);
            } else if meta.path.is_ident("client") {
                args.client = meta.value()?.parse::<LitBool>()?.value;
            } else if meta.path.is_ident("server") {
                args.server = meta.value()?.parse::<LitBool>()?.value;
            } else if meta.path.is_ident("descriptor") {
                args.descriptor = meta.value()?.parse::<LitBool>()?.value;
            } else {
                return Err(meta.error(format!("unknown `service` argument: {SERVICE_KEYS}")));
            }
            Ok(())
        });
        parser.parse2(attr)?;
        Ok(args)
    }
}

/// Parses `= "Name"` as a protobuf identifier.
fn proto_ident(meta: &ParseNestedMeta<'_>, what: &str) -> syn::Result<String> {
    let lit: LitStr = meta.value()?.parse()?;
    let name = lit.value();
    if !is_proto_ident(&name) {
        return Err(syn::Error::new(
            lit.span(),
            format!("invalid protobuf {what} name: expected an identifier such as `SayHello`"),
        ));
    }
    Ok(name)
}

/// `#[rpc(name = "...", idempotent, no_side_effects)]` on a method.
#[derive(Default)]
pub(crate) struct RpcArgs {
    /// The protobuf method name, if not the UpperCamelCase of the Rust name.
    pub name: Option<String>,
    /// The `idempotency_level` option.
    pub idempotency: Idempotency,
    /// `priority = N`: the calls' QUIC stream priority.
    pub priority: i32,
    /// `datagrams`: the calls carry datagrams (PROTOCOL.md §18).
    pub datagrams: bool,
}

impl RpcArgs {
    /// Adds the arguments of one `#[rpc(...)]` attribute.
    pub(crate) fn parse_into(&mut self, attr: &Attribute) -> syn::Result<()> {
        attr.parse_nested_meta(|meta| {
            let level = if meta.path.is_ident("name") {
                if self.name.is_some() {
                    return Err(meta.error("duplicate `name`"));
                }
                self.name = Some(proto_ident(&meta, "method")?);
                return Ok(());
            } else if meta.path.is_ident("priority") {
                let lit: syn::LitInt = meta.value()?.parse()?;
                self.priority = lit.base10_parse()?;
                return Ok(());
            } else if meta.path.is_ident("datagrams") {
                self.datagrams = true;
                return Ok(());
            } else if meta.path.is_ident("idempotent") {
                Idempotency::Idempotent
            } else if meta.path.is_ident("no_side_effects") {
                Idempotency::NoSideEffects
            } else {
                return Err(meta.error(
                    "unknown `rpc` argument: expected `name = \"...\"`, `priority = N`, \
                     `datagrams`, `idempotent` or `no_side_effects`",
                ));
            };
            if self.idempotency != Idempotency::Unknown {
                return Err(meta.error("`idempotent` and `no_side_effects` exclude each other"));
            }
            self.idempotency = level;
            Ok(())
        })
    }
}
