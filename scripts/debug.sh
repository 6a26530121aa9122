#!/usr/bin/env bash
# `just debug [service] [profile]`: boots build/neuron.elf stopped at the
# first instruction, with QEMU's gdb stub on 127.0.0.1 only (QEMU's `-s`
# would listen on every interface), and prints the gdb command line that
# loads the kernel's symbols and those of `service` (default `shell`).
# See docs/debugging.md. GDB_PORT (default 1234); NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."

service=${1:-shell}
profile=${2:-user}
port=${GDB_PORT:-1234}
target=riscv64imac-unknown-none-elf
tdir=${CARGO_TARGET_DIR:-target}

[ "${NO_BUILD:-0}" = "1" ] || bash scripts/build.sh
svc_elf="$tdir/$target/release/$service"
if [ ! -f "$svc_elf" ]; then
    echo "debug: no program '$service' in $tdir/$target/release (one of: $(sed -n 's/^ *programs=(\(.*\)/\1/p' scripts/build.sh | head -n1) ...)" >&2
    exit 2
fi
gdb=gdb-multiarch
command -v "$gdb" >/dev/null 2>&1 || gdb="gdb (needs RISC-V support: Debian's gdb-multiarch)"

cat <<MSG
debug: QEMU waits for gdb on 127.0.0.1:$port (profile $profile). In another terminal:

  $gdb -q build/neuron.elf \\
    -ex 'set confirm off' \\
    -ex 'add-symbol-file $svc_elf' \\
    -ex 'target remote 127.0.0.1:$port'

then e.g. 'break kmain', 'break trap_handler' (every trap from a task), 'break __nexus_main'
(a service's main), 'continue'.
Every service is linked at the same user address (0x100000000): a breakpoint
there stops in whichever task runs that address (docs/debugging.md).
Ctrl-A X ends QEMU.
MSG
QEMU_EXTRA="-gdb tcp:127.0.0.1:$port -S" exec bash scripts/run.sh "$profile"
