"""The gate, end to end, when it passes: migrate, verify, status file, start."""

import re
import time

from conftest import (BANNER_START, BANNER_SUCCESS, BANNER_UPGRADE, BANNER_VERIFY, HEAD,
                      MARKER_CMD, REV1, REV2, REV3, assert_status_shape)


def test_happy_path_migrates_and_starts_the_command(sentry, db):
    assert db.alembic_version() is None
    r = sentry.run(["--require-column", "proposals.visitor_session_id",
                    "--require-column=conversions.proposal_id", "--"] + MARKER_CMD)
    assert r.rc == 0, r
    # the migrations really ran
    assert db.alembic_version() == HEAD
    assert db.has_column("proposals", "title")
    assert db.has_column("proposals", "visitor_session_id")
    assert db.has_column("conversions", "created_at")
    assert db.has_column("conversions", "proposal_id")
    # and then the command after --
    assert (sentry.cwd / "marker").read_text() == "started\n"


def test_happy_path_log_in_order(sentry, db):
    r = sentry.run(["--require-column", "proposals.visitor_session_id", "--"] + MARKER_CMD)
    assert r.rc == 0, r
    i_start = r.index_of(BANNER_START)
    i_app = r.index_of("FLASK_APP=app.py", i_start)
    i_db = r.index_of("DB (redacted): ", i_start)
    assert r.lines[i_db] == "DB (redacted): " + db.redacted(), r
    i_ok = r.index_of("[SENTRY] DB OK:", i_db)
    assert db.name in r.lines[i_ok], r.lines[i_ok]
    i_srv = r.index_of("[SENTRY] Server: PostgreSQL ", i_ok)
    assert re.match(r"^\[SENTRY\] Server: PostgreSQL \d+\.\d+", r.lines[i_srv]), r.lines[i_srv]
    i_up = r.index_of(BANNER_UPGRADE, i_srv)
    i_ver = r.index_of(BANNER_VERIFY, i_up)
    i_schema = r.index_of("[SENTRY] schema OK.", i_ver)
    i_succ = r.index_of(BANNER_SUCCESS, i_schema)
    assert i_start < i_app < i_db < i_ok < i_srv < i_up < i_ver < i_schema < i_succ
    # the migration's output, each line prefixed, between its banner and verify
    mig = [(i, l) for i, l in enumerate(r.lines) if l.startswith("[migrate] ")]
    assert mig, r
    assert all(i_up < i < i_ver for i, _ in mig), r
    text = "\n".join(l for _, l in mig)
    for rev in (REV1, REV2, REV3):
        assert re.search(r"Running upgrade .*-> %s" % rev, text), text
    # alembic writes those lines on stderr: they must not leak unprefixed
    assert not any(l.startswith("INFO  [alembic") for l in r.lines), r


def test_log_goes_to_stderr_stdout_is_the_commands(sentry, db):
    r = sentry.run(["--", "sh", "-c", "echo hello-from-cmd; echo $FLASK_APP; pwd"])
    assert r.rc == 0, r
    assert r.stdout == "hello-from-cmd\napp.py\n%s\n" % sentry.cwd, r
    assert BANNER_SUCCESS in r.lines


def test_happy_path_status_file(sentry, db, pg):
    r = sentry.run(["--require-column", "proposals.visitor_session_id",
                    "--require-column", "conversions.proposal_id"])
    assert r.rc == 0, r
    st = r.status
    assert st is not None, r
    assert_status_shape(st)
    assert st["migrated"] is True
    assert st["alembic_current"] == HEAD
    assert st["checks"] == {"proposals.visitor_session_id": True,
                            "conversions.proposal_id": True}
    assert list(st["checks"].keys()) == ["proposals.visitor_session_id",
                                         "conversions.proposal_id"]
    assert st["alembic_heads"] == [HEAD]
    assert st["phase"] == "done"
    assert st["error"] is None
    m = st["migration"]
    assert m["ran"] is True
    assert m["skipped"] is None
    assert m["exit_code"] == 0
    assert m["recovered"] is False
    assert 0 < len(m["output_tail"]) <= 50
    assert any("Running upgrade" in l and REV3 in l for l in m["output_tail"]), m
    assert st["database"] == db.redacted()
    num = int(pg.psql("SHOW server_version_num", db="postgres").strip())
    assert st["server_version"] == "%d.%d" % (num // 10000, num % 10000), st["server_version"]
    assert st["duration_ms"] >= m["duration_ms"]
    assert st["duration_ms"] <= int(r.elapsed * 1000) + 50
    # a flask db upgrade takes a few hundred ms at least
    assert m["duration_ms"] >= 100, m


def test_status_timestamps_match_duration(sentry, db):
    from datetime import datetime
    r = sentry.run([])
    assert r.rc == 0, r
    st = r.status
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    a = datetime.strptime(st["started_at"], fmt)
    b = datetime.strptime(st["finished_at"], fmt)
    span = (b - a).total_seconds() * 1000
    assert abs(span - st["duration_ms"]) <= 20, (span, st["duration_ms"])
    now = datetime.utcnow()
    assert abs((now - b).total_seconds()) < 30


def test_no_command_exits_zero(sentry, db):
    r = sentry.run([])
    assert r.rc == 0, r
    assert r.stdout == ""
    assert r.status["migrated"] is True
    assert db.alembic_version() == HEAD


def test_double_dash_without_command_exits_zero(sentry, db):
    r = sentry.run(["--"])
    assert r.rc == 0, r
    assert r.status["migrated"] is True


def test_require_columns_from_environment(sentry, db):
    r = sentry.run([], env={"SENTRY_REQUIRE_COLUMNS":
                            "proposals.visitor_session_id, conversions.proposal_id,"
                            "public.proposals.title"})
    assert r.rc == 0, r
    checks = r.status["checks"]
    assert len(checks) == 3, checks
    assert all(v is True for v in checks.values()), checks
    assert checks.get("proposals.visitor_session_id") is True
    assert checks.get("conversions.proposal_id") is True
    assert any(k.endswith("proposals.title") for k in checks), checks


def test_require_column_schema_form(sentry, db):
    r = sentry.run(["--require-column", "public.conversions.proposal_id"])
    assert r.rc == 0, r
    assert list(r.status["checks"].values()) == [True], r.status["checks"]


def test_require_column_flag_replaces_environment(sentry, db):
    r = sentry.run(["--require-column", "proposals.visitor_session_id"],
                   env={"SENTRY_REQUIRE_COLUMNS": "proposals.no_such_column"})
    assert r.rc == 0, r
    assert r.status["checks"] == {"proposals.visitor_session_id": True}


def test_status_file_flag_wins_over_environment(sentry, db, tmp_path):
    other = tmp_path / "run" / "flag-status.json"
    r = sentry.run(["--status-file", str(other)])
    assert r.rc == 0, r
    assert other.exists()
    assert not sentry.status_path.exists()
    assert r.status["migrated"] is True


def test_second_run_skips_the_migration(sentry, db):
    first = sentry.run([])
    assert first.rc == 0, first
    assert first.status["migration"]["ran"] is True
    second = sentry.run(["--require-column", "proposals.visitor_session_id", "--"] + MARKER_CMD)
    assert second.rc == 0, second
    assert second.marker_started
    assert ("[SENTRY] database already at heads (%s); skipping flask db upgrade" % HEAD
            in second.lines), second
    assert second.migrate_lines == [], second
    assert BANNER_SUCCESS in second.lines
    st = second.status
    assert_status_shape(st)
    assert st["migrated"] is True
    assert st["alembic_current"] == HEAD
    assert st["alembic_heads"] == [HEAD]
    m = st["migration"]
    assert m["ran"] is False
    assert isinstance(m["skipped"], str) and m["skipped"]
    assert m["exit_code"] is None
    assert m["output_tail"] == []
    # no Python started: far quicker than a flask db upgrade
    assert second.elapsed < 1.0, second.elapsed
    assert second.elapsed < first.elapsed, (first.elapsed, second.elapsed)


def test_fast_path_never_runs_the_migration_command(sentry, db):
    first = sentry.run([])
    assert first.rc == 0, first
    cmd = "sh -c 'echo ran >> migrate-ran'"
    r = sentry.run([], env={"SENTRY_MIGRATE_CMD": cmd})
    assert r.rc == 0, r
    assert not (sentry.cwd / "migrate-ran").exists(), r
    assert any(l.startswith("[SENTRY] database already at heads (%s); skipping" % HEAD)
               for l in r.lines), r


def test_partially_migrated_database_is_upgraded(sentry, db, app_dir):
    # bring the database to rev 1 with flask itself, then let the gate finish
    import subprocess
    p = subprocess.run(["/usr/bin/flask", "db", "upgrade", REV1], cwd=str(app_dir),
                       env=sentry.env(), capture_output=True, timeout=60)
    assert p.returncode == 0, p
    assert db.alembic_version() == REV1
    r = sentry.run([])
    assert r.rc == 0, r
    assert db.alembic_version() == HEAD
    assert r.status["migration"]["ran"] is True
    text = "\n".join(r.migrate_lines)
    assert "-> %s" % REV2 in text and "-> %s" % REV3 in text
    assert "-> %s," % REV1 not in text


def test_no_migrate_on_an_up_to_date_database(sentry, db):
    assert sentry.run([]).rc == 0
    r = sentry.run(["--no-migrate", "--"] + MARKER_CMD,
                   env={"SENTRY_MIGRATE_CMD": "sh -c 'echo ran >> migrate-ran'"})
    assert r.rc == 0, r
    assert r.marker_started
    assert not (sentry.cwd / "migrate-ran").exists()
    assert r.status["migration"]["ran"] is False


def test_command_exit_code_passes_through(sentry, db):
    r = sentry.run(["--", "sh", "-c", "exit 7"])
    assert r.rc == 7, r
    assert r.status["migrated"] is True


def test_command_not_found_is_127(sentry, db):
    r = sentry.run(["--", "no-such-command-xyz", "arg"])
    assert r.rc == 127, r
    assert r.status["migrated"] is True


def test_command_not_executable_is_126(sentry, db):
    script = sentry.cwd / "notexec.sh"
    script.write_text("#!/bin/sh\necho should-not-run > marker\n")
    script.chmod(0o644)
    r = sentry.run(["--", "./notexec.sh"])
    assert r.rc == 126, r
    assert not r.marker_started


def test_command_receives_its_arguments_verbatim(sentry, db):
    r = sentry.run(["--", "sh", "-c", 'printf "%s|" "$@"', "sh", "a b", "$HOME", "--x", ""])
    assert r.rc == 0, r
    assert r.stdout == "a b|$HOME|--x||", r


def test_status_endpoint_of_the_sample_app_after_the_gate(sentry, db):
    """The sample app serves what the gate wrote (the /api/ops contract)."""
    import json
    import subprocess
    spec = "conversions.proposal_id"
    r = sentry.run(["--require-column", spec])
    assert r.rc == 0, r
    code = ("from app import app\nr = app.test_client().get('/api/ops/migration_status')\n"
            "print(r.status_code); print(r.get_data(as_text=True))\n")
    p = subprocess.run(["/usr/bin/python3", "-c", code], cwd=str(sentry.cwd),
                       env=sentry.env(), capture_output=True, timeout=60)
    assert p.returncode == 0, p
    out = p.stdout.decode().split("\n", 1)
    assert out[0] == "200", p
    body = json.loads(out[1])
    assert body["migrated"] is True and body["checks"] == {spec: True}


def test_migrate_command_split_like_a_shell_without_a_shell(sentry, db):
    # quotes and backslashes group words as in sh; quoted text is never expanded
    cmd = ("sh -c 'printf \"%s|\" \"$@\" > args.txt; exec flask db upgrade' argv0 "
           "\"a b\" 'c d' '$HOME' e\\ f \"\" '>' \"x;y\"")
    r = sentry.run([], env={"SENTRY_MIGRATE_CMD": cmd})
    assert r.rc == 0, r
    assert (sentry.cwd / "args.txt").read_text() == "a b|c d|$HOME|e f||>|x;y|"
    assert db.alembic_version() == HEAD


def test_unquoted_shell_operators_are_never_interpreted(sentry, db):
    # no shell runs the command: an unquoted $VAR or > is either taken
    # literally or refused (config, 64); it is never expanded or redirected
    cmd = "sh -c 'printf \"%s|\" \"$@\" > args.txt; exec flask db upgrade' argv0 $HOME x>y"
    r = sentry.run([], env={"SENTRY_MIGRATE_CMD": cmd})
    assert not (sentry.cwd / "y").exists()
    if r.rc == 64:
        assert "SENTRY_MIGRATE_CMD" in r.stderr, r
        assert not (sentry.cwd / "args.txt").exists()
    else:
        assert r.rc == 0, r
        assert (sentry.cwd / "args.txt").read_text() == "$HOME|x>y|"


def test_migration_output_is_streamed_line_by_line(sentry, db):
    run = sentry.popen([], env={"SENTRY_MIGRATE_CMD":
                                "sh -c 'echo first-line; sleep 2; exec flask db upgrade'"})
    try:
        t0 = time.monotonic()
        run.wait_for(r"^\[migrate\] first-line$", timeout=20)
        seen = time.monotonic() - t0
        r = run.finish(timeout=30)
    finally:
        run.kill()
    assert r.rc == 0, r
    # the line shows while the command still runs, not when it ends
    assert r.elapsed - seen >= 1.5, (seen, r.elapsed)
    assert r.migrate_lines[0] == "[migrate] first-line"
