"""The static binary alone in an empty root (`make static-test`).

build/static/migration-sentry is copied into an otherwise empty directory,
together with only what each case needs (the sample app's migrations/versions
folder, and for the name-resolution case a one-line /etc/hosts), and run as
PID 1 of a new PID namespace:

    unshare --pid --fork --mount-proc[=ROOT/proc] chroot ROOT /migration-sentry ...

There is no shell, no libc, no Python and no CA store in ROOT: the gate must
take the fast path (the database is migrated beforehand with /usr/bin/flask, so
it is already at the heads and the migration command, which would fail if it
ran, is skipped), connect over TCP with sslmode=require to a PgServer(ssl=True),
verify the required columns, and then start the command after `--`, which can
only be the static binary itself.

Without a /proc in ROOT the sentry cannot re-execute itself through
/proc/self/exe and supervises in place; with one (--mount-proc=ROOT/proc) it
re-executes into the bare supervisor. Both are tested.

Run: /usr/bin/python3 -m pytest -q tests/static   (as root; STATIC_BIN selects
another binary).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from pgserver import PASSWORD, PgServer, free_port  # noqa: E402

STATIC_BIN = REPO / (os.environ.get("STATIC_BIN") or "build/static/migration-sentry")
APP_SRC = REPO / "tests" / "app"
HEAD = "3c4d5e6f7081"
LOCK_KEY = "7886758897530337569"  # the built-in default
UNSHARE = "/usr/bin/unshare"
CHROOT = "/usr/sbin/chroot"
VERSIONS_IN_ROOT = "/app/migrations/versions"
COLUMNS = "proposals.visitor_session_id,conversions.proposal_id"
# Would fail (unknown option, exit 64, so the gate would exit 70) if it ran:
# the fast path must skip it.
NEVER_RUN = "/migration-sentry --this-must-not-run"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unshare/chroot need root")


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def static_bin():
    if not (STATIC_BIN.is_file() and os.access(str(STATIC_BIN), os.X_OK)):
        pytest.fail("%s is missing: run `make static` first" % STATIC_BIN, pytrace=False)
    out = subprocess.run(["readelf", "-lW", str(STATIC_BIN)], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    assert "INTERP" not in out and "DYNAMIC" not in out, "%s is not static" % STATIC_BIN
    return STATIC_BIN


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    """A TLS-enabled PostgreSQL whose database `app` is migrated to the heads
    with the real Flask-Migrate (not with the sentry)."""
    with PgServer(ssl=True) as srv:
        app = tmp_path_factory.mktemp("app") / "app"
        shutil.copytree(str(APP_SRC), str(app),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "FLASK_APP": "app.py",
               "DATABASE_URL": srv.url, "PYTHONDONTWRITEBYTECODE": "1",
               "HOME": str(app)}
        p = subprocess.run(["/usr/bin/flask", "db", "upgrade"], cwd=str(app), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        assert p.returncode == 0, p.stdout.decode()
        assert srv.psql("SELECT version_num FROM alembic_version").strip() == HEAD
        srv.app_dir = app
        yield srv


class Root:
    """An empty directory holding the static binary (and what a case adds)."""

    def __init__(self, path, binary, app_dir, versions=True, hosts=None, proc=False):
        self.path = Path(path)
        self.path.mkdir()
        shutil.copy2(str(binary), str(self.path / "migration-sentry"))
        if versions:
            dest = self.path / VERSIONS_IN_ROOT.lstrip("/")
            shutil.copytree(str(app_dir / "migrations" / "versions"), str(dest),
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if hosts is not None:
            (self.path / "etc").mkdir()
            (self.path / "etc" / "hosts").write_text(hosts)
        self.proc = proc
        if proc:
            (self.path / "proc").mkdir()

    @property
    def status_file(self):
        return self.path / "status.json"

    def status(self):
        return json.loads(self.status_file.read_text())

    def argv(self, args):
        mount = "--mount-proc=%s" % (self.path / "proc") if self.proc else "--mount-proc"
        return [UNSHARE, "--pid", "--fork", mount, CHROOT, str(self.path),
                "/migration-sentry"] + list(args)

    def files(self):
        """Everything in the root, relative, but what the kernel shows in /proc."""
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*")
                      if "__pycache__" not in p.parts and p.parts[len(self.path.parts)] != "proc")


def gate_env(url, **extra):
    """The whole environment the sentry gets: no PATH, no HOME, nothing else."""
    env = {"DATABASE_URL": url, "FLASK_APP": "app.py", "SENTRY_STATUS_FILE": "/status.json",
           "SENTRY_MIGRATIONS_DIR": VERSIONS_IN_ROOT, "SENTRY_MIGRATE_CMD": NEVER_RUN,
           "SENTRY_REQUIRE_COLUMNS": COLUMNS}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def tls_url(pg, host="127.0.0.1"):
    return "postgresql://%s:%s@%s:%d/%s?sslmode=require" % (pg.role, PASSWORD, host, pg.port,
                                                            pg.dbname)


def run(root, args, env, timeout=60):
    t0 = time.monotonic()
    p = subprocess.run(root.argv(args), env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    for text in (out, err):
        assert PASSWORD not in text, text
    if root.status_file.exists():
        assert PASSWORD not in root.status_file.read_text()
    return p.returncode, out, err, time.monotonic() - t0


def assert_fast_path(err):
    lines = err.splitlines()
    assert "=== MIGRATION SENTRY: starting ===" in lines, err
    assert "[SENTRY] DB OK: app" in lines, err
    assert "[SENTRY] database already at heads (%s); skipping %s" % (HEAD, NEVER_RUN) in lines, err
    assert "=== MIGRATION SENTRY: %s ===" % NEVER_RUN not in lines, err
    assert "[SENTRY] schema OK." in lines, err
    assert "=== MIGRATION SENTRY: success ===" in lines, err


def assert_status_ok(root, pg, host="127.0.0.1"):
    st = root.status()
    assert st["migrated"] is True and st["phase"] == "done" and st["error"] is None, st
    assert st["alembic_current"] == HEAD and st["alembic_heads"] == [HEAD], st
    assert st["checks"] == {"proposals.visitor_session_id": True,
                            "conversions.proposal_id": True}, st
    assert st["migration"]["ran"] is False, st
    assert st["migration"]["skipped"] == "database already at heads", st
    assert st["database"] == "postgresql://******@%s:%d/app?sslmode=require" % (host, pg.port), st
    return st


def children_of(pid):
    try:
        return [int(x) for x in
                Path("/proc/%d/task/%d/children" % (pid, pid)).read_text().split()]
    except OSError:
        return []


def cmdline(pid):
    return Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")[:-1]


def wait_until(what, fn, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


class Lines:
    """Collects a pipe line by line in a thread."""

    def __init__(self, pipe):
        self.lines = []
        self._cv = threading.Condition()
        self._t = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._t.start()

    def _read(self, pipe):
        for raw in pipe:
            with self._cv:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cv.notify_all()

    def wait_for(self, pattern, timeout=30):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for l in self.lines:
                    if rx.search(l):
                        return l
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no line matching %r:\n%s" % (pattern, self.text))
                self._cv.wait(min(left, 0.2))

    @property
    def text(self):
        return "\n".join(self.lines) + "\n"

    def join(self):
        self._t.join(10)


# ---------------------------------------------------------------- tests

def test_root_holds_only_the_binary(static_bin, pg, tmp_path):
    """Nothing but the binary: --version runs as PID 1 in an empty root."""
    root = Root(tmp_path / "root", static_bin, pg.app_dir, versions=False)
    assert root.files() == ["migration-sentry"]
    rc, out, err, _ = run(root, ["--version"], env={})
    assert (rc, out, err) == (0, "migration-sentry 0.1.0\n", ""), (rc, out, err)


@pytest.mark.parametrize("proc", [False, True], ids=["no-proc", "proc"])
def test_gate_fast_path_over_tls_then_status(static_bin, pg, tmp_path, proc):
    """The gate at the heads, over TCP with sslmode=require, then the command
    `/migration-sentry status`, whose exit code (0: migrated) comes back."""
    root = Root(tmp_path / "root", static_bin, pg.app_dir, proc=proc)
    rc, out, err, elapsed = run(root, ["--", "/migration-sentry", "status"], gate_env(tls_url(pg)))
    assert rc == 0, (rc, out, err)
    assert_fast_path(err)
    assert "DB (redacted): postgresql://******@127.0.0.1:%d/app?sslmode=require" % pg.port \
        in err.splitlines(), err
    # without /proc the re-execution through /proc/self/exe cannot work, and
    # the sentry says so and supervises in place; with it, nothing is said
    note = "[SENTRY] cannot re-execute as a bare supervisor (No such file or directory); " \
           "supervising in place"
    if proc:
        assert "cannot re-execute" not in err, err
    else:
        assert note in err.splitlines(), err
    # stdout is the command's: the status file the gate wrote, read back by
    # the same binary inside the root
    assert json.loads(out) == root.status()
    assert_status_ok(root, pg)
    assert elapsed < 20, elapsed


@pytest.mark.parametrize("proc", [False, True], ids=["no-proc", "proc"])
def test_command_exit_code_passes_through(static_bin, pg, tmp_path, proc):
    """A failing command's own code comes back from PID 1: `status` of a file
    that does not exist is 66, an unknown option 64."""
    root = Root(tmp_path / "root", static_bin, pg.app_dir, proc=proc)
    env = gate_env(tls_url(pg))
    rc, out, err, _ = run(root, ["--", "/migration-sentry", "--status-file=/nothing.json",
                                 "status"], env)
    assert rc == 66, (rc, out, err)
    assert_fast_path(err)
    assert "[SENTRY] error: no status file at /nothing.json (the gate has not run here)" \
        in err.splitlines(), err
    rc, out, err, _ = run(root, ["--", "/migration-sentry", "--no-such-option"], env)
    assert rc == 64, (rc, out, err)
    # a command that is not there: 127, and no shell to blame
    rc, out, err, _ = run(root, ["--", "/bin/sh", "-c", "true"], env)
    assert rc == 127, (rc, out, err)
    assert "cannot run /bin/sh: No such file or directory" in err, err


@pytest.mark.parametrize("proc", [False, True], ids=["no-proc", "proc"])
def test_tls_in_use_supervisor_and_signal(static_bin, pg, tmp_path, proc):
    """While the gate waits for the advisory lock (held here), its connections
    are TLS (the server logs each one's protocol; a waiting gate connects only
    for each try, so pg_stat_ssl would show it only by chance). Then a command that lingers runs
    under PID 1 (the re-executed bare supervisor with /proc, the gate process
    itself without), SIGTERM sent to PID 1 reaches it, and 128+15 comes back."""
    import psycopg2

    root = Root(tmp_path / "root", static_bin, pg.app_dir, proc=proc)
    closed = free_port()
    linger = ["/migration-sentry", "--database-url=postgresql://nobody@127.0.0.1:%d/x" % closed,
              "--db-wait=300", "check"]
    holder = psycopg2.connect(host="127.0.0.1", port=pg.port, user=pg.role, password=PASSWORD,
                              dbname=pg.dbname, sslmode="disable",
                              application_name="static-test-holder")
    holder.autocommit = True
    cur = holder.cursor()
    cur.execute("SELECT pg_advisory_lock(%s::bigint)", (LOCK_KEY,))
    pg.psql("ALTER SYSTEM SET log_connections = on")
    pg.psql("SELECT pg_reload_conf()")
    wait_until("log_connections on",
               lambda: pg.psql("SHOW log_connections").strip() == "on")
    with open(pg.log_file, "rb") as f:
        log_start = f.seek(0, os.SEEK_END)
    p = subprocess.Popen(root.argv(["--"] + linger), env=gate_env(tls_url(pg)),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    err = Lines(p.stderr)
    try:
        err.wait_for(r"^\[SENTRY\] lock %s held by pid \d+ \(static-test-holder\)" % LOCK_KEY)
        with open(pg.log_file, "rb") as f:
            f.seek(log_start)
            logged = f.read().decode("utf-8", "replace").splitlines()
        ours = [l for l in logged if "connection authorized:" in l
                and "application_name=migration-sentry" in l]
        assert ours, logged  # the connect phase's, and each lock try's
        # a try on the first round trip's connection ends its transaction first
        assert not [l for l in logged if "already a transaction in progress" in l], logged
        assert all(re.search(r" SSL enabled \(protocol=TLSv1\.[23],", l) for l in ours), ours
        plain = pg.psql("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                        "WHERE a.application_name = 'static-test-holder'").strip()
        assert plain == "f"  # the query tells the two apart
        holder.close()

        err.wait_for(r"^\[SENTRY\] DB not ready \(attempt \d+, .*\): .*; retrying in ")
        sentry = wait_until("PID 1", lambda: children_of(p.pid))[0]
        argv1 = cmdline(sentry)
        cmd = wait_until("the command", lambda: children_of(sentry))
        assert len(cmd) == 1, cmd
        assert cmdline(cmd[0]) == [a.encode() for a in linger]
        if proc:
            assert argv1[:3] == [b"migration-sentry", b"--supervise-only=5", b"--"], argv1
            assert argv1[3:] == [a.encode() for a in linger], argv1
        else:
            assert argv1[0] == b"/migration-sentry" and b"--supervise-only=5" not in argv1, argv1
        os.kill(sentry, signal.SIGTERM)
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if not holder.closed:
            holder.close()
        pg.psql("ALTER SYSTEM RESET log_connections")
        pg.psql("SELECT pg_reload_conf()")
    err.join()
    assert rc == 128 + signal.SIGTERM, (rc, err.text)
    assert_fast_path(err.text)
    assert PASSWORD not in err.text
    assert_status_ok(root, pg)


def test_localhost_resolves_with_one_line_hosts(static_bin, pg, tmp_path):
    """musl reads /etc/hosts: `127.0.0.1 localhost` is all it takes."""
    root = Root(tmp_path / "root", static_bin, pg.app_dir, hosts="127.0.0.1 localhost\n")
    rc, out, err, _ = run(root, ["--", "/migration-sentry", "status"],
                          gate_env(tls_url(pg, host="localhost")))
    assert rc == 0, (rc, out, err)
    assert_fast_path(err)
    assert_status_ok(root, pg, host="localhost")


def test_localhost_without_hosts_file_fails_clearly(static_bin, pg, tmp_path):
    """No /etc/hosts (and no resolv.conf): the name cannot be resolved; the
    gate fails in the connect phase with 69, names the host, writes the
    status file, and does not start the command."""
    root = Root(tmp_path / "root", static_bin, pg.app_dir)
    rc, out, err, elapsed = run(root, ["--", "/migration-sentry", "--version"],
                                gate_env(tls_url(pg, host="localhost"), SENTRY_DB_WAIT=1))
    assert rc == 69, (rc, out, err)
    assert out == "", out  # the command never ran
    lines = err.splitlines()
    assert "=== MIGRATION SENTRY: FAILED (phase: connect) ===" in lines, err
    errline = [l for l in lines if l.startswith("[SENTRY] error: ")]
    assert len(errline) == 1, err
    # musl's own failure, or (its resolver still asking) the gate's bound
    assert re.match(r'^\[SENTRY\] error: database unreachable after \d+ attempts? in [\d.]+s: '
                    r'could not translate host name "localhost" to address: ', errline[0]), err
    st = root.status()
    assert st["phase"] == "connect" and st["migrated"] is False, st
    assert 'could not translate host name "localhost"' in st["error"], st
    # SENTRY_DB_WAIT=1, but one lookup is bounded only by musl's resolver,
    # which with no resolv.conf asks 127.0.0.1:53 and gives up after its
    # default 5 s timeout (libpq's connect_timeout does not cover name
    # resolution). A bound that holds on a loaded machine:
    assert elapsed < 15, elapsed
