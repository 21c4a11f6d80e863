"""Migrations that do not take the site down (issue 12): the migration's
sessions get lock_timeout (SENTRY_MIGRATE_LOCK_TIMEOUT) and an
application_name through PGOPTIONS/PGAPPNAME; a run that fails on a lock
timeout is run again under the advisory lock after a growing pause; the gate
names the sessions that block the migration, never their queries.

Against the real sample app and `flask db upgrade`: the database is first
migrated to the first revision, then a blocker session holds a lock on
`proposals` (which the second revision alters) while the gate runs.

On the base commit (69ed80c) none of this existed: the migration waited on
the blocker for as long as it lasted (up to SENTRY_MIGRATE_TIMEOUT, 25
minutes by default), every query on the table queued behind the waiting
ALTER, and the log said nothing about why.
"""

import os
import subprocess
import sys
import threading
import time

import psycopg2
import pytest

from conftest import HEAD, REV1, assert_failed, assert_status_shape

SECRET_LITERAL = "blocker-literal-7f3a91"
APP_ENV = {"SENTRY_REQUIRE_COLUMNS": "proposals.visitor_session_id"}


def upgrade_to(sentry, db, rev):
    env = sentry.env()
    p = subprocess.run(["/usr/bin/flask", "db", "upgrade", rev], cwd=str(sentry.cwd), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert p.returncode == 0, p.stdout.decode(errors="replace")
    assert db.alembic_version() == rev


class Blocker:
    """A session that holds a lock on proposals: a transaction left open
    after reading the table (AccessShareLock, enough to stop an ALTER)."""

    def __init__(self, db, appname="blocker-app"):
        self.conn = psycopg2.connect(db.url, application_name=appname)
        self.cur = self.conn.cursor()
        self.cur.execute("SELECT count(*) FROM proposals WHERE title <> %s", (SECRET_LITERAL,))
        self.cur.fetchall()
        self.cur.execute("SELECT pg_backend_pid()")
        self.pid = self.cur.fetchone()[0]

    def release(self):
        if self.conn is not None:
            self.conn.commit()
            self.conn.close()
            self.conn = None


@pytest.fixture
def at_rev1(sentry, db):
    upgrade_to(sentry, db, REV1)
    return db


class AppQueries:
    """A plain application query on proposals, run again and again from
    another session while the migration waits: the longest it took is the
    stall the site would see."""

    def __init__(self, db):
        self.db = db
        self.longest = 0.0
        self.count = 0
        self.errors = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        conn = psycopg2.connect(self.db.url, application_name="web-app")
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET statement_timeout = '60s'")
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                cur.execute("SELECT count(*) FROM proposals")
                cur.fetchall()
            except Exception as e:  # noqa: BLE001 - recorded, asserted on
                self.errors.append(str(e))
            self.longest = max(self.longest, time.monotonic() - t0)
            self.count += 1
            time.sleep(0.05)
        conn.close()

    def stop(self):
        self._stop.set()
        self._t.join(70)
        return self.longest


@pytest.mark.parametrize("url_app", [None, "url-app"], ids=["ours", "url-application-name"])
def test_retried_until_the_blocker_commits(sentry, at_rev1, url_app):
    """The ALTER times out (1 s), is run again after a pause, and succeeds
    once the blocker commits; meanwhile an application query on the table is
    never stuck for much longer than the lock timeout (without the sentry it
    waits until the blocker ends: see the next test)."""
    db = at_rev1
    blocker = Blocker(db)
    app = AppQueries(db)
    try:
        env = dict(APP_ENV, SENTRY_MIGRATE_LOCK_TIMEOUT="1", SENTRY_MIGRATE_RETRIES="8")
        if url_app:
            env["DATABASE_URL"] = db.url + "?application_name=" + url_app
        run = sentry.popen([], env=env)
        run.wait_for(r"failed on a lock timeout \(run 1 of at most 9\)", timeout=60)
        run.wait_for(r"held by pid %d \(application_name 'blocker-app'" % blocker.pid, timeout=30)
        time.sleep(1.0)
        blocker.release()
        r = run.finish(timeout=120)
    finally:
        blocker.release()
        stall = app.stop()
    print("application query stall with the sentry (lock_timeout 1s): %.2fs over %d queries"
          % (stall, app.count))
    assert r.rc == 0, r
    st = r.status
    assert_status_shape(st)
    assert st["migration"]["attempts"] >= 2, st
    assert st["migration"]["ran"] is True and st["migration"]["exit_code"] == 0
    assert db.alembic_version() == HEAD
    assert SECRET_LITERAL not in r.stderr and SECRET_LITERAL not in r.status_path.read_text()
    assert not app.errors, app.errors
    # the ALTER queues for at most about the lock timeout (1 s) each run
    assert stall < 3.5, "an application query waited %.1fs behind the migration" % stall


def test_without_the_sentry_the_site_waits_for_the_blocker(sentry, at_rev1):
    """The same migration run by hand (`flask db upgrade`, no lock_timeout):
    the application query stalls for as long as the blocker lasts. This is
    the comparison figure for the previous test."""
    db = at_rev1
    blocker = Blocker(db)
    app = AppQueries(db)
    hold = 5.0
    try:
        p = subprocess.Popen(["/usr/bin/flask", "db", "upgrade"], cwd=str(sentry.cwd),
                             env=sentry.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(hold)
        blocker.release()
        out, _ = p.communicate(timeout=120)
    finally:
        blocker.release()
        stall = app.stop()
    print("application query stall without the sentry: %.2fs (blocker held %.0fs)" % (stall, hold))
    assert p.returncode == 0, out
    assert stall > hold - 2.5, "expected the query to wait behind the ALTER (%.1fs)" % stall


def test_blocker_that_never_ends(sentry, at_rev1):
    """The gate gives up after the retries, well under a minute with a 1 s
    timeout: 70, the blocker's pid and application_name in the log, none of
    its query's literals, every run counted."""
    db = at_rev1
    blocker = Blocker(db, appname="nightly-report")
    t0 = time.monotonic()
    try:
        r = sentry.run([], env=dict(APP_ENV, SENTRY_MIGRATE_LOCK_TIMEOUT="1",
                                    SENTRY_MIGRATE_RETRIES="3"), timeout=120)
    finally:
        blocker.release()
    elapsed = time.monotonic() - t0
    st = assert_failed(r, "migrate", 70)
    assert st["migration"]["attempts"] == 4, st
    assert elapsed < 45, elapsed
    assert any("held by pid %d (application_name 'nightly-report'" % blocker.pid in l
               for l in r.lines), r
    assert sum("failed on a lock timeout" in l for l in r.lines) == 3, r
    assert SECRET_LITERAL not in r.stderr and SECRET_LITERAL not in r.status_path.read_text()
    assert any("lock timeout" in l for l in st["migration"]["output_tail"]), st
    assert db.alembic_version() == REV1


def test_other_failures_run_once(sentry, db):
    """A migration that fails for another reason is not run again."""
    script = sentry.cwd / "fail.sh"
    script.write_text("#!/bin/sh\necho 'ERROR: relation \"nope\" does not exist' >&2\nexit 1\n")
    script.chmod(0o755)
    r = sentry.run([], env={"SENTRY_MIGRATE_CMD": str(script), "SENTRY_MIGRATE_RETRIES": "5"})
    st = assert_failed(r, "migrate", 70)
    assert st["migration"]["attempts"] == 1, st
    assert not any("lock timeout" in l for l in r.lines), r


def test_retries_zero_means_one_run(sentry, at_rev1):
    db = at_rev1
    blocker = Blocker(db)
    try:
        r = sentry.run([], env=dict(APP_ENV, SENTRY_MIGRATE_LOCK_TIMEOUT="1",
                                    SENTRY_MIGRATE_RETRIES="0"), timeout=90)
    finally:
        blocker.release()
    st = assert_failed(r, "migrate", 70)
    assert st["migration"]["attempts"] == 1, st


def test_retries_stay_inside_the_migrate_timeout(sentry, at_rev1):
    """Many retries, a short SENTRY_MIGRATE_TIMEOUT: the whole ends near it."""
    db = at_rev1
    blocker = Blocker(db)
    t0 = time.monotonic()
    try:
        r = sentry.run([], env=dict(APP_ENV, SENTRY_MIGRATE_LOCK_TIMEOUT="1",
                                    SENTRY_MIGRATE_RETRIES="50", SENTRY_MIGRATE_TIMEOUT="12"),
                       timeout=90)
    finally:
        blocker.release()
    elapsed = time.monotonic() - t0
    assert_failed(r, "migrate", 70)
    assert elapsed < 12 + 10, elapsed


PROBE = r"""
import os, psycopg2
url = os.environ["DATABASE_URL"]
c = psycopg2.connect(url)
cur = c.cursor()
for name in ("lock_timeout", "application_name", "statement_timeout"):
    cur.execute("SELECT current_setting(%s)", (name,))
    print("PROBE %s=%s" % (name, cur.fetchone()[0]))
print("PROBE PGOPTIONS=%s" % os.environ.get("PGOPTIONS", "<unset>"))
print("PROBE PGAPPNAME=%s" % os.environ.get("PGAPPNAME", "<unset>"))
"""


def probe(sentry, env):
    script = sentry.cwd / "probe.py"
    script.write_text(PROBE)
    # the probe, then the real migration, so that verify passes
    cmd = "sh -c '/usr/bin/python3 probe.py && exec /usr/bin/flask db upgrade'"
    r = sentry.run([], env=dict({"SENTRY_MIGRATE_CMD": cmd}, **env))
    assert r.rc == 0, r
    seen = {}
    for l in r.migrate_lines:
        if l.startswith("[migrate] PROBE "):
            k, v = l[len("[migrate] PROBE "):].split("=", 1)
            seen[k] = v
    return r, seen


def test_what_reaches_the_migration_session(sentry):
    r, seen = probe(sentry, {})
    assert seen["lock_timeout"] == "5s", seen  # the contract's default
    assert seen["application_name"] == "migration-sentry/migrate", seen
    assert seen["PGOPTIONS"] == "-c lock_timeout=5s", seen
    assert any("lock_timeout 5s" in l and "SENTRY_MIGRATE_LOCK_TIMEOUT" in l for l in r.lines), r


def test_existing_pgoptions_kept(sentry):
    r, seen = probe(sentry, {"PGOPTIONS": "-c statement_timeout=7s", "SENTRY_MIGRATE_LOCK_TIMEOUT": "3"})
    assert seen["lock_timeout"] == "3s", seen
    assert seen["statement_timeout"] == "7s", seen
    assert seen["PGOPTIONS"] == "-c statement_timeout=7s -c lock_timeout=3s", seen


def test_zero_leaves_it_alone(sentry):
    r, seen = probe(sentry, {"PGOPTIONS": "-c statement_timeout=7s", "SENTRY_MIGRATE_LOCK_TIMEOUT": "0"})
    assert seen["lock_timeout"] == "0", seen
    assert seen["PGOPTIONS"] == "-c statement_timeout=7s", seen
    assert seen["application_name"] == "migration-sentry/migrate", seen
    assert not any("lock_timeout" in l for l in r.lines if l.startswith("[SENTRY]")), r


def test_own_pgappname_kept(sentry):
    r, seen = probe(sentry, {"PGAPPNAME": "my-deploy"})
    assert seen["application_name"] == "my-deploy", seen
    assert seen["PGAPPNAME"] == "my-deploy", seen


def test_empty_pgappname_replaced(sentry):
    """PGAPPNAME set but empty counts as unset: the migration's sessions are
    named ours (one PGAPPNAME entry, not the empty one beside it)."""
    r, seen = probe(sentry, {"PGAPPNAME": ""})
    assert seen["application_name"] == "migration-sentry/migrate", seen
    assert seen["PGAPPNAME"] == "migration-sentry/migrate", seen


def test_url_options_said_not_applied(sentry, db):
    """A URL with its own `options`: libpq gives the migration's sessions
    those instead of PGOPTIONS, so lock_timeout would not apply; the log says
    so (and does not claim it applies)."""
    url = db.url + "?options=-c%20statement_timeout%3D7s"
    r, seen = probe(sentry, {"DATABASE_URL": url})
    assert seen["statement_timeout"] == "7s", seen
    assert seen["lock_timeout"] == "0", seen
    assert any("lock_timeout NOT applied to the migration: the database URL sets `options`" in l
               for l in r.lines), r
    assert not any("sessions get lock_timeout" in l for l in r.lines), r


def test_url_application_name_named_in_the_log(sentry, db):
    """A URL's application_name wins over PGAPPNAME for the migration's
    sessions: the log names that one, the one the blocker report looks for."""
    r, seen = probe(sentry, {"DATABASE_URL": db.url + "?application_name=url-app"})
    assert seen["application_name"] == "url-app", seen
    assert any("sessions get lock_timeout 5s" in l and "application_name url-app" in l
               for l in r.lines), r


def test_lock_timeout_flags(sentry):
    script_r = sentry.run(["--migrate-lock-timeout=2", "--migrate-retries", "1", "config"])
    assert "SENTRY_MIGRATE_LOCK_TIMEOUT=2 (flag)" in script_r.stdout, script_r
    assert "SENTRY_MIGRATE_RETRIES=1 (flag)" in script_r.stdout, script_r
    bad = sentry.run(["--migrate-retries=-1"])
    assert bad.rc == 64 and "--migrate-retries must be a whole number" in bad.stderr, bad


SQL_THEN_UPGRADE = r"""
import os, subprocess, sys, psycopg2
c = psycopg2.connect(os.environ["DATABASE_URL"])
c.autocommit = True
cur = c.cursor()
for stmt in sys.argv[1:]:
    cur.execute(stmt)
    print("ran: " + stmt.split()[0] + " " + stmt.split()[1], flush=True)
c.close()
os.execvp("/usr/bin/flask", ["flask", "db", "upgrade"])
"""


def run_sql_then_upgrade(sentry, *stmts, env=None):
    (sentry.cwd / "sql_then_upgrade.py").write_text(SQL_THEN_UPGRADE)
    quoted = " ".join("'%s'" % s for s in stmts)
    return sentry.run([], env=dict({"SENTRY_MIGRATE_CMD": "/usr/bin/python3 sql_then_upgrade.py " + quoted},
                                   **(env or {})))


def test_gate_transaction_does_not_block_create_index_concurrently(sentry, at_rev1):
    """CREATE INDEX CONCURRENTLY waits for every transaction that could see
    the table: the gate's own open transaction (the advisory lock) holds no
    snapshot and no table lock, so the build does not wait for it (it would
    fail on the 2 s lock timeout, or wait for ever)."""
    r = run_sql_then_upgrade(sentry, "CREATE INDEX CONCURRENTLY ix_title ON proposals (title)",
                             env={"SENTRY_MIGRATE_LOCK_TIMEOUT": "2", "SENTRY_MIGRATE_RETRIES": "0"})
    assert r.rc == 0, r
    assert any("ran: CREATE INDEX" in l for l in r.migrate_lines), r
    assert at_rev1.psql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_title'::regclass") == "t"


def test_migration_altering_the_version_table(sentry, at_rev1):
    """A migration that alters alembic_version (widening version_num, as
    projects do) needs an exclusive lock on it: the gate's reads ran in a
    rolled-back savepoint, so it holds none and nothing deadlocks."""
    r = run_sql_then_upgrade(sentry, "ALTER TABLE alembic_version ALTER COLUMN version_num TYPE varchar(64)",
                             env={"SENTRY_MIGRATE_LOCK_TIMEOUT": "2", "SENTRY_MIGRATE_RETRIES": "0"})
    assert r.rc == 0, r
    assert at_rev1.alembic_version() == HEAD
    assert at_rev1.psql("SELECT character_maximum_length FROM information_schema.columns"
                        " WHERE table_name = 'alembic_version' AND column_name = 'version_num'") == "64"


# ------------------------------------------------ through a real PgBouncer

import pgbouncer  # noqa: E402


@pytest.fixture(scope="module", params=[(), ("options",)], ids=["refuses-options", "ignores-options"])
def tx_bouncer(request, pg):
    why = pgbouncer.available()
    if why:
        pytest.fail(why, pytrace=False)
    with pgbouncer.PgBouncer(pg, pool_mode="transaction", ignore_startup_parameters=request.param) as b:
        yield b


def test_through_pgbouncer_the_log_says_whether_it_applied(tx_bouncer, sentry, db):
    """PgBouncer (transaction pooling) refuses the `options` startup
    parameter unless told to ignore it, and then drops it silently. Either
    way the migration runs, without lock_timeout, and the log says so; it
    never claims the setting applied."""
    url = tx_bouncer.url_for(db.name)
    r, seen = probe(sentry, {"DATABASE_URL": url})
    assert r.rc == 0, r
    assert seen["lock_timeout"] == "0", seen  # the server's default: nothing got through
    assert "lock_timeout" not in seen["PGOPTIONS"], seen  # nor was it passed on
    assert seen["application_name"] == "migration-sentry/migrate", seen
    claims = [l for l in r.lines if "lock_timeout 5s (SENTRY_MIGRATE_LOCK_TIMEOUT)" in l]
    assert not claims, claims
    word = "refuses" if not tx_bouncer.ignore else "drops"
    assert any("lock_timeout NOT applied" in l and word in l for l in r.lines), r
    assert db.alembic_version() == HEAD
    # and the no-op gate through it afterwards
    again = sentry.run([], env={"DATABASE_URL": url})
    assert again.rc == 0 and again.status["migration"]["skipped"] == "database already at heads", again
