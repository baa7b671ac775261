//! Per-call receive state (PROTOCOL.md §6).
//!
//! Each side of a call feeds the bytes of its receive stream in with `handle_data`, the end of
//! the stream with `handle_fin`, and pulls typed events out with `poll_event`. The state
//! machines enforce frame order and, for methods with a single message in that direction, the
//! message count; every violation is a [`CallError`] that names the status to report and the
//! stream error code to send. The rest of a call's life is in [`machine`](super::machine).

use super::frame::{Frame, FrameDecoder, FrameError, FrameKind, FrameLimits, FLAG_COMPRESSED};
use super::head::{self, HeadError, RequestHead};
use super::ErrorCode;
use crate::metadata::MetadataMap;
use crate::status::{Code, Status};
use bytes::Bytes;

/// A per-call protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// Framing error or limit.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Bad header or trailer block.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// A frame arrived where the protocol does not allow it.
    #[error("unexpected {kind:?} frame {when}")]
    UnexpectedFrame {
        /// The frame's kind.
        kind: FrameKind,
        /// Where in the call it arrived.
        when: &'static str,
    },
    /// A message carries the compressed flag, but no compression was negotiated.
    #[error("compressed message received, but no compression was negotiated")]
    Compressed,
    /// The client's stream ended before its request head.
    #[error("stream ended before the request head")]
    MissingHead,
    /// The server's stream ended without trailers.
    #[error("stream ended without a status")]
    MissingTrailers,
    /// A second message where the method has exactly one (unary request or response).
    #[error("more than one message where the method has exactly one")]
    TooManyMessages,
    /// No message where the method has exactly one.
    #[error("no message where the method has exactly one")]
    MissingMessage,
}

impl CallError {
    /// The status this error ends the call with, on the side that detected it.
    pub fn to_status(&self) -> Status {
        let code = match self {
            CallError::Frame(FrameError::MessageTooLarge { .. })
            | CallError::Frame(FrameError::HeadersTooLarge { .. }) => Code::ResourceExhausted,
            CallError::Head(HeadError::InvalidPath(_)) => Code::Unimplemented,
            _ => Code::Internal,
        };
        Status::new(code, self.to_string())
    }

    /// [`CallError::to_status`], naming for a limit the side that enforces it (`receiver`,
    /// "client" or "server") and the setting that raises it.
    pub fn to_status_at(&self, receiver: &str) -> Status {
        let (len, limit, setting, what) = match self {
            CallError::Frame(FrameError::MessageTooLarge { len, limit }) => {
                (len, limit, "max_decoding_message_size", "message")
            }
            CallError::Frame(FrameError::HeadersTooLarge { len, limit }) => {
                (len, limit, "max_header_list_size", "header block")
            }
            _ => return self.to_status(),
        };
        Status::new(
            Code::ResourceExhausted,
            format!(
                "{what} of {len} bytes exceeds the {receiver}'s limit of {limit} bytes \
                 ({setting} on the {receiver})"
            ),
        )
    }

    /// The stream error code to reset or stop the stream with.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            CallError::Frame(FrameError::MessageTooLarge { .. })
            | CallError::Frame(FrameError::HeadersTooLarge { .. }) => ErrorCode::RESOURCE_EXHAUSTED,
            _ => ErrorCode::PROTOCOL_ERROR,
        }
    }
}

fn message_payload(frame: Frame) -> Result<Bytes, CallError> {
    if frame.flags & FLAG_COMPRESSED != 0 {
        return Err(CallError::Compressed);
    }
    Ok(frame.payload)
}

/// What a server learns from a client's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The request head; always first.
    Head(RequestHead),
    /// One request message (encoded).
    Message(Bytes),
    /// The client finished sending (half-close).
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    AwaitHead,
    Messages,
    Done,
}

/// How many messages a direction of a call carries: a single-message method's second
/// message, or its end without one, is a [`CallError`].
#[derive(Debug, Clone, Copy, Default)]
struct Count {
    single: bool,
    seen: u32,
}

impl Count {
    fn message(&mut self) -> Result<(), CallError> {
        self.seen = self.seen.saturating_add(1);
        if self.single && self.seen > 1 {
            return Err(CallError::TooManyMessages);
        }
        Ok(())
    }

    fn end(&self) -> Result<(), CallError> {
        if self.single && self.seen == 0 {
            return Err(CallError::MissingMessage);
        }
        Ok(())
    }
}

/// Receive state of the server side of a call.
#[derive(Debug)]
pub struct ServerRecv {
    dec: FrameDecoder,
    state: ServerState,
    fin: bool,
    count: Count,
}

impl ServerRecv {
    /// A new call, with the server's limits.
    pub fn new(limits: FrameLimits) -> Self {
        Self {
            dec: FrameDecoder::new(limits),
            state: ServerState::AwaitHead,
            fin: false,
            count: Count::default(),
        }
    }

    /// The method takes exactly one request message (unary, server streaming): a second one,
    /// or the end without one, is an error. Set once the call is routed.
    pub fn set_single_message(&mut self, single: bool) {
        self.count.single = single;
    }

    /// Feeds a chunk of the client's stream (no copy when frames lie within one chunk).
    /// Drain events with `poll_event` before pushing again.
    pub fn handle_data(&mut self, chunk: Bytes) {
        self.dec.push(chunk)
    }

    /// Records that the client finished its stream.
    pub fn handle_fin(&mut self) {
        self.fin = true;
    }

    /// Whether the client's stream is fully consumed.
    pub fn is_done(&self) -> bool {
        self.state == ServerState::Done
    }

    /// The next event, `Ok(None)` if more bytes are needed.
    pub fn poll_event(&mut self) -> Result<Option<ServerEvent>, CallError> {
        if self.state == ServerState::Done {
            return Ok(None);
        }
        match self.dec.next_frame()? {
            Some(frame) => match (self.state, frame.kind) {
                (ServerState::AwaitHead, FrameKind::Headers) => {
                    self.state = ServerState::Messages;
                    Ok(Some(ServerEvent::Head(RequestHead::decode(frame.payload)?)))
                }
                (ServerState::Messages, FrameKind::Message) => {
                    self.count.message()?;
                    Ok(Some(ServerEvent::Message(message_payload(frame)?)))
                }
                (ServerState::AwaitHead, kind) => Err(CallError::UnexpectedFrame {
                    kind,
                    when: "before the request head",
                }),
                (_, kind) => Err(CallError::UnexpectedFrame {
                    kind,
                    when: "after the request head",
                }),
            },
            None if self.fin => {
                self.dec.finish()?;
                if self.state == ServerState::AwaitHead {
                    return Err(CallError::MissingHead);
                }
                self.state = ServerState::Done;
                self.count.end()?;
                Ok(Some(ServerEvent::End))
            }
            None => Ok(None),
        }
    }
}

/// What a client learns from a server's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Response head metadata. Absent when the server's first frame is a message or trailers.
    Headers(MetadataMap),
    /// One response message (encoded).
    Message(Bytes),
    /// The call's outcome, from its trailers: the trailing metadata of a success, or the
    /// error status. The call is over.
    Trailers(Result<MetadataMap, Status>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Start,
    Messages,
    Done,
}

/// Receive state of the client side of a call.
#[derive(Debug)]
pub struct ClientRecv {
    dec: FrameDecoder,
    state: ClientState,
    fin: bool,
    count: Count,
}

impl ClientRecv {
    /// A new call, with the client's limits.
    pub fn new(limits: FrameLimits) -> Self {
        Self {
            dec: FrameDecoder::new(limits),
            state: ClientState::Start,
            fin: false,
            count: Count::default(),
        }
    }

    /// The method answers with exactly one message (unary, client streaming): a second one,
    /// or successful trailers without one, is an error.
    pub fn set_single_message(&mut self, single: bool) {
        self.count.single = single;
    }

    /// Feeds a chunk of the server's stream (no copy when frames lie within one chunk).
    /// Drain events with `poll_event` before pushing again.
    pub fn handle_data(&mut self, chunk: Bytes) {
        self.dec.push(chunk)
    }

    /// Records that the server finished its stream.
    pub fn handle_fin(&mut self) {
        self.fin = true;
    }

    /// Whether the trailers have been received.
    pub fn is_done(&self) -> bool {
        self.state == ClientState::Done
    }

    /// The next event, `Ok(None)` if more bytes are needed.
    pub fn poll_event(&mut self) -> Result<Option<ClientEvent>, CallError> {
        match self.dec.next_frame()? {
            Some(frame) => {
                let when = match (self.state, frame.kind) {
                    (ClientState::Start, FrameKind::Headers) => {
                        self.state = ClientState::Messages;
                        let md = head::decode_response_head(frame.payload)?;
                        return Ok(Some(ClientEvent::Headers(md)));
                    }
                    (ClientState::Start | ClientState::Messages, FrameKind::Message) => {
                        self.state = ClientState::Messages;
                        self.count.message()?;
                        return Ok(Some(ClientEvent::Message(message_payload(frame)?)));
                    }
                    (ClientState::Start | ClientState::Messages, FrameKind::Trailers) => {
                        self.state = ClientState::Done;
                        let outcome = head::decode_outcome(frame.payload)?;
                        if outcome.is_ok() {
                            self.count.end()?;
                        }
                        return Ok(Some(ClientEvent::Trailers(outcome)));
                    }
                    (ClientState::Messages, FrameKind::Headers) => "after the response head",
                    (ClientState::Done, _) => "after the trailers",
                };
                Err(CallError::UnexpectedFrame {
                    kind: frame.kind,
                    when,
                })
            }
            None if self.fin && self.state != ClientState::Done => {
                self.dec.finish()?;
                Err(CallError::MissingTrailers)
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode;
    use super::*;
    use bytes::BytesMut;
    use std::time::Duration;

    const LIMITS: FrameLimits = FrameLimits {
        max_message: 1 << 20,
        max_headers: 1 << 10,
    };

    fn request_stream(msgs: &[&[u8]]) -> Bytes {
        let mut b = BytesMut::new();
        let head = RequestHead {
            path: "/p.S/M".into(),
            timeout: Some(Duration::from_secs(1)),
            flags: 0,
            metadata: MetadataMap::new(),
        };
        encode::request_head(&head, &mut b);
        for m in msgs {
            encode::raw_message(m, &mut b);
        }
        b.freeze()
    }

    #[test]
    fn server_reads_head_messages_end() {
        let mut rx = ServerRecv::new(LIMITS);
        rx.handle_data(request_stream(&[b"a", b"", b"c"]));
        rx.handle_fin();
        let mut ev = Vec::new();
        while let Some(e) = rx.poll_event().unwrap() {
            ev.push(e);
        }
        assert!(matches!(&ev[0], ServerEvent::Head(h) if h.path == "/p.S/M"));
        assert_eq!(ev[1], ServerEvent::Message(Bytes::from_static(b"a")));
        assert_eq!(ev[2], ServerEvent::Message(Bytes::new()));
        assert_eq!(ev[4], ServerEvent::End);
        assert!(rx.is_done());
    }

    #[test]
    fn server_rejects_bad_orders() {
        let mut rx = ServerRecv::new(LIMITS);
        let mut b = BytesMut::new();
        encode::raw_message(b"x", &mut b);
        rx.handle_data(b.freeze());
        assert!(matches!(
            rx.poll_event(),
            Err(CallError::UnexpectedFrame { .. })
        ));

        let mut rx = ServerRecv::new(LIMITS);
        rx.handle_fin();
        assert_eq!(rx.poll_event(), Err(CallError::MissingHead));

        let mut rx = ServerRecv::new(LIMITS);
        let mut b = BytesMut::from(&request_stream(&[])[..]);
        encode::trailers(&Status::ok(""), &mut b);
        rx.handle_data(b.freeze());
        assert!(matches!(rx.poll_event(), Ok(Some(ServerEvent::Head(_)))));
        let err = rx.poll_event().unwrap_err();
        assert_eq!(err.to_status().code(), Code::Internal);
        assert_eq!(err.error_code(), ErrorCode::PROTOCOL_ERROR);
    }

    #[test]
    fn compressed_flag_is_refused() {
        let mut rx = ServerRecv::new(LIMITS);
        let mut b = BytesMut::from(&request_stream(&[])[..]);
        super::super::frame::put_frame(&mut b, 0, FLAG_COMPRESSED, b"zz");
        rx.handle_data(b.freeze());
        rx.poll_event().unwrap();
        assert_eq!(rx.poll_event(), Err(CallError::Compressed));
    }

    #[test]
    fn oversize_message_maps_to_resource_exhausted() {
        let mut rx = ServerRecv::new(FrameLimits {
            max_message: 4,
            max_headers: 1024,
        });
        rx.handle_data(request_stream(&[b"12345"]));
        rx.poll_event().unwrap();
        let err = rx.poll_event().unwrap_err();
        assert_eq!(err.to_status().code(), Code::ResourceExhausted);
        assert_eq!(err.error_code(), ErrorCode::RESOURCE_EXHAUSTED);
    }

    #[test]
    fn client_sees_headers_messages_trailers() {
        let mut b = BytesMut::new();
        let mut md = MetadataMap::new();
        md.insert("k", "v").unwrap();
        encode::response_head(&md, &mut b);
        encode::raw_message(b"r1", &mut b);
        encode::trailers(&Status::not_found("nope"), &mut b);
        let mut rx = ClientRecv::new(LIMITS);
        rx.handle_data(b.freeze());
        assert_eq!(rx.poll_event().unwrap(), Some(ClientEvent::Headers(md)));
        assert_eq!(
            rx.poll_event().unwrap(),
            Some(ClientEvent::Message(Bytes::from_static(b"r1")))
        );
        match rx.poll_event().unwrap() {
            Some(ClientEvent::Trailers(Err(s))) => assert_eq!(s.code(), Code::NotFound),
            other => panic!("{other:?}"),
        }
        assert!(rx.is_done());
        rx.handle_fin();
        assert_eq!(rx.poll_event().unwrap(), None);
    }

    #[test]
    fn client_trailers_only_and_missing_trailers() {
        let mut b = BytesMut::new();
        encode::trailers(&Status::unimplemented("x"), &mut b);
        let mut rx = ClientRecv::new(LIMITS);
        rx.handle_data(b.freeze());
        assert!(matches!(
            rx.poll_event().unwrap(),
            Some(ClientEvent::Trailers(_))
        ));

        let mut b = BytesMut::new();
        encode::raw_message(b"r1", &mut b);
        let mut rx = ClientRecv::new(LIMITS);
        rx.handle_data(b.freeze());
        rx.handle_fin();
        assert!(rx.poll_event().unwrap().is_some());
        assert_eq!(rx.poll_event(), Err(CallError::MissingTrailers));
    }

    #[test]
    fn client_rejects_frames_after_trailers() {
        let mut b = BytesMut::new();
        encode::trailers(&Status::ok(""), &mut b);
        encode::raw_message(b"late", &mut b);
        let mut rx = ClientRecv::new(LIMITS);
        rx.handle_data(b.freeze());
        rx.poll_event().unwrap();
        assert!(matches!(
            rx.poll_event(),
            Err(CallError::UnexpectedFrame { .. })
        ));
    }

    #[test]
    fn single_message_methods_hold_each_side_to_one() {
        let mut rx = ServerRecv::new(LIMITS);
        rx.set_single_message(true);
        rx.handle_data(request_stream(&[b"a", b"b"]));
        assert!(matches!(rx.poll_event(), Ok(Some(ServerEvent::Head(_)))));
        assert!(matches!(rx.poll_event(), Ok(Some(ServerEvent::Message(_)))));
        let err = rx.poll_event().unwrap_err();
        assert_eq!(err, CallError::TooManyMessages);
        assert_eq!(err.error_code(), ErrorCode::PROTOCOL_ERROR);
        assert_eq!(err.to_status().code(), Code::Internal);

        let mut rx = ServerRecv::new(LIMITS);
        rx.set_single_message(true);
        rx.handle_data(request_stream(&[]));
        rx.handle_fin();
        assert!(matches!(rx.poll_event(), Ok(Some(ServerEvent::Head(_)))));
        assert_eq!(rx.poll_event(), Err(CallError::MissingMessage));

        let mut b = BytesMut::new();
        encode::raw_message(b"r1", &mut b);
        encode::raw_message(b"r2", &mut b);
        let mut rx = ClientRecv::new(LIMITS);
        rx.set_single_message(true);
        rx.handle_data(b.freeze());
        assert!(rx.poll_event().unwrap().is_some());
        assert_eq!(rx.poll_event(), Err(CallError::TooManyMessages));

        // Successful trailers without the message are an error; failed ones are the outcome.
        for (status, want) in [
            (Status::ok(""), Err(CallError::MissingMessage)),
            (Status::not_found("x"), Ok(())),
        ] {
            let mut b = BytesMut::new();
            encode::trailers(&status, &mut b);
            let mut rx = ClientRecv::new(LIMITS);
            rx.set_single_message(true);
            rx.handle_data(b.freeze());
            assert_eq!(rx.poll_event().map(drop), want);
        }
    }

    #[test]
    fn streaming_methods_take_any_number() {
        let mut rx = ServerRecv::new(LIMITS);
        rx.handle_data(request_stream(&[b"a", b"b", b"c"]));
        rx.handle_fin();
        let events = std::iter::from_fn(|| rx.poll_event().unwrap()).count();
        assert_eq!(events, 5);
    }
}
