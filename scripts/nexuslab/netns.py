"""Tap devices, only inside a private network namespace.

The hard rule (docs/harness.md): a tap device exists only inside a network
namespace the harness itself creates with `unshare -n` (`scripts/real-peers.sh`
runs its script under `unshare --net`), holding nothing but `lo` and the
harness's taps, never bridged to a real interface. `check_private(taps)`
proves it: this process is not in the network namespace of PID 1 (the
machine's own) nor in its parent's (the process that ran `unshare -n`;
PID 1's may be unreadable inside `unshare`, then the parent's must be
readable), and `ip -o link` lists exactly `lo` and `taps`.
`create_tap()` checks the namespace is empty first (only `lo`), creates the
tap with its Linux-side address and checks again. `qemu.TapNet` runs the
check every time it builds a QEMU command, so no QEMU starts on a tap in
any other situation.
"""
import os
import re
import subprocess


class NetnsError(Exception):
    """The namespace is not private, or holds more than `lo` and the taps."""


def links():
    """The interface names of this process's network namespace, sorted."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return sorted(re.findall(r"^\d+:\s+([^:@]+)", out, re.M))


def namespace():
    """This process's network namespace (`net:[<inode>]`)."""
    return os.readlink("/proc/self/ns/net")


def check_private(taps=()):
    """Raises NetnsError unless this process runs in a network namespace of
    its own (not PID 1's) holding exactly `lo` and `taps`."""
    own = namespace()
    outside = {}
    for pid in (1, os.getppid()):
        try:
            outside[pid] = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            pass
    if not outside:
        raise NetnsError("cannot read the network namespace of PID 1 or of the parent: "
                         "cannot prove this one is private")
    shared = [pid for pid, ns in outside.items() if ns == own]
    if shared:
        raise NetnsError(f"not in a private network namespace (shared with PID {shared[0]}; "
                         "run under `unshare -n`, e.g. scripts/real-peers.sh)")
    want = sorted({"lo", *taps})
    have = links()
    if have != want:
        raise NetnsError(f"the namespace holds {have}, not only {want}")
    return have


def create_tap(name, cidr):
    """Creates tap `name` with the Linux-side address `cidr` (e.g.
    10.0.2.2/24) in this private namespace, `lo` up; checked before (only
    `lo`) and after (only `lo` and the tap)."""
    check_private(())
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "tuntap", "add", "dev", name, "mode", "tap"],
                ["ip", "link", "set", name, "up"],
                ["ip", "addr", "add", cidr, "dev", name]):
        subprocess.run(cmd, check=True)
    return check_private((name,))
