#!/usr/bin/env bash
# Proves the network-path feature gates of nexus-init (docs/boot-profiles.md):
# default -> canonical profiles only; lite -> lite profiles only (host tests
# of each configuration); both -> compile error; none -> compile error.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
cargo test -q -p nexus-init --lib >/dev/null && echo "gates: default build = net-canonical (tests pass)" || fail=1
cargo test -q -p nexus-init --lib --no-default-features --features net-bringup-lite >/dev/null \
    && echo "gates: lite build = net-bringup-lite (tests pass)" || fail=1
expect_error() {
    local what=$1 msg=$2; shift 2
    local out
    if out=$(cargo check -q -p nexus-init --lib "$@" 2>&1); then
        echo "gates: FAIL: $what compiled"; fail=1
    elif grep -q "$msg" <<<"$out"; then
        echo "gates: $what refused at compile time: $msg"
    else
        echo "gates: FAIL: $what failed without the expected message"; echo "$out" | head -5; fail=1
    fi
}
expect_error "both paths" "mutually exclusive" --features net-bringup-lite
expect_error "no path" "no network path selected" --no-default-features
exit $fail
