"""The signal rows of issue 10's table, each against the real binary:
a signal after the migration command exited while a leftover holds its
output, during the status write, Ctrl-C during `migration-sentry sql`, and
`--init` as a subreaper with leftovers that have children of their own or
die slowly. (A signal during a blocking connect to a black-holed host, and
during the reads after the migration on a server that stopped answering,
are in test_hung_server.py.)"""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import DEFAULT_SIGNALS, MARKER_CMD, assert_failed, assert_status_shape, wait_dead
from hang import wait_until

SIGNAL_S = 2.0  # "within a second", doubled for a loaded machine and the ASan build


def write_script(path, text):
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return str(path)


def migrated(sentry):
    r = sentry.run([], timeout=60)
    assert r.rc == 0, r


# ------------------------------------------- a leftover holds the command's output

def test_sigterm_after_the_command_exited_while_a_leftover_holds_its_output(sentry, db, tmp_path):
    """The migration command migrates and exits 0, leaving a process that
    holds its stdout; that process sends SIGTERM to the gate while the gate
    drains the output: the gate must stop (143, the phase recorded, the
    command after -- not started), and the leftover is killed.
    Base (69ed80c): the signal was swallowed: the gate reported success and
    started the app."""
    cmd = write_script(tmp_path / "migrate-and-leave.sh",
                       # the gate: the parent of the guard that leads the command's group
                       "g=$(cut -d' ' -f4 /proc/$PPID/stat)\n/usr/bin/flask db upgrade || exit 1\n"
                       "{ sleep 0.3; kill -TERM $g; exec sleep 30; } &\n"
                       "echo $! > %s/leftover.pid\necho migrated\nexit 0\n" % tmp_path)
    r = sentry.run(["--"] + MARKER_CMD, env={"SENTRY_MIGRATE_CMD": cmd}, timeout=60)
    st = assert_failed(r, "migrate", 143)
    assert "[migrate] migrated" in r.lines, r
    assert st["error"] == "interrupted by SIGTERM", st
    assert not r.marker_started
    leftover = int((tmp_path / "leftover.pid").read_text())
    assert wait_dead(leftover, 3), "the leftover (pid %d) survived" % leftover


# ------------------------------------------- the status write

def test_sigterm_during_the_status_write(sentry, db, tmp_path):
    """SIGTERM while the status file is being written (its fsync held for
    2 s by strace's fault injection): the gate exits 143, the status file
    does not say done, and the command after -- is not started.
    Base (69ed80c): the status said done and the gate then died of the
    signal (or the freshly started app got it)."""
    migrated(sentry)  # the fast path: the status write is most of what is left
    status = sentry.status_path
    status.unlink()
    argv = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync",
            "-e", "inject=fsync:delay_enter=2000000:when=1", "--", sentry.binary, "--"] + MARKER_CMD
    # LeakSanitizer cannot run under ptrace (the ASan build would exit 1 at its end)
    env = sentry.env({"LSAN_OPTIONS": "detect_leaks=0"})
    p = subprocess.Popen(DEFAULT_SIGNALS + argv, cwd=str(sentry.cwd), env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        tmp_files = lambda: [f for f in status.parent.iterdir() if status.name in f.name]
        wait_until(lambda: tmp_files() or p.poll() is not None, 30, "the status write")
        gate = [int(x) for x in open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()]
        assert len(gate) == 1, gate
        time.sleep(0.3)  # inside the fsync's 2 s
        os.kill(gate[0], signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    err = err.decode("utf-8", "replace")
    assert p.returncode == 143, (p.returncode, err)
    st = json.loads(status.read_text())
    assert_status_shape(st)
    assert st["phase"] != "done" and st["migrated"] is False, st
    assert st["error"] == "interrupted by SIGTERM", st
    assert not (sentry.cwd / "marker").exists(), "the command after -- was started"


# ------------------------------------------- Ctrl-C during `sql`

def test_ctrl_c_during_sql_commits_nothing(sentry, db, tmp_path):
    """`migration-sentry sql FILE` whose second statement runs for 30 s;
    SIGINT (Ctrl-C) while it runs: exit 130 within a second, the statement
    cancelled on the server, and nothing of the file committed.
    Base (69ed80c): the transaction still committed, exit 0."""
    migrated(sentry)
    sql = tmp_path / "patch.sql"
    sql.write_text("CREATE TABLE hot_patch_marker (x int);\nSELECT pg_sleep(30);\n")
    run = sentry.popen(["sql", str(sql)])
    try:
        run.wait_for(r"line 1: CREATE TABLE", timeout=30)
        wait_until(lambda: db.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                   "'SELECT pg_sleep(30)%'") == "1", 15, "the pg_sleep to run")
        r, took = run.interrupt(signal.SIGINT)
    finally:
        run.kill()
    assert r.rc == 130, r
    assert took <= SIGNAL_S, took
    assert any("interrupted by SIGINT" in l for l in r.lines), r
    wait_until(lambda: db.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                               "'SELECT pg_sleep(30)%'") == "0", 10, "the statement to be cancelled")
    assert db.psql("SELECT to_regclass('public.hot_patch_marker') IS NULL") == "t", \
        "the interrupted file was committed"


# ------------------------------------------- --init as a subreaper

@pytest.fixture
def quick_env(tmp_path):
    """A gate that passes at once: nothing to migrate, so these tests are
    about what comes after it."""
    empty = tmp_path / "versions"
    empty.mkdir()
    return {"SENTRY_MIGRATIONS_DIR": str(empty), "SENTRY_MIGRATE_CMD": "true"}


def test_init_subreaper_signals_the_leftovers_children(sentry, db, tmp_path, quick_env):
    """--init when not PID 1: the command leaves a process that has a child
    of its own; when the command exits, every process of the subtree gets
    SIGTERM, the grandchild too.
    Base (69ed80c): only the subreaper's own children were signalled; the
    grandchild never got SIGTERM."""
    gc = write_script(tmp_path / "grandchild.sh",
                      "trap 'echo TERM > %s/gc.got; exit 0' TERM\n"
                      "echo $$ > %s/gc.pid\nwhile :; do sleep 0.1; done\n" % (tmp_path, tmp_path))
    # the leftover itself ignores TERM (set after its child started, which
    # keeps the default): its child stays its own, never an orphan of ours
    leftover = write_script(tmp_path / "leftover.sh", "%s &\ntrap '' TERM\nwait\n" % gc)
    cmd = ["sh", "-c", "%s & while [ ! -s %s/gc.pid ]; do sleep 0.05; done; sleep 0.2; exit 0"
           % (leftover, tmp_path)]
    r = sentry.run(["--init", "--"] + cmd, env=dict(quick_env, SENTRY_GRACE="5"), timeout=60)
    assert r.rc == 0, r
    got = tmp_path / "gc.got"
    assert got.exists() and got.read_text().strip() == "TERM", "the grandchild got no SIGTERM\n%r" % r
    assert wait_dead(int((tmp_path / "gc.pid").read_text()), 3)


def test_init_subreaper_slow_dying_leftover(sentry, db, tmp_path, quick_env):
    """--init when not PID 1: a leftover that does not die of SIGTERM (its
    trap only pauses) and has a child that outlives it (it notes the TERM
    and runs on for 20 s): after SENTRY_GRACE (2 s) the whole subtree is
    killed and the supervisor exits with the command's code, within the
    grace plus a few seconds.
    Base (69ed80c): the child got no SIGTERM, only the leftover got the
    SIGKILL, and the supervisor then hung in waitpid until the orphaned
    child ended on its own (20 s here; for ever for a daemon)."""
    child = write_script(tmp_path / "child.sh",
                         "trap 'echo TERM >> %s/child.term' TERM\necho $$ > %s/child.pid\n"
                         "i=0; while [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done\n"
                         % (tmp_path, tmp_path))
    slow = write_script(tmp_path / "slow.sh",
                        "%s &\ntrap 'sleep 0.1' TERM\nwhile :; do wait; done\n" % child)
    cmd = ["sh", "-c", "%s & while [ ! -s %s/child.pid ]; do sleep 0.05; done; sleep 0.2; exit 7"
           % (slow, tmp_path)]
    r = sentry.run(["--init", "--"] + cmd, env=dict(quick_env, SENTRY_GRACE="2"), timeout=60)
    assert r.rc == 7, r
    assert (tmp_path / "child.term").exists(), "the leftover's child got no SIGTERM"
    # the gate, under a second of command, 2 s of grace, the kill: well under 8 s even under load
    assert r.elapsed < 1 + 2 + 5, r
    assert wait_dead(int((tmp_path / "child.pid").read_text()), 3)
