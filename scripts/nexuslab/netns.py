"""Tap devices, only inside a private network namespace.

The hard rule (docs/harness.md): a tap device exists only inside a network
namespace the harness itself creates with `unshare -n` (`scripts/real-peers.sh`
runs its script under `unshare --net`), holding nothing but `lo` and the
harness's taps, never bridged to a real interface. `check_private(taps)`
proves it: this process is not in the network namespace of PID 1 (the
machine's own), and `ip -o link` lists exactly `lo` and `taps`.
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
    try:
        machine = os.readlink("/proc/1/ns/net")
    except OSError as e:
        raise NetnsError(f"cannot read PID 1's network namespace ({e}): "
                         "cannot prove this one is private") from None
    if machine == namespace():
        raise NetnsError("not in a private network namespace (run under `unshare -n`, "
                         "e.g. scripts/real-peers.sh)")
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
