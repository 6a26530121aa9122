"""An Ethernet hub made of UDP sockets on 127.0.0.1 (`just mesh`).

Each node's QEMU runs `-netdev dgram` between its own local port (QEMU
binds it) and its own hub port (this process binds and keeps it:
`ports.held_udp`). A frame that arrives on node i's hub port is sent, from
each other node's hub port, to that node's QEMU: flooding, as a hub or a
switch that knows no addresses does. Frames are not parsed or changed.

`cut(i)` partitions node i off (its frames are dropped both ways, counted);
`heal(i)` joins it again. A frame is accepted on hub port i only from the
QEMU port registered for node i (`attach`), so a restarted node is attached
again with its new port and nothing else on the loopback can inject frames.
Only 127.0.0.1 is bound or sent to. One thread; `close()` stops it.
"""
import select
import threading

from . import ports

MAX_FRAME = 65535


class Hub:
    def __init__(self, n):
        self.socks = [ports.held_udp() for _ in range(n)]
        self.node_port = [None] * n
        self.isolated = set()
        self.lock = threading.Lock()
        self.frames_in = 0
        self.frames_out = 0
        self.dropped_cut = 0
        self.dropped_foreign = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def port(self, i):
        """Node i's hub port (its QEMU's dgram remote end)."""
        return ports.port_of(self.socks[i])

    def attach(self, i, qemu_port):
        """Node i's QEMU binds `qemu_port`: frames for node i go there."""
        with self.lock:
            self.node_port[i] = int(qemu_port)

    def cut(self, i):
        with self.lock:
            self.isolated.add(i)

    def heal(self, i):
        with self.lock:
            self.isolated.discard(i)

    def _run(self):
        index = {s.fileno(): i for i, s in enumerate(self.socks)}
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select(self.socks, [], [], 0.2)
            except (OSError, ValueError):
                return
            for s in ready:
                i = index[s.fileno()]
                try:
                    data, (host, port) = s.recvfrom(MAX_FRAME)
                except OSError:
                    continue
                with self.lock:
                    if host != ports.LOOPBACK or port != self.node_port[i]:
                        self.dropped_foreign += 1
                        continue
                    self.frames_in += 1
                    if i in self.isolated:
                        self.dropped_cut += 1
                        continue
                    targets = [(j, p) for j, p in enumerate(self.node_port)
                               if j != i and p is not None and j not in self.isolated]
                    self.dropped_cut += sum(1 for j in self.isolated if j != i)
                for j, p in targets:
                    try:
                        self.socks[j].sendto(data, (ports.LOOPBACK, p))
                        self.frames_out += 1
                    except OSError:
                        pass  # that node's QEMU is not bound (stopped or restarting)

    def summary(self):
        with self.lock:
            return (f"frames in={self.frames_in} out={self.frames_out} "
                    f"dropped_partition={self.dropped_cut} dropped_foreign={self.dropped_foreign}")

    def close(self):
        self._stop.set()
        self.thread.join(timeout=2)
        for s in self.socks:
            s.close()
