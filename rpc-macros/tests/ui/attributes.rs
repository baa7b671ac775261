use rpc_core::{Request, Response, Status};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {}

#[rpc_macros::service(package = "not a package")]
pub trait BadPackage {}

#[rpc_macros::service(name = "Bad-Name")]
pub trait BadName {}

#[rpc_macros::service(version = 2)]
pub trait UnknownArgument {}

#[rpc_macros::service]
#[must_use]
pub trait Svc {
    #[rpc(name = "")]
    async fn empty_name(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
    #[rpc(retries = 3)]
    async fn unknown(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
    #[rpc(idempotent, no_side_effects)]
    async fn both(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
    #[rpc(datagrams)]
    async fn single_response(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
    #[must_use]
    async fn other(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
}

fn main() {}
