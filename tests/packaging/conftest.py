"""Shared bits of the packaging tests (`make packaging-test`)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from pgserver import PgServer  # noqa: E402

PYTHON = "/usr/bin/python3"   # Debian's, with Debian's pip and venv
VERSION = re.search(r"^VERSION\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.M).group(1)
STATIC_BIN = REPO / "build" / "static" / "migration-sentry"
BIN = REPO / "build" / "migration-sentry"
APP_SRC = REPO / "tests" / "app"
HEAD = "3c4d5e6f7081"


def run(argv, timeout=600, check=True, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.run([str(a) for a in argv], universal_newlines=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s -> %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(map(str, argv)), p.returncode, p.stdout, p.stderr))
    return p


@pytest.fixture(scope="session")
def pg():
    with PgServer() as srv:
        yield srv


@pytest.fixture
def app_dir(tmp_path):
    dest = tmp_path / "app"
    shutil.copytree(str(APP_SRC), str(dest),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "marker"))
    return dest


@pytest.fixture(scope="session")
def dynamic_bin():
    if not BIN.is_file():
        pytest.fail("%s is missing: run `make` first" % BIN, pytrace=False)
    return BIN
