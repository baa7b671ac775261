//! wire::datagram::decode (PROTOCOL.md §18.1): the quarter-stream-id prefix of a received
//! datagram, on arbitrary bytes: never panics; what it accepts round-trips. The harness is
//! `interop::fuzzing::datagram_prefix` (replayed by `interop/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| interop::fuzzing::datagram_prefix(data));
