"""`make demo` keeps working: scripts/demo.sh run twice into a directory of
the test's own (DEMO_DIR), with the built binary, as the README's first
command runs it. The first run makes a cluster and migrates; the second
reuses it and takes the fast path; both end with the drift caught (65) and
put right, and leave no PostgreSQL running."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import REPO

sys.path.insert(0, str(REPO / "tests"))
from pgserver import STATE_FILE, PgServer  # noqa: E402


def demo(demo_dir):
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "HOME": str(demo_dir),
           "DEMO_DIR": str(demo_dir)}
    p = subprocess.run(["sh", str(REPO / "scripts" / "demo.sh")], env=env, cwd=str(REPO),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def postmaster_running(pgdir):
    pid_file = os.path.join(pgdir, "data", "postmaster.pid")
    return os.path.exists(pid_file)


def test_demo_twice():
    # not under pytest's tmp_path (mode 0700): initdb runs as postgres
    base = tempfile.mkdtemp(prefix="msdemo-", dir="/tmp")
    os.chmod(base, 0o755)
    d = Path(base) / "demo"
    try:
        rc, out = demo(d)
        assert rc == 0, out
        assert "a new, empty PostgreSQL cluster" in out, out
        assert "Running upgrade" in out, out  # the first run migrates
        assert "schema difference: index ix_proposals_visitor_session_id missing" in out, out
        assert "=> exit 65" in out, out
        assert "the gate passes again" in out, out
        assert not postmaster_running(str(d / "pg")), "the demo left PostgreSQL running"

        rc, out = demo(d)
        assert rc == 0, out
        assert "started the database kept in build/demo/pg" in out, out
        assert "database already at heads" in out, out
        assert "Running upgrade" not in out, out
        assert "=> exit 65" in out, out
        assert not postmaster_running(str(d / "pg"))
    finally:
        pgdir = str(d / "pg")
        if os.path.exists(os.path.join(pgdir, STATE_FILE)):
            srv = PgServer.attach(pgdir)
            srv.cleanup()  # stops a cluster an interrupted run left behind, by PID
        shutil.rmtree(base, ignore_errors=True)
