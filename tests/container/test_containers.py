"""docker/Dockerfile and docker/docker-compose.yml, run for real under
Debian's podman (see conftest.py for the set-up).

- the default target (FROM scratch) builds and its binary runs;
- the demo-app image runs with the sentry as PID 1 against a PostgreSQL on
  the host (tests/pgserver.py, host network): the gate migrates, gunicorn
  serves /api/ops/migration_status, `podman top` shows migration-sentry as
  PID 1, the image's own HEALTHCHECK is healthy and turns unhealthy once a
  required column is dropped, and `podman stop` ends it with gunicorn's code
  well within the stop timeout;
- the compose file runs under podman-compose (with compose.override.yml
  building `db` from Debian's PostgreSQL): web migrates, worker verifies,
  both healthy, `down` leaves nothing behind.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import HERE, REPO, inspect, inspect_json, podman, timed, unique

sys.path.insert(0, str(REPO / "tests"))
from pgserver import free_port  # noqa: E402

VERSION = re.search(r"^VERSION\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.M).group(1)
HEAD = "3c4d5e6f7081"
COMM = "migration-sentry"[:15]  # the kernel keeps 15 bytes of a process name
STOP_TIMEOUT = 20


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_until(what, fn, timeout, interval=0.5, info=lambda: ""):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("%s: not within %ss (last: %r)\n%s" % (what, timeout, last, info()))


def logs(cid):
    p = podman("logs", cid, check=False)
    return p.stdout + p.stderr


def healthcheck(cid):
    """`podman healthcheck run`: 0 healthy, 1 unhealthy."""
    return podman("healthcheck", "run", cid, check=False, timeout=60)


# ------------------------------------------------------------ the images

def test_scratch_image_is_the_binary_alone(scratch_image, containers):
    p = podman("run", "--rm", "--network", "none", scratch_image, "--version")
    assert p.stdout.strip() == "migration-sentry " + VERSION, p
    cfg = inspect_json(scratch_image)
    assert cfg["Config"]["Entrypoint"] == ["/migration-sentry"], cfg["Config"]
    # nothing in the image but the binary: exporting the root shows one file
    cid = podman("create", scratch_image).stdout.strip()
    containers.append(cid)
    tar = subprocess.run(["podman", "export", cid], stdout=subprocess.PIPE, timeout=60,
                         check=True).stdout
    names = subprocess.run(["tar", "-t"], input=tar, stdout=subprocess.PIPE,
                           check=True).stdout.decode().split()
    assert [n for n in names if not n.endswith("/") and n not in (
        "etc/hosts", "etc/resolv.conf", "etc/hostname", "run/.containerenv")] \
        == ["migration-sentry"], names


def test_demo_app_as_pid1(demo_image, pg, containers):
    url = pg.create_db("ct_demo")
    port = free_port()
    health = inspect_json(demo_image).get("Healthcheck") or {}
    assert health.get("Test") == ["CMD", "/usr/local/bin/migration-sentry", "--db-wait=5",
                                  "check"], health
    name = unique("ms-ct-demo")
    cid = podman("run", "--detach", "--name", name, "--network", "host",
                 "--env", "DATABASE_URL=" + url, demo_image,
                 "gunicorn", "--bind", "127.0.0.1:%d" % port, "--workers", "2",
                 "app:app").stdout.strip()
    containers.append(cid)

    # the gate migrated, then gunicorn serves the status
    status_url = "http://127.0.0.1:%d/api/ops/migration_status" % port

    def served():
        try:
            code, body = http_get(status_url)
        except OSError:
            return None
        return (code, body) if code == 200 else None
    code, body = wait_until("gunicorn serving the status", served, 180, info=lambda: logs(cid))
    st = json.loads(body)
    assert st["migrated"] is True and st["alembic_current"] == HEAD, st
    out = logs(cid)
    assert "=== MIGRATION SENTRY: flask db upgrade ===" in out, out
    assert "=== MIGRATION SENTRY: success ===" in out, out
    assert pg.psql("SELECT version_num FROM alembic_version", db="ct_demo").strip() == HEAD

    # PID 1 is the sentry, by name, after its re-exec into the supervisor
    top = podman("top", cid, "pid", "comm", "args").stdout.splitlines()
    pid1 = [l.split(None, 2) for l in top[1:] if l.split()[0] == "1"]
    assert pid1 and pid1[0][1] == COMM, top
    assert pid1[0][2].startswith("migration-sentry --supervise-only="), top
    assert any("gunicorn" in l for l in top[2:]), top

    # the image's HEALTHCHECK: healthy, then unhealthy without a required column
    h = healthcheck(cid)
    assert h.returncode == 0, (h.stdout, h.stderr)
    assert inspect(cid, "{{.State.Health.Status}}") == "healthy"
    pg.psql("ALTER TABLE proposals DROP COLUMN visitor_session_id", db="ct_demo")
    h = healthcheck(cid)
    assert h.returncode == 1 and "unhealthy" in h.stdout, (h.stdout, h.stderr)
    last = inspect_json(cid)["State"]["Health"]["Log"][-1]
    assert last["ExitCode"] != 0, last
    assert "missing required column: proposals.visitor_session_id" in last["Output"], last
    # the check itself says why: the verify phase's code
    p = podman("exec", cid, "/usr/local/bin/migration-sentry", "--db-wait=5", "check",
               check=False)
    assert p.returncode == 65, (p.stdout, p.stderr)

    # podman stop: SIGTERM to PID 1, forwarded to gunicorn, which exits 0
    t0 = time.monotonic()
    podman("stop", "--time", STOP_TIMEOUT, cid, timeout=STOP_TIMEOUT + 30)
    took = time.monotonic() - t0
    assert inspect(cid, "{{.State.ExitCode}}") == "0", logs(cid)
    assert took < STOP_TIMEOUT - 5, "podman stop took %.1fs (killed?)" % took
    assert "Shutting down: Master" in logs(cid)


# ------------------------------------------------------------ compose

def compose_cmd(project):
    """podman-compose on the compose file as users run it, plus the override
    that builds `db`. Builds in Docker's image format, as Docker does (the
    HEALTHCHECK is kept), which also lets them reuse the layers the
    demo_image fixture built."""
    return ["podman-compose", "--project-name", project, "--podman-build-args", "--format docker",
            "-f", str(REPO / "docker" / "docker-compose.yml"),
            "-f", str(HERE / "compose.override.yml")]


def leftovers(project):
    label = "label=io.podman.compose.project=" + project
    found = {
        "containers": podman("ps", "-a", "-q", "--filter", label).stdout.split(),
        "pods": podman("pod", "ps", "-q", "--filter", "name=" + project).stdout.split(),
        "volumes": podman("volume", "ls", "-q", "--filter", label).stdout.split(),
        "networks": [n for n in podman("network", "ls", "--format", "{{.Name}}").stdout.split()
                     if n.startswith(project + "_")],
    }
    return {k: v for k, v in found.items() if v}


def clean_up(project):
    label = "label=io.podman.compose.project=" + project
    for cid in podman("ps", "-a", "-q", "--filter", label, check=False).stdout.split():
        podman("rm", "--force", "--time", "0", cid, check=False, timeout=60)
    for pod in podman("pod", "ps", "-q", "--filter", "name=" + project,
                      check=False).stdout.split():
        podman("pod", "rm", "--force", pod, check=False, timeout=60)
    for vol in podman("volume", "ls", "-q", "--filter", label, check=False).stdout.split():
        podman("volume", "rm", "--force", vol, check=False)
    for net in podman("network", "ls", "--format", "{{.Name}}", check=False).stdout.split():
        if net.startswith(project + "_"):
            podman("network", "rm", "--force", net, check=False)


def test_compose_web_migrates_worker_verifies(base_images, demo_image):
    project = unique("mstest").replace("-", "")
    port = free_port()
    env = dict(os.environ, WEB_PORT=str(port))
    cmd = compose_cmd(project)

    def compose(*args, timeout=1800):
        p = subprocess.run(cmd + list(args), cwd=str(REPO), env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=timeout)
        return p

    web, worker = project + "_web_1", project + "_worker_1"
    try:
        up = timed("compose up --build", lambda: compose("up", "-d", "--build"))
        assert up.returncode == 0, up.stdout[-5000:]

        def info():
            return "web:\n%s\nworker:\n%s" % (logs(web)[-3000:], logs(worker)[-3000:])

        # both gates passed (the worker may fail first, while the web has not
        # migrated yet, and be restarted: restart: on-failure)...
        wait_until("web and worker gates passed", lambda: all(
            "=== MIGRATION SENTRY: success ===" in logs(c) for c in (web, worker)),
            240, interval=2, info=info)
        # ...and their healthchecks pass
        wait_until("web and worker healthy", lambda: all(
            healthcheck(c).returncode == 0 for c in (web, worker)), 60, interval=2, info=info)
        for c in (web, worker):
            assert inspect(c, "{{.State.Health.Status}}") == "healthy", c
            assert inspect(c, "{{.State.Running}}") == "true", c
        wlog, klog = logs(web), logs(worker)
        assert "=== MIGRATION SENTRY: flask db upgrade ===" in wlog, wlog
        assert "=== MIGRATION SENTRY: success ===" in wlog, wlog
        assert "=== MIGRATION SENTRY: flask db upgrade ===" not in klog, klog
        assert "=== MIGRATION SENTRY: success ===" in klog, klog
        code, body = http_get("http://127.0.0.1:%d/api/ops/migration_status" % port)
        assert code == 200 and json.loads(body)["migrated"] is True, (code, body)

        down = compose("down", "--volumes", timeout=300)
        assert down.returncode == 0, down.stdout[-3000:]
        left = leftovers(project)
        # podman-compose 1.0.3 leaves the project's network: removed below
        assert set(left) <= {"networks"}, left
    finally:
        clean_up(project)
    assert not leftovers(project), leftovers(project)
