//! `proto/game.proto` uses qrpc's method options (`(qrpc.datagrams)`, `(qrpc.priority)`)
//! from `qrpc/options.proto`, which rpc-codegen provides: it compiles, and its generated
//! client and server give the method's calls datagrams on both sides, over the in-memory
//! transport.
#![deny(warnings)]

use futures_util::{stream, Stream};
use rpc_core::transport::mem;
use rpc_core::{Endpoint, Request, Response, Server, Status, Streaming};
use std::pin::Pin;
use tests_protos::own::game::game_client::GameClient;
use tests_protos::own::game::game_server::{Game, GameServer};
use tests_protos::own::game::Event;

struct Echo;

impl Game for Echo {
    type PlayStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send>>;

    async fn play(
        &self,
        request: Request<Streaming<Event>>,
    ) -> Result<Response<Self::PlayStream>, Status> {
        let datagrams = request
            .datagrams()
            .ok_or_else(|| Status::internal("none"))?;
        tokio::spawn(async move {
            while let Some(d) = datagrams.recv().await {
                let _ = datagrams.send(d);
            }
        });
        // One event, then the call stays open until the client ends it.
        let first = stream::once(async { Ok(Event::default()) });
        Ok(Response::new(Box::pin(futures_util::StreamExt::chain(
            first,
            stream::pending(),
        ))))
    }
}

#[tokio::test]
async fn datagram_options_from_the_proto_reach_both_sides() {
    let (connector, listener) = mem::listener();
    let server = Server::builder()
        .add_service(GameServer::new(Echo))
        .listen(listener);
    tokio::spawn(server.serve());
    let channel = Endpoint::from_connector(connector).connect().await.unwrap();
    let client = GameClient::new(channel);
    let response = client.play(stream::pending::<Event>()).await.unwrap();
    let datagrams = response.datagrams().expect("the method takes datagrams");
    datagrams.send(&b"ping"[..]).unwrap();
    assert_eq!(datagrams.recv().await.unwrap(), &b"ping"[..]);
}
