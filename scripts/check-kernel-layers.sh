#!/usr/bin/env bash
# The kernel's modules form layers: each may import only modules of lower
# layers (no import cycles). Layers, bottom up:
#   0 arch console dtb mem plic   (hardware)
#   1 kernel                      (state, boot, task creation, timers)
#   2 ipc                         (delivery, notices, task death)
#   3 syscall                     (the syscalls)
#   4 trap                        (trap path, scheduler)
set -euo pipefail
cd "$(dirname "$0")/../source/kernel/neuron/src"
declare -A layer=([arch]=0 [console]=0 [dtb]=0 [mem]=0 [plic]=0 [kernel]=1 [ipc]=2 [syscall]=3 [trap]=4)
fail=0
for f in *.rs; do
    m=${f%.rs}
    [ "$m" = main ] && continue
    [ -n "${layer[$m]+x}" ] || { echo "check-kernel-layers: $f has no layer"; fail=1; continue; }
    # `crate::x` anywhere (use lines and paths), and `crate::{a, b}` lists.
    for dep in $(grep -oE 'crate::(\{[^}]*\}|[a-z_]+)' "$f" | sed -E 's/crate:://; s/[{}]//g; s/,/ /g; s/::[A-Za-z_]+//g'); do
        dep=${dep%%::*}
        [ -n "${layer[$dep]+x}" ] || continue   # macros such as kprintln
        if [ "${layer[$dep]}" -ge "${layer[$m]}" ] && [ "$dep" != "$m" ]; then
            echo "check-kernel-layers: $m (layer ${layer[$m]}) imports $dep (layer ${layer[$dep]})"
            fail=1
        fi
    done
done
[ $fail = 0 ] && echo "check-kernel-layers: ok"
exit $fail
