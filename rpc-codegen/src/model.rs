//! The service model: plain data describing an RPC service and its methods.
//!
//! The `.proto` front end fills it from prost-build's descriptors; a proc-macro
//! crate can fill it from a Rust trait. [`generate`](crate::generate) turns it
//! into tokens.

/// An RPC service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    /// The service name as a Rust type name (`UpperCamelCase`), e.g. `RouteGuide`.
    ///
    /// A raw (`r#...`) or keyword-suffixed (`Self_`) form is accepted; the
    /// generator normalises it.
    pub name: String,
    /// The service name as written in the `.proto` file, e.g. `RouteGuide`.
    pub proto_name: String,
    /// The protobuf package, e.g. `routeguide`; empty for a file without `package`.
    pub package: String,
    /// Documentation lines (without the comment markers), emitted as `///` docs.
    pub comments: Vec<String>,
    /// The methods, in declaration order.
    pub methods: Vec<Method>,
    /// `option deprecated = true;` on the service.
    pub deprecated: bool,
}

/// One method of a [`Service`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Method {
    /// The method name as a Rust identifier (`snake_case`), e.g. `get_feature`.
    ///
    /// A raw (`r#type`) or keyword-suffixed (`self_`) form is accepted.
    pub name: String,
    /// The method name as written in the `.proto` file, e.g. `GetFeature`.
    pub proto_name: String,
    /// The request message type as a Rust path, relative to the module the
    /// service is generated in (e.g. `Point`, `super::common::Point`), or
    /// absolute (`::rpc_core::codegen::prost_types::Timestamp`, `crate::x::Y`), or `()`.
    pub input_type: String,
    /// The response message type, same conventions as [`input_type`](Self::input_type).
    pub output_type: String,
    /// The client sends a stream of messages.
    pub client_streaming: bool,
    /// The server sends a stream of messages.
    pub server_streaming: bool,
    /// Documentation lines (without the comment markers).
    pub comments: Vec<String>,
    /// `option deprecated = true;` on the method.
    pub deprecated: bool,
    /// `option idempotency_level = ...;` on the method.
    pub idempotency: Idempotency,
    /// The QUIC stream priority of the method's calls, on both sides (client requests,
    /// server responses; higher first, 0 the default): `#[rpc(priority = N)]`.
    pub priority: i32,
    /// The method's calls carry datagrams (PROTOCOL.md §18): `#[rpc(datagrams)]`, or
    /// `option (qrpc.datagrams) = true;`. Only for methods whose responses are streamed
    /// (server-streaming, bidirectional): the generator refuses others with a
    /// `compile_error!`, as their client has no handle while the call runs.
    pub datagrams: bool,
}

/// The protobuf `idempotency_level` method option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Idempotency {
    /// `IDEMPOTENCY_UNKNOWN` (the default).
    #[default]
    Unknown,
    /// `NO_SIDE_EFFECTS`: the call has no side effects (implies idempotent).
    NoSideEffects,
    /// `IDEMPOTENT`: calling it several times has the effect of calling it once.
    Idempotent,
}

/// Which of the four call kinds a method is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams both ways.
    Streaming,
}

impl Service {
    /// The fully qualified protobuf name: `pkg.Service`, or `Service` without a package.
    pub fn full_name(&self) -> String {
        if self.package.is_empty() {
            self.proto_name.clone()
        } else {
            format!("{}.{}", self.package, self.proto_name)
        }
    }

    /// The route of one of this service's methods: `/pkg.Service/Method`
    /// (`/Service/Method` without a package).
    pub fn route(&self, method: &Method) -> String {
        format!("/{}/{}", self.full_name(), method.proto_name)
    }
}

impl Method {
    /// The call kind, from the two streaming flags.
    pub fn kind(&self) -> MethodKind {
        match (self.client_streaming, self.server_streaming) {
            (false, false) => MethodKind::Unary,
            (false, true) => MethodKind::ServerStreaming,
            (true, false) => MethodKind::ClientStreaming,
            (true, true) => MethodKind::Streaming,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let m = Method {
            proto_name: "SayHello".into(),
            ..Method::default()
        };
        let mut s = Service {
            proto_name: "Greeter".into(),
            package: "helloworld".into(),
            ..Service::default()
        };
        assert_eq!(s.route(&m), "/helloworld.Greeter/SayHello");
        s.package.clear();
        assert_eq!(s.route(&m), "/Greeter/SayHello");
        assert_eq!(s.full_name(), "Greeter");
    }
}
