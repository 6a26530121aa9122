#!/usr/bin/env bash
# clippy -D warnings on every riscv program of both images: the lists come
# from the boot-profile manifests (`nexus-manifest programs <path>`), so a new
# service is linted as soon as a profile names it. Then the kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
target=riscv64imac-unknown-none-elf
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

pkgs() { for p in $(cargo run -q -p nexus-manifest -- programs "$1"); do printf -- '-p %s ' "$p"; done; }

# shellcheck disable=SC2046
cargo clippy --release --target "$target" $(pkgs canonical) --features netstackd/qemu-smoke -- -D warnings
# shellcheck disable=SC2046
cargo clippy --release --target "$target" $(pkgs lite) --no-default-features \
    --features nexus-init/net-bringup-lite --target-dir "$CARGO_TARGET_DIR/lite" -- -D warnings
NEXUS_BOOT_IMAGE="$PWD/build/boot.img" cargo clippy --release --target "$target" -p neuron -- -D warnings
