//! The two front ends of the generator interoperate: a server defined with `#[service]` answers
//! a client generated from `proto/macro_echo.proto`, and the reverse, for all four call kinds,
//! over QUIC on 127.0.0.1. Each side has its own message types (prost-build's and hand-written
//! ones), so this checks the routes and the encodings, not just shared Rust types. The
//! descriptors of the two front ends (protox's for the `.proto`, those `#[service]` and
//! `#[derive(Descriptor)]` build) describe the same service, messages and comments.

use futures_util::{stream, Stream, StreamExt};
use rpc_core::server::{NamedService, Service};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Channel, Endpoint, Request, Response, Server, Status, Streaming};
use std::pin::Pin;

/// The `.proto` front end.
mod from_proto {
    rpc_core::include_proto!("macroecho");
}

/// The macro front end: the same service, written in Rust.
mod from_macro {
    use futures_util::Stream;
    use rpc_core::{Request, Response, Status, Streaming};

    #[derive(Clone, PartialEq, prost::Message, rpc_core::Descriptor)]
    pub struct Note {
        #[prost(string, tag = "1")]
        pub text: String,
        #[prost(uint32, tag = "2")]
        pub count: u32,
        #[prost(sint64, repeated, tag = "3")]
        pub tags: Vec<i64>,
        #[prost(bytes = "vec", tag = "4")]
        pub blob: Vec<u8>,
        #[prost(enumeration = "Kind", tag = "5")]
        pub kind: i32,
    }

    #[derive(
        Clone,
        Copy,
        Debug,
        PartialEq,
        Eq,
        Hash,
        PartialOrd,
        Ord,
        prost::Enumeration,
        rpc_core::Descriptor,
    )]
    #[repr(i32)]
    pub enum Kind {
        Unspecified = 0,
        Loud = 1,
    }

    /// Echoes notes back, in every call kind.
    #[rpc_core::service(package = "macroecho", name = "Echo")]
    pub trait Echo {
        /// One note back, its text upper-cased.
        async fn unary_echo(&self, request: Request<Note>) -> Result<Response<Note>, Status>;

        /// `count` copies of the note.
        async fn server_streaming_echo(
            &self,
            request: Request<Note>,
        ) -> Result<Response<impl Stream<Item = Result<Note, Status>>>, Status>;

        /// All the notes' texts joined, with their tags concatenated.
        async fn client_streaming_echo(
            &self,
            request: Request<Streaming<Note>>,
        ) -> Result<Response<Note>, Status>;

        /// Each note back as it arrives.
        async fn bidirectional_streaming_echo(
            &self,
            request: Request<Streaming<Note>>,
        ) -> Result<Response<impl Stream<Item = Result<Note, Status>>>, Status>;
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Implements one front end's server trait; the two implementations are the same code over
/// the two message types.
macro_rules! echo_impl {
    ($server:ident, $trait:path, $note:ty, $loud:expr) => {
        struct $server;

        impl $trait for $server {
            async fn unary_echo(&self, request: Request<$note>) -> Result<Response<$note>, Status> {
                let mut note = request.into_inner();
                note.text = note.text.to_uppercase();
                note.kind = $loud as i32;
                Ok(Response::new(note))
            }

            type ServerStreamingEchoStream = BoxStream<$note>;
            async fn server_streaming_echo(
                &self,
                request: Request<$note>,
            ) -> Result<Response<Self::ServerStreamingEchoStream>, Status> {
                let note = request.into_inner();
                let copies = (0..note.count).map(move |count| {
                    let mut copy = note.clone();
                    copy.count = count;
                    Ok(copy)
                });
                Ok(Response::new(stream::iter(copies).boxed()))
            }

            async fn client_streaming_echo(
                &self,
                request: Request<Streaming<$note>>,
            ) -> Result<Response<$note>, Status> {
                let mut notes = request.into_inner();
                let mut all = <$note>::default();
                while let Some(note) = notes.message().await? {
                    all.text.push_str(&note.text);
                    all.tags.extend(note.tags);
                    all.blob.extend(note.blob);
                    all.count += 1;
                }
                Ok(Response::new(all))
            }

            type BidirectionalStreamingEchoStream = BoxStream<$note>;
            async fn bidirectional_streaming_echo(
                &self,
                request: Request<Streaming<$note>>,
            ) -> Result<Response<Self::BidirectionalStreamingEchoStream>, Status> {
                Ok(Response::new(request.into_inner().boxed()))
            }
        }
    };
}

echo_impl!(
    MacroEcho,
    from_macro::Echo,
    from_macro::Note,
    from_macro::Kind::Loud
);
echo_impl!(
    ProtoEcho,
    from_proto::echo_server::Echo,
    from_proto::Note,
    from_proto::Kind::Loud
);

struct Running {
    channel: Channel,
    handle: rpc_core::server::ServerHandle,
    serving: tokio::task::JoinHandle<()>,
}

async fn serve(service: impl Service + NamedService) -> Running {
    let cert = SelfSigned::generate(&["localhost"]).unwrap();
    let server = Server::builder()
        .tls_config(cert.server_config().unwrap())
        .add_service(service)
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

impl Running {
    async fn stop(self) {
        self.channel.close();
        self.handle.shutdown();
        self.serving.await.unwrap();
    }
}

/// Runs the four calls through one front end's client; `$note` builds that side's message.
macro_rules! four_calls {
    ($client:expr, $note:ident, $loud:expr) => {{
        let client = $client;
        let reply = client
            .unary_echo($note("hi", 2, &[-1, 5], b"\x00\xff"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.text, "HI");
        assert_eq!(reply.count, 2);
        assert_eq!(reply.tags, [-1, 5]);
        assert_eq!(reply.blob, b"\x00\xff");
        assert_eq!(reply.kind, $loud as i32);

        let copies: Vec<_> = client
            .server_streaming_echo($note("x", 3, &[7], b""))
            .await
            .unwrap()
            .into_inner()
            .map(|n| n.unwrap())
            .collect()
            .await;
        let counts: Vec<u32> = copies.iter().map(|n| n.count).collect();
        assert_eq!(counts, [0, 1, 2]);
        assert!(copies.iter().all(|n| n.text == "x" && n.tags == [7]));

        let all = client
            .client_streaming_echo(stream::iter([
                $note("a", 0, &[1], b"1"),
                $note("b", 0, &[], b""),
                $note("c", 0, &[i64::MIN, i64::MAX], b"3"),
            ]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(all.text, "abc");
        assert_eq!(all.count, 3);
        assert_eq!(all.tags, [1, i64::MIN, i64::MAX]);
        assert_eq!(all.blob, b"13");

        let sent = [$note("p", 1, &[1], b"a"), $note("q", 2, &[2], b"b")];
        let echoed: Vec<_> = client
            .bidirectional_streaming_echo(stream::iter(sent.clone()))
            .await
            .unwrap()
            .into_inner()
            .map(|n| n.unwrap())
            .collect()
            .await;
        assert_eq!(echoed, sent);
    }};
}

fn proto_note(text: &str, count: u32, tags: &[i64], blob: &[u8]) -> from_proto::Note {
    from_proto::Note {
        text: text.into(),
        count,
        tags: tags.to_vec(),
        blob: blob.to_vec(),
        kind: 0,
    }
}

fn macro_note(text: &str, count: u32, tags: &[i64], blob: &[u8]) -> from_macro::Note {
    from_macro::Note {
        text: text.into(),
        count,
        tags: tags.to_vec(),
        blob: blob.to_vec(),
        kind: 0,
    }
}

#[test]
fn both_front_ends_serve_the_same_service() {
    assert_eq!(
        <from_macro::echo_server::EchoServer<MacroEcho> as NamedService>::NAME,
        <from_proto::echo_server::EchoServer<ProtoEcho> as NamedService>::NAME,
    );
}

#[tokio::test]
async fn proto_client_calls_macro_server() {
    let running = serve(from_macro::echo_server::EchoServer::new(MacroEcho)).await;
    four_calls!(
        from_proto::echo_client::EchoClient::new(running.channel.clone()),
        proto_note,
        from_proto::Kind::Loud
    );
    running.stop().await;
}

#[tokio::test]
async fn macro_client_calls_proto_server() {
    let running = serve(from_proto::echo_server::EchoServer::new(ProtoEcho)).await;
    four_calls!(
        from_macro::echo_client::EchoClient::new(running.channel.clone()),
        macro_note,
        from_macro::Kind::Loud
    );
    running.stop().await;
}

/// protox's descriptors of `proto/macro_echo.proto` (written by `build.rs`).
const PROTO_DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/macroecho.bin"));

/// The leading comment of the element at `path` of its file, if any.
fn leading_comment(file: &prost_reflect::FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    location.leading_comments.clone()
}

#[test]
fn macro_descriptors_match_the_proto() {
    use prost_reflect::DescriptorPool;

    let built = from_macro::echo_descriptor::file_descriptor_set();
    // Each is a consistent whole (every import in the set, every name resolved).
    let from_macro = DescriptorPool::decode(built).unwrap();
    let from_proto = DescriptorPool::decode(PROTO_DESCRIPTORS).unwrap();

    let service = from_macro.get_service_by_name("macroecho.Echo").unwrap();
    let twin = from_proto.get_service_by_name("macroecho.Echo").unwrap();
    assert_eq!(
        service.service_descriptor_proto(),
        twin.service_descriptor_proto()
    );
    for (method, twin) in service.methods().zip(twin.methods()) {
        let comment = leading_comment(&method.parent_file(), method.path());
        assert_eq!(comment, leading_comment(&twin.parent_file(), twin.path()));
        assert!(comment.is_some(), "{}", method.full_name());
    }
    let comment = leading_comment(&service.parent_file(), service.path());
    assert_eq!(
        comment.as_deref(),
        Some(" Echoes notes back, in every call kind.\n")
    );

    // Field by field: names, numbers, types, labels, JSON names, packing, enum values.
    let note = from_macro.get_message_by_name("macroecho.Note").unwrap();
    let twin = from_proto.get_message_by_name("macroecho.Note").unwrap();
    assert_eq!(note.descriptor_proto(), twin.descriptor_proto());
    let kind = from_macro.get_enum_by_name("macroecho.Kind").unwrap();
    let twin = from_proto.get_enum_by_name("macroecho.Kind").unwrap();
    assert_eq!(kind.enum_descriptor_proto(), twin.enum_descriptor_proto());

    // One file per declaration, named after it; the service's imports its messages'.
    let files: Vec<_> = from_macro.files().map(|f| f.name().to_owned()).collect();
    assert_eq!(
        files,
        [
            "macroecho/Kind.proto",
            "macroecho/Note.proto",
            "macroecho/Echo.proto"
        ]
    );
    assert_eq!(
        service.parent_file().file_descriptor_proto().dependency,
        ["macroecho/Note.proto"]
    );
}
