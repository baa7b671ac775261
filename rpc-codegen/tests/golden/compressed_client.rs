/// Generated client for the `media.Store` service.
pub mod store_client {
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
    /// The paths of this service's methods marked `idempotency_level =
    /// NO_SIDE_EFFECTS`: a response cache may answer their calls (PROTOCOL.md §17).
    pub const NO_SIDE_EFFECT_METHODS: &[&str] = &["/media.Store/Get"];
    #[derive(Debug, Clone)]
    pub struct StoreClient<S = ::rpc_core::codegen::Channel> {
        inner: S,
    }
    impl StoreClient<::rpc_core::codegen::Channel> {
        /// Connects to `dst` and creates a client over the new channel.
        pub async fn connect<D>(
            dst: D,
        ) -> ::core::result::Result<Self, ::rpc_core::codegen::Error>
        where
            D: ::core::convert::TryInto<::rpc_core::codegen::Endpoint>,
            D::Error: ::core::convert::Into<::rpc_core::codegen::Error>,
        {
            let ep: ::rpc_core::codegen::Endpoint = ::core::convert::TryInto::try_into(
                    dst,
                )
                .map_err(::core::convert::Into::into)?;
            ::core::result::Result::Ok(Self::new(ep.connect().await?))
        }
        /// The channel this client sends its calls over.
        pub fn channel(&self) -> &::rpc_core::codegen::Channel {
            &self.inner
        }
    }
    impl<S: ::rpc_core::codegen::CallService> StoreClient<S> {
        /// Creates a client that sends its calls through `inner`: a channel, or a tower
        /// stack over one.
        pub fn new(inner: S) -> Self {
            Self { inner }
        }
        pub async fn get(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::Key>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<super::Blob>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::unary(
                    &self.inner,
                    "/media.Store/Get",
                    ::rpc_core::codegen::send_compressed(
                        ::rpc_core::codegen::idempotent(
                            ::rpc_core::codegen::IntoRequest::into_request(request),
                        ),
                        ::core::option::Option::Some(
                            ::rpc_core::codegen::CompressionEncoding::Zstd,
                        ),
                    ),
                    ::rpc_core::codegen::ProstCodec::<super::Key, super::Blob>::default(),
                )
                .await
        }
        pub async fn upload(
            &self,
            request: impl ::rpc_core::codegen::IntoStreamingRequest<
                Message = super::Blob,
            >,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<super::Key>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::client_streaming(
                    &self.inner,
                    "/media.Store/Upload",
                    ::rpc_core::codegen::send_compressed(
                        ::rpc_core::codegen::IntoStreamingRequest::into_streaming_request(
                            request,
                        ),
                        ::core::option::Option::None,
                    ),
                    ::rpc_core::codegen::ProstCodec::<super::Blob, super::Key>::default(),
                )
                .await
        }
        pub async fn list(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::Key>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<::rpc_core::codegen::Streaming<super::Key>>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::server_streaming(
                    &self.inner,
                    "/media.Store/List",
                    ::rpc_core::codegen::send_compressed(
                        ::rpc_core::codegen::IntoRequest::into_request(request),
                        ::core::option::Option::Some(
                            ::rpc_core::codegen::CompressionEncoding::Zstd,
                        ),
                    ),
                    ::rpc_core::codegen::ProstCodec::<super::Key, super::Key>::default(),
                )
                .await
        }
    }
}
