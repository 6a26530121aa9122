#!/usr/bin/env bash
# Single-VM QEMU smoke: builds, boots, checks the markers of docs/markers.md.
# Environment (documented in docs/harness.md):
#   PROFILE=smoke|bench     boot profile (default smoke)
#   RUN_UNTIL_MARKER=1      stop QEMU as soon as every required marker appeared
#   RUN_TIMEOUT=<seconds>   hard bound on the QEMU run (default 90)
#   REQUIRE_QEMU_DHCP=1     also require the DHCP gate's markers
#   REQUIRE_DSOFTBUS=1      also require the DSoftBus gate's markers
#   NO_BUILD=1              boot build/neuron.elf as it is
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${NO_BUILD:-0}" != 1 ]; then
    case " $* " in
    *" lite "* | *"--profile=lite"*) NET_PATH=lite bash scripts/build.sh ;;
    *) bash scripts/build.sh ;;
    esac
fi
exec python3 scripts/harness.py "$@"
