#!/usr/bin/env python3
"""N-node mesh: N VMs on one L2 segment made of UDP sockets on 127.0.0.1
(`nexuslab.hub`), each with its own identity and static address (profiles
`mesh-1` .. `mesh-8`: 10.43.0.11 .. 10.43.0.18/24). See docs/mesh.md.

Provisioning by disk image: before the first boot the script makes each
node's key (`nexus-provision keygen`) and writes its disk build/mesh-<i>.img
(`nexus-provision disk`) holding that identity and every other node as a
trusted device (may open `nodeinfo`). Every node must load the identity it was
given (`identity loaded id=<its id>`, never `identity created`), load the
n-1 trust entries (`trust store ... stored=<n-1>`), and every session must be
with a trusted device (`auth ok ... trusted=yes`).

usage: python3 scripts/mesh.py [N]   (2..8, default 4; `just mesh [N]`)

Phases, each bounded by MESH_TIMEOUT (default 60 + 10*N seconds):
1. mesh: every node discovers every other and every pair authenticates a
   session (each node holds N-1 live sessions);
2. partition: the hub cuts the last node off; every other node expires it
   and it expires all of them, while the sessions among the others stay;
   then the hub heals it and the full mesh comes back (each side prints the
   reconnection), with no node restarted;
3. churn: each node in turn is stopped and started again (a new QEMU on a
   fresh port); the full mesh comes back, every other node authenticated the
   new run, and the other nodes' sessions among themselves stayed up.

The lines read are the catalogue's generic DSoftBus `peer:` rows (through
`nexuslab.report.bus_events`); forbidden markers fail the run. Figures:
time to full mesh, partition and heal times, restart times, sessions per
node, dsoftbusd's heap (from its session lines) and each QEMU's resident
memory. The report `build/reports/mesh.html` is written whatever the
verdict. Environment: NO_BUILD=1, MESH_TIMEOUT, QEMU_MEM (default 64M).
Every VM is stopped by the PID this script started.
"""
import datetime
import html
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nexuslab import ROOT, ports, qemu, report  # noqa: E402
from nexuslab.catalogue import Catalogue, fields  # noqa: E402
from nexuslab.hub import Hub  # noqa: E402

CAT = Catalogue()
KERNEL = os.path.join(ROOT, "build", "neuron.elf")
MAX_NODES = 8
REPORT = os.path.join(ROOT, "build", "reports", "mesh.html")


class Fail(Exception):
    pass


class Node:
    def __init__(self, idx, hub, log_dir, t0, mem):
        self.idx, self.hub, self.t0, self.mem = idx, hub, t0, mem
        self.name = f"mesh-{idx + 1}"
        self.log = os.path.join(log_dir, f"{self.name}-uart.log")
        self.err = os.path.join(log_dir, f"{self.name}-qemu.stderr")
        # Its own disk (build/mesh-<i>.img), written by `provision` before the
        # first boot and kept across the churn phase's restarts.
        self.disk = os.path.join(ROOT, "build", f"{self.name}.img")
        self.key = os.path.join(log_dir, "keys", f"{self.name}.key")
        self.given_id = None  # the device id of the key it was provisioned with
        self.runs = []      # every Vm this node ran, oldest first
        self.spans = []     # [start, stop or None] per run

    @property
    def vm(self):
        return self.runs[-1] if self.runs else None

    def start(self):
        def make():
            local = ports.qemu_port("udp")
            self.hub.attach(self.idx, local)
            return qemu.command(KERNEL, self.name, qemu.DgramNet(local, self.hub.port(self.idx)),
                                mac=f"02:00:00:00:01:{self.idx + 1:02x}", mem=self.mem,
                                disk=self.disk)
        t = time.monotonic() - self.t0
        vm = qemu.boot(self.name, make, log_path=self.log, stderr_path=self.err, t0=self.t0)
        self.runs.append(vm)
        self.spans.append([t, None])

    def stop(self):
        if self.vm and self.spans[-1][1] is None:
            self.vm.stop()
            self.spans[-1][1] = time.monotonic() - self.t0

    def state(self):
        """(own id, events, live peer ids) of the current run."""
        me, events = report.bus_events(self.vm, CAT)
        return me, events, report.live_peers(events)

    def rss_kib(self):
        try:
            with open(f"/proc/{self.vm.pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None


def now(t0):
    return time.monotonic() - t0


def provision_tool():
    """The host tool `nexus-provision` (built here unless NO_BUILD=1 and it exists)."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    tool = os.path.join(target, "debug", "nexus-provision")
    if os.environ.get("NO_BUILD") != "1" or not os.path.exists(tool):
        subprocess.run(["cargo", "build", "-q", "-p", "nexus-provision"], cwd=ROOT, check=True)
    return tool


def provision(nodes, tool, kib):
    """Each node's key, then its disk: its identity and every other node trusted
    (origin Provisioned, may open `nodeinfo`)."""
    for n in nodes:
        os.makedirs(os.path.dirname(n.key), exist_ok=True)
        out = subprocess.run([tool, "keygen", "--out", n.key], check=True,
                             capture_output=True, text=True).stdout
        n.given_id = fields(out).get("id")
        if not n.given_id:
            raise Fail(f"nexus-provision keygen printed no id: {out!r}")
    for n in nodes:
        cmd = [tool, "disk", "--image", n.disk, "--size-kib", str(kib), "--identity", n.key]
        for m in nodes:
            if m is not n:
                cmd += ["--trust", f"{m.key}:nodeinfo"]
        subprocess.run(cmd, check=True, capture_output=True, text=True)


def provisioned(nodes):
    """None when each node's current run loaded the identity it was given and
    every entry of its provisioned trust store, else what is missing. A node
    that made a new identity, or a session with an untrusted peer, fails."""
    miss = []
    for n in nodes:
        created = n.vm.all(lambda r: CAT.seen("identity-created", r.origin, r.text))
        if created:
            raise Fail(f"{n.name} created an identity instead of loading its disk's: {created[0].raw}")
        loaded = [fields("id=" + CAT.after("identity-loaded", r.origin, r.text)).get("id")
                  for r in n.vm.all(lambda r: CAT.seen("identity-loaded", r.origin, r.text))]
        if any(i != n.given_id for i in loaded):
            raise Fail(f"{n.name} loaded id {loaded} but was given {n.given_id}")
        if not loaded:
            miss.append(f"{n.name} identity loaded")
        stores = [fields(CAT.after("trust-store", r.origin, r.text))
                  for r in n.vm.all(lambda r: CAT.seen("trust-store", r.origin, r.text))]
        if not stores:
            miss.append(f"{n.name} trust store")
        elif stores[-1].get("stored") != str(len(nodes) - 1):
            raise Fail(f"{n.name} loaded {stores[-1].get('stored')} trust entries, "
                       f"provisioned {len(nodes) - 1}")
        for run in n.runs:
            _, events = report.bus_events(run, CAT)
            for e in events:
                if e.kind == "auth" and fields(e.detail).get("trusted") != "yes":
                    raise Fail(f"{n.name}: a session with an untrusted peer: {e.detail}")
    return ", ".join(miss) or None


def check_alive_and_clean(nodes, forbidden):
    for n in nodes:
        if not n.vm.running():
            raise Fail(f"node {n.name} exited ({n.vm.proc.returncode})")
        bad = n.vm.all(lambda r: any(f in r.raw for f in forbidden))
        if bad:
            raise Fail(f"node {n.name}: forbidden line: {bad[0].raw}")


# Longer than dsoftbus's crossing window (`defer_ns`, 1 s; docs/dsoftbus.md §11).
CROSSING_SETTLE_S = 1.5


def wait(nodes, forbidden, timeout, what, pred):
    """Polls pred() (which returns None when done, else what is missing) until
    done; raises Fail naming what is still missing at the bound."""
    end = time.monotonic() + timeout
    while True:
        check_alive_and_clean(nodes, forbidden)
        missing = pred()
        if missing is None:
            return
        if time.monotonic() > end:
            raise Fail(f"{what}: after {timeout:.0f}s still missing: {missing}")
        time.sleep(0.2)


def ids_of(nodes):
    out = {}
    for n in nodes:
        me, _, _ = n.state()
        if me:
            out[n.name] = me
    return out


def full_mesh(nodes, need_auth_since=None):
    """None when every node holds a session with every other (and, for
    `need_auth_since` = (node, t), every other node authenticated that node's
    new run at or after t); else a description of what is missing."""
    ids = ids_of(nodes)
    if len(ids) < len(nodes):
        return "ready lines of " + ", ".join(n.name for n in nodes if n.name not in ids)
    if len(set(ids.values())) < len(ids):
        raise Fail(f"two nodes share a device id: {ids}")
    for n in nodes:
        if ids[n.name] != n.given_id:
            raise Fail(f"{n.name} is ready as {ids[n.name]}, provisioned as {n.given_id}")
    miss = provisioned(nodes)
    if miss:
        return miss
    missing = []
    for n in nodes:
        _, events, live = n.state()
        for m in nodes:
            if m is n:
                continue
            if ids[m.name] not in live:
                missing.append(f"{n.name}->{m.name}")
            elif need_auth_since and m is need_auth_since[0]:
                t = need_auth_since[1]
                if not any(e.kind == "auth" and e.peer == ids[m.name] and e.t >= t for e in events):
                    missing.append(f"{n.name}->{m.name} (new run)")
    return ", ".join(missing) if missing else None


def last_auth_time(nodes):
    """When the current full mesh was complete: the latest authentication of
    a pair that is up now (each node's current run)."""
    ids = ids_of(nodes)
    t = 0.0
    for n in nodes:
        _, events, live = n.state()
        for m in nodes:
            if m is not n and ids.get(m.name) in live:
                ts = [e.t for e in events if e.kind == "auth" and e.peer == ids[m.name]]
                t = max(t, max(ts))
    return t


def others_closed(nodes, skip, since):
    """Sessions among nodes other than `skip` that closed at or after `since`."""
    ids = ids_of(nodes)
    out = []
    for n in nodes:
        if n is skip:
            continue
        _, events, _ = n.state()
        for e in events:
            if e.kind == "closed" and e.t >= since and e.peer != ids.get(skip.name):
                out.append(f"{n.name}: {e.detail} at {e.t:.2f}s")
    return out


def main(argv):
    n_nodes = int(argv[1]) if len(argv) > 1 and argv[1] else int(os.environ.get("MESH_NODES", "4"))
    if not 2 <= n_nodes <= MAX_NODES:
        print(f"mesh: N must be 2..{MAX_NODES} (got {n_nodes})")
        return 2
    timeout = float(os.environ.get("MESH_TIMEOUT", str(60 + 10 * n_nodes)))
    mem = os.environ.get("QEMU_MEM", "64M")
    if os.environ.get("NO_BUILD") != "1":
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "build.sh")], check=True)
    tool = provision_tool()
    forbidden = CAT.forbidden()
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    log_dir = os.path.join(ROOT, "build", "logs", f"mesh-{stamp}")
    os.makedirs(log_dir, exist_ok=True)
    hub = Hub(n_nodes)
    t0 = time.monotonic()
    nodes = [Node(i, hub, log_dir, t0, mem) for i in range(n_nodes)]
    figures, marks, spans = [], [], []
    verdict = "FAIL"
    phase = "start"

    def say(line):
        print(line)
        sys.stdout.flush()

    def fig(line):
        figures.append(line)
        say(f"  figure: {line}")

    try:
        t_p = time.monotonic()
        provision(nodes, tool, int(os.environ.get("DISK_KIB", "64")))
        say(f"mesh: provisioned {n_nodes} disks in {time.monotonic() - t_p:.2f}s: "
            + ", ".join(f"{n.name}={n.given_id}" for n in nodes)
            + f"; each trusts the other {n_nodes - 1} (may open nodeinfo)")
        t0 = time.monotonic()
        for n in nodes:
            n.t0 = t0
        say(f"mesh: {n_nodes} nodes on a hub of UDP sockets on 127.0.0.1 (ports "
            + ", ".join(str(hub.port(i)) for i in range(n_nodes)) + f"); memory {mem} each; "
            f"phase bound {timeout:.0f}s; logs {os.path.relpath(log_dir, ROOT)}")
        for n in nodes:
            n.start()
        t_started = now(t0)
        fig(f"all {n_nodes} VMs started after {t_started:.2f}s")

        phase = "mesh"
        wait(nodes, forbidden, timeout, "full mesh", lambda: full_mesh(nodes))
        t_full = last_auth_time(nodes)
        marks.append((t_full, "full mesh"))
        disc = []
        ids = ids_of(nodes)
        for n in nodes:
            _, events, _ = n.state()
            for m in nodes:
                if m is not n:
                    ts = [e.t for e in events if e.kind == "discovered" and e.peer == ids[m.name]]
                    if ts:
                        disc.append(ts[0])
        fig(f"time to full mesh {t_full:.2f}s from the first VM's start "
            f"({t_full - t_started:.2f}s after the last started); every pair discovered by "
            f"{max(disc):.2f}s; {n_nodes * (n_nodes - 1) // 2} pairs")
        rss = {n.name: n.rss_kib() for n in nodes}
        # Two sessions of one pair that crossed are resolved (the duplicate
        # closed) up to the daemon's 1 s crossing window after the second came
        # up: that close belongs to the mesh phase, not to the partition.
        time.sleep(CROSSING_SETTLE_S)

        phase = "partition"
        k = nodes[-1]
        t_cut = now(t0)
        hub.cut(k.idx)
        say(f"mesh: phase partition: hub cuts {k.name} off at {t_cut:.2f}s")

        def parted():
            ids = ids_of(nodes)
            miss = []
            _, _, live_k = k.state()
            if live_k:
                miss.append(f"{k.name} still holds {len(live_k)} session(s)")
            for n in nodes:
                if n is k:
                    continue
                _, events, live = n.state()
                if ids[k.name] in live:
                    miss.append(f"{n.name}->{k.name} still up")
                elif not any(e.kind == "expired" and e.peer == ids[k.name] and e.t >= t_cut
                             for e in events):
                    miss.append(f"{n.name} expiring {k.name}")
            return ", ".join(miss) or None
        wait(nodes, forbidden, timeout, "partition", parted)
        t_parted = now(t0)
        ids = ids_of(nodes)
        exp = [e.t for n in nodes if n is not k for e in n.state()[1]
               if e.kind == "expired" and e.peer == ids[k.name] and e.t >= t_cut]
        fig(f"partition: the others expired {k.name} {max(exp) - t_cut:.2f}s after the cut "
            f"(first {min(exp) - t_cut:.2f}s)")
        closed = others_closed(nodes, k, t_cut)
        if closed:
            raise Fail("sessions among the other nodes closed during the partition: " + "; ".join(closed))
        t_heal = now(t0)
        hub.heal(k.idx)
        spans.append((t_cut, t_heal, k.idx, f"{k.name} cut off {t_cut:.2f}s to {t_heal:.2f}s"))
        say(f"mesh: phase heal at {t_heal:.2f}s (partition held {t_heal - t_parted:.2f}s after it was seen)")

        def healed():
            miss = full_mesh(nodes)
            if miss:
                return miss
            ids = ids_of(nodes)
            for n in nodes:
                _, events, _ = n.state()
                want = [m for m in nodes if m is not n] if n is k else [k]
                for m in want:
                    if not any(e.kind == "reconnected" and e.peer == ids[m.name] and e.t >= t_heal
                               for e in events):
                        return f"{n.name} reconnecting {m.name}"
            return None
        phase = "heal"
        wait(nodes, forbidden, timeout, "heal", healed)
        t_back = last_auth_time(nodes)
        fig(f"heal: full mesh again {t_back - t_heal:.2f}s after the hub joined {k.name} again")
        closed = others_closed(nodes, k, t_cut)
        if closed:
            raise Fail("sessions among the other nodes closed around the partition: " + "; ".join(closed))
        marks.append((t_heal, "heal"))
        # The healed node's pairs settle too (crossing sessions, as above).
        time.sleep(CROSSING_SETTLE_S)

        phase = "churn"
        for n in nodes:
            t_r = now(t0)
            say(f"mesh: phase churn: restarting {n.name} at {t_r:.2f}s")
            n.stop()
            n.start()
            wait(nodes, forbidden, timeout, f"churn {n.name}",
                 lambda: full_mesh(nodes, need_auth_since=(n, t_r)))
            t_m = last_auth_time(nodes)
            fig(f"churn: {n.name} restarted at {t_r:.2f}s; full mesh again after {t_m - t_r:.2f}s")
            closed = others_closed(nodes, n, t_r)
            if closed:
                raise Fail(f"sessions among the other nodes closed while {n.name} restarted: "
                           + "; ".join(closed))
            # Let the restarted node's pairs settle before the next restart: two
            # sessions of one pair that crossed are resolved (the duplicate closed)
            # up to the daemon's 1 s crossing window after the second came up, and
            # that close belongs to this restart, not to the next one.
            time.sleep(CROSSING_SETTLE_S)

        phase = "figures"
        check_alive_and_clean(nodes, forbidden)
        for n in nodes:
            _, events, live = n.state()
            heaps = [int(e.detail.split("heap=")[1].split()[0]) for e in events
                     if e.kind == "session" and "heap=" in e.detail]
            heap = f"dsoftbusd heap {heaps[-1]} B at its last session (max {max(heaps)} B)" if heaps \
                else "dsoftbusd heap not printed"
            r1, r2 = rss.get(n.name), n.rss_kib()
            fig(f"{n.name}: sessions={len(live)} {heap}; QEMU RSS {r1} KiB at first full mesh, "
                f"{r2} KiB now (this run)")
        verdict = f"PASS nodes={n_nodes}"
        say(f"mesh: hub {hub.summary()}")
        say(f"mesh: PASS nodes={n_nodes}")
        return 0
    except Fail as e:
        say(f"mesh: FAIL phase={phase}: {e}")
        return 1
    except ports.PortConflict as e:
        say(f"mesh: FAIL phase={phase}: a link port stayed taken: {e}")
        return 1
    finally:
        t_end = now(t0)
        finals = {}
        lanes = []
        for n in nodes:
            me, events = None, []
            for vm in n.runs:
                m, ev = report.bus_events(vm, CAT)
                me = me or m
                events += ev
            if n.vm:
                finals[n.name] = n.state()[2]
            lanes.append(report.Lane(n.name, me, [tuple(s) for s in n.spans], events))
        for n in nodes:
            n.stop()
        hub.close()
        try:
            path = report.write(REPORT, f"just mesh ({n_nodes} nodes)", verdict, lanes, t_end,
                                report.pair_cells(lanes, finals), figures, spans, marks,
                                notes=f"{n_nodes} Neuron VMs on one hub of UDP sockets on 127.0.0.1; "
                                      f"logs in {html.escape(os.path.relpath(log_dir, ROOT))}.")
            print(f"mesh: report {os.path.relpath(path, ROOT)}")
        except OSError as e:
            print(f"mesh: report not written: {e}")
        if not verdict.startswith("PASS"):
            for n in nodes:
                if n.vm:
                    print(f"mesh: node {n.name} log tail:")
                    for rec in n.vm.lines[-12:]:
                        print(f"    {rec.raw}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
