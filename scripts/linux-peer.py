"""Linux on the bus (`just test-linux-peer`): `nexus-bus` against a VM over a tap.

Runs inside a private network namespace that `scripts/linux-peer.sh` creates
with `unshare -n`; before anything starts it checks that the namespace holds
only `lo`, and after creating the tap `nxbus0` (10.44.0.1/24 on the Linux
side) only `lo` and the tap; `nexuslab.qemu.TapNet` checks it again right
before QEMU starts (`nexuslab.netns`). Nothing is bridged: Linux's own TCP/IP
stack talks to the VM's smoltcp on that one segment.

One VM boots the `linux-peer` profile (static 10.44.0.10/24, rngd, storaged
on a fresh disk build/linux-peer.img, dsoftbusd with its own identity,
`bus-echo` publishing `echo`, the `linux-peer` test app publishing `sink` and
`source`). The harness learns the VM's device id from its `identity created`
line, then runs `nexus-bus` (target/release, the same `dsoftbus` crate over
real sockets) with a fresh state directory, each step bounded:

1. `nexus-bus id`, then `nexus-bus peers`: the VM's id is listed with its
   services, and the VM logs the Linux id as discovered and `auth ok`
   (Noise XK, identity bound).
2. Pairing: when the catalogue has the `pairing-pin` row (the trust branch:
   a VM app calls `show_pin` and prints the PIN), an untrusted `nexus-bus
   open` must be denied, `nexus-bus pair` with a wrong PIN must fail, and
   `nexus-bus pair <vm> <pin>` with the shown PIN must succeed; without the
   row this build has no pairing and the step says so (any authenticated
   peer may open a published service).
3. `nexus-bus open <vm> echo`: a line typed on standard input comes back.
4. `nexus-bus send <vm> sink`: 16 MiB of the pattern; the VM checks every
   byte (`sink verified bytes=16777216`) and answers `ok`.
5. `nexus-bus recv <vm> source`: the VM sends 16 MiB of the pattern; the
   harness compares the file byte for byte.

Then every marker the catalogue requires for `linux-peer` must have come
from its owner, no forbidden line may appear, and the figures are printed
(`BENCH: linux-peer tx MB/s=… rx MB/s=…`, measured by nexus-bus, and the
VM's own). Only processes started here are stopped (the Vm by its PID,
nexus-bus by its Popen handle). Logs: build/linux-peer/.
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nexuslab import ROOT, netns, qemu  # noqa: E402
from nexuslab.catalogue import Catalogue, fields  # noqa: E402

OUT = os.path.join(ROOT, "build", "linux-peer")
KERNEL = os.path.join(ROOT, "build", "neuron.elf")
NEXUS_BUS = os.environ.get("NEXUS_BUS", os.path.join(ROOT, "target", "release", "nexus-bus"))
PROFILE = "linux-peer"
TAP = "nxbus0"
HOST = "10.44.0.1"
BULK = 16 * 1024 * 1024
BOOT_TIMEOUT = int(os.environ.get("LINUX_PEER_BOOT_TIMEOUT", "180"))
STEP_TIMEOUT = int(os.environ.get("LINUX_PEER_STEP_TIMEOUT", "300"))
CAT = Catalogue()
KEYS = ("identity-created", "peer-discovered", "auth-ok", "linux-peer-ready",
        "linux-sink-verified", "linux-source-sent")
for _k in KEYS:
    CAT.marker(_k)  # fails at once, naming the key, when a row is missing
FORBIDDEN = CAT.forbidden(PROFILE)


def mbs(text):
    """The `MB/s=<x>` figure of a line, or "?"."""
    m = re.search(r"MB/s=([0-9.]+)", text)
    return m.group(1) if m else "?"


def log(msg):
    print(f"linux-peer: {msg}", flush=True)


def fail(msg):
    print(f"linux-peer: FAIL {msg}", flush=True)
    raise SystemExit(1)


def pattern_bytes(n):
    """Byte i is (i * 2654435761 >> 13) & 0xff (bus-selftest's pattern); it
    repeats every 2 MiB (bits 13..20 of the product depend on i mod 2^21)."""
    period = 1 << 21
    k = 2654435761
    one = bytes(((i * k) >> 13) & 0xFF for i in range(period))
    return (one * (n // period + 1))[:n]


class Guest:
    def __init__(self, vm):
        self.vm = vm

    def check(self):
        for rec in self.vm.all(lambda r: True):
            for bad in FORBIDDEN:
                if bad in rec.text:
                    fail(f"forbidden line from the VM: {rec.raw}")

    def wait_key(self, key, timeout, pred=lambda after: True, index=0):
        """The first line from `index` showing `peer:<key>` from its owner with
        pred(text after the marker) true."""
        rec = self.vm.wait_line(
            lambda r: (CAT.after(key, r.origin, r.text) is not None
                       and pred(CAT.after(key, r.origin, r.text))), timeout, index)
        self.check()
        if rec is None:
            fail(f"no `{CAT.marker(key)}` from the VM within {timeout} s "
                 f"(VM {'running' if self.vm.running() else 'stopped'}; log in {OUT})")
        return rec


class Bus:
    """Runs nexus-bus with this run's state directory and interface."""

    def __init__(self):
        self.state = os.path.join(OUT, "state")
        shutil.rmtree(self.state, ignore_errors=True)
        self.n = 0

    def run(self, args, stdin=None, timeout=STEP_TIMEOUT):
        self.n += 1
        err_path = os.path.join(OUT, f"nexus-bus-{self.n}-{args[0]}.log")
        cmd = [NEXUS_BUS, "--state", self.state, "--bind", f"{HOST}/24", "-v"] + args
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else
                                    subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
            try:
                out, _ = proc.communicate(stdin, timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                fail(f"`nexus-bus {' '.join(args)}` did not finish in {timeout} s "
                     f"(log {err_path})")
        with open(err_path, "rb") as f:
            err_text = f.read().decode("utf-8", "replace")
        return proc.returncode, out.decode("utf-8", "replace"), err_text


def pairing(guest, bus, vm_id):
    """Untrusted first: an open is denied and a wrong PIN does not pair; then
    the PIN the VM shows pairs both devices."""
    if not CAT.has("pairing-pin"):
        log("pairing: not in this build (no trust store or `show_pin` yet): any "
            "authenticated peer may open a published service; step skipped")
        return
    rec = guest.wait_key("pairing-pin", BOOT_TIMEOUT)
    # The marker ends with `pin=`: the PIN is the first word after it.
    pin = CAT.after("pairing-pin", rec.origin, rec.text).strip().split()[0]
    rc, out, err = bus.run(["open", vm_id, "echo"], stdin=b"before pairing\n", timeout=90)
    if rc == 0 or "Denied" not in err:
        fail(f"an untrusted open was not denied: rc {rc} out {out!r} "
             f"({err.strip().splitlines()[-1:]})")
    log(f"untrusted: {err.strip().splitlines()[-1]}")
    wrong = f"{(int(pin) + 1) % 1000000:06d}"
    rc, out, err = bus.run(["pair", vm_id, wrong])
    if rc == 0 or "wrong PIN" not in err:
        fail(f"pairing with a wrong PIN: rc {rc} {out!r} ({err.strip().splitlines()[-1:]})")
    log(f"wrong PIN: {err.strip().splitlines()[-1]}")
    # The VM backs off after a failed attempt: retry a rate-limited pairing (bounded).
    for attempt in range(1, 6):
        time.sleep(2 * attempt)
        rc, out, err = bus.run(["pair", vm_id, pin])
        if rc == 0 or "rate limited" not in err:
            break
        log(f"pairing rate limited (attempt {attempt}); retrying")
    if rc != 0:
        fail(f"nexus-bus pair failed (rc {rc}): {err.strip().splitlines()[-1:]}")
    log(f"paired with the PIN the VM shows: {out.strip()}")


def main():
    os.makedirs(OUT, exist_ok=True)
    for path in (KERNEL, NEXUS_BUS):
        if not os.path.exists(path):
            fail(f"{path} missing (scripts/linux-peer.sh builds both)")
    try:
        have = netns.create_tap(TAP, f"{HOST}/24")
    except netns.NetnsError as e:
        fail(str(e))
    log(f"namespace {netns.namespace()}: links {have} (nothing bridged)")

    disk = qemu.profile_disk(PROFILE)
    for name in os.listdir(OUT):
        if name in ("uart.log", "qemu.err") or (name.startswith("nexus-bus-")
                                                and name.endswith(".log")):
            os.unlink(os.path.join(OUT, name))
    vm = qemu.boot("linux-peer",
                   lambda: qemu.command(KERNEL, PROFILE, qemu.TapNet(TAP), disk=disk),
                   log_path=os.path.join(OUT, "uart.log"),
                   stderr_path=os.path.join(OUT, "qemu.err"), say=log)
    guest = Guest(vm)
    tx_path, rx_path = os.path.join(OUT, "tx.bin"), os.path.join(OUT, "rx.bin")
    try:
        rec = guest.wait_key("identity-created", BOOT_TIMEOUT)
        vm_id = CAT.after("identity-created", rec.origin, rec.text).strip().split()[0]
        log(f"VM id {vm_id}")
        guest.wait_key("linux-peer-ready", BOOT_TIMEOUT)

        bus = Bus()
        rc, out, err = bus.run(["id"])
        if rc != 0 or len(out.strip()) != 32:
            fail(f"nexus-bus id: rc {rc} {out!r} {err!r}")
        linux_id = out.strip()
        log(f"Linux id {linux_id} (state {bus.state})")

        # 1. Discovery both ways and an authenticated session.
        # Until the VM is listed with a session up (each try bounded, 5 tries).
        listed = None
        for _ in range(5):
            rc, out, err = bus.run(["peers", "--wait", "4"], timeout=60)
            if rc != 0:
                fail(f"nexus-bus peers: rc {rc}: {err.strip().splitlines()[-1:]}")
            listed = next((ln for ln in out.splitlines() if ln.startswith(vm_id + " ")), None)
            if listed and fields(listed).get("session") == "up":
                break
        if not listed or fields(listed).get("session") != "up":
            fail(f"nexus-bus peers never listed the VM {vm_id} with a session "
                 f"(last output {out!r})")
        log(f"nexus-bus peers: {listed}")
        services = fields(listed).get("services", "").split(",")
        if not {"echo", "sink", "source"} <= set(services):
            fail(f"the VM's services as listed: {services}")
        guest.wait_key("peer-discovered", 30, lambda a: a.strip().startswith(linux_id))
        rec = guest.wait_key("auth-ok", 15, lambda a: a.strip().startswith(linux_id))
        log(f"VM: {rec.text.strip()}")

        # 2. Pairing (trust branch) or the plain statement that there is none.
        pairing(guest, bus, vm_id)

        # 3. Interactive echo.
        line = f"hello from linux {linux_id[:8]}"
        rc, out, err = bus.run(["open", vm_id, "echo"], stdin=(line + "\n").encode(), timeout=90)
        if rc != 0 or out.splitlines() != [line]:
            fail(f"nexus-bus open echo: rc {rc} out {out!r} ({err.strip().splitlines()[-1:]})")
        log(f"echo: {out.strip()!r} came back")

        # 4. Linux -> VM, verified by the VM.
        payload = pattern_bytes(BULK)
        with open(tx_path, "wb") as f:
            f.write(payload)
        mark = len(vm.all(lambda r: True))
        rc, out, err = bus.run(["send", vm_id, "sink", tx_path])
        if rc != 0:
            fail(f"nexus-bus send: rc {rc}: {out!r} {err.strip().splitlines()[-1:]}")
        sent = next((ln for ln in out.splitlines() if ln.startswith("sent ")), "")
        replies = [ln for ln in out.splitlines() if ln.startswith("reply: ")]
        if fields(sent).get("bytes") != str(BULK) or replies[:1] != [f"reply: ok bytes={BULK}"]:
            fail(f"nexus-bus send: {out!r}")
        # The marker itself carries bytes=16777216.
        rec = guest.wait_key("linux-sink-verified", 30, index=mark)
        log(f"tx: {sent}; VM: {rec.text.strip()}")
        tx_mbs, vm_rx_mbs = mbs(sent), mbs(rec.text)

        # 5. VM -> Linux, verified here.
        mark = len(vm.all(lambda r: True))
        if os.path.exists(rx_path):
            os.unlink(rx_path)
        rc, out, err = bus.run(["recv", vm_id, "source", rx_path])
        got = next((ln for ln in err.splitlines() if ln.startswith("received ")), "")
        if rc != 0:
            fail(f"nexus-bus recv: rc {rc}: {err.strip().splitlines()[-1:]}")
        with open(rx_path, "rb") as f:
            data = f.read()
        if data != payload:
            first = next((i for i, (a, b) in enumerate(zip(data, payload)) if a != b),
                         min(len(data), len(payload)))
            fail(f"VM -> Linux stream: {len(data)} bytes, first difference at {first}")
        rec = guest.wait_key("linux-source-sent", 30, index=mark)
        log(f"rx: {got} (all {BULK} bytes match the pattern); VM: {rec.text.strip()}")
        rx_mbs, vm_tx_mbs = mbs(got), mbs(rec.text)

        # The catalogue's required markers, each from its owner.
        required = CAT.required(PROFILE)
        lines = vm.all(lambda r: True)
        missing = [m for m in required if not any(CAT.counts(m, r.origin, r.text) for r in lines)]
        if not required or missing:
            fail(f"markers required for {PROFILE} missing: {missing or 'none catalogued'}")
        log(f"{len(required)} catalogued markers for {PROFILE} seen")
        guest.check()
        # tx/rx from Linux's side (open accepted .. peer's end), vm_* as the VM's app saw them.
        print(f"{CAT.marker('bench-figure')} linux-peer tx MB/s={tx_mbs} rx MB/s={rx_mbs} "
              f"vm_rx_MB/s={vm_rx_mbs} vm_tx_MB/s={vm_tx_mbs} bytes={BULK}", flush=True)
    finally:
        vm.stop()
        for p in (tx_path, rx_path):
            if os.path.exists(p):
                os.unlink(p)
    log("PASS")


if __name__ == "__main__":
    main()
