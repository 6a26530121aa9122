#!/usr/bin/env bash
# Proves the smoke harness can fail: with a catalogue that requires a marker
# the OS never prints, the run must exit non-zero and name that marker; a
# required gate with no proof must fail too. Uses the already built image.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cp docs/markers.md "$tmp"
echo '| `SELFTEST: marker that is never printed` | required:smoke | test | negative check |' >> "$tmp"
out=$(MARKER_CATALOGUE="$tmp" RUN_UNTIL_MARKER=1 RUN_TIMEOUT=20 NO_BUILD=1 bash scripts/qemu-test.sh --profile smoke 2>&1) && {
    echo "harness-selftest: FAIL: harness passed with a missing marker"; exit 1; }
grep -q "required marker(s) missing: SELFTEST: marker that is never printed" <<<"$out" || {
    echo "harness-selftest: FAIL: missing marker not named"; echo "$out" | tail -20; exit 1; }
# A learnt id binds its markers: with the impostor's refusal expected for
# selftest-peer's id instead of node-a's (the id it claims), the run must fail
# naming that row (its other proofs still pass).
sed 's/`dsoftbusd: identity refused claimed={node-a}`/`dsoftbusd: identity refused claimed={selftest-peer}`/' docs/markers.md > "$tmp"
out=$(MARKER_CATALOGUE="$tmp" REQUIRE_DSOFTBUS=1 RUN_UNTIL_MARKER=1 RUN_TIMEOUT=25 NO_BUILD=1 bash scripts/qemu-test.sh --profile smoke 2>&1) && {
    echo "harness-selftest: FAIL: harness passed with a marker bound to the wrong learnt id"; exit 1; }
grep -q "required marker(s) missing: .*dsoftbusd: identity refused claimed={selftest-peer}" <<<"$out" || {
    echo "harness-selftest: FAIL: marker with the wrong learnt id not named"; echo "$out" | tail -20; exit 1; }
# A gate whose proofs are not in the catalogue must fail, not pass.
grep -v "required:dsoftbus" docs/markers.md > "$tmp"
out=$(MARKER_CATALOGUE="$tmp" REQUIRE_DSOFTBUS=1 RUN_UNTIL_MARKER=1 RUN_TIMEOUT=20 NO_BUILD=1 bash scripts/qemu-test.sh --profile smoke 2>&1) && {
    echo "harness-selftest: FAIL: an unprovable gate passed"; exit 1; }
grep -q "gate 'dsoftbus' was required" <<<"$out" || { echo "harness-selftest: FAIL: gate message"; exit 1; }
# The canonical image refuses the lite path's profile with a clear message.
echo "| \`init: profile 'lite' belongs to the net-bringup-lite path\` | required:lite | nexus-init | refusal |" > "$tmp"
out=$(MARKER_CATALOGUE="$tmp" RUN_UNTIL_MARKER=1 RUN_TIMEOUT=20 NO_BUILD=1 \
    python3 scripts/harness.py --profile lite --kernel build/neuron.elf 2>&1) || {
    echo "harness-selftest: FAIL: the canonical image did not refuse the lite profile"; echo "$out" | tail -20; exit 1; }
# check-docs fails, naming the marker, when a catalogued marker is printed
# nowhere in the code (here: a real marker with one word changed; the word
# is spelt in two pieces so that this script does not print it either).
sed 's/`SELFTEST: dma ok`/`SELFTEST: dma va''nished`/' docs/markers.md > "$tmp"
out=$(python3 scripts/check-docs.py --only markers --catalogue "$tmp" 2>&1) && {
    echo "harness-selftest: FAIL: check-docs passed with a marker missing from the code"; exit 1; }
grep -q "marker \`SELFTEST: dma va""nished\` (docs/markers.md) is printed nowhere" <<<"$out" || {
    echo "harness-selftest: FAIL: check-docs did not name the marker"; echo "$out"; exit 1; }
# check-docs fails, naming file and marker, when a script spells a guest's
# marker instead of looking it up by its `peer:` key (the marker is spelt in
# two pieces here so that this script does not contain it either).
probe=scripts/nexuslab/_probe_literal.py
trap 'rm -f "$tmp" "$probe"' EXIT
echo 'WAIT = "echod: listen ud''p/7"' > "$probe"
out=$(python3 scripts/check-docs.py --only scripts 2>&1) && {
    echo "harness-selftest: FAIL: check-docs passed with a marker spelt in a script"; exit 1; }
grep -q "_probe_literal.py:1: string literal spells the catalogued marker \`echod: listen ud""p/7\`" <<<"$out" || {
    echo "harness-selftest: FAIL: check-docs did not name the spelt marker"; echo "$out"; exit 1; }
rm -f "$probe"
# The library's own checks: port conflicts retried and bounded, peer keys, restrict=on.
PYTHONPATH=scripts python3 -m nexuslab.selftest
echo "harness-selftest: ok (missing marker, a marker bound to the wrong learnt id and an unprovable gate fail; other path's profile refused; check-docs names a marker missing from the code and one spelt in a script; library checks)"
