#!/usr/bin/env bash
# Lossy-network benchmark: rpc-core over QUIC against tonic over HTTP/2 (h2c and TLS), on
# one network, a loopback that drops packets at random.
#
# What it does, as root:
#   1. makes a network namespace (`ip netns add`) with its own loopback, so nothing else on
#      the machine sees the loss;
#   2. adds an nftables rule on the INPUT hook of that namespace's `lo`:
#        numgen random mod 1000 < N counter drop
#      N per mille of the packets arriving on lo are dropped (not on the output hook: a
#      locally generated packet dropped there returns EPERM to the sender instead of being
#      lost). Every packet crosses lo once, so each is lost with that probability;
#   3. runs the echo server and the load client (`benches/examples/lossy.rs`) as separate
#      processes inside the namespace, for every loss rate, workload and system;
#   4. prints the rows as JSON lines (one per run) and a markdown table; removes the
#      namespace on exit (trap), whatever happened.
#
# Workloads, each at 0, 0.5, 1, 2 and 5 % loss:
#   small+bulk  64 B unary calls, C in flight (default 16), while one server stream of 64 KiB
#               messages runs on the same connection (qrpc: the same QUIC connection; tonic:
#               the same HTTP/2 connection, so the same TCP connection);
#   16KiB       16 KiB unary calls alone, 16 in flight.
#
# Systems: qrpc (rpc-core's defaults), qrpc-1ms (both sides ask for a 1 ms ACK delay,
# rpc_core::LOSSY_PATH_MAX_ACK_DELAY, the setting for lossy paths), h2c and tls (tonic).
#
# Usage: benches/lossy/run.sh [--quick] [--out FILE.jsonl] [--only qrpc,qrpc-1ms,h2c,tls]
#        [--loss "0 5 10 20 50"] (per mille) [-z SECONDS] [-c IN_FLIGHT] [--rate 200mbit]
#        [-- ARGS for both processes, e.g. --priority 5 or --max-ack-delay-us 0]
#   --rate    also limits the namespace's loopback to that rate (tc's tbf qdisc: a queue of
#             up to 20 ms, then drops), a bottleneck link where senders queue: the setting
#             of the priority figures
#   --quick   a few seconds in all (one loss rate, short runs): checks that it works; what
#             benches/tests/lossy_script.rs runs.
# Needs: root (namespaces and nftables), iproute2 (`ip`), nftables (`nft`; installed with
# apt-get when missing), cargo (builds the example in release mode).
set -euo pipefail

QUICK=0
OUT=""
ONLY="qrpc,qrpc-1ms,h2c,tls"
LOSS="0 5 10 20 50"
DUR=5
WARM=1
CONC=16
RATE=""
EXTRA_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --out) OUT="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        --loss) LOSS="$2"; shift ;;
        -z) DUR="$2"; shift ;;
        -c) CONC="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        --) shift; EXTRA_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    LOSS="10"
    DUR=1
    WARM=0.3
fi

die() { echo "run.sh: $*" >&2; exit 1; }

# --- what is needed, and why ---------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "must run as root: it makes a network namespace and nftables rules in it"
command -v ip >/dev/null || die "ip (iproute2) is missing: it makes the network namespace (apt-get install iproute2)"
# nft drops packets at random in the namespace.
bash "$(dirname "$0")/../../scripts/need-nftables.sh" || die "nft (nftables) is missing and could not be installed"

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
if [ -z "${LOSSY_BIN:-}" ]; then
    cargo build --release -q -p benches --example lossy >&2 || die "cargo build of the lossy example failed"
    TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    LOSSY_BIN="$TARGET_DIR/release/examples/lossy"
fi
[ -x "$LOSSY_BIN" ] || die "no binary at $LOSSY_BIN"

NS="qrpc-lossy-$$"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

ip netns add "$NS" || die "cannot make a network namespace (ip netns add): are namespaces allowed here?"
ip -n "$NS" link set lo up
if [ -n "$RATE" ]; then
    ip netns exec "$NS" tc qdisc add dev lo root tbf rate "$RATE" burst 64kb latency 20ms \
        || die "cannot limit the rate (tc qdisc tbf)"
fi
set_loss() {
    local n="$1"
    ip netns exec "$NS" nft flush ruleset
    ip netns exec "$NS" nft -f - <<EOF
table inet lossy {
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "lo" numgen random mod 1000 < $n counter drop
    }
}
EOF
}
dropped() {
    ip netns exec "$NS" nft list table inet lossy | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | head -1
}

PORT=50071
run_one() { # system loss workload
    local sys="$1" loss="$2" work="$3"
    local sysargs=(--system "$sys")
    if [ "$sys" = qrpc-1ms ]; then sysargs=(--system qrpc --max-ack-delay-us 1000); fi
    PORT=$((PORT + 1))
    local addr="127.0.0.1:$PORT"
    set_loss 0 # the handshake and the server's start are not what is measured
    ip netns exec "$NS" "$LOSSY_BIN" "${sysargs[@]}" "${EXTRA_ARGS[@]}" serve --addr "$addr" >/dev/null &
    SERVER_PID=$!
    for _ in $(seq 50); do
        if ip netns exec "$NS" ss -ltnu 2>/dev/null | grep -q ":$PORT "; then break; fi
        sleep 0.1
    done
    set_loss "$loss"
    local args=(--target "$addr" -z "$DUR" --warmup "$WARM" --label "$loss")
    case "$work" in
        small+bulk) args+=(--payload 64 -c "$CONC" --bulk) ;;
        16KiB) args+=(--payload 16384 -c 16) ;;
    esac
    local line
    line="$(ip netns exec "$NS" timeout 60 "$LOSSY_BIN" "${sysargs[@]}" "${EXTRA_ARGS[@]}" "${args[@]}")" \
        || die "client failed: $sys, $loss per mille, $work"
    local d
    d="$(dropped)"
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    line="${line/\"system\":\"qrpc\"/\"system\":\"$sys\"}"
    line="${line%\}},\"workload\":\"$work\",\"dropped\":${d:-0}}"
    echo "$line"
    [ -n "$OUT" ] && echo "$line" >>"$OUT"
    return 0
}

[ -n "$OUT" ] && : >"$OUT"
ROWS=()
for loss in $LOSS; do
    for work in small+bulk 16KiB; do
        for sys in ${ONLY//,/ }; do
            ROWS+=("$(run_one "$sys" "$loss" "$work")")
            echo "${ROWS[-1]}" >&2
        done
    done
done

# A markdown table of the runs.
echo
echo "| loss | workload | system | calls/s | p50 | p99 | p99.9 | bulk MB/s | errors |"
echo "|---|---|---|---|---|---|---|---|---|"
for r in "${ROWS[@]}"; do
    python3 - "$r" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
def us(v):
    return f"{v/1000:.2f} ms" if v >= 1000 else f"{v} µs"
bulk = f"{r['bulk_mb_s']:.0f}" if r['bulk'] else "-"
print(f"| {int(r['label'])/10:g} % | {r['workload']} | {r['system']} | {r['calls_per_s']} | {us(r['p50_us'])} | {us(r['p99_us'])} | {us(r['p999_us'])} | {bulk} | {r['errors']} |")
PY
done
if [ "$QUICK" = 1 ]; then
    # A check, not a measurement: every system made calls, and the rule dropped packets.
    for r in "${ROWS[@]}"; do
        python3 - "$r" <<'PY' || die "a quick run made no calls or dropped nothing: $r"
import json, sys
r = json.loads(sys.argv[1])
assert r["calls"] > 0, "no calls"
assert int(r["label"]) == 0 or r["dropped"] > 0, "nothing dropped"
PY
    done
    echo "quick run: ok"
fi
