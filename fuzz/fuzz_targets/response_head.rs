//! wire::head::decode_response_head: never panics; what it accepts round-trips.
//! The harness is `interop::fuzzing::response_head` (replayed by `interop/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| interop::fuzzing::response_head(data));
