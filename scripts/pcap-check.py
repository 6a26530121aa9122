#!/usr/bin/env python3
"""Reads the two-VM link capture with tshark and checks what crossed it:
the discovery UDP flow (port 37020), the session TCP flow (port 37030), and
no plaintext application data in the TCP payloads (the proxy's service
names and answers, the bulk pattern). Exit 0 = all hold. See docs/os2vm.md."""
import subprocess
import sys

PLAINTEXT = [b"nodeinfo", b"samgrd", b"uptime_ms=", b"addr=10.42.0."]


def tshark(pcap, *args):
    r = subprocess.run(["tshark", "-r", pcap, *args], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        print(f"pcap-check: tshark failed: {r.stderr.strip()}")
        sys.exit(2)
    return r.stdout.splitlines()


def main():
    pcap = sys.argv[1]
    udp = tshark(pcap, "-Y", "udp.dstport == 37020", "-T", "fields", "-e", "ip.src")
    tcp = tshark(pcap, "-Y", "tcp.port == 37030 && tcp.len > 0", "-T", "fields", "-e", "tcp.payload")
    payload = b"".join(bytes.fromhex(h.replace(":", "")) for h in tcp if h)
    ok = True
    print(f"pcap-check: {len(udp)} discovery datagrams from {sorted(set(udp))}")
    if len(set(udp)) < 2:
        print("pcap-check: FAIL: discovery from both nodes not seen")
        ok = False
    print(f"pcap-check: {len(tcp)} session segments with data, {len(payload)} bytes")
    if len(payload) < 4 * 1024 * 1024:
        print("pcap-check: FAIL: the session flow carried less than the 4 MiB bulk")
        ok = False
    for needle in PLAINTEXT:
        if needle in payload:
            print(f"pcap-check: FAIL: plaintext {needle!r} in the session flow")
            ok = False
    # The bulk pattern (bus-selftest's 16 MiB stream) must not appear in clear.
    pattern = bytes(((i * 2654435761) >> 13) & 0xFF for i in range(64))
    if pattern in payload:
        print("pcap-check: FAIL: bulk data pattern in clear")
        ok = False
    print("pcap-check: PASS" if ok else "pcap-check: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
