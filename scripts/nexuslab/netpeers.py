"""Host-side peers for the network proofs of the QEMU smoke.

Everything listens or connects on 127.0.0.1 only and is bounded in time.
QEMU user networking stays `restrict=on`; the guest reaches the host only
through the explicit forwards built here:

* `guestfwd=tcp:10.0.2.100:7-tcp:127.0.0.1:<echo>`: a TCP echo server
  (QEMU connects its guestfwd chardev once, at start-up, so it must listen
  before QEMU starts and serves that one connection);
* `hostfwd=tcp:127.0.0.1:<t>-:8080`: when selftest-net prints the
  catalogue's `peer:net-tcp-listening` marker, connect, send `NXHELLO <nonce>\\n`, expect
  `NXECHO <nonce>\\n`, send `NXBYE\\n`;
* UDP: QEMU's guestfwd is TCP-only and `restrict=on` drops every guest
  datagram except DHCP and TFTP. So the guest's UDP round trip is a TFTP
  read from QEMU's built-in server (`tftp=<dir>`, a temporary directory
  holding `nexus-net-proof.txt` = this run's nonce), and the host-to-guest
  direction is `NXPING <nonce>` sent to `hostfwd=udp:127.0.0.1:<u>-:5555`
  once the guest prints the `peer:net-udp-listening` marker.

The echo and sink listeners are held sockets (`ports.held_tcp_listener`);
the hostfwd ports are bound by QEMU, so `net()` proposes fresh ones on every
call and `qemu.boot` retries when one was taken.

See docs/harness.md.
"""
import os
import shutil
import socket
import tempfile
import threading
import time

from . import ports
from .qemu import UserNet

GUEST_TCP_PORT = 8080
GUEST_UDP_PORT = 5555
ECHO_GUEST_ADDR = "10.0.2.100:7"
SINK_GUEST_ADDR = "10.0.2.101:9"


class NetPeers:
    """Starts the host peers; `net()` gives the VM's network."""

    def __init__(self, catalogue, log, deadline_s=60.0, sink=False):
        self.cat = catalogue
        self.log = log
        self.keys = catalogue.usable(("net-tcp-listening", "net-udp-listening"), log)
        self.deadline = time.monotonic() + deadline_s
        self.results = {}
        self.threads = []
        self.echo = ports.held_tcp_listener()
        self.sink = ports.held_tcp_listener() if sink else None
        self.tcp_port = self.udp_port = None
        self._spawn(self._echo_server)
        if self.sink:
            self._spawn(self._sink_server)
        self.nonce = os.urandom(6).hex()
        self.tftp_dir = tempfile.mkdtemp(prefix="nexus-tftp-")
        with open(os.path.join(self.tftp_dir, "nexus-net-proof.txt"), "w") as f:
            f.write(self.nonce + "\n")
        # A 64 KiB file for the TFTP request/response benchmark.
        with open(os.path.join(self.tftp_dir, "nexus-bench.bin"), "wb") as f:
            f.write(bytes(range(256)) * 256)

    def _spawn(self, fn, *a):
        t = threading.Thread(target=fn, args=a, daemon=True)
        t.start()
        self.threads.append(t)

    def _left(self):
        return self.deadline - time.monotonic()

    def net(self):
        """The VM's user network (restrict=on) with this run's forwards;
        fresh hostfwd ports on every call (a retried start)."""
        self.tcp_port = ports.qemu_port("tcp")
        self.udp_port = ports.qemu_port("udp")
        guestfwd = [(ECHO_GUEST_ADDR, ports.port_of(self.echo))]
        if self.sink:
            guestfwd.append((SINK_GUEST_ADDR, ports.port_of(self.sink)))
        return UserNet(hostfwd=[("tcp", self.tcp_port, GUEST_TCP_PORT),
                                ("udp", self.udp_port, GUEST_UDP_PORT)],
                       guestfwd=guestfwd, tftp=self.tftp_dir)

    def _accept(self, srv):
        while self._left() > 0:
            try:
                conn, _ = srv.accept()
                return conn
            except socket.timeout:
                continue
        return None

    def _echo_server(self):
        conn = self._accept(self.echo)
        if conn is None:
            return
        conn.settimeout(0.5)
        echoed = 0
        with conn:
            while self._left() > 0:
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                conn.sendall(data)
                echoed += len(data)
        self.results["tcp echo bytes"] = echoed

    def _sink_server(self):
        conn = self._accept(self.sink)
        if conn is None:
            return
        conn.settimeout(0.5)
        total = 0
        with conn:
            while self._left() > 0:
                try:
                    data = conn.recv(1 << 20)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                total += len(data)
        self.results["sink bytes"] = total

    def on_line(self, line):
        """Reacts to guest output (a `qemu.Line`, called for every UART line)."""
        if "net-tcp-listening" in self.keys and self.cat.seen("net-tcp-listening", line.origin, line.text):
            self._spawn(self._tcp_client)
        elif "net-udp-listening" in self.keys and self.cat.seen("net-udp-listening", line.origin, line.text):
            self._spawn(self._udp_client)

    def _tcp_client(self):
        hello = f"NXHELLO {self.nonce}\n".encode()
        want = f"NXECHO {self.nonce}\n".encode()
        # slirp accepts at once and resets when the guest is not listening
        # yet, so retry (bounded) until the exchange completes.
        while self._left() > 0:
            try:
                with socket.create_connection((ports.LOOPBACK, self.tcp_port), timeout=2) as s:
                    s.sendall(hello)
                    got = b""
                    while not got.endswith(b"\n") and len(got) < 256:
                        chunk = s.recv(256)
                        if not chunk:
                            break
                        got += chunk
                    if got == want:
                        s.sendall(b"NXBYE\n")
                        time.sleep(0.2)
                        self.results["tcp listen"] = "ok"
                        self.log(f"netpeers: tcp listen exchange ok (nonce {self.nonce})")
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.results["tcp listen"] = "no exchange"

    def _udp_client(self):
        ping = f"NXPING {self.nonce}".encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            # Datagrams may be lost; the guest needs one. Bounded: 5 s.
            end = min(self.deadline, time.monotonic() + 5)
            sent = 0
            while time.monotonic() < end:
                s.sendto(ping, (ports.LOOPBACK, self.udp_port))
                sent += 1
                time.sleep(0.25)
        self.results["udp pings sent"] = sent

    def take_lines(self):
        """Results to judge as the harness's own lines (none: the guest reports these proofs)."""
        return []

    def summary(self):
        return ", ".join(f"{k}={v}" for k, v in sorted(self.results.items())) or "none"

    def close(self):
        for s in (self.echo, self.sink):
            if s:
                s.close()
        shutil.rmtree(self.tftp_dir, ignore_errors=True)
