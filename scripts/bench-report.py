"""Collects the figures of `just bench` into bench.md and bench.json.

Reads the logs scripts/bench.sh wrote (build/reports/logs/*.log), finds each
figure on a benchmark line (the catalogue's `peer:bench-figure` row, looked
up in docs/markers.md, then the figure's name and its `key=value` words; or
the host bench's own line), and writes a
table: figure, target, today's value, whether the target is met, where it
comes from. A figure whose log or line is missing is reported as "not
measured" (never guessed). docs/performance.md explains each figure.
Usage: python3 scripts/bench-report.py build/reports
"""
import datetime
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nexuslab.catalogue import Catalogue  # noqa: E402

FIGURE = Catalogue().marker("bench-figure")


def read(logs, name):
    try:
        with open(os.path.join(logs, f"{name}.log"), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def figures(text):
    """The benchmark lines of a log, each from the figure's name on."""
    return "\n".join(line[line.index(FIGURE) + len(FIGURE):].strip()
                     for line in text.splitlines() if FIGURE in line)


def num(text, pattern, group=1):
    m = re.search(pattern, text, re.M)
    return float(m.group(group)) if m else None


def ms_to_us(v):
    return None if v is None else round(v * 1000)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/reports"
    logs = os.path.join(out, "logs")
    L = {n: read(logs, n) for n in ("bench-os", "tcp_bulk", "bench-net", "xk_vs_snow",
                                    "real-peers", "real-peers-icount", "os2vm")}
    # Benchmark lines only, from the figure's name on (xk_vs_snow and os2vm
    # print their own lines and are read as they are).
    B = {n: figures(L[n]) for n in ("bench-os", "tcp_bulk", "bench-net", "real-peers",
                                    "real-peers-icount")}
    rp, rpi = B["real-peers"], B["real-peers-icount"]
    bus = figures(L["os2vm"])

    def peer(d, cond, field="MB/s", text=None):
        return num(text or rp, rf"^net peer {d} cond={cond} .*?{re.escape(field)}=([\d.]+)")

    def ratio(a, b):
        return round(100.0 * a / b, 1) if a is not None and b else None

    rows = [
        # (id, figure, unit, value, target text, ok(value) or None, source)
        ("ipc_roundtrip_instr", "IPC round trip (call+reply, 8 bytes, raw echo, memory ABI), median",
         "instructions", num(B["bench-os"], r"^ipc roundtrip raw instr_per_rt=(\d+)"), "<= 700",
         lambda v: v <= 700, "bench-os (-icount)"),
        ("ipc_roundtrip_short_instr", "IPC round trip, register ABI (IpcCallShort/"
         "IpcReplyRecvShort, 8 bytes), median", "instructions",
         num(B["bench-os"], r"^ipc roundtrip short instr_per_rt=(\d+)"), "<= 700",
         lambda v: v <= 700, "bench-os (-icount)"),
        ("ipc_roundtrip_codec_instr", "IPC round trip with the generated codec (selftest.ping), "
         "median", "instructions", num(B["bench-os"], r"^ipc roundtrip codec instr_per_rt=(\d+)"),
         "report", None, "bench-os (-icount)"),
        ("xk_handshake_compute_instr", "XK session handshake compute per role (no network, "
         "guest)", "instructions", num(B["bench-os"], r"^xk handshake compute instr_per_side=(\d+)"),
         "report", None, "bench-os (-icount)"),
        ("null_syscall_instr", "null syscall, median", "instructions",
         num(B["bench-os"], r"^null syscall instr median=(\d+)"), "<= 150",
         lambda v: v <= 150, "bench-os (-icount)"),
        ("tcp_tx_tap", "guest -> Linux TCP, 16 MiB over tap", "MB/s", peer("tx", "tap"), ">= 100",
         lambda v: v >= 100, "real-peers boot 1"),
        ("tcp_rx_tap", "Linux -> guest TCP, 16 MiB over tap", "MB/s", peer("rx", "tap"), "report",
         None, "real-peers boot 1"),
        ("tcp_tx_slirp", "guest -> host TCP via QEMU user net (guestfwd)", "MB/s",
         num(B["bench-net"], r"^net tcp bulk .*MB/s=([\d.]+)"), "report",
         None, "bench-net (slirp-bound; the target is the tap row)"),
        ("ping_median_us", "guest -> gateway ping, median of 51", "us",
         num(rp, r"^net peer ping .*median_us=(\d+)"), "<= 1000",
         lambda v: v <= 1000, "real-peers boot 1"),
        ("tcp_connect_us", "guest TCP handshake with Linux (facade connect to established)", "us",
         num(rp, r"^net peer tcp connect us=(\d+) first=0"), "<= 5000",
         lambda v: v <= 5000, "real-peers boot 1"),
        ("tcp_connect_first_us", "first TCP handshake after boot (includes ARP)", "us",
         num(rp, r"^net peer tcp connect us=(\d+) first=1"), "report", None,
         "real-peers boot 1"),
        ("tftp_peer_per_s", "one-block TFTP reads from dnsmasq", "per s",
         num(rp, r"^net peer tftp rr .*per_s=(\d+)"), "report", None, "real-peers boot 1"),
        ("udp_rr_per_s", "UDP request/response with Linux", "per s",
         num(rp, r"^net peer udp rr .*per_s=(\d+)"), ">= 2000",
         lambda v: v >= 2000, "real-peers boot 1"),
        ("tftp_rr_per_s", "one-block TFTP reads from QEMU's server", "per s",
         num(B["bench-net"], r"^net udp rr .*per_s=(\d+)"), "report", None, "bench-net"),
    ]
    for d in ("tx", "rx"):
        clean, lossy = peer(d, "clean"), peer(d, "loss5")
        rows.append((f"{d}_loss5_pct", f"{d} at 5 % loss both ways, % of clean (relay)", "%",
                     ratio(lossy, clean), ">= 25", lambda v: v >= 25, "real-peers boot 2"))
        for cond in ("clean", "loss5", "corrupt1", "delay20", "reorder"):
            rows.append((f"{d}_{cond}", f"{d} 16 MiB through the relay, {cond}", "MB/s",
                         peer(d, cond), "completes", lambda v: v > 0, "real-peers boot 2"))
    for d in ("tx", "rx"):
        rows.append((f"{d}_instr_per_byte", f"{d} 16 MiB over tap, guest instructions per payload "
                     "byte (-icount, idle time included)", "per byte",
                     peer(d, "tap", "instr_per_byte", rpi), "report (lower is better)", None,
                     "real-peers -icount"))
        rows.append((f"{d}_tap_ticks_per_byte", f"{d} 16 MiB over tap, instret per payload byte "
                     "without -icount (host ticks, this machine only)", "per byte",
                     peer(d, "tap", "instr_per_byte"), "report", None, "real-peers boot 1"))
    rows.append(("tcp_tx_slirp_ticks_per_byte", "guest -> host TCP via QEMU user net, instret "
                 "per payload byte (host ticks, this machine only)", "per byte",
                 num(B["bench-net"], r"^net tcp bulk .*instr_per_byte=([\d.]+)"), "report", None,
                 "bench-net"))
    for cfg in ("default", "bulk"):
        rows.append((f"host_tcp_bulk_{cfg}_facade", f"host tcp_bulk ({cfg}), through the facade",
                     "MB/s", num(B["tcp_bulk"], rf"^host tcp_bulk config={cfg} .*facade_mbps=([\d.]+)"),
                     "report", None, "cargo bench tcp_bulk"))
        rows.append((f"host_tcp_bulk_{cfg}_overhead", f"host tcp_bulk ({cfg}), facade overhead",
                     "%", num(B["tcp_bulk"], rf"^host tcp_bulk config={cfg} .*overhead_pct=(-?[\d.]+)"),
                     "report", None, "cargo bench tcp_bulk"))
    xk = L["xk_vs_snow"]
    rows += [
        ("xk_handshake_ratio", "XK handshakes/s, ours vs snow", "x",
         num(xk, r"full XK handshake.*ratio ([\d.]+)x"), ">= 1.00", lambda v: v >= 1.0,
         "cargo bench xk_vs_snow"),
        ("xk_encrypt_ratio", "XK transport encrypt, ours vs snow", "x",
         num(xk, r"transport encrypt.*ratio ([\d.]+)x"), ">= 0.90", lambda v: v >= 0.9,
         "cargo bench xk_vs_snow"),
        ("xk_decrypt_ratio", "XK transport decrypt, ours vs snow", "x",
         num(xk, r"transport decrypt.*ratio ([\d.]+)x"), ">= 0.90", lambda v: v >= 0.9,
         "cargo bench xk_vs_snow"),
        ("dsoftbus_handshake_us", "guest XK session handshake, median of every handshake "
         "of the run (os2vm)", "us", ms_to_us(num(figures(L["os2vm"]),
                                                 r"^xk handshake median_ms=([\d.]+)")),
         "<= 5000", lambda v: v <= 5000, "os2vm"),
        ("dsoftbus_bulk_mbps", "VM-to-VM encrypted bulk (os2vm)", "MB/s",
         num(bus, r"^bus stream MB/s=([\d.]+)"), "report", None, "os2vm"),
        ("dsoftbus_bulk_ticks_per_byte", "VM-to-VM encrypted bulk, sending VM's instret per "
         "payload byte (host ticks, this machine only)", "per byte",
         num(bus, r"^bus stream .*? instr_per_byte=([\d.]+)"), "report", None, "os2vm"),
        ("os2vm_raw_tcp_mbps", "VM-to-VM raw TCP through the facade (os2vm)", "MB/s",
         num(bus, r"^bus stream .*raw_tcp_MB/s=([\d.]+)"), "report", None, "os2vm"),
        ("bus_rtt_median_us", "bus record round trip app -> remote app -> app, median of 200 "
         "(os2vm)", "us", num(figures(L["os2vm"]), r"^bus rtt median_us=(\d+)"), "<= 1000",
         lambda v: v <= 1000, "os2vm"),
        ("bus_rtt_p99_us", "bus record round trip, p99 of 200 (os2vm)", "us",
         num(figures(L["os2vm"]), r"^bus rtt .*p99_us=(\d+)"), "report", None, "os2vm"),
    ]
    table = []
    for rid, name, unit, value, target, ok, source in rows:
        met = None if value is None or ok is None else bool(ok(value))
        table.append(dict(id=rid, figure=name, unit=unit, value=value, target=target, met=met,
                          source=source))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench.json"), "w", encoding="utf-8") as f:
        json.dump(dict(generated=stamp, figures=table), f, indent=1)
    lines = [f"# Benchmarks ({stamp})", "",
             "Generated by `just bench` (scripts/bench-report.py); how each figure is measured:",
             "docs/performance.md. Figures depend on the machine and its load.", "",
             "| figure | target | today | met | source |", "|---|---|---|---|---|"]
    for r in table:
        val = r["value"]
        if val is not None and val == int(val) and abs(val) >= 1e6:
            val = f"{int(val):,}"  # whole counts (instructions) in full
        elif val is not None:
            val = f"{val:g}"
        v = "not measured" if val is None else f"{val} {r['unit']}"
        met = {None: "-", True: "yes", False: "**no**"}[r["met"]]
        lines.append(f"| {r['figure']} | {r['target']} | {v} | {met} | {r['source']} |")
    with open(os.path.join(out, "bench.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
