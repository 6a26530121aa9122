#!/usr/bin/env bash
# No boot image holds a test identity (docs/security.md): dsoftbus-testnodes'
# public test keys are for host tests only.
#  1. No program of either image (the lists come from the boot-profile
#     manifests, `nexus-manifest programs`) depends on dsoftbus-testnodes.
#  2. The images built so far (build/neuron*.elf, or those named as arguments)
#     contain none of its secrets, public keys or device ids. Bytes a compiler
#     makes in code (a memset of one repeated byte) escape such a scan, so (1)
#     is the guard and (2) a cross-check of what was actually built.
set -euo pipefail
cd "$(dirname "$0")/.."

for list in canonical lite; do
    pkgs=()
    for p in $(cargo run -q -p nexus-manifest -- programs "$list"); do pkgs+=(-p "$p"); done
    if cargo tree "${pkgs[@]}" -e normal --target all --prefix none | grep -q "^dsoftbus-testnodes "; then
        echo "check-no-test-keys: FAIL: a program of the $list image depends on dsoftbus-testnodes:"
        cargo tree "${pkgs[@]}" -e normal --target all -i dsoftbus-testnodes || true
        exit 1
    fi
    echo "check-no-test-keys: no program of the $list image ($((${#pkgs[@]} / 2)) programs) depends on dsoftbus-testnodes"
done

images=("$@")
if [ ${#images[@]} -eq 0 ]; then
    for f in build/neuron.elf build/neuron-lite.elf; do
        [ -f "$f" ] && images+=("$f")
    done
fi
if [ ${#images[@]} -eq 0 ]; then
    echo "check-no-test-keys: no image built yet (scripts/build.sh); image scan not run"
    exit 0
fi
cargo run -q -p dsoftbus-testnodes --example test-keys | python3 -c '
import sys
keys = [l.split() for l in sys.stdin if l.strip()]
bad = 0
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    for name, secret, public, dev in keys:
        for what, needle in (("secret", bytes.fromhex(secret)), ("public key", bytes.fromhex(public)),
                             ("device id", dev.encode())):
            if needle in data:
                print(f"check-no-test-keys: FAIL: {path} holds the {what} of test node {name}")
                bad += 1
    print(f"check-no-test-keys: {path} ({len(data)} bytes) holds no key or id of the {len(keys)} test nodes"
          if not bad else f"check-no-test-keys: {path} scanned")
sys.exit(1 if bad else 0)
' "${images[@]}"
