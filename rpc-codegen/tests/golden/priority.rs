/// Generated client for the `ticker.Ticker` service.
pub mod ticker_client {
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
    pub struct TickerClient<S = ::rpc_core::codegen::Channel> {
        inner: S,
    }
    impl TickerClient<::rpc_core::codegen::Channel> {
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
    impl<S: ::rpc_core::codegen::CallService> TickerClient<S> {
        /// Creates a client that sends its calls through `inner`: a channel, or a tower
        /// stack over one.
        pub fn new(inner: S) -> Self {
            Self { inner }
        }
        pub async fn quote(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::QuoteRequest>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<super::Quote>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::unary(
                    &self.inner,
                    "/ticker.Ticker/Quote",
                    ::rpc_core::codegen::priority(
                        ::rpc_core::codegen::IntoRequest::into_request(request),
                        5i32,
                    ),
                    ::rpc_core::codegen::ProstCodec::<
                        super::QuoteRequest,
                        super::Quote,
                    >::default(),
                )
                .await
        }
        pub async fn feed(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::QuoteRequest>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<::rpc_core::codegen::Streaming<super::Quote>>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::server_streaming(
                    &self.inner,
                    "/ticker.Ticker/Feed",
                    ::rpc_core::codegen::IntoRequest::into_request(request),
                    ::rpc_core::codegen::ProstCodec::<
                        super::QuoteRequest,
                        super::Quote,
                    >::default(),
                )
                .await
        }
    }
}
/// Generated server for the `ticker.Ticker` service.
pub mod ticker_server {
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
    /// Implement this trait to serve `ticker.Ticker`, then wrap it in [`TickerServer`].
    pub trait Ticker: ::core::marker::Send + ::core::marker::Sync + 'static {
        fn quote(
            &self,
            request: ::rpc_core::codegen::Request<super::QuoteRequest>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<super::Quote>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        /// The stream of responses returned by [`feed`](Self::feed).
        type FeedStream: ::rpc_core::codegen::Stream<
                Item = ::core::result::Result<super::Quote, ::rpc_core::codegen::Status>,
            >
            + ::core::marker::Send
            + 'static;
        fn feed(
            &self,
            request: ::rpc_core::codegen::Request<super::QuoteRequest>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<Self::FeedStream>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
    }
    /// Serves a [`Ticker`] implementation as the `ticker.Ticker` service.
    pub struct TickerServer<T> {
        inner: ::rpc_core::codegen::Arc<T>,
    }
    impl<T: Ticker> TickerServer<T> {
        /// Wraps a service implementation.
        pub fn new(inner: T) -> Self {
            Self::from_arc(::rpc_core::codegen::Arc::new(inner))
        }
        /// Wraps a shared service implementation.
        pub fn from_arc(inner: ::rpc_core::codegen::Arc<T>) -> Self {
            Self { inner }
        }
    }
    impl<T> ::core::clone::Clone for TickerServer<T> {
        fn clone(&self) -> Self {
            Self {
                inner: ::rpc_core::codegen::Arc::clone(&self.inner),
            }
        }
    }
    impl<T> ::core::fmt::Debug for TickerServer<T> {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            f.debug_struct(::core::stringify!(TickerServer)).finish_non_exhaustive()
        }
    }
    impl<T: Ticker> ::rpc_core::codegen::NamedService for TickerServer<T> {
        const NAME: &'static str = "ticker.Ticker";
    }
    impl<T: Ticker> ::rpc_core::codegen::Service for TickerServer<T> {
        fn call(
            &self,
            call: ::rpc_core::codegen::ServerCall,
        ) -> ::rpc_core::codegen::CallFuture {
            match call.method() {
                "Quote" => {
                    let call = ::rpc_core::codegen::prioritized(call, 5i32);
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::unary(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Quote,
                            super::QuoteRequest,
                        >::default(),
                        move |request| async move {
                            <T as Ticker>::quote(&inner, request).await
                        },
                    )
                }
                "Feed" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::server_streaming(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Quote,
                            super::QuoteRequest,
                        >::default(),
                        move |request| async move {
                            <T as Ticker>::feed(&inner, request).await
                        },
                    )
                }
                _ => ::rpc_core::codegen::unimplemented(call),
            }
        }
        fn methods(&self) -> ::core::option::Option<&'static [&'static str]> {
            ::core::option::Option::Some(&["Quote", "Feed"])
        }
        fn idempotent_methods(&self) -> &'static [&'static str] {
            &[]
        }
    }
}
