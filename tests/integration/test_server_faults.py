"""What the server and the operator's environment do to a gate (issue 10):
idle-session timeouts on the role, too few connection slots, a restart while
gates wait, the gate SIGKILLed mid-migration, and its log reader gone.
Servers that are restarted or sized down are this module's own."""

import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import (HEAD, MARKER_CMD, Database, PgServer, assert_status_shape, make_sentry,
                      wait_dead)
from hang import HeldLock

LOCK_KEY = 6161616161
REQ = "proposals.visitor_session_id,conversions.proposal_id"


def record(name, seconds, **extra):
    path = os.environ.get("SENTRY_FAULT_TIMINGS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(dict({"test": name, "seconds": round(seconds, 3)}, **extra)) + "\n")


def own_db(pg):
    return Database(pg, "s_" + uuid.uuid4().hex[:12])


def race(sentry, tmp_path, n, env, timeout=240):
    runs = [sentry.popen(["--status-file", str(tmp_path / ("s%d.json" % i))], env=env)
            for i in range(n)]
    try:
        return [r.finish(timeout=timeout) for r in runs]
    finally:
        for r in runs:
            r.kill()


def assert_one_migration(results, db):
    bad = [r for r in results if r.rc != 0]
    assert not bad, bad[0]
    statuses = [r.status for r in results]
    for st in statuses:
        assert_status_shape(st)
        assert st["phase"] == "done" and st["alembic_current"] == HEAD, st
    ran = [st for st in statuses if st["migration"]["ran"]]
    assert len(ran) == 1, [st["migration"] for st in statuses]
    assert db.alembic_version() == HEAD


def migration_pids(run):
    m = run.wait_for(r"^\[migrate\] sample migration: sleeping \S+ \(pid (\d+)\)", timeout=60)
    return int(m.group(1))


# ------------------------------------------------------------- idle timeouts

def test_idle_timeouts_on_the_role(sentry, db, tmp_path):
    """idle_session_timeout and idle_in_transaction_session_timeout (2 s) on
    the role, a 6 s migration, three gates: one migration, all succeed. The
    migration command's own sessions opt out (PGOPTIONS), so only the
    gates' sessions are held to the role's settings.
    Base (69ed80c): the lock session sat idle while the migration ran, the
    server ended it after 2 s, a second gate took the lock and migrated
    concurrently, both failed."""
    db.pg.psql("ALTER ROLE sentry IN DATABASE \"%s\" SET idle_session_timeout = '2s'" % db.name,
               db="postgres")
    db.pg.psql("ALTER ROLE sentry IN DATABASE \"%s\" SET idle_in_transaction_session_timeout = '2s'"
               % db.name, db="postgres")
    cmd = "sh -c 'PGOPTIONS=\"-c idle_session_timeout=0 -c idle_in_transaction_session_timeout=0\" " \
          "exec flask db upgrade'"
    env = {"SAMPLE_MIGRATION_SLEEP": "6", "SENTRY_MIGRATE_CMD": cmd, "SENTRY_LOCK_KEY": str(LOCK_KEY),
           "SENTRY_REQUIRE_COLUMNS": REQ}
    try:
        results = race(sentry, tmp_path, 3, env)
    finally:
        db.pg.psql("ALTER ROLE sentry IN DATABASE \"%s\" RESET ALL" % db.name, db="postgres")
    assert_one_migration(results, db)
    assert not any("lost the advisory lock" in l for r in results for l in r.lines)


# ------------------------------------------------------------- connection slots

@pytest.fixture(scope="module")
def small_pg():
    srv = PgServer()
    try:
        srv.init()
        with open(os.path.join(srv.data_dir, "postgresql.conf"), "a") as f:
            f.write("max_connections = 10\n")
        srv.start()  # after init(): start() makes no role of its own
        srv.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (srv.role, srv.password), db="postgres")
        yield srv
    finally:
        srv.cleanup()


def test_24_gates_against_max_connections_10(small_pg, sentry_bin, app_dir, tmp_path):
    """max_connections=10 (7 for the role, 3 reserved for superusers), 24
    gates and a 3 s migration: waiting gates hold no slot, so the lock
    holder's `flask db upgrade` gets its connection; all succeed, one
    migration. Base (69ed80c): the waiting gates held every slot and the
    migration failed 70 (4 runs of 4)."""
    db = own_db(small_pg)
    sentry = make_sentry(sentry_bin, app_dir, tmp_path, db)
    env = {"SAMPLE_MIGRATION_SLEEP": "3", "SENTRY_LOCK_KEY": str(LOCK_KEY), "SENTRY_DB_WAIT": "120",
           "SENTRY_LOCK_WAIT": "180", "SENTRY_REQUIRE_COLUMNS": REQ}
    t0 = time.monotonic()
    try:
        results = race(sentry, tmp_path, 24, env, timeout=300)
    finally:
        small_pg.drop_db(db.name)
    took = time.monotonic() - t0
    record("max_connections=10 24 gates", took, successes=sum(r.rc == 0 for r in results))
    assert [r.rc for r in results] == [0] * 24, [r for r in results if r.rc][:1]
    statuses = [r.status for r in results]
    assert sum(st["migration"]["ran"] for st in statuses) == 1, [st["migration"] for st in statuses]


def test_migration_that_finds_no_slot_is_run_again(small_pg, sentry_bin, app_dir, tmp_path):
    """Every slot of the role but the gate's own held by the test (6 of 7):
    the gate connects and takes the lock, `flask db upgrade` cannot connect
    ("too many clients"), the gate says so and runs it again after a pause,
    by when the test has let the slots go: one gate, two runs, success."""
    import psycopg2
    db = own_db(small_pg)
    sentry = make_sentry(sentry_bin, app_dir, tmp_path, db)
    held = []
    try:
        for _ in range(6):
            held.append(psycopg2.connect(host="127.0.0.1", port=small_pg.port, user=small_pg.role,
                                         password=small_pg.password, dbname=db.name))
        run = sentry.popen(["--no-history", "--"] + MARKER_CMD,
                           env={"SENTRY_REQUIRE_COLUMNS": REQ, "SENTRY_MIGRATE_RETRIES": "3"})
        try:
            run.wait_for(r"^\[SENTRY\] the migration failed on a full server \(too many clients\) "
                         r"\(run 1 of at most 4\); running it again in ", timeout=60)
            for c in held:
                c.close()
            held = []
            r = run.finish(timeout=120)
        finally:
            run.kill()
    finally:
        for c in held:
            c.close()
        small_pg.drop_db(db.name)
    assert r.rc == 0, r
    assert r.marker_started
    st = r.status
    assert st["migration"]["attempts"] == 2 and st["migration"]["ran"] is True, st["migration"]


# ------------------------------------------------------------- restart

@pytest.fixture(scope="module")
def restart_pg():
    with PgServer() as srv:
        yield srv


def test_restart_while_five_gates_wait(restart_pg, sentry_bin, app_dir, tmp_path):
    """Five gates wait for a lock that another session holds; the server is
    restarted (pg_ctl restart -m fast, which also ends the holder): the
    gates reconnect within SENTRY_DB_WAIT, one migrates, all succeed.
    Base (69ed80c): all 5 exited 69 at once, with 60 s of SENTRY_DB_WAIT left."""
    db = own_db(restart_pg)
    sentry = make_sentry(sentry_bin, app_dir, tmp_path, db)
    holder = HeldLock(db, LOCK_KEY)
    env = {"SENTRY_LOCK_KEY": str(LOCK_KEY), "SENTRY_DB_WAIT": "60", "SENTRY_LOCK_WAIT": "120",
           "SENTRY_REQUIRE_COLUMNS": REQ}
    runs = [sentry.popen(["--status-file", str(tmp_path / ("s%d.json" % i))], env=env)
            for i in range(5)]
    try:
        for r in runs:
            r.wait_for(r"held by pid %d\b" % holder.backend_pid, timeout=30)
        restart_pg.restart("fast")
        results = [r.finish(timeout=120) for r in runs]
    finally:
        for r in runs:
            r.kill()
        holder.close()
        if not restart_pg._started:
            restart_pg.start()
    assert_one_migration(results, db)
    restart_pg.drop_db(db.name)


# ------------------------------------------------------------- SIGKILL of the gate

@pytest.mark.parametrize("cmd", [None, "sh -c 'flask db upgrade && echo upgraded'"],
                         ids=["flask", "flask-under-sh"])
def test_gate_sigkilled_mid_migration(sentry, db, tmp_path, cmd):
    """The gate (not PID 1: a preDeployCommand, a CI job) is SIGKILLed while
    the migration runs: the migration dies with it (the guard leading its
    process group sees the gate gone and kills the group: a command under a
    shell too), so nothing migrates without the lock, and the next gate
    succeeds.
    Base (69ed80c): `flask db upgrade` kept running as an orphan, the lock
    was released, the next gate migrated concurrently and failed on a
    duplicate key."""
    env = {"SAMPLE_MIGRATION_SLEEP": "4", "SENTRY_LOCK_KEY": str(LOCK_KEY),
           "SENTRY_REQUIRE_COLUMNS": REQ}
    if cmd:
        env["SENTRY_MIGRATE_CMD"] = cmd
    run = sentry.popen([], env=env)
    try:
        py = migration_pids(run)
        os.kill(run.proc.pid, signal.SIGKILL)
        run.proc.wait(timeout=10)
        orphan_gone = wait_dead(py, 3)
    finally:
        run.kill()
    if not orphan_gone:
        os.kill(py, signal.SIGKILL)
    nxt = sentry.run(["--"] + MARKER_CMD, env=dict(env, SAMPLE_MIGRATION_SLEEP="0"), timeout=60)
    assert orphan_gone, "the migration (pid %d) outlived the SIGKILLed gate" % py
    assert nxt.rc == 0, nxt
    assert nxt.status["migration"]["ran"] is True
    assert db.alembic_version() == HEAD


# ------------------------------------------------------------- log reader gone

def test_stderr_closed_mid_run(sentry, db, tmp_path):
    """The reader of the gate's stderr goes away (a log shipper dies) while
    the migration runs: the gate finishes as without it (exit 0, status
    done, the command after -- started), and no process is left behind.
    Base (69ed80c): the gate died of SIGPIPE (141) with no status file, and
    the orphaned migration committed without the lock."""
    env = sentry.env({"SAMPLE_MIGRATION_SLEEP": "3", "SENTRY_REQUIRE_COLUMNS": REQ})
    from conftest import DEFAULT_SIGNALS
    p = subprocess.Popen(DEFAULT_SIGNALS + [sentry.binary, "--"] + MARKER_CMD, cwd=str(sentry.cwd),
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    py = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = p.stderr.readline().decode("utf-8", "replace")
            if not line:
                break
            if "sample migration: sleeping" in line:
                py = int(line.rsplit("pid ", 1)[1].rstrip(")\n"))
                break
        assert py, "the migration never started"
        p.stderr.close()  # the reader is gone: every later write is EPIPE
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert rc == 0, rc
    st = json.loads(sentry.status_path.read_text())
    assert_status_shape(st)
    assert st["phase"] == "done" and st["migration"]["ran"] is True, st
    assert (sentry.cwd / "marker").exists()
    assert wait_dead(py, 3), "the migration (pid %d) outlived the gate" % py
    assert db.alembic_version() == HEAD
