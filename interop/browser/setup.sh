#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the browser tests (examples/tests/browser.rs:
# WebTransport and gRPC-Web from a real browser). Prints the browser's path on its last line.
#
#   interop/browser/setup.sh
#
# Idempotent: an installed chromium is reused. Fails loudly (non-zero) if it cannot be
# installed: the tests then fail, they never skip.
set -euo pipefail

find_chromium() {
    for name in chromium chromium-browser; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

# Tests may run in parallel: one apt-get at a time (dpkg has its own lock, but a second
# apt-get would fail on it instead of waiting). scripts/need-nftables.sh takes the same lock.
lock="${TMPDIR:-/tmp}/qrpc-apt.lock"
exec 9>"$lock"
flock 9

if ! find_chromium >/dev/null; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup.sh: chromium is not installed and there is no apt-get to install it" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >&2
fi
browser="$(find_chromium)" || {
    echo "setup.sh: chromium still missing after apt-get install" >&2
    exit 1
}
"$browser" --version >&2
echo "$browser"
