# shellcheck shell=sh
# bench/lib.sh: the set-up both benches share, sourced by bench/run.sh and
# bench/init.sh (which set ROOT, PY and COLUMNS first).
#
# bench_setup NAME BIN: a temporary $WORK removed on exit (the EXIT trap also
# stops $HARNESS_PID and PostgreSQL), a throwaway PostgreSQL ($DATABASE_URL),
# and a copy of the sample app in $WORK/app migrated once by BIN.

# shellcheck disable=SC2317  # called from the EXIT trap
bench_cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP PIPE
    if [ -n "$HARNESS_PID" ]; then
        kill -TERM "$HARNESS_PID" 2>/dev/null || true
        wait "$HARNESS_PID" 2>/dev/null || true
    fi
    "$PY" "$ROOT/tests/pgserver.py" stop "$PGDIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}

bench_setup() {
    name=$1 bin=$2
    WORK=$(mktemp -d "/tmp/sentry-$name.XXXXXX")
    chmod 755 "$WORK"
    PGDIR="$WORK/pg"
    HARNESS_PID=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    trap 'exit 141' PIPE

    echo "$name: starting a throwaway PostgreSQL in $PGDIR" >&2
    DATABASE_URL=$("$PY" "$ROOT/tests/pgserver.py" start "$PGDIR" | sed -n 's/^DATABASE_URL=//p')
    [ -n "$DATABASE_URL" ] || { echo "$name: could not start PostgreSQL" >&2; exit 1; }

    cp -R "$ROOT/tests/app" "$WORK/app"
    rm -rf "$WORK/app/__pycache__"

    echo "$name: migrating the sample app once (the gate, with flask db upgrade)" >&2
    rc=0
    (
        cd "$WORK/app"
        exec env -i PATH=/usr/bin:/bin HOME="${HOME:-/root}" LANG=C.UTF-8 \
            DATABASE_URL="$DATABASE_URL" FLASK_APP=app.py \
            SENTRY_STATUS_FILE="$WORK/status.json" SENTRY_REQUIRE_COLUMNS="$COLUMNS" \
            "$bin"
    ) >"$WORK/migrate.log" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        echo "$name: the first (migrating) gate run failed with exit code $rc:" >&2
        sed 's/^/    /' "$WORK/migrate.log" >&2
        exit 1
    fi
}
