#!/usr/bin/python3
"""A server that stops answering, two ways, for the fault tests:

    Freeze(pg)        every process of the cluster SIGSTOPped (the postmaster
                      and all its backends and helpers): the kernel still
                      accepts connections and data, nothing answers;
    Drop(link)        the veth pair to a server in a network namespace
                      (tests/netns.py) goes down: every packet is lost.

Each has apply() and undo() (undo is safe to call more than once, and is
always called in a finally), and shell(), a command line that applies it,
for a migration command that makes the fault itself at a moment of its own
choosing (then applied_by_shell(), so that undo() knows). HeldLock takes an
advisory lock in a database the way another gate would, over the server's
unix socket.
"""

import os
import signal
import time

import psycopg2


def cluster_pids(pg):
    """The postmaster of PG's cluster and every process under it."""
    with open(os.path.join(pg.data_dir, "postmaster.pid")) as f:
        pm = int(f.readline())
    pids, todo = [pm], [pm]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        pids += kids
        todo += kids
    return pids


class Freeze:
    name = "sigstop"

    def __init__(self, pg):
        self.pg = pg
        self.stopped = []

    def apply(self):
        # the postmaster first, so that it forks nothing new meanwhile;
        # then again, for a child forked while we looked
        for _ in range(2):
            for pid in cluster_pids(self.pg):
                if pid not in self.stopped:
                    try:
                        os.kill(pid, signal.SIGSTOP)
                    except ProcessLookupError:
                        continue  # a backend that ended meanwhile needs no stopping
                    self.stopped.append(pid)

    def undo(self):
        for pid in reversed(self.stopped):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.stopped = []

    def shell(self):
        pm = "$(head -n 1 %s/postmaster.pid)" % self.pg.data_dir
        return ("pm=%s; kill -STOP $pm; for i in 1 2; do for p in $(pgrep -P $pm); do "
                "kill -STOP $p; done; done" % pm)

    def applied_by_shell(self):
        """shell() ran: undo() must know what it stopped."""
        self.stopped = cluster_pids(self.pg)


class Drop:
    name = "packet-loss"

    def __init__(self, link):
        self.link = link
        self.dropped = False

    def apply(self):
        self.link.drop()
        self.dropped = True

    def undo(self):
        if self.dropped:
            self.link.restore()
            self.dropped = False

    def shell(self):
        return "ip -n %s link set %s down" % (self.link.db_ns.name, self.link.db_if)

    def applied_by_shell(self):
        self.dropped = True


class HeldLock:
    """An advisory lock on KEY held by a session of the superuser in DB."""

    def __init__(self, db, key):
        self.conn = psycopg2.connect(host=db.pg.sock_dir, port=db.pg.port, user="postgres",
                                     dbname=db.name, application_name="test-holder")
        self.conn.autocommit = True
        cur = self.conn.cursor()
        cur.execute("SELECT pg_backend_pid(), pg_advisory_lock(%s)", (key,))
        self.backend_pid = cur.fetchone()[0]

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
