#!/usr/bin/python3
"""The measuring half of bench/timeline.sh: where one no-op gate run spends its time.

    timeline.py WORK_DIR PLAIN_URL TLS_URL SYMS_BIN LIMIT_BIN RUNS

SYMS_BIN is build/bench/migration-sentry.syms: the static binary as `make static` links
it, not stripped (the same code), so that functions can be named.

1. Wall clock, step by step: syscall tracepoints and uprobes on the binary's functions,
   in a private tracefs instance, RUNS runs each plain and TLS, interleaved, the gate
   spawned by LIMIT_BIN; the median and the minimum of every step. A uprobe hit costs a
   few microseconds (about 50 a run), the tracepoints less: a few tenths of a
   millisecond in all. Needs root and tracefs (mounted here when it is not); every
   probe, event and instance it adds is removed on exit.
2. Instructions, step by step: one run each under valgrind's callgrind, the inclusive
   instruction count of the functions behind each step. Repeatable to a few hundred
   instructions whatever the machine's load; it counts what the CPU executes in user
   space, not waiting (round trips, fsync) nor the kernel. Valgrind's virtual CPU has
   no SHA extensions, so OpenSSL's SHA-256 takes its AVX2 path there (natively, on a
   CPU with SHA-NI, fewer instructions).
"""

import os
import re
import signal
import statistics
import subprocess
import sys

work, plain_url, tls_url, syms, limit_path, runs = sys.argv[1:7]
runs = int(runs)
app_dir = os.path.join(work, "app")
COLUMNS = ["proposals.visitor_session_id", "conversions.proposal_id"]
ENV = {
    "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
    "FLASK_APP": "app.py", "SENTRY_STATUS_FILE": os.path.join(work, "status.json"),
}
GATE = [syms] + [a for c in COLUMNS for a in ("--require-column", c)]
MODES = [("plain", plain_url), ("TLS", tls_url)]
TRACEFS = "/sys/kernel/tracing"
GROUP = "sentry_bench"
INSTANCE = os.path.join(TRACEFS, "instances", GROUP)

# uprobes: (event name, function, 'p' entry or 'r' return, fetch arguments)
PROBES = [
    ("main", "main", "p", ""),
    ("config_ret", "config_load", "r", ""),
    ("heads", "load_heads", "p", ""),
    ("heads_ret", "load_heads", "r", ""),
    ("connect_call", "PQconnectdbParams", "p", ""),
    ("connect_ret", "PQconnectdbParams", "r", ""),
    ("ssl_init", "initialize_SSL", "p", ""),
    ("ssl_init_ret", "initialize_SSL", "r", ""),
    ("ssl_connect_ret", "SSL_connect", "r", "rc=$retval:s32"),
    ("random", "pg_strong_random", "p", ""),
    ("random_ret", "pg_strong_random", "r", ""),
    ("pbkdf2", "scram_SaltedPassword", "p", ""),
    ("pbkdf2_ret", "scram_SaltedPassword", "r", ""),
    ("query", "PQexec", "p", "sql=+0(%si):string"),
    ("query_ret", "PQexec", "r", ""),
    ("query", "PQexecParams", "p", "sql=+0(%si):string"),
    ("query_ret", "PQexecParams", "r", ""),
    ("finish", "PQfinish", "p", ""),
    ("finish_ret", "PQfinish", "r", ""),
    ("status", "status_write", "p", ""),
    ("status_ret", "status_write", "r", ""),
    ("cleanup", "OPENSSL_cleanup", "p", ""),
    ("cleanup_ret", "OPENSSL_cleanup", "r", ""),
]
TRACEPOINTS = ["syscalls/sys_enter_execve", "syscalls/sys_enter_connect",
               "syscalls/sys_enter_sendto", "syscalls/sys_exit_recvfrom",
               "syscalls/sys_enter_fsync", "syscalls/sys_exit_fsync",
               "syscalls/sys_enter_rename", "syscalls/sys_exit_rename",
               "syscalls/sys_enter_renameat2", "syscalls/sys_exit_renameat2",
               "syscalls/sys_enter_exit_group"]


def die(msg):
    sys.stderr.write("bench/timeline: " + msg.rstrip() + "\n")
    sys.exit(1)


# --- symbols ------------------------------------------------------------------------------

def symbols(path):
    out = subprocess.run(["nm", path], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    syms = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "tT":
            syms.setdefault(f[2], int(f[0], 16))
    return syms


def load_segments(path):
    out = subprocess.run(["readelf", "-lW", path], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    segs = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            segs.append((int(f[2], 16), int(f[1], 16), int(f[4], 16)))  # vaddr, off, filesz
    return segs


def file_offset(segs, addr):
    for vaddr, off, size in segs:
        if vaddr <= addr < vaddr + size:
            return addr - vaddr + off
    die("address 0x%x is in no loadable segment" % addr)


# --- tracefs --------------------------------------------------------------------------------

def write(path, text, append=False):
    """One write(2): tracefs files take a command a write and cannot seek (so no "a"
    mode, which seeks to the end)."""
    fd = os.open(path, os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


class Tracer:
    """uprobes and tracepoints in a private tracefs instance; undone by close()."""

    def __init__(self):
        self.mounted = False
        self.probes = []
        self.spawner = None
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self):
        if not os.path.exists(os.path.join(TRACEFS, "uprobe_events")):
            if subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS],
                              stderr=subprocess.DEVNULL).returncode != 0:
                raise OSError("tracefs is not mounted at %s and cannot be mounted" % TRACEFS)
            self.mounted = True
        if os.path.exists(INSTANCE):
            raise OSError("%s exists: another timeline run? (rmdir it when none is)" % INSTANCE)
        syms, segs = symbols(syms_path), load_segments(syms_path)
        for i, (name, fn, kind, fetch) in enumerate(PROBES):
            if fn not in syms:
                continue                      # inlined in this build: that step shows "-"
            ev = "%s_%d" % (name, i)
            write(os.path.join(TRACEFS, "uprobe_events"), "%s:%s/%s %s:0x%x %s\n" % (
                kind, GROUP, ev, syms_path, file_offset(segs, syms[fn]), fetch), append=True)
            self.probes.append(ev)
        os.mkdir(INSTANCE)
        write(os.path.join(INSTANCE, "trace_clock"), "mono")
        for tp in TRACEPOINTS:
            p = os.path.join(INSTANCE, "events", tp, "enable")
            if os.path.exists(p):
                write(p, "1")
        self.start_spawner()

    def enable(self, only=None):
        """Every uprobe, or only those named in ONLY. A uprobe is planted in the
        process at exec, one page copy each: the calibration runs plant just main's."""
        for ev in self.probes:
            on = only is None or re.sub(r"_\d+$", "", ev) in only
            write(os.path.join(INSTANCE, "events", GROUP, ev, "enable"), "1" if on else "0")

    def start_spawner(self):
        """bench/limit, which spawns the gate as a small process would (posix_spawn: no
        copy of a big parent's memory to drop at exec); its children are traced."""
        self.spawner = subprocess.Popen([limit_path, "--"] + GATE, cwd=app_dir, env=ENV,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        universal_newlines=True)
        write(os.path.join(INSTANCE, "options", "event-fork"), "1")
        write(os.path.join(INSTANCE, "set_event_pid"), str(self.spawner.pid))

    def run(self, url):
        """One gate run: its events as (seconds, event, args), and the spawner's
        posix_spawn-to-waitpid milliseconds."""
        write(os.path.join(INSTANCE, "trace"), "")
        self.spawner.stdin.write("G %s\n" % url)
        self.spawner.stdin.flush()
        answer = self.spawner.stdout.readline().split()
        if len(answer) < 3 or answer[0] != "ok" or answer[2] != "0":
            die("the gate (%s) failed: %s" % (url.split("@")[-1], " ".join(answer) or "no answer"))
        with open(os.path.join(INSTANCE, "trace")) as f:
            return parse(f.read()), float(answer[1])

    def close(self):
        if self.spawner:
            self.spawner.stdin.close()
            self.spawner.wait(timeout=30)
        if os.path.isdir(INSTANCE):
            write(os.path.join(INSTANCE, "tracing_on"), "0")
            write(os.path.join(INSTANCE, "events", "enable"), "0")
            os.rmdir(INSTANCE)
        for ev in self.probes:
            write(os.path.join(TRACEFS, "uprobe_events"), "-:%s/%s\n" % (GROUP, ev), append=True)
        if self.mounted:
            subprocess.run(["umount", TRACEFS])


# "TASK-PID [CPU] FLAGS SECONDS: EVENT: ARGS"; syscall events print as "sys_NAME(ARGS)"
# on entry and "sys_NAME -> RESULT" on exit.
LINE = re.compile(r"-(\d+)\s+\[\d+\]\s+\S+\s+(\d+\.\d+):\s+(\w+)(:|\(| -> )\s*(.*)$")


def parse(text):
    """The events of the gate: of the process that hit main's uprobe (uprobes fire in
    the gate's binary only), so that the spawner's own events and those of the few
    other processes that set_event_pid lets slip through are dropped."""
    lines = [m for m in map(LINE.search, text.splitlines()) if m]
    pids = [int(m.group(1)) for m in lines if re.fullmatch(r"main_\d+", m.group(3))]
    events = []
    for m in lines:
        if not pids or int(m.group(1)) != pids[0]:
            continue
        name, sep = m.group(3), m.group(4)
        if sep == "(":
            name = "sys_enter_" + name[4:]
        elif sep == " -> ":
            name = "sys_exit_" + name[4:]
        else:
            name = re.sub(r"_\d+$", "", name)     # our uprobes: NAME_INDEX
        events.append((float(m.group(2)), name, m.group(5)))
    return events


# --- wall-clock steps -----------------------------------------------------------------------

def first(ev, name, after=0.0):
    for t, n, _ in ev:
        if n == name and t >= after:
            return t
    return None


def last(ev, name, cond=lambda a: True):
    ts = [t for t, n, a in ev if n == name and cond(a)]
    return ts[-1] if ts else None


def span(a, b):
    return (b - a) * 1000.0 if a is not None and b is not None else None


def short_sql(args):
    m = re.search(r'sql="(.*)"', args)
    sql = re.sub(r"\s+", " ", m.group(1)) if m else "?"
    return sql if len(sql) <= 44 else sql[:41] + "..."


def steps(ev):
    """[(label, ms or None)] for one run, in the order things happen."""
    g = lambda n, after=0.0: first(ev, n, after)
    execve, main, connect = g("sys_enter_execve"), g("main"), g("sys_enter_connect")
    answer = g("sys_exit_recvfrom", connect or 0.0)
    ssl_init, ssl_init_ret = g("ssl_init"), g("ssl_init_ret")
    tls_done = last(ev, "ssl_connect_ret", lambda a: "rc=1" in a)
    random, random_ret, pbkdf2 = g("random"), g("random_ret"), g("pbkdf2")
    pbkdf2_ret, connect_ret = g("pbkdf2_ret"), g("connect_ret")
    status, status_ret = g("status"), g("status_ret")
    exit_group = g("sys_enter_exit_group")
    out = [
        ("exec to main(): kernel exec, musl start-up, CPU probe", span(execve, main)),
        ("config_load()", span(main, g("config_ret"))),
        ("flask on PATH, first log lines, signalfd", span(g("config_ret"), g("heads"))),
        ("heads: reading migrations/versions", span(g("heads"), g("heads_ret"))),
        ("libpq: conninfo, socket, until connect()", span(g("heads_ret"), connect)),
        ("= before the first connect", span(execve, connect)),
        ("TCP connect, SSLRequest, the server's answer", span(connect, answer)),
        ("  of which waiting for it (the server forks a backend)",
         span(g("sys_enter_sendto", connect or 0.0), answer)),
    ]
    if ssl_init is not None:
        out += [("TLS: OpenSSL init, SSL_CTX (initialize_SSL)", span(ssl_init, ssl_init_ret)),
                ("TLS: handshake (SSL_connect): round trips, key exchange", span(ssl_init_ret, tls_done))]
    out += [
        ("startup packet until the server asks for SCRAM", span(tls_done or answer, random)),
        ("SCRAM nonce: pg_strong_random (OpenSSL RAND set-up)", span(random, random_ret)),
        ("round trip: client-first, server-first", span(random_ret, pbkdf2)),
        ("PBKDF2: scram_SaltedPassword, 4096 HMAC-SHA-256", span(pbkdf2, pbkdf2_ret)),
        ("round trip: client-final, server-final, backend ready", span(pbkdf2_ret, connect_ret)),
        ("= connect (PQconnectdbParams)", span(g("connect_call"), connect_ret)),
    ]
    prev, between, n = connect_ret, 0.0, 0
    for t, name, args in ev:
        if name == "query" and t >= (connect_ret or 0):
            n += 1
            ret = g("query_ret", t)
            between += span(prev, t) or 0.0
            out.append(("query %d: %s" % (n, short_sql(args)), span(t, ret)))
            prev = ret
    finish = g("finish", connect_ret or 0.0)
    between += span(prev, finish) or 0.0
    out += [
        ("gate code between the queries", between),
        ("PQfinish: Terminate, close", span(finish, g("finish_ret", finish or 0.0))),
        ("status file: temp, write, fsync, rename", span(status, status_ret)),
        ("  of which fsync", span(g("sys_enter_fsync", status or 0.0), g("sys_exit_fsync", status or 0.0))),
        ("  of which rename", span(g("sys_enter_rename", status or 0.0), g("sys_exit_rename", status or 0.0))),
        ("status file written until exit_group", span(status_ret, exit_group)),
        ("  of which OpenSSL's atexit cleanup", span(g("cleanup"), g("cleanup_ret"))),
        ("= total, execve to exit_group", span(execve, exit_group)),
    ]
    return out


def wall_timeline(tracer):
    per_mode = {m: [] for m, _ in MODES}
    exec_only = {m: [] for m, _ in MODES}
    spawned = {m: [] for m, _ in MODES}
    tracer.enable(only=["main"])
    for _, url in MODES:                       # warm-up: page cache, server caches
        tracer.run(url)
    for _ in range(runs):
        for mode, url in MODES:
            ev, _ = tracer.run(url)
            exec_only[mode].append(span(first(ev, "sys_enter_execve"), first(ev, "main")))
    tracer.enable()
    for _ in range(runs):
        for mode, url in MODES:
            ev, ms = tracer.run(url)
            per_mode[mode].append(steps(ev))
            spawned[mode].append(ms)
    return per_mode, exec_only, spawned


def print_wall(per_mode, exec_only, spawned):
    # TLS has every step plain has, and its own in their place
    labels = [label for label, _ in per_mode["TLS"][0]]
    print("wall clock, ms (median and minimum of %d traced runs each, interleaved)" % runs)
    print("  %-58s %8s %8s %8s %8s" % ("", "plain", "min", "TLS", "min"))
    for label in labels:
        cells = []
        for mode in per_mode:
            xs = [v for run in per_mode[mode] for lab, v in run if lab == label and v is not None]
            cells += ["%8.3f" % statistics.median(xs), "%8.3f" % min(xs)] if xs else ["%8s" % "-"] * 2
        print("  %-58s %s" % (label, " ".join(cells)))
    cells = []
    for mode in per_mode:
        xs = [x for x in exec_only[mode] if x is not None]
        cells += ["%8.3f" % statistics.median(xs), "%8.3f" % min(xs)]
    print("  %-58s %s" % ("exec to main() with no other uprobe planted", " ".join(cells)))
    cells = []
    for mode in per_mode:
        cells += ["%8.3f" % statistics.median(spawned[mode]), "%8.3f" % min(spawned[mode])]
    print("  %-58s %s" % ("posix_spawn to waitpid, seen by the spawner (traced)", " ".join(cells)))


# --- instructions ---------------------------------------------------------------------------

ANNOTATE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+\S*?:(\S+)\s+\[")


def callgrind(url, out):
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + GATE,
                       cwd=app_dir, env=dict(ENV, DATABASE_URL=url), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    if p.returncode != 0:
        die("the gate under callgrind failed (exit %d):\n%s" % (
            p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                          stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    cost, total = {}, None
    for line in text.splitlines():
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
        m = ANNOTATE.match(line)
        if m:
            cost.setdefault(m.group(2), int(m.group(1).replace(",", "")))
    return cost, total


def instruction_steps(cost, total):
    c = lambda *fns: sum(cost.get(f, 0) for f in fns)
    connect_parts = c("initialize_SSL", "SSL_connect", "pg_strong_random", "scram_SaltedPassword")
    main_parts = c("config_load", "migrate_find_program", "load_heads", "PQconnectdbParams",
                   "PQexec", "PQexecParams", "PQfinish", "status_write")
    return [
        ("before main(): musl start-up, OpenSSL CPU probe", total - c("main", "exit")),
        ("config_load()", c("config_load")),
        ("flask on PATH (migrate_find_program)", c("migrate_find_program")),
        ("heads: reading migrations/versions (load_heads)", c("load_heads")),
        ("connect: TLS, OpenSSL init, SSL_CTX (initialize_SSL)", c("initialize_SSL")),
        ("connect: TLS handshake (SSL_connect)", c("SSL_connect")),
        ("connect: SCRAM nonce, RAND set-up (pg_strong_random)", c("pg_strong_random")),
        ("connect: PBKDF2 (scram_SaltedPassword)", c("scram_SaltedPassword")),
        ("connect: the rest of PQconnectdbParams", c("PQconnectdbParams") - connect_parts),
        ("the six queries (PQexec, PQexecParams)", c("PQexec", "PQexecParams")),
        ("PQfinish", c("PQfinish")),
        ("status_write", c("status_write")),
        ("the rest of main(): logging, heads compare, frees", c("main") - main_parts),
        ("exit(): atexit handlers", c("exit")),
        ("  of which OPENSSL_cleanup", c("OPENSSL_cleanup")),
        ("= total", total),
    ]


def print_instructions():
    table = {}
    for mode, url in MODES:
        out = os.path.join(work, "callgrind.%s.out" % mode)
        table[mode] = instruction_steps(*callgrind(url, out))
    print("instructions (callgrind, one run each; millions)")
    print("  %-58s %8s %8s" % ("", "plain", "TLS"))
    for i, (label, _) in enumerate(table["plain"]):
        print("  %-58s %8.3f %8.3f" % (label, table["plain"][i][1] / 1e6, table["TLS"][i][1] / 1e6))


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print()
    print("timeline of one no-op gate run: %s" % syms_path)
    print()
    tracer = None
    try:
        tracer = Tracer()
    except OSError as e:
        print("wall clock: skipped (%s)" % e)
    if tracer:
        try:
            print_wall(*wall_timeline(tracer))
        finally:
            tracer.close()
    print()
    print_instructions()


syms_path = syms
if __name__ == "__main__":
    main()
