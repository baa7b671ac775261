use rpc_core::{Request, Response, Status};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {}

#[rpc_macros::service]
pub trait Svc {
    async fn connect(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
    async fn say_hello(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
    #[rpc(name = "SayHello")]
    async fn greet(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
}

fn main() {}
