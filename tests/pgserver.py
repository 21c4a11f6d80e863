#!/usr/bin/python3
"""A throwaway PostgreSQL server for tests and shell scripts.

    with PgServer() as pg:
        url = pg.create_db("t1")          # postgresql://sentry:...@127.0.0.1:PORT/t1
        pg.psql("select 1", db="t1")      # as superuser, over the unix socket

The cluster lives in a temporary directory owned by `postgres` (initdb refuses
root), listens on a random free port on 127.0.0.1 with scram-sha-256 password
authentication, and trusts the superuser `postgres` on its private unix socket
only. A login role `sentry` (password PASSWORD below) owns database `app`.

Command line, for shell scripts (the server keeps running in DIR):

    /usr/bin/python3 tests/pgserver.py start DIR [--ssl]   # prints DATABASE_URL=...
    /usr/bin/python3 tests/pgserver.py stop DIR            # stops it and removes DIR
"""

import atexit
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROLE = "sentry"
# No 3-character piece of it is an English word or text the binary prints on
# its own (the suite looks for every piece, see conftest.assert_no_secret).
PASSWORD = "Qz7Xj9-Kv2WqPt"
DBNAME = "app"
STATE_FILE = "pgserver.json"


def _bindir():
    env = os.environ.get("PG_BINDIR")
    if env:
        return env
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not cands:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                           "(install the postgresql package)")
    return os.path.dirname(cands[-1])


def _runuser():
    for p in ("/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"):
        if os.access(p, os.X_OK):
            return p
    return shutil.which("runuser") or "runuser"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class PgServer:
    """A private PostgreSQL cluster; context manager. See the module docstring."""

    def __init__(self, base_dir=None, ssl=False, port=None):
        self.bindir = _bindir()
        self.ssl = ssl
        self.password = PASSWORD
        self.role = ROLE
        self.dbname = DBNAME
        self._own_base = base_dir is None
        self.base_dir = base_dir
        self.port = port
        self._started = False
        self._initialized = False
        self._atexit = False

    # ---- paths -------------------------------------------------------------
    @property
    def data_dir(self):
        return os.path.join(self.base_dir, "data")

    @property
    def sock_dir(self):
        return os.path.join(self.base_dir, "sock")

    @property
    def log_file(self):
        return os.path.join(self.base_dir, "postgres.log")

    @property
    def url(self):
        return self.url_for(self.dbname)

    def url_for(self, db):
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (self.role, self.password, self.port, db)

    # ---- helpers -----------------------------------------------------------
    def _as_postgres(self, argv, check=True, timeout=60, input=None):
        cmd = [_runuser(), "-u", "postgres", "--"] + argv
        env = {"PATH": self.bindir + ":/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "TZ": "UTC"}
        p = subprocess.run(cmd, cwd=self.base_dir, env=env, input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (rc %d):\n%s\n%s\n%s" % (
                " ".join(argv), p.returncode, p.stdout, p.stderr, self._log_tail()))
        return p

    def _log_tail(self, n=30):
        try:
            with open(self.log_file, errors="replace") as f:
                return "postgres log:\n" + "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def _chown_postgres(self, path):
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)

    def psql(self, sql, db=DBNAME, check=True):
        """Runs SQL as the superuser over the unix socket; returns stdout
        (unaligned, tuples only, '|' separated). With check=False, returns the
        CompletedProcess instead of raising when psql fails."""
        p = self._as_postgres([os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t",
                               "-v", "ON_ERROR_STOP=1", "-h", self.sock_dir,
                               "-p", str(self.port), "-U", "postgres", "-d", db or self.dbname,
                               "-c", sql], check=check)
        if check:
            return p.stdout
        return p

    def create_db(self, name):
        """Creates database NAME owned by the sentry role; returns its URL."""
        self.psql('CREATE DATABASE "%s" OWNER %s' % (name, ROLE), db="postgres")
        return self.url_for(name)

    def drop_db(self, name):
        self.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, db="postgres")

    # ---- lifecycle ---------------------------------------------------------
    def init(self):
        if self.base_dir is None:
            self.base_dir = tempfile.mkdtemp(prefix="pgserver-", dir="/tmp")
        os.makedirs(self.base_dir, exist_ok=True)
        os.chmod(self.base_dir, 0o755)
        self._chown_postgres(self.base_dir)
        if not self._atexit:
            atexit.register(self._atexit_cleanup)
            self._atexit = True
        if self.port is None:
            self.port = free_port()
        os.makedirs(self.sock_dir, exist_ok=True)
        self._chown_postgres(self.sock_dir)
        os.chmod(self.sock_dir, 0o700)
        self._as_postgres([os.path.join(self.bindir, "initdb"), "-D", self.data_dir,
                           "-U", "postgres", "-A", "trust", "-E", "UTF8",
                           "--locale=C.UTF-8", "--no-sync", "--no-instructions"], timeout=120)
        self._write_conf()
        self._write_hba()
        if self.ssl:
            self._make_cert()
        self._initialized = True
        self._save_state()

    def _write_conf(self):
        lines = [
            "listen_addresses = '127.0.0.1'",
            "port = %d" % self.port,
            "unix_socket_directories = '%s'" % self.sock_dir,
            "password_encryption = 'scram-sha-256'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "max_connections = 60",
            "shared_buffers = 32MB",
            "log_min_messages = warning",
            "log_connections = off",
            "timezone = 'UTC'",
        ]
        if self.ssl:
            lines += ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"]
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            f.write("\n# pgserver.py\n" + "\n".join(lines) + "\n")

    def _write_hba(self):
        hba = (
            "# pgserver.py: the superuser only on the private socket, passwords on TCP\n"
            "local   all   postgres                 trust\n"
            "local   all   all                      reject\n"
            "host    all   all   127.0.0.1/32       scram-sha-256\n"
            "host    all   all   ::1/128            scram-sha-256\n"
        )
        path = os.path.join(self.data_dir, "pg_hba.conf")
        with open(path, "w") as f:
            f.write(hba)
        self._chown_postgres(path)

    def _make_cert(self):
        crt = os.path.join(self.data_dir, "server.crt")
        key = os.path.join(self.data_dir, "server.key")
        subprocess.run(["openssl", "req", "-new", "-x509", "-days", "2", "-nodes",
                        "-newkey", "rsa:2048", "-subj", "/CN=127.0.0.1",
                        "-keyout", key, "-out", crt],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in (crt, key):
            self._chown_postgres(p)
        os.chmod(key, 0o600)

    def start(self):
        if not self._initialized:
            self.init()
            first = True
        else:
            first = False
        self._as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.data_dir,
                           "-l", self.log_file, "-w", "-t", "60", "start"], timeout=90)
        self._started = True
        if first:
            self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (ROLE, PASSWORD), db="postgres")
            self.psql("CREATE DATABASE %s OWNER %s" % (DBNAME, ROLE), db="postgres")
        else:  # a cluster kept from an earlier run (make demo) gets today's password
            self.psql("DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN "
                      "ALTER ROLE %s PASSWORD '%s'; END IF; END $$" % (ROLE, ROLE, PASSWORD), db="postgres")
        return self

    def stop(self, mode="fast"):
        if not self._started:
            return
        p = self._as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.data_dir,
                               "-m", mode, "-w", "-t", "30", "stop"], check=False, timeout=60)
        if p.returncode != 0:
            self._kill_postmaster()
        self._started = False

    def restart(self, mode="fast"):
        self.stop(mode)
        self.start()

    def _postmaster_pid(self):
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def _kill_postmaster(self):
        pid = self._postmaster_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGQUIT)
            except ProcessLookupError:
                return
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self):
        """Stops the server (however it is) and removes its directory."""
        if self.base_dir and os.path.isdir(self.base_dir):
            if os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
                self._started = True
                try:
                    self.stop("immediate")
                except Exception:
                    self._kill_postmaster()
            shutil.rmtree(self.base_dir, ignore_errors=True)
        self._started = False
        self._initialized = False

    def _atexit_cleanup(self):
        if getattr(self, "_detached", False):
            return
        try:
            self.cleanup()
        except Exception:
            pass

    def _save_state(self):
        with open(os.path.join(self.base_dir, STATE_FILE), "w") as f:
            json.dump({"port": self.port, "ssl": self.ssl, "bindir": self.bindir}, f)

    @classmethod
    def attach(cls, base_dir):
        """A PgServer for a cluster made earlier in BASE_DIR (by the CLI)."""
        with open(os.path.join(base_dir, STATE_FILE)) as f:
            st = json.load(f)
        srv = cls(base_dir=base_dir, ssl=st.get("ssl", False), port=st["port"])
        srv._initialized = True
        srv._started = os.path.exists(os.path.join(srv.data_dir, "postmaster.pid"))
        return srv

    def detach(self):
        """Leaves the server running when this Python process exits."""
        self._detached = True

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()
        return False


def main(argv):
    usage = "usage: pgserver.py start DIR [--ssl] | stop DIR | psql DIR SQL [DB]"
    if len(argv) < 3:
        print(usage, file=sys.stderr)
        return 64
    cmd, d = argv[1], os.path.abspath(argv[2])
    if cmd == "start":
        if os.path.exists(os.path.join(d, STATE_FILE)):
            print("pgserver: %s already holds a server; stop it first" % d, file=sys.stderr)
            return 1
        srv = PgServer(base_dir=d, ssl="--ssl" in argv[3:])
        try:
            srv.start()
        except BaseException:
            srv.cleanup()
            raise
        srv.detach()
        print("DATABASE_URL=%s" % srv.url)
        print("PGPORT=%d" % srv.port)
        return 0
    if cmd == "stop":
        if not os.path.exists(os.path.join(d, STATE_FILE)):
            shutil.rmtree(d, ignore_errors=True)
            return 0
        srv = PgServer.attach(d)
        srv.detach()
        srv.cleanup()
        return 0
    if cmd == "psql" and len(argv) >= 4:
        srv = PgServer.attach(d)
        srv.detach()
        sys.stdout.write(srv.psql(argv[3], db=argv[4] if len(argv) > 4 else DBNAME))
        return 0
    print(usage, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
