"""A run as a picture: a self-contained HTML page with inline SVG (no script,
no external file) for `just mesh` and `just os2vm`.

`bus_events(vm)` reads one VM's DSoftBus lines through the catalogue's
generic `peer:` rows (`node-ready`, `peer-discovered`, `auth-ok`,
`os-session`, `session-closed`, `peer-expired`, `peer-reconnected`), so no
marker is spelt here. `write()` draws one lane per node: the time each run
of its VM was up, the events on it, shaded spans (a partition) and harness
marks (phases, restarts); then the pair matrix and the figures.
"""
import html
import os

from .catalogue import Catalogue, fields

KINDS = {
    # kind: (colour, glyph, legend)
    "discovered": ("#3b82f6", "tick", "peer discovered"),
    "auth": ("#16a34a", "dot", "session authenticated"),
    "reconnected": ("#15803d", "diamond", "peer reconnected"),
    "closed": ("#dc2626", "cross", "session closed"),
    "expired": ("#f59e0b", "triangle", "peer expired"),
}


class Event:
    __slots__ = ("t", "kind", "peer", "detail")

    def __init__(self, t, kind, peer, detail=""):
        self.t, self.kind, self.peer, self.detail = t, kind, peer, detail


def _first_word(s):
    s = s.strip()
    return s.split()[0].rstrip(";") if s else ""


def bus_events(vm, cat=None):
    """(own device id or None, [Event]) of one VM run, in line order."""
    cat = cat or Catalogue()
    me, out = None, []
    for r in vm.lines:
        rest = cat.after("node-ready", r.origin, r.text)
        if rest is not None:
            me = fields(rest).get("id", me)
            continue
        for key, kind in (("peer-discovered", "discovered"), ("auth-ok", "auth"),
                          ("peer-reconnected", "reconnected"), ("peer-expired", "expired")):
            rest = cat.after(key, r.origin, r.text)
            if rest is not None:
                out.append(Event(r.t, kind, _first_word(rest), rest.strip()))
                break
        else:
            rest = cat.after("session-closed", r.origin, r.text)
            if rest is not None:
                out.append(Event(r.t, "closed", fields(rest).get("peer", "?"), rest.strip()))
                continue
            rest = cat.after("os-session", r.origin, r.text)
            if rest is not None:
                f = fields(rest)
                out.append(Event(r.t, "session", f.get("peer", "?"), rest.strip()))
    return me, out


def live_peers(events):
    """Peers with a session at the end of `events`: each `auth` opens one
    session and each `closed` ends one (a duplicate that lost the
    tie-break prints both)."""
    count = {}
    for e in events:
        if e.kind == "auth":
            count[e.peer] = count.get(e.peer, 0) + 1
        elif e.kind == "closed":
            count[e.peer] = count.get(e.peer, 0) - 1
    return {p for p, c in count.items() if c > 0}


class Lane:
    """One node: name, device id, runs [(start, end or None)], events, names of peers by id."""

    def __init__(self, name, device_id, runs, events):
        self.name, self.device_id, self.runs, self.events = name, device_id, runs, events


def _glyph(kind, x, y, colour, title):
    t = f"<title>{html.escape(title)}</title>"
    if kind == "tick":
        return f'<line x1="{x:.1f}" y1="{y - 9}" x2="{x:.1f}" y2="{y - 3}" stroke="{colour}" stroke-width="2">{t}</line>'
    if kind == "dot":
        return f'<circle cx="{x:.1f}" cy="{y}" r="4" fill="{colour}">{t}</circle>'
    if kind == "diamond":
        return (f'<polygon points="{x:.1f},{y - 6} {x + 5:.1f},{y} {x:.1f},{y + 6} {x - 5:.1f},{y}" '
                f'fill="{colour}">{t}</polygon>')
    if kind == "triangle":
        return (f'<polygon points="{x:.1f},{y + 3} {x + 5:.1f},{y + 11} {x - 5:.1f},{y + 11}" '
                f'fill="{colour}">{t}</polygon>')
    return (f'<path d="M{x - 4:.1f},{y + 4} l8,8 m0,-8 l-8,8" stroke="{colour}" '
            f'stroke-width="2">{t}</path>')


def timeline_svg(lanes, t_end, spans=(), marks=()):
    """lanes: [Lane]; spans: [(t0, t1, lane index, label)]; marks: [(t, label)]."""
    left, width, lane_h, top = 170, 900, 46, 30
    height = top + lane_h * len(lanes) + 40
    t_end = max(t_end, 1.0)
    sx = lambda t: left + width * max(0.0, t) / t_end  # noqa: E731
    names = {l.device_id: l.name for l in lanes if l.device_id}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 30}" height="{height}" '
           f'font-family="sans-serif" font-size="11">']
    step = next(s for s in (1, 2, 5, 10, 20, 30, 60, 120, 300) if t_end / s <= 14)
    t = 0
    while t <= t_end:
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 30}" stroke="#e5e7eb"/>'
                   f'<text x="{x:.1f}" y="{top - 12}" text-anchor="middle" fill="#6b7280">{t}s</text>')
        t += step
    for t0, t1, lane, label in spans:
        y = top + lane_h * lane
        out.append(f'<rect x="{sx(t0):.1f}" y="{y}" width="{max(1.0, sx(t1) - sx(t0)):.1f}" '
                   f'height="{lane_h - 6}" fill="#fde68a" opacity="0.7"><title>{html.escape(label)}'
                   f'</title></rect>')
    for i, lane in enumerate(lanes):
        y = top + lane_h * i
        mid = y + lane_h // 2 - 4
        out.append(f'<text x="8" y="{mid}" font-weight="bold">{html.escape(lane.name)}</text>')
        if lane.device_id:
            out.append(f'<text x="8" y="{mid + 13}" fill="#6b7280" font-size="9">'
                       f'{html.escape(lane.device_id)}</text>')
        for k, (a, b) in enumerate(lane.runs):
            b = t_end if b is None else b
            out.append(f'<rect x="{sx(a):.1f}" y="{mid - 2}" width="{max(1.0, sx(b) - sx(a)):.1f}" '
                       f'height="4" fill="#9ca3af"><title>{html.escape(lane.name)} run {k + 1}: '
                       f'{a:.2f}s to {b:.2f}s</title></rect>')
            if k:
                out.append(f'<line x1="{sx(a):.1f}" y1="{y + 2}" x2="{sx(a):.1f}" y2="{y + lane_h - 8}" '
                           f'stroke="#7c3aed" stroke-width="2"><title>{html.escape(lane.name)} restarted '
                           f'at {a:.2f}s</title></line>')
        for e in lane.events:
            if e.kind not in KINDS:
                continue
            colour, glyph, legend = KINDS[e.kind]
            who = names.get(e.peer, e.peer)
            out.append(_glyph(glyph, sx(e.t), mid, colour, f"{e.t:.2f}s {legend}: {who} {e.detail}"))
    for t, label in marks:
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 30}" stroke="#111827" '
                   f'stroke-dasharray="4,3"/><text x="{x + 3:.1f}" y="{height - 16}" '
                   f'fill="#111827">{html.escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def legend_html():
    parts = []
    for kind, (colour, glyph, legend) in KINDS.items():
        parts.append(f'<svg width="14" height="16">{_glyph(glyph, 7, 4, colour, legend)}</svg> {legend}')
    parts.append('<svg width="14" height="16"><line x1="7" y1="0" x2="7" y2="16" stroke="#7c3aed" '
                 'stroke-width="2"/></svg> VM restarted')
    parts.append('<svg width="14" height="14"><rect width="14" height="14" fill="#fde68a"/></svg> '
                 'cut off by the hub')
    return " &nbsp; ".join(parts)


def matrix_html(lanes, cells):
    """cells[(row name, column name)] = (ok, text, title)."""
    head = "".join(f"<th>{html.escape(l.name)}</th>" for l in lanes)
    rows = []
    for a in lanes:
        tds = []
        for b in lanes:
            if a is b:
                tds.append('<td class="self">&mdash;</td>')
                continue
            ok, text, title = cells.get((a.name, b.name), (False, "none", ""))
            tds.append(f'<td class="{"ok" if ok else "bad"}" title="{html.escape(title)}">'
                       f'{html.escape(text)}</td>')
        rows.append(f"<tr><th>{html.escape(a.name)}</th>{''.join(tds)}</tr>")
    return (f'<table class="m"><tr><th>row sees column</th>{head}</tr>{"".join(rows)}</table>')


def write(path, title, verdict, lanes, t_end, cells, figures, spans=(), marks=(), notes=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figs = "".join(f"<li>{html.escape(f)}</li>" for f in figures)
    colour = "#16a34a" if verdict.startswith("PASS") else "#dc2626"
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #111827; }}
h1 span {{ color: {colour}; }}
table.m {{ border-collapse: collapse; margin: 8px 0 16px; }}
table.m td, table.m th {{ border: 1px solid #d1d5db; padding: 4px 8px; font-size: 12px; text-align: center; }}
td.ok {{ background: #bbf7d0; }} td.bad {{ background: #fecaca; }} td.self {{ background: #f3f4f6; }}
.legend {{ font-size: 12px; margin: 6px 0 12px; }}
</style></head><body>
<h1>{html.escape(title)}: <span>{html.escape(verdict)}</span></h1>
<p>{notes}</p>
<h2>Timeline</h2>
<div class="legend">{legend_html()}</div>
{timeline_svg(lanes, t_end, spans, marks)}
<h2>Pairs</h2>
<p>Each cell: the sessions the row's node authenticated with the column's node over the run, and whether
one was up at the end (green). Hover for the times.</p>
{matrix_html(lanes, cells)}
<h2>Figures</h2>
<ul>{figs}</ul>
</body></html>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


def pair_cells(lanes, finals):
    """Matrix cells from every run's events: sessions authenticated per pair,
    first and last times, and whether one was up at the end (`finals`:
    {lane name: set of peer ids live at the end})."""
    cells = {}
    for a in lanes:
        for b in lanes:
            if a is b or not b.device_id:
                continue
            auths = [e.t for e in a.events if e.kind == "auth" and e.peer == b.device_id]
            up = b.device_id in finals.get(a.name, set())
            title = (f"{a.name} -> {b.name}: authenticated at "
                     + ", ".join(f"{t:.2f}s" for t in auths)) if auths else f"{a.name} never authenticated {b.name}"
            cells[(a.name, b.name)] = (up, f"{len(auths)} {'up' if up else 'down'}", title)
    return cells
