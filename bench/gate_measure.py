#!/usr/bin/python3
"""The measuring half of bench/gate.sh (see there and bench/README.md, "The gate against
its limit").

    gate_measure.py WORK_DIR PLAIN_URL TLS_URL ROUNDS COLUMNS LABEL=GATE_BIN:LIMIT_BIN...

WORK_DIR holds app/ (the sample app, migrated to its heads on both servers). The ratio is
the no-op gate's: run in a copy of it without migrations/schema.json (app-noschema/); the
gate with the sample's schema file is measured beside it, against its own budget (issue 13:
at most 1.3x the no-op gate). Each build
(a gate and the limit linked the same way) gets one long-lived LIMIT_BIN process
(bench/limit.c) that does all its timing: the gate's figure is posix_spawn to waitpid
with no Python in it, and the limit's connections are warm. Each round runs every case
of every build once, in an order shuffled anew each round (fixed seed), so that load on
this shared machine hits every case alike; medians over ROUNDS rounds.
"""

import json
import os
import random
import shutil
import statistics
import subprocess
import sys

work, plain_url, tls_url, rounds, columns = sys.argv[1:6]
builds = [(b.split("=", 1)[0], *b.split("=", 1)[1].split(":", 1)) for b in sys.argv[6:]]
rounds = int(rounds)
schema_app_dir = os.path.join(work, "app")
app_dir = os.path.join(work, "app-noschema")
status_file = os.path.join(work, "status.json")
TARGET = 2.0
SCHEMA_TARGET = 1.3
MAX_SIZE = 4 * 1024 * 1024
ENV = {
    "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
    "FLASK_APP": "app.py", "SENTRY_STATUS_FILE": status_file,
    "SENTRY_REQUIRE_COLUMNS": columns,
}
FLAGS = [a for c in columns.split(",") for a in ("--require-column", c)]


def die(msg):
    sys.stderr.write("bench/gate: " + msg.rstrip() + "\n")
    sys.exit(1)


def with_param(url, key, value):
    return "%s%s%s=%s" % (url, "&" if "?" in url else "?", key, value)


disable_url = with_param(plain_url, "sslmode", "disable")
# case -> (command letter, argument)
CASES = {
    "gate plain": ("G", plain_url), "limit plain": ("C", plain_url),
    "gate tls": ("G", tls_url), "limit tls": ("C", tls_url),
    "gate disable": ("G", disable_url), "limit disable": ("C", disable_url),
    "scram": ("S", "4096"),
    "gate schema": ("G", plain_url),  # in schema_app_dir, by its own limit process
}


class Limit:
    """A long-lived bench/limit process: one command line in, one answer line out."""

    def __init__(self, limit_bin, gate_bin, cwd):
        self.p = subprocess.Popen([limit_bin, "--", gate_bin] + FLAGS, cwd=cwd, env=ENV,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  universal_newlines=True)

    def ask(self, letter, arg):
        self.p.stdin.write("%s %s\n" % (letter, arg))
        self.p.stdin.flush()
        answer = self.p.stdout.readline().split()
        if not answer or answer[0] != "ok":
            die("%s: limit answered %r" % (letter, " ".join(answer) or "nothing (it died)"))
        return [float(x) for x in answer[1:]]

    def close(self):
        self.p.stdin.close()
        if self.p.wait(timeout=30) != 0:
            die("limit exited %d" % self.p.returncode)


def check_status():
    with open(status_file) as f:
        st = json.load(f)
    if st.get("migrated") is not True or st.get("migration", {}).get("ran"):
        die("unexpected status file after a gate run: %s" % json.dumps(st))
    return st


def warm_up(gate_bin, limit, schema_limit):
    """One uncounted run of each case; the gate's log must show the no-op path."""
    for url, cwd in ((plain_url, app_dir), (tls_url, app_dir), (disable_url, app_dir),
                     (plain_url, schema_app_dir)):
        p = subprocess.run([gate_bin] + FLAGS, cwd=cwd, env=dict(ENV, DATABASE_URL=url),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        log = p.stdout.decode(errors="replace")
        if p.returncode != 0 or "already at heads" not in log:
            die("%s did not take the no-op path (exit %d):\n%s" % (gate_bin, p.returncode, log))
    for case, (letter, arg) in CASES.items():
        (schema_limit if case == "gate schema" else limit).ask(letter, arg)


def measure():
    """{(build, case): [ms]}, {(build, case): [connect ms]}, the last status file."""
    if not os.path.isdir(app_dir):
        shutil.copytree(schema_app_dir, app_dir)
        os.unlink(os.path.join(app_dir, "migrations", "schema.json"))
    limits, schema_limits = {}, {}
    for label, gate_bin, limit_bin in builds:
        limits[label] = Limit(limit_bin, gate_bin, app_dir)
        schema_limits[label] = Limit(limit_bin, gate_bin, schema_app_dir)
        warm_up(gate_bin, limits[label], schema_limits[label])
    samples = {(b, c): [] for b in limits for c in CASES}
    connect_only = {(b, c): [] for b in limits for c in CASES}
    cpu = {(b, c): [] for b in limits for c in CASES}
    order = list(samples)
    rng = random.Random(16)
    st = {}
    for _ in range(rounds):
        rng.shuffle(order)
        for build, case in order:
            letter, arg = CASES[case]
            got = (schema_limits if case == "gate schema" else limits)[build].ask(letter, arg)
            samples[(build, case)].append(got[0])
            if letter == "G":
                if int(got[1]) != 0:
                    die("%s: %s exited %d" % (build, case, int(got[1])))
                st = check_status()
                cpu[(build, case)].append(got[2])
            elif letter == "C":
                connect_only[(build, case)].append(got[1])
                cpu[(build, case)].append(got[2])
    for limit in list(limits.values()) + list(schema_limits.values()):
        limit.close()
    return samples, connect_only, cpu, st


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def row(label, xs):
    med = statistics.median(xs)
    iqr = (pct(xs, 0.75) - pct(xs, 0.25)) / med * 100 if med else 0.0
    return "  %-58s %8.2f %8.2f %8.2f %7.0f%%" % (label, med, min(xs), pct(xs, 0.9), iqr)


def cpu_row(label, xs):
    """CPU time is sampled at the scheduler's tick here: single runs read 0 or a
    multiple of the tick, so only the mean over many runs means something."""
    return "  %-58s %8.2f   (mean: tick-sampled)" % (label, statistics.mean(xs))


def ratio(samples, build, kind):
    g, lim = samples[(build, "gate " + kind)], samples[(build, "limit " + kind)]
    r = statistics.median(g) / statistics.median(lim)
    paired = statistics.median([a / b for a, b in zip(g, lim)])
    low = pct(g, 0.1) / pct(lim, 0.1)
    return r, ("  %-58s %8.2f   (per-round ratios' median %.2f, p10s' ratio %.2f); "
               "target <= %.1f: %s" % ("ratio gate / limit (medians)", r, paired, low, TARGET,
                                       "MET" if r <= TARGET else "NOT MET"))


def report_build(samples, connect_only, cpu, build, gate_bin, limit_bin):
    size = os.path.getsize(gate_bin)
    s = lambda case: samples[(build, case)]
    print("[%s] gate:  %s, %d bytes (%d KiB; limit %d KiB: %s)" % (
        build, gate_bin, size, (size + 1023) // 1024, MAX_SIZE // 1024,
        "MET" if size <= MAX_SIZE else "NOT MET"))
    print("[%s] limit: %s" % (build, limit_bin))
    print("  %-58s %8s %8s %8s %8s" % ("", "median", "min", "p90", "IQR"))
    print("plain: the URL as given (sslmode=prefer), the server has no TLS")
    print(row("gate, no-op (static binary, spawn to exit; required columns, no schema file)",
              s("gate plain")))
    print(row("limit: connect + SELECT 1 + close, in-process", s("limit plain")))
    print(row("  of which the connect", connect_only[(build, "limit plain")]))
    print(ratio(samples, build, "plain")[1])
    print(cpu_row("gate's CPU time (user + system)", cpu[(build, "gate plain")]))
    print(cpu_row("limit's CPU time (user + system)", cpu[(build, "limit plain")]))
    print("TLS: sslmode=require, server with ssl=on (TLS 1.3, RSA 2048)")
    print(row("gate, no-op (static binary, spawn to exit)", s("gate tls")))
    print(row("limit: connect + SELECT 1 + close, in-process", s("limit tls")))
    print(row("  of which the connect", connect_only[(build, "limit tls")]))
    print(ratio(samples, build, "tls")[1])
    print(cpu_row("gate's CPU time (user + system)", cpu[(build, "gate tls")]))
    print(cpu_row("limit's CPU time (user + system)", cpu[(build, "limit tls")]))
    print("the no-op gate with the sample app's schema file (migrations/schema.json)")
    print(row("gate, no-op, schema file held against the database", s("gate schema")))
    sr = statistics.median(s("gate schema")) / statistics.median(s("gate plain"))
    print("  %-58s %8.2f   target <= %.1f: %s" % ("ratio to the no-op gate without it (medians)", sr,
                                                  SCHEMA_TARGET, "MET" if sr <= SCHEMA_TARGET else "NOT MET"))
    print("for reference")
    print(row("gate, sslmode=disable (no SSLRequest round trip)", s("gate disable")))
    print(row("limit, sslmode=disable", s("limit disable")))
    print(row("SCRAM client key alone (PBKDF2-HMAC-SHA-256, 4096 rounds)", s("scram")))
    print()


def report(samples, connect_only, cpu, st):
    load = os.getloadavg()
    print()
    print("migration-sentry no-op gate against its limit: %d rounds, every case once a round, "
          "in shuffled order (ms)" % rounds)
    print("limit: bench/limit.c, linked as the gate is: connect as the gate does, SELECT 1, "
          "PQfinish; warm")
    print("PostgreSQL %s on 127.0.0.1, scram-sha-256; load average now %.2f %.2f %.2f" % (
        st.get("server_version"), load[0], load[1], load[2]))
    print()
    for label, gate_bin, limit_bin in builds:
        report_build(samples, connect_only, cpu, label, gate_bin, limit_bin)
    if len(builds) > 1:
        print("side by side (medians, ms; ratio gate/limit)")
        print("  %-20s %9s %9s %7s %9s %9s %7s %9s" % (
            "", "gate", "limit", "ratio", "gate TLS", "limit TLS", "ratio", "SCRAM"))
        for label, _, _ in builds:
            m = lambda case: statistics.median(samples[(label, case)])
            print("  %-20s %9.2f %9.2f %7.2f %9.2f %9.2f %7.2f %9.2f" % (
                label, m("gate plain"), m("limit plain"), ratio(samples, label, "plain")[0],
                m("gate tls"), m("limit tls"), ratio(samples, label, "tls")[0], m("scram")))
    print("IQR: interquartile range as a share of the median, a measure of this run's noise.")


def main():
    if not builds:
        die("no build to measure (LABEL=GATE_BIN:LIMIT_BIN)")
    report(*measure())


if __name__ == "__main__":
    main()
