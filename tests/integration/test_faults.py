"""Faults: the database going away or coming back, migration commands that
die, lie or flood, and a status file that cannot be written.

Tests that stop or restart PostgreSQL use their own throwaway server
(`own_pg`, one per module) so the session's shared one stays up.
"""

import json
import os
import random
import re
import shutil
import signal
import stat
import string
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import (BANNER_SUCCESS, BINARY, HEAD, MARKER_CMD, Database, PgServer, make_sentry,
                      assert_failed, assert_status_shape, banner_failed, pid_alive, wait_dead)

IS_ASAN = "asan" in str(BINARY)
RSS_LIMIT_KB = 64 * 1024
TAIL_LINE_MAX = 4096


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def own_pg():
    with PgServer() as srv:
        yield srv


@pytest.fixture
def own_db(own_pg):
    if not own_pg._started:
        own_pg.start()
    d = Database(own_pg, "f_" + uuid.uuid4().hex[:12])
    yield d
    if not own_pg._started:
        own_pg.start()
    try:
        own_pg.drop_db(d.name)
    except Exception:
        pass


@pytest.fixture
def own_sentry(sentry_bin, app_dir, tmp_path, own_db):
    return make_sentry(sentry_bin, app_dir, tmp_path, own_db)


def error_lines(r):
    return [l for l in r.lines if l.startswith("[SENTRY] error: ")]


def group_gone(pgid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        # zombies of an unreaped group still answer: count only live members
        live = [p for p in os.listdir("/proc") if p.isdigit() and _pgid_of(int(p)) == pgid
                and pid_alive(int(p))]
        if not live:
            return True
        time.sleep(0.1)
    return False


def _pgid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def write_script(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return path


# ----------------------------------------------------- the database goes away

def test_server_stopped_during_migration(own_pg, own_db, own_sentry):
    """pg_ctl stop -m immediate while the 2nd migration sleeps: the lock's
    connection is gone, so the gate stops the command (the lock no longer
    excludes anyone) and fails 70, one error line, status phase migrate, and
    the migration process is gone."""
    run = own_sentry.popen([], env={"SAMPLE_MIGRATION_SLEEP": "5",
                                    "SENTRY_REQUIRE_COLUMNS": "proposals.visitor_session_id"})
    try:
        m = run.wait_for(r"sample migration: sleeping \S+ \(pid (\d+)\)", timeout=90)
        pid = int(m.group(1))
        own_pg.stop("immediate")
        r = run.finish(timeout=90)
    finally:
        run.kill()
    st = assert_failed(r, "migrate", 70)
    errs = error_lines(r)
    assert len(errs) == 1, r
    assert "lost the advisory lock" in errs[0] and "\n" not in st["error"], r
    assert st["error"] in errs[0], (st["error"], errs)
    assert st["migration"]["ran"] is True
    assert st["migration"]["exit_code"] not in (None, 0), st
    assert wait_dead(pid, 5), "migration process %d still alive" % pid
    assert group_gone(pid), "something of the migration's process group is left"
    assert r.index_of(banner_failed("migrate")) > r.index_of("[migrate] sample migration: sleeping")


def test_server_restarting_while_the_gate_waits(own_pg, own_db, own_sentry):
    """The server is down when the gate starts and comes back ~2 s later:
    the gate retries (logging each attempt) and succeeds."""
    own_pg.stop("fast")
    run = own_sentry.popen(["--"] + MARKER_CMD, env={"SENTRY_DB_WAIT": "30"})
    try:
        run.wait_for(r"^\[SENTRY\] DB not ready \(attempt 1\b", timeout=30)
        time.sleep(2)
        own_pg.start()
        r = run.finish(timeout=120)
    finally:
        run.kill()
        if not own_pg._started:
            own_pg.start()
    assert r.rc == 0, r
    waits = [l for l in r.lines if l.startswith("[SENTRY] DB not ready (attempt ")]
    assert len(waits) >= 2, r
    for l in waits:
        assert re.match(r"^\[SENTRY\] DB not ready \(attempt \d+, \d+\.\d+s elapsed\): .+; "
                        r"retrying in \d+\.\ds$", l), l
    assert BANNER_SUCCESS in r.lines, r
    assert r.marker_started
    assert own_db.alembic_version() == HEAD
    st = r.status
    assert_status_shape(st)
    assert st["phase"] == "done" and st["migration"]["ran"] is True


# ------------------------------------------------- migration commands that die

@pytest.mark.parametrize("signum,name", [(9, "SIGKILL"), (15, "SIGTERM"), (11, "SIGSEGV")])
def test_migration_command_killed_by_signal(sentry, tmp_path, db, signum, name):
    script = write_script(tmp_path / "die.sh", "#!/bin/sh\necho about to die\nkill -%d $$\n"
                          "echo still here\nexit 0\n" % signum)
    r = sentry.run(["--"] + MARKER_CMD, env={"SENTRY_MIGRATE_CMD": str(script)})
    st = assert_failed(r, "migrate", 70)
    assert st["migration"]["ran"] is True
    assert st["migration"]["exit_code"] == 128 + signum, st
    errs = error_lines(r)
    assert len(errs) == 1, r
    assert name in errs[0] or ("signal %d" % signum) in errs[0], errs
    assert name in st["error"] or ("signal %d" % signum) in st["error"], st["error"]
    assert "[migrate] about to die" in r.lines
    assert "[migrate] still here" not in r.lines


def test_migration_exits_zero_but_column_missing(sentry, db):
    """`flask db upgrade <first revision>` exits 0 but leaves the required
    columns out: verify fails with 65 and names them."""
    cols = "proposals.visitor_session_id,conversions.proposal_id,proposals.title"
    r = sentry.run(["--"] + MARKER_CMD,
                   env={"SENTRY_MIGRATE_CMD": "/usr/bin/flask db upgrade 1a2b3c4d5e6f",
                        "SENTRY_REQUIRE_COLUMNS": cols})
    st = assert_failed(r, "verify", 65)
    assert st["migration"]["ran"] is True and st["migration"]["exit_code"] == 0, st
    assert st["checks"] == {"proposals.visitor_session_id": False,
                            "conversions.proposal_id": False, "proposals.title": True}, st
    assert "proposals.visitor_session_id" in st["error"], st
    assert "conversions.proposal_id" in st["error"], st
    assert len(error_lines(r)) == 1, r
    assert db.alembic_version() == "1a2b3c4d5e6f"


def test_migration_does_nothing_and_exits_zero(sentry, db):
    r = sentry.run(["--"] + MARKER_CMD,
                   env={"SENTRY_MIGRATE_CMD": "true",
                        "SENTRY_REQUIRE_COLUMNS": "proposals.visitor_session_id"})
    st = assert_failed(r, "verify", 65)
    assert st["checks"] == {"proposals.visitor_session_id": False}, st
    assert "proposals.visitor_session_id" in st["error"]


# ------------------------------------------------------- a flood of output

FLOOD = r'''
import subprocess, sys
rc = subprocess.call(["/usr/bin/flask", "db", "upgrade"])
if rc:
    sys.exit(rc)
out = sys.stdout.buffer
chunk = (b"spam " + b"x" * 95 + b"\n") * 10000          # 1,010,000 bytes
for _ in range(20):
    out.write(chunk)
out.write(b"L" * (5 * 1024 * 1024) + b"\n")              # one 5 MiB line
out.write(b"\xff\xfe binary \x01\x02\x1b[31m colour\n")
out.write(b"done\n")
out.flush()
'''


def _vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def test_flood_of_output(sentry, tmp_path, db):
    """20 MB of lines and a 5 MiB line: the gate completes, the tail is 50
    bounded lines, the log is split in bounded pieces, and the sentry's peak
    RSS stays small."""
    script = tmp_path / "flood.py"
    script.write_text(FLOOD)
    env = sentry.env({"SENTRY_MIGRATE_CMD": "/usr/bin/python3 %s" % script,
                      "SENTRY_REQUIRE_COLUMNS": "proposals.visitor_session_id"})
    err_path = tmp_path / "stderr.log"
    peak = [0]
    with open(str(err_path), "wb") as errf:
        p = subprocess.Popen([sentry.binary], cwd=str(sentry.cwd), env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf,
                             start_new_session=True)
        deadline = time.monotonic() + 180
        try:
            while p.poll() is None:
                v = _vm_hwm_kb(p.pid)
                if v:
                    peak[0] = max(peak[0], v)
                if time.monotonic() > deadline:
                    raise AssertionError("the gate did not finish in 180 s")
                time.sleep(0.02)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    log = err_path.read_bytes()
    assert p.returncode == 0, log[-3000:].decode("utf-8", "replace")
    lines = log.split(b"\n")
    assert max(len(l) for l in lines) <= TAIL_LINE_MAX + len(b"[migrate] "), \
        "a log line of %d bytes" % max(len(l) for l in lines)
    assert sum(1 for l in lines if l.startswith(b"[migrate] spam ")) == 200000
    big = sum(len(l) - len(b"[migrate] ") for l in lines if l.startswith(b"[migrate] LLLL"))
    assert big == 5 * 1024 * 1024, big
    assert b"=== MIGRATION SENTRY: success ===" in lines
    st = json.loads(sentry.status_path.read_text())
    assert_status_shape(st)
    tail = st["migration"]["output_tail"]
    assert len(tail) == 50, len(tail)
    for l in tail:
        assert len(l.encode("utf-8")) <= TAIL_LINE_MAX, len(l.encode("utf-8"))
    assert tail[-1] == "done", tail[-3:]
    assert "binary" in tail[-2] and "\x1b" not in tail[-2] and "\x01" not in tail[-2], tail[-2]
    assert tail[-3].startswith("LLLL")
    assert peak[0] > 0, "could not read VmHWM of the sentry"
    if IS_ASAN:
        assert peak[0] < 8 * RSS_LIMIT_KB, "peak RSS %d kB (ASan build)" % peak[0]
    else:
        assert peak[0] < RSS_LIMIT_KB, "peak RSS of the sentry %d kB >= %d kB" % (
            peak[0], RSS_LIMIT_KB)


def test_peak_rss_with_time_v(sentry, tmp_path, db):
    """The same bound, measured by /usr/bin/time -v on a run whose migration
    command is small (so the child's own RSS cannot be what is measured)."""
    if not os.access("/usr/bin/time", os.X_OK):
        pytest.skip("/usr/bin/time is not installed")
    if IS_ASAN:
        pytest.skip("ASan's shadow memory makes RSS meaningless")
    script = write_script(tmp_path / "flood.sh",
                          "#!/bin/sh\nyes 'spam spam spam' | head -c 20000000\n"
                          "head -c 5000000 /dev/zero | tr '\\0' L\nexit 0\n")
    env = sentry.env({"SENTRY_MIGRATE_CMD": str(script)})
    p = subprocess.run(["/usr/bin/time", "-v", sentry.binary], cwd=str(sentry.cwd),
                       env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120)
    err = p.stderr.decode("utf-8", "replace")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    assert m, err[-2000:]
    # the command did not migrate: verify fails, after the whole flood was read
    assert p.returncode == 65, err[-2000:]
    assert int(m.group(1)) < RSS_LIMIT_KB, err[-2000:]


def test_flood_of_nul_bytes_in_one_line(sentry, tmp_path, db):
    """20 MB of NUL bytes with no newline: bounded pieces, the gate goes on
    to verify (the command did not migrate: 65), RSS bounded."""
    script = write_script(tmp_path / "zeros.sh",
                          "#!/bin/sh\n/usr/bin/head -c 20000000 /dev/zero\nexit 0\n")
    r = sentry.run([], env={"SENTRY_MIGRATE_CMD": str(script)}, timeout=180)
    st = assert_failed(r, "verify", 65)
    tail = st["migration"]["output_tail"]
    assert 0 < len(tail) <= 50
    assert all(len(l.encode()) <= TAIL_LINE_MAX for l in tail)
    assert all("\x00" not in l for l in tail)


# --------------------------------------------------------- the status file

def test_status_folder_missing(sentry, tmp_path, db):
    path = tmp_path / "no" / "such" / "dir" / "status.json"
    r = sentry.run(["--"] + MARKER_CMD, env={"SENTRY_STATUS_FILE": str(path)})
    assert_failed(r, "status", 73, status_expected=False)
    assert len(error_lines(r)) == 1, r
    assert str(path) in error_lines(r)[0]
    assert not (tmp_path / "no").exists()


def _nobody_ids():
    import pwd
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


@pytest.fixture
def public_dir():
    """A world-readable folder outside pytest's private tmp (for `nobody`)."""
    d = tempfile.mkdtemp(prefix="sentry-faults-", dir="/tmp")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("old", [False, True], ids=["no-old-file", "old-file-kept"])
def test_status_folder_read_only_for_non_root(sentry, db, public_dir, old):
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    bindir = public_dir / "bin"
    bindir.mkdir()
    binary = bindir / "migration-sentry"
    shutil.copy2(sentry.binary, str(binary))
    binary.chmod(0o755)
    status_dir = public_dir / "status"
    status_dir.mkdir()
    status_dir.chmod(0o755)   # root's, not writable by nobody
    status = status_dir / "status.json"
    if old:
        status.write_text('{"migrated": true, "old": 1}\n')
        status.chmod(0o644)
    env = sentry.env({"SENTRY_STATUS_FILE": str(status), "HOME": str(public_dir)})
    p = subprocess.run([runuser, "-u", "nobody", "--", str(binary), "--no-migrate", "--"]
                       + MARKER_CMD, cwd=str(public_dir), env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 73, err
    lines = err.splitlines()
    assert banner_failed("status") in lines, err
    errs = [l for l in lines if l.startswith("[SENTRY] error: ")]
    assert len(errs) == 1 and str(status) in errs[0], err
    assert BANNER_SUCCESS not in lines
    assert not (public_dir / "marker").exists()
    assert db.password not in err
    left = sorted(os.listdir(str(status_dir)))
    assert left == (["status.json"] if old else []), left
    if old:
        assert status.read_text() == '{"migrated": true, "old": 1}\n'


FULL_SCRIPT = r'''
set -e
mount -t tmpfs -o size=8k,mode=0755 tmpfs "$FULL_DIR"
if [ -n "$OLD_CONTENT" ]; then printf '%s' "$OLD_CONTENT" > "$FULL_DIR/status.json"; fi
dd if=/dev/zero of="$FULL_DIR/fill" bs=1k count=64 2>/dev/null || true
set +e
"$SENTRY" -- sh -c 'echo started > marker'
echo $? > "$OUT_DIR/rc"
ls -A "$FULL_DIR" > "$OUT_DIR/ls"
if [ -f "$FULL_DIR/status.json" ]; then cat "$FULL_DIR/status.json" > "$OUT_DIR/old"; fi
exit 0
'''


@pytest.mark.parametrize("old", [False, True], ids=["no-old-file", "old-file-kept"])
def test_status_folder_full(sentry, tmp_path, db, old):
    if not shutil.which("unshare"):
        pytest.skip("unshare is not installed")
    full_dir = tmp_path / "full"
    full_dir.mkdir()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    old_content = '{"migrated": true, "old": "file"}\n' if old else ""
    env = sentry.env({"SENTRY_STATUS_FILE": str(full_dir / "status.json"),
                      "FULL_DIR": str(full_dir), "OUT_DIR": str(out_dir),
                      "OLD_CONTENT": old_content, "SENTRY": sentry.binary})
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        FULL_SCRIPT], cwd=str(sentry.cwd), env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0 and not (out_dir / "rc").exists():
        pytest.skip("cannot mount a tmpfs in a mount namespace here: %s" % err[-500:])
    rc = int((out_dir / "rc").read_text())
    assert rc == 73, err
    lines = err.splitlines()
    assert banner_failed("status") in lines, err
    errs = [l for l in lines if l.startswith("[SENTRY] error: ")]
    assert len(errs) == 1, err
    assert "No space left" in errs[0], errs
    assert not (sentry.cwd / "marker").exists()
    left = sorted((out_dir / "ls").read_text().split())
    assert left == (["fill", "status.json"] if old else ["fill"]), left
    if old:
        assert (out_dir / "old").read_text() == old_content


def test_status_path_is_a_symlink(sentry, tmp_path, db):
    """A symlink at the status path is replaced by a regular file; its
    target is never written."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "precious.txt"
    target.write_text("precious\n")
    target.chmod(0o600)
    os.symlink(str(target), str(sentry.status_path))
    r = sentry.run(["--"] + MARKER_CMD)
    assert r.rc == 0, r
    assert not sentry.status_path.is_symlink()
    assert stat.S_ISREG(os.lstat(str(sentry.status_path)).st_mode)
    assert target.read_text() == "precious\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    st = r.status
    assert_status_shape(st)
    assert st["phase"] == "done"


def test_status_symlink_on_failure_too(sentry, tmp_path, db, closed_port):
    """The same on a failing gate (phase connect)."""
    target = tmp_path / "precious.txt"
    target.write_text("precious\n")
    os.symlink(str(target), str(sentry.status_path))
    r = sentry.run([], env={"DATABASE_URL": db.url_with().replace(":%d/" % db.port,
                                                                   ":%d/" % closed_port),
                            "SENTRY_DB_WAIT": "0"})
    assert_failed(r, "connect", 69)
    assert not sentry.status_path.is_symlink()
    assert target.read_text() == "precious\n"


def _temp_names(status_path, n):
    base = "." + status_path.name + "."
    alphabet = string.ascii_letters + string.digits
    names = {base + "XXXXXX"}
    rnd = random.Random(12345)
    while len(names) < n:
        names.add(base + "".join(rnd.choice(alphabet) for _ in range(6)))
    return sorted(names)


def test_existing_temp_name_is_not_followed(sentry, tmp_path, db):
    """Files named like the temporary status file (src/status.c: ".<name>.XXXXXX"
    in the same folder) are symlinks to a precious file: none is followed or
    written, and the temporary file is created exclusively (O_EXCL, checked
    with strace when it is there)."""
    target = tmp_path / "precious.txt"
    target.write_text("precious\n")
    planted = _temp_names(sentry.status_path, 200)
    for name in planted:
        os.symlink(str(target), str(sentry.status_path.parent / name))
    trace = tmp_path / "trace.txt"
    argv = [sentry.binary, "--"] + MARKER_CMD
    use_strace = shutil.which("strace") is not None
    if use_strace:
        argv = ["strace", "-qq", "-e", "trace=open,openat,creat", "-o", str(trace)] + argv
    env = sentry.env()
    p = subprocess.run(argv, cwd=str(sentry.cwd), env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, err
    assert target.read_text() == "precious\n"
    assert not sentry.status_path.is_symlink()
    json.loads(sentry.status_path.read_text())
    left = sorted(f.name for f in sentry.status_path.parent.iterdir())
    assert left == sorted(planted + [sentry.status_path.name]), \
        "temporary files left: %r" % sorted(set(left) - set(planted) - {sentry.status_path.name})
    for name in planted:
        assert os.path.islink(str(sentry.status_path.parent / name))
    if use_strace and trace.exists():
        opens = [l for l in trace.read_text().splitlines()
                 if "." + sentry.status_path.name + "." in l]
        assert opens, "no open of a temporary status file seen by strace"
        for l in opens:
            assert "O_CREAT" in l and "O_EXCL" in l, l
