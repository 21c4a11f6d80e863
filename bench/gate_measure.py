#!/usr/bin/python3
"""The measuring half of bench/gate.sh (see there and bench/README.md, "The gate against
its limit").

    gate_measure.py WORK_DIR PLAIN_URL TLS_URL ROUNDS GATE_BIN LIMIT_BIN COLUMNS

WORK_DIR holds app/ (the sample app, migrated to its heads on both servers). One
LIMIT_BIN process (bench/limit.c) does all the timing, so that the gate's figure is
posix_spawn to waitpid with no Python in it and the limit's connections are warm. Each
round runs every case once, in an order shuffled anew each round (fixed seed), so that
load on this shared machine hits every case alike; medians over ROUNDS rounds.
"""

import json
import os
import random
import statistics
import subprocess
import sys

work, plain_url, tls_url, rounds, gate_bin, limit_bin, columns = sys.argv[1:8]
rounds = int(rounds)
app_dir = os.path.join(work, "app")
status_file = os.path.join(work, "status.json")
TARGET = 2.0
MAX_SIZE = 4 * 1024 * 1024
ENV = {
    "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
    "FLASK_APP": "app.py", "SENTRY_STATUS_FILE": status_file,
    "SENTRY_REQUIRE_COLUMNS": columns,
}
GATE = [gate_bin] + [a for c in columns.split(",") for a in ("--require-column", c)]


def die(msg):
    sys.stderr.write("bench/gate: " + msg.rstrip() + "\n")
    sys.exit(1)


def with_param(url, key, value):
    return "%s%s%s=%s" % (url, "&" if "?" in url else "?", key, value)


disable_url = with_param(plain_url, "sslmode", "disable")
# name -> (command letter, argument)
CASES = {
    "gate plain": ("G", plain_url), "limit plain": ("C", plain_url),
    "gate tls": ("G", tls_url), "limit tls": ("C", tls_url),
    "gate disable": ("G", disable_url), "limit disable": ("C", disable_url),
    "scram": ("S", "4096"),
}


class Limit:
    """The long-lived bench/limit process: one command line in, one answer line out."""

    def __init__(self):
        self.p = subprocess.Popen([limit_bin, "--"] + GATE, cwd=app_dir, env=ENV,
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


def warm_up(limit):
    """One uncounted run of each case; the gate's log must show the no-op path."""
    for url in (plain_url, tls_url, disable_url):
        p = subprocess.run(GATE, cwd=app_dir, env=dict(ENV, DATABASE_URL=url),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        log = p.stdout.decode(errors="replace")
        if p.returncode != 0 or "already at heads" not in log:
            die("the gate did not take the no-op path (exit %d):\n%s" % (p.returncode, log))
    for letter, arg in CASES.values():
        limit.ask(letter, arg)


def measure():
    limit = Limit()
    warm_up(limit)
    samples = {name: [] for name in CASES}
    connect_only = {"limit plain": [], "limit tls": [], "limit disable": []}
    order = list(CASES)
    rng = random.Random(16)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            letter, arg = CASES[name]
            got = limit.ask(letter, arg)
            samples[name].append(got[0])
            if letter == "G":
                if int(got[1]) != 0:
                    die("%s exited %d" % (name, int(got[1])))
                st = check_status()
            elif letter == "C":
                connect_only[name].append(got[1])
    limit.close()
    return samples, connect_only, st


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def row(label, xs):
    med = statistics.median(xs)
    iqr = (pct(xs, 0.75) - pct(xs, 0.25)) / med * 100 if med else 0.0
    return "  %-58s %8.2f %8.2f %8.2f %7.0f%%" % (label, med, min(xs), pct(xs, 0.9), iqr)


def ratio_lines(samples, kind):
    g, lim = samples["gate " + kind], samples["limit " + kind]
    r = statistics.median(g) / statistics.median(lim)
    paired = statistics.median([a / b for a, b in zip(g, lim)])
    verdict = "MET" if r <= TARGET else "NOT MET"
    return ["  %-58s %8.2f   (median of the per-round ratios %.2f); target <= %.1f: %s"
            % ("ratio gate / limit (medians)", r, paired, TARGET, verdict)]


def report(samples, connect_only, st):
    size = os.path.getsize(gate_bin)
    load = os.getloadavg()
    print()
    print("migration-sentry no-op gate against its limit: %d rounds, every case once a round, "
          "in shuffled order (ms)" % rounds)
    print("gate:  %s, %d bytes (%d KiB; limit %d KiB: %s)" % (
        gate_bin, size, (size + 1023) // 1024, MAX_SIZE // 1024,
        "MET" if size <= MAX_SIZE else "NOT MET"))
    print("limit: %s (bench/limit.c: connect as the gate does, SELECT 1, PQfinish; warm)"
          % limit_bin)
    print("PostgreSQL %s on 127.0.0.1, scram-sha-256; load average now %.2f %.2f %.2f" % (
        st.get("server_version"), load[0], load[1], load[2]))
    print()
    print("  %-58s %8s %8s %8s %8s" % ("", "median", "min", "p90", "IQR"))
    print("plain: the URL as given (sslmode=prefer), the server has no TLS")
    print(row("gate, no-op (static binary, spawn to exit)", samples["gate plain"]))
    print(row("limit: connect + SELECT 1 + close, in-process", samples["limit plain"]))
    print(row("  of which the connect", connect_only["limit plain"]))
    print("\n".join(ratio_lines(samples, "plain")))
    print("TLS: sslmode=require, server with ssl=on (TLS 1.3, RSA 2048)")
    print(row("gate, no-op (static binary, spawn to exit)", samples["gate tls"]))
    print(row("limit: connect + SELECT 1 + close, in-process", samples["limit tls"]))
    print(row("  of which the connect", connect_only["limit tls"]))
    print("\n".join(ratio_lines(samples, "tls")))
    print("for reference")
    print(row("gate, sslmode=disable (no SSLRequest round trip)", samples["gate disable"]))
    print(row("limit, sslmode=disable", samples["limit disable"]))
    print(row("SCRAM client key alone (PBKDF2-HMAC-SHA-256, 4096 rounds)", samples["scram"]))
    print("IQR: interquartile range as a share of the median, a measure of this run's noise.")


def main():
    samples, connect_only, st = measure()
    report(samples, connect_only, st)


if __name__ == "__main__":
    main()
