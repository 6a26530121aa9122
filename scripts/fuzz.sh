#!/usr/bin/env bash
# Coverage-guided fuzzing of the decoders of untrusted bytes (cargo fuzz /
# libFuzzer, see fuzz/README.md and docs/reliability.md).
#
#   scripts/fuzz.sh [seconds] [target ...]
#
# Runs each target (default: all of them) for `seconds` (default 20), one at
# a time, one libFuzzer process, no network. Starts from the in-tree seeds
# (fuzz/corpus/<target>/, read only) and grows fuzz/corpus-run/<target>/
# (git-ignored). Prints per target the executions, exec/s, coverage and
# corpus size from libFuzzer's final stats; exits non-zero if a target
# crashed (the crashing input stays under fuzz/artifacts/<target>/, replay it
# with `cargo +nightly fuzz run <target> <file>`).
#
# Needs the nightly toolchain and cargo-fuzz: `NEXUS_FUZZ=1 scripts/setup.sh`.
# Environment: CARGO_TARGET_DIR (default fuzz/target), FUZZ_SANITIZER
# (default none: the crates are safe Rust; `address` for ASan),
# FUZZ_MAX_LEN (default 8192 bytes per input).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf 'fuzz: %s\n' "$*"; }

secs=20
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
    secs=$1
    shift
fi
sanitizer=${FUZZ_SANITIZER:-none}
max_len=${FUZZ_MAX_LEN:-8192}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${root}/fuzz/target}

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz or the nightly toolchain is missing: run NEXUS_FUZZ=1 scripts/setup.sh"
    exit 2
fi

cd fuzz
mapfile -t all < <(cargo +nightly fuzz list)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
    if ! printf '%s\n' "${all[@]}" | grep -qx "$t"; then
        say "unknown target '$t' (known: ${all[*]})"
        exit 2
    fi
done

say "building ${#targets[@]} target(s) (sanitizer ${sanitizer})"
for t in "${targets[@]}"; do
    cargo +nightly fuzz build --debug-assertions --sanitizer "$sanitizer" "$t"
done

mkdir -p corpus-run/_logs
failed=()
rows=()
for t in "${targets[@]}"; do
    mkdir -p "corpus-run/$t" "artifacts/$t" "corpus/$t"
    log="corpus-run/_logs/$t.log"
    say "running $t for ${secs}s (log fuzz/$log)"
    rc=0
    # One process (no -jobs/-workers), bounded by -max_total_time and, as a
    # backstop, by timeout(1).
    timeout --kill-after=30 $((secs + 300)) \
        cargo +nightly fuzz run --debug-assertions --sanitizer "$sanitizer" "$t" \
        "corpus-run/$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 -max_len="$max_len" \
        -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1 || rc=$?
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n1; }
    execs=$(stat number_of_executed_units)
    eps=$(stat average_exec_per_sec)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
    files=$(find "corpus-run/$t" -type f | wc -l)
    status=ok
    if [ "$rc" -ne 0 ]; then
        status="CRASH (exit $rc)"
        failed+=("$t")
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to|^Failing input' "$log" \
            | head -n 8 | sed 's/^/fuzz:   /' || true
    fi
    rows+=("$(printf '%-16s %12s %9s %7s %7s %12s %8s  %s' "$t" "${execs:-?}" "${eps:-?}" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}" "$files" "$status")")
done

printf '\n%-16s %12s %9s %7s %7s %12s %8s  %s\n' target execs exec/s cov ft corpus new-files status
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    say "crashed: ${failed[*]} (inputs under fuzz/artifacts/<target>/)"
    exit 1
fi
say "ok: ${#targets[@]} target(s), ${secs}s each, no crash"
