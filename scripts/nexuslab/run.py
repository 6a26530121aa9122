"""`just run`: boots a kernel with a boot profile (default `user`: the shell).

usage: python3 -m nexuslab.run [profile]   (scripts/run.sh sets PYTHONPATH)

Interactive (standard input is a terminal): this process becomes QEMU
(exec), so the terminal is QEMU's console directly; quit with `Ctrl-A X`,
or `poweroff` in the shell.
Piped (`printf 'ifconfig\\npoweroff\\n' | just run`): the input is read
first; QEMU's console output is copied to standard output as it comes, and
the input is typed once the shell printed its `peer:shell-ready` marker
(docs/markers.md; bytes sent earlier would reach the UART while the
firmware resets it). QEMU ends when the guest powers off, and its exit
status is returned. RUN_TIMEOUT (seconds, piped only; 0 or unset = none)
bounds the run: QEMU is stopped and the status is 124, as with timeout(1).

Disk: a profile that runs storaged (`user`: dsoftbusd's identity and the
shell's `kv` keys) gets `build/<profile>.img`, created blank (1 MiB) on the
first run and kept afterwards; RUN_DISK names another image (created the
same way if missing; `just test-shell` uses its own).

Environment: KERNEL (default build/neuron.elf; cargo's runner passes the one
it built), QEMU_MEM, QEMU_EXTRA (more QEMU arguments, e.g. `just debug`'s
gdb stub), NEXUS_BOOTARGS (more kernel command-line words), RUN_DISK.
Networking: user networking with restrict=on and no forwards.
"""
import os
import shlex
import subprocess
import sys
import time

from . import ROOT, qemu
from .catalogue import Catalogue


def main(argv):
    profile = argv[1] if len(argv) > 1 else "user"
    kernel = os.environ.get("KERNEL") or os.path.join(ROOT, "build", "neuron.elf")
    disk = qemu.kept_disk(profile, os.environ.get("RUN_DISK") or None)
    cmd = qemu.command(kernel, profile, qemu.UserNet(), disk=disk,
                       bootargs=os.environ.get("NEXUS_BOOTARGS", ""),
                       extra=shlex.split(os.environ.get("QEMU_EXTRA", "")))
    if sys.stdin.isatty():
        os.execvp(cmd[0], cmd)
    return piped(cmd, float(os.environ.get("RUN_TIMEOUT", "0") or 0))


def piped(cmd, timeout):
    cat = Catalogue()
    script = sys.stdin.buffer.read()
    out = sys.stdout.buffer

    def echo(chunk):
        out.write(chunk)
        out.flush()

    vm = qemu.Vm("run", cmd, merge_stderr=True, stdin_pipe=True, on_bytes=echo)
    deadline = time.monotonic() + timeout if timeout > 0 else None

    def left():
        return 3600.0 if deadline is None else deadline - time.monotonic()

    try:
        ready = None
        while ready is None and vm.running() and left() > 0:
            ready = vm.wait_line(lambda r: cat.seen("shell-ready", r.origin, r.text),
                                 min(left(), 1.0))
        if ready is not None:
            vm.write(script)
        while vm.running() and left() > 0:
            try:
                vm.proc.wait(timeout=min(left(), 1.0))
            except subprocess.TimeoutExpired:
                pass
        if vm.running():
            echo(b"\nrun: timed out after %d s; stopping QEMU\n" % timeout)
            vm.stop()
            return 124
    except KeyboardInterrupt:
        vm.stop()
        return 130
    vm.stop()
    return vm.proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
