"""Every phase of the gate that can fail: its exit code, its log, its status
file, and the command after -- never started."""

import re

import pytest

from conftest import HEAD, MARKER_CMD, PASSWORD, REVS, assert_failed, wait_dead


# ------------------------------------------------------------------ config (64)

def test_missing_database_url(sentry, db):
    r = sentry.run(["--"] + MARKER_CMD, env={"DATABASE_URL": None})
    assert_failed(r, "config", 64, status_expected=False)
    assert "DATABASE_URL" in r.stderr


def test_empty_database_url(sentry, db):
    r = sentry.run(["--"] + MARKER_CMD, env={"DATABASE_URL": ""})
    assert_failed(r, "config", 64, status_expected=False)
    assert "DATABASE_URL" in r.stderr


def test_missing_flask_app(sentry, db):
    r = sentry.run(["--"] + MARKER_CMD, env={"FLASK_APP": None})
    assert_failed(r, "config", 64, status_expected=False)
    assert "FLASK_APP" in r.stderr
    assert db.alembic_version() is None


def test_required_env_custom_list(sentry, db):
    env = {"SENTRY_REQUIRED_ENV": "DATABASE_URL,FLASK_APP,SECRET_KEY"}
    r = sentry.run(["--"] + MARKER_CMD, env=env)
    assert_failed(r, "config", 64, status_expected=False)
    assert "SECRET_KEY" in r.stderr
    r = sentry.run(["--"] + MARKER_CMD, env=dict(env, SECRET_KEY=""))
    assert_failed(r, "config", 64, status_expected=False)
    assert "SECRET_KEY" in r.stderr
    r = sentry.run(["--"] + MARKER_CMD, env=dict(env, SECRET_KEY="x"))
    assert r.rc == 0, r
    assert r.marker_started


def test_require_env_flag_replaces_the_variable(sentry, db):
    env = {"SENTRY_REQUIRED_ENV": "OTHER_MISSING_VAR"}
    args = ["--require-env", "DATABASE_URL", "--require-env=APP_TOKEN", "--"] + MARKER_CMD
    r = sentry.run(args, env=env)
    assert_failed(r, "config", 64, status_expected=False)
    assert "APP_TOKEN" in r.stderr
    assert "OTHER_MISSING_VAR" not in r.stderr
    r = sentry.run(args, env=dict(env, APP_TOKEN="t"))
    assert r.rc == 0, r


@pytest.mark.parametrize("url", [
    "mysql://sentry:{pw}@127.0.0.1:3306/app",
    "http://sentry:{pw}@127.0.0.1/app",
    "sqlite:///app.db",
    "just-some-text",
])
def test_bad_database_url_is_refused(sentry, db, url):
    r = sentry.run(["--"] + MARKER_CMD, env={"DATABASE_URL": url.format(pw=PASSWORD)})
    assert_failed(r, "config", 64, status_expected=False)
    err = [l for l in r.lines if l.startswith("[SENTRY] error: ")]
    assert any("DATABASE_URL" in l for l in err), r


@pytest.mark.parametrize("url", [
    "postgresql://sentry:{pw}@127.0.0.1:notaport/app",
    "host=127.0.0.1 port=5432 dbname=app password={pw} bogus_option=1",
    "host=127.0.0.1 'unterminated password={pw}",
])
def test_malformed_database_url_fails_at_once(sentry, db, url):
    # libpq can never parse it: a configuration error, not something to wait for
    r = sentry.run(["--"] + MARKER_CMD,
                   env={"DATABASE_URL": url.format(pw=PASSWORD), "SENTRY_DB_WAIT": "4"})
    assert r.elapsed < 3.0, r
    assert_failed(r, "config", 64, status_expected=False)
    assert "DATABASE_URL" in r.stderr


@pytest.mark.parametrize("var,value", [
    ("SENTRY_DB_WAIT", "abc"),
    ("SENTRY_DB_WAIT", "10x"),
    ("SENTRY_MIGRATE_TIMEOUT", "soon"),
    ("SENTRY_LOCK_WAIT", "-"),
    ("SENTRY_GRACE", "five"),
    ("SENTRY_LOCK_KEY", "not-a-number"),
    ("SENTRY_LOCK_KEY", "99999999999999999999999"),
])
def test_bad_numeric_setting(sentry, db, var, value):
    r = sentry.run(["--"] + MARKER_CMD, env={var: value})
    assert_failed(r, "config", 64, status_expected=False)
    flag = var[len("SENTRY_"):].lower().replace("_", "-")
    assert var in r.stderr or flag in r.stderr, r
    assert db.alembic_version() is None


@pytest.mark.parametrize("args", [
    ["--db-wait=abc"],
    ["--migrate-timeout", "x1"],
    ["--frobnicate"],
    ["--db-wait"],
    ["--recover=bogus"],
])
def test_bad_flags(sentry, db, args):
    r = sentry.run(args + ["--"] + MARKER_CMD)
    assert_failed(r, "config", 64, status_expected=False)


def test_unknown_flag_named(sentry, db):
    r = sentry.run(["--frobnicate", "--"] + MARKER_CMD)
    assert r.rc == 64, r
    assert "--frobnicate" in r.stderr or "frobnicate" in r.stderr


@pytest.mark.parametrize("prog", ["definitely-not-a-migrator", "/nonexistent/bin/flask"])
def test_migrate_program_not_on_path(sentry, db, prog):
    r = sentry.run(["--"] + MARKER_CMD, env={"SENTRY_MIGRATE_CMD": prog + " db upgrade"})
    assert_failed(r, "config", 64, status_expected=False)
    assert prog in r.stderr


def test_default_flask_not_on_path(sentry, db, tmp_path):
    empty = tmp_path / "emptybin"
    empty.mkdir()
    r = sentry.run(["--", "/bin/sh", "-c", "echo started > marker"], env={"PATH": str(empty)})
    assert_failed(r, "config", 64, status_expected=False)
    assert "flask" in r.stderr


def test_missing_migrate_program_is_fine_with_no_migrate(sentry, db):
    # --no-migrate never runs it, so it need not exist; the fresh database is
    # then behind the script heads and verify fails (65), not config (64)
    r = sentry.run(["--no-migrate", "--"] + MARKER_CMD,
                   env={"SENTRY_MIGRATE_CMD": "definitely-not-a-migrator upgrade"})
    st = assert_failed(r, "verify", 65)
    assert any(rev in st["error"] for rev in REVS), st["error"]
    assert st["migration"]["ran"] is False
    assert db.alembic_version() is None


def test_no_migrate_from_environment(sentry, db):
    r = sentry.run(["--"] + MARKER_CMD, env={"SENTRY_NO_MIGRATE": "yes"})
    assert_failed(r, "verify", 65)
    assert db.alembic_version() is None
    assert r.migrate_lines == []


# ------------------------------------------------------------------ connect (69/77)

DB_NOT_READY = re.compile(r"^\[SENTRY\] DB not ready \(attempt (\d+), (\d+(?:\.\d+)?)s elapsed\): (.+)$")


def test_nothing_listening_gives_up_after_db_wait(sentry, db, closed_port):
    url = db.url_with().replace(":%d/" % db.port, ":%d/" % closed_port)
    r = sentry.run(["--"] + MARKER_CMD, env={"DATABASE_URL": url, "SENTRY_DB_WAIT": "2"})
    st = assert_failed(r, "connect", 69)
    assert 1.8 <= r.elapsed <= 5.0, r.elapsed
    attempts = [DB_NOT_READY.match(l) for l in r.lines if l.startswith("[SENTRY] DB not ready")]
    assert len(attempts) >= 2, r
    assert all(attempts), r
    nums = [int(m.group(1)) for m in attempts]
    assert nums == list(range(1, len(nums) + 1)), nums
    secs = [float(m.group(2)) for m in attempts]
    assert secs == sorted(secs) and secs[-1] <= 3.0, secs
    assert all(m.group(3) for m in attempts)
    assert st["alembic_current"] is None
    assert st["migration"]["ran"] is False
    assert st["database"] == "postgresql://******@127.0.0.1:%d/%s" % (closed_port, db.name)


def test_wrong_password_fails_fast_with_77(sentry, db):
    wrong = "Wq0Zk-Jx7Vz9"
    r = sentry.run(["--"] + MARKER_CMD,
                   env={"DATABASE_URL": db.url_with(password=wrong), "SENTRY_DB_WAIT": "30"},
                   secrets=[wrong])
    st = assert_failed(r, "connect", 77)
    assert r.elapsed < 5.0, r.elapsed
    assert "password authentication failed" in r.stderr or "authentication" in st["error"], r


def test_no_such_database_fails_fast_with_69(sentry, db):
    r = sentry.run(["--"] + MARKER_CMD,
                   env={"DATABASE_URL": db.url_with(dbname="no_such_db_xyz"),
                        "SENTRY_DB_WAIT": "30"})
    st = assert_failed(r, "connect", 69)
    assert r.elapsed < 5.0, r.elapsed
    assert "no_such_db_xyz" in r.stderr
    assert st["alembic_current"] is None and st["migration"]["ran"] is False


def test_no_such_role_fails_fast(sentry, db):
    r = sentry.run(["--"] + MARKER_CMD,
                   env={"DATABASE_URL": db.url_with(user="no_such_role_xyz"),
                        "SENTRY_DB_WAIT": "30"})
    assert r.rc == 77, r  # the contract: no such role is 77, as a refused password
    assert_failed(r, "connect", r.rc)
    assert r.elapsed < 5.0, r.elapsed


# ------------------------------------------------------------------ URL forms

@pytest.mark.parametrize("form", ["postgres", "postgresql", "postgresql+psycopg2", "conninfo",
                                  "query-password"])
def test_database_url_forms_connect(sentry, db, form):
    if form == "conninfo":
        url = "host=127.0.0.1 port=%d dbname=%s user=sentry password=%s" % (
            db.port, db.name, PASSWORD)
    elif form == "query-password":
        url = "postgresql://sentry@127.0.0.1:%d/%s?password=%s" % (db.port, db.name, PASSWORD)
    else:
        url = db.url_with(scheme=form)
    r = sentry.run(["--require-column", "conversions.proposal_id", "--"] + MARKER_CMD,
                   env={"DATABASE_URL": url})
    assert r.rc == 0, r
    assert r.marker_started
    assert db.alembic_version() == HEAD
    assert any(l.startswith("[SENTRY] DB OK:") for l in r.lines), r
    if form in ("postgres", "postgresql", "postgresql+psycopg2"):
        assert "DB (redacted): " + db.redacted() in r.lines, r
        assert r.status["database"] == db.redacted()
    if form == "postgresql+psycopg2":
        notes = [l for l in r.lines if "psycopg2" in l]
        assert notes and any("driver" in l.lower() for l in notes), r


@pytest.mark.parametrize("cmd", ["check", "schema", "sql"])
def test_dropped_driver_said_by_every_command_that_connects(sentry, db, tmp_path, cmd):
    """The config phase's "driver dropped, said in the log" holds for the
    commands too, not only the gate."""
    assert sentry.run([]).rc == 0
    args = [cmd]
    if cmd == "sql":
        f = tmp_path / "noop.sql"
        f.write_text("SELECT 1;\n")
        args.append(str(f))
    r = sentry.run(args, env={"DATABASE_URL": db.url_with(scheme="postgresql+psycopg2")})
    assert r.rc == 0, r
    assert "[SENTRY] SQLAlchemy driver 'psycopg2' dropped from the URL: libpq needs none" \
        in r.stderr.splitlines(), r


# ------------------------------------------------------------------ migrate (70)

def test_migration_command_fails(sentry, db):
    r = sentry.run(["--"] + MARKER_CMD, env={"SENTRY_MIGRATE_CMD": 'sh -c "echo boom; exit 3"'})
    st = assert_failed(r, "migrate", 70)
    assert "[migrate] boom" in r.lines, r
    m = st["migration"]
    assert m["ran"] is True
    assert m["exit_code"] == 3
    assert any("boom" in l for l in m["output_tail"]), m
    assert st["alembic_current"] is None


def test_migration_output_without_final_newline_is_kept(sentry, db):
    r = sentry.run([], env={"SENTRY_MIGRATE_CMD":
                            "sh -c 'echo one; printf \"no newline at end\"; exit 4'"})
    st = assert_failed(r, "migrate", 70)
    assert st["migration"]["exit_code"] == 4
    assert "[migrate] no newline at end" in r.lines, r
    assert any("no newline at end" in l for l in st["migration"]["output_tail"]), st
    assert any("one" == l or l.endswith("one") for l in st["migration"]["output_tail"]), st


def test_real_migration_fails(sentry, db, app_dir):
    # a broken migration script: flask db upgrade itself fails
    bad = app_dir / "migrations" / "versions" / "3c4d5e6f7081_add_conversions_proposal_id.py"
    bad.write_text(bad.read_text().replace(
        "def upgrade():\n", "def upgrade():\n    op.execute('SELECT * FROM no_such_table_zz')\n", 1))
    r = sentry.run(["--"] + MARKER_CMD)
    st = assert_failed(r, "migrate", 70)
    assert st["migration"]["exit_code"] not in (None, 0)
    assert any("no_such_table_zz" in l for l in st["migration"]["output_tail"]), st
    assert any("no_such_table_zz" in l for l in r.migrate_lines), r
    # alembic runs the whole upgrade in one transaction: nothing was applied
    assert db.alembic_version() is None


def test_output_tail_keeps_the_last_50_lines(sentry, db):
    cmd = "sh -c 'i=0; while [ $i -lt 120 ]; do echo line$i; i=$((i+1)); done; exit 1'"
    r = sentry.run([], env={"SENTRY_MIGRATE_CMD": cmd})
    st = assert_failed(r, "migrate", 70)
    tail = st["migration"]["output_tail"]
    assert len(tail) == 50, tail
    assert "line70" in tail[0] and "line119" in tail[-1], tail
    assert len(r.migrate_lines) == 120
    assert st["migration"]["exit_code"] == 1


def test_migration_timeout_kills_the_process_group(sentry, db):
    cmd = "sh -c 'echo $$ > sh.pid; sleep 60 & echo $! > grandchild.pid; wait'"
    r = sentry.run(["--"] + MARKER_CMD,
                   env={"SENTRY_MIGRATE_CMD": cmd, "SENTRY_MIGRATE_TIMEOUT": "2"}, timeout=30)
    st = assert_failed(r, "migrate", 70)
    assert 1.8 <= r.elapsed <= 10, r.elapsed
    assert re.search(r"time", st["error"], re.I), st["error"]
    sh_pid = int((sentry.cwd / "sh.pid").read_text())
    gc_pid = int((sentry.cwd / "grandchild.pid").read_text())
    assert wait_dead(sh_pid), "the migration command (pid %d) still runs" % sh_pid
    assert wait_dead(gc_pid), "its child (pid %d) still runs" % gc_pid


def test_migration_timeout_with_a_slow_flask_migration(sentry, db):
    r = sentry.run([], env={"SAMPLE_MIGRATION_SLEEP": "20", "SENTRY_MIGRATE_TIMEOUT": "3"},
                   timeout=30)
    st = assert_failed(r, "migrate", 70)
    assert st["migration"]["ran"] is True and st["migration"]["exit_code"] != 0
    assert r.elapsed < 12, r.elapsed
    m = re.search(r"sample migration: sleeping \S+ \(pid (\d+)\)", r.stderr)
    assert m, r
    assert wait_dead(int(m.group(1)))
    assert db.alembic_version() is None


# ------------------------------------------------------------------ verify (65)

def test_missing_column_fails_verify(sentry, db):
    r = sentry.run(["--require-column", "proposals.visitor_session_id",
                    "--require-column", "proposals.no_such_column", "--"] + MARKER_CMD)
    st = assert_failed(r, "verify", 65)
    assert st["checks"] == {"proposals.visitor_session_id": True,
                            "proposals.no_such_column": False}
    assert "proposals.no_such_column" in st["error"]
    assert "[SENTRY] schema OK." not in r.lines
    # the migration itself went fine
    assert st["migration"]["ran"] is True and st["migration"]["exit_code"] == 0
    assert st["alembic_current"] == HEAD
    assert db.alembic_version() == HEAD


def test_missing_table_fails_verify(sentry, db):
    r = sentry.run(["--"] + MARKER_CMD, env={"SENTRY_REQUIRE_COLUMNS": "no_such_table.id"})
    st = assert_failed(r, "verify", 65)
    assert st["checks"] == {"no_such_table.id": False}


def test_wrong_schema_fails_verify(sentry, db):
    r = sentry.run(["--require-column", "other.proposals.id", "--"] + MARKER_CMD)
    st = assert_failed(r, "verify", 65)
    assert list(st["checks"].values()) == [False]


@pytest.mark.parametrize("evil", ["proposals.id'; DROP TABLE conversions; --",
                                  'proposals.id" OR 1=1 OR "x',
                                  "proposals.x' OR '1'='1"])
def test_column_names_are_not_pasted_into_sql(sentry, db, evil):
    # refused as malformed (config, 64) or checked as a name that does not
    # exist (verify, 65): either way never run as SQL, and never "true"
    assert sentry.run([]).rc == 0
    sentry.status_path.unlink()
    r = sentry.run(["--require-column", evil, "--"] + MARKER_CMD)
    assert r.rc in (64, 65), r
    if r.rc == 65:
        st = assert_failed(r, "verify", 65)
        assert list(st["checks"].values()) == [False]
    else:
        assert_failed(r, "config", 64, status_expected=False)
    assert db.has_table("conversions")
    assert db.has_table("proposals")


# ------------------------------------------------------------------ status (73)

def test_status_file_in_missing_directory(sentry, db, tmp_path):
    path = tmp_path / "no" / "such" / "dir" / "status.json"
    r = sentry.run(["--"] + MARKER_CMD, env={"SENTRY_STATUS_FILE": str(path)})
    assert_failed(r, "status", 73, status_expected=False)
    assert not path.exists()
    assert str(path) in r.stderr or "status" in r.stderr


def test_later_failure_replaces_an_old_success(sentry, db, closed_port):
    # an old success must not survive a later failure
    assert sentry.run([]).rc == 0
    assert sentry.status_path.exists()
    url = db.url_with().replace(":%d/" % db.port, ":%d/" % closed_port)
    r = sentry.run([], env={"DATABASE_URL": url, "SENTRY_DB_WAIT": "1"})
    st = assert_failed(r, "connect", 69)
    assert st["migrated"] is False


def test_status_file_replaced_atomically(sentry, db):
    # the status file is a new inode each time (temp file + rename), never rewritten in place
    assert sentry.run([]).rc == 0
    ino1 = sentry.status_path.stat().st_ino
    fd = open(sentry.status_path)
    try:
        assert sentry.run([]).rc == 0
        assert sentry.status_path.stat().st_ino != ino1
        old = fd.read()
    finally:
        fd.close()
    assert '"migrated"' in old
    leftovers = [p.name for p in sentry.status_path.parent.iterdir()
                 if p.name != sentry.status_path.name]
    assert leftovers == [], leftovers


def test_unwritable_status_directory(sentry, db, tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    # root ignores permissions; a file in place of the directory stops everyone
    blocker = tmp_path / "ro" / "afile"
    blocker.write_text("x")
    r = sentry.run(["--"] + MARKER_CMD, env={"SENTRY_STATUS_FILE": str(blocker / "status.json")})
    assert_failed(r, "status", 73, status_expected=False)
