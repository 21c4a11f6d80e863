"""A plain Alembic project (tests/alembic_app: no Flask, scripts in two
version locations, env.py reading DATABASE_URL), gated end to end against a
real PostgreSQL with the real `alembic upgrade heads`."""

import shutil
import subprocess

import pytest

from conftest import BANNER_SUCCESS, REPO, assert_failed, assert_status_shape, make_sentry

ALEMBIC_SRC = REPO / "tests" / "alembic_app"
A1, A2, A3 = "a1b2c3d4e5f6", "b2c3d4e5f6a7", "c3d4e5f6a7b8"   # A3 lives in alembic/more
NO_FLASK = {"FLASK_APP": None}


@pytest.fixture
def plain(sentry_bin, tmp_path, db):
    dest = tmp_path / "alembic_app"
    shutil.copytree(str(ALEMBIC_SRC), str(dest), ignore=shutil.ignore_patterns("__pycache__"))
    return make_sentry(sentry_bin, dest, tmp_path, db)


def alembic(plain, db, *args):
    """The real `alembic` command, as a user would run it."""
    p = subprocess.run(["/usr/bin/alembic"] + list(args), cwd=str(plain.cwd), timeout=120,
                       env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "DATABASE_URL": db.url,
                            "PYTHONDONTWRITEBYTECODE": "1"},
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert p.returncode == 0, p.stdout
    return p.stdout


def version_rows(db, table="alembic_version"):
    out = db.psql("SELECT version_num FROM %s ORDER BY 1" % table)
    return out.split()


def test_defaults_are_plain_alembics(plain):
    """No migrations/versions, an alembic.ini: the command defaults to
    `alembic upgrade heads` and FLASK_APP is not required; `config` says so."""
    r = plain.run(["config"], env=NO_FLASK)
    assert r.rc == 0, r
    lines = r.stdout.splitlines()
    assert "SENTRY_MIGRATE_CMD=alembic upgrade heads (default)" in lines, r
    assert "SENTRY_REQUIRED_ENV=DATABASE_URL (default)" in lines, r
    dirs = [l for l in lines if l.startswith("SENTRY_MIGRATIONS_DIR=")]
    assert dirs and "alembic/versions:" in dirs[0] and "alembic/more" in dirs[0] and "alembic.ini" in dirs[0], r
    r = plain.run(["heads"], env=NO_FLASK)
    assert r.rc == 0 and r.stdout == A3 + "\n", r
    r = plain.run(["--help"], env=NO_FLASK)
    assert "alembic upgrade heads" in r.stdout, r


def test_first_run_migrates_second_skips(plain, db):
    r = plain.run(["--require-column", "items.sku", "--", "sh", "-c", "echo started > marker"], env=NO_FLASK)
    assert r.rc == 0, r
    assert "=== MIGRATION SENTRY: alembic upgrade heads ===" in r.lines, r
    assert any("Running upgrade b2c3d4e5f6a7 -> c3d4e5f6a7b8" in l for l in r.migrate_lines), r
    assert r.marker_started
    assert version_rows(db) == [A3]
    assert db.has_column("items", "sku") and db.has_column("items", "price")
    st = r.status
    assert_status_shape(st)
    assert st["migration"]["ran"] is True and st["alembic_heads"] == [A3]

    r = plain.run(["--require-column", "items.sku"], env=NO_FLASK)
    assert r.rc == 0, r
    assert "[SENTRY] database already at heads (%s); skipping alembic upgrade heads" % A3 in r.lines, r
    assert not r.migrate_lines
    assert r.status["migration"]["skipped"] == "database already at heads"
    assert BANNER_SUCCESS in r.lines


def test_pending_revision_in_the_second_folder_runs(plain, db):
    """The second version location counts: a database at A2 is not at the
    heads while alembic/more holds A3."""
    alembic(plain, db, "upgrade", A2)
    assert version_rows(db) == [A2]
    r = plain.run(["--no-migrate"], env=NO_FLASK)
    st = assert_failed(r, "verify", 65)
    assert "pending " + A3 in st["error"], st
    r = plain.run([], env=NO_FLASK)
    assert r.rc == 0, r
    assert version_rows(db) == [A3] and db.has_column("items", "sku")


def test_renamed_version_table(plain, db):
    """env.py renames the table; SENTRY_VERSION_TABLE(_SCHEMA) tells the
    sentry, which then reads it (quoted, schema-qualified) and skips."""
    db.psql('CREATE SCHEMA "Ops"; GRANT ALL ON SCHEMA "Ops" TO sentry')
    env = dict(NO_FLASK, ALEMBIC_VERSION_TABLE="Schema Versions", ALEMBIC_VERSION_TABLE_SCHEMA="Ops",
               SENTRY_VERSION_TABLE="Schema Versions", SENTRY_VERSION_TABLE_SCHEMA="Ops")
    r = plain.run([], env=env)
    assert r.rc == 0, r
    assert r.migrate_lines, r
    assert version_rows(db, '"Ops"."Schema Versions"') == [A3]
    assert not db.has_table("alembic_version")
    r = plain.run([], env=env)
    assert r.rc == 0, r
    assert not r.migrate_lines and r.status["migration"]["skipped"] == "database already at heads", r
    assert r.status["alembic_current"] == A3
    # the flags say the same
    flags = ["--version-table", "Schema Versions", "--version-table-schema=Ops"]
    r = plain.run(flags + ["check"], env=NO_FLASK)
    assert r.rc == 0 and r.stdout_json["alembic_current"] == A3, r
    # without them the sentry finds no alembic_version: the command runs (and
    # does nothing), and verify says which table it looked for
    r = plain.run([], env=dict(env, SENTRY_VERSION_TABLE=None, SENTRY_VERSION_TABLE_SCHEMA=None))
    st = assert_failed(r, "verify", 65)
    assert r.migrate_lines and "pending " + A3 in st["error"] and "SENTRY_VERSION_TABLE" in st["error"], r


def test_stamp_recovery_in_a_renamed_table(plain, db):
    db.psql('CREATE SCHEMA ops; GRANT ALL ON SCHEMA ops TO sentry')
    env = dict(NO_FLASK, ALEMBIC_VERSION_TABLE="versions", ALEMBIC_VERSION_TABLE_SCHEMA="ops",
               SENTRY_VERSION_TABLE="versions", SENTRY_VERSION_TABLE_SCHEMA="ops")
    assert plain.run([], env=env).rc == 0
    db.psql("UPDATE ops.versions SET version_num = 'deadbeef0000'")
    r = plain.run([], env=env)
    st = assert_failed(r, "migrate", 70)
    assert "deadbeef0000" in st["error"]
    r = plain.run(["--recover=stamp"], env=env)
    assert r.rc == 0, r
    assert version_rows(db, "ops.versions") == [A3]
    assert r.status["migration"]["recovered"] is True


def test_alembic_config_elsewhere(plain, db, tmp_path):
    """SENTRY_ALEMBIC_CONFIG (or Alembic's own ALEMBIC_CONFIG) names the
    configuration; %(here)s is its folder."""
    conf = plain.cwd / "conf"
    conf.mkdir()
    shutil.move(str(plain.cwd / "alembic.ini"), str(conf / "alembic.ini"))
    text = (conf / "alembic.ini").read_text().replace("%(here)s/alembic", "%(here)s/../alembic")
    (conf / "alembic.ini").write_text(text)
    r = plain.run(["heads"], env=NO_FLASK)
    assert r.rc == 64 and "alembic.ini" in r.stderr, r
    r = plain.run(["heads"], env=dict(NO_FLASK, SENTRY_ALEMBIC_CONFIG="conf/alembic.ini"))
    assert r.rc == 0 and r.stdout == A3 + "\n", r
    r = plain.run(["config"], env=dict(NO_FLASK, ALEMBIC_CONFIG="conf/alembic.ini"))
    assert "SENTRY_ALEMBIC_CONFIG=conf/alembic.ini (from ALEMBIC_CONFIG) (default)" in r.stdout.splitlines(), r
    assert "SENTRY_MIGRATE_CMD=alembic upgrade heads (default)" in r.stdout.splitlines(), r
    r = plain.run(["--", "true"], env=dict(NO_FLASK, ALEMBIC_CONFIG="conf/alembic.ini"))
    assert r.rc == 0 and version_rows(db) == [A3], r
    r = plain.run(["heads"], env=dict(NO_FLASK, SENTRY_ALEMBIC_CONFIG="conf/nope.ini"))
    assert r.rc == 64 and "conf/nope.ini" in r.stderr and "does not exist" in r.stderr, r


def test_flask_app_still_required_when_set_explicitly(plain):
    r = plain.run(["--", "true"], env=dict(NO_FLASK, SENTRY_REQUIRED_ENV="DATABASE_URL,FLASK_APP"))
    assert r.rc == 64 and "FLASK_APP" in r.stderr, r
