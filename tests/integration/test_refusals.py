"""Refusals the gate must recognise at once, with the contract's code
(issue 10): a hot standby (pg_basebackup -R of this module's own TLS server,
started as a standby on a port of its own), a multi-host URL that lists the
standby first, TLS that cannot verify or is not offered, a role without
SELECT on alembic_version, and a lock key held in two databases of one
cluster."""

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid

import pytest

from pgserver import PASSWORD

from conftest import HEAD, MARKER_CMD, Database, PgServer, assert_failed, make_sentry
from hang import HeldLock, wait_until
from pgserver import _runuser, free_port

FAST_S = 5.0  # "at once": far under the SENTRY_DB_WAIT the tests set
DB_WAIT = 15


class Standby:
    """A hot standby of PRIMARY: pg_basebackup -R, then its own port and socket."""

    def __init__(self, primary):
        self.primary = primary
        self.base_dir = tempfile.mkdtemp(prefix="pgstandby-", dir="/tmp")
        self.data_dir = os.path.join(self.base_dir, "data")
        self.sock_dir = os.path.join(self.base_dir, "sock")
        self.port = free_port()
        self.started = False

    def _as_postgres(self, argv, timeout=120):
        env = {"PATH": self.primary.bindir + ":/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        p = subprocess.run([_runuser(), "-u", "postgres", "--"] + argv, cwd=self.base_dir, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s %s" % (argv[0], p.stdout, p.stderr))
        return p

    def start(self):
        pw = pwd.getpwnam("postgres")
        for d in (self.base_dir, self.sock_dir):
            os.makedirs(d, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        os.chmod(self.sock_dir, 0o700)
        self._as_postgres([os.path.join(self.primary.bindir, "pg_basebackup"), "-h",
                           self.primary.sock_dir, "-p", str(self.primary.port), "-U", "postgres",
                           "-D", self.data_dir, "-R", "-X", "stream", "-c", "fast", "--no-sync"])
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            f.write("\n# standby\nport = %d\nunix_socket_directories = '%s'\nhot_standby = on\n"
                    % (self.port, self.sock_dir))
        self._as_postgres([os.path.join(self.primary.bindir, "pg_ctl"), "-D", self.data_dir, "-l",
                           os.path.join(self.base_dir, "standby.log"), "-w", "-t", "60", "start"])
        self.started = True
        return self

    def psql(self, sql, db):
        p = self._as_postgres([os.path.join(self.primary.bindir, "psql"), "-X", "-q", "-A", "-t",
                               "-h", self.sock_dir, "-p", str(self.port), "-U", "postgres", "-d", db,
                               "-c", sql])
        return p.stdout.strip()

    def cleanup(self):
        if self.started:
            try:
                self._as_postgres([os.path.join(self.primary.bindir, "pg_ctl"), "-D", self.data_dir,
                                   "-m", "immediate", "-w", "-t", "30", "stop"], timeout=60)
            except Exception:
                pass
        shutil.rmtree(self.base_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_pg():
    """A server with TLS (self-signed, CN=127.0.0.1) that also serves base backups."""
    with PgServer(ssl=True) as srv:
        with open(os.path.join(srv.data_dir, "pg_hba.conf"), "a") as f:
            f.write("local   replication   postgres   trust\n")
        srv.psql("SELECT pg_reload_conf()", db="postgres")
        yield srv


@pytest.fixture(scope="module")
def standby(tls_pg):
    s = Standby(tls_pg)
    try:
        yield s.start()
    finally:
        s.cleanup()


@pytest.fixture
def tls_db(tls_pg):
    d = Database(tls_pg, "r_" + uuid.uuid4().hex[:12])
    yield d
    try:
        tls_pg.drop_db(d.name)
    except Exception:
        pass


def url(port, db, host="127.0.0.1", query=""):
    return "postgresql://sentry:%s@%s:%s/%s%s" % (PASSWORD, host, port, db, query)


def replayed(standby, db, sql, want):
    wait_until(lambda: _try(standby, db, sql) == want, 30, "the standby to replay %r" % sql)


def _try(standby, db, sql):
    try:
        return standby.psql(sql, db)
    except RuntimeError:
        return None


# ------------------------------------------------------------- standby

def test_hot_standby_is_refused_at_once(tls_db, standby, sentry_bin, app_dir, tmp_path):
    """A migrated database, but the URL points at its hot standby: 69 at
    once, the message says standby, nothing started.
    Base (69ed80c): the migrated standby passed (the lock taken on the
    standby excluded nothing on the primary)."""
    sentry = make_sentry(sentry_bin, app_dir, tmp_path, tls_db)
    first = sentry.run([], timeout=60)
    assert first.rc == 0, first
    replayed(standby, tls_db.name, "SELECT version_num FROM alembic_version", HEAD)
    r = sentry.run(["--"] + MARKER_CMD, env={"DATABASE_URL": url(standby.port, tls_db.name),
                                            "SENTRY_DB_WAIT": str(DB_WAIT)}, timeout=60)
    st = assert_failed(r, "connect", 69)
    assert "standby" in st["error"], st
    assert r.elapsed < FAST_S, r


def test_multi_host_url_asks_for_the_primary(tls_db, standby, sentry_bin, app_dir, tmp_path):
    """DATABASE_URL names the standby first, then the primary, and no
    target_session_attrs: the gate asks for a read-write server, connects
    to the primary, takes the lock there, and the migration runs.
    (The URL is in the form SQLAlchemy also reads, and the migration
    command asks libpq for the primary itself, PGTARGETSESSIONATTRS: the
    gate sets target_session_attrs for its own sessions only. The command
    first checks that the gate's advisory lock is held on the primary.)
    Base (69ed80c): it connected to the standby (the first host) and took
    the lock there, where it excluded nothing on the primary."""
    replayed(standby, tls_db.name, "SELECT 1", "1")
    sentry = make_sentry(sentry_bin, app_dir, tmp_path, tls_db)
    multi = "postgresql://sentry:" + PASSWORD + "@/%s?host=127.0.0.1,127.0.0.1&port=%d,%d" % (
        tls_db.name, standby.port, tls_db.pg.port)
    # the migration command first checks that the gate's lock is on the primary
    check = tmp_path / "lock-on-primary-then-migrate.sh"
    check.write_text(
        "#!/bin/sh\nn=$(psql -X -Atq -h %s -p %d -U postgres -d %s -c \"SELECT count(*) FROM pg_locks "
        "WHERE locktype = 'advisory' AND granted\")\n"
        "[ \"$n\" = 1 ] || { echo \"no advisory lock on the primary ($n)\"; exit 9; }\n"
        "PGTARGETSESSIONATTRS=read-write exec flask db upgrade\n"
        % (tls_db.pg.sock_dir, tls_db.pg.port, tls_db.name))
    check.chmod(0o755)
    r = sentry.run(["--"] + MARKER_CMD, env={
        "DATABASE_URL": multi, "SENTRY_DB_WAIT": str(DB_WAIT), "SENTRY_MIGRATE_CMD": str(check)},
        timeout=90)
    assert r.rc == 0, r
    assert r.status["server_version"], r.status
    assert r.status["migration"]["ran"] is True
    assert tls_db.alembic_version() == HEAD
    assert r.marker_started


# ------------------------------------------------------------- TLS

@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    d = tmp_path_factory.mktemp("other-ca")
    crt, key = d / "ca.crt", d / "ca.key"
    subprocess.run(["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-newkey", "rsa:2048",
                    "-subj", "/CN=some other CA", "-keyout", str(key), "-out", str(crt)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt


@pytest.mark.parametrize("how", ["host-name-mismatch", "unknown-ca", "tls-not-offered"])
def test_tls_failures_fail_at_once(how, tls_db, db, sentry_bin, app_dir, tmp_path, other_ca, pg):
    """A TLS failure no wait can heal ends the connect phase at once (69),
    far under SENTRY_DB_WAIT: the certificate's name (CN=127.0.0.1) against
    host `localhost` with sslmode=verify-full; a root certificate of another
    CA; sslmode=require against a server without TLS.
    Base (69ed80c): retried for the whole SENTRY_DB_WAIT (15 s here), then 69."""
    crt = os.path.join(tls_db.pg.data_dir, "server.crt")
    if how == "host-name-mismatch":
        target, u = tls_db, url(tls_db.pg.port, tls_db.name, host="localhost",
                                query="?sslmode=verify-full&sslrootcert=%s" % crt)
        words = "does not match host name"
    elif how == "unknown-ca":
        target, u = tls_db, url(tls_db.pg.port, tls_db.name,
                                query="?sslmode=verify-ca&sslrootcert=%s" % other_ca)
        words = "certificate verify failed"
    else:
        target, u = db, url(pg.port, db.name, query="?sslmode=require")
        words = "does not support SSL"
    sentry = make_sentry(sentry_bin, app_dir, tmp_path, target)
    r = sentry.run(["--"] + MARKER_CMD, env={"DATABASE_URL": u, "SENTRY_DB_WAIT": str(DB_WAIT)},
                   timeout=90)
    assert r.elapsed < FAST_S, r
    assert r.rc == 69 and words in r.stderr, r
    st = assert_failed(r, "connect", 69)
    assert words in st["error"], st


def test_verified_tls_connects(tls_db, sentry_bin, app_dir, tmp_path):
    """The control case: the same server, its certificate verified against
    the right name: the gate passes (so the failures above are the TLS
    checks, not a server that refuses everyone)."""
    crt = os.path.join(tls_db.pg.data_dir, "server.crt")
    sentry = make_sentry(sentry_bin, app_dir, tmp_path, tls_db)
    r = sentry.run([], env={"DATABASE_URL": url(tls_db.pg.port, tls_db.name,
                                               query="?sslmode=verify-full&sslrootcert=%s" % crt)},
                   timeout=60)
    assert r.rc == 0, r


# ------------------------------------------------------------- privileges

def test_no_select_on_alembic_version_is_77_naming_the_table(sentry, db):
    """REVOKE SELECT ON alembic_version from the gate's role: exit 77 (a
    privilege refused), the table named, nothing started.
    Base (69ed80c): exit 69 "database unreachable"."""
    first = sentry.run([], timeout=60)
    assert first.rc == 0, first
    db.psql("REVOKE SELECT ON alembic_version FROM sentry")
    r = sentry.run(["--"] + MARKER_CMD, timeout=60)
    assert r.rc == 77, r
    assert "FAILED (phase: " in r.stderr
    assert not r.marker_started
    st = r.status
    assert "alembic_version" in st["error"] and "unreachable" not in st["error"], st
    c = sentry.run(["check"], timeout=60)  # the probe: the same refusal, in verify
    assert c.rc == 77, c
    assert c.stdout_json["phase"] == "verify" and "alembic_version" in c.stdout_json["error"], c


def test_lock_function_refused_is_77_naming_it(sentry, db):
    """EXECUTE on pg_try_advisory_xact_lock revoked (in this database only):
    the lock phase fails 77 and names the function."""
    db.psql("REVOKE EXECUTE ON FUNCTION pg_catalog.pg_try_advisory_xact_lock(bigint) FROM PUBLIC")
    r = sentry.run(["--"] + MARKER_CMD, timeout=60)
    st = assert_failed(r, "lock", 77)
    assert "pg_try_advisory_xact_lock" in st["error"] and "permission denied" in st["error"], st


def test_stamp_refused_is_77_naming_the_table(sentry, db):
    """SENTRY_RECOVER=stamp by a role that may read alembic_version but not
    write it: 77 in migrate, the table named, the row left as it was."""
    assert sentry.run([], timeout=60).rc == 0
    db.psql("UPDATE alembic_version SET version_num = 'deadbeef0000'")
    db.psql("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM sentry")
    r = sentry.run(["--recover=stamp", "--"] + MARKER_CMD, timeout=60)
    st = assert_failed(r, "migrate", 77)
    assert "alembic_version" in st["error"] and "permission denied" in st["error"], st
    assert db.alembic_version() == "deadbeef0000"


def test_sql_statement_refused_is_77_naming_the_table(sentry, db, tmp_path):
    """`sql FILE` whose statement the role may not run: 77, the table named,
    nothing applied (the statement before it rolled back too)."""
    db.psql("CREATE TABLE mine (x int); CREATE TABLE theirs (x int); "
            "ALTER TABLE mine OWNER TO sentry")
    f = tmp_path / "patch.sql"
    f.write_text("INSERT INTO mine VALUES (1);\nUPDATE theirs SET x = 1;\n")
    r = sentry.run(["sql", str(f)], timeout=60)
    assert r.rc == 77, r
    assert "permission denied for table theirs" in r.stderr, r
    assert "FAILED (phase: sql)" in r.stderr and "nothing was applied" in r.stderr, r
    assert db.psql("SELECT count(*) FROM mine") == "0"


# ------------------------------------------------------------- two databases, one key

def test_lock_holder_named_in_the_gates_own_database(sentry, db, pg):
    """The same advisory lock key held in another database of the cluster
    (first) and in the gate's own: the waiting gate's log names only the
    holder in its own database.
    Base (69ed80c): the report looked at every database of the cluster and
    named the holder in the other one."""
    key = 7171717171
    other = Database(pg, "o_" + uuid.uuid4().hex[:12])
    h_other = HeldLock(other, key)
    h_own = HeldLock(db, key)
    try:
        r = sentry.run([], env={"SENTRY_LOCK_KEY": str(key), "SENTRY_LOCK_WAIT": "3"}, timeout=60)
    finally:
        h_own.close()
        h_other.close()
        pg.drop_db(other.name)
    held = [l for l in r.lines if "held by pid" in l]
    assert held, r
    assert all("pid %d " % h_own.backend_pid in l for l in held), held
    assert not any("pid %d " % h_other.backend_pid in l for l in held), held
    assert_failed(r, "lock", 75)
