//! The four call kinds end to end over QUIC on 127.0.0.1, through services defined with
//! `#[service]`; plus routes, names and options.

use futures_util::{stream, Stream, StreamExt};
use rpc_core::codec::ProstCodec;
use rpc_core::server::NamedService;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Channel, Code, Endpoint, Request, Response, Server, Status, Streaming};
use std::pin::Pin;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Note {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(uint32, tag = "2")]
    pub n: u32,
}

type NoteStream = Pin<Box<dyn Stream<Item = Result<Note, Status>> + Send>>;

/// A service with one RPC of each kind.
#[rpc_macros::service(package = "test.macros", name = "Notes")]
pub trait NoteService {
    /// Echoes the note, upper-cased.
    async fn shout(&self, request: Request<Note>) -> Result<Response<Note>, Status>;

    /// `n` copies of the note.
    async fn repeat(
        &self,
        request: Request<Note>,
    ) -> Result<Response<impl Stream<Item = Result<Note, Status>> + Send + 'static>, Status>;

    /// Joins the notes' texts.
    async fn join(&self, request: Request<Streaming<Note>>) -> Result<Response<Note>, Status>;

    /// Answers each note with its length.
    #[rpc(name = "Measure", idempotent, priority = 3)]
    async fn lengths(
        &self,
        request: Request<Streaming<Note>>,
    ) -> Result<Response<impl Stream<Item = Result<Note, Status>>>, Status>;

    /// Fails the way the request says.
    #[deprecated]
    async fn fail(&self, request: Request<Note>) -> Result<Response<()>, Status>;
}

struct Notes;

impl NoteService for Notes {
    async fn shout(&self, request: Request<Note>) -> Result<Response<Note>, Status> {
        let note = request.into_inner();
        Ok(Response::new(Note {
            text: note.text.to_uppercase(),
            n: note.n,
        }))
    }

    type RepeatStream = NoteStream;
    async fn repeat(&self, request: Request<Note>) -> Result<Response<NoteStream>, Status> {
        let note = request.into_inner();
        let notes = (0..note.n).map(move |n| {
            Ok(Note {
                text: note.text.clone(),
                n,
            })
        });
        Ok(Response::new(stream::iter(notes).boxed()))
    }

    async fn join(&self, request: Request<Streaming<Note>>) -> Result<Response<Note>, Status> {
        let mut notes = request.into_inner();
        let mut joined = Note::default();
        while let Some(note) = notes.message().await? {
            joined.text.push_str(&note.text);
            joined.n += 1;
        }
        Ok(Response::new(joined))
    }

    type LengthsStream = NoteStream;
    async fn lengths(
        &self,
        request: Request<Streaming<Note>>,
    ) -> Result<Response<NoteStream>, Status> {
        let out = request.into_inner().map(|note| {
            let note = note?;
            Ok(Note {
                n: note.text.len() as u32,
                text: note.text,
            })
        });
        Ok(Response::new(out.boxed()))
    }

    async fn fail(&self, request: Request<Note>) -> Result<Response<()>, Status> {
        Err(Status::new(
            Code::from_u32(request.into_inner().n),
            "as asked",
        ))
    }
}

/// No package, unary only, messages from the prost prelude.
#[rpc_macros::service]
trait Bare {
    async fn length(&self, request: Request<String>) -> Result<Response<u64>, Status>;
    async fn nothing(&self, request: Request<()>) -> Result<Response<Vec<u8>>, Status>;
}

struct BareImpl;

impl Bare for BareImpl {
    async fn length(&self, request: Request<String>) -> Result<Response<u64>, Status> {
        Ok(Response::new(request.into_inner().len() as u64))
    }
    async fn nothing(&self, _request: Request<()>) -> Result<Response<Vec<u8>>, Status> {
        Ok(Response::new(vec![1, 2, 3]))
    }
}

struct Running {
    channel: Channel,
    handle: rpc_core::server::ServerHandle,
    serving: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.channel.close();
        self.handle.shutdown();
        self.serving.await.unwrap();
    }
}

async fn start() -> Running {
    let cert = SelfSigned::generate(&["localhost"]).unwrap();
    let server = Server::builder()
        .tls_config(cert.server_config().unwrap())
        .add_service(note_service_server::NoteServiceServer::new(Notes))
        .add_service(bare_server::BareServer::new(BareImpl))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());
    let channel = Endpoint::new(format!("localhost:{}", addr.port()))
        .unwrap()
        .tls_config(cert.client_config())
        .connect()
        .await
        .unwrap();
    Running {
        channel,
        handle,
        serving,
    }
}

fn note(text: &str, n: u32) -> Note {
    Note {
        text: text.into(),
        n,
    }
}

#[tokio::test]
async fn four_call_kinds() {
    let running = start().await;
    let client = note_service_client::NoteServiceClient::new(running.channel.clone());

    let reply = client.shout(note("hi", 7)).await.unwrap().into_inner();
    assert_eq!(reply, note("HI", 7));

    let notes: Vec<Note> = client
        .repeat(note("x", 3))
        .await
        .unwrap()
        .into_inner()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(notes, [note("x", 0), note("x", 1), note("x", 2)]);

    let joined = client
        .join(stream::iter([note("a", 0), note("bc", 0), note("d", 0)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(joined, note("abcd", 3));

    let lengths: Vec<u32> = client
        .lengths(stream::iter([note("a", 0), note("bcd", 0), note("", 0)]))
        .await
        .unwrap()
        .into_inner()
        .map(|n| n.unwrap().n)
        .collect()
        .await;
    assert_eq!(lengths, [1, 3, 0]);

    #[allow(deprecated)]
    let err = client
        .fail(note("", Code::NotFound as u32))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "as asked");

    running.stop().await;
}

#[tokio::test]
async fn routes_are_those_of_the_same_proto() {
    assert_eq!(
        <note_service_server::NoteServiceServer<Notes> as NamedService>::NAME,
        "test.macros.Notes"
    );
    assert_eq!(
        <bare_server::BareServer<BareImpl> as NamedService>::NAME,
        "Bare"
    );

    let running = start().await;
    let channel = &running.channel;
    // Method names: UpperCamelCase of the Rust name, or `#[rpc(name = ...)]`.
    let reply = channel
        .unary(
            "/test.macros.Notes/Shout",
            Request::new(note("abc", 1)),
            ProstCodec::<Note, Note>::default(),
        )
        .await
        .unwrap();
    assert_eq!(reply.into_inner(), note("ABC", 1));
    let lengths = channel
        .streaming(
            "/test.macros.Notes/Measure",
            Request::new(stream::iter([note("four", 0)])),
            ProstCodec::<Note, Note>::default(),
        )
        .await
        .unwrap()
        .into_inner()
        .map(|n| n.unwrap().n)
        .collect::<Vec<_>>()
        .await;
    assert_eq!(lengths, [4]);
    let err = channel
        .unary(
            "/test.macros.Notes/Lengths",
            Request::new(note("", 0)),
            ProstCodec::<Note, Note>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    // No package: `/Service/Method`; prost's own message impls for `String`, `u64`, `()`...
    let len = channel
        .unary(
            "/Bare/Length",
            Request::new("hello".to_string()),
            ProstCodec::<String, u64>::default(),
        )
        .await
        .unwrap();
    assert_eq!(len.into_inner(), 5);
    let client = bare_client::BareClient::new(channel.clone());
    assert_eq!(
        client
            .length("four".to_string())
            .await
            .unwrap()
            .into_inner(),
        4
    );
    assert_eq!(client.nothing(()).await.unwrap().into_inner(), [1, 2, 3]);

    running.stop().await;
}

mod nested {
    //! Message types named through paths relative to the trait's module.
    pub mod pb {
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Ping {
            #[prost(uint64, tag = "1")]
            pub id: u64,
        }
    }

    use rpc_core::{Request, Response, Status};

    #[rpc_macros::service(package = "nested", crate = "::rpc_core", client = false)]
    pub(crate) trait Pinger {
        async fn ping(
            &self,
            request: Request<pb::Ping>,
        ) -> Result<Response<self::pb::Ping>, Status>;
        async fn pong(
            &self,
            request: Request<crate::nested::pb::Ping>,
        ) -> Result<Response<super::Note>, Status>;
    }
}

#[test]
fn paths_and_options() {
    struct P;
    impl nested::Pinger for P {
        async fn ping(
            &self,
            request: Request<nested::pb::Ping>,
        ) -> Result<Response<nested::pb::Ping>, Status> {
            Ok(Response::new(request.into_inner()))
        }
        async fn pong(
            &self,
            _request: Request<nested::pb::Ping>,
        ) -> Result<Response<Note>, Status> {
            Ok(Response::new(Note::default()))
        }
    }
    assert_eq!(
        <nested::pinger_server::PingerServer<P> as NamedService>::NAME,
        "nested.Pinger"
    );
}
