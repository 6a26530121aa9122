#!/usr/bin/env python3
"""Checks that the docs say what the code does (`just check-docs`).

1. Every marker of the catalogue (docs/markers.md) can be printed by the code:
   some string literal in source/, userspace/, scripts/ or profiles/ produces
   it, where a format placeholder (`{}`, `{name}`, ...) stands for a number or
   for text that itself appears in some literal (a table of names).
2. docs/abi.md's syscall table lists exactly the `Sysno` enum of nexus-abi
   (number and name).
3. docs/boot-profiles.md is what `nexus-manifest docs` generates from
   profiles/*.toml, and docs/interfaces.md what `nexus-manifest interfaces`
   generates from the IDL files.
4. The README's recipe table names exactly the recipes of `just --summary`.
5. No Python script under scripts/ spells a catalogued marker in a string
   literal (docstrings aside), except the markers the harness emits itself
   (emitter `harness`): a script that reacts to a guest's marker looks it
   up by its `peer:<key>` row (scripts/nexuslab/catalogue.py).

Exit status 0 when all hold; 1 otherwise, naming each item that drifted.
`--catalogue FILE` checks another marker catalogue (the self-test uses it).
"""
import argparse
import ast
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def catalogue_markers(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
            if m:
                rows.append(m.group(1))
    return rows


def code_literals():
    lits = set()
    for top in ("source", "userspace", "scripts", "profiles"):
        for dirpath, dirnames, files in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d not in ("target", "__pycache__")]
            for name in files:
                if not name.endswith((".rs", ".py", ".sh", ".toml")):
                    continue
                with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for m in LITERAL.finditer(text):
                    lits.add(m.group(1).replace('\\"', '"').replace("\\\\", "\\"))
    return lits


def fixed_parts(literal):
    """A format string's fixed parts, split at its placeholders."""
    s = literal.replace("{{", "\x00").replace("}}", "\x01")
    return [p.replace("\x00", "{").replace("\x01", "}") for p in PLACEHOLDER.split(s)]


LEARNT = re.compile(r"\{[a-z0-9-]+\}")
NUMERIC = re.compile(r"^[\d\s.:/,=x_+-]*$|^[0-9a-fA-F]+$")


def filled(text, literals):
    """Whether text a placeholder printed can come from the code: a number,
    or text that itself appears in some literal (a table of names)."""
    return NUMERIC.match(text) is not None or any(text in lit for lit in literals)


def produces(parts, marker, literals):
    """Whether some line printed from these parts contains `marker`, with
    what the placeholders print traceable to the code too."""
    if any(marker in p for p in parts):
        return True
    for i in range(len(parts) - 1):
        head = parts[i]
        # The marker starts inside (or right after) part i ...
        for k in range(0, len(marker) + 1):
            if not head.endswith(marker[:k]):
                continue
            rest = marker[k:]
            # ... then placeholder text, the middle parts, and a prefix of a later part.
            for j in range(i + 1, len(parts)):
                mids = parts[i + 1:j]
                tail = parts[j]
                rx = "".join("(.*?)" + re.escape(p) for p in mids) + "(.*?)"
                alts = "|".join(re.escape(tail[:n]) for n in range(len(tail), -1, -1))
                m = re.fullmatch(rx + "(?:" + alts + ")", rest, re.S)
                if m and all(filled(g, literals) for g in m.groups()):
                    return True
    return False


def check_markers(catalogue):
    raw = code_literals()
    lits = [fixed_parts(lit) for lit in raw]
    # Cheap pre-filter: a literal must share a 6-byte chunk with the marker
    # or start the marker's first word.
    missing = []
    for marker in catalogue_markers(catalogue):
        # `{<name>}` is a value the harness learns at run time (a device id, hex).
        marker = LEARNT.sub("0", marker)
        word = marker.split(" ")[0]
        cands = [p for p in lits if any(word[:6] in q or q[:6] in marker for q in p if q)]
        if not any(produces(p, marker, raw) for p in cands):
            missing.append(marker)
    return [f"marker `{m}` (docs/markers.md) is printed nowhere in the code" for m in missing]


def script_literals():
    """(path, line, text) of every string literal of the Python scripts,
    docstrings left out (they describe; they are never matched)."""
    out = []
    for dirpath, dirnames, files in os.walk(os.path.join(ROOT, "scripts")):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            tree = ast.parse(open(path, encoding="utf-8").read(), path)
            docs = set()
            for node in ast.walk(tree):
                body = getattr(node, "body", None)
                if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                        and isinstance(body[0].value, ast.Constant):
                    docs.add(id(body[0].value))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and id(node) not in docs:
                    out.append((os.path.relpath(path, ROOT), node.lineno, node.value))
    return out


def check_script_literals(catalogue):
    rows = []
    with open(catalogue, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*`([^`]+)`\s*\|[^|]*\|\s*([A-Za-z0-9_.-]*)", line)
            if m:
                rows.append((m.group(1), m.group(2)))
    own = [m for m, owner in rows if owner == "harness"]
    guest = sorted({m for m, owner in rows if owner != "harness"})
    errs = []
    for path, line, text in script_literals():
        if any(m in text for m in own):
            continue
        for m in guest:
            if m in text:
                errs.append(f"{path}:{line}: string literal spells the catalogued marker `{m}` "
                            f"(react to it through its `peer:<key>` row instead)")
    return errs


def check_abi():
    src = open(os.path.join(ROOT, "source/libs/nexus-abi/src/lib.rs"), encoding="utf-8").read()
    body = src[src.index("pub enum Sysno {"):]
    body = body[: body.index("\n}")]
    code = {int(n): name for name, n in re.findall(r"^\s*(\w+) = (\d+),", body, re.M)}
    doc = {}
    for line in open(os.path.join(ROOT, "docs/abi.md"), encoding="utf-8"):
        m = re.match(r"^\|\s*(\d+)\s*\|\s*(\w+)\s*\|", line)
        if m:
            doc[int(m.group(1))] = m.group(2)
    errs = []
    for n in sorted(set(code) | set(doc)):
        if code.get(n) != doc.get(n):
            errs.append(f"syscall {n}: code says {code.get(n)}, docs/abi.md says {doc.get(n)}")
    return errs


def check_generated():
    errs = []
    for sub, path in (("docs", "docs/boot-profiles.md"), ("interfaces", "docs/interfaces.md")):
        out = subprocess.run(
            ["cargo", "run", "-q", "-p", "nexus-manifest", "--", sub],
            cwd=ROOT, capture_output=True, text=True,
        )
        if out.returncode != 0:
            errs.append(f"{path}: nexus-manifest {sub} failed: {out.stderr.strip()}")
            continue
        try:
            have = open(os.path.join(ROOT, path), encoding="utf-8").read()
        except FileNotFoundError:
            have = ""
        if have != out.stdout:
            errs.append(f"{path} is stale: regenerate it with `just gen`")
    return errs


def check_recipes():
    out = subprocess.run(["just", "--summary"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        return [f"just --summary failed: {out.stderr.strip()}"]
    # `default` only lists the recipes.
    recipes = set(out.stdout.split()) - {"default"}
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    table = set()
    for line in readme.splitlines():
        if line.startswith("| `just"):
            cell = line.split("|")[1]
            table |= set(re.findall(r"`just ([\w-]+)", cell))
    errs = [f"recipe `just {r}` is missing from the README's table" for r in sorted(recipes - table)]
    errs += [f"the README's table names `just {r}`, which the justfile lacks" for r in sorted(table - recipes)]
    return errs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalogue", default=os.path.join(ROOT, "docs", "markers.md"))
    ap.add_argument("--only", choices=["markers", "abi", "generated", "recipes", "scripts"])
    args = ap.parse_args()
    checks = {
        "markers": lambda: check_markers(args.catalogue),
        "abi": check_abi,
        "generated": check_generated,
        "recipes": check_recipes,
        "scripts": lambda: check_script_literals(args.catalogue),
    }
    errs = []
    for name, fn in checks.items():
        if args.only in (None, name):
            errs += fn()
    for e in errs:
        print(f"check-docs: {e}")
    if errs:
        print(f"check-docs: FAIL ({len(errs)} item(s))")
        return 1
    print("check-docs: ok (markers, syscall table, generated docs, recipe table, "
          "no marker spelt in a script)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
