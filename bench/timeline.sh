#!/bin/sh
# bench/timeline.sh: where one no-op gate run spends its time, step by step.
#
#   sh bench/timeline.sh                     # as root; 21 traced runs each, plain and TLS
#   BENCH_RUNS=51 sh bench/timeline.sh
#   BENCH_SYMS_BIN=/tmp/x/migration-sentry.syms sh bench/timeline.sh   # another build
#
# Builds build/bench/migration-sentry.syms (the static binary as `make static` links it,
# not stripped) when it is missing or older than src/, and build/bench/limit (it spawns
# the gate: bench/limit.c), starts two throwaway PostgreSQL
# servers (the second with ssl=on), migrates the sample app on both, then
# bench/timeline.py prints two tables: the wall clock of every step (tracefs: syscall
# tracepoints and uprobes; median and minimum over the runs) and the instructions of
# every step (valgrind's callgrind, one run each: repeatable whatever the load).
# Everything lives in one temporary directory, removed on exit; every probe removed.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
SYMS=${BENCH_SYMS_BIN:-$ROOT/build/bench/migration-sentry.syms}
LIMIT=$ROOT/build/bench/limit
RUNS=${BENCH_RUNS:-21}
COLUMNS="proposals.visitor_session_id,conversions.proposal_id"

case "$RUNS" in ''|*[!0-9]*) echo "bench/timeline: BENCH_RUNS must be a positive integer" >&2; exit 64;; esac
[ "$RUNS" -ge 1 ] || { echo "bench/timeline: BENCH_RUNS must be at least 1" >&2; exit 64; }
[ "$(id -u)" -eq 0 ] || { echo "bench/timeline: needs root (tracefs, uprobes)" >&2; exit 1; }
export PATH="/usr/bin:/bin:/usr/sbin:/sbin"
sh "$ROOT/scripts/install-deps.sh"

if [ -z "${BENCH_SYMS_BIN:-}" ] && { [ ! -x "$SYMS" ] ||
        [ -n "$(find "$ROOT/src" "$ROOT/include" -newer "$SYMS" -name '*.[ch]' 2>/dev/null | head -1)" ]; }; then
    make -C "$ROOT" --no-print-directory build/bench/migration-sentry.syms >&2
fi
[ -x "$LIMIT" ] || make -C "$ROOT" --no-print-directory build/bench/limit >&2
for f in "$SYMS" "$LIMIT"; do
    [ -x "$f" ] || { echo "bench/timeline: $f is missing" >&2; exit 1; }
done

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_setup bench-timeline "$SYMS"
bench_tls_server bench-timeline "$SYMS"

"$PY" "$ROOT/bench/timeline.py" "$WORK" "$DATABASE_URL" "$TLS_URL" "$SYMS" "$LIMIT" "$RUNS" &
HARNESS_PID=$!
hrc=0
wait "$HARNESS_PID" || hrc=$?
HARNESS_PID=""
exit "$hrc"
