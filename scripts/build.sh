#!/usr/bin/env bash
# Builds the bootable kernel: every user program for riscv, the boot image
# that packs them (nexus-mkimage), then the kernel that embeds the image.
#
# NET_PATH selects the image's network path (docs/boot-profiles.md):
#   canonical (default) -> build/neuron.elf       (netstackd, dsoftbusd, ...)
#   lite                -> build/neuron-lite.elf  (virtionetd-lite, netstackd-lite, echod, fetchd)
# Each image contains only its path's programs, listed by the boot-profile
# manifests (profiles/*.toml, through `nexus-manifest programs <path>`);
# nexus-init is built with the matching cargo feature, so it refuses the
# other path's profiles.
# QEMU_SMOKE_FALLBACK=1 builds the canonical image with netstackd's
# `qemu-smoke` DHCP fallback (docs/nexus-net-os.md, section 2).
set -euo pipefail
cd "$(dirname "$0")/.."

target=riscv64imac-unknown-none-elf
path=${NET_PATH:-canonical}
case "$path" in
canonical)
    # Only images built for the QEMU smoke (QEMU_SMOKE_FALLBACK=1) fall back
    # to a static address when DHCP stays silent for 30 s from boot; the
    # canonical image never invents an address.
    features=()
    if [ "${QEMU_SMOKE_FALLBACK:-0}" = 1 ]; then
        features=(--features netstackd/qemu-smoke)
    fi
    suffix=""
    ;;
lite)
    features=(--no-default-features --features nexus-init/net-bringup-lite)
    suffix="-lite"
    ;;
*)
    echo "build: NET_PATH must be canonical or lite, not '$path'" >&2
    exit 2
    ;;
esac

read -r -a programs <<<"$(cargo run -q -p nexus-manifest -- programs "$path")"
pkgs=()
for p in "${programs[@]}"; do pkgs+=(-p "$p"); done
# A separate target dir per path: nexus-init differs by feature.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
tdir="$CARGO_TARGET_DIR/$target/release"
if [ "$path" = lite ]; then
    cargo build --release --target "$target" "${pkgs[@]}" "${features[@]}" --target-dir "$CARGO_TARGET_DIR/lite"
    tdir="$CARGO_TARGET_DIR/lite/$target/release"
else
    cargo build --release --target "$target" "${pkgs[@]}" "${features[@]}"
fi
cargo build --release -p nexus-mkimage

mkdir -p build
entries=()
for p in "${programs[@]}"; do entries+=("$p=$tdir/$p"); done
"$CARGO_TARGET_DIR/release/nexus-mkimage" "build/boot$suffix.img" "${entries[@]}"

NEXUS_BOOT_IMAGE="$PWD/build/boot$suffix.img" cargo build --release --target "$target" -p neuron \
    --target-dir "$CARGO_TARGET_DIR/kernel$suffix"
cp "$CARGO_TARGET_DIR/kernel$suffix/$target/release/neuron" "build/neuron$suffix.elf"
echo "build: build/neuron$suffix.elf ($(stat -c %s "build/neuron$suffix.elf") bytes, path $path)"

# KERNEL_OVERFLOW_CHECKS=1: also a kernel built with arithmetic overflow
# checks (an overflow panics, and a panic fails the smoke), same image.
if [ "${KERNEL_OVERFLOW_CHECKS:-0}" = 1 ]; then
    CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true NEXUS_BOOT_IMAGE="$PWD/build/boot$suffix.img" \
        cargo build --release --target "$target" -p neuron --target-dir "$CARGO_TARGET_DIR/kernel-overflow$suffix"
    cp "$CARGO_TARGET_DIR/kernel-overflow$suffix/$target/release/neuron" "build/neuron-overflow$suffix.elf"
    echo "build: build/neuron-overflow$suffix.elf (overflow checks on)"
fi
