use rpc_core::{Request, Response, Status, Streaming};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {}

#[rpc_macros::service]
pub trait Svc {
    async fn bare(&self, request: Msg) -> Result<Response<Msg>, Status>;
    async fn reference(&self, request: Request<&'static Msg>) -> Result<Response<Msg>, Status>;
    async fn tuple(&self, request: Request<(Msg, Msg)>) -> Result<Response<Msg>, Status>;
    async fn generic(&self, request: Request<Option<Msg>>) -> Result<Response<Msg>, Status>;
    async fn streaming(&self, request: Streaming<Msg>) -> Result<Response<Msg>, Status>;
}

fn main() {}
