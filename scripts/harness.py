#!/usr/bin/env python3
"""Boots neuron in QEMU and judges the run by the marker catalogue.

The catalogue is the table in docs/markers.md: one row per marker with a
`when` column saying in which profile/gate it is required, or that it is
forbidden. It is read through `nexuslab.catalogue`, so markers are not
scattered over scripts; the QEMU command, the UART reader, the stop routine
and the host peers are those of the `nexuslab` library. See
docs/harness.md for the contract.

Exit status: 0 when every required marker appeared and no forbidden line did;
1 otherwise (the missing markers, forbidden lines and the log tail are
printed); 2 for a usage/setup error.
"""
import argparse
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nexuslab import ROOT, ports, qemu  # noqa: E402
from nexuslab.catalogue import Catalogue, Learnt  # noqa: E402
from nexuslab.l2peer import L2Peer  # noqa: E402
from nexuslab.netpeers import NetPeers  # noqa: E402

GATES = {"REQUIRE_QEMU_DHCP": "dhcp", "REQUIRE_DSOFTBUS": "dsoftbus"}


def log_dir_for(name):
    """build/logs/<name>-<time>/, and build/logs/latest pointing to it."""
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    log_dir = os.path.join(ROOT, "build", "logs", f"{name}-{stamp}")
    os.makedirs(log_dir, exist_ok=True)
    latest = os.path.join(ROOT, "build", "logs", "latest")
    if os.path.islink(latest) or os.path.exists(latest):
        os.remove(latest)
    os.symlink(os.path.basename(log_dir), latest)
    return log_dir


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
        args.kernel = qemu.default_kernel(args.profile)

    until_marker = os.environ.get("RUN_UNTIL_MARKER", "0") == "1"
    timeout = float(os.environ.get("RUN_TIMEOUT", "90"))
    gates = [g for env, g in GATES.items() if os.environ.get(env) == "1"]

    cat = Catalogue()
    required = cat.required(args.profile)
    if not required:
        print(f"harness: no markers catalogued as required for profile '{args.profile}'", file=sys.stderr)
        return 2
    for g in gates:
        gated = cat.required(None, [g])
        if not gated:
            # A gate that cannot be proven in this image fails loudly.
            print(f"harness: gate '{g}' was required, but this image has no '{g}' proof "
                  f"(no marker catalogued as required:{g}); failing instead of passing")
            return 1
        required += [m for m in gated if m not in required]
    forbidden = cat.forbidden(args.profile, gates)
    allowed_faults = cat.allowed(args.profile)
    figures = cat.figures()
    if not os.path.exists(args.kernel):
        print(f"harness: {args.kernel} missing (run scripts/build.sh)", file=sys.stderr)
        return 2

    log_dir = log_dir_for(args.profile)
    uart_path = os.path.join(log_dir, "uart.log")
    # Host peers of the network proofs (127.0.0.1 only, bounded by the run's
    # timeout); the guest learns they exist from `nexus.netpeers=1`.
    # The lite profile instead gets a dgram link to an Ethernet peer
    # (nexuslab.l2peer), which proves the UDP echo.
    say = lambda m: print(m, flush=True)  # noqa: E731
    if lite:
        peers = L2Peer(cat, say, deadline_s=timeout)
    else:
        peers = NetPeers(cat, say, deadline_s=timeout, sink=args.profile == "bench-net")
    # A profile that runs storaged (storage, smoke) boots on a fresh blank
    # disk, build/<profile>-smoke.img (DISK_KIB, default 64).
    disk = qemu.profile_disk(args.profile, name=f"{args.profile}-smoke")
    extra = os.environ.get("NEXUS_BOOTARGS", "").strip()
    bootargs = ("" if lite else "nexus.netpeers=1") + (f" {extra}" if extra else "")

    def make_cmd():
        return qemu.command(args.kernel, args.profile, peers.net(), bootargs=bootargs,
                            icount=args.icount, disk=disk)

    print(f"harness: profile={args.profile} timeout={timeout:.0f}s until_marker={int(until_marker)} "
          f"gates={','.join(gates) or 'none'} log={os.path.relpath(uart_path, ROOT)}")

    seen = {}
    bad_lines = []
    forged = []
    start = time.monotonic()
    reason = "timeout"
    vm = None
    idx = 0

    # Ids the nodes make at boot (`learn:` rows), named by `{...}` in markers.
    learnt = Learnt(cat)

    def judge(rec):
        learnt.feed(rec.origin, rec.text)
        for m in required:
            text = learnt.expand(m)
            if m not in seen and text is not None and text in rec.text:
                if cat.from_owner(m, rec.origin):
                    seen[m] = rec.t
                elif rec.origin != "harness":
                    # Another task printed this marker: not counted. Say so
                    # as the harness's own line.
                    forged.append(rec.raw)
                    vm.inject(f"SELFTEST: forged marker rejected ok "
                              f"('{m}' from {rec.origin}, owner {cat.owner(m)})")
        if any(f is not None and f in rec.raw for f in map(learnt.expand, forbidden)) and not any(a in rec.raw for a in allowed_faults):
            bad_lines.append(rec.raw)

    try:
        try:
            vm = qemu.boot("harness", make_cmd, say=say, log_path=uart_path,
                           stderr_path=os.path.join(log_dir, "qemu.stderr"), t0=start,
                           on_line=peers.on_line)
        except ports.PortConflict as e:
            print(f"harness: FAIL: QEMU could not bind its ports after {ports.ATTEMPTS} tries: {e}")
            return 1
        print("harness: " + " ".join(vm.cmd))
        while True:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                break
            new, idx, ended = vm.read_from(idx, min(left, 0.2))
            # Results the host-side peer proved are judged like guest
            # lines, as the harness's own.
            for text in peers.take_lines():
                vm.inject(text)
            for rec in new:
                judge(rec)
            if until_marker and len(seen) == len(required):
                reason = "all required markers seen"
                break
            if ended:
                reason = f"qemu exited ({vm.proc.wait()})"
                break
    finally:
        if vm:
            vm.stop()
            # Lines the harness added while stopping are judged too.
            for rec in vm.read_from(idx, 0)[0]:
                judge(rec)
        peers.close()

    wall = time.monotonic() - start
    print(f"harness: stopped after {wall:.2f}s: {reason}")
    print(f"harness: host peers: {peers.summary()}")
    if learnt.values:
        print("harness: learnt " + " ".join(f"{{{k}}}={v}" for k, v in learnt.values.items()))
    for m in required:
        t = f"{seen[m]:7.3f}s" if m in seen else "MISSING"
        print(f"  [{t}] {m}")
    missing = [m for m in required if m not in seen]
    for rec in vm.lines:
        if any(f in rec.text for f in figures):
            print(f"  figure [{rec.t:7.3f}s] {rec.raw}")
    for line in forged[:10]:
        print(f"harness: ignored (marker from a task that does not own it): {line}")
    # The dsoftbus gate is a ladder: its markers must first appear in order.
    disorder = []
    if "dsoftbus" in gates:
        ladder = [m for m in cat.required(None, ["dsoftbus"]) if m in seen]
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
        for rec in vm.lines[-40:]:
            print(f"    {rec.raw}")
        return 1
    print(f"harness: PASS ({len(required)} markers, profile {args.profile})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
