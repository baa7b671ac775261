//! ClientRecv fed arbitrary bytes and FIN: frame order holds, chunking does not matter.
//! The harness is `interop::fuzzing::client_recv` (replayed by `interop/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| interop::fuzzing::client_recv(data));
