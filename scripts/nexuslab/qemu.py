"""The one QEMU command builder and the one runner of a VM.

`command()` builds every QEMU command line of the project (`just run`, the
smoke harness, os2vm, the storage crash test). Its network devices:

- `UserNet`: QEMU user networking, always `restrict=on`; host forwards bind
  127.0.0.1 only and guest forwards lead to 127.0.0.1 only;
- `DgramNet`: an L2 link, one Ethernet frame per UDP datagram, both ends on
  127.0.0.1;
- `TapNet`: a tap device inside the private network namespace the harness
  created with `unshare -n` (`just test-real-peers`); building its command
  checks that the namespace is private and holds only `lo` and the tap
  (`netns.check_private`), or refuses.

`Vm` starts one QEMU, reads its UART on one thread (each complete line is
timestamped, logged, kept and handed to a callback), offers wait helpers,
and stops it by the PID it started: `stop()` sends SIGTERM, then SIGKILL
after 5 s; `kill()` sends SIGKILL at once (the crash test). `boot()` starts
a VM and, when QEMU exits at start-up because a port was taken, starts it
again with fresh ports (bounded).
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import namedtuple

from . import ROOT, netns, ports
from .catalogue import split_origin

QEMU = "qemu-system-riscv64"
DEFAULT_MAC = "02:00:00:00:00:01"
LOOPBACK = ports.LOOPBACK
STOP_GRACE_S = 5.0
# How long a starting QEMU may take to print its first byte (firmware
# banner) before it is taken as running; its ports are bound by then.
START_WINDOW_S = 10.0


class UserNet:
    """`-netdev user,restrict=on` with loopback-only forwards.

    hostfwd: (proto, host_port, guest_port) with proto `tcp` or `udp`;
    guestfwd: (guest "addr:port", host_port) of a TCP service on 127.0.0.1;
    tftp: a directory QEMU's TFTP server serves."""

    def __init__(self, hostfwd=(), guestfwd=(), tftp=None):
        self.hostfwd, self.guestfwd, self.tftp = list(hostfwd), list(guestfwd), tftp

    def netdev(self):
        parts = ["user,id=n0,restrict=on"]
        for guest, port in self.guestfwd:
            parts.append(f"guestfwd=tcp:{guest}-tcp:{LOOPBACK}:{int(port)}")
        for proto, host_port, guest_port in self.hostfwd:
            if proto not in ("tcp", "udp"):
                raise ValueError(f"hostfwd protocol {proto!r}")
            parts.append(f"hostfwd={proto}:{LOOPBACK}:{int(host_port)}-:{int(guest_port)}")
        if self.tftp:
            parts.append(f"tftp={self.tftp}")
        return ",".join(parts)


class DgramNet:
    """`-netdev dgram` between QEMU's 127.0.0.1:local and 127.0.0.1:remote."""

    def __init__(self, local_port, remote_port):
        self.local, self.remote = int(local_port), int(remote_port)

    def netdev(self):
        return (f"dgram,id=n0,local.type=inet,local.host={LOOPBACK},local.port={self.local},"
                f"remote.type=inet,remote.host={LOOPBACK},remote.port={self.remote}")


class TapNet:
    """`-netdev tap` on `ifname`, which must live in a private network
    namespace (`unshare -n`) holding nothing but `lo` and the tap: checked
    each time the netdev is built, that is right before QEMU starts."""

    def __init__(self, ifname):
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", ifname):
            raise ValueError(f"tap name {ifname!r}")
        self.ifname = ifname

    def netdev(self):
        netns.check_private((self.ifname,))
        # vnet_hdr: the virtio-net header crosses the tap, so the device can
        # offer checksum and segmentation offload (docs/nexus-net-os.md).
        return f"tap,id=n0,ifname={self.ifname},script=no,downscript=no,vnet_hdr=on"


def default_kernel(profile):
    return os.path.join(ROOT, "build", "neuron-lite.elf" if profile == "lite" else "neuron.elf")


def disk_args(path):
    """A raw disk image as the VM's virtio-blk device (storaged's disk)."""
    return ["-drive", f"file={path},format=raw,if=none,id=d0",
            "-device", "virtio-blk-device,drive=d0"]


def fresh_disk(path, kib):
    """A zero-filled raw image of `kib` KiB: a blank disk storaged formats."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(kib * 1024)


def profile_uses_disk(profile):
    """Whether boot profile `profile` runs storaged, the one service given the
    virtio-blk device: then its VM needs a disk. Read from the profile's own
    manifest (profiles/<name>.toml or profiles/test/<name>.toml); an unknown
    profile has none."""
    import tomllib
    for sub in ("", "test"):
        path = os.path.join(ROOT, "profiles", sub, f"{profile}.toml")
        if os.path.exists(path):
            with open(path, "rb") as f:
                services = tomllib.load(f).get("service", [])
            return any(s.get("image") == "storaged" for s in services)
    return False


def profile_disk(profile, name=None, kib=None):
    """A fresh blank disk for a VM booting `profile` when the profile runs
    storaged (`profile_uses_disk`), else None: `build/<name or profile>.img`,
    `kib` KiB (default $DISK_KIB or 64)."""
    if not profile_uses_disk(profile):
        return None
    path = os.path.join(ROOT, "build", f"{name or profile}.img")
    fresh_disk(path, kib or int(os.environ.get("DISK_KIB", "64")))
    return path


def kept_disk(profile, path=None, kib=1024):
    """The disk of a VM booting `profile` that keeps its data across runs
    (`just run`): when the profile runs storaged (`profile_uses_disk`),
    `path` (default `build/<profile>.img`), created blank with `kib` KiB
    only if it does not exist yet (so the device identity and the shell's
    keys persist); else None."""
    if not profile_uses_disk(profile):
        return None
    path = path or os.path.join(ROOT, "build", f"{profile}.img")
    if not os.path.exists(path):
        fresh_disk(path, kib)
    return path


def command(kernel, profile, net, bootargs="", mem=None, icount=False, mac=DEFAULT_MAC,
            disk=None, pcap=None, extra=(), icount_sleep=False):
    """The QEMU command line: RISC-V `virt`, OpenSBI, one hart, no graphics,
    modern virtio-mmio, virtio-net on `net` (UserNet, DgramNet or TapNet)
    and virtio-rng; `bootargs` follow `nexus.profile=<profile>` on the
    kernel command line; `mem` defaults to $QEMU_MEM or 256M; `icount`
    gives deterministic time (1 instruction = 1 ns; with `icount_sleep`
    idle time passes in real time, for runs against real peers); `disk` a
    raw image; `pcap` a capture of the link (filter-dump); `extra` more
    arguments."""
    if not isinstance(net, (UserNet, DgramNet, TapNet)):
        raise TypeError("net must be a UserNet (restrict=on), a DgramNet (loopback) or a "
                        "TapNet (private namespace)")
    append = f"nexus.profile={profile}"
    if bootargs.strip():
        append += " " + bootargs.strip()
    cmd = [
        QEMU, "-machine", "virt", "-bios", "default",
        "-nographic", "-smp", "1", "-m", mem or os.environ.get("QEMU_MEM", "256M"),
        "-kernel", kernel, "-append", append,
        "-global", "virtio-mmio.force-legacy=false",
        "-device", f"virtio-net-device,netdev=n0,mac={mac}",
        "-device", "virtio-rng-device",
        "-netdev", net.netdev(),
    ]
    if disk:
        cmd += disk_args(disk)
    if pcap:
        cmd += ["-object", f"filter-dump,id=f0,netdev=n0,file={pcap}"]
    if icount:
        cmd += ["-icount", "shift=0,sleep=on" if icount_sleep else "shift=0,sleep=off"]
    return cmd + list(extra)


Line = namedtuple("Line", "t raw origin text")


class Vm:
    """One running QEMU and its UART.

    name: label in messages; cmd: from `command()`; log_path: the UART log
    (`[seconds] line` per line) or None; stderr_path: QEMU's stderr (None:
    a temporary file next to the log, or discarded); merge_stderr: QEMU's
    stderr into the UART stream (`just run`); stdin_pipe: keep QEMU's
    standard input writable (`write()`); t0: time origin of the stamps;
    on_line(Line): called for each line on the reader thread;
    on_bytes(bytes): called with each raw chunk (echo to a terminal)."""

    def __init__(self, name, cmd, log_path=None, stderr_path=None, merge_stderr=False,
                 stdin_pipe=False, t0=None, on_line=None, on_bytes=None):
        self.name, self.cmd = name, cmd
        self.t0 = time.monotonic() if t0 is None else t0
        self.lines = []
        self.tail = b""
        self.eof = False
        self.got_bytes = False
        self.callback_failed = False
        self.cond = threading.Condition()
        self.on_line, self.on_bytes = on_line, on_bytes
        self.log = open(log_path, "a", encoding="utf-8") if log_path else None
        self.stderr_path = stderr_path
        if merge_stderr:
            err = subprocess.STDOUT
            self._err = None
        else:
            self._err = open(stderr_path, "ab") if stderr_path else subprocess.DEVNULL
            err = self._err
        # Only this run's part of a shared stderr file is read back.
        self._err_offset = self._err.tell() if stderr_path and not merge_stderr else 0
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=err)
        self.pid = self.proc.pid
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    # --- the UART reader --------------------------------------------------------

    def _read(self):
        fd = self.proc.stdout.fileno()
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            if not self.got_bytes:
                with self.cond:
                    self.got_bytes = True
                    self.cond.notify_all()  # QEMU is past start-up
            if self.on_bytes:
                self.on_bytes(chunk)
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                self._add(raw.decode("utf-8", "replace").rstrip("\r"), None)
        # A line cut by the end of QEMU is kept apart, never judged.
        self.tail = pending
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def _add(self, raw, origin):
        now = time.monotonic() - self.t0
        if origin is None:
            origin, text = split_origin(raw)
        else:
            text, raw = raw, f"[{origin}] {raw}"
        rec = Line(now, raw, origin, text)
        with self.cond:
            self.lines.append(rec)
            if self.log:
                self.log.write(f"[{now:8.3f}] {raw}\n")
                self.log.flush()
            self.cond.notify_all()
        if self.on_line:
            try:
                self.on_line(rec)
            except Exception:  # noqa: BLE001 - a callback's bug must not stop the reader
                if not self.callback_failed:
                    self.callback_failed = True
                    traceback.print_exc()
                    print(f"{self.name}: on_line callback failed; reading goes on", file=sys.stderr)
        return rec

    def inject(self, text, origin="harness"):
        """Adds a line the host side proved (judged like a guest line, with
        this origin); logged as `[harness] text`."""
        return self._add(text, origin)

    # --- reading and waiting -------------------------------------------------------

    def started(self, window=START_WINDOW_S):
        """Waits until QEMU printed something or exited (bounded). Raises
        PortConflict when it exited because a port was taken."""
        end = time.monotonic() + window
        with self.cond:
            while not self.got_bytes and not self.eof and self.proc.poll() is None:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.1))
        if self.proc.poll() is not None or self.eof:
            self.proc.wait()
            err = self.stderr_text()
            if ports.CONFLICT.search(err):
                raise ports.PortConflict(f"{self.name}: {err.strip()}")
        return self

    def stderr_text(self):
        if not self.stderr_path:
            return ""
        if self._err not in (None, subprocess.DEVNULL):
            self._err.flush()
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(self._err_offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def read_from(self, index, timeout):
        """(new lines from `index`, next index, ended): waits up to
        `timeout` seconds for a line when none is there yet."""
        with self.cond:
            if len(self.lines) <= index and not self.eof:
                self.cond.wait(timeout)
            new = self.lines[index:]
            return new, index + len(new), self.eof and len(self.lines) == index + len(new)

    def wait_line(self, pred, timeout, index=0):
        """The first line from `index` on with pred(line) true, waiting up to
        `timeout` seconds; None on timeout or when QEMU ended."""
        end = time.monotonic() + timeout
        while True:
            new, index, ended = self.read_from(index, max(0.0, min(0.2, end - time.monotonic())))
            for rec in new:
                if pred(rec):
                    return rec
            if ended or time.monotonic() >= end:
                return None

    def first(self, pred, since=0.0):
        """The first line at or after `since` seconds with pred(line) true."""
        with self.cond:
            for rec in self.lines:
                if rec.t >= since and pred(rec):
                    return rec
        return None

    def all(self, pred):
        with self.cond:
            return [rec for rec in self.lines if pred(rec)]

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def running(self):
        return self.proc.poll() is None

    # --- the stop routine ------------------------------------------------------------

    def stop(self, grace=STOP_GRACE_S):
        """SIGTERM to the QEMU this object started, SIGKILL after `grace`
        seconds; then the reader drains what QEMU printed. Idempotent."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._finish()

    def kill(self):
        """SIGKILL at once (a crash), then keep the complete lines printed before it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self._finish()

    def _finish(self):
        self.proc.wait()
        self.thread.join(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                try:
                    f.close()
                except OSError:
                    pass
        if self._err not in (None, subprocess.DEVNULL):
            self._err.close()
            self._err = None
        if self.log:
            self.log.close()
            self.log = None


def boot(name, make_cmd, attempts=ports.ATTEMPTS, say=print, **vm_args):
    """Starts a Vm from `make_cmd()` (which picks fresh QEMU-side ports on
    every call) and waits until it is past start-up; when QEMU exited
    because a port was taken, starts again (at most `attempts` times).
    Needs a stderr_path (to read QEMU's reason)."""
    for attempt in range(1, attempts + 1):
        vm = Vm(name, make_cmd(), **vm_args)
        try:
            return vm.started()
        except ports.PortConflict as e:
            vm.stop()
            if attempt == attempts:
                raise
            say(f"{name}: port taken at start-up ({e}); retrying with fresh ports "
                f"({attempt}/{attempts})")
    raise AssertionError("unreachable")
