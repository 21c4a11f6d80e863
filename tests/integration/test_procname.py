"""The process name as PID 1 (contract, "Build and run"): `migration-sentry`
in /proc/1/comm and `ps`, during the gate and, after the re-exec into the
bare supervisor, while the command runs.

The sentry runs as PID 1 of a new PID namespace (unshare --pid --fork
--mount-proc). A probe, a small Python script, looks at PID 1 from inside the
namespace twice: as the migration command (it records, then execs the real
`flask db upgrade`, so this is a whole gate run) and as the command after
`--` (it records, then waits to be stopped). It records /proc/1/comm,
/proc/1/cmdline, and what `ps -o comm=` and `ps -o args=` print for PID 1.

The kernel keeps 15 bytes of a process name (TASK_COMM_LEN 16, with the
NUL): "migration-sentry" is 16 long, so comm reads "migration-sentr" for any
exec of the binary; what must never show is `exe`, the name exec of
/proc/self/exe gives.
"""

import json
import os
import signal
import subprocess
import time

import pytest

COMM = "migration-sentry"[:15]
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]

PROBE = r'''
import json, os, subprocess, sys, time
out, then = sys.argv[1], sys.argv[2:]
def ps(fmt):
    return subprocess.run(["ps", "-o", fmt, "-p", "1"], stdout=subprocess.PIPE,
                          universal_newlines=True).stdout.strip()
with open("/proc/1/comm") as f:
    comm = f.read().rstrip("\n")
with open("/proc/1/cmdline", "rb") as f:
    cmdline = [a.decode() for a in f.read().split(b"\0") if a]
rec = {"comm": comm, "cmdline": cmdline, "ps_comm": ps("comm="), "ps_args": ps("args="),
       "self_pid": os.getpid()}
with open(out + ".tmp", "w") as f:
    json.dump(rec, f)
os.rename(out + ".tmp", out)
if then == ["wait"]:
    while True:
        time.sleep(0.2)
os.execvp(then[0], then)
'''

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unshare --pid needs root")


def wait_json(path, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if proc.poll() is not None:
            raise AssertionError("the sentry exited (rc %s) before %s was written:\n%s"
                                 % (proc.returncode, path.name, proc.stderr.read().decode()))
        time.sleep(0.1)
    raise AssertionError("%s not written in %ss" % (path, timeout))


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def test_pid1_is_migration_sentry_during_the_gate_and_while_supervising(sentry, db, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    gate_rec, run_rec = tmp_path / "gate.json", tmp_path / "run.json"
    argv = UNSHARE + [sentry.binary,
                      "--migrate-cmd", "python3 %s %s flask db upgrade" % (probe, gate_rec),
                      "--require-column", "proposals.visitor_session_id",
                      "--", "python3", str(probe), str(run_rec), "wait"]
    p = subprocess.Popen(argv, cwd=str(sentry.cwd), env=sentry.env(), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        gate = wait_json(gate_rec, p)
        run = wait_json(run_rec, p)
        # the same process seen from outside the namespace
        kids = children_of(p.pid)
        assert len(kids) == 1, kids
        with open("/proc/%d/comm" % kids[0]) as f:
            outside = f.read().rstrip("\n")
        ps_outside = subprocess.run(["ps", "-o", "comm=", "-p", str(kids[0])],
                                    stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
        os.kill(kids[0], signal.SIGTERM)  # to the sentry, which forwards it to the probe
        rc = p.wait(timeout=30)
        err = p.stderr.read().decode("utf-8", "replace")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    # during the gate: the original exec of the binary
    assert gate["comm"] == COMM, gate
    assert gate["ps_comm"] == COMM, gate
    assert os.path.basename(gate["cmdline"][0]) == "migration-sentry", gate
    # the gate passed (a real migration ran) and re-executed into the supervisor
    assert "=== MIGRATION SENTRY: success ===" in err, err
    assert db.alembic_version() == "3c4d5e6f7081"
    assert run["cmdline"][:1] == ["migration-sentry"], run
    assert run["cmdline"][1].startswith("--supervise-only="), run
    # ...and is still called migration-sentry, never `exe`
    assert run["comm"] == COMM, run
    assert run["ps_comm"] == COMM, run
    assert run["ps_args"].startswith("migration-sentry --supervise-only="), run
    assert outside == COMM and ps_outside == COMM, (outside, ps_outside)
    assert rc == 128 + signal.SIGTERM, (rc, err)
