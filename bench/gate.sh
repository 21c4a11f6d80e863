#!/bin/sh
# bench/gate.sh: the no-op gate against the limit no start-up can beat, plain and with TLS.
#
#   sh bench/gate.sh                    # `make bench` runs it first (BENCH_ROUNDS, default 101)
#   BENCH_ROUNDS=301 sh bench/gate.sh
#   BENCH_STATIC_BIN=/tmp/x/migration-sentry BENCH_LIMIT_BIN=/tmp/x/limit sh bench/gate.sh
#   BENCH_COMPARE="before=/tmp/old/migration-sentry:/tmp/old/limit" sh bench/gate.sh
#                                       # other builds in the same run, interleaved
#                                       # (LABEL=GATE:LIMIT, space-separated)
#
# Two throwaway PostgreSQL servers (tests/pgserver.py; the second with ssl=on), the
# sample app (tests/app) migrated on both, then bench/gate_measure.py drives one
# build/bench/limit process (bench/limit.c, linked like the static binary) that times,
# interleaved, in random order within each round:
#   - the gate: build/static/migration-sentry with the sample app's required columns,
#     database at heads, no command; posix_spawn to waitpid;
#   - the limit: connect + SELECT 1 + close, in-process, warm, the same URL;
# plain (sslmode=prefer against the server without TLS, as a URL without sslmode gets)
# and TLS (sslmode=require), and prints the medians and their ratio.
# Everything lives in one temporary directory, removed on exit, also when interrupted.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BENCH_STATIC_BIN:-$ROOT/build/static/migration-sentry}
LIMIT=${BENCH_LIMIT_BIN:-$ROOT/build/bench/limit}
PY=/usr/bin/python3
ROUNDS=${BENCH_ROUNDS:-101}
COLUMNS="proposals.visitor_session_id,conversions.proposal_id"

case "$ROUNDS" in ''|*[!0-9]*) echo "bench/gate: BENCH_ROUNDS must be a positive integer" >&2; exit 64;; esac
[ "$ROUNDS" -ge 1 ] || { echo "bench/gate: BENCH_ROUNDS must be at least 1" >&2; exit 64; }
for f in "$BIN" "$LIMIT"; do
    [ -x "$f" ] || { echo "bench/gate: $f is missing: run 'make bench' (it builds it first)" >&2; exit 1; }
done

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_setup bench-gate "$BIN"
bench_tls_server bench-gate "$BIN"

# In the background, so that a signal to this script reaches the trap at once.
# shellcheck disable=SC2086  # BENCH_COMPARE: one word a build
"$PY" "$ROOT/bench/gate_measure.py" "$WORK" "$DATABASE_URL" "$TLS_URL" "$ROUNDS" "$COLUMNS" \
    "this build=$BIN:$LIMIT" ${BENCH_COMPARE:-} &
HARNESS_PID=$!
hrc=0
wait "$HARNESS_PID" || hrc=$?
HARNESS_PID=""
exit "$hrc"
