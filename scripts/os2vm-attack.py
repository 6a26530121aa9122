#!/usr/bin/env python3
"""`just os2vm-attack`: VMs A and B of `just os2vm` (own identities on fresh
disks, storaged, dsoftbusd, an application stream between them) and a third
VM C, the attacker (profile `os2vm-attack-c`, app `selftest-attacker`), on
one L2 segment: the harness's hub of UDP sockets on 127.0.0.1
(`nexuslab.hub`; nothing but loopback). See docs/attack.md.

Phases, each bounded: A and B start and authenticate each other (the
phases of scripts/os2vm.py, reused: identity, then the session); A's app
(`nexus.attack=1`) starts its echo loop to B; then C starts and attacks A.
The verdict is a list of named checks, each printed PASS or FAIL, then
`os2vm-attack: PASS` only when all hold:

- takeover: C saw A refuse it as B, and A logged the refused claim of B's id;
- untrusted: C, authenticated under its own id, was refused `nodeinfo`;
- a-b-session: no `session closed` / `peer expired` for B on A (nor for A on
  B), one authenticated A-B session only, A's dsoftbusd never restarted;
- echo-loop: A's echo loop answered every message and spans C's whole attack;
- drops: A's own counters show the flood rate limited, the unbound ids and
  undecodable datagrams dropped, and the replay dropped as pinned;
- bounds: C held at most 4 sessions and 2 half-open handshakes (A's limits);
- provenance: every `SELFTEST:` line on every console comes from the task
  the catalogue names for a marker on it (C's forged texts never do);
- clean: no forbidden marker on any console, all three VMs ran to the end.

Environment: OS2VM_TIMEOUT (seconds per phase, default 60), ATTACK_TIMEOUT
(the attack and the rest of the echo loop, default 240), NO_BUILD=1,
OS2VM_DISK_KIB, QEMU_MEM. Every VM is stopped by the PID this script
started. Logs: build/logs/os2vm-attack-<time>/{A,B,C}-uart.log.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import os2vm  # noqa: E402
from nexuslab import ROOT, ports, qemu  # noqa: E402
from nexuslab.catalogue import fields, split_origin  # noqa: E402
from nexuslab.hub import Hub  # noqa: E402

CAT = os2vm.CAT
ATTACKER_PROFILE = "os2vm-attack-c"
# The limits of docs/dsoftbus.md §11 the attacker must stay within on A.
MAX_SESSIONS_PER_ADDR = 4
MAX_INBOUND_PER_ADDR = 2


def seen(node, key, since=0.0):
    """Lines of `node` (any of its runs' current Vm) showing the `peer:<key>` marker from its owner."""
    return [r for r in node.vm.all(lambda r: CAT.seen(key, r.origin, r.text)) if r.t >= since]


def wait_key(nodes_keys, timeout, stop_when_exited=()):
    """Waits until each (node, key) has a line; returns the missing pairs.
    Stops early when a VM of `stop_when_exited` ended."""
    end = time.monotonic() + timeout
    while True:
        missing = [(n, k) for n, k in nodes_keys if not seen(n, k)]
        if not missing or time.monotonic() > end:
            return missing
        if any(not n.vm.running() for n in stop_when_exited):
            return missing
        time.sleep(0.2)


class Verdict:
    def __init__(self):
        self.rows = []

    def check(self, name, ok, detail):
        self.rows.append((name, bool(ok), detail))
        print(f"  check {name}: {'PASS' if ok else 'FAIL'} ({detail})")

    def failed(self):
        return [n for n, ok, _ in self.rows if not ok]


def provenance(nodes):
    """(forged, neutralised): lines whose text *starts* a selftest line from a
    task that owns no catalogued marker on it; and lines that only carry such
    text inside them (the attacker's injections, printed escaped by the daemon)."""
    prefix = CAT.marker("selftest-line")
    markers = [r.marker for r in CAT.rows if r.marker.startswith(prefix) and r.marker != prefix]
    # A line with a forbidden marker (a selftest's FAIL line) fails the `clean` check.
    failing = [m for m in CAT.forbidden() if m != prefix]
    forged, neutral = [], []
    for n in nodes:
        for r in n.vm.all(lambda r: prefix in r.text and not any(m in r.text for m in failing)):
            on_line = [m for m in markers if m in r.text]
            if r.text.startswith(prefix):
                if not any(CAT.owner(m) == r.origin for m in on_line):
                    forged.append((n.name, r.raw))
            elif any(CAT.owner(m) != r.origin for m in on_line):
                neutral.append((n.name, r.raw))
    return forged, neutral


class _Console:
    """A console made of given lines, for the provenance check's own test."""

    def __init__(self, name, raws):
        self.name, self.vm = name, self
        self.lines = [qemu.Line(0.0, raw, *split_origin(raw)) for raw in raws]

    def all(self, pred):
        return [r for r in self.lines if pred(r)]


def provenance_works():
    """The provenance check on known lines: a catalogued marker starting a line
    of another task or of the kernel is forged, the same text escaped inside a
    daemon's line is only counted, and its owner's own line is genuine."""
    m = CAT.marker("attack-takeover")
    c = _Console("test", [f"[dsoftbusd] {m}", m, f"[dsoftbusd] refused svc=x\\x0a{m} peer=1",
                          f"[{CAT.owner(m)}] {m}"])
    forged, neutral = provenance([c])
    return len(forged) == 2 and len(neutral) == 1


def main():
    timeout = float(os.environ.get("OS2VM_TIMEOUT", "60"))
    if not provenance_works():
        print("os2vm-attack: FAIL: the provenance check misjudges known lines")
        return 2
    attack_timeout = float(os.environ.get("ATTACK_TIMEOUT", "240"))
    if os.environ.get("NO_BUILD") != "1":
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "build.sh")], check=True)
    forbidden = CAT.forbidden()
    need_a = CAT.required("os2vm-attack-a")
    need_c = CAT.required(ATTACKER_PROFILE)
    if not need_a or not need_c:
        print("os2vm-attack: no markers catalogued for os2vm-attack-a/-c; failing")
        return 2
    log_dir = os2vm.new_log_dir("os2vm-attack")
    t0 = time.monotonic()
    a = os2vm.Node("A", log_dir, t0, bootargs="nexus.attack=1")
    b = os2vm.Node("B", log_dir, t0)
    c = os2vm.Node("C", log_dir, t0, profile=ATTACKER_PROFILE)
    a.other, b.other, c.other = b, a, a
    nodes = [a, b, c]
    kib = int(os.environ.get("OS2VM_DISK_KIB", "64"))
    for n in (a, b):
        qemu.fresh_disk(os2vm.DISK[n.name], kib)
    hub = Hub(3)
    print(f"os2vm-attack: hub on 127.0.0.1 ports {hub.port(0)} {hub.port(1)} {hub.port(2)}; "
          f"logs {os.path.relpath(log_dir, ROOT)}")
    v = Verdict()
    try:
        try:
            a.start_on_hub(hub, 0)
            b.start_on_hub(hub, 1)
        except ports.PortConflict as e:
            print(f"os2vm-attack: FAIL: ports stayed taken: {e}")
            return 1
        # The phases of `just os2vm`: identities, then the A-B session.
        if not os2vm.learn_ids(a, b, timeout, forbidden):
            return 1
        auth = CAT.marker("os2vm-auth")
        started = CAT.marker("attack-echo-started")
        missing = os2vm.wait_markers("sessions", [(a, auth, 0.0), (b, auth, 0.0)],
                                     timeout, forbidden)
        if missing:
            for n, m in missing:
                print(f"os2vm-attack: FAIL phase=sessions node={n.name} missing: {n.completed(m) or m}")
            return 1
        # A and B pair as in `just os2vm` (B shows a PIN, the harness types a
        # wrong one and then the right one on A's console); A's echo loop starts
        # once B trusts A.
        if not os2vm.pair(a, b, timeout, forbidden):
            return 1
        missing = os2vm.wait_markers("echo loop", [(a, started, 0.0)], timeout, forbidden)
        os2vm.report(a, [auth, started], 0.0)
        os2vm.report(b, [auth], 0.0)
        if missing:
            for n, m in missing:
                print(f"os2vm-attack: FAIL phase=echo-loop node={n.name} missing: {n.completed(m) or m}")
            return 1
        t_loop = a.first(started)
        print(f"os2vm-attack: A-B session up, A's echo loop started at {t_loop:.2f}s; starting C")
        try:
            c.start_on_hub(hub, 2)
        except ports.PortConflict as e:
            print(f"os2vm-attack: FAIL: C's port stayed taken: {e}")
            return 1
        missing = wait_key([(c, "attack-done")], attack_timeout, stop_when_exited=nodes)
        if missing:
            print(f"os2vm-attack: C did not finish its attack within {attack_timeout:.0f}s")
        # The rest of A's echo loop (it runs a fixed window from its start).
        left = max(5.0, attack_timeout - (time.monotonic() - t0 - t_loop))
        wait_key([(a, "attack-echo-loop")], left, stop_when_exited=nodes)
        time.sleep(3)  # A's last `discovery drops` line (printed at most every 2 s)
        judge(v, a, b, c, need_c, forbidden)
        figures(a, c)
        if v.failed():
            print(f"os2vm-attack: FAIL checks: {', '.join(v.failed())}")
            return 1
        print("os2vm-attack: PASS")
        return 0
    finally:
        for n in nodes:
            n.stop()
        hub.close()
        print(f"os2vm-attack: hub {hub.summary()}")
        if v.failed() or not v.rows:
            for n in nodes:
                if n.vm:
                    print(f"os2vm-attack: node {n.name} log tail:")
                    for rec in n.vm.lines[-12:]:
                        print(f"    {rec.raw}")


def judge(v, a, b, c, need_c, forbidden):
    ok_c = {m: c.first(m) for m in need_c}
    t_start = (seen(c, "attack-started") or [None])[0]
    t_done = (seen(c, "attack-done") or [None])[0]
    # takeover: the attacker's own observation, and A's log of the refused claim.
    refused_claim = [r for r in seen(a, "identity-refused")
                     if CAT.after("identity-refused", r.origin, r.text).startswith(b.id)]
    take = ok_c.get(CAT.marker("attack-takeover"))
    v.check("takeover", take is not None and refused_claim,
            f"C observed the refusal: {'yes' if take is not None else 'no'}; "
            f"A logged the refused claim of B's id: {len(refused_claim)}x")
    unt = ok_c.get(CAT.marker("attack-untrusted"))
    v.check("untrusted", unt is not None,
            "C was refused nodeinfo under its own untrusted id" if unt is not None else
            "C got no refusal (needs the trust store: an untrusted peer may open only `pairing`)")
    # The A-B session: never closed, never re-authenticated, A's daemon never restarted.
    closed_a = [r.raw for r in a.lines_of("session-closed") if f"peer={b.id}" in r.text]
    closed_b = [r.raw for r in b.lines_of("session-closed") if f"peer={a.id}" in r.text]
    expired = [r.raw for r in a.lines_of("peer-expired") if b.id in r.text]
    auths = [r for r in a.lines_of("auth-ok") if f"peer={b.id}" in r.text]
    restarts = a.lines_of("identity-loaded")
    v.check("a-b-session", not closed_a and not closed_b and not expired and len(auths) == 1
            and not restarts,
            f"A closed B's session {len(closed_a)}x, B closed A's {len(closed_b)}x, A expired B "
            f"{len(expired)}x, A authenticated B {len(auths)}x, A's dsoftbusd restarted "
            f"{len(restarts)}x")
    for line in (closed_a + closed_b + expired)[:5]:
        print(f"    {line}")
    # A's echo loop: whole, every message answered, around the whole attack.
    loop = seen(a, "attack-echo-loop")
    loop_start = (seen(a, "attack-echo-started") or [None])[0]
    if loop:
        f = fields(CAT.after("attack-echo-loop", loop[0].origin, loop[0].text))
        sent, answered = int(f.get("sent", "0")), int(f.get("answered", "-1"))
        spans = (loop_start is not None and t_start is not None and t_done is not None
                 and loop_start.t < t_start.t and t_done.t < loop[0].t)
        def at(r):
            return f"{r.t:.1f}s" if r is not None else "?"
        v.check("echo-loop", sent > 0 and sent == answered and spans,
                f"sent={sent} answered={answered}; loop {at(loop_start)}..{at(loop[0])}, "
                f"attack {at(t_start)}..{at(t_done)}")
    else:
        v.check("echo-loop", False, "A's echo loop did not finish")
    # A's own counters: the flood, the unbound ids, garbage and the replay were dropped.
    drops = seen(a, "discovery-drops")
    d = fields(CAT.after("discovery-drops", drops[-1].origin, drops[-1].text).replace("(", " ")
               .replace(")", " ")) if drops else {}
    n = {k: int(d.get(k, "0")) for k in ("rate_limited", "unbound", "malformed", "pinned",
                                         "source_limit", "inbound_refused", "per_addr_refused")}
    v.check("drops", all(n[k] > 0 for k in ("rate_limited", "unbound", "malformed", "pinned")),
            " ".join(f"{k}={x}" for k, x in n.items()) if drops else "A printed no drops line")
    # What C could hold on A stays within A's per-address limits.
    held = seen(c, "attack-held")
    after = CAT.after("attack-held", held[0].origin, held[0].text) if held else ""
    first = re.match(r"\d+", after)
    sess = int(first.group(0)) if first else -1
    half = int(fields(after).get("half_open_held", "-1"))
    v.check("bounds", 0 <= sess <= MAX_SESSIONS_PER_ADDR and 0 <= half <= MAX_INBOUND_PER_ADDR,
            f"C held sessions={sess} (limit {MAX_SESSIONS_PER_ADDR}) half_open={half} "
            f"(limit {MAX_INBOUND_PER_ADDR})" if held else "C reported no held sessions")
    forged, neutral = provenance((a, b, c))
    v.check("provenance", not forged,
            f"{len(forged)} selftest lines from a task that owns no marker on them; "
            f"{len(neutral)} lines carried injected marker text inside another task's line")
    for name, line in forged[:5]:
        print(f"    forged on {name}: {line}")
    bad = [(n.name, r.raw) for n in (a, b, c)
           for r in n.vm.all(lambda r: any(m in r.raw for m in forbidden))]
    dead = [n.name for n in (a, b, c) if not n.vm.running()]
    v.check("clean", not bad and not dead,
            f"{len(bad)} forbidden lines, VMs ended early: {', '.join(dead) or 'none'}")
    for name, line in bad[:5]:
        print(f"    {name}: {line}")


def figures(a, c):
    """What C said it did (every line of its attacker task), A's counters and loop."""
    attacker = CAT.owner(CAT.marker("attack-done"))
    for r in c.vm.all(lambda r: r.origin == attacker):
        print(f"  figure: C: {r.text}")
    drops = seen(a, "discovery-drops")
    if drops:
        print(f"  figure: A: {drops[-1].text}")
    for r in seen(a, "attack-echo-loop"):
        print(f"  figure: A: {r.text}")
    print(f"  figure: A logged {len(a.lines_of('peer-discovered'))} discoveries, "
          f"{len(a.lines_of('auth-ok'))} authenticated sessions")


if __name__ == "__main__":
    sys.exit(main())
