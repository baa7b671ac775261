/// Generated client for the `telemetry.Telemetry` service.
pub mod telemetry_client {
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
    pub struct TelemetryClient<S = ::rpc_core::codegen::Channel> {
        inner: S,
    }
    impl TelemetryClient<::rpc_core::codegen::Channel> {
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
    impl<S: ::rpc_core::codegen::CallService> TelemetryClient<S> {
        /// Creates a client that sends its calls through `inner`: a channel, or a tower
        /// stack over one.
        pub fn new(inner: S) -> Self {
            Self { inner }
        }
        pub async fn stream(
            &self,
            request: impl ::rpc_core::codegen::IntoStreamingRequest<
                Message = super::Sample,
            >,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<::rpc_core::codegen::Streaming<super::Ack>>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::streaming(
                    &self.inner,
                    "/telemetry.Telemetry/Stream",
                    ::rpc_core::codegen::datagrams(
                        ::rpc_core::codegen::priority(
                            ::rpc_core::codegen::IntoStreamingRequest::into_streaming_request(
                                request,
                            ),
                            3i32,
                        ),
                    ),
                    ::rpc_core::codegen::ProstCodec::<
                        super::Sample,
                        super::Ack,
                    >::default(),
                )
                .await
        }
        pub async fn watch(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::Sample>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<::rpc_core::codegen::Streaming<super::Ack>>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::server_streaming(
                    &self.inner,
                    "/telemetry.Telemetry/Watch",
                    ::rpc_core::codegen::datagrams(
                        ::rpc_core::codegen::IntoRequest::into_request(request),
                    ),
                    ::rpc_core::codegen::ProstCodec::<
                        super::Sample,
                        super::Ack,
                    >::default(),
                )
                .await
        }
        pub async fn report(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::Sample>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<super::Ack>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::unary(
                    &self.inner,
                    "/telemetry.Telemetry/Report",
                    ::rpc_core::codegen::priority(
                        ::rpc_core::codegen::IntoRequest::into_request(request),
                        -1i32,
                    ),
                    ::rpc_core::codegen::ProstCodec::<
                        super::Sample,
                        super::Ack,
                    >::default(),
                )
                .await
        }
    }
}
/// Generated server for the `telemetry.Telemetry` service.
pub mod telemetry_server {
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
    /// Implement this trait to serve `telemetry.Telemetry`, then wrap it in [`TelemetryServer`].
    pub trait Telemetry: ::core::marker::Send + ::core::marker::Sync + 'static {
        /// The stream of responses returned by [`stream`](Self::stream).
        type StreamStream: ::rpc_core::codegen::Stream<
                Item = ::core::result::Result<super::Ack, ::rpc_core::codegen::Status>,
            >
            + ::core::marker::Send
            + 'static;
        fn stream(
            &self,
            request: ::rpc_core::codegen::Request<
                ::rpc_core::codegen::Streaming<super::Sample>,
            >,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<Self::StreamStream>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        /// The stream of responses returned by [`watch`](Self::watch).
        type WatchStream: ::rpc_core::codegen::Stream<
                Item = ::core::result::Result<super::Ack, ::rpc_core::codegen::Status>,
            >
            + ::core::marker::Send
            + 'static;
        fn watch(
            &self,
            request: ::rpc_core::codegen::Request<super::Sample>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<Self::WatchStream>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        fn report(
            &self,
            request: ::rpc_core::codegen::Request<super::Sample>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<super::Ack>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
    }
    /// Serves a [`Telemetry`] implementation as the `telemetry.Telemetry` service.
    pub struct TelemetryServer<T> {
        inner: ::rpc_core::codegen::Arc<T>,
    }
    impl<T: Telemetry> TelemetryServer<T> {
        /// Wraps a service implementation.
        pub fn new(inner: T) -> Self {
            Self::from_arc(::rpc_core::codegen::Arc::new(inner))
        }
        /// Wraps a shared service implementation.
        pub fn from_arc(inner: ::rpc_core::codegen::Arc<T>) -> Self {
            Self { inner }
        }
    }
    impl<T> ::core::clone::Clone for TelemetryServer<T> {
        fn clone(&self) -> Self {
            Self {
                inner: ::rpc_core::codegen::Arc::clone(&self.inner),
            }
        }
    }
    impl<T> ::core::fmt::Debug for TelemetryServer<T> {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            f.debug_struct(::core::stringify!(TelemetryServer)).finish_non_exhaustive()
        }
    }
    impl<T: Telemetry> ::rpc_core::codegen::NamedService for TelemetryServer<T> {
        const NAME: &'static str = "telemetry.Telemetry";
    }
    impl<T: Telemetry> ::rpc_core::codegen::Service for TelemetryServer<T> {
        fn call(
            &self,
            call: ::rpc_core::codegen::ServerCall,
        ) -> ::rpc_core::codegen::CallFuture {
            match call.method() {
                "Stream" => {
                    let call = ::rpc_core::codegen::prioritized(call, 3i32);
                    let call = ::rpc_core::codegen::with_datagrams(call);
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::streaming(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Ack,
                            super::Sample,
                        >::default(),
                        move |request| async move {
                            <T as Telemetry>::stream(&inner, request).await
                        },
                    )
                }
                "Watch" => {
                    let call = ::rpc_core::codegen::with_datagrams(call);
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::server_streaming(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Ack,
                            super::Sample,
                        >::default(),
                        move |request| async move {
                            <T as Telemetry>::watch(&inner, request).await
                        },
                    )
                }
                "Report" => {
                    let call = ::rpc_core::codegen::prioritized(call, -1i32);
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::unary(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Ack,
                            super::Sample,
                        >::default(),
                        move |request| async move {
                            <T as Telemetry>::report(&inner, request).await
                        },
                    )
                }
                _ => ::rpc_core::codegen::unimplemented(call),
            }
        }
        fn methods(&self) -> ::core::option::Option<&'static [&'static str]> {
            ::core::option::Option::Some(&["Stream", "Watch", "Report"])
        }
        fn idempotent_methods(&self) -> &'static [&'static str] {
            &[]
        }
    }
}
