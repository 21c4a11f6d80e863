"""Fixtures for the end-to-end tests of the gate (build/migration-sentry).

One throwaway PostgreSQL per session, a fresh database per test, a fresh copy
of tests/app per test as the working directory (without its schema file,
migrations/schema.json: a test that holds the database to it asks for it with
the `schema_file` fixture, so that every other test verifies what it always
did and may change the migrations freely), and `sentry`, a runner that
drives the real binary with a clean environment and checks, on every run, that
the database password shows up nowhere (stdout, stderr, status file).
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
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from pgserver import PASSWORD, PgServer, free_port  # noqa: E402
import netns  # noqa: E402

# SENTRY_BIN runs the suite against another build (e.g. build/static/migration-sentry)
BINARY = REPO / (os.environ.get("SENTRY_BIN") or "build/migration-sentry")
APP_SRC = REPO / "tests" / "app"
SCHEMA_SRC = APP_SRC / "migrations" / "schema.json"

REV1 = "1a2b3c4d5e6f"
REV2 = "2b3c4d5e6f70"
REV3 = "3c4d5e6f7081"
REVS = (REV1, REV2, REV3)
HEAD = REV3

STATUS_KEYS = ["migrated", "alembic_current", "checks", "alembic_heads", "alembic_ahead", "phase",
               "error", "migration", "schema", "database", "server_version", "started_at",
               "finished_at", "duration_ms", "sentry_version", "format"]
MIGRATION_KEYS = ["ran", "skipped", "exit_code", "recovered", "duration_ms", "attempts",
                  "output_tail"]
SCHEMA_KEYS = ["file", "checked", "differences"]
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

BANNER_START = "=== MIGRATION SENTRY: starting ==="
BANNER_UPGRADE = "=== MIGRATION SENTRY: flask db upgrade ==="
BANNER_VERIFY = "=== MIGRATION SENTRY: verifying required columns ==="
BANNER_SUCCESS = "=== MIGRATION SENTRY: success ==="
MARKER_CMD = ["sh", "-c", "echo started > marker"]

# The harness must not depend on how the suite was started: from `nohup`
# (HUP ignored) or a script's `&` (INT and QUIT ignored), those dispositions
# would reach every process a test starts, and the sentry keeps inherited
# ignores (as the contract says). So what the tests start gets the default
# disposition of the signals they send, by exec'ing through env(1) (an exec,
# not a fork: the pid a test sees is the program's own), and an empty signal
# mask, from this process (which blocks nothing itself).
DEFAULT_SIGNALS = ["/usr/bin/env", "--default-signal=HUP,INT,QUIT,TERM,PIPE"]
signal.pthread_sigmask(signal.SIG_SETMASK, [])


def default_signals():
    """For a forked child before it execs (pty.fork, preexec_fn): the same
    reset as DEFAULT_SIGNALS, in place."""
    for s in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def banner_failed(phase):
    return "=== MIGRATION SENTRY: FAILED (phase: %s) ===" % phase


# ---------------------------------------------------------------- results

class Result:
    def __init__(self, argv, rc, stdout, stderr, elapsed, status_path, cwd, raw=(b"", b"")):
        self.stdout_raw, self.stderr_raw = raw
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.status_path = Path(status_path) if status_path else None
        self.cwd = Path(cwd)

    @property
    def lines(self):
        return self.stderr.splitlines()

    @property
    def status(self):
        """The status file, parsed (key order kept), or None when there is none."""
        if self.status_path is None or not self.status_path.exists():
            return None
        return json.loads(self.status_path.read_text())

    @property
    def stdout_json(self):
        return json.loads(self.stdout)

    @property
    def migrate_lines(self):
        return [l for l in self.lines if l.startswith("[migrate] ")]

    @property
    def marker_started(self):
        return (self.cwd / "marker").exists()

    def index_of(self, text, start=0):
        """Index of the first stderr line starting with TEXT (at or after START)."""
        for i, l in enumerate(self.lines[start:], start):
            if l.startswith(text):
                return i
        raise AssertionError("no log line starting with %r in stderr:\n%s" % (text, self.stderr))

    def __iter__(self):
        # rc, stdout, stderr = sentry.run(...)
        return iter((self.rc, self.stdout, self.stderr))

    def __repr__(self):
        return ("Result(argv=%r, rc=%r, elapsed=%.2fs)\n--- stdout:\n%s\n--- stderr:\n%s"
                % (self.argv, self.rc, self.elapsed, self.stdout, self.stderr))


def secret_pieces(secret):
    """What must never be printed of SECRET: every 3-character piece of it
    (a password split by a cut leaks in pieces), or for a one- or
    two-character password, the password as a credential's value."""
    if len(secret) >= 3:
        return [re.compile(re.escape(secret[i:i + 3])) for i in range(len(secret) - 2)]
    v = re.escape(secret)
    return [re.compile(r"password\s*=\s*['\"]?" + v + r"(?![A-Za-z0-9])", re.I),
            re.compile(r"://[^:@/\s]*:" + v + "@")]


def assert_no_secret(text, secrets, where, pieces=True):
    """No secret in TEXT, whole or (pieces=True) by any 3-character piece;
    test passwords are chosen so that no piece is ordinary text."""
    for s in secrets:
        if not s:
            continue
        if len(s) >= 3 and s in text:
            raise AssertionError("secret %r leaked in %s:\n%s" % (s, where, text))
        for rx in (secret_pieces(s) if pieces else []):
            m = rx.search(text)
            if m:
                raise AssertionError("piece %r of secret %r leaked in %s at %d:\n%s" % (
                    m.group(0), s, where, m.start(), text[max(0, m.start() - 300):m.end() + 300]))


def assert_utf8(data, where):
    """DATA (bytes) decodes as strict UTF-8; returns the text."""
    try:
        return data.decode("utf-8", "strict")
    except UnicodeDecodeError as e:
        raise AssertionError("%s is not valid UTF-8 (%s):\n%r" % (
            where, e, data[max(0, e.start - 200):e.end + 200]))


def assert_status_shape(st):
    """Every key of the contract, in order, with the right types."""
    assert isinstance(st, dict), st
    assert list(st.keys()) == STATUS_KEYS, list(st.keys())
    assert isinstance(st["migrated"], bool)
    assert st["alembic_current"] is None or isinstance(st["alembic_current"], str)
    assert isinstance(st["checks"], dict)
    assert all(isinstance(v, bool) for v in st["checks"].values()), st["checks"]
    assert isinstance(st["alembic_heads"], list)
    assert all(isinstance(h, str) for h in st["alembic_heads"])
    assert isinstance(st["alembic_ahead"], list)
    assert all(isinstance(h, str) for h in st["alembic_ahead"])
    assert isinstance(st["phase"], str)
    assert st["error"] is None or isinstance(st["error"], str)
    m = st["migration"]
    assert isinstance(m, dict) and list(m.keys()) == MIGRATION_KEYS, m
    assert isinstance(m["ran"], bool)
    assert m["skipped"] is None or isinstance(m["skipped"], str)
    assert m["exit_code"] is None or (isinstance(m["exit_code"], int)
                                      and not isinstance(m["exit_code"], bool))
    assert isinstance(m["recovered"], bool)
    assert isinstance(m["duration_ms"], int) and not isinstance(m["duration_ms"], bool)
    assert m["duration_ms"] >= 0
    assert isinstance(m["attempts"], int) and not isinstance(m["attempts"], bool)
    assert m["attempts"] >= (1 if m["ran"] else 0)
    assert isinstance(m["output_tail"], list) and len(m["output_tail"]) <= 50
    assert all(isinstance(l, str) for l in m["output_tail"])
    sc = st["schema"]
    assert isinstance(sc, dict) and list(sc.keys()) == SCHEMA_KEYS, sc
    assert sc["file"] is None or isinstance(sc["file"], str)
    assert isinstance(sc["checked"], int) and not isinstance(sc["checked"], bool)
    assert isinstance(sc["differences"], list) and len(sc["differences"]) <= 50
    assert all(isinstance(d, str) for d in sc["differences"])
    assert st["database"] is None or isinstance(st["database"], str)
    assert st["server_version"] is None or isinstance(st["server_version"], str)
    assert ISO_MS_Z.match(st["started_at"]), st["started_at"]
    assert ISO_MS_Z.match(st["finished_at"]), st["finished_at"]
    assert st["finished_at"] >= st["started_at"]
    assert isinstance(st["duration_ms"], int) and not isinstance(st["duration_ms"], bool)
    assert st["duration_ms"] >= 0
    assert st["sentry_version"] == "0.1.0"
    assert st["format"] == 1 and not isinstance(st["format"], bool)
    if st["phase"] == "done":
        assert st["migrated"] is True and st["error"] is None
    else:
        assert st["migrated"] is False
        assert isinstance(st["error"], str) and st["error"] and "\n" not in st["error"]


def assert_failed(r, phase, code, status_expected=True):
    """A gate that failed in PHASE with CODE: banner, error line, no command,
    and the status file (or none, for config and status failures)."""
    assert r.rc == code, r
    assert banner_failed(phase) in r.lines, r
    i = r.index_of(banner_failed(phase))
    assert any(l.startswith("[SENTRY] error: ") for l in r.lines[i + 1:]), r
    assert BANNER_SUCCESS not in r.lines, r
    assert not r.marker_started, "the command after -- was started:\n%r" % r
    st = r.status
    if status_expected:
        assert st is not None, "no status file at %s\n%r" % (r.status_path, r)
        assert_status_shape(st)
        assert st["phase"] == phase, st
        assert st["migrated"] is False
    else:
        assert st is None, "a status file was written: %r" % st
    return st


# ---------------------------------------------------------------- runner

class Sentry:
    def __init__(self, binary, cwd, status_path, db, home):
        self.binary = str(binary)
        self.cwd = Path(cwd)
        self.status_path = Path(status_path)
        self.db = db
        self.home = str(home)
        self.secrets = [PASSWORD]

    def env(self, overrides=None):
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": self.home,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "FLASK_APP": "app.py",
            "DATABASE_URL": self.db.url if self.db else "",
            "SENTRY_STATUS_FILE": str(self.status_path),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for k, v in (overrides or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def _status_path_for(self, env, argv):
        path = env.get("SENTRY_STATUS_FILE", "/tmp/migration_status.json")
        for i, a in enumerate(argv):
            if a == "--":
                break
            if a.startswith("--status-file="):
                path = a.split("=", 1)[1]
            elif a == "--status-file" and i + 1 < len(argv):
                path = argv[i + 1]
        return path

    def run(self, args, env=None, timeout=60, secrets=(), cwd=None, prefix=()):
        """PREFIX: argv run before the sentry's (e.g. `ip netns exec NS`), which
        must exec it (keep its pid)."""
        argv = [self.binary] + [str(a) for a in args]
        full_env = self.env(env)
        cwd = Path(cwd) if cwd else self.cwd
        t0 = time.monotonic()
        try:
            p = subprocess.run(DEFAULT_SIGNALS + list(prefix) + argv, cwd=str(cwd), env=full_env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout, start_new_session=True)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("migration-sentry %r did not finish in %ss\nstdout:%s\nstderr:%s"
                                 % (args, timeout, e.stdout, e.stderr))
        elapsed = time.monotonic() - t0
        r = Result(args, p.returncode, p.stdout.decode("utf-8", "replace"),
                   p.stderr.decode("utf-8", "replace"), elapsed,
                   self._status_path_for(full_env, argv), cwd, (p.stdout, p.stderr))
        self.check_secrets(r, secrets)
        return r

    def check_secrets(self, r, secrets=()):
        """No piece of a password anywhere, and everything in valid UTF-8."""
        allsecrets = list(self.secrets) + list(secrets)
        assert_no_secret(r.stdout, allsecrets, "stdout of %r" % (r.argv,))
        assert_no_secret(r.stderr, allsecrets, "stderr of %r" % (r.argv,))
        assert_utf8(r.stdout_raw, "stdout of %r" % (r.argv,))
        assert_utf8(r.stderr_raw, "stderr of %r" % (r.argv,))
        if r.status_path is not None and r.status_path.is_file():
            text = assert_utf8(r.status_path.read_bytes(), "status file of %r" % (r.argv,))
            assert_no_secret(text, allsecrets, "status file")
            # and no temporary file left beside it, secret or not
            for f in r.status_path.parent.iterdir():
                if r.status_path.name in f.name and f != r.status_path:
                    raise AssertionError("leftover file beside the status file: %s" % f)

    def popen(self, args, env=None, prefix=()):
        return Running(self, args, env, prefix)


class Running:
    """A sentry started in the background; stderr collected line by line."""

    def __init__(self, sentry, args, env, prefix=()):
        self.sentry = sentry
        self.args = args
        self.env = sentry.env(env)
        self.argv = [sentry.binary] + [str(a) for a in args]
        self.proc = subprocess.Popen(DEFAULT_SIGNALS + list(prefix) + self.argv,
                                     cwd=str(sentry.cwd), env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.t0 = time.monotonic()
        self.err_lines = []
        self.err_raw = []
        self.out = b""
        self._cv = threading.Condition()
        self._t_err = threading.Thread(target=self._read_err, daemon=True)
        self._t_out = threading.Thread(target=self._read_out, daemon=True)
        self._t_err.start()
        self._t_out.start()

    def _read_err(self):
        for raw in self.proc.stderr:
            with self._cv:
                self.err_raw.append(raw)
                self.err_lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def _read_out(self):
        self.out = self.proc.stdout.read()

    def wait_for(self, pattern, timeout=30):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for l in self.err_lines:
                    m = rx.search(l)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._t_err.is_alive()):
                    raise AssertionError("no stderr line matching %r (rc %r):\n%s" % (
                        pattern, self.proc.poll(), "\n".join(self.err_lines)))
                self._cv.wait(min(left, 0.2))

    def finish(self, timeout=30, secrets=()):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("migration-sentry did not exit in %ss:\n%s"
                                 % (timeout, "\n".join(self.err_lines)))
        self._t_err.join(5)
        self._t_out.join(5)
        r = Result(self.args, rc, self.out.decode("utf-8", "replace"),
                   "\n".join(self.err_lines) + "\n", time.monotonic() - self.t0,
                   self.sentry._status_path_for(self.env, self.argv), self.sentry.cwd,
                   (self.out, b"".join(self.err_raw)))
        self.sentry.check_secrets(r, secrets)
        return r

    def interrupt(self, sig, timeout=30):
        """Sends SIG to the gate and waits for it: (Result, seconds from the
        signal to the exit)."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        r = self.finish(timeout=timeout)
        return r, time.monotonic() - t0

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def sentry_bin():
    if not (BINARY.is_file() and os.access(str(BINARY), os.X_OK)):
        pytest.fail("%s is missing: build it with `make` first" % BINARY, pytrace=False)
    return BINARY


@pytest.fixture(scope="session")
def pg():
    with PgServer() as srv:
        yield srv


class Database:
    def __init__(self, pg, name):
        self.pg = pg
        self.name = name
        self.url = pg.create_db(name)
        self.port = pg.port
        self.password = pg.password

    def psql(self, sql):
        return self.pg.psql(sql, db=self.name).strip()

    def alembic_version(self):
        p = self.pg.psql("SELECT version_num FROM alembic_version ORDER BY 1", db=self.name,
                         check=False)
        if p.returncode != 0:
            return None
        return p.stdout.strip() or None

    def has_table(self, table):
        return self.psql("SELECT to_regclass('public.%s') IS NOT NULL" % table) == "t"

    def has_column(self, table, column):
        return self.psql(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema='public' "
            "AND table_name='%s' AND column_name='%s'" % (table, column)) == "1"

    def url_with(self, scheme="postgresql", password=None, dbname=None, user="sentry"):
        return "%s://%s:%s@127.0.0.1:%d/%s" % (scheme, user, password or self.password,
                                               self.port, dbname or self.name)

    def redacted(self):
        return "postgresql://******@127.0.0.1:%d/%s" % (self.port, self.name)


@pytest.fixture
def db(pg):
    name = "t_" + uuid.uuid4().hex[:12]
    d = Database(pg, name)
    yield d
    try:
        pg.drop_db(name)
    except Exception:
        pass


@pytest.fixture
def app_dir(tmp_path):
    dest = tmp_path / "app"
    shutil.copytree(str(APP_SRC), str(dest),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "marker", "schema.json"))
    return dest


@pytest.fixture
def schema_file(app_dir):
    """The sample app's committed schema file, put back into the test's copy of
    the app (where the gate finds it by default); its path."""
    dest = app_dir / "migrations" / "schema.json"
    shutil.copy2(str(SCHEMA_SRC), str(dest))
    return dest


def make_sentry(sentry_bin, app_dir, tmp_path, db):
    """A runner for DB with its status file and HOME under TMP_PATH."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    return Sentry(sentry_bin, app_dir, run_dir / "status.json", db, home)


@pytest.fixture
def sentry(sentry_bin, app_dir, tmp_path, db):
    return make_sentry(sentry_bin, app_dir, tmp_path, db)


@pytest.fixture
def run_sentry(sentry):
    """run_sentry(args, env=None, timeout=60) -> Result, unpackable as (rc, stdout, stderr)."""
    return sentry.run


@pytest.fixture(scope="module")
def link():
    """Two network namespaces of the test's own joined by a veth pair
    (tests/netns.py), for one module; skipped where none can be made."""
    why = netns.unavailable()
    if why:
        pytest.skip("network namespaces cannot be made here: " + why)
    with netns.Link() as l:
        yield l


@pytest.fixture
def closed_port():
    return free_port()


def pid_alive(pid):
    """True when PID runs (a zombie counts as dead)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_dead(pid, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)
