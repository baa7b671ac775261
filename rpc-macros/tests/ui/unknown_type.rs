use rpc_core::{Request, Response, Status};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {}

#[rpc_macros::service]
pub trait Svc {
    async fn call(&self, request: Request<Msgg>) -> Result<Response<Msg>, Status>;
}

fn main() {}
