use futures_util::Stream;
use rpc_core::{Request, Response, Status, Streaming};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {}

#[rpc_macros::service]
pub trait Svc {
    async fn missing(&self, request: Request<Msg>);
    async fn bare(&self, request: Request<Msg>) -> Msg;
    async fn no_response(&self, request: Request<Msg>) -> Result<Msg, Status>;
    async fn wrong_error(&self, request: Request<Msg>) -> Result<Response<Msg>, String>;
    async fn streaming(&self, request: Request<Msg>) -> Result<Response<Streaming<Msg>>, Status>;
    async fn item(
        &self,
        request: Request<Msg>,
    ) -> Result<Response<impl Stream<Item = Msg>>, Status>;
    async fn not_stream(&self, request: Request<Msg>) -> Result<Response<impl Send>, Status>;
}

fn main() {}
