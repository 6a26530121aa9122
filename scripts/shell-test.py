#!/usr/bin/env python3
"""`just test-shell`: boots the `user` profile twice on one fresh disk, types
a script into the shell through piped standard input (scripts/run.sh, with
RUN_DISK naming the test's own disk, so `build/user.img` is left alone), and
checks each command's output and the marker catalogue's `required:user` /
`forbidden:user` rows.

Boot 1: network commands, the bus (`peers`, `sessions`, `call` to an unknown
peer, `trust`, `pair show`), `kv put/get/list/del`, the system-wide log level
(`log debug` shows storaged's debug lines, `log warn` hides its info line,
`log info` shows it again) and `sleep 30`: an idle system, during which no
task may print a line. Boot 2, same disk: the key put in boot 1 is read back
and dsoftbusd loads the identity it created in boot 1.

Console lines carry the kernel's `[<program>] ` tags (docs/abi.md, Console):
a marker counts only from the task docs/markers.md names as its emitter, and
the commands' output is read with the tags taken off.

Bounded: RUN_TIMEOUT (default 150 s per boot) ends QEMU if it has not
powered off. Prints `shell-test: PASS` or the failures and the logs; exit 0 / 1.
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
CREATED = CAT.marker("identity-created")
LOADED = CAT.marker("identity-loaded")
DISK = os.path.join(ROOT, "build", "shell-test.img")
# A well-formed device id no device here has.
NOBODY = "0123456789abcdef0123456789abcdef"
IDLE_S = 30
# Whether this tree's dsoftbusd implements the trust ops or still answers
# them with the placeholder (the `trust` branch replaces it): the output
# expected of `pair show` and `trust` follows.
TRUST_PLACEHOLDER = "replaced by the trust branch" in open(
    os.path.join(ROOT, "source", "services", "dsoftbusd", "src", "bus.rs"), encoding="utf-8").read()

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
    "sessions",
    "kv put greeting hello from the shell",
    "kv put other 1",
    "kv get greeting",
    "kv list",
    "kv get missing",
    # The system-wide level: storaged's request lines are debug, a deletion
    # is info.
    "log",
    "log debug",
    "kv get other",
    "log warn",
    "kv del other",
    "kv put third 3",
    "log info",
    "kv del third",
    f"call {NOBODY} echo hi",
    "trust",
    "pair show",
    f"sleep {IDLE_S}",
    "frobnicate",
    "poweroff",
]

SCRIPT2 = ["kv get greeting", "kv list", "peers", "poweroff"]


def sections(text):
    """Command -> its output: the text between `neuron> <cmd>` and the next
    prompt (the first time the command was typed)."""
    out = {}
    for cmd, rest in section_list(text):
        out.setdefault(cmd, rest)
    return out


def section_list(text):
    """(command, output) in order."""
    out = []
    for p in text.split(PROMPT)[1:]:
        line, _, rest = p.partition("\n")
        out.append((line.strip(), rest))
    return out


def tagged_lines(text):
    return [split_origin(line) for line in text.split("\n")]


def plain(text):
    """The output with the tags taken off (other tasks' lines stay)."""
    return "\n".join(t for _, t in tagged_lines(text))


def check(text, rc):
    """Boot 1. Returns (failures, device id dsoftbusd created)."""
    fails = []

    def need(cond, what):
        if not cond:
            fails.append(what)

    tagged = tagged_lines(text)
    for m in CAT.required("user"):
        need(any(CAT.counts(m, o, t) for o, t in tagged),
             f"marker missing (or not from {CAT.owner(m)}): {m!r}")
    forbidden = CAT.forbidden("user")
    for line in text.splitlines():
        for m in forbidden:
            need(m not in line, f"forbidden line: {line!r}")
    need(rc == 0, f"QEMU exit status {rc} (0 = the guest powered off)")

    # The shell's output without the tags (kernel and other tasks' lines stay).
    raw = text
    text = "\n".join(t for _, t in tagged)
    s = sections(text)
    for cmd in SCRIPT:
        if cmd.isprintable():
            need(cmd in s, f"no output section for {cmd!r}")
    help_ = s.get("help", "")
    for c in ["ps", "ifconfig", "ping", "netstat", "peers", "sessions", "call", "kv", "pair",
              "trust", "untrust", "log", "sleep", "poweroff"]:
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
    for svc in ["netstackd", "rngd", "storaged", "dsoftbusd", "shell"]:
        need(re.search(rf"^{svc}\s+running\s+0\s+\d", ps, re.M), f"ps: {svc} not listed as running")
    need("selftest" not in ps, "ps: a service the user profile does not run")
    need("open handles" in s.get("netstat", ""), "netstat: no socket figures")
    set_info = text.count("log level set to INFO for every task (was INFO)")
    need(set_info == 30, f"type-ahead: {set_info} of 30 'log info' ran")
    need(text.count("open handles") == 2, "history: Up + Enter did not repeat netstat")
    need(text.count("SERVICE ") == 2, "editing: 'pz<BS>s' did not run ps")
    stopped = s.get("ping 10.0.2.2 -c 50", "")
    need("^C" in stopped and "1 packets transmitted, 1 received" in stopped,
         "ping: Ctrl-C did not stop it after the first echo")
    need("unknown command" in s.get("frobnicate", ""), "an unknown command must be named as such")

    # The bus: no other device on QEMU's user network.
    need("peers: none discovered" in s.get("peers", ""), "peers: no 'none discovered' line")
    ses = s.get("sessions", "")
    need("sessions: 0 authenticated (dsoftbusd)" in ses and "no session with any peer" in ses,
         "sessions: 0 sessions expected")
    need(re.search(r"buffered\s+0 B in session queues and stream buffers \(at most \d", ses),
         "sessions: buffered bytes and bound missing")
    need(f"call: echo on {NOBODY}: unknown peer" in s.get(f"call {NOBODY} echo hi", ""),
         "call: an unknown peer must be named as such")
    if TRUST_PLACEHOLDER:
        need("trust: not available (denied)" in s.get("trust", ""),
             "trust: the placeholder's 'not available (denied)' expected")
        need("pair: not available (denied)" in s.get("pair show", ""),
             "pair show: the placeholder's 'not available (denied)' expected")
    else:
        need("trust: the trust store is empty" in s.get("trust", ""), "trust: empty store expected")
        need(re.search(r"pair: PIN \d{6} \(valid", s.get("pair show", "")),
             "pair show: a 6-digit PIN expected")

    # The shell's namespace in storaged.
    need("kv put: greeting stored (20 bytes, on the disk)"
         in s.get("kv put greeting hello from the shell", ""), "kv put: not stored")
    need("greeting = hello from the shell" in s.get("kv get greeting", ""), "kv get: value not read back")
    lst = s.get("kv list", "")
    need(re.search(r"^  greeting$", lst, re.M) and re.search(r"^  other$", lst, re.M)
         and "2 key(s)" in lst, "kv list: greeting and other expected")
    need("kv get: no value under missing" in s.get("kv get missing", ""), "kv get: a missing key")

    # The system-wide log level, obeyed by storaged's `log` lines.
    need("log level: INFO (system-wide)" in s.get("log", ""), "log: the level is INFO at boot")
    need("log level set to DEBUG for every task (was INFO)" in s.get("log debug", ""), "log debug")
    need('[DEBUG storaged] get ns=0x40 key="other": ok (1 bytes)' in s.get("kv get other", ""),
         "log debug: storaged's debug line did not appear")
    need("log level set to WARN for every task (was DEBUG)" in s.get("log warn", ""), "log warn")
    hidden = s.get("kv del other", "")
    need("kv del: other removed" in hidden, "kv del: not removed")
    need("[INFO storaged]" not in hidden and "[DEBUG storaged]" not in hidden,
         "log warn: storaged's info/debug lines still appear")
    need("[DEBUG storaged]" not in s.get("kv put third 3", ""), "log warn: a debug line appeared")
    shown = s.get("kv del third", "")
    need('[INFO storaged] deleted ns=0x40 key="third"' in shown,
         "log info: storaged's info line did not appear")
    need("[DEBUG storaged]" not in shown, "log info: a debug line appeared")
    need("[DEBUG" not in s.get("kv get greeting", "x[DEBUG"),
         "a debug line at the boot level (info)")

    # Idle: nothing printed while the shell slept, and no task repeats a line.
    idle = s.get(f"sleep {IDLE_S}", None)
    need(idle is not None and idle.strip() == "",
         f"idle {IDLE_S} s: lines printed: {(idle or '').strip()[:300]!r}")
    seen = {}
    for origin, t in tagged_lines(raw):
        if origin not in ("shell", "kernel") and t.strip():
            seen[(origin, t)] = seen.get((origin, t), 0) + 1
    rep = [f"[{o}] {t} (x{n})" for (o, t), n in seen.items() if n > 1]
    need(not rep, f"repeated service lines: {rep[:5]}")

    m = re.search(re.escape(CREATED) + r"([0-9a-f]{32})", raw)
    need(m is not None, "no identity created by dsoftbusd on the fresh disk")
    return fails, (m.group(1) if m else None)


def check2(text, rc, dev_id):
    """Boot 2 on the same disk."""
    fails = []

    def need(cond, what):
        if not cond:
            fails.append(what)

    need(rc == 0, f"second boot: QEMU exit status {rc}")
    for line in text.splitlines():
        for m in CAT.forbidden("user"):
            need(m not in line, f"second boot: forbidden line: {line!r}")
    s = sections(plain(text))
    need("greeting = hello from the shell" in s.get("kv get greeting", ""),
         "second boot: the key put in the first boot is gone")
    lst = s.get("kv list", "")
    need(re.search(r"^  greeting$", lst, re.M) and "1 key(s)" in lst,
         "second boot: kv list should hold greeting only")
    need(dev_id is not None and f"{LOADED}{dev_id}" in text,
         f"second boot: dsoftbusd did not load identity {dev_id}")
    need(CREATED not in text, "second boot: a new identity was created")
    return fails


def boot(script, log, timeout):
    env = dict(os.environ, RUN_TIMEOUT=timeout, RUN_DISK=DISK)
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run.sh"), "user"],
                          input="".join(c + "\n" for c in script).encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, check=False)
    text = proc.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    with open(log, "w", encoding="utf-8") as f:
        f.write(text)
    return text, proc.returncode


def main():
    timeout = os.environ.get("RUN_TIMEOUT", "150")
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    log_dir = os.path.join(ROOT, "build", "logs", f"shell-{stamp}")
    os.makedirs(log_dir, exist_ok=True)
    log1, log2 = os.path.join(log_dir, "uart.log"), os.path.join(log_dir, "uart-2.log")
    if os.path.exists(DISK):
        os.remove(DISK)  # a fresh disk: run.py creates it blank
    print(f"shell-test: typing {len(SCRIPT)} commands into the user profile on a fresh disk "
          f"(timeout {timeout}s, log {os.path.relpath(log1, ROOT)}; "
          f"trust ops: {'placeholder' if TRUST_PLACEHOLDER else 'implemented'})", flush=True)
    text, rc = boot(SCRIPT, log1, timeout)
    fails, dev_id = check(text, rc)
    print(text[text.find(READY):] if READY in text else text[-3000:])
    print(f"shell-test: second boot on the same disk (log {os.path.relpath(log2, ROOT)})",
          flush=True)
    text2, rc2 = boot(SCRIPT2, log2, timeout)
    fails += check2(text2, rc2, dev_id)
    print(text2[text2.find(READY):] if READY in text2 else text2[-3000:])
    try:
        os.remove(DISK)
    except OSError:
        pass
    if fails:
        for f in fails:
            print(f"shell-test: FAIL: {f}")
        return 1
    print(f"shell-test: PASS (idle {IDLE_S} s silent, key and identity {dev_id} kept across a reboot)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
