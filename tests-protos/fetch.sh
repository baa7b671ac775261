#!/usr/bin/env bash
# Downloads (never builds) the crates.io packages whose .proto trees
# tests-protos compiles, and prints where each one lives.
# CI runs this before building tests-protos.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
manifest="$here/third_party/Cargo.toml"
cargo fetch --manifest-path "$manifest"
cargo metadata --manifest-path "$manifest" --format-version 1 \
  | python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
for p in meta["packages"]:
    if p["name"] in ("grpcio-proto", "opentelemetry-proto", "envoy-types"):
        print(p["name"], p["version"], os.path.dirname(p["manifest_path"]))
'
