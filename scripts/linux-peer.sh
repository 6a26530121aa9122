#!/usr/bin/env bash
# `just test-linux-peer`: nexus-bus on Linux against a VM over a tap device.
# The tap exists only inside a private network namespace created here with
# `unshare -n` (scripts/linux-peer.py checks that it holds nothing but `lo`
# and the tap before QEMU starts). Needs root (or CAP_NET_ADMIN +
# CAP_SYS_ADMIN) and qemu (scripts/setup.sh). NO_BUILD=1 boots
# build/neuron.elf as it is (nexus-bus is still built: cargo skips it when
# it is up to date).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${NO_BUILD:-0}" != 1 ]; then
    bash scripts/build.sh
fi
cargo build --release -q -p nexus-bus
exec timeout --kill-after=10 900 unshare --net python3 scripts/linux-peer.py
