#!/usr/bin/env bash
# Cargo's runner for riscv64imac-unknown-none-elf (.cargo/config.toml):
# `cargo boot` / `cargo run ... -p neuron` boots the kernel it just built in
# QEMU through scripts/run.sh, like `just run` (profile from PROFILE, default
# `user`).
# Any other riscv binary is a user program, which only runs inside the OS.
set -euo pipefail
elf=$1
shift
if [ "$(basename "$elf")" != neuron ]; then
    echo "cargo-runner: $(basename "$elf") is a user program; it runs inside the OS (just run)" >&2
    exit 2
fi
elf=$(realpath "$elf")
cd "$(dirname "$0")/.."
KERNEL="$elf" exec bash scripts/run.sh "${PROFILE:-user}"
