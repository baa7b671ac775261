#!/usr/bin/env bash
# CI build check of the fuzz targets: type-checks every target on stable Rust, without
# libFuzzer (nothing to link for a check) and without running anything. Long fuzz runs stay
# out of CI; see fuzz/README.md for them.
set -euo pipefail
cd "$(dirname "$0")"
# libfuzzer-sys itself builds on stable; nothing here needs nightly features. Should a future
# libfuzzer-sys need them for a check, RUSTC_BOOTSTRAP=1 goes here.
# No --locked: when rpc-core or interop gain a dependency, cargo adds it to fuzz/Cargo.lock.
exec cargo check --bins --no-default-features "$@"
