//! wire::head::decode_trailers: never panics; what it accepts round-trips.
//! The harness is `interop::fuzzing::trailers` (replayed by `interop/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| interop::fuzzing::trailers(data));
