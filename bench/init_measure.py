#!/usr/bin/python3
"""The measuring half of bench/init.sh (see there and bench/README.md, "Init footprint").

    init_measure.py WORK_DIR DATABASE_URL RUNS STATIC_BIN DYNAMIC_BIN TINI_STATIC [TINI]

WORK_DIR holds app/ (the sample app, already migrated to its heads) and is where the
status file goes. Every init runs as PID 1 of a fresh PID namespace:

    unshare --pid --fork --kill-child --mount-proc INIT... -- CMD

1. start-up: wall time of that whole line with CMD = /bin/true (fork to exit, measured
   from here with time.perf_counter around subprocess.run), RUNS times each, interleaved,
   after one uncounted warm-up of each; "overhead" is the median minus the median of the
   same line with no init at all (`unshare ... /bin/true`).
2. memory: with CMD = sleep 30, once the init is supervising (for the gate: after it has
   re-executed into the bare supervisor), VmRSS/RssAnon/RssFile from /proc/PID/status and
   Pss/Pss_Anon/Pss_File/Private_Dirty from /proc/PID/smaps_rollup of the init process;
   MEM_SAMPLES (default 5) fresh starts each, the median of each field reported. Before
   each start the init's binary (not the shared libraries) is dropped from the page cache
   (posix_fadvise DONTNEED), so that every start maps it as a container's first start does.

Every process tree it starts is killed (SIGKILL to the namespace's PID 1, which takes the
whole namespace with it) before it exits, also on errors and signals.
"""

import os
import signal
import statistics
import subprocess
import sys
import time

work, url, runs, static_bin, dyn_bin, tini_static = sys.argv[1:7]
tini_dyn = sys.argv[7] if len(sys.argv) > 7 and sys.argv[7] else None
runs = int(runs)
mem_samples = int(os.environ.get("MEM_SAMPLES", "5"))
app_dir = os.path.join(work, "app")
status_file = os.path.join(work, "status.json")
COLUMNS = ["proposals.visitor_session_id", "conversions.proposal_id"]
UNSHARE = ["/usr/bin/unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]
ENV = {
    "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
    "DATABASE_URL": url, "FLASK_APP": "app.py", "SENTRY_STATUS_FILE": status_file,
}
live = []          # Popen objects still to be killed


def die(msg):
    sys.stderr.write("bench/init: " + msg.rstrip() + "\n")
    sys.exit(1)


def gate_argv(binary):
    a = [binary]
    for c in COLUMNS:
        a += ["--require-column", c]
    return a


# name, argv before the command, whether it is the full gate (log must say "at heads")
INITS = [("no init (unshare alone)", [], False),
         ("tini-static", [tini_static, "--"], False)]
if tini_dyn:
    INITS.append(("tini (dynamic, reference)", [tini_dyn, "--"], False))
INITS += [
    ("sentry static --supervise-only", [static_bin, "--supervise-only=5", "--"], False),
    ("sentry static, full gate (no-op)", gate_argv(static_bin) + ["--"], True),
    ("sentry dynamic --supervise-only", [dyn_bin, "--supervise-only=5", "--"], False),
    ("sentry dynamic, full gate (no-op)", gate_argv(dyn_bin) + ["--"], True),
]


def run_once(name, pre, gate):
    argv = UNSHARE + pre + ["/bin/true"]
    t0 = time.perf_counter()
    p = subprocess.run(argv, cwd=app_dir, env=ENV, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    ms = (time.perf_counter() - t0) * 1000.0
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        die("%s: exit %d\n%s\n%s" % (name, p.returncode, " ".join(argv), out))
    if gate and "already at heads" not in out:
        die("%s: the gate did not take the no-op path:\n%s" % (name, out))
    return ms


# --- 1. start-up ------------------------------------------------------------------------
times = {n: [] for n, _, _ in INITS}
for n, pre, g in INITS:                     # warm-up: page cache, PostgreSQL caches
    run_once(n, pre, g)
for _ in range(runs):                       # interleaved, so drift hits all alike
    for n, pre, g in INITS:
        times[n].append(run_once(n, pre, g))


# --- 2. memory --------------------------------------------------------------------------
def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def fields(path, keys):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = int(v.split()[0])
    return out


def kill_tree(p):
    """SIGKILL to the namespace's PID 1 (the kernel then kills the whole namespace),
    then to unshare itself; waits for it."""
    for c in children(p.pid):
        try:
            os.kill(c, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        p.kill()
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def evict(path):
    """Drops the file's clean pages from the page cache, so that every start reads it the
    way a container's first start does (through exec's readahead). On this kernel the RSS of
    a file mapping depends on how its pages got into the cache: a binary just written by the
    linker sits in large folios that a fault maps whole, and shows far more RSS."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)                        # a fresh build may still be dirty
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(name, pre, gate):
    evict(pre[0])
    p = subprocess.Popen(UNSHARE + pre + ["/bin/sleep", "30"], cwd=app_dir, env=ENV,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    live.append(p)
    try:
        deadline = time.monotonic() + 60
        init = None
        while time.monotonic() < deadline:
            if p.poll() is not None:
                die("%s exited early (%d): %s" % (name, p.returncode,
                                                  p.stderr.read().decode(errors="replace")))
            kids = children(p.pid)
            if kids:
                init = kids[0]
                argv = cmdline(init)
                ready = any(cmdline(c)[:1] == [b"/bin/sleep"] for c in children(init))
                if ready and (not gate or any(a.startswith(b"--supervise-only=") for a in argv)):
                    break
            time.sleep(0.01)
        else:
            die("%s: did not reach the supervising state in 60 s" % name)
        time.sleep(0.3)                     # let it settle in its wait loop
        st = fields("/proc/%d/status" % init, {"VmRSS", "RssAnon", "RssFile"})
        sm = fields("/proc/%d/smaps_rollup" % init,
                    {"Pss", "Pss_Anon", "Pss_File", "Private_Dirty"})
        st.update(sm)
        # A clean stop: SIGTERM to the init, which must forward it to sleep.
        os.kill(init, signal.SIGTERM)
        try:
            rc = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            die("%s did not stop on SIGTERM within 15 s" % name)
        if rc != 128 + signal.SIGTERM:
            die("%s: exit %d after SIGTERM (expected 143): %s" % (
                name, rc, p.stderr.read().decode(errors="replace")))
        return st
    finally:
        kill_tree(p)
        live.remove(p)


def on_signal(sig, _frame):
    raise SystemExit(128 + sig)


for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, on_signal)

mem = {}
try:
    for n, pre, g in INITS[1:]:
        samples = [measure(n, pre, g) for _ in range(mem_samples)]
        mem[n] = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
finally:
    for p in list(live):
        kill_tree(p)


# --- report -----------------------------------------------------------------------------
def size_kib(path):
    return (os.stat(path).st_size + 1023) // 1024


base = statistics.median(times[INITS[0][0]])
print()
print("init footprint: %d runs each (interleaved, after one warm-up), PID 1 of a new PID "
      "namespace;" % runs)
print("kernel %s, %d CPUs, load %.2f; binaries: tini-static %d KiB, sentry static %d KiB, "
      "sentry dynamic %d KiB" % (os.uname().release, os.cpu_count(), os.getloadavg()[0],
                                 size_kib(tini_static), size_kib(static_bin), size_kib(dyn_bin)))
print()
print("start-up: unshare --pid --fork --kill-child --mount-proc INIT -- /bin/true (wall ms)")
print("%-36s %8s %8s %8s %8s %10s" % ("", "median", "min", "p90", "max", "overhead"))
for n, _, _ in INITS:
    xs = sorted(times[n])
    med = statistics.median(xs)
    p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
    over = "" if n == INITS[0][0] else "%+.2f" % (med - base)
    print("%-36s %8.2f %8.2f %8.2f %8.2f %10s" % (n, med, xs[0], p90, xs[-1], over))
print()
print("memory of the init while supervising `sleep 30` (KiB; median of %d starts, the init's "
      "binary evicted from the page cache before each)" % mem_samples)
print("%-36s %8s %8s %8s %8s %8s %8s %8s" % ("", "VmRSS", "RssAnon", "RssFile", "Pss",
                                             "Pss_Anon", "Pss_File", "PrivDirty"))
for n, _, _ in INITS[1:]:
    m = mem[n]
    print("%-36s %8d %8d %8d %8d %8d %8d %8d" % (
        n, m["VmRSS"], m["RssAnon"], m["RssFile"], m["Pss"], m["Pss_Anon"], m["Pss_File"],
        m["Private_Dirty"]))
print()

tmed = statistics.median(times["tini-static"]) - base
tini_rss = mem["tini-static"]["VmRSS"]
tini_pss = mem["tini-static"]["Pss"]
print("against tini-static (overhead = median minus the no-init median; lower is better):")
for n, _, _ in INITS[2:]:
    over = statistics.median(times[n]) - base
    ratio = ("%.2fx" % (over / tmed)) if tmed > 0.05 else "n/a (tini's overhead ~0)"
    print("  %-36s start-up overhead %+7.2f ms vs %+.2f ms (%s);  VmRSS %.2fx, Pss %.2fx" % (
        n, over, tmed, ratio, mem[n]["VmRSS"] / tini_rss, mem[n]["Pss"] / tini_pss))
s_rss = mem["sentry static, full gate (no-op)"]["VmRSS"]
s_over = statistics.median(times["sentry static --supervise-only"]) - base
print()
print("targets (static sentry):")
verdict = ("MET" if s_over <= tmed else
           "within 0.25 ms (noise)" if s_over <= tmed + 0.25 else "NOT MET")
print("  start-up overhead of the init (--supervise-only) no worse than tini-static: %s "
      "(%+.2f ms vs %+.2f ms)" % (verdict, s_over, tmed))
print("  VmRSS after the gate no more than tini-static's: %s (%d KiB vs %d KiB)" % (
    "MET" if s_rss <= tini_rss else "NOT MET", s_rss, tini_rss))
print("  stretch, VmRSS within 2x of ~170 KiB (<= 340 KiB): %s (%d KiB)" % (
    "MET" if s_rss <= 340 else "NOT MET", s_rss))
