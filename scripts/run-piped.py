#!/usr/bin/env python3
"""Runs QEMU with piped standard input typed into the guest's shell.

usage: run-piped.py <timeout-seconds, 0 = none> <qemu command...>

Reads all of standard input first, starts QEMU, copies its console output
to standard output as it comes, and writes the input to QEMU once the shell
printed `shell: ready` (input sent earlier would reach the UART before the
firmware resets it and be lost). QEMU's exit status is returned: it exits
when the guest powers off (`poweroff`). With a timeout, QEMU is stopped
after that many seconds and the status is 124, as with timeout(1).
"""
import os
import subprocess
import sys
import time

READY = b"shell: ready"


def main() -> int:
    timeout = float(sys.argv[1])
    cmd = sys.argv[2:]
    script = sys.stdin.buffer.read()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out = sys.stdout.buffer
    seen = b""
    sent = False
    deadline = time.monotonic() + timeout if timeout > 0 else None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    try:
        while True:
            if deadline is not None and time.monotonic() > deadline:
                out.write(b"\nrun: timed out after %d s; stopping QEMU\n" % timeout)
                out.flush()
                proc.kill()
                proc.wait()
                return 124
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                break
            if chunk:
                out.write(chunk)
                out.flush()
                if not sent:
                    seen = (seen + chunk)[-4096:]
                    if READY in seen:
                        proc.stdin.write(script)
                        proc.stdin.flush()
                        sent = True
            else:
                time.sleep(0.02)
    except KeyboardInterrupt:
        proc.kill()
    proc.wait()
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
