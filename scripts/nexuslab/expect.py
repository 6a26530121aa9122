"""`python3 -m nexuslab.expect <key>`: reads console output on stdin and
exits 0 once it has seen the marker of the catalogue row tagged
`peer:<key>` on a line from that marker's owner, 1 if the input ends
without it (a line from any other task does not count). For recipes that
pipe a boot through a check (the `cargo boot` step of `just test`), so no
recipe spells a guest's marker itself."""
import re
import sys

from .catalogue import Catalogue, split_origin

_STAMP = re.compile(r"^\[\s*\d+\.\d+\] ")


def main(argv):
    if len(argv) != 2:
        print("usage: python3 -m nexuslab.expect <peer key>", file=sys.stderr)
        return 2
    cat = Catalogue()
    key = argv[1]
    marker = cat.marker(key)
    for raw in sys.stdin:
        # Raw console lines, or a harness log's (a `[ seconds]` stamp first).
        line = _STAMP.sub("", raw.rstrip("\r\n"), count=1)
        origin, text = split_origin(line)
        if cat.seen(key, origin, text):
            print(f"expect: saw `{marker}` from {origin}")
            return 0
    print(f"expect: no `{marker}` from {cat.owner(marker)} in the output", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
