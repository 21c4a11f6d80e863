"""Fixtures for the real-container tests (`make container-test`).

Podman as Debian ships it, with runc and cgroupfs (tests/container/
containers.conf, through CONTAINERS_CONF). Base images cannot be pulled
here, so debian:bookworm and debian:bookworm-slim are made once with
`mmdebstrap --variant=minbase bookworm` and `podman import`, and kept (the
import is skipped when the image exists). docker/Dockerfile is built as it
is, with `--format docker` so that its HEALTHCHECK is kept.

Every container, pod, network and volume a test makes is removed by ID or
name when it ends, passed or failed. Images are kept: they are the cache
that makes a second run fast.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "tests"))

from pgserver import PgServer  # noqa: E402

os.environ["CONTAINERS_CONF"] = str(HERE / "containers.conf")

BASE_TAGS = ("docker.io/library/debian:bookworm", "docker.io/library/debian:bookworm-slim")
IMAGE = "localhost/migration-sentry-test"
TIMES = {}


def podman(*args, timeout=120, check=True, input=None):
    p = subprocess.run(["podman"] + [str(a) for a in args], stdin=subprocess.DEVNULL
                       if input is None else None, input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("podman %s -> %d\n%s\n%s" % (" ".join(map(str, args)),
                                                          p.returncode, p.stdout, p.stderr))
    return p


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def timed(name, fn):
    t0 = time.monotonic()
    try:
        return fn()
    finally:
        TIMES[name] = time.monotonic() - t0


def pytest_terminal_summary(terminalreporter):
    if TIMES:
        terminalreporter.write_line("container-test timings: " + ", ".join(
            "%s %.1fs" % kv for kv in TIMES.items()))


def _podman_can_run():
    """None when podman runs containers here, else why not."""
    if not shutil.which("podman"):
        return "podman is not installed (make container-test installs it)"
    if os.geteuid() != 0:
        return "the container tests run rootful podman and need root"
    p = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60)
    if p.returncode != 0:
        return "podman info failed: %s" % p.stderr.strip()[-300:]
    return None


def _make_base_images():
    missing = [t for t in BASE_TAGS if podman("image", "exists", t, check=False).returncode]
    if not missing:
        return
    with tempfile.TemporaryDirectory(dir=str(REPO / "build")) as d:
        tar = os.path.join(d, "bookworm.tar")
        p = subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", "bookworm", tar],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=900)
        assert p.returncode == 0, "mmdebstrap failed:\n" + p.stdout[-3000:]
        podman("import", tar, BASE_TAGS[0], timeout=300)
    for t in BASE_TAGS[1:]:
        podman("tag", BASE_TAGS[0], t)


@pytest.fixture(scope="session")
def base_images():
    why = _podman_can_run()
    if why:
        pytest.skip("CONTAINER TESTS SKIPPED: podman cannot run here: " + why)
    (REPO / "build").mkdir(exist_ok=True)
    timed("base images", _make_base_images)
    # and a container really runs (runc, cgroupfs, no default ulimits)
    p = podman("run", "--rm", "--network", "none", BASE_TAGS[1], "true", check=False)
    if p.returncode != 0:
        pytest.skip("CONTAINER TESTS SKIPPED: podman cannot run a container here: "
                    + p.stderr.strip()[-300:])


def build(target, tag, timeout=1800):
    args = ["build", "--format", "docker", "-f", "docker/Dockerfile", "-t", tag]
    if target:
        args += ["--target", target]
    p = subprocess.run(["podman"] + args + ["."], cwd=str(REPO), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=timeout)
    assert p.returncode == 0, "podman build %s failed:\n%s" % (target, p.stdout[-5000:])
    return tag


@pytest.fixture(scope="session")
def scratch_image(base_images):
    return timed("build scratch", lambda: build(None, IMAGE + ":scratch"))


@pytest.fixture(scope="session")
def demo_image(base_images):
    return timed("build demo-app", lambda: build("demo-app", IMAGE + ":demo-app"))


@pytest.fixture(scope="session")
def pg():
    with PgServer() as srv:
        yield srv


@pytest.fixture
def containers():
    """A list to append container IDs to; each is removed at the end."""
    made = []
    yield made
    for cid in made:
        podman("rm", "--force", "--time", "0", cid, check=False, timeout=60)


def inspect(cid, fmt):
    return podman("inspect", "--format", fmt, cid).stdout.strip()


def inspect_json(cid):
    return json.loads(podman("inspect", cid).stdout)[0]
