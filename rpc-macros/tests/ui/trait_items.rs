use rpc_core::{Request, Response, Status};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {}

#[rpc_macros::service]
pub trait Svc {
    type Item;
    const N: usize;
    async fn with_body(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        Ok(Response::new(request.into_inner()))
    }
    unsafe fn not_safe(&self, request: Request<Msg>) -> Result<Response<Msg>, Status>;
}

#[rpc_macros::service]
pub struct NotATrait;

fn main() {}
