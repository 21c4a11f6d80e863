#!/usr/bin/python3
"""Network namespaces of the tests' own, for faults no loopback can show:
packets that are dropped (a host that stops answering) and a DNS server that
never answers.

    with Link() as link:                       # two namespaces and a veth pair
        srv = NetnsPgServer(link.db_ns, link.db_addr).start()
        sentry.popen([...], prefix=link.gate_ns.exec_prefix)
        link.drop()                            # from now on every packet is lost
        link.restore()

Nothing here touches the machine's own network: both ends of the pair live
in namespaces made here, the addresses are link-local (169.254.0.0/16), with
permanent neighbour entries, so that a dropped link is silence, not an ARP
failure reported as "no route". Everything is removed at the end (the
namespaces, and with them the pair; every process still in them is killed
by PID; /etc/netns/NAME), also when a test fails.
"""

import itertools
import os
import random
import shutil
import signal
import subprocess
import time

from pgserver import PgServer, _runuser

_seq = itertools.count()


def _ip(*args, check=True):
    p = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=30)
    if check and p.returncode != 0:
        raise RuntimeError("ip %s failed: %s" % (" ".join(args), p.stderr.strip()))
    return p


def unavailable():
    """None when namespaces can be made here, else why not (for a skip)."""
    name = "msprobe%d" % os.getpid()
    try:
        p = _ip("netns", "add", name, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return "cannot run ip(8): %s" % e
    if p.returncode != 0:
        return "cannot create a network namespace (ip netns add): %s" % p.stderr.strip()
    _ip("netns", "del", name, check=False)
    return None


class Netns:
    """One network namespace, loopback up."""

    def __init__(self, tag):
        self.name = "ms%d%s%d" % (os.getpid() % 100000, tag, next(_seq))
        self.exec_prefix = ["ip", "netns", "exec", self.name]
        self.made = False

    @property
    def etc_dir(self):
        return "/etc/netns/" + self.name

    def create(self):
        _ip("netns", "add", self.name)
        self.made = True
        _ip("-n", self.name, "link", "set", "lo", "up")
        return self

    def etc_file(self, name, text):
        """A file that `ip netns exec` binds over /etc/NAME in the namespace."""
        os.makedirs(self.etc_dir, exist_ok=True)
        with open(os.path.join(self.etc_dir, name), "w") as f:
            f.write(text)

    def popen(self, argv, **kw):
        return subprocess.Popen(self.exec_prefix + list(argv), **kw)

    def pids(self):
        p = _ip("netns", "pids", self.name, check=False)
        return [int(x) for x in p.stdout.split() if x.isdigit()]

    def delete(self):
        if self.made:
            for _ in range(3):
                pids = self.pids()
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.2)
            _ip("netns", "del", self.name, check=False)
            self.made = False
        shutil.rmtree(self.etc_dir, ignore_errors=True)


class Link:
    """Two namespaces, `gate` and `db`, joined by a veth pair."""

    def __init__(self):
        self.gate_ns = Netns("g")
        self.db_ns = Netns("d")
        n = random.randrange(1, 250)
        self.gate_addr = "169.254.%d.1" % n
        self.db_addr = "169.254.%d.2" % n
        tag = "%d%d" % (os.getpid() % 100000, next(_seq))
        self.gate_if = "msg" + tag
        self.db_if = "msd" + tag

    def create(self):
        self.gate_ns.create()
        self.db_ns.create()
        _ip("link", "add", self.gate_if, "netns", self.gate_ns.name, "type", "veth",
            "peer", "name", self.db_if, "netns", self.db_ns.name)
        for ns, ifname, addr in ((self.gate_ns, self.gate_if, self.gate_addr),
                                 (self.db_ns, self.db_if, self.db_addr)):
            _ip("-n", ns.name, "addr", "add", addr + "/30", "dev", ifname)
            _ip("-n", ns.name, "link", "set", ifname, "up")
        # permanent neighbours: a dropped link must be silence, not an ARP failure
        for ns, ifname, peer_ns, peer_if, peer_addr in (
                (self.gate_ns, self.gate_if, self.db_ns, self.db_if, self.db_addr),
                (self.db_ns, self.db_if, self.gate_ns, self.gate_if, self.gate_addr)):
            mac = self._mac(peer_ns, peer_if)
            _ip("-n", ns.name, "neigh", "replace", peer_addr, "lladdr", mac, "dev", ifname,
                "nud", "permanent")
        return self

    @staticmethod
    def _mac(ns, ifname):
        out = _ip("-n", ns.name, "-o", "link", "show", ifname).stdout
        return out.split("link/ether", 1)[1].split()[0]

    def drop(self):
        """Every packet between the two is lost from now on (the db end is down)."""
        _ip("-n", self.db_ns.name, "link", "set", self.db_if, "down")

    def restore(self):
        _ip("-n", self.db_ns.name, "link", "set", self.db_if, "up")

    def delete(self):
        # deleting a namespace deletes the veth end in it, and the pair with it
        self.gate_ns.delete()
        self.db_ns.delete()

    def __enter__(self):
        try:
            return self.create()
        except BaseException:
            self.delete()
            raise

    def __exit__(self, *exc):
        self.delete()
        return False


class NetnsPgServer(PgServer):
    """A tests/pgserver.py cluster whose postmaster runs in namespace NS,
    listening on ADDR (psql still reaches it over its unix socket)."""

    def __init__(self, ns, addr, **kw):
        super().__init__(**kw)
        self.ns = ns
        self.addr = addr

    def url_for(self, db):
        return "postgresql://%s:%s@%s:%d/%s" % (self.role, self.password, self.addr, self.port, db)

    def _as_postgres(self, argv, check=True, timeout=60, input=None):
        # setns needs root: the namespace first, then the user
        cmd = self.ns.exec_prefix + [_runuser(), "-u", "postgres", "--"] + argv
        env = {"PATH": self.bindir + ":/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "TZ": "UTC"}
        p = subprocess.run(cmd, cwd=self.base_dir, env=env, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (rc %d):\n%s\n%s\n%s" % (
                " ".join(argv), p.returncode, p.stdout, p.stderr, self._log_tail()))
        return p

    def _write_conf(self):
        super()._write_conf()
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '%s'\n" % self.addr)

    def _write_hba(self):
        super()._write_hba()
        with open(os.path.join(self.data_dir, "pg_hba.conf"), "a") as f:
            f.write("host    all   all   %s/30   scram-sha-256\n" % self.addr)
