#!/bin/sh
# make bench: the sentry's no-op gate against today's way, side by side.
#
# A throwaway PostgreSQL, a copy of the sample app (tests/app) migrated once,
# then BENCH_RUNS (default 15) runs of each, interleaved, wall-clock timed from
# /usr/bin/python3 (time.perf_counter around subprocess.run):
#   (a) migration-sentry --require-column ... (database already at heads, no command):
#       the shipped static binary build/static/migration-sentry when it exists
#       (`make bench` builds it), else build/migration-sentry; BENCH_BIN overrides;
#       in a copy of the app without its schema file
#   (a') the same in the app as shipped, holding the database to its schema file
#       (migrations/schema.json): the cost of the schema check
#   (b) /usr/bin/python3 bench/todays_way.py (import the app, run `flask db upgrade`,
#       check the columns with SQLAlchemy's inspector: the issue's "today's way")
#   (c) the same with Flask-Migrate's upgrade() called in-process (no second
#       interpreter): the fastest Python version, shown so the ratio is not flattered
# Everything it makes lives in one temporary directory, removed on exit.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BENCH_BIN:-$ROOT/build/static/migration-sentry}
[ -x "$BIN" ] || BIN="$ROOT/build/migration-sentry"
PY=/usr/bin/python3
RUNS=${BENCH_RUNS:-15}
COLUMNS="proposals.visitor_session_id,conversions.proposal_id"

case "$RUNS" in ''|*[!0-9]*) echo "bench: BENCH_RUNS must be a positive integer" >&2; exit 64;; esac
[ "$RUNS" -ge 1 ] || { echo "bench: BENCH_RUNS must be at least 1" >&2; exit 64; }
[ -x "$BIN" ] || { echo "bench: $BIN is missing: run 'make bench' (it builds it first)" >&2; exit 1; }
[ -f "$ROOT/tests/app/app.py" ] || { echo "bench: tests/app (the sample app) is missing" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_setup bench "$BIN"

# The harness runs in the background and the shell waits for it, so that a
# signal to this script stops it at once (the EXIT trap then cleans up).
"$PY" - "$BIN" "$ROOT/bench/todays_way.py" "$WORK" "$DATABASE_URL" "$COLUMNS" "$RUNS" <<'EOF' &
import json, os, statistics, subprocess, sys, time

binary, todays, work, url, columns, runs = sys.argv[1:7]
runs = int(runs)
app_dir = os.path.join(work, "app")
status = os.path.join(work, "status.json")
env = {
    "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
    "DATABASE_URL": url, "FLASK_APP": "app.py",
    "SENTRY_STATUS_FILE": status, "SENTRY_REQUIRE_COLUMNS": columns,
}
gate = [binary]
for c in columns.split(","):
    gate += ["--require-column", c]
today = ["/usr/bin/python3", todays]
inproc = ["/usr/bin/python3", todays, "--in-process"]

# (a) runs where the gate finds no schema file, (a') where it finds the sample's
import shutil
plain_dir = os.path.join(work, "app-without-schema-file")
shutil.copytree(app_dir, plain_dir, ignore=shutil.ignore_patterns("schema.json"))
if not os.path.exists(os.path.join(app_dir, "migrations", "schema.json")):
    sys.stderr.write("bench: the sample app has no migrations/schema.json\n")
    sys.exit(1)

def run(argv, cwd=app_dir):
    t0 = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ms = (time.perf_counter() - t0) * 1000.0
    if p.returncode != 0:
        sys.stderr.write("bench: %s exited %d:\n%s\n" % (
            " ".join(argv), p.returncode, p.stdout.decode(errors="replace")))
        sys.exit(1)
    return ms, p.stdout.decode(errors="replace")

# One warm-up run of each (page cache, PostgreSQL's catalog caches); not counted.
for d in (plain_dir, app_dir):
    _, log = run(gate, d)
    if "already at heads" not in log:
        sys.stderr.write("bench: the gate did not take the no-op path:\n" + log + "\n")
        sys.exit(1)
run(today)
run(inproc)

def gate_status(with_file):
    with open(status) as f:
        st = json.load(f)
    if (st.get("migrated") is not True or st.get("migration", {}).get("ran")
            or (st.get("schema", {}).get("file") is not None) != with_file
            or (with_file and not st["schema"].get("checked"))):
        sys.stderr.write("bench: unexpected status file: %s\n" % json.dumps(st))
        sys.exit(1)
    return st

a, a2, b, c, self_ms, self2_ms = [], [], [], [], [], []
for _ in range(runs):                       # interleaved, so drift hits both alike
    ms, _ = run(gate, plain_dir)
    a.append(ms)
    self_ms.append(gate_status(False).get("duration_ms"))
    ms, _ = run(gate, app_dir)
    a2.append(ms)
    st = gate_status(True)
    self2_ms.append(st.get("duration_ms"))
    ms, _ = run(today)
    b.append(ms)
    ms, _ = run(inproc)
    c.append(ms)

def row(name, xs):
    return "%-48s %9.1f %9.1f %9.1f" % (name, statistics.median(xs), min(xs), max(xs))

import flask_migrate, sqlalchemy
try:
    import importlib.metadata as md
    fm = md.version("Flask-Migrate")
except Exception:
    fm = getattr(flask_migrate, "__version__", "?")
print()
print("migration-sentry bench: %d runs each, database already at heads" % runs)
print("binary: %s" % sys.argv[1])
print("(wall clock from fork to exit; SQLAlchemy %s, Flask-Migrate %s, PostgreSQL %s)" % (
    sqlalchemy.__version__, fm, st.get("server_version")))
print()
print("%-48s %9s %9s %9s" % ("", "median ms", "min ms", "max ms"))
print(row("(a) migration-sentry (no-op gate)", a))
print(row("(a') the same, with the sample's schema file", a2))
print(row("(b) today's way (import, flask db upgrade, inspect)", b))
print(row("(c) same, upgrade() in-process (no CLI)", c))
print()
print("ratio (a')/(a) of the medians: %.2fx (the schema file: %d objects checked)" % (
    statistics.median(a2) / statistics.median(a), st["schema"]["checked"]))
print("ratio (b)/(a) of the medians: %.1fx" % (statistics.median(b) / statistics.median(a)))
print("ratio (c)/(a) of the medians: %.1fx" % (statistics.median(c) / statistics.median(a)))
for label, xs in (("", self_ms), (" with the schema file", self2_ms)):
    known = [x for x in xs if isinstance(x, (int, float))]
    if known:
        print("sentry's own duration_ms%s (status file): median %s, min %s, max %s" % (
            label, statistics.median(known), min(known), max(known)))
print("last status: migrated=%s alembic_current=%s migration.skipped=%r" % (
    st.get("migrated"), st.get("alembic_current"), st.get("migration", {}).get("skipped")))
EOF
HARNESS_PID=$!
exec_rc=0
wait "$HARNESS_PID" || exec_rc=$?
HARNESS_PID=""
exit "$exec_rc"
