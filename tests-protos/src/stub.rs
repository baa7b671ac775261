//! A bodiless copy of the `rpc_core::codegen` contract: the same names,
//! generics and bounds, so that generated code can be type-checked before
//! (and independently of) the real runtime. Nothing here runs over a network.
#![allow(missing_docs, clippy::all, unused_variables)]

pub mod codegen {
    use std::marker::PhantomData;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub use ::core::future::Future;
    pub use ::futures_core::Stream;
    pub use ::prost;
    pub use ::std::sync::Arc;

    pub type Error = Box<dyn std::error::Error + Send + Sync>;

    #[derive(Debug, Clone)]
    pub struct Channel(());

    #[derive(Debug)]
    pub struct Endpoint(());

    impl Endpoint {
        pub async fn connect(self) -> Result<Channel, Error> {
            Ok(Channel(()))
        }
    }

    impl TryFrom<&'static str> for Endpoint {
        type Error = Error;
        fn try_from(_: &'static str) -> Result<Self, Error> {
            Ok(Endpoint(()))
        }
    }

    #[derive(Debug)]
    pub struct Status(());

    impl Status {
        pub fn unimplemented() -> Self {
            Status(())
        }
    }

    #[derive(Debug)]
    pub struct Request<T>(pub T);

    #[derive(Debug)]
    pub struct Response<T>(pub T);

    pub struct Streaming<T>(PhantomData<fn() -> T>);

    impl<T> Stream for Streaming<T> {
        type Item = Result<T, Status>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(None)
        }
    }

    pub trait IntoRequest<T> {
        fn into_request(self) -> Request<T>;
    }
    impl<T> IntoRequest<T> for T {
        fn into_request(self) -> Request<T> {
            Request(self)
        }
    }
    impl<T> IntoRequest<T> for Request<T> {
        fn into_request(self) -> Request<T> {
            self
        }
    }

    pub trait IntoStreamingRequest {
        type Stream: Stream<Item = Self::Message> + Send + 'static;
        type Message;
        fn into_streaming_request(self) -> Request<Self::Stream>;
    }
    impl<S> IntoStreamingRequest for S
    where
        S: Stream + Send + 'static,
    {
        type Stream = S;
        type Message = S::Item;
        fn into_streaming_request(self) -> Request<S> {
            Request(self)
        }
    }

    /// `ProstCodec<Encode, Decode>`.
    pub struct ProstCodec<E, D>(PhantomData<fn(E) -> D>);
    impl<E, D> Default for ProstCodec<E, D> {
        fn default() -> Self {
            ProstCodec(PhantomData)
        }
    }

    pub trait NamedService {
        const NAME: &'static str;
    }

    pub struct ServerCall(());

    pub type CallFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

    pub trait Service: Send + Sync + 'static {
        fn call(&self, method: &str, call: ServerCall) -> CallFuture;
    }

    fn msg<M: prost::Message + Default + Send + 'static>() {}

    impl Channel {
        pub async fn unary<Req, Resp>(
            &self,
            path: &str,
            request: Request<Req>,
            codec: ProstCodec<Req, Resp>,
        ) -> Result<Response<Resp>, Status>
        where
            Req: prost::Message + Default + Send + 'static,
            Resp: prost::Message + Default + Send + 'static,
        {
            Err(Status(()))
        }

        pub async fn server_streaming<Req, Resp>(
            &self,
            path: &str,
            request: Request<Req>,
            codec: ProstCodec<Req, Resp>,
        ) -> Result<Response<Streaming<Resp>>, Status>
        where
            Req: prost::Message + Default + Send + 'static,
            Resp: prost::Message + Default + Send + 'static,
        {
            Err(Status(()))
        }

        pub async fn client_streaming<S, Req, Resp>(
            &self,
            path: &str,
            request: Request<S>,
            codec: ProstCodec<Req, Resp>,
        ) -> Result<Response<Resp>, Status>
        where
            S: Stream<Item = Req> + Send + 'static,
            Req: prost::Message + Default + Send + 'static,
            Resp: prost::Message + Default + Send + 'static,
        {
            Err(Status(()))
        }

        pub async fn streaming<S, Req, Resp>(
            &self,
            path: &str,
            request: Request<S>,
            codec: ProstCodec<Req, Resp>,
        ) -> Result<Response<Streaming<Resp>>, Status>
        where
            S: Stream<Item = Req> + Send + 'static,
            Req: prost::Message + Default + Send + 'static,
            Resp: prost::Message + Default + Send + 'static,
        {
            Err(Status(()))
        }
    }

    pub fn unary<Req, Resp, F, Fut>(
        call: ServerCall,
        codec: ProstCodec<Resp, Req>,
        f: F,
    ) -> CallFuture
    where
        Req: prost::Message + Default + Send + 'static,
        Resp: prost::Message + Default + Send + 'static,
        F: FnOnce(Request<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
    {
        Box::pin(async move {
            let _ = f(Request(Req::default())).await;
        })
    }

    pub fn server_streaming<Req, Resp, S, F, Fut>(
        call: ServerCall,
        codec: ProstCodec<Resp, Req>,
        f: F,
    ) -> CallFuture
    where
        Req: prost::Message + Default + Send + 'static,
        Resp: prost::Message + Default + Send + 'static,
        S: Stream<Item = Result<Resp, Status>> + Send + 'static,
        F: FnOnce(Request<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<S>, Status>> + Send + 'static,
    {
        Box::pin(async move {
            let _ = f(Request(Req::default())).await;
        })
    }

    pub fn client_streaming<Req, Resp, F, Fut>(
        call: ServerCall,
        codec: ProstCodec<Resp, Req>,
        f: F,
    ) -> CallFuture
    where
        Req: prost::Message + Default + Send + 'static,
        Resp: prost::Message + Default + Send + 'static,
        F: FnOnce(Request<Streaming<Req>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
    {
        msg::<Req>();
        Box::pin(async move {
            let _ = f(Request(Streaming(PhantomData))).await;
        })
    }

    pub fn streaming<Req, Resp, S, F, Fut>(
        call: ServerCall,
        codec: ProstCodec<Resp, Req>,
        f: F,
    ) -> CallFuture
    where
        Req: prost::Message + Default + Send + 'static,
        Resp: prost::Message + Default + Send + 'static,
        S: Stream<Item = Result<Resp, Status>> + Send + 'static,
        F: FnOnce(Request<Streaming<Req>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<S>, Status>> + Send + 'static,
    {
        Box::pin(async move {
            let _ = f(Request(Streaming(PhantomData))).await;
        })
    }

    pub fn unimplemented(call: ServerCall) -> CallFuture {
        Box::pin(async {})
    }

    /// Test helper: a `ServerCall` to feed `Service::call` with.
    pub fn test_call() -> ServerCall {
        ServerCall(())
    }
}
