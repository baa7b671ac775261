/// Generated server for the `empty.Nothing` service.
pub mod nothing_server {
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
    /// Implement this trait to serve `empty.Nothing`, then wrap it in [`NothingServer`].
    pub trait Nothing: ::core::marker::Send + ::core::marker::Sync + 'static {}
    /// Serves a [`Nothing`] implementation as the `empty.Nothing` service.
    pub struct NothingServer<T> {
        inner: ::rpc_core::codegen::Arc<T>,
    }
    impl<T: Nothing> NothingServer<T> {
        /// Wraps a service implementation.
        pub fn new(inner: T) -> Self {
            Self::from_arc(::rpc_core::codegen::Arc::new(inner))
        }
        /// Wraps a shared service implementation.
        pub fn from_arc(inner: ::rpc_core::codegen::Arc<T>) -> Self {
            Self { inner }
        }
    }
    impl<T> ::core::clone::Clone for NothingServer<T> {
        fn clone(&self) -> Self {
            Self {
                inner: ::rpc_core::codegen::Arc::clone(&self.inner),
            }
        }
    }
    impl<T> ::core::fmt::Debug for NothingServer<T> {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            f.debug_struct(::core::stringify!(NothingServer)).finish_non_exhaustive()
        }
    }
    impl<T: Nothing> ::rpc_core::codegen::NamedService for NothingServer<T> {
        const NAME: &'static str = "empty.Nothing";
    }
    impl<T: Nothing> ::rpc_core::codegen::Service for NothingServer<T> {
        fn call(
            &self,
            call: ::rpc_core::codegen::ServerCall,
        ) -> ::rpc_core::codegen::CallFuture {
            ::rpc_core::codegen::unimplemented(call)
        }
        fn methods(&self) -> ::core::option::Option<&'static [&'static str]> {
            ::core::option::Option::Some(&[])
        }
        fn idempotent_methods(&self) -> &'static [&'static str] {
            &[]
        }
    }
}
