//! Datagrams beside a call (PROTOCOL.md §18): a game session whose reliable events travel on
//! the call's stream while player positions go as unreliable datagrams, since a position that
//! arrives late is useless (the next one replaces it).
//!
//! ```text
//! cargo run -p examples --bin datagrams
//! ```
//!
//! `proto/game.proto` marks the method with `option (qrpc.datagrams) = true;` from
//! `qrpc/options.proto`, which rpc-codegen provides without a copy. The client sends 100
//! positions as datagrams; the server answers every tenth with the world's view; then the
//! client ends the session over the stream and the server says how many positions it got.
//! Also shown: the size limit (an oversize datagram is refused, not cut) and a send after the
//! call has ended.

use futures_util::{stream, Stream, StreamExt};
use prost::Message;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Request, Response, Server, Status, Streaming};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub mod game {
    rpc_core::include_proto!("game");
}

use game::game_client::GameClient;
use game::game_server::{Game, GameServer};
use game::{Event, Position};

struct World;

impl Game for World {
    type PlayStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send>>;

    async fn play(
        &self,
        request: Request<Streaming<Event>>,
    ) -> Result<Response<Self::PlayStream>, Status> {
        // The method takes datagrams (`qrpc.datagrams`): the call has a handle.
        let datagrams = request
            .datagrams()
            .ok_or_else(|| Status::internal("Play takes datagrams"))?;
        let received = Arc::new(AtomicU32::new(0));
        let count = received.clone();
        // Positions in; every tenth answered with the world's view of the player, as a
        // datagram too. Ends with the call.
        tokio::spawn(async move {
            while let Some(payload) = datagrams.recv().await {
                let Ok(p) = Position::decode(payload) else {
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                if p.tick % 10 == 0 {
                    let seen = Position {
                        x: p.x,
                        y: -p.y,
                        ..p
                    };
                    // Unreliable by design: a failed send is a lost update, not an error.
                    let _ = datagrams.send(seen.encode_to_vec());
                }
            }
        });
        let welcome = Event {
            text: "welcome to the game".into(),
            positions_received: 0,
        };
        // Events are reliable: each is acknowledged with the tally so far.
        let acks = request.into_inner().map(move |event| {
            Ok(Event {
                text: format!("ack: {}", event?.text),
                positions_received: received.load(Ordering::Relaxed),
            })
        });
        Ok(Response::new(Box::pin(
            stream::once(async { Ok(welcome) }).chain(acks),
        )))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::generate(&["localhost"])?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .add_service(GameServer::new(World))
        .bind("127.0.0.1:0".parse()?)?;
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());

    let channel = Endpoint::new(format!("localhost:{}", addr.port()))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    let client = GameClient::new(channel.clone());

    let (events_tx, events_rx) = tokio::sync::mpsc::channel(4);
    let response = client
        .play(tokio_stream::wrappers::ReceiverStream::new(events_rx))
        .await?;
    let datagrams = response.datagrams().ok_or("Play takes datagrams")?;
    let mut events = response.into_inner();
    if let Some(welcome) = events.message().await? {
        println!("server: {}", welcome.text);
    }

    // The path decides the size: past it, a clear error, never a cut datagram.
    let max = datagrams
        .max_size()
        .ok_or("the server did not negotiate datagrams")?;
    println!("datagram payload limit: {max} bytes");
    if let Err(e) = datagrams.send(vec![0u8; max + 1]) {
        println!("oversize datagram refused: {e}");
    }

    // The world's answers, counted as they come, until the call ends.
    let updates = tokio::spawn({
        let datagrams = datagrams.clone();
        async move {
            let mut n = 0u32;
            while let Some(payload) = datagrams.recv().await {
                n += u32::from(Position::decode(payload).is_ok());
            }
            n
        }
    });

    for tick in 1..=100u32 {
        let at = Position {
            tick,
            x: tick as f32 * 0.5,
            y: 10.0,
        };
        datagrams.send(at.encode_to_vec())?;
        // A game sends at its tick rate; a burst would only overflow the buffers.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!("positions sent: 100");

    // The end of the session goes on the stream: it must arrive.
    events_tx
        .send(Event {
            text: "done".into(),
            positions_received: 0,
        })
        .await?;
    if let Some(ack) = events.message().await? {
        let got = ack.positions_received;
        println!(
            "server: {} (received {got} of 100 positions, {} lost or late)",
            ack.text,
            100 - got
        );
    }
    let stats = datagrams.stats();
    drop(events_tx);
    while events.message().await?.is_some() {}
    println!("client received {} world updates", updates.await?);
    println!(
        "client datagram stats: sent {}, received {}, dropped from a full queue {}",
        stats.sent, stats.received, stats.dropped
    );
    if let Some(conn) = channel.connection_stats() {
        println!(
            "connection: {} DATAGRAM frames sent, {} received, {} packets lost",
            conn.sent_datagram_frames, conn.received_datagram_frames, conn.lost_packets
        );
    }
    // The call is over: so are its datagrams.
    if let Err(e) = datagrams.send(vec![1]) {
        println!("send after the call: {e}");
    }

    handle.shutdown();
    serving.await?;
    Ok(())
}
