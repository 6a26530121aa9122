"""A lossy L2 relay between the two VMs of `just os2vm-lossy`.

Each VM's `-netdev dgram` points at one of the relay's two sockets on
127.0.0.1; every datagram is one Ethernet frame. Frames are forwarded to the
other VM after a seeded random fate: dropped, duplicated, corrupted (one byte
of the frame after the Ethernet header flipped), or held back and sent after
the next frame (reordering). Counts are kept per fate. Loopback only; the
relay stops with the harness. See docs/reliability.md.
"""
import random
import selectors
import socket
import threading
import time

from . import ports


class LossyRelay:
    def __init__(self, seed, drop, dup, corrupt, reorder):
        self.rng = random.Random(seed)
        self.rates = dict(drop=drop, dup=dup, corrupt=corrupt, reorder=reorder)
        self.stats = dict(frames=0, dropped=0, duplicated=0, corrupted=0, reordered=0)
        # Held sockets: the relay's ports cannot be taken by anyone else.
        self.a = ports.held_udp()
        self.b = ports.held_udp()
        self.a_peer = None  # (host, port) of VM A's local socket
        self.b_peer = None
        self.held = {}
        self.stop = threading.Event()
        self.thread = None

    def ports(self):
        return ports.port_of(self.a), ports.port_of(self.b)

    def start(self, a_local, b_local):
        """Forwards between the VMs' local ends (called again with new ports
        when a VM's start was retried)."""
        self.a_peer = (ports.LOOPBACK, a_local)
        self.b_peer = (ports.LOOPBACK, b_local)
        if not self.thread:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _forward(self, out_sock, dest, frame, key):
        self.stats["frames"] += 1
        r = self.rng.random
        if r() < self.rates["drop"]:
            self.stats["dropped"] += 1
            return
        if r() < self.rates["corrupt"] and len(frame) > 15:
            i = self.rng.randrange(14, len(frame))
            frame = frame[:i] + bytes([frame[i] ^ (1 << self.rng.randrange(8))]) + frame[i + 1:]
            self.stats["corrupted"] += 1
        copies = [frame]
        if r() < self.rates["dup"]:
            copies.append(frame)
            self.stats["duplicated"] += 1
        if r() < self.rates["reorder"] and key not in self.held:
            self.held[key] = copies
            self.stats["reordered"] += 1
            return
        for c in copies:
            out_sock.sendto(c, dest)
        for c in self.held.pop(key, []):
            out_sock.sendto(c, dest)

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.a, selectors.EVENT_READ, "a")
        sel.register(self.b, selectors.EVENT_READ, "b")
        while not self.stop.is_set():
            for k, _ in sel.select(timeout=0.2):
                try:
                    frame, _ = k.fileobj.recvfrom(65536)
                except OSError:
                    return
                if k.data == "a":  # from VM A, to VM B (sent from B's relay socket)
                    self._forward(self.b, self.b_peer, frame, "ab")
                else:
                    self._forward(self.a, self.a_peer, frame, "ba")
            # Never hold a frame for long: flush what waited over a tick.
            for key in list(self.held):
                dest, sock = (self.b_peer, self.b) if key == "ab" else (self.a_peer, self.a)
                for c in self.held.pop(key):
                    sock.sendto(c, dest)

    def close(self):
        self.stop.set()
        time.sleep(0.3)
        self.a.close()
        self.b.close()

    def summary(self):
        return ", ".join(f"{k}={v}" for k, v in self.stats.items())
