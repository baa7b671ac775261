use rpc_core::{Request, Response, Status};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {}

#[rpc_macros::service]
pub trait Svc {
    async fn none(&self) -> Result<Response<Msg>, Status>;
    async fn two(&self, a: Request<Msg>, b: Request<Msg>) -> Result<Response<Msg>, Status>;
}

fn main() {}
