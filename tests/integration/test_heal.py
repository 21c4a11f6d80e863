"""Connect refusals that waiting can heal (the contract's connect row):
"connection refused or reset, no route" are retried, each attempt logged
with libpq's reason, until the path heals, then the gate goes on.

- reset: a listener of the test's own on 127.0.0.1 that answers the first
  connections with a TCP reset (SO_LINGER 0), then forwards to the real
  server;
- no route: an `unreachable` route to the server's address in the gate's
  network namespace (both namespaces made by the test, tests/netns.py),
  removed after two attempts.
"""

import socket
import struct
import threading
import uuid


from conftest import HEAD, MARKER_CMD, Database, make_sentry
import netns


class ResettingProxy:
    """127.0.0.1:port: the first RESETS connections are reset as soon as
    they are accepted; later ones are piped to the real server."""

    def __init__(self, target_port, resets):
        self.target_port = target_port
        self.resets_left = resets
        self.resets_done = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.open = []
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self.resets_left > 0:
                self.resets_left -= 1
                self.resets_done += 1
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()  # linger 0: an RST, not a FIN
                continue
            s = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            self.open += [c, s]
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.sock.close()
        self.t.join(5)
        for x in self.open:
            x.close()


def test_connection_reset_is_retried(sentry, db):
    proxy = ResettingProxy(db.port, resets=2)
    try:
        url = db.url.replace(":%d/" % db.port, ":%d/" % proxy.port)
        r = sentry.run(["--"] + MARKER_CMD, env={"DATABASE_URL": url, "SENTRY_DB_WAIT": "60"},
                       timeout=120)
    finally:
        proxy.close()
    assert r.rc == 0, r
    assert r.marker_started
    assert proxy.resets_done == 2
    notes = [l for l in r.lines if l.startswith("[SENTRY] DB not ready (attempt ")]
    print("\n".join(notes))
    assert len(notes) >= 2, r
    assert all("retrying in" in l for l in notes), notes
    assert any("reset" in l.lower() or "closed the connection" in l.lower() for l in notes), notes
    assert db.alembic_version() == HEAD


def test_no_route_is_retried_until_the_route_is_back(link, sentry_bin, app_dir, tmp_path):
    srv = netns.NetnsPgServer(link.db_ns, link.db_addr)
    route = ["-n", link.gate_ns.name, "route", "%s", "unreachable", link.db_addr + "/32"]
    try:
        srv.start()
        db = Database(srv, "r_" + uuid.uuid4().hex[:12])
        sentry = make_sentry(sentry_bin, app_dir, tmp_path, db)
        netns._ip(*[a.replace("%s", "add") for a in route])
        run = sentry.popen(["--"] + MARKER_CMD, env={"SENTRY_DB_WAIT": "60"},
                           prefix=link.gate_ns.exec_prefix)
        try:
            m = run.wait_for(r"^\[SENTRY\] DB not ready \(attempt 2, .*\): (.*); retrying in ",
                             timeout=30)
            netns._ip(*[a.replace("%s", "del") for a in route])
            r = run.finish(timeout=120)
        finally:
            run.kill()
        assert "No route to host" in m.group(1), m.group(0)
        assert r.rc == 0, r
        assert r.marker_started
        assert db.alembic_version() == HEAD
    finally:
        netns._ip(*[a.replace("%s", "del") for a in route], check=False)  # gone already when passed
        srv.cleanup()
