"""migration-sentry as PID 1 (unshare --pid --fork --mount-proc), as an init
with --init when not PID 1, and exec otherwise (issue 4).

The gate runs against a real database with an empty versions folder (heads
unknown) and --no-migrate (SENTRY_NO_MIGRATE), so it passes in milliseconds
without starting any process of its own, and these tests are about what
comes after it."""

import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import DEFAULT_SIGNALS, default_signals, wait_dead

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


@pytest.fixture
def init(sentry, tmp_path):
    empty = tmp_path / "versions"
    empty.mkdir()
    # An empty folder is "heads unknown" (issue 9), which would run the
    # migration command: --no-migrate keeps the command's pid the first.
    return Init(sentry, {"SENTRY_MIGRATIONS_DIR": str(empty), "SENTRY_MIGRATE_CMD": "true",
                         "SENTRY_NO_MIGRATE": "1"}, tmp_path)


def children_of(pid):
    try:
        return [int(x) for x in Path("/proc/%d/task/%d/children" % (pid, pid)).read_text().split()]
    except OSError:
        return []


class Init:
    def __init__(self, sentry, env, tmp):
        self.sentry = sentry
        self.env = sentry.env(env)
        self.tmp = tmp

    def argv(self, cmd, pid1=True, flags=()):
        return (DEFAULT_SIGNALS + (UNSHARE if pid1 else []) + [self.sentry.binary] + list(flags)
                + ["--"] + list(cmd))

    def run(self, cmd, pid1=True, flags=(), timeout=30, env=None, **kw):
        e = dict(self.env, **(env or {}))
        p = subprocess.run(self.argv(cmd, pid1, flags), env=e, cwd=str(self.sentry.cwd),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def start(self, cmd, pid1=True, flags=(), env=None, **kw):
        e = dict(self.env, **(env or {}))
        p = subprocess.Popen(self.argv(cmd, pid1, flags), env=e, cwd=str(self.sentry.cwd),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        return p

    def sentry_pid(self, unshare_proc, timeout=10):
        """The sentry's pid outside the namespace: unshare's only child."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kids = children_of(unshare_proc.pid)
            if kids:
                return kids[0]
            time.sleep(0.02)
        raise AssertionError("unshare has no child")


def wait_file(path, text, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.02)
    raise AssertionError("%r never appeared in %s (%r)" % (
        text, path, path.read_text() if path.exists() else None))


@pytest.mark.parametrize("code", [0, 1, 2, 42, 99, 127, 128, 200, 255])
def test_exit_code_passthrough_as_pid1(init, code):
    rc, out, err = init.run(["sh", "-c", "exit %d" % code])
    assert rc == code, err
    assert "=== MIGRATION SENTRY: success ===" in err


def test_runs_as_pid1_and_supervises_bare(init, db):
    rc, out, err = init.run(["sh", "-c",
                             "echo pid=$$ ppid=$PPID; tr '\\0' ' ' < /proc/1/cmdline; echo; "
                             "sleep 0.2"])
    assert rc == 0, err
    assert "pid=2 ppid=1" in out
    assert "migration-sentry --supervise-only=5 -- sh -c" in out


def test_supervisor_holds_no_database_connection(init, db, tmp_path):
    flag = tmp_path / "ready"
    p = init.start(["sh", "-c", "touch %s; sleep 30" % flag])
    try:
        wait_file_exists(flag)
        n = db.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migration-sentry'")
        assert n == "0"
        pid = init.sentry_pid(p)
        fds = os.listdir("/proc/%d/fd" % pid)
        assert len(fds) <= 5, fds  # stdin, stdout, stderr, signalfd
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()


def wait_file_exists(path, timeout=15):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "%s never appeared" % path
        time.sleep(0.02)


def test_sigterm_reaches_trapping_child(init, tmp_path):
    out = tmp_path / "out"
    p = init.start(["sh", "-c", "trap 'echo got TERM >> %s; exit 3' TERM; echo ready >> %s; "
                    "while :; do sleep 0.05; done" % (out, out)])
    wait_file(out, "ready")
    os.kill(init.sentry_pid(p), signal.SIGTERM)
    assert p.wait(timeout=10) == 3
    assert "got TERM" in out.read_text()


def test_default_term_gives_143(init, tmp_path):
    out = tmp_path / "out"
    p = init.start(["sh", "-c", "echo ready > %s; exec sleep 30" % out])
    wait_file(out, "ready")
    os.kill(init.sentry_pid(p), signal.SIGTERM)
    assert p.wait(timeout=10) == 143


FORWARDED = ["HUP", "INT", "QUIT", "USR1", "USR2", "WINCH", "TTIN", "TTOU", "CONT", "ALRM", "PIPE"]

CATCHER = r"""
import os, signal, sys, time
out = sys.argv[1]
names = sys.argv[2:]
got = []
def name(n):
    if n >= signal.SIGRTMIN:
        return "SIGRTMIN+%d" % (n - signal.SIGRTMIN)
    return signal.Signals(n).name
def h(n, f):
    got.append(name(n))
    with open(out, "a") as fh:
        fh.write(name(n) + "\n")
for n in names:
    signal.signal(getattr(signal, "SIG" + n), h)
signal.signal(signal.SIGRTMIN + 3, h)
open(out, "a").write("ready\n")
deadline = time.time() + 20
while time.time() < deadline and len(got) < len(names) + 1:
    time.sleep(0.02)
sys.exit(0 if len(got) == len(names) + 1 else 1)
"""


def test_every_catchable_signal_is_forwarded(init, tmp_path):
    out = tmp_path / "sigs"
    p = init.start(["/usr/bin/python3", "-c", CATCHER, str(out)] + FORWARDED)
    wait_file(out, "ready")
    pid = init.sentry_pid(p)
    for name in FORWARDED:
        os.kill(pid, getattr(signal, "SIG" + name))
        wait_file(out, "SIG" + name)
    os.kill(pid, signal.SIGRTMIN + 3)
    wait_file(out, "SIGRTMIN+3")
    assert p.wait(timeout=10) == 0, p.stderr.read().decode()
    got = out.read_text().split()
    for name in FORWARDED:
        assert "SIG" + name in got


def test_fifty_orphans_are_reaped(init):
    script = ("for i in $(seq 50); do (sleep 0.2 &) ; done; sleep 1.5; "
              "ps -eo stat=,comm= | grep -c '^Z' || true")
    rc, out, err = init.run(["sh", "-c", script])
    assert rc == 0, err
    assert out.strip() == "0", out


def test_leftover_gets_term_and_its_grace(init, tmp_path):
    out = tmp_path / "left"
    leftover = ("trap 'echo TERM >> %s; sleep 1; echo done >> %s; exit 0' TERM; "
                "echo up >> %s; while :; do sleep 0.05; done" % (out, out, out))
    t0 = time.monotonic()
    rc, _, err = init.run(["sh", "-c", "sh -c \"%s\" & while ! grep -q up %s 2>/dev/null; do sleep 0.02; done; exit 4"
                           % (leftover, out)])
    took = time.monotonic() - t0
    assert rc == 4, err
    assert out.read_text().split() == ["up", "TERM", "done"]
    assert took < 5, took


def test_leftover_ignoring_term_is_killed_after_grace(init, tmp_path):
    out = tmp_path / "left"
    t0 = time.monotonic()
    rc, _, err = init.run(["sh", "-c", "sh -c \"trap '' TERM; echo up > %s; exec sleep 60\" & "
                           "while ! [ -s %s ]; do sleep 0.02; done; exit 0" % (out, out)],
                          env={"SENTRY_GRACE": "1"})
    took = time.monotonic() - t0
    assert rc == 0, err
    assert 0.9 <= took < 8, took
    assert "SIGKILL" in err


def test_child_starts_with_empty_mask_and_inherited_ignores(init):
    def ignore_usr1():
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    rc, out, err = init.run(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"], preexec_fn=ignore_usr1)
    assert rc == 0, err
    fields = dict(l.split(":\t") for l in out.strip().splitlines())
    assert int(fields["SigBlk"], 16) == 0, out
    assert int(fields["SigIgn"], 16) & (1 << (signal.SIGUSR1 - 1)), out
    # exec mode too
    rc, out, err = init.run(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"], pid1=False,
                            preexec_fn=ignore_usr1)
    fields = dict(l.split(":\t") for l in out.strip().splitlines())
    assert int(fields["SigBlk"], 16) == 0, out
    assert int(fields["SigIgn"], 16) & (1 << (signal.SIGUSR1 - 1)), out


def test_exec_keeps_the_pid_when_not_pid1(init):
    p = init.start(["sh", "-c", "echo $$"], pid1=False)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out.decode().strip() == str(p.pid)


def test_no_init_as_pid1_execs(init):
    rc, out, err = init.run(["sh", "-c", "echo $$"], flags=["--no-init"])
    assert rc == 0, err
    assert out.strip() == "1"


def test_init_when_not_pid1_is_a_subreaper(init, tmp_path):
    p = init.start(["sh", "-c", "(sleep 3 & echo $! > %s/orphan); sleep 0.3; "
                    "grep PPid /proc/$(cat %s/orphan)/status" % (tmp_path, tmp_path)],
                   pid1=False, flags=["--init"])
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out.decode().split() == ["PPid:", str(p.pid)]
    orphan = int((tmp_path / "orphan").read_text())
    assert wait_dead(orphan, 1.0), "the orphan was left behind"


def test_init_env_setting(init):
    # SENTRY_INIT=1 when not PID 1: the command's parent is the bare supervisor
    rc, out, err = init.run(["sh", "-c", "tr '\\0' ' ' < /proc/$PPID/cmdline"], pid1=False,
                            env={"SENTRY_INIT": "1"})
    assert rc == 0, err
    assert out.startswith("migration-sentry --supervise-only=5 -- sh -c"), out
    # SENTRY_INIT=0 as PID 1: exec, the command is PID 1 itself
    rc, out, err = init.run(["sh", "-c", "echo $$"], env={"SENTRY_INIT": "0"})
    assert rc == 0 and out.strip() == "1", err


def test_command_not_found_and_not_executable_as_pid1(init, tmp_path):
    rc, _, err = init.run(["no-such-command-xyz"])
    assert rc == 127, err
    assert "no-such-command-xyz" in err
    f = tmp_path / "plain"
    f.write_text("not executable")
    rc, _, err = init.run([str(f)])
    assert rc == 126, err


def test_interactive_ctrl_c_reaches_the_command(init):
    prog = ("import sys, time\nprint('ready', flush=True)\n"
            "try:\n    time.sleep(20)\nexcept KeyboardInterrupt:\n"
            "    print('got SIGINT', flush=True)\n    sys.exit(5)\n")
    argv = init.argv(["/usr/bin/python3", "-c", prog])
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(str(init.sentry.cwd))
        default_signals()
        os.execve(argv[0], argv, init.env)
    out = b""
    deadline = time.monotonic() + 20
    sent = False
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if b"ready" in out and not sent:
            time.sleep(0.2)
            os.write(fd, b"\x03")
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert b"got SIGINT" in out, out
    assert os.WEXITSTATUS(status) == 5, (status, out)
