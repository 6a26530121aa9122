#!/usr/bin/env bash
# Builds the bootable kernel: every user program for riscv, the boot image
# that packs them (nexus-mkimage), then the kernel that embeds the image.
#
# NET_PATH selects the image's network path (docs/boot-profiles.md):
#   canonical (default) -> build/neuron.elf       (netstackd, dsoftbusd, ...)
#   lite                -> build/neuron-lite.elf  (virtionetd-lite, netstackd-lite, echod, fetchd)
# QEMU_SMOKE_FALLBACK=1 builds the canonical image with netstackd's
# `qemu-smoke` DHCP fallback (docs/nexus-net-os.md, section 2).
# Each image contains only its path's services; nexus-init is built with the
# matching cargo feature, so it refuses the other path's profiles.
set -euo pipefail
cd "$(dirname "$0")/.."

target=riscv64imac-unknown-none-elf
path=${NET_PATH:-canonical}
case "$path" in
canonical)
    programs=(nexus-init netstackd rngd dsoftbusd selftest-dsoftbus selftest-client
        selftest-server selftest-fault selftest-dma selftest-net bench-client bench-net)
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
    programs=(nexus-init virtionetd-lite netstackd-lite echod fetchd selftest-server bench-client)
    features=(--no-default-features --features nexus-init/net-bringup-lite)
    suffix="-lite"
    ;;
*)
    echo "build: NET_PATH must be canonical or lite, not '$path'" >&2
    exit 2
    ;;
esac

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
