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

# Boot the OS to the shell (`user` profile; `poweroff` or Ctrl-A X ends QEMU).
# Piped input is typed into the shell: `printf 'ps\npoweroff\n' | just run`.
# Other profiles: `just run smoke`, `just run bench`.
run profile="user": build
    bash scripts/run.sh {{profile}}

# Boot stopped for gdb (QEMU -s -S) and print the gdb command line with the
# kernel's symbols and `service`'s (docs/debugging.md).
debug service="shell" profile="user":
    NEXUS_DEBUG=1 bash scripts/setup.sh
    bash scripts/debug.sh {{service}} {{profile}}

# The shell through piped input on a fresh disk: ifconfig, ping, ps, netstat,
# peers, sessions, call, kv, trust, pair, log levels, 30 s idle, ... poweroff,
# each command's output checked; then a reboot on the same disk (key and
# identity kept). Bounded by RUN_TIMEOUT per boot, default 150 s.
test-shell: build
    python3 scripts/shell-test.py

# Host tests of every host-testable crate.
test-host:
    cargo test --workspace
    cargo test -p nexus-net-os --features qemu-smoke
    bash scripts/check-feature-gates.sh

# Single-VM QEMU smoke with the marker catalogue (RUN_UNTIL_MARKER, RUN_TIMEOUT, REQUIRE_*).
test-os:
    bash scripts/qemu-test.sh --profile smoke

# The smoke on a kernel built with arithmetic overflow checks (an overflow
# anywhere in the kernel panics, and a panic fails the run).
test-os-overflow:
    KERNEL_OVERFLOW_CHECKS=1 bash scripts/build.sh
    QEMU_MEM=64M RUN_UNTIL_MARKER=1 NO_BUILD=1 python3 scripts/harness.py --profile smoke --kernel build/neuron-overflow.elf

# The smoke with the long syscall-fuzzer run (2,000,000 iterations, seed
# mixed with boot time and printed); see docs/reliability.md.
fuzz-os:
    NEXUS_BOOTARGS=nexus.fuzzlong=1 QEMU_MEM=64M RUN_UNTIL_MARKER=1 RUN_TIMEOUT=600 bash scripts/qemu-test.sh --profile smoke

# Kernel notifications (`Notify`): a flooding NOTIFY-only holder cannot
# starve callers or overflow anything; posts coalesce, none is lost.
test-os-notify:
    RUN_UNTIL_MARKER=1 bash scripts/qemu-test.sh --profile notify

# Single-VM smoke of the bring-up (lite) path: its own image and profile.
test-os-lite:
    RUN_UNTIL_MARKER=1 bash scripts/qemu-test.sh --profile lite

# Everything: host tests, the QEMU smoke in 64 MiB of RAM (with the DHCP and
# DSoftBus gates and the network proofs against host peers), the smoke again
# on a kernel with overflow checks, the harness's own negative check, the
# piped shell script (test-shell), the lite smoke, the two-VM runs (plain,
# capture, lossy, with an attacker), the 4-node mesh, the storage crash test,
# the real-peer run and the Linux bus peer (both need root).
test: test-host
    QEMU_MEM=64M RUN_UNTIL_MARKER=1 REQUIRE_QEMU_DHCP=1 REQUIRE_DSOFTBUS=1 bash scripts/qemu-test.sh --profile smoke
    just test-os-overflow
    bash scripts/harness-selftest.sh
    python3 scripts/shell-test.py
    # Cargo's runner (.cargo/config.toml) boots the kernel as `cargo boot`;
    # init's power-off marker must come from init (catalogue row peer:poweroff).
    printf 'ps\npoweroff\n' | RUN_TIMEOUT=60 cargo boot 2>&1 | PYTHONPATH=scripts python3 -m nexuslab.expect poweroff
    just test-os-lite
    NO_BUILD=1 RUN_UNTIL_MARKER=1 bash scripts/qemu-test.sh --profile notify
    NO_BUILD=1 just os2vm
    NO_BUILD=1 just os2vm-pcap
    NO_BUILD=1 just os2vm-lossy
    NO_BUILD=1 just os2vm-attack
    NO_BUILD=1 just mesh 4
    NO_BUILD=1 just test-storage
    NO_BUILD=1 just test-real-peers
    NO_BUILD=1 just test-linux-peer

# Storage crash test: the `storage` profile on one disk image, QEMU killed at
# random points (STORAGE_CYCLES, default 24) and rebooted; every value the guest
# reported committed must be read back. Then a garbage and a truncated image.
test-storage:
    if [ "${NO_BUILD:-0}" != 1 ]; then bash scripts/build.sh; fi
    python3 scripts/storage-crash.py

# The guest against Linux peers over a tap device inside a private network
# namespace (dnsmasq DHCP, Linux TCP/UDP/ping, tshark-checked closes, lease
# renewal and expiry, 16 MiB each way, and through an impairment relay:
# 5 % loss, 1 % corruption, 20 ms delay, reordering). Needs root.
test-real-peers:
    bash scripts/real-peers.sh

# Linux on the bus: `nexus-bus` (the dsoftbus crate over Linux sockets) and a
# VM over a tap in a private network namespace discover each other,
# authenticate (Noise XK), echo a line and stream 16 MiB each way, verified at
# the other end (docs/nexus-bus.md). Needs root.
test-linux-peer:
    bash scripts/linux-peer.sh

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

# Two VMs on a loopback-only L2 link: discovery, XK sessions, PIN pairing,
# the bus applications (remote proxy, echo, a 16 MiB stream beside raw TCP,
# interactive latency, backpressure, refusal), restart of VM B, reboot of
# both on their disks (docs/os2vm.md).
os2vm:
    python3 scripts/os2vm.py

# DSoftBus figures: host XK handshakes/s and transport MB/s vs snow; in the
# guest, handshake time (handshake_us) and encrypted VM-to-VM throughput.
bench-dsoftbus: build
    cargo bench -p nexus-noise-xk --bench xk_vs_snow
    NO_BUILD=1 OS2VM_RESTART=0 python3 scripts/os2vm.py

# N VMs (2..8) on one L2 hub of loopback UDP sockets, each on a disk written
# by nexus-provision (its identity, every other node trusted): full mesh of
# authenticated, trusted sessions, a partition and heal, each node restarted once;
# figures and build/reports/mesh.html (docs/mesh.md).
mesh nodes="4":
    python3 scripts/mesh.py {{nodes}}

# os2vm through a seeded lossy relay: 5 % drop, 1 % duplicate, 1 % corrupt, 2 % reorder.
os2vm-lossy:
    OS2VM_LOSSY=0.05,0.01,0.01,0.02,7 OS2VM_TIMEOUT=150 OS2VM_RESTART=0 python3 scripts/os2vm.py

# os2vm with a third VM on the link attacking node-a (takeover of node-b's id,
# announce flood, replay, held sessions, control characters, untrusted open)
# while A's app keeps an echo loop to B; docs/attack.md.
os2vm-attack:
    python3 scripts/os2vm-attack.py

# os2vm with a capture of VM A's link (QEMU filter-dump), checked with tshark.
os2vm-pcap:
    OS2VM_RESTART=0 OS2VM_PCAP={{justfile_directory()}}/build/os2vm.pcap python3 scripts/os2vm.py
    python3 scripts/pcap-check.py build/os2vm.pcap

# Coverage-guided fuzzing of every decoder of untrusted bytes (cargo fuzz on
# nightly; installed on demand): each target for `seconds`. See fuzz/README.md.
fuzz seconds="20" *targets="":
    NEXUS_FUZZ=1 bash scripts/setup.sh
    bash scripts/fuzz.sh {{seconds}} {{targets}}

# Regenerate the docs that come from data: boot profiles and interfaces.
gen:
    cargo run -q -p nexus-manifest -- docs > docs/boot-profiles.md
    cargo run -q -p nexus-manifest -- interfaces > docs/interfaces.md

# The docs match the code (markers, syscall table, generated docs, README recipes).
check-docs:
    python3 scripts/check-docs.py

# dsoftbusd reaches the network only through netstackd: no NIC driver or
# TCP/IP stack may be in its dependency tree. No image program links a test
# key (dsoftbus-testnodes is for host tests), and built images hold none.
check-deps:
    @! cargo tree -p dsoftbusd -e normal --target all | grep -E "smoltcp|virtio-drivers"
    @echo "check-deps: dsoftbusd depends on neither smoltcp nor virtio-drivers"
    bash scripts/check-no-test-keys.sh

# Formatting, clippy (host and riscv), and no-std builds of the pure crates.
lint:
    cargo fmt --all -- --check
    just check-docs
    cargo clippy --workspace --all-targets -- -D warnings
    bash scripts/lint-riscv.sh
    bash scripts/check-kernel-layers.sh
    # The fuzz targets live outside the workspace: check they still build.
    cargo check --manifest-path fuzz/Cargo.toml --bins
    just check-deps
    cargo build --target {{target}} -p neuron-core -p nexus-abi -p nexus-idl -p nexus-interfaces -p nexus-slots -p nexus-net -p nexus-noise-xk -p nexus-net-os -p nexus-virtio-hal -p nexus-net-ipc -p nexus-lite-net -p nexus-kv
