"""`migration-sentry heads` against Alembic itself (`flask db heads`), on
linear, typed-template, branched, merged and depends_on trees, and junk."""

import os
import shutil
import subprocess

import pytest

UNTYPED = '''"""{rev}

Revision ID: {rev}
Revises: {down_doc}
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '{rev}'
down_revision = {down}
branch_labels = {labels}
depends_on = {deps}


def upgrade():
    pass


def downgrade():
    pass
'''

TYPED = '''"""{rev}

Revision ID: {rev}
Revises: {down_doc}
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "{rev}"
down_revision: Union[str, Sequence[str], None] = {down}
branch_labels: Union[str, Sequence[str], None] = {labels}
depends_on: Union[str, Sequence[str], None] = {deps}


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''

TREES = {
    "linear": [("a1", None), ("a2", "a1"), ("a3", "a2")],
    "branched": [("b1", None), ("b2", "b1"), ("b3", "b1")],
    "merged": [("m1", None), ("m2", "m1"), ("m3", "m1"), ("m4", ("m2", "m3"))],
    "depends_on": [("d1", None), ("d2", "d1"), ("x1", None, ("other",)), ("d3", "d2", None, "other")],
    "two_bases_list": [("p1", None), ("q1", None), ("r1", ["p1", "q1"]), ("s1", "r1")],
}


def pyval(v):
    if v is None:
        return "None"
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, list):
        return "[%s]" % ", ".join(repr(x) for x in v)
    return "(%s,)" % ", ".join(repr(x) for x in v) if len(v) == 1 else repr(tuple(v))


def write_tree(versions, tree, template):
    shutil.rmtree(str(versions))
    versions.mkdir()
    for entry in tree:
        rev, down = entry[0], entry[1]
        labels = entry[2] if len(entry) > 2 else None
        deps = entry[3] if len(entry) > 3 else None
        text = template.format(rev=rev, down=pyval(down), labels=pyval(labels), deps=pyval(deps),
                               down_doc=down if isinstance(down, str) else pyval(down))
        (versions / ("%s_script.py" % rev)).write_text(text)


def alembic_heads(app_dir):
    p = subprocess.run(["/usr/bin/flask", "db", "heads"], cwd=str(app_dir),
                       env={"PATH": "/usr/bin:/bin", "FLASK_APP": "app.py", "DATABASE_URL": "",
                            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    return sorted(line.split()[0] for line in p.stdout.decode().splitlines() if line.strip())


@pytest.mark.parametrize("template", [UNTYPED, TYPED], ids=["untyped", "typed"])
@pytest.mark.parametrize("name", sorted(TREES))
def test_heads_match_alembic(sentry, app_dir, name, template):
    versions = app_dir / "migrations" / "versions"
    write_tree(versions, TREES[name], template)
    r = sentry.run(["heads"])
    assert r.rc == 0, r
    ours = r.stdout.split()
    assert ours == sorted(ours)
    assert ours == alembic_heads(app_dir), (name, r)


def test_sample_app_heads(sentry):
    r = sentry.run(["heads"])
    assert r.rc == 0 and r.stdout == "3c4d5e6f7081\n", r


def test_migrations_dir_setting(sentry, app_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(str(app_dir / "migrations" / "versions"), str(elsewhere))
    r = sentry.run(["--migrations-dir", str(elsewhere), "heads"], cwd=tmp_path)
    assert r.rc == 0 and r.stdout == "3c4d5e6f7081\n", r
    r = sentry.run(["heads"], env={"SENTRY_MIGRATIONS_DIR": str(elsewhere)}, cwd=tmp_path)
    assert r.rc == 0 and r.stdout == "3c4d5e6f7081\n", r
    r = sentry.run(["heads"], cwd=tmp_path)  # no migrations/versions here
    assert r.rc == 64 and "migrations/versions" in r.stderr, r
    r = sentry.run(["heads"], env={"SENTRY_MIGRATIONS_DIR": str(tmp_path / "nope")})
    assert r.rc == 64 and "not a directory" in r.stderr, r


JUNK = {
    "binary.py": b"revision = 'x'\x00\xff\xfe\ndown_revision = None\n",
    "huge.py": b"revision = 'h1'\ndown_revision = None\n" + b"# " + b"x" * (2 * 1024 * 1024) + b"\n",
    "odd.py": b"revision = REVISIONS[0]\ndown_revision = None\n",
    "norev.py": b"down_revision = None\n",
    "badutf.py": b"revision = '\xc3\x28'\ndown_revision = None\n",
    "dangling.py": b"revision = 'z1'\ndown_revision = 'nowhere'\n",
}


@pytest.mark.parametrize("name", sorted(JUNK))
def test_junk_is_unknown_not_a_crash(sentry, app_dir, name):
    (app_dir / "migrations" / "versions" / name).write_bytes(JUNK[name])
    r = sentry.run(["heads"])
    assert r.rc == 65, r
    assert r.stdout == ""
    assert "script heads unknown" in r.stderr and len(r.stderr.splitlines()) == 1, r


def test_last_assignment_wins_as_in_python(sentry, app_dir):
    """Python runs module-level assignments in order: Alembic sees the last."""
    (app_dir / "migrations" / "versions" / "twice.py").write_text(
        "revision = 'a'\nrevision = 'b'\ndown_revision = None\n")
    r = sentry.run(["heads"])
    assert r.rc == 0, r
    assert r.stdout.split() == alembic_heads(app_dir) == ["3c4d5e6f7081", "b"]


def test_ignored_files(sentry, app_dir):
    v = app_dir / "migrations" / "versions"
    (v / "__init__.py").write_text("revision = 'nope'\n")
    (v / ".#lock.py").write_text("junk")
    (v / "README").write_text("revision = 'nope'\n")
    (v / "__pycache__").mkdir(exist_ok=True)
    (v / "__pycache__" / "x.py").write_text("junk")
    r = sentry.run(["heads"])
    assert r.rc == 0 and r.stdout == "3c4d5e6f7081\n", r
