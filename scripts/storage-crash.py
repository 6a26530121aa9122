#!/usr/bin/env python3
"""Storage crash test: kill the VM at random points, reboot on the same disk.

Boots the `storage` profile on one raw disk image again and again. In each
boot the writer (selftest-storage) reads back what earlier boots committed,
then commits numbered values and prints `selftest-storage: committed <i>`
after each. This script SIGKILLs the QEMU it started (by PID) at a random
moment, at least STORAGE_CYCLES times (default 24), and checks on the next
boot that every value reported committed is still there: the guest's
readback must reach the highest committed number seen so far and find every
value of its window intact. Then two more boots: the image overwritten with
random bytes, and a valid store truncated to half, must each be reported and
reformatted. Prints `storage: crash cycles=<n> lost=<m>`; exits 0 only when
nothing was lost and every check passed. See docs/storage.md.

Environment: STORAGE_CYCLES, STORAGE_SEED (kill points; random by default,
printed), STORAGE_DISK_KIB (default 64), STORAGE_BOOT_TIMEOUT (s per boot,
default 60).
"""
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nexuslab import ROOT, qemu  # noqa: E402
from nexuslab.catalogue import Catalogue, fields  # noqa: E402

CAT = Catalogue()
KERNEL = os.path.join(ROOT, "build", "neuron.elf")
DISK = os.path.join(ROOT, "build", "storage-crash.img")
# What storaged and the writer print, by their catalogue keys (docs/markers.md).
REFORMATS = ("storage-formatted", "storage-reformat-garbage", "storage-reformat-truncated",
             "storage-reformat-corrupt")
ISOLATION = ("storage-isolation", "storage-foreign-refused")


def committed(rec):
    """The value of a `peer:storage-committed` line, or None."""
    rest = CAT.after("storage-committed", rec.origin, rec.text)
    m = re.match(r"\s*(\d+)", rest) if rest is not None else None
    return int(m.group(1)) if m else None


def readback(rec):
    """`empty`, (last, checked, bad), or None: the writer's readback line."""
    rest = CAT.after("storage-readback", rec.origin, rec.text)
    if rest is None:
        return None
    if rest.split()[:1] == ["empty"]:
        return "empty"
    f = fields(rest)
    try:
        return int(f["last"]), int(f["checked"]), int(f["bad"])
    except (KeyError, ValueError):
        return None


class Boot:
    """One QEMU run on the disk (nexuslab's Vm: its reader thread keeps the
    lines; `kill()` is SIGKILL by the PID it started, and a line cut by the
    kill is dropped, never parsed)."""

    def __init__(self, log_path, n):
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"=== boot {n} ===\n")
        cmd = qemu.command(KERNEL, "storage", qemu.UserNet(), disk=DISK)
        self.n = n
        self.vm = qemu.Vm(f"boot {n}", cmd, log_path=log_path)

    def read(self, until, stop):
        """Waits until monotonic time `until` or a line with `stop(line)` true."""
        return self.vm.wait_line(stop, max(0.0, until - time.monotonic())) is not None

    def kill(self):
        self.vm.kill()

    @property
    def lines(self):
        return self.vm.lines


def main():
    cycles = int(os.environ.get("STORAGE_CYCLES", "24"))
    seed = int(os.environ.get("STORAGE_SEED", str(random.randrange(1 << 32))))
    kib = int(os.environ.get("STORAGE_DISK_KIB", "64"))
    boot_timeout = float(os.environ.get("STORAGE_BOOT_TIMEOUT", "60"))
    if cycles < 1:
        print("storage-crash: STORAGE_CYCLES must be at least 1", file=sys.stderr)
        return 2
    if not os.path.exists(KERNEL):
        print(f"storage-crash: {KERNEL} missing (run scripts/build.sh)", file=sys.stderr)
        return 2
    rng = random.Random(seed)
    forbidden = CAT.forbidden()
    qemu.fresh_disk(DISK, kib)
    log_dir = os.path.join(ROOT, "build", "logs")
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, "storage-crash.log")
    print(f"storage-crash: seed={seed} cycles={cycles} disk={os.path.relpath(DISK, ROOT)} "
          f"({kib} KiB) log={os.path.relpath(log_path, ROOT)}")

    top = None   # highest value any boot reported committed
    lost = 0
    kills = 0
    failures = []
    isolation_boots = 0
    open(log_path, "w").close()
    for n in range(cycles + 1):
        final = n == cycles
        boot = Boot(log_path, n)
        deadline = time.monotonic() + boot_timeout
        # Mostly kill while values are being committed; one boot in five
        # is killed at a random moment right after storaged is ready
        # (during the readback, the isolation exchange or the first puts).
        early = not final and rng.random() < 0.2
        if early:
            ok = boot.read(deadline, lambda r: CAT.seen("storage-ready", r.origin, r.text))
        else:
            ok = boot.read(deadline, lambda r: committed(r) is not None)
        if not ok:
            boot.kill()
            failures.append(f"boot {n}: no {CAT.marker('storage-ready') if early else 'commit'} "
                            f"within {boot_timeout:.0f}s")
            break
        if not final:
            boot.read(time.monotonic() + rng.uniform(0.0, 0.25 if early else 2.0),
                      lambda _r: False)
        boot.kill()
        if not final:
            kills += 1
        # Judge what this boot printed.
        boot_max = None
        rb = None
        for rec in boot.lines:
            if any(f in rec.raw for f in forbidden):
                failures.append(f"boot {n}: {rec.raw}")
            if any(CAT.seen(k, rec.origin, rec.text) for k in REFORMATS) and top is not None:
                failures.append(f"boot {n}: store reformatted after commits: {rec.raw}")
            rb = readback(rec) or rb
            c = committed(rec)
            if c is not None:
                boot_max = c
        if all(any(CAT.seen(k, r.origin, r.text) for r in boot.lines) for k in ISOLATION):
            isolation_boots += 1
        if rb == "empty":
            if top is not None:
                lost += top + 1
                failures.append(f"boot {n}: readback empty after {top} was committed")
        elif rb is not None:
            last, checked, bad = rb
            if top is not None and last < top:
                lost += top - last
                failures.append(f"boot {n}: readback last={last} < committed {top}")
            lost += bad
            want = min(last + 1, 127)
            if checked != want:
                failures.append(f"boot {n}: readback checked {checked} values, expected {want}")
        elif top is not None and not early:
            failures.append(f"boot {n}: no readback line")
        if boot_max is not None:
            top = boot_max if top is None else max(top, boot_max)
        print(f"storage-crash: boot {n}: readback={rb} committed_max={top}"
              f"{' (killed early)' if early else ''}")
        if final and rb is None:
            failures.append(f"boot {n}: the final boot read nothing back")
    # A garbage image and a truncated store: reported and reformatted.
    if not failures:
        for name, damage, want in (
            ("garbage", lambda b: rng.randbytes(len(b)), "storage-reformat-garbage"),
            ("truncated", lambda b: b[:len(b) // 2], "storage-reformat-truncated"),
        ):
            with open(DISK, "rb") as f:
                img = f.read()
            with open(DISK, "wb") as f:
                f.write(damage(img))
            boot = Boot(log_path, name)
            ok = boot.read(time.monotonic() + boot_timeout, lambda r: readback(r) == "empty")
            boot.kill()
            seen = any(CAT.seen(want, r.origin, r.text) for r in boot.lines) and any(
                CAT.seen("storage-ready", r.origin, r.text) for r in boot.lines)
            bad = [r.raw for r in boot.lines if any(f in r.raw for f in forbidden)]
            if ok and seen and not bad:
                print(f"storage: {name} image reported and reformatted ok")
            else:
                failures.append(f"{name} image: reformat line seen={seen} empty readback={ok} "
                                f"forbidden={bad[:3]}")
    if isolation_boots == 0:
        failures.append("the namespace isolation markers never appeared")
    print(f"storage-crash: {isolation_boots} boot(s) passed the namespace isolation exchange")
    for f in failures:
        print(f"storage-crash: FAIL: {f}")
    print(f"storage: crash cycles={kills} lost={lost}")
    return 0 if not failures and lost == 0 and kills >= cycles else 1


if __name__ == "__main__":
    sys.exit(main())
