#!/bin/sh
# make demo: migration-sentry doing its main job, as a new user would first try it.
#
#   1. a throwaway PostgreSQL, kept in build/demo/pg between runs
#   2. a copy of the sample Flask-Migrate app (tests/app) in build/demo/app
#   3. the gate in front of a real command:
#        migration-sentry --require-column ... -- gunicorn --bind 127.0.0.1:PORT app:app
#      first run: it migrates; later runs: "already at heads", migration skipped
#   4. GET /api/ops/migration_status from the running app, then SIGTERM
#   5. the status file
#   6. drift caught: a hot patch (migration-sentry sql) drops an index the
#      schema file lists; the gate refuses to start the app (65, naming it);
#      the index is put back, and PostgreSQL stopped (its data kept)
#
# rm -rf build/demo to start from an empty database again.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/build/migration-sentry"
DEMO="${DEMO_DIR:-$ROOT/build/demo}"  # DEMO_DIR: where tests/integration/test_demo.py runs it
PGDIR="$DEMO/pg"
APPDIR="$DEMO/app"
LOG="$DEMO/gate.log"
STATUS="$DEMO/migration_status.json"
PY=/usr/bin/python3
COLUMNS_REQUIRED="proposals.visitor_session_id conversions.proposal_id"

GATE_PID=""
PG_UP=0
DATABASE_URL=""

if [ -t 1 ]; then B=$(printf '\033[1m'); N=$(printf '\033[0m'); else B=""; N=""; fi
say()  { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
note() { printf '    %s\n' "$*"; }
die()  { printf 'demo: %s\n' "$*" >&2; exit 1; }

# The PostgreSQL of build/demo/pg, through tests/pgserver.py's Python API:
# `pg start` makes a new cluster or starts the one already there,
# `pg stop` stops it and keeps its data.
pg() {
    "$PY" - "$ROOT/tests" "$PGDIR" "$1" <<'EOF'
import os, shutil, sys
sys.path.insert(0, sys.argv[1])
from pgserver import PgServer, STATE_FILE
d, cmd = sys.argv[2], sys.argv[3]
kept = os.path.exists(os.path.join(d, STATE_FILE))
if cmd == "start":
    srv = None
    if kept:
        srv = PgServer.attach(d)
        srv.detach()
        try:
            if srv.psql("select 1", db="postgres", check=False).returncode != 0:
                srv.start()            # pg_ctl start on the kept data directory
            print("reused")
        except Exception as e:
            sys.stderr.write("demo: the kept database in %s would not start (%s);\n"
                             "demo: starting a new one instead\n" % (d, str(e).splitlines()[0]))
            srv.cleanup()
            srv = None
    if srv is None:
        shutil.rmtree(d, ignore_errors=True)   # a half-made cluster from an interrupted run
        srv = PgServer(base_dir=d)
        srv.detach()
        try:
            srv.start()                # initdb, role and database, pg_ctl start
        except BaseException:
            srv.cleanup()
            raise
        print("fresh")
    print(srv.url)
elif cmd == "stop" and kept:
    srv = PgServer.attach(d)
    srv.detach()
    srv._started = True
    srv.stop()
EOF
}

# Children get a clean environment: Debian's Python first, no pyenv shims.
# It execs: call it in a subshell.
run_env() {
    exec env -i PATH=/usr/bin:/bin HOME="${HOME:-/root}" LANG=C.UTF-8 \
        DATABASE_URL="$DATABASE_URL" FLASK_APP=app.py SENTRY_STATUS_FILE="$STATUS" "$@"
}

cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP PIPE
    if [ -n "$GATE_PID" ] && kill -0 "$GATE_PID" 2>/dev/null; then
        kill -TERM "$GATE_PID" 2>/dev/null || true
        i=0
        while kill -0 "$GATE_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
        kill -KILL "$GATE_PID" 2>/dev/null || true
    fi
    if [ "$PG_UP" = 1 ]; then
        pg stop >/dev/null 2>&1 || true
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

[ -x "$BIN" ] || die "$BIN is missing: run 'make demo' (it builds it first)"
[ -f "$ROOT/tests/app/app.py" ] || die "tests/app (the sample app) is missing"
[ -x /usr/bin/gunicorn ] || die "/usr/bin/gunicorn is missing: sh scripts/install-deps.sh"
mkdir -p "$DEMO"

# ---------------------------------------------------------------------------
say "1/6 PostgreSQL"
out=$(pg start) || die "could not start PostgreSQL (see $PGDIR/postgres.log; rm -rf build/demo to start over)"
PG_UP=1
how=$(printf '%s\n' "$out" | sed -n 1p)
DATABASE_URL=$(printf '%s\n' "$out" | sed -n 2p)
if [ "$how" = reused ]; then
    note "started the database kept in build/demo/pg by the last 'make demo';"
    note "it is already migrated, so the gate should take the fast path."
else
    note "a new, empty PostgreSQL cluster in build/demo/pg (kept for the next run);"
    note "the gate will have to migrate it."
fi
note "DATABASE_URL=$(printf '%s' "$DATABASE_URL" | sed 's#//[^@]*@#//******@#')"

# ---------------------------------------------------------------------------
say "2/6 the sample app"
rm -rf "$APPDIR"
cp -R "$ROOT/tests/app" "$APPDIR"
rm -rf "$APPDIR/__pycache__" "$APPDIR/migrations/__pycache__" "$APPDIR/migrations/versions/__pycache__"
note "copied tests/app to build/demo/app: a Flask-Migrate app with tables proposals"
note "and conversions, migrations that add the columns the code needs, and"
note "migrations/schema.json, the schema they make (made by 'make schema-file' as CI"
note "would: migrate a throwaway database, then 'migration-sentry schema')."
note "Script heads, as the sentry computes them from migrations/versions (no Python):"
(cd "$APPDIR" && run_env "$BIN" heads) | sed 's/^/      /' \
    || note "(migration-sentry heads failed)"

# ---------------------------------------------------------------------------
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "3/6 the gate in front of gunicorn"
note "cd build/demo/app && migration-sentry \\"
for c in $COLUMNS_REQUIRED; do note "    --require-column $c \\"; done
note "    -- gunicorn --bind 127.0.0.1:$PORT --workers 2 app:app"
note "It validates the environment, waits for the database, takes the advisory lock,"
note "runs 'flask db upgrade' unless the database is already at the heads, verifies"
note "the columns and every table, column, constraint and index migrations/schema.json"
note "lists, writes build/demo/migration_status.json (SENTRY_STATUS_FILE),"
note "and only then becomes gunicorn."
rm -f "$STATUS" "$LOG"
set --
for c in $COLUMNS_REQUIRED; do set -- "$@" --require-column "$c"; done
(
    cd "$APPDIR"
    run_env "$BIN" "$@" -- gunicorn --bind "127.0.0.1:$PORT" --workers 2 app:app
) >"$LOG" 2>&1 &
GATE_PID=$!

# Wait until gunicorn answers (or the gate gives up).
resp=$("$PY" - "$PORT" "$GATE_PID" <<'EOF'
import json, os, sys, time, urllib.request, urllib.error
port, pid = int(sys.argv[1]), int(sys.argv[2])
url = "http://127.0.0.1:%d/api/ops/migration_status" % port
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
        if open("/proc/%d/stat" % pid).read().split(") ")[-1].startswith("Z"):
            raise ProcessLookupError
    except (ProcessLookupError, OSError):
        print("EXITED")
        sys.exit(0)
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            code, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read()
    except (urllib.error.URLError, ConnectionError, OSError):
        time.sleep(0.2)
        continue
    print("HTTP %d" % code)
    try:
        st = json.loads(body)
        # the keys existing /api/ops/migration_status endpoints rely on; the
        # whole file is shown in step 5
        print(json.dumps({k: st.get(k) for k in ("migrated", "alembic_current", "checks")},
                         indent=2) if isinstance(st, dict) else json.dumps(st))
    except ValueError:
        print(body.decode(errors="replace"))
    sys.exit(0)
print("TIMEOUT")
EOF
)

first=$(printf '%s\n' "$resp" | sed -n 1p)
if [ "$first" = EXITED ] || [ "$first" = TIMEOUT ]; then
    rc=0
    if [ "$first" = EXITED ]; then wait "$GATE_PID" || rc=$?; GATE_PID=""; fi
    say "the gate did not start gunicorn (exit code $rc)"
    note "its log:"
    sed 's/^/      /' "$LOG"
    [ -f "$STATUS" ] && "$PY" -m json.tool "$STATUS" | sed 's/^/      /'
    exit 1
fi

note "the gate's log (stderr), then gunicorn's:"
sed 's/^/      /' "$LOG"
if grep -q 'already at heads' "$LOG"; then
    note ""
    note "=> fast path: the database was already at the Alembic heads, so the gate"
    note "   skipped 'flask db upgrade' (no Python started), verified the columns"
    note "   and exec'd gunicorn."
elif grep -q '^\[migrate\]' "$LOG" || grep -q 'MIGRATION SENTRY: flask db upgrade' "$LOG"; then
    note ""
    note "=> the database was behind: the gate ran 'flask db upgrade' under the lock"
    note "   (its output prefixed with [migrate]), verified the columns, then exec'd"
    note "   gunicorn. Run 'make demo' again to see the fast path."
fi

# ---------------------------------------------------------------------------
say "4/6 the app is serving: GET /api/ops/migration_status"
printf '%s\n' "$resp" | sed 's/^/      /'
note "(migrated, alembic_current, checks of the response.) The app serves the"
note "sentry's status file: 200 only when \"migrated\" is true, 503 otherwise."
sleep 3
note "stopping gunicorn with SIGTERM..."
kill -TERM "$GATE_PID" 2>/dev/null || true
rc=0
wait "$GATE_PID" || rc=$?
GATE_PID=""
note "gunicorn exited with code $rc."

# ---------------------------------------------------------------------------
say "5/6 the status file (build/demo/migration_status.json)"
"$PY" -m json.tool "$STATUS" | sed 's/^/      /'
src=0
(cd "$APPDIR" && run_env "$BIN" status) >/dev/null 2>&1 || src=$?
note "'migration-sentry status' exits $src on it (0: migrated)."

# ---------------------------------------------------------------------------
say "6/6 drift: a hot patch drops an index the schema file lists"
printf 'DROP INDEX ix_proposals_visitor_session_id;\n' >"$DEMO/hot_patch.sql"
printf 'CREATE INDEX ix_proposals_visitor_session_id ON proposals (visitor_session_id);\n' \
    >"$DEMO/undo_hot_patch.sql"
note "someone 'unblocks the night' by hand:  migration-sentry sql hot_patch.sql"
note "    $(cat "$DEMO/hot_patch.sql")"
(cd "$APPDIR" && run_env "$BIN" sql "$DEMO/hot_patch.sql") >"$DEMO/sql.log" 2>&1 \
    || { sed 's/^/      /' "$DEMO/sql.log"; die "the hot patch did not apply"; }
note "the next deploy's gate (nothing after --, as a preDeployCommand):"
grc=0
(cd "$APPDIR" && run_env "$BIN" "$@") >"$DEMO/drift.log" 2>&1 || grc=$?
sed 's/^/      /' "$DEMO/drift.log"
[ "$grc" = 65 ] || die "the gate exited $grc on the drifted database, not 65"
grep -q 'schema difference: index ix_proposals_visitor_session_id missing' "$DEMO/drift.log" \
    || die "the gate did not name the dropped index"
note "=> exit $grc: the database no longer matches migrations/schema.json, so nothing"
note "   would have started; the status file says why:"
"$PY" -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["schema"], indent=2))' \
    "$STATUS" | sed 's/^/      /'
(cd "$APPDIR" && run_env "$BIN" sql "$DEMO/undo_hot_patch.sql") >"$DEMO/sql.log" 2>&1 \
    || { sed 's/^/      /' "$DEMO/sql.log"; die "could not put the index back"; }
grc=0
(cd "$APPDIR" && run_env "$BIN" "$@") >"$DEMO/drift.log" 2>&1 || grc=$?
[ "$grc" = 0 ] || { sed 's/^/      /' "$DEMO/drift.log"; die "the gate still fails after the undo"; }
note "index put back (migration-sentry sql undo_hot_patch.sql): the gate passes again."

pg stop >/dev/null 2>&1 || true
PG_UP=0
note ""
note "PostgreSQL stopped; its data is kept in build/demo/pg."
if grep -q 'already at heads' "$LOG"; then
    note "rm -rf build/demo && make demo  starts again from an empty database."
else
    note "Run 'make demo' again: the gate will skip the migration (no-op path)."
fi
