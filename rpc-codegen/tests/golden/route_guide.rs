/// Generated client for the `routeguide.RouteGuide` service.
pub mod route_guide_client {
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
    pub const NO_SIDE_EFFECT_METHODS: &[&str] = &["/routeguide.RouteGuide/GetFeature"];
    /// Interface exported by the server.
    #[derive(Debug, Clone)]
    pub struct RouteGuideClient<S = ::rpc_core::codegen::Channel> {
        inner: S,
    }
    impl RouteGuideClient<::rpc_core::codegen::Channel> {
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
    impl<S: ::rpc_core::codegen::CallService> RouteGuideClient<S> {
        /// Creates a client that sends its calls through `inner`: a channel, or a tower
        /// stack over one.
        pub fn new(inner: S) -> Self {
            Self { inner }
        }
        /// A simple RPC.
        pub async fn get_feature(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::Point>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<super::Feature>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::unary(
                    &self.inner,
                    "/routeguide.RouteGuide/GetFeature",
                    ::rpc_core::codegen::idempotent(
                        ::rpc_core::codegen::IntoRequest::into_request(request),
                    ),
                    ::rpc_core::codegen::ProstCodec::<
                        super::Point,
                        super::Feature,
                    >::default(),
                )
                .await
        }
        /// A server-to-client streaming RPC.
        pub async fn list_features(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::Rectangle>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<
                ::rpc_core::codegen::Streaming<super::Feature>,
            >,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::server_streaming(
                    &self.inner,
                    "/routeguide.RouteGuide/ListFeatures",
                    ::rpc_core::codegen::IntoRequest::into_request(request),
                    ::rpc_core::codegen::ProstCodec::<
                        super::Rectangle,
                        super::Feature,
                    >::default(),
                )
                .await
        }
        /// A client-to-server streaming RPC.
        #[deprecated]
        pub async fn record_route(
            &self,
            request: impl ::rpc_core::codegen::IntoStreamingRequest<
                Message = super::Point,
            >,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<super::RouteSummary>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::client_streaming(
                    &self.inner,
                    "/routeguide.RouteGuide/RecordRoute",
                    ::rpc_core::codegen::IntoStreamingRequest::into_streaming_request(
                        request,
                    ),
                    ::rpc_core::codegen::ProstCodec::<
                        super::Point,
                        super::RouteSummary,
                    >::default(),
                )
                .await
        }
        /// A Bidirectional streaming RPC.
        pub async fn route_chat(
            &self,
            request: impl ::rpc_core::codegen::IntoStreamingRequest<
                Message = super::RouteNote,
            >,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<
                ::rpc_core::codegen::Streaming<super::RouteNote>,
            >,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::streaming(
                    &self.inner,
                    "/routeguide.RouteGuide/RouteChat",
                    ::rpc_core::codegen::IntoStreamingRequest::into_streaming_request(
                        request,
                    ),
                    ::rpc_core::codegen::ProstCodec::<
                        super::RouteNote,
                        super::RouteNote,
                    >::default(),
                )
                .await
        }
    }
}
/// Generated server for the `routeguide.RouteGuide` service.
pub mod route_guide_server {
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
    /// Interface exported by the server.
    ///
    /// Implement this trait to serve `routeguide.RouteGuide`, then wrap it in [`RouteGuideServer`].
    pub trait RouteGuide: ::core::marker::Send + ::core::marker::Sync + 'static {
        /// A simple RPC.
        fn get_feature(
            &self,
            request: ::rpc_core::codegen::Request<super::Point>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<super::Feature>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        /// The stream of responses returned by [`list_features`](Self::list_features).
        type ListFeaturesStream: ::rpc_core::codegen::Stream<
                Item = ::core::result::Result<
                    super::Feature,
                    ::rpc_core::codegen::Status,
                >,
            >
            + ::core::marker::Send
            + 'static;
        /// A server-to-client streaming RPC.
        fn list_features(
            &self,
            request: ::rpc_core::codegen::Request<super::Rectangle>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<Self::ListFeaturesStream>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        /// A client-to-server streaming RPC.
        #[deprecated]
        fn record_route(
            &self,
            request: ::rpc_core::codegen::Request<
                ::rpc_core::codegen::Streaming<super::Point>,
            >,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<super::RouteSummary>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        /// The stream of responses returned by [`route_chat`](Self::route_chat).
        type RouteChatStream: ::rpc_core::codegen::Stream<
                Item = ::core::result::Result<
                    super::RouteNote,
                    ::rpc_core::codegen::Status,
                >,
            >
            + ::core::marker::Send
            + 'static;
        /// A Bidirectional streaming RPC.
        fn route_chat(
            &self,
            request: ::rpc_core::codegen::Request<
                ::rpc_core::codegen::Streaming<super::RouteNote>,
            >,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<Self::RouteChatStream>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
    }
    /// Serves a [`RouteGuide`] implementation as the `routeguide.RouteGuide` service.
    pub struct RouteGuideServer<T> {
        inner: ::rpc_core::codegen::Arc<T>,
    }
    impl<T: RouteGuide> RouteGuideServer<T> {
        /// Wraps a service implementation.
        pub fn new(inner: T) -> Self {
            Self::from_arc(::rpc_core::codegen::Arc::new(inner))
        }
        /// Wraps a shared service implementation.
        pub fn from_arc(inner: ::rpc_core::codegen::Arc<T>) -> Self {
            Self { inner }
        }
    }
    impl<T> ::core::clone::Clone for RouteGuideServer<T> {
        fn clone(&self) -> Self {
            Self {
                inner: ::rpc_core::codegen::Arc::clone(&self.inner),
            }
        }
    }
    impl<T> ::core::fmt::Debug for RouteGuideServer<T> {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            f.debug_struct(::core::stringify!(RouteGuideServer)).finish_non_exhaustive()
        }
    }
    impl<T: RouteGuide> ::rpc_core::codegen::NamedService for RouteGuideServer<T> {
        const NAME: &'static str = "routeguide.RouteGuide";
    }
    impl<T: RouteGuide> ::rpc_core::codegen::Service for RouteGuideServer<T> {
        fn call(
            &self,
            call: ::rpc_core::codegen::ServerCall,
        ) -> ::rpc_core::codegen::CallFuture {
            match call.method() {
                "GetFeature" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::unary(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Feature,
                            super::Point,
                        >::default(),
                        move |request| async move {
                            <T as RouteGuide>::get_feature(&inner, request).await
                        },
                    )
                }
                "ListFeatures" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::server_streaming(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Feature,
                            super::Rectangle,
                        >::default(),
                        move |request| async move {
                            <T as RouteGuide>::list_features(&inner, request).await
                        },
                    )
                }
                "RecordRoute" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::client_streaming(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::RouteSummary,
                            super::Point,
                        >::default(),
                        move |request| async move {
                            <T as RouteGuide>::record_route(&inner, request).await
                        },
                    )
                }
                "RouteChat" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::streaming(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::RouteNote,
                            super::RouteNote,
                        >::default(),
                        move |request| async move {
                            <T as RouteGuide>::route_chat(&inner, request).await
                        },
                    )
                }
                _ => ::rpc_core::codegen::unimplemented(call),
            }
        }
        fn methods(&self) -> ::core::option::Option<&'static [&'static str]> {
            ::core::option::Option::Some(
                &["GetFeature", "ListFeatures", "RecordRoute", "RouteChat"],
            )
        }
        fn idempotent_methods(&self) -> &'static [&'static str] {
            &["GetFeature"]
        }
    }
}
