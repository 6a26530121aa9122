#!/usr/bin/env python3
"""Two-VM harness: cross-VM discovery, authenticated sessions, remote proxy,
bulk throughput and a restart of VM B. See docs/os2vm.md.

The VMs share one L2 link carried by QEMU `-netdev dgram` between two UDP
sockets on 127.0.0.1 (no user networking, no DHCP, no multicast, no tap).
Addresses come from the boot profiles (os2vm-a 10.42.0.10/24, os2vm-b
10.42.0.11/24). Markers come from docs/markers.md (`required:os2vm-a`,
`required:os2vm-b`, `required:os2vm-restart` rows). Every phase is bounded;
both VMs are always stopped (by the PIDs this script started). The exit
status is the verdict; a failure names the phase, the node and the missing
marker(s).

Environment: OS2VM_TIMEOUT (seconds per phase, default 60), NO_BUILD=1,
OS2VM_PCAP=<file> (dump VM A's link with QEMU filter-dump),
OS2VM_RESTART=0 to skip the restart phase,
OS2VM_LOSSY=drop,dup,corrupt,reorder[,seed] (e.g. 0.05,0.01,0.01,0.02,7) to
put scripts/lossy-relay.py between the VMs.
"""
import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import load_catalogue, required_for, ROOT, CATALOGUE  # noqa: E402
from importlib import import_module  # noqa: E402

LossyRelay = import_module("lossy-relay").LossyRelay


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Vm:
    """One QEMU instance; a reader thread timestamps every UART line."""

    def __init__(self, name, profile, mac, local, remote, log_dir, t0, pcap=None):
        self.name, self.profile, self.t0 = name, profile, t0
        self.lines = []
        self.lock = threading.Lock()
        self.log_path = os.path.join(log_dir, f"{name}-uart.log")
        netdev = (f"dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={local},"
                  f"remote.type=inet,remote.host=127.0.0.1,remote.port={remote}")
        cmd = [
            "qemu-system-riscv64", "-machine", "virt", "-bios", "default", "-nographic",
            "-smp", "1", "-m", "256M", "-kernel", os.path.join(ROOT, "build", "neuron.elf"),
            "-append", f"nexus.profile={profile}",
            "-global", "virtio-mmio.force-legacy=false",
            "-device", f"virtio-net-device,netdev=n0,mac={mac}",
            "-device", "virtio-rng-device",
            "-netdev", netdev,
        ]
        if pcap:
            cmd += ["-object", f"filter-dump,id=f0,netdev=n0,file={pcap}"]
        self.cmd = cmd
        self.stderr = open(os.path.join(log_dir, f"{name}-qemu.stderr"), "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with open(self.log_path, "a", encoding="utf-8") as log:
            for raw in self.proc.stdout:
                now = time.monotonic() - self.t0
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self.lock:
                    self.lines.append((now, line))
                log.write(f"[{now:8.3f}] {line}\n")
                log.flush()

    def first(self, marker, since=0.0):
        with self.lock:
            for t, line in self.lines:
                if t >= since and marker in line:
                    return t
        return None

    def grep(self, pattern):
        with self.lock:
            return [(t, l) for t, l in self.lines if re.search(pattern, l)]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(timeout=2)
        self.stderr.close()


def wait_markers(phase, want, timeout, forbidden):
    """want: list of (vm, marker, since). Returns the list still missing."""
    end = time.monotonic() + timeout
    while True:
        missing = [(vm, m) for vm, m, since in want if vm.first(m, since) is None]
        bad = [(vm, l) for vm, _, _ in want for f in forbidden for _, l in vm.grep(re.escape(f))]
        if bad:
            for vm, line in bad[:5]:
                print(f"os2vm: FAIL phase={phase} node={vm.name}: forbidden line: {line}")
            return missing or [(bad[0][0], "no forbidden lines")]
        if not missing:
            return []
        if time.monotonic() > end:
            return missing
        for vm, _, _ in want:
            if vm.proc.poll() is not None:
                print(f"os2vm: node {vm.name} exited early ({vm.proc.returncode})")
                return missing
        time.sleep(0.1)


def main():
    timeout = float(os.environ.get("OS2VM_TIMEOUT", "60"))
    do_restart = os.environ.get("OS2VM_RESTART", "1") != "0"
    pcap = os.environ.get("OS2VM_PCAP")
    if os.environ.get("NO_BUILD") != "1":
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "build.sh")], check=True)
    rows = load_catalogue(CATALOGUE)
    # The 16 MiB transfers (bus stream and its raw-TCP reference) run at ~0.1 MB/s
    # through the lossy relay, far beyond a phase's bound: lossy runs leave them out.
    bulk = [] if os.environ.get("OS2VM_LOSSY") else ["os2vm-a-bulk"]
    need_a = required_for(rows, "os2vm-a", bulk)
    need_b = required_for(rows, "os2vm-b", [g.replace("-a-", "-b-") for g in bulk])
    need_restart = required_for(rows, "os2vm-restart", [])
    need_restart_b = required_for(rows, "os2vm-restart-b", [])
    forbidden = [m for m, when in rows if "forbidden" in when]
    if not need_a or not need_b:
        print("os2vm: no markers catalogued for os2vm-a/os2vm-b; failing")
        return 2

    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    log_dir = os.path.join(ROOT, "build", "logs", f"os2vm-{stamp}")
    os.makedirs(log_dir, exist_ok=True)
    pa, pb = free_udp_port(), free_udp_port()
    # Each VM's remote end: the other VM, or the lossy relay's socket for it.
    ra, rb = pb, pa
    relay = None
    lossy = os.environ.get("OS2VM_LOSSY")
    if lossy:
        v = [float(x) for x in lossy.split(",")]
        seed = int(v[4]) if len(v) > 4 else 1
        relay = LossyRelay(seed, *v[:4])
        ra, rb = relay.ports()
        relay.start(pa, pb)
        print(f"os2vm: lossy relay drop={v[0]} dup={v[1]} corrupt={v[2]} reorder={v[3]} seed={seed}")
    t0 = time.monotonic()
    vms = []
    verdict = 1
    try:
        a = Vm("A", "os2vm-a", "02:00:00:00:00:0a", pa, ra, log_dir, t0, pcap)
        b = Vm("B", "os2vm-b", "02:00:00:00:00:0b", pb, rb, log_dir, t0)
        vms = [a, b]
        print(f"os2vm: link 127.0.0.1:{pa} <-> 127.0.0.1:{pb} (dgram); logs {os.path.relpath(log_dir, ROOT)}")
        want = [(a, m, 0.0) for m in need_a] + [(b, m, 0.0) for m in need_b]
        missing = wait_markers("sessions", want, timeout, forbidden)
        report(a, need_a, 0.0)
        report(b, need_b, 0.0)
        if missing:
            for vm, m in missing:
                print(f"os2vm: FAIL phase=sessions node={vm.name} missing: {m}")
            return 1
        figures(a, b)
        if do_restart and need_restart:
            print("os2vm: phase restart: stopping VM B")
            b.stop()
            t_stop = time.monotonic() - t0
            # A must notice on its own: B's entry expires and the session closes.
            missing = wait_markers("restart", [(a, "dsoftbusd: peer expired id=9680d22d9a912b3bef0e55bcc5ecb685", t_stop)],
                                   timeout, forbidden)
            if missing:
                print("os2vm: FAIL phase=restart node=A missing: dsoftbusd: peer expired id=9680d22d9a912b3bef0e55bcc5ecb685")
                return 1
            print(f"  figure: A noticed B was gone after {a.first('dsoftbusd: peer expired', t_stop) - t_stop:.2f}s")
            b = Vm("B", "os2vm-b", "02:00:00:00:00:0b", pb, rb, log_dir, t0)
            vms = [a, b]
            want = [(a, m, t_stop) for m in need_restart] + [(b, m, t_stop) for m in need_restart_b]
            missing = wait_markers("restart", want, timeout, forbidden)
            report(a, need_restart, t_stop)
            if missing:
                for vm, m in missing:
                    print(f"os2vm: FAIL phase=restart node={vm.name} missing: {m}")
                return 1
            t_re = a.first("dsoftbusd: peer reconnected", t_stop)
            print(f"  figure: B stopped at {t_stop:.2f}s; A re-authenticated B after {t_re - t_stop:.2f}s")
        verdict = 0
        print("os2vm: PASS")
        return 0
    finally:
        for vm in vms:
            vm.stop()
        if relay:
            relay.close()
            print(f"os2vm: relay: {relay.summary()}")
            rejected = sum(len(vm.grep(r"DecryptFailed")) for vm in vms)
            print(f"os2vm: records rejected by the AEAD: {rejected} (corrupted frames fail the "
                  f"IPv4/TCP checksums first and are retransmitted)")
            for vm in vms:
                for _, line in vm.grep(r"dsoftbusd: session closed"):
                    print(f"  {vm.name}: {line}")
        if verdict:
            for vm in vms:
                print(f"os2vm: node {vm.name} log tail:")
                for _, line in vm.lines[-15:]:
                    print(f"    {line}")


def report(vm, markers, since):
    for m in markers:
        t = vm.first(m, since)
        print(f"  [{vm.name} {t:7.3f}s] {m}" if t is not None else f"  [{vm.name} MISSING] {m}")


def figures(a, b):
    disc = [vm.first("dsoftbusd: peer discovered") for vm in (a, b)]
    auth = [vm.first("dsoftbusd: auth ok") for vm in (a, b)]
    print(f"  figure: discovery after {max(disc):.2f}s, first authenticated session after "
          f"{min(auth):.2f}s (from the start of both VMs)")
    for vm in (a, b):
        for _, line in vm.grep(r"dsoftbusd: os session ok"):
            print(f"  figure: {vm.name}: {line}")
    for _, line in (a.grep(r"BENCH: bus stream") + b.grep(r"SELFTEST: bus stream ok")
                    + a.grep(r"SELFTEST: bus (echo|interactive|backpressure) ok")):
        print(f"  figure: {line}")


if __name__ == "__main__":
    sys.exit(main())
