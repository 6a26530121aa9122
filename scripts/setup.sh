#!/usr/bin/env bash
# Installs what building, booting and testing Neuron OS needs, and nothing
# that is already there. Idempotent: safe to run on every CI job.
#   - the pinned Rust toolchain (rust-toolchain.toml) with clippy + rustfmt
#   - the riscv64imac-unknown-none-elf target (RUSTUP_AUTO_INSTALL=0 here)
#   - qemu-system-riscv64 (Debian package qemu-system-misc, brings OpenSBI)
#   - just (the single entry point)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }

channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
target=riscv64imac-unknown-none-elf

if ! command -v rustup >/dev/null 2>&1; then
    say "rustup not found: install Rust with rustup first (https://rustup.rs)"
    exit 1
fi
if ! rustup toolchain list | grep -q "^${channel}"; then
    say "installing Rust ${channel}"
    rustup toolchain install "${channel}" --profile minimal --component clippy,rustfmt
fi
installed_components=$(rustup component list --toolchain "${channel}" --installed)
for c in clippy rustfmt; do
    if ! grep -q "^${c}" <<<"${installed_components}"; then
        say "adding component ${c}"
        rustup component add --toolchain "${channel}" "${c}"
    fi
done
if ! rustup target list --toolchain "${channel}" --installed | grep -q "^${target}\$"; then
    say "adding target ${target}"
    rustup target add --toolchain "${channel}" "${target}"
fi

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "$@"
}

if ! command -v qemu-system-riscv64 >/dev/null 2>&1; then
    say "installing qemu-system-misc"
    apt_install qemu-system-misc
fi

if ! command -v tshark >/dev/null 2>&1; then
    # Reads the two-VM link capture in `just os2vm-pcap`.
    say "installing tshark"
    echo "wireshark-common wireshark-common/install-setuid boolean false" | \
        { [ "$(id -u)" -eq 0 ] && debconf-set-selections || sudo debconf-set-selections; } || true
    apt_install tshark
fi

if ! command -v dnsmasq >/dev/null 2>&1; then
    # The DHCP server of `just test-real-peers` (in its private namespace).
    say "installing dnsmasq-base"
    apt_install dnsmasq-base
fi

if ! command -v ping >/dev/null 2>&1; then
    # Linux ping of `just test-real-peers`.
    say "installing iputils-ping"
    apt_install iputils-ping
fi

if ! command -v just >/dev/null 2>&1; then
    say "installing just"
    # A prebuilt wheel from PyPI is fastest; fall back to building from crates.io.
    if python3 -m pip install --quiet --disable-pip-version-check rust-just 2>/dev/null; then
        bindir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
        if [ -x "${bindir}/just" ] && ! command -v just >/dev/null 2>&1; then
            mkdir -p "${HOME}/.cargo/bin"
            ln -sf "${bindir}/just" "${HOME}/.cargo/bin/just"
        fi
    fi
    if ! command -v just >/dev/null 2>&1; then
        cargo install --locked just
    fi
fi

say "ok: $(rustc --version), $(qemu-system-riscv64 --version | head -n1), just $(just --version | cut -d' ' -f2)"

# Debugging (`just debug`, docs/debugging.md): gdb with RISC-V support is
# Debian's gdb-multiarch (about 4 MiB over gdb). Only with NEXUS_DEBUG=1.
if [ "${NEXUS_DEBUG:-0}" = "1" ] && ! command -v gdb-multiarch >/dev/null 2>&1; then
    say "installing gdb-multiarch (for just debug)"
    apt_install gdb-multiarch || say "gdb-multiarch could not be installed; see docs/debugging.md"
fi

# Fuzzing (`just fuzz` / scripts/fuzz.sh, fuzz/README.md): cargo-fuzz needs
# the nightly toolchain. Only with NEXUS_FUZZ=1 or on CI, so that a plain
# setup stays fast.
if [ "${NEXUS_FUZZ:-0}" = "1" ] || [ "${CI:-}" = "true" ]; then
    if ! rustup toolchain list | grep -q '^nightly'; then
        say "installing Rust nightly (for cargo fuzz)"
        rustup toolchain install nightly --profile minimal
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        say "installing cargo-fuzz"
        cargo install --locked cargo-fuzz
    fi
    say "fuzz: ok: $(rustc +nightly --version), $(cargo fuzz --version)"
fi
