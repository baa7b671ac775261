#!/usr/bin/env bash
# Installs Python's grpcio (the reference gRPC implementation's Python binding) in a venv and
# generates the grpc.testing stubs, for the interop tests against the HTTP/2 port
# (interop/tests/grpcio.rs). Prints the venv's python on its last line.
#
#   interop/python/setup.sh [VENV_DIR]     (default: target/grpcio-venv at the workspace root)
#
# Idempotent: an existing venv with grpcio and the stubs is reused. Fails loudly (non-zero)
# if anything cannot be installed: the tests then fail, they never skip.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${1:-$root/target/grpcio-venv}"
python="${PYTHON:-python3}"

# Tests run in parallel: one install at a time, the others then find it done (two pips
# writing one venv see each other's half-installed packages).
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    # Debian splits venv/ensurepip into python3-venv.
    if command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >&2
    fi
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" >&2
fi
py="$venv/bin/python"
if ! "$py" -c 'import grpc, grpc_tools, google.protobuf' 2>/dev/null; then
    "$py" -m pip install --quiet --disable-pip-version-check \
        'grpcio>=1.60' 'grpcio-tools>=1.60' 'protobuf>=4.25' >&2
fi
stubs="$venv/stubs"
if [ ! -f "$stubs/interop_pb/test_pb2_grpc.py" ] || [ "$root/proto/grpc/testing/test.proto" -nt "$stubs/interop_pb/test_pb2_grpc.py" ]; then
    # The protos import each other as grpc/testing/..., which in Python would shadow grpcio's
    # own `grpc` package: generate them as the module `interop_pb` instead (same proto
    # package, so the same method paths).
    rm -rf "$stubs" && mkdir -p "$stubs/src/interop_pb"
    for f in empty messages test; do
        sed 's#import "grpc/testing/#import "interop_pb/#' "$root/proto/grpc/testing/$f.proto" \
            > "$stubs/src/interop_pb/$f.proto"
    done
    "$py" -m grpc_tools.protoc -I "$stubs/src" --python_out="$stubs" --grpc_python_out="$stubs" \
        "$stubs/src/interop_pb/empty.proto" "$stubs/src/interop_pb/messages.proto" \
        "$stubs/src/interop_pb/test.proto" >&2
    touch "$stubs/interop_pb/__init__.py"
fi
"$py" -c 'import grpc; print("grpcio", grpc.__version__)' >&2
echo "$py"
