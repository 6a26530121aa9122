#!/usr/bin/env python3
"""`just test-shell`: boots the `user` profile, types a script into the shell
through piped standard input (scripts/run.sh), and checks each command's
output and the marker catalogue's `required:user` / `forbidden:user` rows.

Console lines carry the kernel's `[<program>] ` tags (docs/abi.md, Console):
a marker counts only from the task docs/markers.md names as its emitter, and
the commands' output is read with the tags taken off.

Bounded: RUN_TIMEOUT (default 120 s) ends QEMU if it has not powered off.
Prints `shell-test: PASS` or the failures and the log; exit 0 / 1.
"""
import datetime
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nexuslab import ROOT  # noqa: E402
from nexuslab.catalogue import Catalogue, split_origin  # noqa: E402

CAT = Catalogue()
PROMPT = CAT.marker("shell-prompt")
READY = CAT.marker("shell-ready")
SCRIPT = [
    "help",
    "ifconfig",
    "ping 10.0.2.2 -c 3",
    # Typed ahead of the running ping: 270 bytes, more than the kernel's
    # 256-byte input ring; none may be lost (a full ring leaves bytes in the
    # UART with its interrupt masked; whether this run filled it is not
    # observed).
] + ["log info"] * 30 + [
    "ps",
    "netstat",
    # Line editing over the real UART: Up + Enter repeats `netstat`;
    # "pz", Backspace, "s" is `ps`.
    "\x1b[A",
    "pz\x7fs",
    # Ctrl-C right after the line stops the ping after its first echo.
    "ping 10.0.2.2 -c 50\n\x03",
    "peers",
    "kv get x",
    "frobnicate",
    "poweroff",
]


def sections(text):
    """Command -> its output: the text between `neuron> <cmd>` and the next prompt."""
    out = {}
    parts = text.split(PROMPT)
    for p in parts[1:]:
        line, _, rest = p.partition("\n")
        out.setdefault(line.strip(), rest)
    return out


def check(text, rc):
    fails = []

    def need(cond, what):
        if not cond:
            fails.append(what)

    tagged = [split_origin(line) for line in text.split("\n")]
    for m in CAT.required("user"):
        need(any(CAT.counts(m, o, t) for o, t in tagged),
             f"marker missing (or not from {CAT.owner(m)}): {m!r}")
    forbidden = CAT.forbidden("user")
    for line in text.splitlines():
        for m in forbidden:
            need(m not in line, f"forbidden line: {line!r}")
    need(rc == 0, f"QEMU exit status {rc} (0 = the guest powered off)")

    # The shell's output without the tags (kernel and other tasks' lines stay).
    text = "\n".join(t for _, t in tagged)
    s = sections(text)
    for cmd in SCRIPT:
        if cmd.isprintable():
            need(cmd in s, f"no output section for {cmd!r}")
    help_ = s.get("help", "")
    for c in ["ps", "ifconfig", "ping", "netstat", "log", "poweroff"]:
        need(re.search(rf"^\s+{c}\b", help_, re.M), f"help does not list {c}")
    ifc = s.get("ifconfig", "")
    need("inet 10.0.2.15/24" in ifc, "ifconfig: no address 10.0.2.15/24 (slirp DHCP)")
    need("mac 02:00:00:00:00:01" in ifc, "ifconfig: MAC 02:00:00:00:00:01 missing")
    need(re.search(r"lease dhcp \S+ \(obtained", ifc), "ifconfig: DHCP lease time missing")
    ping = s.get("ping 10.0.2.2 -c 3", "")
    rtts = [float(m.group(2)) for m in
            re.finditer(r"reply from 10\.0\.2\.2: seq=(\d) time=(\d+\.\d{3}) ms", ping)]
    seqs = re.findall(r"reply from 10\.0\.2\.2: seq=(\d)", ping)
    need(seqs == ["1", "2", "3"], f"ping: replies for seq 1..3 expected, got {seqs}")
    need("3 packets transmitted, 3 received, 0% packet loss" in ping, "ping: summary line")
    m = re.search(r"rtt min/avg/max = (\d+\.\d+)/(\d+\.\d+)/(\d+\.\d+) ms", ping)
    need(m is not None, "ping: rtt statistics missing")
    if m and rtts:
        mn, avg, mx = map(float, m.groups())
        need(abs(mn - min(rtts)) < 0.0015 and abs(mx - max(rtts)) < 0.0015,
             "ping: min/max disagree with the replies")
        need(mn <= avg <= mx, "ping: avg outside min..max")
    ps = s.get("ps", "")
    for svc in ["netstackd", "rngd", "shell"]:
        need(re.search(rf"^{svc}\s+running\s+0\s+\d", ps, re.M), f"ps: {svc} not listed as running")
    need("dsoftbusd" not in ps and "selftest" not in ps, "ps: a service the user profile does not run")
    need("open handles" in s.get("netstat", ""), "netstat: no socket figures")
    need(text.count("log level (shell) set to INFO") == 30,
         f"type-ahead: {text.count('log level (shell) set to INFO')} of 30 'log info' ran")
    need(text.count("open handles") == 2, "history: Up + Enter did not repeat netstat")
    need(text.count("SERVICE ") == 2, "editing: 'pz<BS>s' did not run ps")
    stopped = s.get("ping 10.0.2.2 -c 50", "")
    need("^C" in stopped and "1 packets transmitted, 1 received" in stopped,
         "ping: Ctrl-C did not stop it after the first echo")
    need("not available in this image" in s.get("peers", ""), "peers: must say DSoftBus is not available")
    need("not available in this image" in s.get("kv get x", ""), "kv: must say the store is not available")
    need("unknown command" in s.get("frobnicate", ""), "an unknown command must be named as such")
    return fails


def main():
    timeout = os.environ.get("RUN_TIMEOUT", "120")
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    log_dir = os.path.join(ROOT, "build", "logs", f"shell-{stamp}")
    os.makedirs(log_dir, exist_ok=True)
    log = os.path.join(log_dir, "uart.log")
    script = "".join(c + "\n" for c in SCRIPT)
    print(f"shell-test: typing {len(SCRIPT)} commands into the user profile "
          f"(timeout {timeout}s, log {os.path.relpath(log, ROOT)})", flush=True)
    env = dict(os.environ, RUN_TIMEOUT=timeout)
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run.sh"), "user"],
                          input=script.encode(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, check=False)
    text = proc.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    with open(log, "w", encoding="utf-8") as f:
        f.write(text)
    fails = check(text, proc.returncode)
    body = text[text.find(READY):] if READY in text else text[-3000:]
    print(body)
    if fails:
        for f in fails:
            print(f"shell-test: FAIL: {f}")
        return 1
    print("shell-test: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
