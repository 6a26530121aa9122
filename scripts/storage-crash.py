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
import selectors
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, CATALOGUE, load_catalogue, qemu_command, fresh_disk  # noqa: E402

KERNEL = os.path.join(ROOT, "build", "neuron.elf")
DISK = os.path.join(ROOT, "build", "storage-crash.img")
COMMITTED = re.compile(r"selftest-storage: committed (\d+)")
READBACK = re.compile(r"selftest-storage: readback last=(\d+) checked=(\d+) bad=(\d+)")
EMPTY = "selftest-storage: readback empty"
FORMATTED = ("storaged: blank disk, formatted", "reformatted pages=")
ISOLATION = ("SELFTEST: storage namespace isolation ok", "SELFTEST: storage foreign key refused ok")


class Boot:
    """One QEMU run on the disk; lines are read until `stop(line)` or the timeout."""

    def __init__(self, log, n):
        cmd = qemu_command(KERNEL, "storage", False, ["-netdev", "user,id=n0,restrict=on"],
                           "", DISK)
        self.log = log
        self.n = n
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.pending = b""
        self.lines = []

    def read(self, until, stop):
        """Reads lines until monotonic time `until` or `stop(line)` is true."""
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return False
            if not self.sel.select(timeout=min(left, 0.1)):
                if self.proc.poll() is not None:
                    return False
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return False
            if self.take(chunk, stop):
                return True

    def take(self, chunk, stop=lambda _l: False):
        self.pending += chunk
        *complete, self.pending = self.pending.split(b"\n")
        hit = False
        for raw in complete:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            self.lines.append(line)
            self.log.write(f"[boot {self.n}] {line}\n")
            hit = hit or stop(line)
        return hit

    def kill(self):
        """SIGKILL this QEMU (by its PID), then keep the complete lines it
        printed before; a line cut by the kill is dropped, never parsed."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        rest = self.proc.stdout.read()
        if rest:
            self.take(rest)
        self.proc.stdout.close()


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
    forbidden = [m for m, when in load_catalogue(CATALOGUE) if "forbidden" in when]
    fresh_disk(DISK, kib)
    log_dir = os.path.join(ROOT, "build", "logs")
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, "storage-crash.log")
    print(f"storage-crash: seed={seed} cycles={cycles} disk={os.path.relpath(DISK, ROOT)} "
          f"({kib} KiB) log={os.path.relpath(log_path, ROOT)}")

    committed = None   # highest value any boot reported committed
    lost = 0
    kills = 0
    failures = []
    isolation_boots = 0
    with open(log_path, "w", encoding="utf-8") as log:
        for n in range(cycles + 1):
            final = n == cycles
            boot = Boot(log, n)
            deadline = time.monotonic() + boot_timeout
            # Mostly kill while values are being committed; one boot in five
            # is killed at a random moment right after storaged is ready
            # (during the readback, the isolation exchange or the first puts).
            early = not final and rng.random() < 0.2
            if early:
                ok = boot.read(deadline, lambda l: "storaged: ready" in l)
            else:
                ok = boot.read(deadline, lambda l: COMMITTED.search(l) is not None)
            if not ok:
                boot.kill()
                failures.append(f"boot {n}: no {'storaged: ready' if early else 'commit'} "
                                f"within {boot_timeout:.0f}s")
                break
            if not final:
                boot.read(time.monotonic() + rng.uniform(0.0, 0.25 if early else 2.0),
                          lambda _l: False)
            boot.kill()
            if not final:
                kills += 1
            # Judge what this boot printed.
            boot_max = None
            readback = None
            for line in boot.lines:
                if any(f in line for f in forbidden):
                    failures.append(f"boot {n}: {line}")
                if any(f in line for f in FORMATTED) and committed is not None:
                    failures.append(f"boot {n}: store reformatted after commits: {line}")
                m = READBACK.search(line)
                if m:
                    readback = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
                elif EMPTY in line:
                    readback = "empty"
                m = COMMITTED.search(line)
                if m:
                    boot_max = int(m.group(1))
            if all(any(i in line for line in boot.lines) for i in ISOLATION):
                isolation_boots += 1
            if readback == "empty":
                if committed is not None:
                    lost += committed + 1
                    failures.append(f"boot {n}: readback empty after {committed} was committed")
            elif readback is not None:
                last, checked, bad = readback
                if committed is not None and last < committed:
                    lost += committed - last
                    failures.append(f"boot {n}: readback last={last} < committed {committed}")
                lost += bad
                want = min(last + 1, 127)
                if checked != want:
                    failures.append(f"boot {n}: readback checked {checked} values, expected {want}")
            elif committed is not None and not early:
                failures.append(f"boot {n}: no readback line")
            if boot_max is not None:
                committed = boot_max if committed is None else max(committed, boot_max)
            print(f"storage-crash: boot {n}: readback={readback} committed_max={committed}"
                  f"{' (killed early)' if early else ''}")
            if final and readback is None:
                failures.append(f"boot {n}: the final boot read nothing back")
        # A garbage image and a truncated store: reported and reformatted.
        if not failures:
            for name, damage, want in (
                ("garbage", lambda b: rng.randbytes(len(b)), "storaged: disk holds no store"),
                ("truncated", lambda b: b[:len(b) // 2], "storaged: disk truncated"),
            ):
                with open(DISK, "rb") as f:
                    img = f.read()
                with open(DISK, "wb") as f:
                    f.write(damage(img))
                boot = Boot(log, name)
                ok = boot.read(time.monotonic() + boot_timeout, lambda l: EMPTY in l)
                boot.kill()
                seen = any(want in l for l in boot.lines) and any(
                    "storaged: ready" in l for l in boot.lines)
                bad = [l for l in boot.lines if any(f in l for f in forbidden)]
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
