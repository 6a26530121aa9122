# Neuron OS: every entry point. `just --list` shows them.

target := "riscv64imac-unknown-none-elf"

# Show the recipes.
default:
    @just --list

# Install what is missing (toolchain target, qemu, just). Idempotent.
setup:
    bash scripts/setup.sh

# Build the kernel with its boot image (build/neuron.elf).
build:
    bash scripts/build.sh

# Boot the OS interactively (Ctrl-A X quits QEMU). PROFILE=smoke|bench.
run profile="smoke": build
    qemu-system-riscv64 -machine virt -bios default -nographic -smp 1 -m 256M \
        -kernel build/neuron.elf -append "nexus.profile={{profile}}" \
        -global virtio-mmio.force-legacy=false -device virtio-rng-device \
        -netdev user,id=n0,restrict=on -device virtio-net-device,netdev=n0,mac=02:00:00:00:00:01

# Host tests of every host-testable crate.
test-host:
    cargo test --workspace
    cargo test -p nexus-net-os --features qemu-smoke
    bash scripts/check-feature-gates.sh

# Single-VM QEMU smoke with the marker catalogue (RUN_UNTIL_MARKER, RUN_TIMEOUT, REQUIRE_*).
test-os:
    bash scripts/qemu-test.sh --profile smoke

# Single-VM smoke of the bring-up (lite) path: its own image and profile.
test-os-lite:
    RUN_UNTIL_MARKER=1 bash scripts/qemu-test.sh --profile lite

# Everything: host tests, the QEMU smoke in 64 MiB of RAM (with the DHCP and
# DSoftBus gates and the network proofs against host peers), the harness's own
# negative check, the lite smoke, and the two-VM runs (plain, capture, lossy).
test: test-host
    QEMU_MEM=64M RUN_UNTIL_MARKER=1 REQUIRE_QEMU_DHCP=1 REQUIRE_DSOFTBUS=1 bash scripts/qemu-test.sh --profile smoke
    bash scripts/harness-selftest.sh
    just test-os-lite
    NO_BUILD=1 just os2vm
    NO_BUILD=1 just os2vm-pcap
    NO_BUILD=1 just os2vm-lossy
    NO_BUILD=1 just test-real-peers

# The guest against Linux peers over a tap device inside a private network
# namespace (dnsmasq DHCP, Linux TCP/UDP/ping, tshark-checked closes, lease
# renewal and expiry, 16 MiB each way, and through an impairment relay:
# 5 % loss, 1 % corruption, 20 ms delay, reordering). Needs root.
test-real-peers:
    bash scripts/real-peers.sh

# Every benchmark; writes build/reports/bench.md and bench.json
# (figure, target, today's value). See docs/performance.md.
bench:
    bash scripts/bench.sh

# Boot the benchmark profile under -icount and print the figures.
bench-os:
    RUN_UNTIL_MARKER=1 QEMU_ICOUNT=1 bash scripts/qemu-test.sh --profile bench

# Network figures: host TCP bulk (facade vs direct) and the guest bench-net profile.
bench-net: build
    cargo bench -p nexus-net-os --bench tcp_bulk
    RUN_UNTIL_MARKER=1 RUN_TIMEOUT=180 bash scripts/qemu-test.sh --profile bench-net

# Two VMs on a loopback-only L2 link: discovery, XK sessions both ways,
# remote proxy, 4 MiB encrypted bulk, restart of VM B.
os2vm:
    python3 scripts/os2vm.py

# DSoftBus figures: host XK handshakes/s and transport MB/s vs snow; in the
# guest, handshake time (handshake_us) and encrypted VM-to-VM throughput.
bench-dsoftbus: build
    cargo bench -p nexus-noise-xk --bench xk_vs_snow
    NO_BUILD=1 OS2VM_RESTART=0 python3 scripts/os2vm.py

# os2vm through a seeded lossy relay: 5 % drop, 1 % duplicate, 1 % corrupt, 2 % reorder.
os2vm-lossy:
    OS2VM_LOSSY=0.05,0.01,0.01,0.02,7 OS2VM_TIMEOUT=150 OS2VM_RESTART=0 python3 scripts/os2vm.py

# os2vm with a capture of VM A's link (QEMU filter-dump), checked with tshark.
os2vm-pcap:
    OS2VM_RESTART=0 OS2VM_PCAP={{justfile_directory()}}/build/os2vm.pcap python3 scripts/os2vm.py
    python3 scripts/pcap-check.py build/os2vm.pcap

# Coverage-guided fuzzing of every decoder of untrusted bytes (cargo fuzz on
# nightly; installed on demand): each target for `seconds`. See fuzz/README.md.
fuzz seconds="20" *targets="":
    NEXUS_FUZZ=1 bash scripts/setup.sh
    bash scripts/fuzz.sh {{seconds}} {{targets}}

# dsoftbusd reaches the network only through netstackd: no NIC driver or
# TCP/IP stack may be in its dependency tree.
check-deps:
    @! cargo tree -p dsoftbusd -e normal --target all | grep -E "smoltcp|virtio-drivers"
    @echo "check-deps: dsoftbusd depends on neither smoltcp nor virtio-drivers"

# Formatting, clippy (host and riscv), and no-std builds of the pure crates.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --release --target {{target}} -p nexus-init -p selftest-client -p selftest-server -p selftest-fault -p selftest-dma -p selftest-net -p netstackd -p bench-client -p bench-net -p rngd -p dsoftbusd -p selftest-dsoftbus --features netstackd/qemu-smoke -- -D warnings
    NEXUS_BOOT_IMAGE={{justfile_directory()}}/build/boot.img cargo clippy --release --target {{target}} -p neuron -- -D warnings
    just check-deps
    cargo build --target {{target}} -p neuron-core -p nexus-abi -p nexus-init-api -p nexus-net -p nexus-noise-xk -p nexus-net-os -p nexus-virtio-hal -p nexus-net-ipc
