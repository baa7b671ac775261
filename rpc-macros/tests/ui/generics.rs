use rpc_core::{Request, Response, Status};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {}

#[rpc_macros::service]
pub trait Generic<T> {
    async fn call(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
}

#[rpc_macros::service]
pub trait GenericMethod {
    async fn call<M>(&self, request: Request<M>) -> Result<Response<Msg>, Status>;
    async fn bounded(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>
    where
        Self: Sized;
}

#[rpc_macros::service]
pub trait Super: Clone {
    async fn call(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
}

fn main() {}
