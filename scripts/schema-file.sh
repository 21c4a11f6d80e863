#!/bin/sh
# The CI recipe for a schema file, run on the sample app (make schema-file):
#
#   scripts/schema-file.sh [--check] [APP_DIR]     (APP_DIR: default tests/app)
#
# 1. a throwaway PostgreSQL (tests/pgserver.py), removed on exit;
# 2. a copy of APP_DIR migrated from scratch by the app's own tool
#    (`flask db upgrade`: the real Alembic, not the gate, which would hold the
#    database to the very file being made);
# 3. `migration-sentry schema` of it: written to APP_DIR/migrations/schema.json
#    (through a temporary file and a rename, so a failed run leaves the old
#    file whole), or with --check compared with that file: exit 1 and a diff
#    when the committed file is not what the migrations make.
# In your own CI, the same three steps (see README, "The schema file").
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SENTRY_BIN:-$ROOT/build/migration-sentry}
PY=/usr/bin/python3
CHECK=0
if [ "${1:-}" = --check ]; then CHECK=1; shift; fi
APP=$(cd "${1:-$ROOT/tests/app}" && pwd)
FILE=$APP/migrations/schema.json

[ -x "$BIN" ] || { echo "schema-file: $BIN is missing: run make first" >&2; exit 1; }
[ -d "$APP/migrations/versions" ] || { echo "schema-file: $APP has no migrations/versions" >&2; exit 1; }

WORK=$(mktemp -d /tmp/sentry-schema-file.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP
    "$PY" "$ROOT/tests/pgserver.py" stop "$WORK/pg" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

DATABASE_URL=$("$PY" "$ROOT/tests/pgserver.py" start "$WORK/pg" | sed -n 's/^DATABASE_URL=//p')
[ -n "$DATABASE_URL" ] || { echo "schema-file: could not start PostgreSQL" >&2; exit 1; }
cp -R "$APP" "$WORK/app"
rm -f "$WORK/app/migrations/schema.json"

run() {
    (cd "$WORK/app" && exec env -i PATH=/usr/bin:/bin HOME="$WORK" LANG=C.UTF-8 \
        PYTHONDONTWRITEBYTECODE=1 FLASK_APP=app.py DATABASE_URL="$DATABASE_URL" "$@")
}
run /usr/bin/flask db upgrade >"$WORK/upgrade.log" 2>&1 || {
    echo "schema-file: flask db upgrade failed:" >&2; sed 's/^/    /' "$WORK/upgrade.log" >&2; exit 1; }
run "$BIN" schema >"$WORK/schema.json" 2>"$WORK/schema.log" || {
    echo "schema-file: migration-sentry schema failed:" >&2; sed 's/^/    /' "$WORK/schema.log" >&2; exit 1; }

if [ "$CHECK" = 1 ]; then
    if cmp -s "$WORK/schema.json" "$FILE"; then
        echo "schema-file: $FILE is what the migrations make"
        exit 0
    fi
    echo "schema-file: $FILE differs from a database migrated from scratch (make schema-file):" >&2
    diff -u "$FILE" "$WORK/schema.json" >&2 || true
    exit 1
fi
cp "$WORK/schema.json" "$FILE.tmp.$$"
mv "$FILE.tmp.$$" "$FILE"
echo "schema-file: wrote $FILE"
