use rpc_core::{Request, Response, Status};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {}

#[rpc_macros::service]
pub trait Svc {
    async fn no_self(request: Request<Msg>) -> Result<Response<Msg>, Status>;
    async fn by_value(self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
    async fn by_mut(&mut self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
}

fn main() {}
