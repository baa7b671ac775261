//! The path a layer (the policy) sees is exactly the method the router runs: every path the
//! server would not dispatch as is, byte for byte, is refused before any layer runs. Raw
//! request heads over the in-memory transport, so any bytes can be sent (PROTOCOL.md §5.1).

mod common;

use bytes::{BufMut, BytesMut};
use common::notes_server::NotesServer;
use common::MyNotes;
use futures_util::future::poll_fn;
use proptest::prelude::*;
use rpc_auth::{Policy, PolicyLayer, Rule};
use rpc_core::server::{CallOutcome, ServerCall};
use rpc_core::transport::mem::{self, MemConnection};
use rpc_core::transport::{Connection, Listener, RecvStream, SendStream};
use rpc_core::wire::{encode, ClientEvent, ClientRecv, FrameLimits, RequestHead};
use rpc_core::{Code, Server};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// What the recording layer saw: (service, method, path) per call.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

#[derive(Clone)]
struct Record(Seen);

impl<S> tower::Layer<S> for Record {
    type Service = Recorder<S>;
    fn layer(&self, inner: S) -> Recorder<S> {
        Recorder(inner, self.0.clone())
    }
}

struct Recorder<S>(S, Seen);

impl<S: tower::Service<ServerCall, Response = CallOutcome>> tower::Service<ServerCall>
    for Recorder<S>
{
    type Response = CallOutcome;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }
    fn call(&mut self, call: ServerCall) -> S::Future {
        let seen = (
            call.service_name().into(),
            call.method().into(),
            call.path().into(),
        );
        self.1.lock().unwrap().push(seen);
        self.0.call(call)
    }
}

/// Yields one connection, then waits forever.
struct Once(Option<MemConnection>);

impl Listener for Once {
    type Connection = MemConnection;
    async fn accept(&mut self) -> Option<MemConnection> {
        match self.0.take() {
            Some(c) => Some(c),
            None => std::future::pending().await,
        }
    }
}

struct Fixture {
    client: MemConnection,
    seen: Seen,
    notes: MyNotes,
}

/// A server with the recording layer and a policy allowing only `demo.Notes/Read`.
fn fixture() -> Fixture {
    let (client, server_end) = mem::pair();
    let seen = Seen::default();
    let notes = MyNotes::default();
    let policy = Policy::new([Rule::allow("read").service("demo.Notes").method("Read")]).unwrap();
    let server = Server::builder()
        .layer(Record(seen.clone()))
        .layer(PolicyLayer::new(policy))
        .add_service(NotesServer::new(notes.clone()))
        .listen(Once(Some(server_end)));
    tokio::spawn(server.serve());
    Fixture {
        client,
        seen,
        notes,
    }
}

/// A request head whose path is any bytes (a protobuf `string` field 1, as §5.1 lays out).
fn raw_head(path: &[u8]) -> BytesMut {
    let mut reference = BytesMut::new();
    let head = RequestHead {
        path: "x".into(),
        timeout: None,
        flags: 0,
        metadata: Default::default(),
    };
    encode::request_head(&head, &mut reference);
    // The reference frame: type, flags, 4-byte length, then `0a 01 'x'` (the path field).
    assert_eq!(&reference[6..], b"\x0a\x01x", "frame layout as expected");
    let mut payload = BytesMut::new();
    payload.put_u8(0x0a);
    let mut n = path.len();
    while n >= 0x80 {
        payload.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    payload.put_u8(n as u8);
    payload.put_slice(path);
    let mut frame = BytesMut::new();
    frame.put_slice(&reference[..2]);
    frame.put_u32(payload.len() as u32);
    frame.put_slice(&payload);
    frame
}

/// Sends one call with `path` and an empty message; the status it ends with.
async fn call(client: &MemConnection, path: &[u8]) -> Code {
    let (mut send, mut recv) = client.open_bi().await.unwrap();
    let mut data = raw_head(path);
    encode::raw_message(&[], &mut data);
    let mut data = data.freeze();
    while !data.is_empty() {
        poll_fn(|cx| send.poll_write(cx, &mut data)).await.unwrap();
    }
    send.finish();
    let mut rx = ClientRecv::new(FrameLimits {
        max_message: rpc_core::DEFAULT_MAX_MESSAGE_SIZE,
        max_headers: rpc_core::DEFAULT_MAX_HEADER_LIST_SIZE,
    });
    loop {
        match poll_fn(|cx| recv.poll_read(cx)).await {
            Ok(Some(chunk)) => rx.handle_data(chunk),
            Ok(None) => rx.handle_fin(),
            Err(_) => return Code::Cancelled, // reset: no status
        }
        while let Some(event) = rx.poll_event().unwrap() {
            if let ClientEvent::Trailers(t) = event {
                return t.map_or_else(|s| s.code(), |_| Code::Ok);
            }
        }
    }
}

/// Sends `path`; checks that the layers saw nothing, or exactly what the router ran.
async fn check(f: &Fixture, path: &[u8]) -> Code {
    let code = call(&f.client, path).await;
    let seen = std::mem::take(&mut *f.seen.lock().unwrap());
    let ran = f.notes.take();
    match seen.as_slice() {
        [] => assert!(ran.is_empty(), "{path:?}: a handler ran without the layers"),
        [(service, method, seen_path)] => {
            assert_eq!(seen_path.as_bytes(), path, "the layer saw the path as sent");
            assert_eq!(service, "demo.Notes", "{path:?}");
            assert!(method == "Read" || method == "Delete", "{path:?}: {method}");
            // The policy allows Read only: the router ran it, or nothing.
            let expected: &[&str] = if method == "Read" { &["Read"] } else { &[] };
            assert_eq!(ran, expected, "{path:?}");
        }
        more => panic!("{path:?}: seen {more:?}"),
    }
    code
}

#[tokio::test]
async fn every_trick_is_refused_before_the_layers() {
    let f = fixture();
    assert_eq!(check(&f, b"/demo.Notes/Read").await, Code::Ok);
    assert_eq!(
        check(&f, b"/demo.Notes/Delete").await,
        Code::Unauthenticated
    );
    let overlong = format!("/demo.Notes/{}", "R".repeat(20_000));
    let tricks: &[&[u8]] = &[
        b"demo.Notes/Read",
        b"//demo.Notes/Read",
        b"/demo.Notes/Read/",
        b"/demo.Notes//Read",
        b"/demo.Notes/../Read",
        b"/demo.Notes/./Read",
        b"/demo.Notes/%52ead",
        b"/demo%2ENotes/Read",
        b"/demo.Notes%2FRead",
        b"/DEMO.notes/read",
        b"/demo.Notes/read",
        b"/demo.notes/Read",
        b"/demo.Notes/Read ",
        b" /demo.Notes/Read",
        b"/demo.Notes/Read\0",
        b"/demo.Notes/Re\nad",
        b"/demo.Notes/Read\t",
        b"/demo.Notes\\Read",
        b"/demo.Notes/R\xc3\xa9ad",
        b"/",
        b"",
        b"/demo.Notes/",
        b"/demo.Notes",
    ];
    for path in tricks {
        let code = check(&f, path).await;
        assert_eq!(
            code,
            Code::Unimplemented,
            "{:?}",
            String::from_utf8_lossy(path)
        );
    }
    // Longer than the header list limit (§10): refused at decode.
    assert_eq!(
        check(&f, overlong.as_bytes()).await,
        Code::ResourceExhausted
    );
    // Not UTF-8: the head is malformed (§5), refused at decode.
    let code = check(&f, b"/demo.Notes/Re\xffad").await;
    assert_eq!(code, Code::Internal);
}

/// Paths near the real ones (edits of them) and random strings and bytes.
fn hostile_path() -> impl Strategy<Value = Vec<u8>> {
    let near = (
        prop::sample::select(vec!["/demo.Notes/Read", "/demo.Notes/Delete"]),
        any::<prop::sample::Index>(),
        prop::sample::select(vec![
            "", "/", "//", ".", "..", "%", "%2F", " ", "\0", "A", "a", "\u{e9}",
        ]),
        0usize..3,
    )
        .prop_map(|(base, at, insert, cut)| {
            let mut bytes = base.as_bytes().to_vec();
            let at = at.index(bytes.len() + 1);
            bytes.splice(at..at, insert.bytes());
            bytes.truncate(bytes.len().saturating_sub(cut));
            bytes
        });
    let case = prop::sample::select(vec!["/demo.Notes/Read", "/demo.Notes/Delete"]).prop_flat_map(
        |base| {
            prop::collection::vec(any::<bool>(), base.len()).prop_map(move |flip| {
                base.bytes()
                    .zip(flip)
                    .map(|(b, f)| if f { b.to_ascii_uppercase() } else { b })
                    .collect()
            })
        },
    );
    prop_oneof![
        near,
        case,
        "/[a-zA-Z./%]{0,12}/[a-zA-Z./% ]{0,8}".prop_map(String::into_bytes),
        any::<String>().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn policy_and_router_never_disagree(paths in prop::collection::vec(hostile_path(), 1..8)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let f = fixture();
            for path in &paths {
                let code = check(&f, path).await;
                if path.as_slice() == b"/demo.Notes/Read" {
                    assert_eq!(code, Code::Ok);
                } else if path.as_slice() != b"/demo.Notes/Delete" {
                    let refused = matches!(code, Code::Unimplemented | Code::Internal);
                    assert!(refused, "{path:?}: {code:?}");
                }
            }
        });
    }
}
