"""The library's own checks (run by scripts/harness-selftest.sh):

1. a port QEMU must bind, already taken by someone else, makes `qemu.boot`
   retry with a fresh port, and the VM then boots (a tagged line of init
   arrives);
2. a port that stays taken ends in `PortConflict` after the bounded number
   of tries, not in a hang or a silent pass;
3. the catalogue refuses a `peer:` key given on two rows, and an unknown key
   is an error naming it;
4. user networking always carries `restrict=on`, the builder accepts no
   other network kind, and a tap is refused outside a private network
   namespace holding only `lo` and the tap (the self-test runs in the
   machine's own namespace);
5. the mesh's hub floods a node's frame to every other node, drops frames
   from a socket that is not the node's registered QEMU port (an injection
   attempt from elsewhere on the loopback), and a cut node neither sends nor
   receives until healed.

usage: python3 -m nexuslab.selftest   (needs build/neuron.elf)
"""
import os
import sys
import tempfile

from . import ROOT, netns, ports, qemu
from .hub import Hub
from .catalogue import Catalogue


def check(cond, what):
    if not cond:
        print(f"nexuslab-selftest: FAIL: {what}")
        sys.exit(1)


def main():
    kernel = os.path.join(ROOT, "build", "neuron.elf")
    tmp = tempfile.mkdtemp(prefix="nexuslab-selftest-")
    taken = ports.held_udp()  # the "other process" holding a port
    tries = []

    def make():
        local = ports.port_of(taken) if not tries else ports.qemu_port("udp")
        tries.append(local)
        return qemu.command(kernel, "os2vm-a", qemu.DgramNet(local, ports.qemu_port("udp")))

    notes = []
    vm = qemu.boot("probe", make, say=notes.append, stderr_path=os.path.join(tmp, "err"))
    try:
        line = vm.wait_line(lambda r: r.origin == "nexus-init", 60)
    finally:
        vm.stop()
    check(len(tries) == 2 and len(notes) == 1, f"one retry expected, got tries={tries}")
    check(line is not None, "the retried VM did not boot")

    stuck = []
    try:
        qemu.boot("stuck", lambda: stuck.append(1) or qemu.command(
            kernel, "os2vm-a", qemu.DgramNet(ports.port_of(taken), ports.qemu_port("udp"))),
            attempts=3, say=lambda _m: None, stderr_path=os.path.join(tmp, "err2"))
        check(False, "a port that stays taken was not reported")
    except ports.PortConflict:
        check(len(stuck) == 3, f"3 bounded tries expected, got {len(stuck)}")

    cat_path = os.path.join(tmp, "cat.md")
    with open(cat_path, "w") as f:
        f.write("| `a: x` | peer:k | a | one |\n| `b: y` | peer:k | b | two |\n")
    try:
        Catalogue(cat_path)
        check(False, "a peer key on two rows was accepted")
    except ValueError:
        pass
    try:
        Catalogue().marker("no-such-key")
        check(False, "an unknown peer key was accepted")
    except KeyError as e:
        check("no-such-key" in str(e), "the unknown key is not named")

    net = qemu.UserNet(hostfwd=[("tcp", 1, 2)]).netdev()
    check(net.startswith("user,id=n0,restrict=on,") and "hostfwd=tcp:127.0.0.1:1-:2" in net,
          f"user network {net!r}")
    try:
        qemu.command(kernel, "smoke", "user,id=n0")
        check(False, "a raw netdev string was accepted")
    except TypeError:
        pass
    try:
        qemu.command(kernel, "real-peers", qemu.TapNet("nxtap0"))
        check(False, "a tap outside a private network namespace was accepted")
    except netns.NetnsError:
        pass
    check_hub()
    print("nexuslab-selftest: ok (port conflict retried then booted; a taken port fails after "
          "3 tries; duplicate and unknown peer keys refused; user net restrict=on only; "
          "no tap outside a private namespace; hub floods, refuses foreign senders, "
          "partitions and heals)")


def check_hub():
    hub = Hub(3)
    nodes = [ports.held_udp() for _ in range(3)]  # stand-ins for three QEMUs
    try:
        for i, s in enumerate(nodes):
            s.settimeout(0.5)
            hub.attach(i, ports.port_of(s))

        def got(i):
            try:
                return nodes[i].recvfrom(2048)[0]
            except OSError:
                return None

        def send(i, data, sock=None):
            (sock or nodes[i]).sendto(data, (ports.LOOPBACK, hub.port(i)))

        send(0, b"frame-0")
        check(got(1) == b"frame-0" and got(2) == b"frame-0", "hub did not flood a frame")
        check(got(0) is None, "hub echoed a frame to its sender")
        intruder = ports.held_udp()
        try:
            send(1, b"forged", intruder)
            check(got(0) is None and got(2) is None, "hub forwarded a frame from a foreign port")
        finally:
            intruder.close()
        hub.cut(2)
        send(0, b"while-cut")
        send(2, b"from-cut")
        check(got(1) == b"while-cut", "the rest lost its frames during a partition")
        check(got(2) is None and got(1) is None, "a cut node sent or received")
        hub.heal(2)
        send(2, b"healed")
        check(got(0) == b"healed" and got(1) == b"healed", "a healed node is still cut off")
    finally:
        hub.close()
        for s in nodes:
            s.close()


if __name__ == "__main__":
    main()
