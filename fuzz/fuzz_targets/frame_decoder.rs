//! FrameDecoder: random chunking, push and read_buf modes, against decoding in one piece; limits hold.
//! The harness is `interop::fuzzing::frame_decoder` (replayed by `interop/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| interop::fuzzing::frame_decoder(data));
