"""The bench's own tools (`make bench-test`): what the figures of bench/ rest on.

- build/bench/limit (bench/limit.c) answers its line protocol against a real
  PostgreSQL (tests/pgserver.py, ssl=on): connect plain and with TLS, a refused
  password reported without the password, the SCRAM derivation, spawning a program
  with DATABASE_URL set and its output kept off the protocol, exit codes and signals.
- bench/timeline.py reads traces recorded on this kernel (tests/bench/trace_*.txt,
  one no-op gate run each, plain and TLS) into the right steps, ignoring the events
  of other processes.

No timing is asserted: the bench measures, the tests check that it measures the
right thing. Run: /usr/bin/python3 -m pytest -q tests/bench (BENCH_LIMIT_BIN selects
another limit binary).
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "tests"))

from pgserver import PASSWORD, PgServer  # noqa: E402

LIMIT = REPO / (os.environ.get("BENCH_LIMIT_BIN") or "build/bench/limit")


# ---------------------------------------------------------------- bench/limit

@pytest.fixture(scope="module")
def pg():
    with PgServer(ssl=True) as srv:
        yield srv


class Limit:
    def __init__(self, *gate):
        assert LIMIT.exists(), "%s is missing: make build/bench/limit" % LIMIT
        self.p = subprocess.Popen([str(LIMIT)] + (["--"] + list(gate) if gate else []),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().rstrip("\n")

    def close(self):
        out, err = self.p.communicate(timeout=30)
        return self.p.returncode, out, err


def numbers(answer, n):
    fields = answer.split()
    assert fields[0] == "ok" and len(fields) == n + 1, answer
    return [float(x) for x in fields[1:]]


def test_connect_plain_and_tls(pg):
    lim = Limit()
    for mode in ("disable", "prefer", "require"):
        total, connect, cpu = numbers(lim.ask("C %s?sslmode=%s" % (pg.url, mode)), 3)
        assert total >= connect > 0 and cpu >= 0
    assert lim.close()[0] == 0


def test_tls_is_really_used(pg):
    """sslmode=require against this server succeeds only over TLS; against a
    server without TLS it must fail, so the TLS figures are TLS."""
    lim = Limit()
    assert lim.ask("C %s?sslmode=require" % pg.url).startswith("ok ")
    with PgServer() as plain:
        answer = lim.ask("C %s?sslmode=require" % plain.url)
    assert answer.startswith("err connect: ") and "SSL" in answer, answer
    assert lim.close()[0] == 0


def test_refused_password_is_reported_without_it(pg):
    wrong = "Zq9#xW7!kVj2"
    lim = Limit()
    answer = lim.ask("C postgresql://sentry:%s@127.0.0.1:%d/app?sslmode=disable"
                     % (wrong.replace("#", "%23").replace("!", "%21"), pg.port))
    rc, out, err = lim.close()
    assert answer.startswith("err connect: ") and "password authentication failed" in answer
    for text in (answer, out, err):
        for i in range(len(wrong) - 2):
            assert wrong[i:i + 3] not in text
        for i in range(len(PASSWORD) - 2):
            assert PASSWORD[i:i + 3] not in text
    assert rc == 0


def test_scram_derivation():
    lim = Limit()
    assert numbers(lim.ask("S 4096"), 1)[0] > 0
    assert numbers(lim.ask("S 1"), 1)[0] >= 0
    for bad in ("S 0", "S -3", "S 4096x", "S "):
        assert lim.ask(bad).startswith("err bad iteration count"), bad
    assert lim.close()[0] == 0


def test_unknown_commands():
    lim = Limit()
    for bad in ("", "X y", "C", "connect x", "Cx"):
        assert lim.ask(bad).startswith("err unknown command"), repr(bad)
    assert lim.close()[0] == 0


def test_gate_needs_a_command():
    lim = Limit()
    assert lim.ask("G host=127.0.0.1") == "err no gate command after --"
    assert lim.close()[0] == 0


def test_usage():
    p = subprocess.run([str(LIMIT), "foo"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert p.returncode == 64 and p.stderr.startswith("usage: limit")
    p = subprocess.run([str(LIMIT), "--"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert p.returncode == 64


def test_spawn_sets_database_url_and_reports_the_exit():
    script = ('echo noise; echo noise >&2; '
              '[ "$DATABASE_URL" = "postgresql://x@h/db" ] && exit 7; exit 9')
    lim = Limit("/bin/sh", "-c", script)
    ms, code, cpu = numbers(lim.ask("G postgresql://x@h/db"), 3)
    assert code == 7 and ms > 0 and cpu >= 0
    assert numbers(lim.ask("G other"), 3)[1] == 9
    rc, out, err = lim.close()
    assert rc == 0 and "noise" not in out + err


def test_spawn_reports_a_signal_as_128_plus_n():
    lim = Limit("/bin/sh", "-c", "kill -TERM $$")
    assert numbers(lim.ask("G x"), 3)[1] == 143
    assert lim.close()[0] == 0


def test_spawn_of_a_missing_program():
    lim = Limit("/nonexistent/gate")
    assert lim.ask("G x").startswith("err posix_spawn /nonexistent/gate")
    assert lim.close()[0] == 0


# ---------------------------------------------------------------- bench/timeline.py

def timeline():
    """bench/timeline.py as a module (it reads its arguments when loaded)."""
    spec = importlib.util.spec_from_file_location("timeline", REPO / "bench" / "timeline.py")
    mod = importlib.util.module_from_spec(spec)
    saved = sys.argv
    sys.argv = ["timeline.py", "/work", "plain", "tls", "/syms", "/limit", "1"]
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.argv = saved
    return mod


def stamp(text, pattern, nth=0):
    """The timestamp of the NTH line matching PATTERN, read independently."""
    hits = [float(re.search(r"(\d+\.\d+):", l).group(1))
            for l in text.splitlines() if re.search(pattern, l)]
    return hits[nth] if nth >= 0 else hits[-1]


def steps_of(name):
    text = (HERE / name).read_text()
    tl = timeline()
    return text, dict(tl.steps(tl.parse(text)))


def near(a, b):
    return a is not None and abs(a - b) < 1e-6


def test_plain_trace_steps():
    text, st = steps_of("trace_plain.txt")
    ms = lambda a, b: (b - a) * 1000.0
    execve, main = stamp(text, r"sys_execve\("), stamp(text, r" main_\d+:")
    connect = stamp(text, r"sys_connect\(")
    assert near(st["exec to main(): kernel exec, musl start-up, CPU probe"], ms(execve, main))
    assert near(st["= before the first connect"], ms(execve, connect))
    assert near(st["PBKDF2: scram_SaltedPassword, 4096 HMAC-SHA-256"],
                ms(stamp(text, r" pbkdf2_\d+:"), stamp(text, r" pbkdf2_ret_\d+:")))
    assert near(st["  of which fsync"], ms(stamp(text, r"sys_fsync\("), stamp(text, r"sys_fsync ->")))
    assert near(st["= total, execve to exit_group"], ms(execve, stamp(text, r"sys_exit_group\(")))
    queries = [k for k in st if k.startswith("query ")]
    want = ["SELECT pg_try_advisory_lock(", "SELECT to_regclass('alembic_version')",
            "SELECT version_num FROM alembic", "SELECT EXISTS (SELECT 1 FROM",
            "SELECT EXISTS (SELECT 1 FROM", "SELECT pg_advisory_unlock("]
    assert len(queries) == len(want)
    assert all(q.split(": ", 1)[1].startswith(w) for q, w in zip(queries, want)), queries
    assert not any(k.startswith("TLS:") for k in st)
    # every step a number, and the steps of the connect add up to it
    assert all(v is not None and v >= 0 for v in st.values())
    parts = ["TCP connect, SSLRequest, the server's answer",
             "startup packet until the server asks for SCRAM",
             "SCRAM nonce: pg_strong_random (OpenSSL RAND set-up)",
             "round trip: client-first, server-first",
             "PBKDF2: scram_SaltedPassword, 4096 HMAC-SHA-256",
             "round trip: client-final, server-final, backend ready"]
    connect_call = stamp(text, r" connect_call_\d+:")
    assert near(sum(st[p] for p in parts) + ms(connect_call, connect),
                st["= connect (PQconnectdbParams)"])


def test_tls_trace_steps():
    text, st = steps_of("trace_tls.txt")
    ms = lambda a, b: (b - a) * 1000.0
    done = stamp(text, r"ssl_connect_ret_\d+:.*rc=1$", -1)
    assert near(st["TLS: handshake (SSL_connect): round trips, key exchange"],
                ms(stamp(text, r" ssl_init_ret_\d+:"), done))
    assert near(st["startup packet until the server asks for SCRAM"],
                ms(done, stamp(text, r" random_\d+:")))
    assert st["TLS: OpenSSL init, SSL_CTX (initialize_SSL)"] > 0
    assert len([k for k in st if k.startswith("query ")]) == 6


def test_other_processes_are_ignored():
    """Lines of another PID (a process that slipped through set_event_pid, or the
    spawner), before and among the gate's, change nothing."""
    text = (HERE / "trace_plain.txt").read_text()
    foreign = [l.replace("-%s " % pid, "-1 ") for l in text.splitlines()
               for pid in re.findall(r"-(\d+)\s+\[", l)[:1]
               if re.search(r"sys_(execve|connect|sendto|fsync)\(", l)]
    lines = text.splitlines()
    mixed = "\n".join(foreign[:2] + lines[:30] + foreign + lines[30:])
    tl = timeline()
    assert tl.steps(tl.parse(mixed)) == tl.steps(tl.parse(text))
