#!/usr/bin/env bash
# Makes sure `nft` (nftables) is installed: installs the Debian package when it is missing.
# Used by the tests and benchmarks that drop packets inside a network namespace
# (benches/lossy/run.sh, rpc-grpc/tests/fallback_netns.rs). Needs root to install.
# Exits non-zero, saying why, when nft cannot be had.
set -euo pipefail
command -v nft >/dev/null && exit 0
echo "need-nftables.sh: nft (nftables) is missing; installing the Debian package nftables" >&2
command -v apt-get >/dev/null || { echo "need-nftables.sh: no apt-get: install nftables by hand" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "need-nftables.sh: must be root to install nftables" >&2; exit 1; }
# One apt-get at a time across the project's scripts (interop/browser/setup.sh too): a second
# one would fail on dpkg's lock instead of waiting.
exec 9>"${TMPDIR:-/tmp}/qrpc-apt.lock"
flock 9
command -v nft >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || true
apt-get install -y -qq nftables >&2 || { echo "need-nftables.sh: apt-get install nftables failed" >&2; exit 1; }
command -v nft >/dev/null || { echo "need-nftables.sh: nft still missing after installing nftables" >&2; exit 1; }
