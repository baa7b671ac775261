//! Per-call receive state (PROTOCOL.md §6).
//!
//! Each side of a call feeds the bytes of its receive stream in with `handle_data`, the end of
//! the stream with `handle_fin`, and pulls typed events out with `poll_event`. The state
//! machines enforce frame order and, for methods with a single message in that direction, the
//! message count; every violation is a [`CallError`] that names the status to report and the
//! stream error code to send. The rest of a call's life is in [`machine`](super::machine).

use super::frame::{Frame, FrameDecoder, FrameError, FrameKind, FrameLimits, FLAG_COMPRESSED};
use super::head::{self, HeadCompression, HeadError, RequestHead};
use super::ErrorCode;
use crate::compression::{self, CompressionEncoding, DecompressError, EncodingSet};
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
    /// A message carries the compressed flag, but its sender's head named no algorithm.
    #[error("compressed message received, but no compression was negotiated")]
    Compressed,
    /// The request head names an algorithm the server does not decompress (PROTOCOL.md
    /// §15.2).
    #[error("message encoding {name:?} is not supported (accepted: {accepted})")]
    UnsupportedEncoding {
        /// The name the client sent.
        name: String,
        /// What the server accepts.
        accepted: EncodingSet,
    },
    /// The response head names an algorithm the client did not offer (PROTOCOL.md §15.3).
    #[error("response encoding {name:?} was not offered by the client (offered: {offered})")]
    UnofferedEncoding {
        /// The name the server sent.
        name: String,
        /// What the client offered.
        offered: EncodingSet,
    },
    /// A compressed message failed to decompress, or inflates past the message limit.
    #[error(transparent)]
    Decompress(#[from] DecompressError),
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
            | CallError::Frame(FrameError::HeadersTooLarge { .. })
            | CallError::Decompress(DecompressError::TooLarge { .. }) => Code::ResourceExhausted,
            CallError::Head(HeadError::InvalidPath(_)) | CallError::UnsupportedEncoding { .. } => {
                Code::Unimplemented
            }
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
            CallError::Decompress(DecompressError::TooLarge { limit }) => {
                return Status::new(
                    Code::ResourceExhausted,
                    format!(
                        "compressed message inflates past the {receiver}'s limit of {limit} \
                         bytes (max_decoding_message_size on the {receiver}); decompression \
                         stopped there"
                    ),
                )
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
            | CallError::Frame(FrameError::HeadersTooLarge { .. })
            | CallError::Decompress(DecompressError::TooLarge { .. }) => {
                ErrorCode::RESOURCE_EXHAUSTED
            }
            _ => ErrorCode::PROTOCOL_ERROR,
        }
    }
}

/// A message's bytes: its payload, decompressed if flagged (PROTOCOL.md §15.4), never to
/// more than `limit` bytes.
fn message_payload(
    frame: Frame,
    encoding: Option<CompressionEncoding>,
    limit: usize,
) -> Result<Bytes, CallError> {
    if frame.flags & FLAG_COMPRESSED == 0 {
        return Ok(frame.payload);
    }
    let encoding = encoding.ok_or(CallError::Compressed)?;
    Ok(compression::decompress(encoding, &frame.payload, limit)?)
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
    /// What this server decompresses.
    accept: EncodingSet,
    /// From the request head.
    compression: HeadCompression,
}

impl ServerRecv {
    /// A new call, with the server's limits, decompressing every algorithm this build
    /// supports.
    pub fn new(limits: FrameLimits) -> Self {
        Self {
            dec: FrameDecoder::new(limits),
            state: ServerState::AwaitHead,
            fin: false,
            count: Count::default(),
            accept: EncodingSet::all(),
            compression: HeadCompression::default(),
        }
    }

    /// The algorithms this server decompresses; a request head naming another ends the call
    /// with `UNIMPLEMENTED` (PROTOCOL.md §15.2).
    pub fn set_accept_encoding(&mut self, accept: EncodingSet) {
        self.accept = accept;
    }

    /// The request head's compression fields: the request's algorithm, and those the client
    /// accepts for the response. Default until the head is read.
    pub fn compression(&self) -> HeadCompression {
        self.compression
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
                    let mut sent = head::SentCompression::default();
                    let head = head::decode_request_head(frame.payload, &mut sent)?;
                    self.compression.accept = sent.accept;
                    if !sent.encoding.is_empty() {
                        let known = CompressionEncoding::from_wire(&sent.encoding);
                        match known.filter(|&e| self.accept.contains(e)) {
                            Some(e) => self.compression.encoding = Some(e),
                            None => {
                                let name = String::from_utf8_lossy(&sent.encoding);
                                return Err(CallError::UnsupportedEncoding {
                                    name: name.into_owned(),
                                    accepted: self.accept,
                                });
                            }
                        }
                    }
                    Ok(Some(ServerEvent::Head(head)))
                }
                (ServerState::Messages, FrameKind::Message) => {
                    self.count.message()?;
                    let enc = self.compression.encoding;
                    let limit = self.dec.limits().max_message;
                    let payload = message_payload(frame, enc, limit)?;
                    Ok(Some(ServerEvent::Message(payload)))
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
    /// What the client offered in its request head.
    offered: EncodingSet,
    /// From the response head.
    encoding: Option<CompressionEncoding>,
}

impl ClientRecv {
    /// A new call, with the client's limits, accepting no compression.
    pub fn new(limits: FrameLimits) -> Self {
        Self {
            dec: FrameDecoder::new(limits),
            state: ClientState::Start,
            fin: false,
            count: Count::default(),
            offered: EncodingSet::empty(),
            encoding: None,
        }
    }

    /// The algorithms the client offered in its request head (`accept_encoding`); a
    /// response head naming another is a protocol error (PROTOCOL.md §15.3).
    pub fn set_accept_encoding(&mut self, offered: EncodingSet) {
        self.offered = offered;
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
                        let (md, name) = head::decode_response_head_full(frame.payload)?;
                        if !name.is_empty() {
                            let known = CompressionEncoding::from_name(&name);
                            match known.filter(|&e| self.offered.contains(e)) {
                                Some(e) => self.encoding = Some(e),
                                None => {
                                    return Err(CallError::UnofferedEncoding {
                                        name,
                                        offered: self.offered,
                                    })
                                }
                            }
                        }
                        return Ok(Some(ClientEvent::Headers(md)));
                    }
                    (ClientState::Start | ClientState::Messages, FrameKind::Message) => {
                        self.state = ClientState::Messages;
                        self.count.message()?;
                        let limit = self.dec.limits().max_message;
                        let payload = message_payload(frame, self.encoding, limit)?;
                        return Ok(Some(ClientEvent::Message(payload)));
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

    /// A request stream whose head carries the compression fields `encoding` (raw name,
    /// field 5) and `accept` (field 6), then `msgs` as (flags, payload) frames.
    fn compressed_request(encoding: &str, accept: &[&str], msgs: &[(u8, &[u8])]) -> Bytes {
        use prost::encoding as pb;
        let mut payload = BytesMut::new();
        pb::string::encode(1, &"/p.S/M".to_string(), &mut payload);
        if !encoding.is_empty() {
            pb::string::encode(5, &encoding.to_string(), &mut payload);
        }
        for a in accept {
            pb::string::encode(6, &a.to_string(), &mut payload);
        }
        let mut b = BytesMut::new();
        super::super::frame::put_frame(&mut b, 1, 0, &payload);
        for (flags, m) in msgs {
            super::super::frame::put_frame(&mut b, 0, *flags, m);
        }
        b.freeze()
    }

    fn compressed(e: CompressionEncoding, data: &[u8]) -> Vec<u8> {
        let mut z = BytesMut::new();
        compression::compress(e, data, &mut z).unwrap();
        z.to_vec()
    }

    #[test]
    fn server_decompresses_what_the_head_announced() {
        let data = vec![b'x'; 10_000];
        for &e in CompressionEncoding::ALL {
            let z = compressed(e, &data);
            let mut rx = ServerRecv::new(LIMITS);
            rx.handle_data(compressed_request(
                e.as_str(),
                &["br", "zstd", "gzip"],
                &[(FLAG_COMPRESSED, &z), (0, b"plain")],
            ));
            assert!(matches!(rx.poll_event(), Ok(Some(ServerEvent::Head(_)))));
            assert_eq!(rx.compression().encoding, Some(e));
            // Unknown names in the accept list are ignored.
            assert_eq!(rx.compression().accept, EncodingSet::all());
            assert_eq!(
                rx.poll_event().unwrap(),
                Some(ServerEvent::Message(Bytes::from(data.clone())))
            );
            assert_eq!(
                rx.poll_event().unwrap(),
                Some(ServerEvent::Message(Bytes::from_static(b"plain")))
            );
        }
    }

    #[test]
    fn unknown_or_refused_encoding_is_unimplemented() {
        let mut rx = ServerRecv::new(LIMITS);
        rx.handle_data(compressed_request("br", &[], &[]));
        let err = rx.poll_event().unwrap_err();
        assert!(matches!(err, CallError::UnsupportedEncoding { ref name, .. } if name == "br"));
        let status = err.to_status();
        assert_eq!(status.code(), Code::Unimplemented);
        assert!(status.message().contains("\"br\""), "{}", status.message());

        // Known, but not accepted by this server.
        let mut rx = ServerRecv::new(LIMITS);
        rx.set_accept_encoding(EncodingSet::empty());
        rx.handle_data(compressed_request(
            CompressionEncoding::ALL[0].as_str(),
            &[],
            &[],
        ));
        assert_eq!(
            rx.poll_event().unwrap_err().to_status().code(),
            Code::Unimplemented
        );

        // "identity" is no compression: a compressed flag is then a protocol error.
        let mut rx = ServerRecv::new(LIMITS);
        rx.handle_data(compressed_request(
            "identity",
            &[],
            &[(FLAG_COMPRESSED, b"z")],
        ));
        assert!(matches!(rx.poll_event(), Ok(Some(ServerEvent::Head(_)))));
        assert_eq!(rx.compression().encoding, None);
        let err = rx.poll_event().unwrap_err();
        assert_eq!(err, CallError::Compressed);
        assert_eq!(err.to_status().code(), Code::Internal);
        assert_eq!(err.error_code(), ErrorCode::PROTOCOL_ERROR);
    }

    #[test]
    fn decompression_stops_at_the_message_limit() {
        let limits = FrameLimits {
            max_message: 64 * 1024,
            max_headers: 1024,
        };
        let bomb = vec![0u8; 16 << 20];
        for &e in CompressionEncoding::ALL {
            let z = compressed(e, &bomb);
            assert!(z.len() < limits.max_message, "{e}: {}", z.len());
            let mut rx = ServerRecv::new(limits);
            rx.handle_data(compressed_request(
                e.as_str(),
                &[],
                &[(FLAG_COMPRESSED, &z)],
            ));
            rx.poll_event().unwrap();
            let err = rx.poll_event().unwrap_err();
            assert_eq!(err.to_status().code(), Code::ResourceExhausted, "{e}");
            assert_eq!(err.error_code(), ErrorCode::RESOURCE_EXHAUSTED);
            assert!(err
                .to_status_at("server")
                .message()
                .contains("max_decoding_message_size"));

            // Garbage that claims to be compressed.
            let mut rx = ServerRecv::new(limits);
            rx.handle_data(compressed_request(
                e.as_str(),
                &[],
                &[(FLAG_COMPRESSED, b"junk")],
            ));
            rx.poll_event().unwrap();
            let err = rx.poll_event().unwrap_err();
            assert!(matches!(
                err,
                CallError::Decompress(DecompressError::Corrupt { .. })
            ));
            assert_eq!(err.to_status().code(), Code::Internal);
        }
    }

    #[test]
    fn client_takes_only_an_offered_encoding() {
        let data = vec![b'y'; 5000];
        for &e in CompressionEncoding::ALL {
            let z = compressed(e, &data);
            let mut b = BytesMut::new();
            encode::response_head_with(&MetadataMap::new(), Some(e), &mut b);
            super::super::frame::put_frame(&mut b, 0, FLAG_COMPRESSED, &z);
            encode::trailers(&Status::ok(""), &mut b);
            let wire = b.freeze();

            let mut rx = ClientRecv::new(LIMITS);
            rx.set_accept_encoding(EncodingSet::empty().with(e));
            rx.handle_data(wire.clone());
            assert!(matches!(rx.poll_event(), Ok(Some(ClientEvent::Headers(_)))));
            assert_eq!(
                rx.poll_event().unwrap(),
                Some(ClientEvent::Message(Bytes::from(data.clone())))
            );

            // Not offered: the server broke the negotiation.
            let mut rx = ClientRecv::new(LIMITS);
            rx.handle_data(wire);
            let err = rx.poll_event().unwrap_err();
            assert!(matches!(err, CallError::UnofferedEncoding { .. }));
            assert_eq!(err.to_status().code(), Code::Internal);
        }
        // A compressed message with no response head naming an algorithm.
        let mut b = BytesMut::new();
        super::super::frame::put_frame(&mut b, 0, FLAG_COMPRESSED, b"zz");
        let mut rx = ClientRecv::new(LIMITS);
        rx.set_accept_encoding(EncodingSet::all());
        rx.handle_data(b.freeze());
        assert_eq!(rx.poll_event(), Err(CallError::Compressed));
    }
}
