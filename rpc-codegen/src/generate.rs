//! Model -> tokens: the client module and the server module of one service.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::ident::{base_name, ident, to_snake, to_upper_camel, unique, CLIENT_RESERVED};
use crate::model::{Idempotency, MethodKind, Service};

/// Options for [`generate`].
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Emit the `<service>_client` module (default `true`).
    pub build_client: bool,
    /// Emit the `<service>_server` module (default `true`).
    pub build_server: bool,
    /// Path of the runtime crate; generated code names everything through
    /// `<crate_path>::codegen::...` (default `::rpc_core`).
    pub crate_path: syn::Path,
    /// Extra outer attributes for the client module (e.g. `#[cfg(feature = "client")]`).
    pub client_mod_attributes: Vec<TokenStream>,
    /// Extra outer attributes for the server module.
    pub server_mod_attributes: Vec<TokenStream>,
    /// Per-method compression of requests, overriding the channel's `send_compressed`
    /// (PROTOCOL.md §15): `(pattern, compression)`, the last matching pattern wins. A
    /// pattern is `pkg.Service/Method` for one method, or `pkg.Service`, `pkg` or `.` for
    /// every method below it.
    pub send_compression: Vec<(String, Compression)>,
}

/// A per-method request compression setting for generated clients (see
/// [`GenConfig::send_compression`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Never compress this method's requests, whatever the channel says (for payloads that
    /// are already compressed).
    Off,
    /// gzip (`CompressionEncoding::Gzip`, needs rpc-core's `gzip` feature).
    Gzip,
    /// zstd (`CompressionEncoding::Zstd`, needs rpc-core's `zstd` feature).
    Zstd,
}

impl Compression {
    /// Parses `off`, `gzip` or `zstd`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "off" | "identity" | "none" => Some(Compression::Off),
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Whether `pattern` (see [`GenConfig::send_compression`]) selects `method` of `service`:
/// `pkg.Service/Method` exactly, or a service or package prefix at a `.` boundary.
fn method_matches(pattern: &str, service: &Service, method: &crate::Method) -> bool {
    let pattern = pattern.trim_start_matches('.');
    let full = service.full_name();
    match pattern.split_once('/') {
        Some((svc, m)) => svc == full && m == method.proto_name,
        None => {
            pattern.is_empty()
                || full == pattern
                || full
                    .strip_prefix(pattern)
                    .is_some_and(|rest| rest.starts_with('.'))
        }
    }
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            build_client: true,
            build_server: true,
            crate_path: syn::parse_quote!(::rpc_core),
            client_mod_attributes: Vec::new(),
            server_mod_attributes: Vec::new(),
            send_compression: Vec::new(),
        }
    }
}

impl GenConfig {
    /// Sets [`crate_path`](Self::crate_path) from a string such as `"::my_rt"`.
    pub fn with_crate_path(mut self, path: &str) -> Result<Self, syn::Error> {
        self.crate_path = syn::parse_str(path)?;
        Ok(self)
    }
}

/// Lints silenced inside the generated modules. Everything here is about
/// generated shapes the user can't change (proto comments, naming, allowed
/// deprecations), not about real problems.
fn allow_attrs() -> TokenStream {
    quote! {
        #![allow(
            unknown_lints,
            renamed_and_removed_lints,
            unused_variables,
            non_snake_case,
            dead_code,
            deprecated,
            missing_docs,
            non_camel_case_types,
            unreachable_pub,
            clippy::wildcard_imports,
            clippy::let_unit_value,
            clippy::type_complexity,
            clippy::too_many_lines,
            clippy::doc_markdown,
            clippy::doc_lazy_continuation,
            clippy::doc_overindented_list_items,
            clippy::missing_errors_doc,
            clippy::must_use_candidate,
            clippy::module_name_repetitions,
            clippy::unit_arg,
            clippy::needless_pass_by_value,
            clippy::empty_docs,
            rustdoc::broken_intra_doc_links,
            rustdoc::bare_urls,
            rustdoc::invalid_html_tags,
            rustdoc::invalid_rust_codeblocks,
        )]
    }
}

/// Per-method names after normalisation and de-duplication.
struct MethodNames {
    /// Rust method name (trait method and client method).
    ident: Ident,
    /// Associated stream type name for server-streaming methods.
    stream: Ident,
}

fn method_names(service: &Service) -> Vec<MethodNames> {
    let mut taken = Vec::new();
    let mut taken_streams = Vec::new();
    service
        .methods
        .iter()
        .map(|m| {
            let base = {
                let b = base_name(&m.name);
                if b.is_empty() {
                    to_snake(&m.proto_name)
                } else {
                    to_snake(b)
                }
            };
            let name = unique(&base, "_", &mut taken, CLIENT_RESERVED);
            let stream = unique(
                &format!("{}Stream", to_upper_camel(&name)),
                "_",
                &mut taken_streams,
                &[],
            );
            MethodNames {
                ident: ident(&name),
                stream: Ident::new(&stream, Span::call_site()),
            }
        })
        .collect()
}

fn doc_attrs(lines: &[String]) -> TokenStream {
    let docs = lines.iter().map(|line| {
        let line = if line.is_empty() || line.starts_with(' ') {
            line.clone()
        } else {
            format!(" {line}")
        };
        quote!(#[doc = #line])
    });
    quote!(#(#docs)*)
}

/// A message type as seen from inside the generated `*_client`/`*_server`
/// module: relative paths get a `super::` prefix.
fn message_type(ty: &str) -> Result<TokenStream, String> {
    let parsed: syn::Type =
        syn::parse_str(ty).map_err(|e| format!("invalid message type `{ty}`: {e}"))?;
    let relative = match &parsed {
        syn::Type::Path(p) if p.qself.is_none() && p.path.leading_colon.is_none() => {
            let first = p.path.segments.first().map(|s| s.ident.to_string());
            let primitive = p.path.segments.len() == 1
                && first.as_deref().is_some_and(crate::ident::is_primitive);
            !primitive && !matches!(first.as_deref(), Some("crate" | "$crate"))
        }
        _ => false,
    };
    Ok(if relative {
        quote!(super::#parsed)
    } else {
        quote!(#parsed)
    })
}

/// Generates the client and server modules for one service.
///
/// Never panics on odd input: a message type that isn't a valid Rust type
/// becomes a `compile_error!` in the output.
pub fn generate(service: &Service, config: &GenConfig) -> TokenStream {
    let mut types = Vec::with_capacity(service.methods.len());
    for m in &service.methods {
        if m.datagrams && !m.server_streaming {
            // PROTOCOL.md §18: the client's handle comes with a streamed response.
            let msg = format!(
                "rpc-codegen: method {}.{}: datagrams need a streamed response \
                 (server-streaming or bidirectional): the client of a unary or \
                 client-streaming call has no handle while the call runs",
                service.full_name(),
                m.proto_name
            );
            return quote!(::core::compile_error!(#msg););
        }
        match (message_type(&m.input_type), message_type(&m.output_type)) {
            (Ok(i), Ok(o)) => types.push((i, o)),
            (Err(e), _) | (_, Err(e)) => {
                let msg = format!(
                    "rpc-codegen: method {}.{}: {e}",
                    service.full_name(),
                    m.proto_name
                );
                return quote!(::core::compile_error!(#msg););
            }
        }
    }
    let names = method_names(service);
    let client = if config.build_client {
        client(service, config, &names, &types)
    } else {
        TokenStream::new()
    };
    let server = if config.build_server {
        server(service, config, &names, &types)
    } else {
        TokenStream::new()
    };
    quote!(#client #server)
}

fn service_base(service: &Service) -> String {
    let base = base_name(&service.name);
    if base.is_empty() {
        to_upper_camel(&service.proto_name)
    } else {
        base.to_string()
    }
}

fn client(
    service: &Service,
    config: &GenConfig,
    names: &[MethodNames],
    types: &[(TokenStream, TokenStream)],
) -> TokenStream {
    let cp = &config.crate_path;
    let base = service_base(service);
    let mod_name = ident(&format!("{}_client", to_snake(&base)));
    let client_name = ident(&format!("{base}Client"));
    let service_docs = doc_attrs(&service.comments);
    let deprecated = service.deprecated.then(|| quote!(#[deprecated]));
    let mod_attrs = &config.client_mod_attributes;
    let allow = allow_attrs();
    let mod_doc = format!(
        " Generated client for the `{}` service.",
        service.full_name()
    );

    let methods = service
        .methods
        .iter()
        .zip(names)
        .zip(types)
        .map(|((m, n), (input, output))| {
            let name = &n.ident;
            let docs = doc_attrs(&m.comments);
            let deprecated = m.deprecated.then(|| quote!(#[deprecated]));
            let route = service.route(m);
            let codec = quote!(#cp::codegen::ProstCodec::<#input, #output>::default());
            // Idempotent methods mark their calls, so the runtime may retry them.
            let compression = config
                .send_compression
                .iter()
                .rev()
                .find(|(pattern, _)| method_matches(pattern, service, m))
                .map(|(_, c)| match c {
                    Compression::Off => quote!(::core::option::Option::None),
                    Compression::Gzip => quote!(::core::option::Option::Some(
                        #cp::codegen::CompressionEncoding::Gzip
                    )),
                    Compression::Zstd => quote!(::core::option::Option::Some(
                        #cp::codegen::CompressionEncoding::Zstd
                    )),
                });
            let mark = |req: TokenStream| {
                let req = match m.idempotency {
                    Idempotency::Unknown => req,
                    _ => quote!(#cp::codegen::idempotent(#req)),
                };
                // The method's stream priority, unless the default.
                let p = m.priority;
                let req = if p == 0 {
                    req
                } else {
                    quote!(#cp::codegen::priority(#req, #p))
                };
                let req = if m.datagrams {
                    quote!(#cp::codegen::datagrams(#req))
                } else {
                    req
                };
                // A per-method compression setting overrides the channel's (§15).
                match &compression {
                    Some(c) => quote!(#cp::codegen::send_compressed(#req, #c)),
                    None => req,
                }
            };
            let single = mark(quote!(#cp::codegen::IntoRequest::into_request(request)));
            let streamed = mark(
                quote!(#cp::codegen::IntoStreamingRequest::into_streaming_request(request)),
            );
            match m.kind() {
                MethodKind::Unary => quote! {
                    #docs
                    #deprecated
                    pub async fn #name(
                        &self,
                        request: impl #cp::codegen::IntoRequest<#input>,
                    ) -> ::core::result::Result<#cp::codegen::Response<#output>, #cp::codegen::Status> {
                        #cp::codegen::client::unary(&self.inner, #route, #single, #codec).await
                    }
                },
                MethodKind::ServerStreaming => quote! {
                    #docs
                    #deprecated
                    pub async fn #name(
                        &self,
                        request: impl #cp::codegen::IntoRequest<#input>,
                    ) -> ::core::result::Result<
                        #cp::codegen::Response<#cp::codegen::Streaming<#output>>,
                        #cp::codegen::Status,
                    > {
                        #cp::codegen::client::server_streaming(&self.inner, #route, #single, #codec).await
                    }
                },
                MethodKind::ClientStreaming => quote! {
                    #docs
                    #deprecated
                    pub async fn #name(
                        &self,
                        request: impl #cp::codegen::IntoStreamingRequest<Message = #input>,
                    ) -> ::core::result::Result<#cp::codegen::Response<#output>, #cp::codegen::Status> {
                        #cp::codegen::client::client_streaming(&self.inner, #route, #streamed, #codec).await
                    }
                },
                MethodKind::Streaming => quote! {
                    #docs
                    #deprecated
                    pub async fn #name(
                        &self,
                        request: impl #cp::codegen::IntoStreamingRequest<Message = #input>,
                    ) -> ::core::result::Result<
                        #cp::codegen::Response<#cp::codegen::Streaming<#output>>,
                        #cp::codegen::Status,
                    > {
                        #cp::codegen::client::streaming(&self.inner, #route, #streamed, #codec).await
                    }
                },
            }
        });

    // Listed for response caches: only these may be answered without the server.
    let no_side_effects = service
        .methods
        .iter()
        .filter(|m| m.idempotency == Idempotency::NoSideEffects)
        .map(|m| service.route(m));

    quote! {
        #[doc = #mod_doc]
        #(#mod_attrs)*
        pub mod #mod_name {
            #allow

            /// The paths of this service's methods marked `idempotency_level =
            /// NO_SIDE_EFFECTS`: a response cache may answer their calls (PROTOCOL.md §17).
            pub const NO_SIDE_EFFECT_METHODS: &[&str] = &[#(#no_side_effects),*];

            #service_docs
            #deprecated
            #[derive(Debug, Clone)]
            pub struct #client_name<S = #cp::codegen::Channel> {
                inner: S,
            }

            impl #client_name<#cp::codegen::Channel> {
                /// Connects to `dst` and creates a client over the new channel.
                pub async fn connect<D>(dst: D) -> ::core::result::Result<Self, #cp::codegen::Error>
                where
                    D: ::core::convert::TryInto<#cp::codegen::Endpoint>,
                    D::Error: ::core::convert::Into<#cp::codegen::Error>,
                {
                    let ep: #cp::codegen::Endpoint = ::core::convert::TryInto::try_into(dst)
                        .map_err(::core::convert::Into::into)?;
                    ::core::result::Result::Ok(Self::new(ep.connect().await?))
                }

                /// The channel this client sends its calls over.
                pub fn channel(&self) -> &#cp::codegen::Channel {
                    &self.inner
                }
            }

            impl<S: #cp::codegen::CallService> #client_name<S> {
                /// Creates a client that sends its calls through `inner`: a channel, or a tower
                /// stack over one.
                pub fn new(inner: S) -> Self {
                    Self { inner }
                }

                #(#methods)*
            }
        }
    }
}

fn server(
    service: &Service,
    config: &GenConfig,
    names: &[MethodNames],
    types: &[(TokenStream, TokenStream)],
) -> TokenStream {
    let cp = &config.crate_path;
    let base = service_base(service);
    let mod_name = ident(&format!("{}_server", to_snake(&base)));
    let trait_name = ident(&base);
    let server_name = ident(&format!("{base}Server"));
    let service_docs = doc_attrs(&service.comments);
    let deprecated = service.deprecated.then(|| quote!(#[deprecated]));
    let mod_attrs = &config.server_mod_attributes;
    let allow = allow_attrs();
    let full_name = service.full_name();
    let mod_doc = format!(" Generated server for the `{full_name}` service.");
    let trait_doc =
        format!(" Implement this trait to serve `{full_name}`, then wrap it in [`{server_name}`].");
    let status = quote!(#cp::codegen::Status);
    let trait_doc_sep = (!service.comments.is_empty()).then(|| quote!(#[doc = ""]));
    let server_doc =
        format!(" Serves a [`{trait_name}`] implementation as the `{full_name}` service.");

    let trait_items = service
        .methods
        .iter()
        .zip(names)
        .zip(types)
        .map(|((m, n), (input, output))| {
            let name = &n.ident;
            let stream = &n.stream;
            let docs = doc_attrs(&m.comments);
            let deprecated = m.deprecated.then(|| quote!(#[deprecated]));
            let request = if m.client_streaming {
                quote!(#cp::codegen::Request<#cp::codegen::Streaming<#input>>)
            } else {
                quote!(#cp::codegen::Request<#input>)
            };
            if m.server_streaming {
                let stream_doc = format!(
                    " The stream of responses returned by [`{}`](Self::{}).",
                    name.to_string().trim_start_matches("r#"),
                    name
                );
                quote! {
                    #[doc = #stream_doc]
                    type #stream: #cp::codegen::Stream<Item = ::core::result::Result<#output, #status>>
                        + ::core::marker::Send
                        + 'static;

                    #docs
                    #deprecated
                    fn #name(
                        &self,
                        request: #request,
                    ) -> impl #cp::codegen::Future<
                        Output = ::core::result::Result<#cp::codegen::Response<Self::#stream>, #status>,
                    > + ::core::marker::Send;
                }
            } else {
                quote! {
                    #docs
                    #deprecated
                    fn #name(
                        &self,
                        request: #request,
                    ) -> impl #cp::codegen::Future<
                        Output = ::core::result::Result<#cp::codegen::Response<#output>, #status>,
                    > + ::core::marker::Send;
                }
            }
        });

    let arms = service
        .methods
        .iter()
        .zip(names)
        .zip(types)
        .map(|((m, n), (input, output))| {
            let name = &n.ident;
            let proto_name = &m.proto_name;
            let handler = match m.kind() {
                MethodKind::Unary => quote!(unary),
                MethodKind::ServerStreaming => quote!(server_streaming),
                MethodKind::ClientStreaming => quote!(client_streaming),
                MethodKind::Streaming => quote!(streaming),
            };
            // The method's stream priority for its responses, unless the default.
            let p = m.priority;
            let prioritize = (p != 0).then(|| quote!(let call = #cp::codegen::prioritized(call, #p);));
            // The method's calls take datagrams (PROTOCOL.md §18).
            let datagrams = m
                .datagrams
                .then(|| quote!(let call = #cp::codegen::with_datagrams(call);));
            quote! {
                #proto_name => {
                    #prioritize
                    #datagrams
                    let inner = #cp::codegen::Arc::clone(&self.inner);
                    #cp::codegen::#handler(
                        call,
                        #cp::codegen::ProstCodec::<#output, #input>::default(),
                        move |request| async move { <T as #trait_name>::#name(&inner, request).await },
                    )
                }
            }
        })
        .collect::<Vec<_>>();

    // Listed so the server refuses other methods before its layers run.
    let method_names = service.methods.iter().map(|m| &m.proto_name);
    // Listed for 0-RTT: only these run from early data (PROTOCOL.md §3.5).
    let idempotent_names = service
        .methods
        .iter()
        .filter(|m| m.idempotency != Idempotency::Unknown)
        .map(|m| &m.proto_name);

    let dispatch = if arms.is_empty() {
        quote! {
            #cp::codegen::unimplemented(call)
        }
    } else {
        quote! {
            match call.method() {
                #(#arms)*
                _ => #cp::codegen::unimplemented(call),
            }
        }
    };

    quote! {
        #[doc = #mod_doc]
        #(#mod_attrs)*
        pub mod #mod_name {
            #allow

            #service_docs
            #trait_doc_sep
            #[doc = #trait_doc]
            #deprecated
            pub trait #trait_name: ::core::marker::Send + ::core::marker::Sync + 'static {
                #(#trait_items)*
            }

            #[doc = #server_doc]
            #deprecated
            pub struct #server_name<T> {
                inner: #cp::codegen::Arc<T>,
            }

            impl<T: #trait_name> #server_name<T> {
                /// Wraps a service implementation.
                pub fn new(inner: T) -> Self {
                    Self::from_arc(#cp::codegen::Arc::new(inner))
                }

                /// Wraps a shared service implementation.
                pub fn from_arc(inner: #cp::codegen::Arc<T>) -> Self {
                    Self { inner }
                }
            }

            impl<T> ::core::clone::Clone for #server_name<T> {
                fn clone(&self) -> Self {
                    Self { inner: #cp::codegen::Arc::clone(&self.inner) }
                }
            }

            impl<T> ::core::fmt::Debug for #server_name<T> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(::core::stringify!(#server_name)).finish_non_exhaustive()
                }
            }

            impl<T: #trait_name> #cp::codegen::NamedService for #server_name<T> {
                const NAME: &'static str = #full_name;
            }

            impl<T: #trait_name> #cp::codegen::Service for #server_name<T> {
                fn call(&self, call: #cp::codegen::ServerCall) -> #cp::codegen::CallFuture {
                    #dispatch
                }

                fn methods(&self) -> ::core::option::Option<&'static [&'static str]> {
                    ::core::option::Option::Some(&[#(#method_names),*])
                }

                fn idempotent_methods(&self) -> &'static [&'static str] {
                    &[#(#idempotent_names),*]
                }
            }
        }
    }
}

/// Formats generated tokens as a Rust source file with `prettyplease`.
pub fn format_tokens(tokens: TokenStream) -> Result<String, syn::Error> {
    let file: syn::File = syn::parse2(tokens)?;
    Ok(prettyplease::unparse(&file))
}

/// [`generate`] then [`format_tokens`]: the service's code as formatted source.
pub fn generate_string(service: &Service, config: &GenConfig) -> String {
    let tokens = generate(service, config);
    match format_tokens(tokens.clone()) {
        Ok(s) => s,
        // Only reachable through a generator bug; keep the (unformatted) code so
        // rustc reports the problem at the right place instead of panicking here.
        Err(_) => tokens.to_string(),
    }
}
