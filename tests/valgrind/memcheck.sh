#!/bin/sh
# `make memcheck`: the gate's happy path under valgrind memcheck against a
# throwaway PostgreSQL: a first run that migrates, a second run that finds
# the database at the heads and skips, `check`, then the commands that need
# no database (config, heads, status) and one failing gate (verify). Each run
# must keep its expected exit code and show no memcheck error and no definite
# or indirect leak (--errors-for-leak-kinds=definite,indirect makes those
# errors; --error-exitcode=99 makes any error the exit code). The migration
# command (flask) is not traced (--trace-children=no).
#
#   sh tests/valgrind/memcheck.sh [BINARY]     (default build/migration-sentry)
# Logs: build/memcheck/*.log
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-build/migration-sentry}
case $BIN in /*) ;; *) BIN=$REPO/$BIN ;; esac
PY=/usr/bin/python3
OUT=$REPO/build/memcheck
SUPP=$REPO/tests/valgrind/sentry.supp

command -v valgrind >/dev/null 2>&1 || {
    echo "memcheck: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "memcheck: $BIN is missing: run make first" >&2; exit 2; }

rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/memcheck-XXXXXX)
chmod 755 "$WORK"   # postgres must reach the cluster below it
PGDIR=$WORK/pg
cleanup() {
    $PY "$REPO/tests/pgserver.py" stop "$PGDIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

$PY "$REPO/tests/pgserver.py" start "$PGDIR" > "$WORK/pg.env"
DATABASE_URL=$(sed -n 's/^DATABASE_URL=//p' "$WORK/pg.env")
cp -r "$REPO/tests/app" "$WORK/app"

VG="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=no
    --track-origins=yes --num-callers=30"
[ -f "$SUPP" ] && VG="$VG --suppressions=$SUPP"

failed=0
# step NAME EXPECTED_RC ARGS...: one run under valgrind, in the app folder
step() {
    name=$1; want=$2; shift 2
    log=$OUT/$name.log
    set +e
    (cd "$WORK/app" && env -i PATH=/usr/bin:/bin HOME="$WORK" LANG=C.UTF-8 LC_ALL=C.UTF-8 \
        FLASK_APP=app.py DATABASE_URL="$DATABASE_URL" PYTHONDONTWRITEBYTECODE=1 \
        SENTRY_STATUS_FILE="$WORK/status.json" \
        SENTRY_REQUIRE_COLUMNS=proposals.visitor_session_id,conversions.proposal_id \
        ${EXTRA_ENV:-} \
        $VG --log-file="$log" "$BIN" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err")
    rc=$?
    set -e
    errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
    if [ "$rc" = "$want" ] && [ ! -s "$log" -o "${errs:-0}" = 0 ] && ! grep -q "definitely lost\|indirectly lost\|Invalid \|uninitialised\|Mismatched" "$log"; then
        echo "memcheck: ok   $name (exit $rc)"
    else
        echo "memcheck: FAIL $name: exit $rc (want $want; 99 = valgrind found errors)" >&2
        echo "--- valgrind ($log):" >&2; cat "$log" >&2
        echo "--- stderr:" >&2; tail -20 "$OUT/$name.err" >&2
        failed=1
    fi
}

step 1-migrate 0
grep -q "Running upgrade" "$OUT/1-migrate.err" || { echo "memcheck: the first run did not migrate" >&2; failed=1; }
step 2-noop 0
grep -q "already at heads" "$OUT/2-noop.err" || { echo "memcheck: the second run did not skip" >&2; failed=1; }
# check answers at once by default (one attempt, 2 s): valgrind is slower than that
EXTRA_ENV="SENTRY_DB_WAIT=60" step 3-check 0 check
step 4-config 0 config
step 5-heads 0 heads
step 6-status 0 status
EXTRA_ENV="SENTRY_REQUIRE_COLUMNS=proposals.no_such_column" step 7-verify-fails 65 --no-migrate
EXTRA_ENV="SENTRY_DB_WAIT=1" step 8-config-error 64 --db-wait=junk
# the schema file's paths: the dump, a drift found (a file listing a table
# the database lacks), a malformed file refused at config
EXTRA_ENV="SENTRY_DB_WAIT=60" step 9-schema 0 schema
sed 's/"tables": {/"tables": {"gone": {"columns": {}, "constraints": {}, "indexes": {}},/' \
    "$WORK/app/migrations/schema.json" > "$WORK/drift.json"
printf '{"format": [1,}' > "$WORK/bad.json"
EXTRA_ENV="SENTRY_DB_WAIT=60 SENTRY_SCHEMA_FILE=$WORK/drift.json" step 10-schema-drift 65 --no-migrate
EXTRA_ENV="SENTRY_SCHEMA_FILE=$WORK/bad.json" step 11-schema-file-bad 64

if [ "$failed" != 0 ]; then
    echo "memcheck: FAILED (logs in $OUT)" >&2
    exit 1
fi
echo "memcheck: all runs clean (no memcheck error, no definite/indirect leak)"
