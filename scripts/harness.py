#!/usr/bin/env python3
"""Boots neuron in QEMU and judges the run by the marker catalogue.

The catalogue is the table in docs/markers.md: one row per marker with a
`when` column saying in which profile/gate it is required, or that it is
forbidden. This script is the only reader of that table, so markers are not
scattered over scripts. See docs/harness.md for the contract.

Exit status: 0 when every required marker appeared and no forbidden line did;
1 otherwise (the missing markers, forbidden lines and the log tail are
printed); 2 for a usage/setup error.
"""
import argparse
import datetime
import os
import re
import selectors
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netpeers import NetPeers  # noqa: E402
from l2peer import L2Peer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOGUE = os.environ.get("MARKER_CATALOGUE", os.path.join(ROOT, "docs", "markers.md"))
GATES = {"REQUIRE_QEMU_DHCP": "dhcp", "REQUIRE_DSOFTBUS": "dsoftbus"}


def load_catalogue(path):
    """Rows `| `marker` | when | emitter | meaning |` -> list of (marker, [when...])."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|", line)
            if m:
                rows.append((m.group(1), [w.strip() for w in m.group(2).split(",")]))
    return rows


def load_owners(path):
    """marker -> the task that may print it (first word of the `emitted by`
    column: a boot-image program name, `kernel`, or `harness`)."""
    owners = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*`([^`]+)`\s*\|[^|]*\|\s*([^|]+?)\s*\|", line)
            if m:
                w = re.match(r"[A-Za-z0-9_.-]+", m.group(2))
                if w:
                    owners.setdefault(m.group(1), w.group(0))
    return owners


TAG = re.compile(r"^\[([A-Za-z0-9_.-]+)\] (.*)$")


def split_origin(line):
    """(origin, text) of a console line. The kernel prefixes every line a
    task writes with `[<program>] ` and lets no control bytes through, so
    an untagged line is the kernel's own (or firmware's)."""
    m = TAG.match(line)
    if m:
        return m.group(1), m.group(2)
    return "kernel", line


def from_owner(owners, marker, origin):
    owner = owners.get(marker)
    return owner is None or owner == origin


def required_for(rows, profile, gates):
    want = {f"required:{profile}"} | {f"required:{g}" for g in gates}
    return [m for m, when in rows if want & set(when)]


def disk_args(path):
    """A raw disk image as the VM's virtio-blk device (storaged's disk)."""
    return ["-drive", f"file={path},format=raw,if=none,id=d0",
            "-device", "virtio-blk-device,drive=d0"]


def fresh_disk(path, kib):
    """A zero-filled raw image of `kib` KiB: a blank disk storaged formats."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(kib * 1024)


def qemu_command(kernel, profile, icount, netdev, extra_args="", disk=None):
    cmd = [
        "qemu-system-riscv64", "-machine", "virt", "-bios", "default",
        "-nographic", "-smp", "1", "-m", os.environ.get("QEMU_MEM", "256M"),
        "-kernel", kernel, "-append", f"nexus.profile={profile}{extra_args}",
        "-global", "virtio-mmio.force-legacy=false",
        "-device", "virtio-net-device,netdev=n0,mac=02:00:00:00:00:01",
        "-device", "virtio-rng-device",
    ] + netdev
    if disk:
        cmd += disk_args(disk)
    if icount:
        cmd += ["-icount", "shift=0,sleep=off"]
    return cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=os.environ.get("PROFILE", "smoke"))
    ap.add_argument("--kernel", default=None,
                    help="default build/neuron.elf, build/neuron-lite.elf for the lite profile")
    ap.add_argument("--icount", action="store_true", default=os.environ.get("QEMU_ICOUNT") == "1",
                    help="deterministic instruction-counted time (benchmarks)")
    args = ap.parse_args()
    lite = args.profile == "lite"
    if args.kernel is None:
        args.kernel = os.path.join(ROOT, "build", "neuron-lite.elf" if lite else "neuron.elf")

    until_marker = os.environ.get("RUN_UNTIL_MARKER", "0") == "1"
    timeout = float(os.environ.get("RUN_TIMEOUT", "90"))
    gates = [g for env, g in GATES.items() if os.environ.get(env) == "1"]

    rows = load_catalogue(CATALOGUE)
    owners = load_owners(CATALOGUE)
    required = required_for(rows, args.profile, [])
    if not required:
        print(f"harness: no markers catalogued as required for profile '{args.profile}'", file=sys.stderr)
        return 2
    for g in gates:
        gated = required_for(rows, "-none-", [g])
        if not gated:
            # A gate that cannot be proven in this image fails loudly.
            print(f"harness: gate '{g}' was required, but this image has no '{g}' proof "
                  f"(no marker catalogued as required:{g}); failing instead of passing")
            return 1
        required += [m for m in gated if m not in required]
    forbidden = [m for m, when in rows
                 if "forbidden" in when or f"forbidden:{args.profile}" in when
                 or any(f"forbidden:{g}" in when for g in gates)]
    allowed_faults = [m for m, when in rows if f"allowed:{args.profile}" in when]
    if not os.path.exists(args.kernel):
        print(f"harness: {args.kernel} missing (run scripts/build.sh)", file=sys.stderr)
        return 2

    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    log_dir = os.path.join(ROOT, "build", "logs", f"{args.profile}-{stamp}")
    os.makedirs(log_dir, exist_ok=True)
    latest = os.path.join(ROOT, "build", "logs", "latest")
    if os.path.islink(latest) or os.path.exists(latest):
        os.remove(latest)
    os.symlink(os.path.basename(log_dir), latest)
    uart_path = os.path.join(log_dir, "uart.log")
    # Host peers of the network proofs (127.0.0.1 only, bounded by the run's
    # timeout); the guest learns they exist from `nexus.netpeers=1`.
    # The lite profile instead gets a dgram link to an Ethernet peer
    # (scripts/l2peer.py), which proves the UDP echo.
    if lite:
        peers = L2Peer(lambda m: print(m, flush=True), deadline_s=timeout)
    else:
        peers = NetPeers(lambda m: print(m, flush=True), deadline_s=timeout,
                         sink=args.profile == "bench-net")
    netdev = ["-netdev", peers.netdev()]
    # The storage profile boots on a fresh blank disk (STORAGE_DISK_KIB).
    disk = None
    if args.profile == "storage":
        disk = os.path.join(ROOT, "build", "storage-smoke.img")
        fresh_disk(disk, int(os.environ.get("STORAGE_DISK_KIB", "64")))
    extra = os.environ.get("NEXUS_BOOTARGS", "").strip()
    cmd = qemu_command(args.kernel, args.profile, args.icount, netdev,
                       ("" if lite else " nexus.netpeers=1") + (f" {extra}" if extra else ""), disk)
    print(f"harness: profile={args.profile} timeout={timeout:.0f}s until_marker={int(until_marker)} "
          f"gates={','.join(gates) or 'none'} log={os.path.relpath(uart_path, ROOT)}")
    print("harness: " + " ".join(cmd))

    seen = {}
    bad_lines = []
    lines = []
    forged = []
    start = time.monotonic()
    stderr_f = open(os.path.join(log_dir, "qemu.stderr"), "wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_f)
    reason = "timeout"
    try:
        with open(uart_path, "w", encoding="utf-8") as uart:
            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)
            pending = b""
            while True:
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    break
                if not sel.select(timeout=min(left, 0.2)):
                    if proc.poll() is not None:
                        reason = f"qemu exited ({proc.returncode})"
                        break
                    chunk = b""
                else:
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        reason = f"qemu exited ({proc.wait()})"
                        break
                pending += chunk
                *complete, pending = pending.split(b"\n")
                complete = [(None, raw.decode("utf-8", "replace").rstrip("\r")) for raw in complete]
                # Results the host-side peer proved are judged like guest
                # lines, as the harness's own.
                if hasattr(peers, "take_lines"):
                    complete += [("harness", l) for l in peers.take_lines()]
                now = time.monotonic() - start
                while complete:
                    origin, line = complete.pop(0)
                    if origin is None:
                        origin, text = split_origin(line)
                    else:
                        text, line = line, f"[{origin}] {line}"
                    lines.append((now, line))
                    uart.write(f"[{now:8.3f}] {line}\n")
                    peers.on_line(text)
                    for m in required:
                        if m not in seen and m in text:
                            if from_owner(owners, m, origin):
                                seen[m] = now
                            elif origin != "harness":
                                # Another task printed this marker: not
                                # counted. Say so as the harness's own line.
                                forged.append(line)
                                complete.append(("harness", f"SELFTEST: forged marker rejected ok "
                                                 f"('{m}' from {origin}, owner {owners.get(m)})"))
                    if any(f in line for f in forbidden) and not any(a in line for a in allowed_faults):
                        bad_lines.append(line)
                uart.flush()
                if until_marker and len(seen) == len(required):
                    reason = "all required markers seen"
                    break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stderr_f.close()
        peers.close()

    wall = time.monotonic() - start
    print(f"harness: stopped after {wall:.2f}s: {reason}")
    print(f"harness: host peers: {peers.summary()}")
    for m in required:
        t = f"{seen[m]:7.3f}s" if m in seen else "MISSING"
        print(f"  [{t}] {m}")
    missing = [m for m in required if m not in seen]
    for now, line in lines:
        text = split_origin(line)[1]
        if text.startswith("BENCH:") or text.startswith("init: ready") or "rtt_us=" in text:
            print(f"  figure [{now:7.3f}s] {line}")
    for line in forged[:10]:
        print(f"harness: ignored (marker from a task that does not own it): {line}")
    # The dsoftbus gate is a ladder: its markers must first appear in order.
    disorder = []
    if "dsoftbus" in gates:
        ladder = [m for m in required_for(rows, "-none-", ["dsoftbus"]) if m in seen]
        for a, b in zip(ladder, ladder[1:]):
            if seen[b] < seen[a]:
                disorder.append(f"'{b}' came before '{a}'")
    if disorder:
        print("harness: FAIL: dsoftbus ladder out of order: " + "; ".join(disorder))
    ok = not missing and not bad_lines and not disorder
    if bad_lines:
        print("harness: FAIL: forbidden lines:")
        for line in bad_lines[:10]:
            print(f"    {line}")
    if missing:
        print(f"harness: FAIL: {len(missing)} required marker(s) missing: " + "; ".join(missing))
    if not ok:
        print("harness: log tail:")
        for _, line in lines[-40:]:
            print(f"    {line}")
        return 1
    print(f"harness: PASS ({len(required)} markers, profile {args.profile})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
