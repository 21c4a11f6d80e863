"""A signal during the gate: passed to the migration's process group, recorded
in the status file, exit 128+N."""

import signal

import pytest

from conftest import HEAD, MARKER_CMD, assert_failed, wait_dead
from hang import HeldLock
from pgserver import free_port

LOCK_KEY = 7886758897530337569  # the contract's default SENTRY_LOCK_KEY


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT],
                         ids=lambda s: s.name)
def test_signal_during_slow_migration(sentry, db, sig):
    run = sentry.popen(["--"] + MARKER_CMD, env={"SAMPLE_MIGRATION_SLEEP": "5"})
    try:
        m = run.wait_for(r"^\[migrate\] sample migration: sleeping \S+ \(pid (\d+)\)", timeout=30)
        py_pid = int(m.group(1))
        r, took = run.interrupt(sig, timeout=20)
    finally:
        run.kill()
    assert r.rc == 128 + sig.value, r
    assert took < 4.0, "the migration was not interrupted"
    st = assert_failed(r, "migrate", 128 + sig.value)
    assert st["error"] == "interrupted by %s" % sig.name, st["error"]
    assert st["migration"]["ran"] is True
    assert wait_dead(py_pid), "flask db upgrade (pid %d) survived" % py_pid
    assert "[migrate] sample migration: slept 5s" not in r.lines
    assert db.alembic_version() != HEAD


def test_sigterm_reaches_the_whole_process_group(sentry, db):
    # flask runs under a shell: the signal must reach it too, not only the shell
    run = sentry.popen(["--"] + MARKER_CMD,
                       env={"SAMPLE_MIGRATION_SLEEP": "5",
                            "SENTRY_MIGRATE_CMD": "sh -c 'flask db upgrade && echo upgraded'"})
    try:
        m = run.wait_for(r"^\[migrate\] sample migration: sleeping \S+ \(pid (\d+)\)", timeout=30)
        py_pid = int(m.group(1))
        run.proc.send_signal(signal.SIGTERM)
        r = run.finish(timeout=20)
    finally:
        run.kill()
    st = assert_failed(r, "migrate", 143)
    assert st["error"] == "interrupted by SIGTERM"
    assert wait_dead(py_pid), "flask db upgrade (pid %d) survived under sh" % py_pid
    assert "[migrate] upgraded" not in r.lines
    assert db.alembic_version() != HEAD


@pytest.mark.parametrize("where", ["lock", "connect"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT],
                         ids=lambda s: s.name)
def test_signals_outside_the_migration(sentry, db, sig, where):
    """TERM, INT, HUP and QUIT in the other waits too: while the gate waits
    for the advisory lock (held here) or for a database that is not there,
    each ends it within a second or two with 128+N, the phase it was in, and
    nothing started."""
    env, holder = {}, None
    if where == "lock":
        holder = HeldLock(db, LOCK_KEY)
        ready = r"^\[SENTRY\] lock %d held by pid %d" % (LOCK_KEY, holder.backend_pid)
    else:
        env = {"DATABASE_URL": db.url.replace(":%d/" % db.port, ":%d/" % free_port()),
               "SENTRY_DB_WAIT": "30"}
        ready = r"^\[SENTRY\] DB not ready \(attempt 2"
    run = sentry.popen(["--"] + MARKER_CMD, env=env)
    try:
        run.wait_for(ready, timeout=30)
        r, took = run.interrupt(sig, timeout=20)
    finally:
        run.kill()
        if holder:
            holder.close()
    st = assert_failed(r, where, 128 + sig.value)
    assert st["error"] == "interrupted by %s" % sig.name, st["error"]
    assert took < 3.0, took
