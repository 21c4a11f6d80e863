"""One gate for every replica: the advisory lock, the fast path, broken chains.

Issue 3 against a real PostgreSQL and the real sample app.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HEAD, REV2, assert_failed, assert_status_shape, wait_dead

LOCK_KEY = 7886758897530337569
REQ = ["--require-column", "proposals.visitor_session_id",
       "--require-column", "conversions.proposal_id"]


def hold_lock(db, key=LOCK_KEY, seconds=60):
    """A psql session that takes the advisory lock and sits on it."""
    p = subprocess.Popen(
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-h", db.pg.sock_dir,
         "-p", str(db.pg.port), "-d", db.name, "-v", "ON_ERROR_STOP=1",
         "-c", "SELECT pg_advisory_lock(%d)" % key,
         "-c", "SELECT pg_sleep(%d)" % seconds],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        n = db.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        if n == "1":
            return p
        time.sleep(0.05)
    p.kill()
    raise AssertionError("psql did not take the lock: %s" % p.stderr.read())


def test_eight_gates_at_once_one_migrates(sentry, db, tmp_path):
    runs = [sentry.popen(REQ + ["--status-file", str(tmp_path / ("s%d.json" % i))],
                         env={"SAMPLE_MIGRATION_SLEEP": "3"}) for i in range(8)]
    results = [r.finish(timeout=120) for r in runs]
    assert [r.rc for r in results] == [0] * 8, results
    statuses = [r.status for r in results]
    for st in statuses:
        assert_status_shape(st)
        assert st["migrated"] is True and st["alembic_current"] == HEAD
    ran = [st for st in statuses if st["migration"]["ran"]]
    assert len(ran) == 1, [st["migration"] for st in statuses]
    skipped = [st["migration"]["skipped"] for st in statuses if not st["migration"]["ran"]]
    assert skipped == ["database already at heads"] * 7
    assert db.alembic_version() == HEAD
    waited = [r for r in results if any("held by" in l for l in r.lines)]
    assert waited, "no waiter logged who holds the lock"
    assert any("pid" in l and "migration-sentry" in l for r in waited for l in r.lines
               if "held by" in l)


def test_lock_wait_times_out_with_75(sentry, db):
    holder = hold_lock(db)
    try:
        r = sentry.run(REQ, env={"SENTRY_LOCK_WAIT": "2"})
    finally:
        holder.kill()
        holder.wait()
    st = assert_failed(r, "lock", 75)
    assert 1.8 <= r.elapsed < 10, r.elapsed
    assert any("held by pid" in l for l in r.lines), r
    assert str(LOCK_KEY) in st["error"]
    assert db.alembic_version() is None  # nothing ran


def test_lock_key_setting_is_used(sentry, db):
    holder = hold_lock(db, key=-42)
    try:
        r = sentry.run(REQ + ["--lock-key=-42", "--lock-wait=1"])
        assert r.rc == 75, r
        r = sentry.run(REQ, env={"SENTRY_LOCK_KEY": "43"})  # another key: not blocked
        assert r.rc == 0, r
    finally:
        holder.kill()
        holder.wait()


def test_killed_holder_does_not_block_the_next_gate(sentry, db, tmp_path):
    pidfile = tmp_path / "mig.pid"
    first = sentry.popen(REQ, env={
        "SENTRY_MIGRATE_CMD": "sh -c 'echo $$ > %s; exec sleep 60'" % pidfile})
    try:
        first.wait_for(r"lock \S+ acquired")
        first.wait_for(r"=== MIGRATION SENTRY: sh -c")
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        r = sentry.run(REQ, timeout=60)
        assert r.rc == 0, r
        assert not any("held by" in l for l in r.lines), r
        assert r.elapsed < 20
    finally:
        first.kill()
        deadline = time.monotonic() + 5
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


def test_lock_released_after_the_gate(sentry, db):
    r = sentry.run(REQ + ["--", "sh", "-c", "sleep 2"])
    assert r.rc == 0, r
    assert db.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == "0"
    # while the command runs, the lock is already free: a second gate passes at once
    bg = sentry.popen(REQ + ["--", "sleep", "5"])
    try:
        bg.wait_for("=== MIGRATION SENTRY: success ===")
        r = sentry.run(REQ, env={"SENTRY_LOCK_WAIT": "1"})
        assert r.rc == 0, r
    finally:
        bg.kill()


def test_fast_path_skips_the_command(sentry, db):
    assert sentry.run(REQ).rc == 0
    # a migration command that would fail proves it is not run at all
    r = sentry.run(REQ, env={"SENTRY_MIGRATE_CMD": "sh -c 'exit 9'"})
    assert r.rc == 0, r
    assert any(l.startswith("[SENTRY] database already at heads (%s); skipping" % HEAD)
               for l in r.lines), r
    st = r.status
    assert st["migration"]["ran"] is False
    assert st["migration"]["skipped"] == "database already at heads"
    assert st["migration"]["exit_code"] is None
    assert st["alembic_heads"] == [HEAD]


def test_broken_chain_fails_naming_the_revision(sentry, db):
    assert sentry.run(REQ).rc == 0
    db.psql("UPDATE alembic_version SET version_num = 'deadbeef0000'")
    r = sentry.run(REQ + ["--", "sh", "-c", "echo started > marker"])
    st = assert_failed(r, "migrate", 70)
    assert "deadbeef0000" in st["error"] and HEAD in st["error"], st["error"]
    assert st["alembic_current"] == "deadbeef0000"
    assert st["migration"]["ran"] is False
    assert db.alembic_version() == "deadbeef0000"


@pytest.mark.parametrize("how", ["env", "flag"])
def test_broken_chain_recovered_by_stamp(sentry, db, how):
    assert sentry.run(REQ).rc == 0
    db.psql("UPDATE alembic_version SET version_num = 'deadbeef0000'")
    args = REQ + (["--recover=stamp"] if how == "flag" else [])
    env = {"SENTRY_RECOVER": "stamp"} if how == "env" else {}
    r = sentry.run(args + ["--", "sh", "-c", "echo started > marker"], env=env)
    assert r.rc == 0, r
    assert r.marker_started
    assert any(l.startswith("=== MIGRATION SENTRY: RECOVERED") and "deadbeef0000" in l
               for l in r.lines), r
    st = r.status
    assert st["migration"]["recovered"] is True
    assert st["migration"]["ran"] is False
    assert st["alembic_current"] == HEAD
    assert db.alembic_version() == HEAD


BRANCH = "4d5e6f708192"
BRANCH_SCRIPT = '''"""a second branch

Revision ID: {rev}
Revises: {down}
"""
from alembic import op
import sqlalchemy as sa

revision = '{rev}'
down_revision = '{down}'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notes', sa.Column('id', sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table('notes')
'''


def test_two_heads_in_the_database(sentry, db, app_dir):
    (app_dir / "migrations" / "versions" / (BRANCH + "_branch.py")).write_text(
        BRANCH_SCRIPT.format(rev=BRANCH, down=REV2))
    env = {"SENTRY_MIGRATE_CMD": "flask db upgrade heads"}
    r = sentry.run(REQ, env=env)
    assert r.rc == 0, r
    want = ",".join(sorted([HEAD, BRANCH]))
    assert r.status["alembic_current"] == want
    assert r.status["alembic_heads"] == sorted([HEAD, BRANCH])
    r = sentry.run(REQ, env=env)
    assert r.rc == 0 and r.status["migration"]["ran"] is False, r
    assert r.status["alembic_current"] == want


def test_verify_names_pending_revisions(sentry, db):
    assert sentry.run(REQ).rc == 0
    db.psql("UPDATE alembic_version SET version_num = '%s'" % REV2)
    r = sentry.run(["--no-migrate"])
    st = assert_failed(r, "verify", 65)
    assert "pending" in st["error"] and HEAD in st["error"], st["error"]
    assert st["migration"]["skipped"] == "--no-migrate"


def test_migration_that_leaves_the_database_behind_fails_verify(sentry, db):
    assert sentry.run(REQ).rc == 0
    db.psql("UPDATE alembic_version SET version_num = '%s'" % REV2)
    r = sentry.run(REQ, env={"SENTRY_MIGRATE_CMD": "true"})
    st = assert_failed(r, "verify", 65)
    assert HEAD in st["error"]
    assert st["migration"]["ran"] is True and st["migration"]["exit_code"] == 0


def test_unreadable_heads_never_guess(sentry, db, app_dir):
    # valid Python that Alembic imports, but not a literal the parser reads for certain
    extra = app_dir / "migrations" / "versions" / "5e6f70819203_computed.py"
    extra.write_text(BRANCH_SCRIPT.format(rev="5e6f70819203", down=HEAD).replace(
        "revision = '5e6f70819203'", "revision = '5e6f7081' + '9203'"))
    r = sentry.run(REQ)
    assert r.rc == 0, r
    assert any("script heads unknown" in l for l in r.lines), r
    st = r.status
    assert st["alembic_heads"] == []
    assert st["migration"]["ran"] is True
    assert st["alembic_current"] == "5e6f70819203"
    h = sentry.run(["heads"])
    assert h.rc == 65 and h.stdout == "", h
    assert "5e6f70819203_computed.py" in h.stderr


def test_pooled_url_warns_that_session_locks_break(sentry, closed_port):
    # PgBouncer's port (or a "pooler" host) draws the warning before connecting
    for url in ("postgresql://sentry:xQ7zJv-9k@127.0.0.1:6432/app",
                "host=db-pooler hostaddr=127.0.0.1 port=%d dbname=app user=sentry "
                "password=xQ7zJv-9k" % closed_port):
        r = sentry.run(["--db-wait=0"], env={"DATABASE_URL": url}, secrets=["xQ7zJv-9k"])
        assert r.rc == 69, r
        assert any("PgBouncer" in l and "advisory lock" in l for l in r.lines), r
    r = sentry.run(["--db-wait=0"], env={
        "DATABASE_URL": "postgresql://sentry:xQ7zJv-9k@127.0.0.1:%d/app" % closed_port},
        secrets=["xQ7zJv-9k"])
    assert not any("PgBouncer" in l for l in r.lines), r
