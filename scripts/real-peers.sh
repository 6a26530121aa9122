#!/usr/bin/env bash
# `just test-real-peers`: the guest against Linux peers over a tap device.
# The tap exists only inside a private network namespace created here with
# `unshare -n` (scripts/real-peers.py checks that it holds nothing but `lo`
# and the tap). Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN), dnsmasq,
# tshark, ping and qemu (scripts/setup.sh). NO_BUILD=1 boots
# build/neuron.elf as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${NO_BUILD:-0}" != 1 ]; then
    bash scripts/build.sh
fi
exec timeout --kill-after=10 1500 unshare --net python3 scripts/real-peers.py
