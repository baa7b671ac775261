//! grpc.testing.SimpleRequest through ProstCodec's decoder: a status, never a panic; round trip.
//! The harness is `interop::fuzzing::simple_request` (replayed by `interop/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| interop::fuzzing::simple_request(data));
