"""The marker catalogue (docs/markers.md) and the provenance of console lines.

One row per marker: `| `marker` | when | emitted by | meaning |`. The `when`
column is a comma list: `required:<profile or gate>`, `forbidden`,
`forbidden:<profile or gate>`, `allowed:<profile>`, `info`, `figure` (the
harness prints such lines as figures), `peer:<key>`: a host-side script
reacts to this marker and finds it by `<key>` (`Catalogue.marker(key)`), so
no script spells a guest's marker itself, and `learn:<name>`: the first word
after this marker (from its owner) is the value of `{<name>}` in other rows,
such as a device id made at boot (`Learnt`). The first word of `emitted by` is
the marker's owner: a boot-image program name, `kernel` (untagged lines) or
`harness` (the host side's own results).
"""
import os
import re

from . import ROOT

CATALOGUE = os.environ.get("MARKER_CATALOGUE", os.path.join(ROOT, "docs", "markers.md"))
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|")
_OWNER = re.compile(r"[A-Za-z0-9_.-]+")
_TAG = re.compile(r"^\[([A-Za-z0-9_.-]+)\] (.*)$")
_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)")
_LEARNT = re.compile(r"\{([a-z0-9-]+)\}")


def split_origin(line):
    """(origin, text) of a console line. The kernel prefixes every line a
    task writes with `[<program>] ` and lets no control bytes through, so
    an untagged line is the kernel's own (or the firmware's)."""
    m = _TAG.match(line)
    if m:
        return m.group(1), m.group(2)
    return "kernel", line


def fields(text):
    """`key=value` words of a line (values up to the next blank), as a dict."""
    return dict(_FIELD.findall(text))


class Row:
    __slots__ = ("marker", "when", "owner")

    def __init__(self, marker, when, owner):
        self.marker, self.when, self.owner = marker, when, owner


class Catalogue:
    """The parsed table. Loading fails (ValueError) on a `peer:` key given twice."""

    def __init__(self, path=None):
        self.path = path or CATALOGUE
        self.rows = []
        self.owners = {}
        self.keys = {}
        self.learns = {}
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                m = _ROW.match(line)
                if not m:
                    continue
                when = [w.strip() for w in m.group(2).split(",")]
                w = _OWNER.match(m.group(3))
                owner = w.group(0) if w else None
                row = Row(m.group(1), when, owner)
                self.rows.append(row)
                if owner:
                    self.owners.setdefault(row.marker, owner)
                for k in when:
                    if k.startswith("peer:"):
                        key = k[len("peer:"):]
                        if key in self.keys:
                            raise ValueError(f"{self.path}: peer key '{key}' on two rows")
                        self.keys[key] = row
                    if k.startswith("learn:"):
                        name = k[len("learn:"):]
                        if name in self.learns:
                            raise ValueError(f"{self.path}: learnt name '{name}' on two rows")
                        self.learns[name] = row

    # --- what a run judges -------------------------------------------------

    def required(self, profile=None, gates=()):
        """Markers required for `profile` plus those of `gates`, in table order."""
        want = {f"required:{g}" for g in gates}
        if profile:
            want.add(f"required:{profile}")
        out = []
        for r in self.rows:
            if want & set(r.when) and r.marker not in out:
                out.append(r.marker)
        return out

    def forbidden(self, profile=None, gates=()):
        want = {"forbidden"} | {f"forbidden:{g}" for g in gates}
        if profile:
            want.add(f"forbidden:{profile}")
        return [r.marker for r in self.rows if want & set(r.when)]

    def allowed(self, profile):
        return [r.marker for r in self.rows if f"allowed:{profile}" in r.when]

    def figures(self):
        return [r.marker for r in self.rows if "figure" in r.when]

    # --- provenance ---------------------------------------------------------

    def owner(self, marker):
        return self.owners.get(marker)

    def from_owner(self, marker, origin):
        owner = self.owners.get(marker)
        return owner is None or owner == origin

    def counts(self, marker, origin, text):
        """Whether this line shows `marker` from the task that owns it."""
        return marker in text and self.from_owner(marker, origin)

    # --- the rows the host side reacts to ------------------------------------

    def has(self, key):
        return key in self.keys

    def usable(self, keys, say):
        """The keys of `keys` this catalogue has; says which it lacks (a
        peer then does not react to them, and the proof they start fails)."""
        for k in keys:
            if k not in self.keys:
                say(f"harness: {self.path} has no `peer:{k}` row; not reacting to it")
        return {k for k in keys if k in self.keys}

    def marker(self, key):
        """The marker of the row tagged `peer:<key>`."""
        try:
            return self.keys[key].marker
        except KeyError:
            raise KeyError(f"{self.path}: no row tagged peer:{key}") from None

    def seen(self, key, origin, text):
        """Whether a console line (split) shows the `peer:<key>` marker from its owner."""
        return self.after(key, origin, text) is not None

    def after(self, key, origin, text):
        """The text after the `peer:<key>` marker on this line, or None when
        the line does not show it (or not from its owner)."""
        row = self.keys.get(key)
        if row is None:
            self.marker(key)  # raises, naming the key
        i = text.find(row.marker)
        if i < 0 or not self.from_owner(row.marker, origin):
            return None
        return text[i + len(row.marker):]


class Learnt:
    """Values a run learns from the console (`learn:<name>` rows), such as the
    device ids the smoke's nodes make at boot, and the markers that name them
    (`{<name>}` in a row's marker). A name is learnt once, from the first line of
    its row's owner; a marker naming a name not learnt yet matches nothing."""

    def __init__(self, cat):
        self.cat = cat
        self.values = {}

    def feed(self, origin, text):
        for name, row in self.cat.learns.items():
            if name in self.values:
                continue
            i = text.find(row.marker)
            if i < 0 or not self.cat.from_owner(row.marker, origin):
                continue
            word = text[i + len(row.marker):].split(" ")[0]
            if word:
                self.values[name] = word

    def expand(self, marker):
        """`marker` with its `{<name>}`s filled in, or None while one is unknown."""
        missing = []

        def fill(m):
            v = self.values.get(m.group(1))
            if v is None:
                missing.append(m.group(1))
                return ""
            return v

        text = _LEARNT.sub(fill, marker)
        return None if missing else text
