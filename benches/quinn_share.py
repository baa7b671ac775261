#!/usr/bin/env python3
"""How much of a small unary call's cost is quinn's own work: rpc-core against raw quinn.

Instructions per call (callgrind, user space), client and server side, each side measured in
its own run: the side under callgrind, the other side native, separate processes on
127.0.0.1. Each figure is (cost of N calls - cost of SMALL calls) / (N - SMALL), so process
start, the handshake and warm-up cancel out. "quinn" is the inclusive cost of quinn's entry
points: its connection and endpoint drivers (packets, crypto, ACKs, timers, system calls'
user side) and the stream API a caller uses (open, write, finish, read, drop); "rest" is
everything else: the framework (or the bare echo of `quinn_echo`), the load generator and
tokio. See benches/README.md, "Issue 19: where the floor is".

    cargo build --release -p rpc-bench --bin rpc-bench
    cargo build --release -p benches --example quinn_echo
    benches/quinn_share.py                 # unary 64 B, 64 in flight, N=30000
    N=20000 C=16 benches/quinn_share.py    # another point

Needs valgrind (callgrind_annotate). Takes about half a minute at the defaults.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter

R = os.environ.get("R", os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release"))
N = int(os.environ.get("N", "30000"))
SMALL = int(os.environ.get("SMALL", "5000"))
C = os.environ.get("C", "64")
# The timeline's per-interval snapshots would cost more under callgrind's slowdown than in a
# real run, and not the same for both runs: one interval for the whole run.
os.environ["RPC_BENCH_TIMELINE_MS"] = "3600000"
CALL = ["--call", "unary", "-c", C, "--payload", "64", "--warmup", "0ms"]

SYSTEMS = {
    "rpc-core": (
        [f"{R}/rpc-bench", "serve", "--addr", "127.0.0.1:50071"],
        [f"{R}/rpc-bench", "--target", "127.0.0.1:50071", "--insecure-dev", "--timeout", "0"],
        50071,
    ),
    "raw quinn": (
        [f"{R}/examples/quinn_echo", "serve", "--addr", "127.0.0.1:50072"],
        [f"{R}/examples/quinn_echo", "--target", "127.0.0.1:50072", "--insecure-dev"],
        50072,
    ),
}

# quinn's entry points, by the name callgrind gives them (inclusive costs do not overlap:
# the drivers are tasks of their own, the stream API is called from the caller's task).
QUINN = [
    "<quinn::connection::ConnectionDriver as core::future::future::Future>::poll",
    "<quinn::endpoint::EndpointDriver as core::future::future::Future>::poll",
    "quinn::connection::poll_open",
    "quinn::connection::poll_accept",
    "quinn::send_stream::SendStream::execute_poll",
    "quinn::send_stream::SendStream::finish",
    "quinn::recv_stream::RecvStream::poll_read_chunk",
    "<quinn::send_stream::SendStream as core::ops::drop::Drop>::drop",
    "<quinn::recv_stream::RecvStream as core::ops::drop::Drop>::drop",
    "<quinn::connection::ConnectionRef as core::ops::drop::Drop>::drop",
]
LINE = re.compile(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*)")


def udp_bound(port):
    """Whether something is bound to UDP `port` on 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def wait_bound(port, proc):
    for _ in range(600):
        if udp_bound(port):
            return
        if proc.poll() is not None:
            sys.exit(f"the server exited ({proc.returncode})")
        time.sleep(0.1)
    sys.exit(f"nothing bound UDP port {port}")


def callgrind(out):
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]


def run(system, side, n, out):
    """One run of `n` calls with `side` under callgrind; leaves the profile in `out`."""
    server, client, port = SYSTEMS[system]
    client = client + CALL + ["-n", str(n)]
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    under = side == "server"
    srv = subprocess.Popen((callgrind(out) if under else []) + server, **quiet)
    try:
        wait_bound(port, srv)
        subprocess.run(client if under else callgrind(out) + client, check=True, **quiet)
    finally:
        # SIGINT: the server shuts down cleanly, and callgrind writes its profile.
        srv.send_signal(signal.SIGINT)
        try:
            srv.wait(timeout=60)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()


def costs(profile):
    """(total instructions, inclusive cost of each of quinn's entry points)."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", profile],
        capture_output=True, text=True, check=True,
    ).stdout
    total, quinn = 0, Counter()
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        value, name = int(m.group(1).replace(",", "")), m.group(2)
        if "PROGRAM TOTALS" in name:
            total = value
        elif ":" in name:
            path, func = name.split(":", 1)
            func = re.sub(r" \[.*\]$", "", func).strip()
            if func in QUINN and "/quinn-0." in path:
                quinn[func] += value
    return total, sum(quinn.values())


def per_call(side, tmp):
    big, small = (costs(os.path.join(tmp, f"{side}.{n}")) for n in (N, SMALL))
    return [(b - s) / (N - SMALL) for b, s in zip(big, small)]


def main():
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for system in SYSTEMS:
            for side in ("client", "server"):
                for n in (N, SMALL):
                    run(system, side, n, os.path.join(tmp, f"{side}.{n}"))
                rows[system, side] = per_call(side, tmp)
                total, quinn = rows[system, side]
                print(f"{system:9} {side:6}  all {total:8.0f}  quinn {quinn:8.0f}  "
                      f"rest {total - quinn:8.0f}", flush=True)
    print(f"\nunary 64 B, {C} in flight, instructions per call, client + server:")
    base = sum(rows["raw quinn", s][0] for s in ("client", "server"))
    for system in SYSTEMS:
        total = sum(rows[system, s][0] for s in ("client", "server"))
        quinn = sum(rows[system, s][1] for s in ("client", "server"))
        print(f"  {system:9}  all {total:8.0f} ({total / base:.3f}x raw quinn)  "
              f"quinn {quinn:8.0f}  rest {total - quinn:8.0f}")
    quinn = sum(rows["rpc-core", s][1] for s in ("client", "server"))
    rest = sum(rows["raw quinn", s][0] - rows["raw quinn", s][1] for s in ("client", "server"))
    print(f"  0.85x raw quinn is {0.85 * base:.0f}; rpc-core's quinn work plus raw quinn's "
          f"rest alone is {quinn + rest:.0f} ({(quinn + rest) / base:.3f}x)")


if __name__ == "__main__":
    main()
