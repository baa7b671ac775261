#!/usr/bin/env bash
# Server-side instructions per call over gRPC on HTTP/2 (h2c): rpc-core's server behind
# rpc-grpc's GrpcServer against tonic's server, the same echo handler, the same client
# (rpc-bench --http2, rpc-grpc's GrpcConnector), separate processes. See benches/README.md,
# "gRPC over HTTP/2 vs tonic".
#
# Each cell: the server runs under callgrind with instrumentation off; the client warms the
# connection up, instrumentation goes on for exactly N calls (-n N), off again, and the
# server's instruction count over them is divided by N. Deterministic where timings on a
# shared machine are not; user-space instructions only (no kernel, no cache misses).
#
#   cargo build --release -p rpc-bench --bin rpc-bench
#   cargo build --release -p benches --example tonic_echo
#   benches/h2_vs_tonic.sh            # N=20000 per cell; N=5000 for a quick look
set -euo pipefail

R=${R:-${CARGO_TARGET_DIR:-target}/release}
N=${N:-20000}
WARM=${WARM:-2000}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

wait_port() {
    for _ in $(seq 1 600); do
        ss -ltn "sport = :$1" | grep -q LISTEN && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

# Sends a callgrind command to PID. Callgrind takes it when the process next runs code: an
# idle server (tonic has no timer of its own) is woken by TCP connections to PORT, which it
# accepts and drops (a few thousand instructions, against millions per cell).
command() {
    local pid=$1 port=$2 what=$3
    # shellcheck disable=SC2086 # "-i on" is two words
    callgrind_control $what "$pid" >/dev/null 2>&1 &
    local control=$!
    while kill -0 "$control" 2>/dev/null; do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || true
        sleep 0.2
    done
    wait "$control"
}

# cell NAME PORT CALLS SCENARIO... -- SERVER COMMAND...
cell() {
    local name=$1 port=$2 n=$3
    shift 3
    local scenario=()
    while [ "$1" != "--" ]; do
        scenario+=("$1")
        shift
    done
    shift
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/$name.%p" \
        "$@" >/dev/null 2>"$OUT/$name.log" &
    local pid=$!
    wait_port "$port"
    local client=("$R/rpc-bench" --http2 --target "127.0.0.1:$port" --timeout 0 --warmup 0ms)
    "${client[@]}" "${scenario[@]}" -n "$((WARM * n / N))" >/dev/null
    command "$pid" "$port" "-i on"
    "${client[@]}" "${scenario[@]}" -n "$n" --json >"$OUT/$name.json"
    command "$pid" "$port" "-i off"
    command "$pid" "$port" -d
    # Counted and dumped: nothing more is needed from the server.
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    local ir calls
    ir=$(grep -h '^totals:' "$OUT/$name.$pid".1 | awk '{print $2}')
    calls=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["ok"])' \
        "$OUT/$name.json")
    printf '%-28s %10d calls %14d instr %10.0f instr/call\n' "$name" "$calls" "$ir" \
        "$(echo "$ir / $calls" | bc -l)"
    if [ -n "${KEEP:-}" ]; then
        cp "$OUT/$name.$pid".1 "$KEEP/$name.callgrind"
    fi
}

ours() { echo "$R/rpc-bench" serve --addr 127.0.0.1:50161 --h2-addr 127.0.0.1:50171; }
tonic() { echo "$R/examples/tonic_echo" serve --addr 127.0.0.1:50173; }

# calls|scenario: server-streaming calls carry 64 messages each, so fewer of them.
for scenario in "$N|--call unary --payload 64 -c 1" \
    "$N|--call unary --payload 64 -c 16" \
    "$N|--call unary --payload 64 -c 64" \
    "$((N / 20))|--call server-stream --payload 1KiB --stream-messages 64 -c 1"; do
    n=${scenario%%|*}
    args=${scenario#*|}
    label=${args//--call /}
    label=${label//--payload /}
    label=${label//--stream-messages /x}
    label=${label// /_}
    # shellcheck disable=SC2046,SC2086 # the scenario's and the servers' words split on purpose
    cell "rpc-grpc_$label" 50171 "$n" $args -- $(ours)
    # shellcheck disable=SC2046,SC2086
    cell "tonic_$label" 50173 "$n" $args -- $(tonic)
done
