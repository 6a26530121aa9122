#!/usr/bin/env bash
# Builds the bootable kernel: every user program for riscv, the boot image
# that packs them (nexus-mkimage), then the kernel that embeds the image.
# Output: build/neuron.elf (what QEMU boots) and build/boot.img.
set -euo pipefail
cd "$(dirname "$0")/.."

target=riscv64imac-unknown-none-elf
# Programs in the boot image (the boot profiles in nexus-init pick from these).
programs=(nexus-init netstackd rngd dsoftbusd selftest-dsoftbus selftest-client selftest-server selftest-fault selftest-dma
    selftest-net bench-client bench-net)
# Cargo features of the image: the canonical network path, with the QEMU
# smoke's static fallback address when DHCP stays silent.
features=(--features netstackd/qemu-smoke)

pkgs=()
for p in "${programs[@]}"; do pkgs+=(-p "$p"); done
cargo build --release --target "$target" "${pkgs[@]}" "${features[@]}"
cargo build --release -p nexus-mkimage

mkdir -p build
entries=()
for p in "${programs[@]}"; do entries+=("$p=target/$target/release/$p"); done
target/release/nexus-mkimage build/boot.img "${entries[@]}"

NEXUS_BOOT_IMAGE="$PWD/build/boot.img" cargo build --release --target "$target" -p neuron
cp "target/$target/release/neuron" build/neuron.elf
echo "build: build/neuron.elf ($(stat -c %s build/neuron.elf) bytes)"
