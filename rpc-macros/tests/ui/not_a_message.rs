use rpc_core::{Request, Response, Status};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {}

pub struct NotAMessage;

#[rpc_macros::service]
pub trait Svc {
    async fn call(&self, request: Request<NotAMessage>) -> Result<Response<Msg>, Status>;
}

fn main() {}
