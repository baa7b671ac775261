// A service compiles whether its messages have descriptors or not; asking for the service's
// descriptors is what needs them, and the error names the type.
use rpc_core::{Request, Response, Status};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Plain {}

#[derive(Clone, PartialEq, prost::Message, rpc_macros::Descriptor)]
pub struct Outer {
    #[prost(message, optional, tag = "1")]
    pub inner: Option<Plain>,
}

#[rpc_macros::service]
pub trait Svc {
    async fn call(&self, request: Request<Plain>) -> Result<Response<Outer>, Status>;
}

fn main() {
    let _ = svc_descriptor::file_descriptor_set();
}
