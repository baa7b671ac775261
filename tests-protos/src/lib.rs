//! Generated code for real-world proto trees, compiled with warnings denied.
//!
//! `build.rs` runs rpc-codegen over our own tricky protos (`proto/`), the
//! gRPC interop/health protos (`grpcio-proto`), the OpenTelemetry collector
//! protos (`opentelemetry-proto`) and Envoy's data-plane API (`envoy-types`).
#![deny(warnings)]
#![allow(
    // Proto comments are not written for rustdoc/clippy; prost's message
    // code (not ours) trips these.
    clippy::doc_lazy_continuation,
    clippy::doc_overindented_list_items,
    clippy::large_enum_variant,
    clippy::enum_variant_names,
    // prost's messages and module layout (`envoy::envoy`, `len` fields).
    clippy::module_inception,
    clippy::len_without_is_empty,
    rustdoc::all
)]

/// Our own protos (`proto/helloworld.proto`, `proto/route_guide.proto`, `proto/game.proto`,
/// `proto/tricky/`).
pub mod own {
    include!(concat!(env!("OUT_DIR"), "/own/_includes.rs"));
}

/// `grpcio-proto`: grpc.testing, grpc.health.v1, helloworld, routeguide.
pub mod grpcio {
    include!(concat!(env!("OUT_DIR"), "/grpcio/_includes.rs"));
}

/// `opentelemetry-proto`: the collector services.
pub mod otel {
    include!(concat!(env!("OUT_DIR"), "/otel/_includes.rs"));
}

/// `envoy-types`: Envoy's whole data-plane API (`envoy/**`) and its imports.
pub mod envoy {
    include!(concat!(env!("OUT_DIR"), "/envoy/_includes.rs"));
}
