//! Property tests of the frame codec and call state machines.

use super::frame::{put_frame, FrameDecoder, FrameLimits};
use super::{encode, ClientEvent, ClientRecv, RequestHead, ServerEvent, ServerRecv};
use crate::metadata::MetadataMap;
use crate::status::{Code, Status};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use std::time::Duration;

const LIMITS: FrameLimits = FrameLimits {
    max_message: 1 << 16,
    max_headers: 1 << 12,
};

/// Splits `data` at the given (sorted, deduplicated) cut points.
fn split(data: &Bytes, cuts: &[usize]) -> Vec<Bytes> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts {
        out.push(data.slice(at..c));
        at = c;
    }
    out.push(data.slice(at..));
    out
}

fn metadata_strategy() -> impl Strategy<Value = MetadataMap> {
    prop::collection::vec(
        (
            "[a-z0-9_.-]{1,12}",
            prop::bool::ANY,
            prop::collection::vec(any::<u8>(), 0..20),
        ),
        0..5,
    )
    .prop_map(|entries| {
        let mut md = MetadataMap::new();
        for (k, bin, v) in entries {
            if k.starts_with("grpc-") {
                continue;
            }
            if bin {
                md.append_bin(&format!("{k}-bin"), v).unwrap();
            } else if !k.ends_with("-bin") {
                let v: String = v.iter().map(|b| char::from(0x20 + b % 0x5f)).collect();
                md.append(&k, &v).unwrap();
            }
        }
        md
    })
}

proptest! {
    #[test]
    fn frames_survive_any_chunking(
        payloads in prop::collection::vec((0u8..4, prop::collection::vec(any::<u8>(), 0..300)), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut wire = BytesMut::new();
        for (ty, p) in &payloads {
            put_frame(&mut wire, *ty, 0, p);
        }
        let wire = wire.freeze();
        let mut dec = FrameDecoder::new(LIMITS);
        let mut got = Vec::new();
        for chunk in split(&wire, &cuts) {
            dec.push(chunk);
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f.payload);
            }
        }
        dec.finish().unwrap();
        // Type 3 is unknown and skipped.
        let want: Vec<Bytes> = payloads
            .iter()
            .filter(|(ty, _)| *ty != 3)
            .map(|(_, p)| Bytes::copy_from_slice(p))
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512), fin in any::<bool>()) {
        let data = Bytes::from(data);
        let mut srv = ServerRecv::new(LIMITS);
        srv.handle_data(data.clone());
        if fin { srv.handle_fin(); }
        for _ in 0..64 {
            match srv.poll_event() { Ok(Some(_)) => {}, _ => break }
        }
        let mut cli = ClientRecv::new(LIMITS);
        cli.handle_data(data);
        if fin { cli.handle_fin(); }
        for _ in 0..64 {
            match cli.poll_event() { Ok(Some(_)) => {}, _ => break }
        }
    }

    #[test]
    fn request_round_trip(
        path in "/[a-z.]{1,10}/[A-Za-z]{1,10}",
        timeout in prop::option::of(0u64..1_000_000_000),
        md in metadata_strategy(),
        msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..5),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let head = RequestHead { path, timeout: timeout.map(Duration::from_micros), flags: 0, metadata: md };
        let mut wire = BytesMut::new();
        encode::request_head(&head, &mut wire);
        for m in &msgs { encode::raw_message(m, &mut wire); }
        let mut rx = ServerRecv::new(LIMITS);
        let mut events = Vec::new();
        for chunk in split(&wire.freeze(), &cuts) {
            rx.handle_data(chunk);
            while let Some(e) = rx.poll_event().unwrap() { events.push(e); }
        }
        rx.handle_fin();
        while let Some(e) = rx.poll_event().unwrap() { events.push(e); }
        prop_assert_eq!(&events[0], &ServerEvent::Head(head));
        prop_assert_eq!(events.len(), msgs.len() + 2);
        prop_assert_eq!(events.last().unwrap(), &ServerEvent::End);
    }

    #[test]
    fn response_round_trip(
        md in metadata_strategy(),
        trailing in metadata_strategy(),
        code in 0u32..17,
        message in "\\PC{0,40}",
        msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..5),
    ) {
        let status = Status::with_metadata(Code::from_u32(code), message, trailing);
        let mut wire = BytesMut::new();
        encode::response_head(&md, &mut wire);
        for m in &msgs { encode::raw_message(m, &mut wire); }
        encode::trailers(&status, &mut wire);
        let mut rx = ClientRecv::new(LIMITS);
        rx.handle_data(wire.freeze());
        prop_assert_eq!(rx.poll_event().unwrap(), Some(ClientEvent::Headers(md)));
        for m in &msgs {
            prop_assert_eq!(rx.poll_event().unwrap(), Some(ClientEvent::Message(Bytes::copy_from_slice(m))));
        }
        match rx.poll_event().unwrap() {
            Some(ClientEvent::Trailers(Ok(md))) => {
                prop_assert_eq!(status.code(), crate::Code::Ok);
                prop_assert_eq!(&md, status.metadata());
            }
            Some(ClientEvent::Trailers(Err(s))) => {
                prop_assert_eq!(s.code(), status.code());
                prop_assert_eq!(s.message(), status.message());
                prop_assert_eq!(s.metadata(), status.metadata());
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}

proptest! {
    /// Every call's datagram (PROTOCOL.md §18.1) decodes to its stream and payload.
    #[test]
    fn datagram_prefix_round_trips(
        quarter in 0u64..(1 << 60),
        payload in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        use super::datagram::{decode, encode_prefix};
        let mut buf = BytesMut::new();
        prop_assert!(encode_prefix(quarter * 4, &mut buf));
        buf.extend_from_slice(&payload);
        prop_assert_eq!(decode(buf.freeze()), Ok((quarter * 4, Bytes::from(payload))));
    }

    /// Arbitrary bytes never panic the datagram decoder; what it accepts names a call's stream.
    #[test]
    fn datagram_decoder_takes_any_bytes(data in prop::collection::vec(any::<u8>(), 0..16)) {
        if let Ok((stream_id, payload)) = super::datagram::decode(Bytes::from(data.clone())) {
            prop_assert!(stream_id.is_multiple_of(4));
            prop_assert!(data.ends_with(&payload));
        }
    }
}
