"""`make wheel`: the static binary as a Python wheel.

Checked: the file name and tags; the layout (PEP 427/491: the binary as the
one script in .data/scripts/, dist-info with METADATA, WHEEL, RECORD); every
RECORD hash and size; the metadata (version from the Makefile, summary,
license, project URLs, README as the long description); reproducibility;
which platforms Debian's pip accepts it for (glibc and musl x86-64, never
another architecture or OS); and a real install: `python3 -m venv`,
`pip install --no-index`, then the gate run by name from the venv's bin/
against a throwaway PostgreSQL, migrating the sample app.
"""

import base64
import email.parser
import hashlib
import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import HEAD, PYTHON, REPO, STATIC_BIN, VERSION, run

TAGS = "py3-none-manylinux_2_5_x86_64.manylinux1_x86_64.musllinux_1_1_x86_64"
WHEEL = REPO / "dist" / ("migration_sentry-%s-%s.whl" % (VERSION, TAGS))
DATA = "migration_sentry-%s.data" % VERSION
INFO = "migration_sentry-%s.dist-info" % VERSION


@pytest.fixture(scope="module")
def wheel():
    if not WHEEL.is_file():
        pytest.fail("%s is missing: run `make wheel` first" % WHEEL, pytrace=False)
    others = [p.name for p in WHEEL.parent.glob("*.whl") if p != WHEEL]
    assert not others, "stale wheels beside it: %s" % others
    return WHEEL


def b64hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()) \
        .rstrip(b"=").decode()


def test_layout_and_record(wheel):
    with zipfile.ZipFile(str(wheel)) as z:
        names = z.namelist()
        assert names == [DATA + "/scripts/migration-sentry", INFO + "/METADATA",
                         INFO + "/WHEEL", INFO + "/RECORD"], names
        assert z.testzip() is None
        rows = [l.split(",") for l in z.read(INFO + "/RECORD").decode().splitlines()]
        assert [r[0] for r in rows] == names, rows
        for name, h, size in rows[:-1]:
            data = z.read(name)
            assert h == b64hash(data) and int(size) == len(data), name
        assert rows[-1] == [INFO + "/RECORD", "", ""]
        script = z.getinfo(DATA + "/scripts/migration-sentry")
        assert stat.S_IMODE(script.external_attr >> 16) == 0o755, oct(script.external_attr)
        assert z.read(script.filename) == STATIC_BIN.read_bytes(), "not the static binary"
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in z.infolist())
        wheel_meta = z.read(INFO + "/WHEEL").decode()
    assert "Wheel-Version: 1.0\n" in wheel_meta
    assert "Root-Is-Purelib: false\n" in wheel_meta
    assert sorted(l for l in wheel_meta.splitlines() if l.startswith("Tag: ")) == sorted(
        "Tag: py3-none-" + p for p in TAGS.split("-")[2].split("."))


def test_metadata(wheel):
    with zipfile.ZipFile(str(wheel)) as z:
        raw = z.read(INFO + "/METADATA").decode()
    m = email.parser.Parser().parsestr(raw)
    assert m["Metadata-Version"] == "2.1"
    assert m["Name"] == "migration-sentry"
    assert m["Version"] == VERSION
    assert "PostgreSQL" in m["Summary"] and "\n" not in m["Summary"]
    assert m["License"]
    urls = m.get_all("Project-URL")
    assert urls and all(", https://" in u for u in urls), urls
    assert m["Description-Content-Type"] == "text/markdown"
    assert m.get_payload() == (REPO / "README.md").read_text()
    assert "Operating System :: POSIX :: Linux" in m.get_all("Classifier")


def test_reproducible(wheel, tmp_path):
    """Same inputs, same bytes; SOURCE_DATE_EPOCH sets every timestamp."""
    def build(out, env=None):
        run([PYTHON, REPO / "scripts" / "build-wheel.py", "--binary", STATIC_BIN,
             "--version", VERSION, "--readme", REPO / "README.md", "--out-dir", out,
             "--license", "X", "--url", "Homepage=https://example.invalid/"],
            env=dict(os.environ, **(env or {})))
        (f,) = list(Path(out).glob("*.whl"))
        return f
    a, b = build(tmp_path / "a"), build(tmp_path / "b")
    assert a.name == WHEEL.name
    assert a.read_bytes() == b.read_bytes()
    c = build(tmp_path / "c", {"SOURCE_DATE_EPOCH": "1767225600"})  # 2026-01-01
    with zipfile.ZipFile(str(c)) as z:
        assert {i.date_time for i in z.infolist()} == {(2026, 1, 1, 0, 0, 0)}


def test_refuses_a_binary_of_another_version(tmp_path):
    p = run([PYTHON, REPO / "scripts" / "build-wheel.py", "--binary", STATIC_BIN,
             "--version", "9.9.9", "--readme", REPO / "README.md", "--out-dir", tmp_path],
            check=False)
    assert p.returncode == 1 and "--version says" in p.stderr, p
    assert not list(tmp_path.iterdir())


# The platform tags pip computes on each kind of system (what `pip debug
# --verbose` lists there, newest first, trimmed to the x86-64 Linux ones).
SYSTEMS = {
    "Alpine 3.17+ (musl 1.2)": ["musllinux_1_2_x86_64", "musllinux_1_1_x86_64",
                                "musllinux_1_0_x86_64", "linux_x86_64"],
    "Alpine 3.12 (musl 1.1)": ["musllinux_1_1_x86_64", "musllinux_1_0_x86_64", "linux_x86_64"],
    "CentOS 7 (glibc 2.17), pip >= 20.3": ["manylinux_2_17_x86_64", "manylinux2014_x86_64",
                                           "manylinux_2_12_x86_64", "manylinux2010_x86_64",
                                           "manylinux_2_5_x86_64", "manylinux1_x86_64",
                                           "linux_x86_64"],
    "glibc, pip 8.1 to 20.2 (manylinux1 only)": ["manylinux1_x86_64", "linux_x86_64"],
}
NOT_FOR = {
    "Alpine on arm64": ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64", "linux_aarch64"],
    "glibc on arm64": ["manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"],
    "glibc on 32-bit x86": ["manylinux_2_17_i686", "manylinux1_i686", "linux_i686"],
    "macOS": ["macosx_11_0_x86_64", "macosx_10_9_x86_64"],
    "Windows": ["win_amd64"],
}


def pip_would_install(wheel, platforms, tmp_path):
    argv = [PYTHON, "-m", "pip", "install", "--dry-run", "--no-index", "--no-deps",
            "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
            "--target", tmp_path / "target"]
    for p in platforms:
        argv += ["--platform", p]
    p = run(argv + [wheel], check=False, timeout=120)
    return p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_debian_pip_accepts_it_for(wheel, tmp_path, system):
    ok, out = pip_would_install(wheel, SYSTEMS[system], tmp_path)
    assert ok, out


@pytest.mark.parametrize("system", sorted(NOT_FOR))
def test_debian_pip_refuses_it_for(wheel, tmp_path, system):
    ok, out = pip_would_install(wheel, NOT_FOR[system], tmp_path)
    assert not ok and "is not a supported wheel on this platform" in out, out


def test_venv_install_puts_it_on_path_and_gates(wheel, tmp_path, pg, app_dir):
    venv = tmp_path / "venv"
    run([PYTHON, "-m", "venv", venv], timeout=300)
    pip = venv / "bin" / "pip"
    env = {"PATH": "%s:/usr/bin:/bin" % (venv / "bin"), "HOME": str(tmp_path),
           "LANG": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    run([pip, "install", "--no-index", wheel], env=env, timeout=300)
    installed = venv / "bin" / "migration-sentry"
    assert installed.read_bytes() == STATIC_BIN.read_bytes()
    assert os.access(str(installed), os.X_OK)
    show = run([pip, "show", "migration-sentry"], env=env).stdout
    assert "Version: %s" % VERSION in show, show

    # a real gate run, the program found by name on the venv's PATH
    url = pg.create_db("wheel_gate")
    status = tmp_path / "status.json"
    genv = dict(env, DATABASE_URL=url, FLASK_APP="app.py", SENTRY_STATUS_FILE=str(status),
                PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run(["migration-sentry", "--require-column", "proposals.visitor_session_id",
                        "--require-column", "conversions.proposal_id",
                        "--", "sh", "-c", "echo started from $0", "venv"],
                       cwd=str(app_dir), env=genv, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "=== MIGRATION SENTRY: flask db upgrade ===" in p.stderr, p.stderr
    assert p.stdout == "started from venv\n", p.stdout
    assert pg.psql("SELECT version_num FROM alembic_version", db="wheel_gate").strip() == HEAD
    assert json.loads(status.read_text())["migrated"] is True

    # RECORD lets pip take it away again
    run([pip, "uninstall", "--yes", "migration-sentry"], env=env)
    assert not installed.exists()


def test_render_example_installs_it_through_requirements(wheel, tmp_path, pg, app_dir):
    """render.yaml.example on Render's native Python runtime: its
    buildCommand (pip install -r requirements.txt, the wheel listed there)
    and then its preDeployCommand, run by name as Render runs it."""
    import shlex
    import yaml
    doc = yaml.safe_load((REPO / "render.yaml.example").read_text())
    web = next(s for s in doc["services"] if s["type"] == "web")
    assert web["runtime"] == "python", web
    assert shlex.split(web["preDeployCommand"])[0] == "migration-sentry", web
    assert shlex.split(web["startCommand"])[0] == "migration-sentry", web
    venv = tmp_path / "venv"
    run([PYTHON, "-m", "venv", venv], timeout=300)
    env = {"PATH": "%s:/usr/bin:/bin" % (venv / "bin"), "HOME": str(tmp_path),
           "LANG": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1"}
    (app_dir / "requirements.txt").write_text("migration-sentry @ %s\n" % wheel.as_uri())
    run(shlex.split(web["buildCommand"]), cwd=app_dir, env=env, timeout=300)
    url = pg.create_db("render_gate")
    genv = dict(env, DATABASE_URL=url, FLASK_APP="app.py", PYTHONDONTWRITEBYTECODE="1",
                SENTRY_STATUS_FILE=str(tmp_path / "status.json"))
    p = run(shlex.split(web["preDeployCommand"]), cwd=app_dir, env=genv, check=False,
            timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert pg.psql("SELECT version_num FROM alembic_version", db="render_gate").strip() == HEAD
