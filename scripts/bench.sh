#!/usr/bin/env bash
# `just bench`: every benchmark, its log in build/reports/logs/, then
# build/reports/bench.md and bench.json (scripts/bench-report.py) with each
# figure, its target and today's value. Figures are printed, never asserted:
# a benchmark that fails to run is reported as missing, and the script
# exits non-zero only if a benchmark could not run at all.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=build/reports/logs
mkdir -p "$logs"
rm -f "$logs"/*.log
status=0
run() {
    local name=$1
    shift
    echo "bench: $name: $*"
    if ! "$@" >"$logs/$name.log" 2>&1; then
        echo "bench: $name did not complete (see $logs/$name.log)"
        status=1
    fi
}
bash scripts/build.sh >"$logs/build.log" 2>&1 || { echo "bench: build failed"; exit 1; }
run bench-os env RUN_UNTIL_MARKER=1 QEMU_ICOUNT=1 NO_BUILD=1 bash scripts/qemu-test.sh --profile bench
run tcp_bulk cargo bench -p nexus-net-os --bench tcp_bulk
run bench-net env RUN_UNTIL_MARKER=1 RUN_TIMEOUT=180 NO_BUILD=1 bash scripts/qemu-test.sh --profile bench-net
run xk_vs_snow cargo bench -p nexus-noise-xk --bench xk_vs_snow
run real-peers env NO_BUILD=1 REAL_PEERS_LEASE=0 bash scripts/real-peers.sh
run real-peers-icount env NO_BUILD=1 REAL_PEERS_LEASE=0 REAL_PEERS_RELAY=0 REAL_PEERS_ICOUNT=1 \
    bash scripts/real-peers.sh
run os2vm env NO_BUILD=1 OS2VM_RESTART=0 python3 scripts/os2vm.py
python3 scripts/bench-report.py build/reports
exit $status
