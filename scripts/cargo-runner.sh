#!/usr/bin/env bash
# Cargo's runner for riscv64imac-unknown-none-elf (.cargo/config.toml):
# `cargo boot` / `cargo run ... -p neuron` boots the kernel it just built in
# QEMU, like `just run` (profile from PROFILE, default the image's default).
# Any other riscv binary is a user program, which only runs inside the OS.
set -euo pipefail
elf=$1
shift
if [ "$(basename "$elf")" != neuron ]; then
    echo "cargo-runner: $(basename "$elf") is a user program; it runs inside the OS (just run)" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
append=""
[ -n "${PROFILE:-}" ] && append="nexus.profile=${PROFILE}"
exec qemu-system-riscv64 -machine virt -bios default -nographic -smp 1 -m "${QEMU_MEM:-256M}" \
    -kernel "$elf" -append "$append" \
    -global virtio-mmio.force-legacy=false -device virtio-rng-device \
    -netdev user,id=n0,restrict=on -device virtio-net-device,netdev=n0,mac=02:00:00:00:00:01 "$@"
