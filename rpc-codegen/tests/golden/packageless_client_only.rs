/// Generated client for the `Ping` service.
#[cfg(feature = "client")]
pub mod ping_client {
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
    pub const NO_SIDE_EFFECT_METHODS: &[&str] = &[];
    #[derive(Debug, Clone)]
    pub struct PingClient<S = crate::rt::codegen::Channel> {
        inner: S,
    }
    impl PingClient<crate::rt::codegen::Channel> {
        /// Connects to `dst` and creates a client over the new channel.
        pub async fn connect<D>(
            dst: D,
        ) -> ::core::result::Result<Self, crate::rt::codegen::Error>
        where
            D: ::core::convert::TryInto<crate::rt::codegen::Endpoint>,
            D::Error: ::core::convert::Into<crate::rt::codegen::Error>,
        {
            let ep: crate::rt::codegen::Endpoint = ::core::convert::TryInto::try_into(
                    dst,
                )
                .map_err(::core::convert::Into::into)?;
            ::core::result::Result::Ok(Self::new(ep.connect().await?))
        }
        /// The channel this client sends its calls over.
        pub fn channel(&self) -> &crate::rt::codegen::Channel {
            &self.inner
        }
    }
    impl<S: crate::rt::codegen::CallService> PingClient<S> {
        /// Creates a client that sends its calls through `inner`: a channel, or a tower
        /// stack over one.
        pub fn new(inner: S) -> Self {
            Self { inner }
        }
        pub async fn ping(
            &self,
            request: impl crate::rt::codegen::IntoRequest<()>,
        ) -> ::core::result::Result<
            crate::rt::codegen::Response<()>,
            crate::rt::codegen::Status,
        > {
            crate::rt::codegen::client::unary(
                    &self.inner,
                    "/Ping/Ping",
                    crate::rt::codegen::IntoRequest::into_request(request),
                    crate::rt::codegen::ProstCodec::<(), ()>::default(),
                )
                .await
        }
    }
}
