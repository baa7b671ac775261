//! RequestHead::decode: never panics; what it accepts round-trips.
//! The harness is `interop::fuzzing::request_head` (replayed by `interop/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| interop::fuzzing::request_head(data));
