"""Build hygiene, each case from a clean copy of the tree (Makefile, mk/,
src/, include/, scripts/, tests/unit/) in a temporary folder:

- `make CC=clang` builds clean (no warning, -Werror on);
- CFLAGS, CPPFLAGS and LDFLAGS are used as distributions pass them, after
  the project's warnings and -std, which they never replace (LDFLAGS proven
  by -z now in the binary); from the command line and from the environment;
- -Werror is on by default and WERROR= turns it off (a source with a
  warning fails, then builds);
- `make -j8 unit` from a clean tree: the package installer (here a slow
  stand-in for scripts/install-deps.sh) finishes before anything compiles;
  plain `make -j8` never runs it.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, VERSION, run

PARTS = ["Makefile", "mk", "src", "include", "scripts", "tests/unit"]

# A stand-in for the package installer: slow, and leaves a mark when done.
FAKE_DEPS = """#!/bin/sh
sleep 2
echo done > "$(dirname "$0")/../deps-done"
"""
# A compiler that refuses to run before the installer has finished.
CC_GUARD = """#!/bin/sh
if [ ! -e "{root}/deps-done" ]; then
    echo "cc-guard: compiler started before deps finished" >&2
    echo early >> "{root}/cc-early"
    exit 1
fi
exec {cc} "$@"
"""


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    for part in PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(str(src), str(root / part),
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            (root / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(src), str(root / part))
    return root


def make(root, *args, env=None, check=True, timeout=900):
    e = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(root)}
    e.update(env or {})
    p = run(["make", "--no-print-directory"] + list(args), cwd=root, env=e, check=False,
            timeout=timeout, stderr=subprocess.STDOUT)
    if check:
        assert p.returncode == 0, p.stdout[-6000:]
    return p


def compile_lines(out):
    return [l for l in out.splitlines() if re.search(r"\s-c src/\w+\.c -o build/obj/", l)]


def link_line(out):
    (l,) = [l for l in out.splitlines() if "-o build/migration-sentry " in l]
    return l


def test_clang_builds_clean(tree):
    out = make(tree, "CC=clang").stdout
    assert "warning:" not in out and "error:" not in out, out
    lines = compile_lines(out)
    assert lines and all(l.startswith("clang ") and " -Werror " in l for l in lines), lines
    assert run([tree / "build/migration-sentry", "--version"]).stdout.strip() == \
        "migration-sentry " + VERSION


@pytest.mark.parametrize("how", ["command line", "environment"])
def test_distribution_flags_are_added_never_replacing(tree, how):
    flags = {"CFLAGS": "-O1 -g -fstack-protector-strong -Wformat -Werror=format-security",
             "CPPFLAGS": "-D_FORTIFY_SOURCE=2", "LDFLAGS": "-Wl,-z,relro -Wl,-z,now"}
    if how == "command line":
        out = make(tree, *["%s=%s" % kv for kv in flags.items()]).stdout
    else:
        out = make(tree, env=flags).stdout
    lines = compile_lines(out)
    assert len(lines) == len(list((tree / "src").glob("*.c"))), out
    for l in lines:
        for must in ("-std=c11", "-Wall", "-Wextra", "-Werror", "-Wformat=2",
                     "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-O1"):
            assert " %s " % must in l, (must, l)
        # the user's come after the project's: theirs tune, ours stay
        assert l.index("-Wextra") < l.index("-D_FORTIFY_SOURCE=2") < l.index("-O1"), l
    assert "-Wl,-z,now" in link_line(out)
    dyn = run(["readelf", "-d", tree / "build/migration-sentry"]).stdout
    assert "BIND_NOW" in dyn or re.search(r"FLAGS.*\bNOW\b", dyn), dyn


def test_werror_on_by_default_and_off_for_packagers(tree):
    (tree / "src" / "zz_warn.c").write_text(
        "/* a test of the build only: one unused variable */\n"
        "int zz_warn(void);\nint zz_warn(void)\n{\n    int unused;\n    return 0;\n}\n")
    p = make(tree, check=False)
    assert p.returncode != 0 and "unused variable" in p.stdout, p.stdout[-3000:]
    p = make(tree, "CFLAGS=-O0", check=False)   # CFLAGS cannot drop -Werror
    assert p.returncode != 0 and "-Werror" in p.stdout, p.stdout[-3000:]
    p = make(tree, "WERROR=")
    assert "warning: unused variable" in p.stdout, p.stdout[-3000:]
    assert all(" -Werror " not in l for l in compile_lines(p.stdout)), p.stdout
    assert (tree / "build/migration-sentry").is_file()


def guard(tree):
    (tree / "scripts" / "install-deps.sh").write_text(FAKE_DEPS)
    cc = tree / "cc-guard"
    cc.write_text(CC_GUARD.format(root=tree, cc=shutil.which("cc") or "/usr/bin/cc"))
    cc.chmod(0o755)
    return cc


def test_parallel_unit_from_a_clean_tree_waits_for_deps(tree):
    cc = guard(tree)
    p = make(tree, "-j8", "unit", "CC=%s" % cc, check=False)
    assert not (tree / "cc-early").exists(), p.stdout[-4000:]
    assert p.returncode == 0, p.stdout[-4000:]
    assert (tree / "deps-done").exists()
    assert len(list((tree / "build" / "unit").iterdir())) == \
        len(list((tree / "tests" / "unit").glob("test_*.c")))


def test_parallel_plain_make_never_runs_the_installer(tree):
    (tree / "scripts" / "install-deps.sh").write_text("#!/bin/sh\necho ran > \"$(dirname \"$0\")/../deps-ran\"\n")
    make(tree, "-j8")
    assert not (tree / "deps-ran").exists()
    assert (tree / "build" / "migration-sentry").is_file()
