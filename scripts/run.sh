#!/usr/bin/env bash
# Boots build/neuron.elf with boot profile $1 (default `user`: the shell).
#
# Interactive (standard input is a terminal): QEMU on the terminal; quit
# with `Ctrl-A X`, or `poweroff` in the shell.
# Piped (`printf 'ifconfig\npoweroff\n' | just run`): scripts/run-piped.py
# holds the input back until the shell prints `shell: ready` (bytes sent
# earlier would reach the UART while the firmware resets it), then types it;
# QEMU ends when the guest powers off. RUN_TIMEOUT (seconds, piped only)
# bounds the whole run.
# QEMU_EXTRA adds QEMU arguments (`just debug` passes `-s -S`); KERNEL boots
# another kernel ELF (cargo's runner passes the one it built).
# Networking: QEMU user networking with restrict=on (no traffic leaves the
# host's slirp; the guest reaches only 10.0.2.2/10.0.2.3 of slirp itself).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-user}
qemu=(qemu-system-riscv64 -machine virt -bios default -nographic -smp 1 -m "${QEMU_MEM:-256M}"
    -kernel "${KERNEL:-build/neuron.elf}" -append "nexus.profile=${profile}"
    -global virtio-mmio.force-legacy=false -device virtio-rng-device
    -netdev user,id=n0,restrict=on -device virtio-net-device,netdev=n0,mac=02:00:00:00:00:01)
# shellcheck disable=SC2206
[ -n "${QEMU_EXTRA:-}" ] && qemu+=(${QEMU_EXTRA})

if [ -t 0 ]; then
    exec "${qemu[@]}"
fi
exec python3 scripts/run-piped.py "${RUN_TIMEOUT:-0}" "${qemu[@]}"
