/// Generated client for the `my.nested.pkg.type` service.
pub mod type_client {
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
    #[deprecated]
    #[derive(Debug, Clone)]
    pub struct TypeClient<S = ::rpc_core::codegen::Channel> {
        inner: S,
    }
    impl TypeClient<::rpc_core::codegen::Channel> {
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
    impl<S: ::rpc_core::codegen::CallService> TypeClient<S> {
        /// Creates a client that sends its calls through `inner`: a channel, or a tower
        /// stack over one.
        pub fn new(inner: S) -> Self {
            Self { inner }
        }
        pub async fn r#type(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<()>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<::rpc_core::codegen::prost_types::Timestamp>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::unary(
                    &self.inner,
                    "/my.nested.pkg.type/type",
                    ::rpc_core::codegen::IntoRequest::into_request(request),
                    ::rpc_core::codegen::ProstCodec::<
                        (),
                        ::rpc_core::codegen::prost_types::Timestamp,
                    >::default(),
                )
                .await
        }
        pub async fn self_(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::super::common::Point>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<::rpc_core::codegen::Streaming<()>>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::server_streaming(
                    &self.inner,
                    "/my.nested.pkg.type/self",
                    ::rpc_core::codegen::IntoRequest::into_request(request),
                    ::rpc_core::codegen::ProstCodec::<
                        super::super::common::Point,
                        (),
                    >::default(),
                )
                .await
        }
        pub async fn get_foo(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::Foo>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<super::Foo>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::unary(
                    &self.inner,
                    "/my.nested.pkg.type/GetFoo",
                    ::rpc_core::codegen::IntoRequest::into_request(request),
                    ::rpc_core::codegen::ProstCodec::<super::Foo, super::Foo>::default(),
                )
                .await
        }
        pub async fn get_foo_2(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::Foo>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<::rpc_core::codegen::Streaming<super::Foo>>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::server_streaming(
                    &self.inner,
                    "/my.nested.pkg.type/get_foo",
                    ::rpc_core::codegen::IntoRequest::into_request(request),
                    ::rpc_core::codegen::ProstCodec::<super::Foo, super::Foo>::default(),
                )
                .await
        }
        pub async fn get_foo_3(
            &self,
            request: impl ::rpc_core::codegen::IntoStreamingRequest<Message = super::Foo>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<::rpc_core::codegen::Streaming<super::Foo>>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::streaming(
                    &self.inner,
                    "/my.nested.pkg.type/Get_Foo",
                    ::rpc_core::codegen::IntoStreamingRequest::into_streaming_request(
                        request,
                    ),
                    ::rpc_core::codegen::ProstCodec::<super::Foo, super::Foo>::default(),
                )
                .await
        }
        pub async fn new_2(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<crate::external::Thing>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<super::Foo>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::unary(
                    &self.inner,
                    "/my.nested.pkg.type/New",
                    ::rpc_core::codegen::IntoRequest::into_request(request),
                    ::rpc_core::codegen::ProstCodec::<
                        crate::external::Thing,
                        super::Foo,
                    >::default(),
                )
                .await
        }
        pub async fn connect_2(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::Foo>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<super::Foo>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::unary(
                    &self.inner,
                    "/my.nested.pkg.type/Connect",
                    ::rpc_core::codegen::IntoRequest::into_request(request),
                    ::rpc_core::codegen::ProstCodec::<super::Foo, super::Foo>::default(),
                )
                .await
        }
        pub async fn clone_2(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<super::Foo>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<super::Foo>,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::unary(
                    &self.inner,
                    "/my.nested.pkg.type/Clone",
                    ::rpc_core::codegen::IntoRequest::into_request(request),
                    ::rpc_core::codegen::ProstCodec::<super::Foo, super::Foo>::default(),
                )
                .await
        }
        pub async fn wrappers(
            &self,
            request: impl ::rpc_core::codegen::IntoRequest<i64>,
        ) -> ::core::result::Result<
            ::rpc_core::codegen::Response<
                ::rpc_core::codegen::prost::alloc::string::String,
            >,
            ::rpc_core::codegen::Status,
        > {
            ::rpc_core::codegen::client::unary(
                    &self.inner,
                    "/my.nested.pkg.type/Wrappers",
                    ::rpc_core::codegen::IntoRequest::into_request(request),
                    ::rpc_core::codegen::ProstCodec::<
                        i64,
                        ::rpc_core::codegen::prost::alloc::string::String,
                    >::default(),
                )
                .await
        }
    }
}
/// Generated server for the `my.nested.pkg.type` service.
pub mod type_server {
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
    /// Implement this trait to serve `my.nested.pkg.type`, then wrap it in [`TypeServer`].
    #[deprecated]
    pub trait Type: ::core::marker::Send + ::core::marker::Sync + 'static {
        fn r#type(
            &self,
            request: ::rpc_core::codegen::Request<()>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<
                    ::rpc_core::codegen::prost_types::Timestamp,
                >,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        /// The stream of responses returned by [`self_`](Self::self_).
        type SelfStream: ::rpc_core::codegen::Stream<
                Item = ::core::result::Result<(), ::rpc_core::codegen::Status>,
            >
            + ::core::marker::Send
            + 'static;
        fn self_(
            &self,
            request: ::rpc_core::codegen::Request<super::super::common::Point>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<Self::SelfStream>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        fn get_foo(
            &self,
            request: ::rpc_core::codegen::Request<super::Foo>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<super::Foo>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        /// The stream of responses returned by [`get_foo_2`](Self::get_foo_2).
        type GetFoo2Stream: ::rpc_core::codegen::Stream<
                Item = ::core::result::Result<super::Foo, ::rpc_core::codegen::Status>,
            >
            + ::core::marker::Send
            + 'static;
        fn get_foo_2(
            &self,
            request: ::rpc_core::codegen::Request<super::Foo>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<Self::GetFoo2Stream>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        /// The stream of responses returned by [`get_foo_3`](Self::get_foo_3).
        type GetFoo3Stream: ::rpc_core::codegen::Stream<
                Item = ::core::result::Result<super::Foo, ::rpc_core::codegen::Status>,
            >
            + ::core::marker::Send
            + 'static;
        fn get_foo_3(
            &self,
            request: ::rpc_core::codegen::Request<
                ::rpc_core::codegen::Streaming<super::Foo>,
            >,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<Self::GetFoo3Stream>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        fn new_2(
            &self,
            request: ::rpc_core::codegen::Request<crate::external::Thing>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<super::Foo>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        fn connect_2(
            &self,
            request: ::rpc_core::codegen::Request<super::Foo>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<super::Foo>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        fn clone_2(
            &self,
            request: ::rpc_core::codegen::Request<super::Foo>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<super::Foo>,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
        fn wrappers(
            &self,
            request: ::rpc_core::codegen::Request<i64>,
        ) -> impl ::rpc_core::codegen::Future<
            Output = ::core::result::Result<
                ::rpc_core::codegen::Response<
                    ::rpc_core::codegen::prost::alloc::string::String,
                >,
                ::rpc_core::codegen::Status,
            >,
        > + ::core::marker::Send;
    }
    /// Serves a [`Type`] implementation as the `my.nested.pkg.type` service.
    #[deprecated]
    pub struct TypeServer<T> {
        inner: ::rpc_core::codegen::Arc<T>,
    }
    impl<T: Type> TypeServer<T> {
        /// Wraps a service implementation.
        pub fn new(inner: T) -> Self {
            Self::from_arc(::rpc_core::codegen::Arc::new(inner))
        }
        /// Wraps a shared service implementation.
        pub fn from_arc(inner: ::rpc_core::codegen::Arc<T>) -> Self {
            Self { inner }
        }
    }
    impl<T> ::core::clone::Clone for TypeServer<T> {
        fn clone(&self) -> Self {
            Self {
                inner: ::rpc_core::codegen::Arc::clone(&self.inner),
            }
        }
    }
    impl<T> ::core::fmt::Debug for TypeServer<T> {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            f.debug_struct(::core::stringify!(TypeServer)).finish_non_exhaustive()
        }
    }
    impl<T: Type> ::rpc_core::codegen::NamedService for TypeServer<T> {
        const NAME: &'static str = "my.nested.pkg.type";
    }
    impl<T: Type> ::rpc_core::codegen::Service for TypeServer<T> {
        fn call(
            &self,
            call: ::rpc_core::codegen::ServerCall,
        ) -> ::rpc_core::codegen::CallFuture {
            match call.method() {
                "type" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::unary(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            ::rpc_core::codegen::prost_types::Timestamp,
                            (),
                        >::default(),
                        move |request| async move {
                            <T as Type>::r#type(&inner, request).await
                        },
                    )
                }
                "self" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::server_streaming(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            (),
                            super::super::common::Point,
                        >::default(),
                        move |request| async move {
                            <T as Type>::self_(&inner, request).await
                        },
                    )
                }
                "GetFoo" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::unary(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Foo,
                            super::Foo,
                        >::default(),
                        move |request| async move {
                            <T as Type>::get_foo(&inner, request).await
                        },
                    )
                }
                "get_foo" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::server_streaming(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Foo,
                            super::Foo,
                        >::default(),
                        move |request| async move {
                            <T as Type>::get_foo_2(&inner, request).await
                        },
                    )
                }
                "Get_Foo" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::streaming(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Foo,
                            super::Foo,
                        >::default(),
                        move |request| async move {
                            <T as Type>::get_foo_3(&inner, request).await
                        },
                    )
                }
                "New" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::unary(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Foo,
                            crate::external::Thing,
                        >::default(),
                        move |request| async move {
                            <T as Type>::new_2(&inner, request).await
                        },
                    )
                }
                "Connect" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::unary(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Foo,
                            super::Foo,
                        >::default(),
                        move |request| async move {
                            <T as Type>::connect_2(&inner, request).await
                        },
                    )
                }
                "Clone" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::unary(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            super::Foo,
                            super::Foo,
                        >::default(),
                        move |request| async move {
                            <T as Type>::clone_2(&inner, request).await
                        },
                    )
                }
                "Wrappers" => {
                    let inner = ::rpc_core::codegen::Arc::clone(&self.inner);
                    ::rpc_core::codegen::unary(
                        call,
                        ::rpc_core::codegen::ProstCodec::<
                            ::rpc_core::codegen::prost::alloc::string::String,
                            i64,
                        >::default(),
                        move |request| async move {
                            <T as Type>::wrappers(&inner, request).await
                        },
                    )
                }
                _ => ::rpc_core::codegen::unimplemented(call),
            }
        }
        fn methods(&self) -> ::core::option::Option<&'static [&'static str]> {
            ::core::option::Option::Some(
                &[
                    "type",
                    "self",
                    "GetFoo",
                    "get_foo",
                    "Get_Foo",
                    "New",
                    "Connect",
                    "Clone",
                    "Wrappers",
                ],
            )
        }
        fn idempotent_methods(&self) -> &'static [&'static str] {
            &[]
        }
    }
}
