//! The decompressor path (PROTOCOL.md §15.4): gzip and zstd on arbitrary bytes, bounded by a
//! limit, directly and as a COMPRESSED message through ServerRecv; round trips of what it
//! compresses. The harness is `interop::fuzzing::decompress` (replayed by
//! `interop/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| interop::fuzzing::decompress(data));
