//! Several clients in one bidirectional chat room, showing cancellation and shutdown.
//!
//! ```text
//! cargo run -p examples --bin chat
//! ```
//!
//! Alice and Bob join a room; Alice greets Bob; Bob leaves by dropping his call (the server
//! sees the cancellation and tells the room); then the server shuts down gracefully and
//! Alice's call ends with the status the shutdown gives it.

use futures_util::{stream, Stream, StreamExt};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Request, Response, Server, Status, Streaming};
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

pub mod chat {
    rpc_core::include_proto!("chat");
}

use chat::chat_client::ChatClient;
use chat::chat_server::{Chat, ChatServer};
use chat::{event::Kind, Event, Post, Said};

/// The room: every event goes to every member.
struct Room {
    events: broadcast::Sender<Event>,
}

fn event(kind: Kind) -> Event {
    Event { kind: Some(kind) }
}

impl Chat for Room {
    type JoinStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send>>;

    async fn join(
        &self,
        request: Request<Streaming<Post>>,
    ) -> Result<Response<Self::JoinStream>, Status> {
        let name = request
            .metadata()
            .get("x-chat-name")
            .ok_or_else(|| Status::invalid_argument("set your name in x-chat-name"))?
            .to_owned();
        let inbox = self.events.subscribe();
        let room = self.events.clone();
        let _ = room.send(event(Kind::Joined(name.clone())));
        let mut posts = request.into_inner();
        // The member's posts go to the room until their stream ends: finished, or cancelled
        // when the client drops the call (then `posts` yields a `Cancelled` error).
        tokio::spawn(async move {
            while let Some(Ok(post)) = posts.next().await {
                let said = Said {
                    from: name.clone(),
                    text: post.text,
                };
                let _ = room.send(event(Kind::Said(said)));
            }
            let _ = room.send(event(Kind::Left(name)));
        });
        let events = stream::unfold(inbox, |mut inbox| async move {
            loop {
                match inbox.recv().await {
                    Ok(e) => return Some((Ok(e), inbox)),
                    // A slow member misses events rather than slowing the room down.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Ok(Response::new(Box::pin(events)))
    }
}

/// A member: posts go in through `say`, events come out of `events`.
struct Member {
    name: &'static str,
    say: mpsc::Sender<Post>,
    events: Streaming<Event>,
}

impl Member {
    async fn join(client: &ChatClient, name: &'static str) -> Result<Member, Status> {
        let (say, posts) = mpsc::channel(16);
        let posts = stream::unfold(
            posts,
            |mut rx| async move { rx.recv().await.map(|p| (p, rx)) },
        );
        let mut request = Request::new(posts);
        request.metadata_mut().insert("x-chat-name", name).unwrap();
        let events = client.join(request).await?.into_inner();
        Ok(Member { name, say, events })
    }

    /// Reads events until `want` matches one; prints each.
    async fn wait_for(&mut self, want: impl Fn(&Kind) -> bool) -> Result<(), Status> {
        while let Some(e) = self.events.message().await? {
            let Some(kind) = e.kind else { continue };
            match &kind {
                Kind::Said(s) => println!("[{}] {}: {}", self.name, s.from, s.text),
                Kind::Joined(n) => println!("[{}] {n} joined", self.name),
                Kind::Left(n) => println!("[{}] {n} left", self.name),
            }
            if want(&kind) {
                return Ok(());
            }
        }
        Err(Status::internal("the room closed"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::generate(&["localhost"])?;
    let (events, _) = broadcast::channel(64);
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .shutdown_grace_period(Duration::from_millis(500))
        .add_service(ChatServer::new(Room { events }))
        .bind("127.0.0.1:0".parse()?)?;
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());

    let channel = Endpoint::new(format!("localhost:{}", addr.port()))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    let client = ChatClient::new(channel);

    let mut alice = Member::join(&client, "alice").await?;
    alice
        .wait_for(|k| matches!(k, Kind::Joined(n) if n == "alice"))
        .await?;
    let mut bob = Member::join(&client, "bob").await?;
    alice
        .wait_for(|k| matches!(k, Kind::Joined(n) if n == "bob"))
        .await?;

    alice
        .say
        .send(Post {
            text: "hi bob".into(),
        })
        .await?;
    bob.wait_for(|k| matches!(k, Kind::Said(s) if s.text == "hi bob"))
        .await?;

    // Bob leaves by dropping his call: the server sees the cancellation.
    drop(bob);
    alice
        .wait_for(|k| matches!(k, Kind::Left(n) if n == "bob"))
        .await?;

    // Graceful shutdown: the room's calls run until the grace period ends, then the server
    // closes the connection and Alice's call ends with Unavailable.
    println!("server: shutting down");
    handle.shutdown();
    match alice.wait_for(|_| false).await {
        Err(status) => println!(
            "[alice] call ended: {:?} {:?}",
            status.code(),
            status.message()
        ),
        Ok(()) => unreachable!("wait_for(|_| false) only returns errors"),
    }
    serving.await?;
    Ok(())
}
