"""Loopback ports that cannot race.

Two cases, two rules:

- The consumer is this process (a host peer's listener or datagram
  socket): bind on 127.0.0.1 port 0 and *keep* the socket (`held_udp`,
  `held_tcp_listener`). Nobody else can take the port; the number handed to
  QEMU is the socket's own.
- QEMU binds the port itself (hostfwd, a dgram link's local end): a port
  cannot be held for another process, so `qemu_port` only proposes a free
  one, and `qemu.boot` detects QEMU's early exit with an address-in-use
  error and starts again with fresh ports, a bounded number of times
  (`CONFLICT`, `ATTEMPTS`).

Only 127.0.0.1 is ever bound.
"""
import re
import socket

LOOPBACK = "127.0.0.1"
# QEMU's messages when a port it was told to bind is taken (a hostfwd of
# the restricted user network; the local end of a dgram link).
CONFLICT = re.compile(r"Could not set up host forwarding rule|Address already in use|can't bind")
ATTEMPTS = 5

_proposed = set()


def held_udp():
    """A UDP socket bound to 127.0.0.1 on a free port; the caller keeps it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOOPBACK, 0))
    return s


def held_tcp_listener(backlog=4, timeout=0.5):
    """A listening TCP socket on 127.0.0.1; the caller keeps it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((LOOPBACK, 0))
    s.listen(backlog)
    s.settimeout(timeout)
    return s


def port_of(sock):
    return sock.getsockname()[1]


def qemu_port(kind="udp"):
    """A port that is free now, for QEMU to bind (never one this process
    proposed before, so two ends of one run never get the same number).
    Another process may still take it before QEMU binds: `qemu.boot`
    retries on that conflict."""
    stype = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    for _ in range(64):
        with socket.socket(socket.AF_INET, stype) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        if port not in _proposed:
            _proposed.add(port)
            return port
    raise OSError("qemu_port: no fresh loopback port after 64 tries")


class PortConflict(Exception):
    """QEMU exited at start-up because a port it had to bind was taken."""
