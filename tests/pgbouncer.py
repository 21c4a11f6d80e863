#!/usr/bin/python3
"""A throwaway PgBouncer in front of a test PostgreSQL (tests/pgserver.py).

    with PgServer() as pg, PgBouncer(pg, pool_mode="transaction") as bouncer:
        url = bouncer.url_for("t1")   # postgresql://sentry:...@127.0.0.1:BOUNCER_PORT/t1

Debian's pgbouncer, run by the suite itself as user `postgres` (it refuses
root), listening on a free port of 127.0.0.1, every file of its own (config,
auth_file, unix_socket_dir, pidfile, logfile) in a private temporary folder.
Clients authenticate with scram-sha-256 against an auth_file that holds the
server's own SCRAM verifier of the `sentry` role (read from pg_authid), so
PgBouncer logs in to PostgreSQL with the client's SCRAM keys, as managed
poolers do: no plain-text password anywhere. It is stopped by its PID
(SIGTERM, then SIGKILL) and its folder removed.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from pgserver import free_port

PGBOUNCER = "/usr/sbin/pgbouncer"


def available():
    """None when pgbouncer can be run here, else why not."""
    if not os.access(PGBOUNCER, os.X_OK):
        return "pgbouncer is not installed (scripts/install-deps.sh installs it)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user to run pgbouncer as"
    return None


class PgBouncer:
    """See the module docstring. pool_mode: "transaction" or "session";
    ignore_startup_parameters: a list of names PgBouncer should accept and
    drop (it refuses unknown ones, e.g. `options`)."""

    def __init__(self, pg, pool_mode="transaction", ignore_startup_parameters=(),
                 pool_size=20, max_client_conn=200, extra=()):
        self.pg = pg
        self.pool_mode = pool_mode
        self.ignore = list(ignore_startup_parameters)
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.extra = list(extra)
        self.dir = None
        self.port = None
        self.proc = None

    # ---- paths and URLs ----------------------------------------------------
    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def log_file(self):
        return self.path("pgbouncer.log")

    def url_for(self, db):
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (self.pg.role, self.pg.password, self.port, db)

    def log_tail(self, n=40):
        try:
            with open(self.log_file, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # ---- set-up --------------------------------------------------------------
    def _verifier(self):
        v = self.pg.psql("SELECT rolpassword FROM pg_authid WHERE rolname = '%s'" % self.pg.role,
                         db="postgres").strip()
        if not v.startswith("SCRAM-SHA-256$"):
            raise RuntimeError("role %s has no SCRAM verifier: %r" % (self.pg.role, v[:16]))
        return v

    def _write_files(self):
        pw = pwd.getpwnam("postgres")
        self.dir = tempfile.mkdtemp(prefix="pgbouncer-", dir="/tmp")
        os.chmod(self.dir, 0o700)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        with open(self.path("userlist.txt"), "w") as f:
            f.write('"%s" "%s"\n' % (self.pg.role, self._verifier()))
        conf = [
            "[databases]",
            "* = host=127.0.0.1 port=%d" % self.pg.port,
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            "listen_port = %d" % self.port,
            "unix_socket_dir = %s" % self.dir,
            "pidfile = %s" % self.path("pgbouncer.pid"),
            "logfile = %s" % self.log_file,
            "auth_type = scram-sha-256",
            "auth_file = %s" % self.path("userlist.txt"),
            "pool_mode = %s" % self.pool_mode,
            "default_pool_size = %d" % self.pool_size,
            "max_client_conn = %d" % self.max_client_conn,
            "server_reset_query = DISCARD ALL",
            "server_check_delay = 0",
            "log_connections = 0",
            "log_disconnections = 0",
        ]
        if self.ignore:
            conf.append("ignore_startup_parameters = %s" % ",".join(self.ignore))
        conf += self.extra
        with open(self.path("pgbouncer.ini"), "w") as f:
            f.write("\n".join(conf) + "\n")
        for name in ("userlist.txt", "pgbouncer.ini"):
            os.chown(self.path(name), pw.pw_uid, pw.pw_gid)
            os.chmod(self.path(name), 0o600)

    def _wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("pgbouncer exited (rc %s):\n%s" % (self.proc.returncode,
                                                                       self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("pgbouncer did not listen on %d in %ds:\n%s" % (self.port, timeout,
                                                                           self.log_tail()))

    # ---- lifecycle -------------------------------------------------------------
    def start(self):
        self.port = free_port()
        self._write_files()
        pw = pwd.getpwnam("postgres")
        self.proc = subprocess.Popen(
            [PGBOUNCER, self.path("pgbouncer.ini")], cwd=self.dir,
            user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self.dir},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self._wait_ready()
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False
