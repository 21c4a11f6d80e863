# shellcheck shell=sh
# bench/lib.sh: the set-up both benches share, sourced by bench/run.sh and
# bench/init.sh (which set ROOT, PY and COLUMNS first).
#
# bench_setup NAME BIN: a temporary $WORK removed on exit (the EXIT trap also
# stops $HARNESS_PID and PostgreSQL), a throwaway PostgreSQL ($DATABASE_URL),
# and a copy of the sample app in $WORK/app migrated once by BIN.
# bench_tls_server NAME BIN, after it: a second one with ssl=on ($TLS_URL,
# sslmode=require), the same app migrated there too.

# shellcheck disable=SC2317  # called from the EXIT trap
bench_cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP PIPE
    if [ -n "$HARNESS_PID" ]; then
        kill -TERM "$HARNESS_PID" 2>/dev/null || true
        wait "$HARNESS_PID" 2>/dev/null || true
    fi
    "$PY" "$ROOT/tests/pgserver.py" stop "$PGDIR" >/dev/null 2>&1 || true
    if [ -n "$PGDIR_TLS" ]; then
        "$PY" "$ROOT/tests/pgserver.py" stop "$PGDIR_TLS" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}

bench_setup() {
    name=$1 bin=$2
    WORK=$(mktemp -d "/tmp/sentry-$name.XXXXXX")
    chmod 755 "$WORK"
    PGDIR="$WORK/pg"
    PGDIR_TLS=""
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
    bench_migrate "$name" "$bin" "$DATABASE_URL"
}

# bench_migrate NAME BIN URL: the gate's first run, with flask db upgrade.
bench_migrate() {
    echo "$1: migrating the sample app once (the gate, with flask db upgrade)" >&2
    rc=0
    (
        cd "$WORK/app"
        exec env -i PATH=/usr/bin:/bin HOME="${HOME:-/root}" LANG=C.UTF-8 \
            DATABASE_URL="$3" FLASK_APP=app.py \
            SENTRY_STATUS_FILE="$WORK/status.json" SENTRY_REQUIRE_COLUMNS="$COLUMNS" \
            "$2"
    ) >"$WORK/migrate.log" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        echo "$1: the first (migrating) gate run failed with exit code $rc:" >&2
        sed 's/^/    /' "$WORK/migrate.log" >&2
        exit 1
    fi
}

bench_tls_server() {
    PGDIR_TLS="$WORK/pg-tls"
    echo "$1: starting a second throwaway PostgreSQL, ssl=on, in $PGDIR_TLS" >&2
    TLS_URL=$("$PY" "$ROOT/tests/pgserver.py" start "$PGDIR_TLS" --ssl | sed -n 's/^DATABASE_URL=//p')
    [ -n "$TLS_URL" ] || { echo "$1: could not start PostgreSQL with ssl=on" >&2; exit 1; }
    TLS_URL="$TLS_URL?sslmode=require"
    bench_migrate "$1" "$2" "$TLS_URL"
}
