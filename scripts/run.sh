#!/usr/bin/env bash
# `just run [profile]`: boots build/neuron.elf with boot profile $1 (default
# `user`: the shell) through the harness library's QEMU command builder
# (scripts/nexuslab/run.py, which documents the behaviour).
#
# Interactive (standard input is a terminal): QEMU on the terminal; quit
# with `Ctrl-A X`, or `poweroff` in the shell.
# Piped (`printf 'ifconfig\npoweroff\n' | just run`): the input is typed
# once the shell printed `shell: ready`; QEMU ends when the guest powers
# off. RUN_TIMEOUT (seconds, piped only) bounds the whole run.
# QEMU_EXTRA adds QEMU arguments (`just debug` passes a gdb stub); KERNEL
# boots another kernel ELF (cargo's runner passes the one it built).
# Disk: a profile that runs storaged gets build/<profile>.img (`user`:
# build/user.img), created blank (1 MiB) once and kept across runs so the
# device's identity and the shell's keys persist; RUN_DISK names another.
# Networking: QEMU user networking with restrict=on (no traffic leaves the
# host's slirp; the guest reaches only 10.0.2.2/10.0.2.3 of slirp itself).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m nexuslab.run "$@"
