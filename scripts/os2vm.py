#!/usr/bin/env python3
"""Two-VM harness: cross-VM discovery, authenticated sessions, PIN pairing (B shows
a PIN, the harness types a wrong one and then the right one on A's console),
applications on the bus interface (remote proxy, echo, a 16 MiB stream beside raw TCP,
interactive latency, backpressure), a restart of VM B and a reboot of both
VMs on their disks (identities kept). See docs/os2vm.md.

The VMs share one L2 link carried by QEMU `-netdev dgram` between two UDP
sockets on 127.0.0.1 (no user networking, no DHCP, no multicast, no tap).
Addresses come from the boot profiles (os2vm-a 10.42.0.10/24, os2vm-b
10.42.0.11/24). Each VM has its own fresh disk (build/os2vm-a.img,
build/os2vm-b.img) where storaged keeps dsoftbusd's identity: the harness
learns each VM's device id from its `identity created` line and completes the
rows that name the other device with that id (PEER_ID_KEYS). Markers come from
docs/markers.md (`required:os2vm-a`, `required:os2vm-b`, `required:os2vm-restart`,
`required:os2vm-restart-b`, `required:os2vm-reboot` rows, and the 16 MiB transfers'
`required:os2vm-a-bulk` / `required:os2vm-b-bulk` rows except in a lossy
run; the lines a phase waits for or reads figures from are its `peer:`
rows). QEMU commands, UART
readers, the stop routine and ports are those of the `nexuslab` library.
Every phase is bounded; both VMs are always stopped (by the PIDs this
script started). The exit status is the verdict; a failure names the phase,
the node and the missing marker(s).

Environment: OS2VM_TIMEOUT (seconds per phase, default 60), NO_BUILD=1,
OS2VM_PCAP=<file> (dump VM A's link with QEMU filter-dump),
OS2VM_RESTART=0 to skip the restart and reboot phases, OS2VM_DISK_KIB (each
disk's size, default 64),
OS2VM_LOSSY=drop,dup,corrupt,reorder[,seed] (e.g. 0.05,0.01,0.01,0.02,7) to
put the lossy relay (nexuslab.lossy_relay) between the VMs.
"""
import collections
import datetime
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nexuslab import ROOT, ports, qemu  # noqa: E402
from nexuslab import report as timeline  # noqa: E402
from nexuslab.catalogue import Catalogue  # noqa: E402
from nexuslab.lossy_relay import LossyRelay  # noqa: E402

CAT = Catalogue()
KERNEL = os.path.join(ROOT, "build", "neuron.elf")
MAC = {"A": "02:00:00:00:00:0a", "B": "02:00:00:00:00:0b", "C": "02:00:00:00:00:0c"}
PROFILE = {"A": "os2vm-a", "B": "os2vm-b"}
DISK = {n: os.path.join(ROOT, "build", f"os2vm-{n.lower()}.img") for n in ("A", "B")}
# Rows whose marker is followed by the *other* VM's device id, and rows followed by
# the VM's own id: a line counts for them only with that id after the marker.
PEER_ID_KEYS = ("os2vm-discovered", "os2vm-bound", "os2vm-auth", "os2vm-session",
                "os2vm-expired", "os2vm-reconnected")
OWN_ID_KEYS = ("identity-created", "identity-loaded")
DEVICE_ID = re.compile(r"[0-9a-f]{32}")


class Node:
    """One VM of the pair: its name, its dgram link's local port (QEMU binds
    it) and the remote port it sends to (the other VM, the relay, or a port
    of a `nexuslab.hub.Hub`). `profile` (default PROFILE[name]) and
    `bootargs` let `scripts/os2vm-attack.py` reuse it (its VM C, and A's
    `nexus.attack=1`)."""

    def __init__(self, name, log_dir, t0, pcap=None, profile=None, bootargs=""):
        self.name, self.log_dir, self.t0, self.pcap = name, log_dir, t0, pcap
        self.profile, self.bootargs = profile or PROFILE[name], bootargs
        self.vm = None
        self.runs = []  # every run of this VM, for the report: (Vm, start, stop)
        self.id = None      # learnt from this VM's `identity created` line
        self.other = None   # the other Node

    def command(self, local, remote):
        return qemu.command(KERNEL, self.profile, qemu.DgramNet(local, remote),
                            mac=MAC[self.name], pcap=self.pcap, disk=DISK.get(self.name),
                            bootargs=self.bootargs)

    def start(self, local, remote):
        """Starts the VM once; raises ports.PortConflict if QEMU could not bind `local`."""
        cmd = self.command(local, remote)
        return self._boot(lambda: cmd, attempts=1)

    def start_on_hub(self, hub, i):
        """Starts the VM on port `i` of `hub`: QEMU binds a fresh local port,
        registered with the hub, on every attempt (bounded retry)."""
        def make():
            local = ports.qemu_port("udp")
            hub.attach(i, local)
            return self.command(local, hub.port(i))
        return self._boot(make, attempts=ports.ATTEMPTS)

    def _boot(self, make, attempts):
        t_start = time.monotonic() - self.t0
        # A's console input carries the pairing PINs the harness types.
        self.vm = qemu.boot(self.name, make, attempts=attempts, stdin_pipe=(self.name == "A"),
                            log_path=os.path.join(self.log_dir, f"{self.name}-uart.log"),
                            stderr_path=os.path.join(self.log_dir, f"{self.name}-qemu.stderr"),
                            t0=self.t0)
        self.runs.append([self.vm, t_start, None])
        return self.vm

    def completed(self, marker):
        """What a line must hold for `marker`: the marker, followed by the other
        VM's id or this VM's own id for the rows that name one (None while that
        id is not known)."""
        if marker in {CAT.marker(k) for k in PEER_ID_KEYS}:
            return marker + self.other.id if self.other.id else None
        if self.id and marker in {CAT.marker(k) for k in OWN_ID_KEYS}:
            return marker + self.id
        return marker

    def first(self, marker, since=0.0):
        want = self.completed(marker)
        if want is None:
            return None
        rec = self.vm.first(lambda r: CAT.counts(marker, r.origin, r.text) and want in r.text,
                            since)
        return rec.t if rec else None

    def key(self, key, since=0.0):
        """Time of the first line showing the `peer:<key>` marker (completed
        with the id its row names), or None."""
        return self.first(CAT.marker(key), since)

    def learn_id(self):
        """This VM's device id from its `identity created` line, or None."""
        for r in self.vm.all(lambda r: CAT.seen("identity-created", r.origin, r.text)):
            m = DEVICE_ID.match(CAT.after("identity-created", r.origin, r.text))
            return m.group(0) if m else None
        return None

    def lines_of(self, key):
        return self.vm.all(lambda r: CAT.seen(key, r.origin, r.text))

    def stop(self):
        if self.vm:
            self.vm.stop()
            if self.runs and self.runs[-1][2] is None:
                self.runs[-1][2] = time.monotonic() - self.t0


def new_log_dir(run):
    """build/logs/<run>-<time>/, created."""
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    path = os.path.join(ROOT, "build", "logs", f"{run}-{stamp}")
    os.makedirs(path, exist_ok=True)
    return path


def start_pair(a, b, relay):
    """Starts both VMs on fresh link ports; when QEMU finds a port taken,
    stops what started and tries again with new ports (bounded)."""
    for attempt in range(1, ports.ATTEMPTS + 1):
        pa, pb = ports.qemu_port("udp"), ports.qemu_port("udp")
        # Each VM's remote end: the other VM, or the lossy relay's socket for it.
        ra, rb = pb, pa
        if relay:
            ra, rb = relay.ports()
            relay.start(pa, pb)
        try:
            a.start(pa, ra)
            b.start(pb, rb)
            return pa, pb, rb
        except ports.PortConflict as e:
            a.stop()
            b.stop()
            if attempt == ports.ATTEMPTS:
                raise
            print(f"os2vm: {e}; retrying with fresh ports ({attempt}/{ports.ATTEMPTS})")
    raise AssertionError("unreachable")


def wait_markers(phase, want, timeout, forbidden):
    """want: list of (node, marker, since). Returns the list still missing."""
    end = time.monotonic() + timeout
    while True:
        missing = [(n, m) for n, m, since in want if n.first(m, since) is None]
        bad = [(n, r.raw) for n in {n for n, _, _ in want}
               for r in n.vm.all(lambda r: any(f in r.raw for f in forbidden))]
        if bad:
            for n, line in bad[:5]:
                print(f"os2vm: FAIL phase={phase} node={n.name}: forbidden line: {line}")
            return missing or [(bad[0][0], "no forbidden lines")]
        if not missing:
            return []
        if time.monotonic() > end:
            return missing
        for n, _, _ in want:
            if not n.vm.running():
                print(f"os2vm: node {n.name} exited early ({n.vm.proc.returncode})")
                return missing
        time.sleep(0.1)


def main():
    timeout = float(os.environ.get("OS2VM_TIMEOUT", "60"))
    do_restart = os.environ.get("OS2VM_RESTART", "1") != "0"
    pcap = os.environ.get("OS2VM_PCAP")
    if os.environ.get("NO_BUILD") != "1":
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "build.sh")], check=True)
    # The 16 MiB transfers (bus stream and its raw-TCP reference) run at ~0.1 MB/s
    # through the lossy relay, far beyond a phase's bound: lossy runs leave them out.
    lossy_run = bool(os.environ.get("OS2VM_LOSSY"))
    need_a = CAT.required("os2vm-a", [] if lossy_run else ["os2vm-a-bulk"])
    need_b = CAT.required("os2vm-b", [] if lossy_run else ["os2vm-b-bulk"])
    need_restart = CAT.required("os2vm-restart")
    need_restart_b = CAT.required("os2vm-restart-b")
    forbidden = CAT.forbidden()
    if not need_a or not need_b:
        print("os2vm: no markers catalogued for os2vm-a/os2vm-b; failing")
        return 2

    log_dir = new_log_dir("os2vm")
    relay = None
    lossy = os.environ.get("OS2VM_LOSSY")
    if lossy:
        v = [float(x) for x in lossy.split(",")]
        seed = int(v[4]) if len(v) > 4 else 1
        relay = LossyRelay(seed, *v[:4])
        print(f"os2vm: lossy relay drop={v[0]} dup={v[1]} corrupt={v[2]} reorder={v[3]} seed={seed}")
    t0 = time.monotonic()
    a = Node("A", log_dir, t0, pcap)
    b = Node("B", log_dir, t0)
    a.other, b.other = b, a
    nodes = [a, b]
    kib = int(os.environ.get("OS2VM_DISK_KIB", "64"))
    for n in nodes:
        qemu.fresh_disk(DISK[n.name], kib)
    verdict = 1
    try:
        try:
            pa, pb, rb = start_pair(a, b, relay)
        except ports.PortConflict as e:
            print(f"os2vm: FAIL: the link's ports stayed taken after {ports.ATTEMPTS} tries: {e}")
            return 1
        print(f"os2vm: link 127.0.0.1:{pa} <-> 127.0.0.1:{pb} (dgram); logs {os.path.relpath(log_dir, ROOT)}")
        if not learn_ids(a, b, timeout, forbidden):
            return 1
        if not pair(a, b, timeout, forbidden):
            return 1
        want = [(a, m, 0.0) for m in need_a] + [(b, m, 0.0) for m in need_b]
        missing = wait_markers("sessions", want, timeout, forbidden)
        report(a, need_a, 0.0)
        report(b, need_b, 0.0)
        if missing:
            for n, m in missing:
                print(f"os2vm: FAIL phase=sessions node={n.name} missing: {n.completed(m) or m}")
            return 1
        figures(a, b)
        if do_restart and need_restart:
            print("os2vm: phase restart: stopping VM B")
            b.stop()
            t_stop = time.monotonic() - t0
            # A must notice on its own: B's entry expires and the session closes.
            expired = CAT.marker("os2vm-expired")
            missing = wait_markers("restart", [(a, expired, t_stop)], timeout, forbidden)
            if missing:
                print(f"os2vm: FAIL phase=restart node=A missing: {a.completed(expired)}")
                return 1
            print(f"  figure: A noticed B was gone after {a.key('os2vm-expired', t_stop) - t_stop:.2f}s")
            # B comes back on the same port: A's link still points there.
            try:
                b.start(pb, rb)
            except ports.PortConflict as e:
                print(f"os2vm: FAIL phase=restart node=B: its link port was taken meanwhile: {e}")
                return 1
            want = [(a, m, t_stop) for m in need_restart] + [(b, m, t_stop) for m in need_restart_b]
            missing = wait_markers("restart", want, timeout, forbidden)
            report(a, need_restart, t_stop)
            report(b, need_restart_b, t_stop)
            if missing:
                for n, m in missing:
                    print(f"os2vm: FAIL phase=restart node={n.name} missing: {n.completed(m) or m}")
                return 1
            t_re = a.key("os2vm-reconnected", t_stop)
            print(f"  figure: B stopped at {t_stop:.2f}s; A re-authenticated B after {t_re - t_stop:.2f}s")
            if relay:
                print("os2vm: phase reboot skipped (not through the lossy relay)")
            elif not reboot_both(a, b, timeout, forbidden):
                return 1
        handshake_median(nodes)
        rtt_cost(nodes)
        stream_cost(nodes)
        verdict = 0
        print("os2vm: PASS")
        return 0
    finally:
        for n in nodes:
            n.stop()
        write_report(nodes, verdict, time.monotonic() - t0)
        if relay:
            relay.close()
            print(f"os2vm: relay: {relay.summary()}")
            closed = [(n, r) for n in nodes if n.vm for r in n.lines_of("session-closed")]
            # Why sessions closed (e.g. records the AEAD rejected), from the
            # reason dsoftbusd prints in parentheses.
            reasons = collections.Counter(
                m.group(1) for _, r in closed for m in [re.search(r"\((.*)\)\s*$", r.text)] if m)
            print("os2vm: sessions closed by reason: "
                  + (", ".join(f"{k}={v}" for k, v in sorted(reasons.items())) or "none")
                  + " (corrupted frames mostly fail the IPv4/TCP checksums first and are retransmitted)")
            for n, r in closed:
                print(f"  {n.name}: {r.raw}")
        if verdict:
            for n in nodes:
                if n.vm:
                    print(f"os2vm: node {n.name} log tail:")
                    for rec in n.vm.lines[-15:]:
                        print(f"    {rec.raw}")


def write_report(nodes, verdict, t_end):
    """build/reports/os2vm.html: both VMs' timelines, the pair and the figures."""
    lanes, finals, figs = [], {}, []
    for n in nodes:
        me, events = None, []
        for vm, _, _ in n.runs:
            m, ev = timeline.bus_events(vm)
            me, events = me or m, events + ev
        if n.vm:
            finals[n.name] = timeline.live_peers(timeline.bus_events(n.vm)[1])
            figs += [r.raw for k in ("os-session", "bus-bench", "bus-stream", "bus-echo",
                                     "bus-interactive", "bus-backpressure",
                                     "bus-backpressure-receiver") for r in n.lines_of(k)]
        lanes.append(timeline.Lane(n.name, me, [(a, b) for _, a, b in n.runs], events))
    path = os.path.join(ROOT, "build", "reports", "os2vm.html")
    try:
        timeline.write(path, "just os2vm", "PASS" if verdict == 0 else "FAIL", lanes, t_end,
                     timeline.pair_cells(lanes, finals), figs,
                     notes="Two Neuron VMs on one loopback L2 link; B is stopped and started again "
                           "in the restart phase.")
        print(f"os2vm: report {os.path.relpath(path, ROOT)}")
    except OSError as e:
        print(f"os2vm: report not written: {e}")


def report(node, markers, since):
    for m in markers:
        t = node.first(m, since)
        m = node.completed(m) or m
        print(f"  [{node.name} {t:7.3f}s] {m}" if t is not None else f"  [{node.name} MISSING] {m}")


def learn_ids(a, b, timeout, forbidden):
    """Phase identity: each VM created its identity on its blank disk; learns
    both ids (they must differ: two devices)."""
    created = CAT.marker("identity-created")
    missing = wait_markers("identity", [(a, created, 0.0), (b, created, 0.0)], timeout, forbidden)
    for n in (a, b):
        n.id = n.learn_id()
    if missing or not a.id or not b.id:
        for n in (a, b):
            if not n.id:
                print(f"os2vm: FAIL phase=identity node={n.name} missing: {created}<device id>")
        return False
    if a.id == b.id:
        print(f"os2vm: FAIL phase=identity: both VMs created the same id {a.id}")
        return False
    print(f"os2vm: identities created A={a.id} B={b.id}")
    return True


def pair(a, b, timeout, forbidden):
    """Phase pairing: B's `bus-pair` shows a PIN; the harness types a wrong PIN
    on A's console and, once A reported it refused (and rate limited), the right
    one. `SELFTEST: pairing ok` is then one of A's required markers."""
    shown = CAT.marker("pairing-pin")
    missing = wait_markers("pairing", [(b, shown, 0.0)], timeout, forbidden)
    pin = None
    for r in b.lines_of("pairing-pin"):
        m = re.match(r"(\d{6})\b", CAT.after("pairing-pin", r.origin, r.text))
        pin = m.group(1) if m else None
    if missing or pin is None:
        print(f"os2vm: FAIL phase=pairing node=B missing: {shown}<6 digits>")
        return False
    wrong = f"{(int(pin) + 1) % 1000000:06d}"
    a.vm.write(f"{wrong}\n".encode())
    refused = CAT.marker("pairing-wrong")
    missing = wait_markers("pairing", [(a, refused, 0.0)], timeout, forbidden)
    if missing:
        print(f"os2vm: FAIL phase=pairing node=A missing: {refused}")
        return False
    a.vm.write(f"{pin}\n".encode())
    print(f"os2vm: pairing: B showed {pin}; typed {wrong} (refused) then {pin} on A's console")
    return True


def reboot_both(a, b, timeout, forbidden):
    """Phase reboot: both VMs stopped and started again on the same disks; each
    must load the identity it created (same id) and the sessions must come
    back, checked against the ids learnt at creation. Then the harness reports
    it as its own line (catalogued, emitted by `harness`)."""
    print("os2vm: phase reboot: stopping both VMs, starting them on the same disks")
    a.stop()
    b.stop()
    t_boot = time.monotonic() - a.t0
    try:
        start_pair(a, b, None)
    except ports.PortConflict as e:
        print(f"os2vm: FAIL phase=reboot: the link's ports stayed taken: {e}")
        return False
    need = CAT.required("os2vm-reboot")
    if not need:
        print("os2vm: FAIL phase=reboot: no markers catalogued for os2vm-reboot")
        return False
    need_a = CAT.required("os2vm-reboot-a")
    want = [(n, m, t_boot) for n in (a, b) for m in need] + [(a, m, t_boot) for m in need_a]
    missing = wait_markers("reboot", want, timeout, forbidden)
    report(a, need + need_a, t_boot)
    report(b, need, t_boot)
    if missing:
        for n, m in missing:
            print(f"os2vm: FAIL phase=reboot node={n.name} missing: {n.completed(m) or m}")
        return False
    # Every identity line of the new boots names the id created on the first one.
    for n in (a, b):
        for key in OWN_ID_KEYS:
            for r in n.vm.all(lambda r, key=key: CAT.seen(key, r.origin, r.text)):
                got = DEVICE_ID.match(CAT.after(key, r.origin, r.text))
                if not got or got.group(0) != n.id:
                    print(f"os2vm: FAIL phase=reboot node={n.name}: {r.raw} (created id {n.id})")
                    return False
    kept = f"SELFTEST: identity kept across reboot ok A={a.id} B={b.id}"
    a.vm.inject(kept)
    print(f"  {kept}")
    return True


def handshake_median(nodes):
    """The `xk handshake` benchmark line: the median of every session handshake of the run
    (both VMs, every phase), from dsoftbusd's own `os session ok ...
    handshake_us=` lines (`dir=out`: dial to established, `dir=in`: accept to
    established; `busy_us=` is the part spent in dsoftbusd's own steps)."""
    samples = {"out": [], "in": []}
    busy = []
    for n in nodes:
        for vm, _, _ in n.runs:
            for r in vm.all(lambda r: CAT.seen("os-session", r.origin, r.text)):
                m = re.search(r"dir=(in|out) handshake_us=(\d+)", r.text)
                if m:
                    samples[m.group(1)].append(int(m.group(2)))
                b = re.search(r"busy_us=(\d+)", r.text)
                if b:
                    busy.append(int(b.group(1)))
    every = samples["out"] + samples["in"]
    if not every:
        print(f"  {CAT.marker('bench-figure')} xk handshake none (no session line with handshake_us)")
        return

    def med(v):
        return statistics.median(v) / 1000 if v else float("nan")

    print(f"  {CAT.marker('bench-figure')} xk handshake median_ms={med(every):.2f} n={len(every)} "
          f"out_median_ms={med(samples['out']):.2f} in_median_ms={med(samples['in']):.2f} "
          f"min_ms={min(every) / 1000:.2f} max_ms={max(every) / 1000:.2f} "
          f"busy_median_ms={med(busy):.2f}")


def rtt_cost(nodes, rounds=200):
    """`BENCH: bus rtt cost`: what one bus record round trip costs each VM's
    dsoftbusd, from the first two `dsoftbusd: loop` lines of its first run
    (logged with the `stats` calls that bracket the round trips: bus-selftest's
    on A, bus-echo's on B; docs/performance.md)."""
    for n in nodes:
        if not n.runs:
            continue
        vm = n.runs[0][0]
        rows = []
        for r in vm.all(lambda r: CAT.seen("dsoftbusd-loop", r.origin, r.text)):
            rows.append(dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", r.text)))
        if len(rows) < 2:
            print(f"  {CAT.marker('bench-figure')} bus rtt cost node={n.name} none "
                  f"({len(rows)} loop lines)")
            continue
        first, last = rows[0], rows[1]
        per = " ".join(f"{k}_per_rt={(last.get(k, 0) - first.get(k, 0)) / rounds:.2f}"
                       for k in ("facade_calls", "wakes", "notifies", "passes", "bus_calls"))
        print(f"  {CAT.marker('bench-figure')} bus rtt cost node={n.name} {per} rounds={rounds}")


def stream_cost(nodes):
    """`BENCH: bus stream cost`: where each VM's dsoftbusd spent the bulk phase, per
    payload byte (host ticks of `rdinstret`), from the difference of its second and
    third `dsoftbusd: loop` lines of the first run (after the round trips, and after
    the stream: bus-selftest's backpressure `stats` on A, bus-sink's on B; the
    backpressure phase adds about 1 % of bytes on A; docs/performance.md)."""
    for n in nodes:
        if not n.runs:
            continue
        vm = n.runs[0][0]
        rows = []
        for r in vm.all(lambda r: CAT.seen("dsoftbusd-loop", r.origin, r.text)):
            rows.append(dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", r.text)))
        if len(rows) < 3 or "seal_ticks" not in rows[2]:
            print(f"  {CAT.marker('bench-figure')} bus stream cost node={n.name} none "
                  f"({len(rows)} loop lines)")
            continue
        d = {k: rows[2][k] - rows[1].get(k, 0) for k in rows[2]}
        nbytes = max(d["bytes_sealed"], d["bytes_opened"], 1)
        per_b = " ".join(f"{k}_per_byte={d[k] / nbytes:.1f}"
                         for k in ("seal_ticks", "open_ticks", "facade_ticks", "serve_ticks",
                                   "poll_ticks"))
        mib = nbytes / (1 << 20)
        per_mib = " ".join(f"{k}_per_mib={d[k] / mib:.0f}"
                           for k in ("facade_calls", "wakes", "bus_calls", "records_sealed",
                                     "records_opened"))
        print(f"  {CAT.marker('bench-figure')} bus stream cost node={n.name} {per_b} "
              f"{per_mib} bytes={nbytes}")


def figures(a, b):
    disc = [a.key("os2vm-discovered"), b.key("os2vm-discovered")]
    auth = [a.key("os2vm-auth"), b.key("os2vm-auth")]
    print(f"  figure: discovery after {max(disc):.2f}s, first authenticated session after "
          f"{min(auth):.2f}s (from the start of both VMs)")
    for n in (a, b):
        for r in n.lines_of("os-session"):
            print(f"  figure: {n.name}: {r.raw}")
    # The bus proofs' own figures (throughput, latency, bounds), from their lines.
    for n, key in ((a, "bus-bench"), (b, "bus-stream"), (a, "bus-echo"), (a, "bus-rtt"),
                   (a, "bus-interactive"), (a, "bus-backpressure"),
                   (b, "bus-backpressure-receiver")):
        for r in n.lines_of(key):
            print(f"  figure: {r.raw}")


if __name__ == "__main__":
    sys.exit(main())
