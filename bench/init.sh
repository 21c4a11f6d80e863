#!/bin/sh
# bench/init.sh: migration-sentry as PID 1 against Debian's tini-static, side by side.
#
#   sh bench/init.sh                 # 30 start-up runs per init (BENCH_RUNS=N for more)
#   MEM_SAMPLES=9 sh bench/init.sh   # memory: fresh starts per init (default 5)
#   BENCH_STATIC_BIN=/tmp/x/migration-sentry sh bench/init.sh
#                                    # measure another static build (e.g. a relinked one)
#                                    # in place of build/static/migration-sentry
#
# Needs root (PID namespaces). Installs BENCH_PKGS with apt when missing, builds
# build/migration-sentry (`make`) and build/static/migration-sentry (`make static`, ~4 min
# cold) when missing or older than src/, starts a throwaway PostgreSQL (tests/pgserver.py),
# migrates a copy of the sample app (tests/app) once, then bench/init_measure.py measures:
#   - start-up: `unshare --pid --fork --kill-child --mount-proc INIT -- /bin/true`, wall
#     time, for tini-static, the sentry's bare supervisor (`--supervise-only=5`, what the
#     gate re-executes into) and the sentry's full no-op gate (database at heads);
#   - memory: VmRSS and Pss of the init as PID 1 while it supervises `sleep 30` (for the
#     gate: after it has re-executed into the bare supervisor).
# Everything it makes lives in one temporary directory; PostgreSQL is stopped and every
# process tree killed on exit, also when interrupted.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
STATIC_BIN=${BENCH_STATIC_BIN:-"$ROOT/build/static/migration-sentry"}
DYN_BIN="$ROOT/build/migration-sentry"
TINI_STATIC=/usr/bin/tini-static
TINI=/usr/bin/tini
RUNS=${BENCH_RUNS:-30}
BENCH_PKGS="tini util-linux procps"
COLUMNS="proposals.visitor_session_id,conversions.proposal_id"

case "$RUNS" in ''|*[!0-9]*) echo "bench/init: BENCH_RUNS must be a positive integer" >&2; exit 64;; esac
[ "$RUNS" -ge 1 ] || { echo "bench/init: BENCH_RUNS must be at least 1" >&2; exit 64; }
[ "$(id -u)" -eq 0 ] || { echo "bench/init: needs root (unshare --pid)" >&2; exit 1; }
export PATH="/usr/bin:/bin:/usr/sbin:/sbin"

# --- packages and binaries -----------------------------------------------------------
sh "$ROOT/scripts/install-deps.sh"
# shellcheck disable=SC2086
sh "$ROOT/scripts/install-deps.sh" $BENCH_PKGS
[ -x "$TINI_STATIC" ] || { echo "bench/init: $TINI_STATIC is missing (package tini)" >&2; exit 1; }
[ -x "$TINI" ] || TINI=""

# Builds $2 with `make $1` when it is missing or older than a source file; a failed
# rebuild of a binary that exists only warns (the lead may be mid-edit).
build() {
    target=$1 bin=$2
    if [ -x "$bin" ] && [ -z "$(find "$ROOT/src" "$ROOT/include" -newer "$bin" -name '*.[ch]' 2>/dev/null | head -1)" ]; then
        return 0
    fi
    echo "bench/init: make $target" >&2
    if ! make -C "$ROOT" --no-print-directory "$target" >&2; then
        [ -x "$bin" ] || { echo "bench/init: make $target failed" >&2; exit 1; }
        echo "bench/init: WARNING: make $target failed; measuring the existing $bin" >&2
    fi
}
build build/migration-sentry "$DYN_BIN"
if [ -n "${BENCH_STATIC_BIN:-}" ]; then
    [ -x "$STATIC_BIN" ] || { echo "bench/init: BENCH_STATIC_BIN=$STATIC_BIN is not executable" >&2; exit 1; }
    STATIC_BIN=$(cd "$(dirname "$STATIC_BIN")" && pwd)/$(basename "$STATIC_BIN")
else
    build static "$STATIC_BIN"
fi

# --- a throwaway PostgreSQL and the migrated sample app ---------------------------------
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_setup bench-init "$DYN_BIN"

# In the background, so that a signal to this script reaches the trap at once.
"$PY" "$ROOT/bench/init_measure.py" "$WORK" "$DATABASE_URL" "$RUNS" \
    "$STATIC_BIN" "$DYN_BIN" "$TINI_STATIC" "$TINI" &
HARNESS_PID=$!
hrc=0
wait "$HARNESS_PID" || hrc=$?
HARNESS_PID=""
exit "$hrc"
