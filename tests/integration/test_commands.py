"""The other commands: config, status, check, --version, --help."""

import json
import re

from conftest import HEAD, PASSWORD, assert_status_shape


def _setting_line(out, *names):
    """The one line of `config` output about a setting (flag or env var name)."""
    rx = re.compile("|".join(re.escape(n) for n in names), re.I)
    found = [l for l in out.splitlines() if rx.search(l)]
    assert found, "no line for %s in:\n%s" % (names, out)
    return found[0]


# ------------------------------------------------------------------ config

def test_config_prints_settings_with_sources(sentry, db, closed_port):
    url = db.url_with().replace(":%d/" % db.port, ":%d/" % closed_port)  # connects to nothing
    r = sentry.run(["config", "--migrate-timeout", "9"],
                   env={"DATABASE_URL": url, "SENTRY_DB_WAIT": "7"})
    assert r.rc == 0, r
    assert r.elapsed < 2.0
    out = r.stdout
    line = _setting_line(out, "db-wait", "DB_WAIT")
    assert re.search(r"\b7\b", line) and re.search(r"env", line, re.I), line
    line = _setting_line(out, "migrate-timeout", "MIGRATE_TIMEOUT")
    assert re.search(r"\b9\b", line) and re.search(r"flag", line, re.I), line
    line = _setting_line(out, "lock-wait", "LOCK_WAIT")
    assert re.search(r"\b900\b", line) and re.search(r"default", line, re.I), line
    line = _setting_line(out, "migrate-cmd", "MIGRATE_CMD")
    assert "flask db upgrade" in line and re.search(r"default", line, re.I), line
    line = _setting_line(out, "database-url", "DATABASE_URL")
    assert "******" in line and str(closed_port) in line, line
    assert PASSWORD not in out
    # config connects to nothing and writes no status file
    assert not sentry.status_path.exists()


def test_config_invalid_is_64(sentry, db):
    r = sentry.run(["config"], env={"SENTRY_DB_WAIT": "abc"})
    assert r.rc == 64, r
    r = sentry.run(["config"], env={"DATABASE_URL": None})
    assert r.rc == 64, r


def test_config_bad_url_does_not_echo_password(sentry, db):
    r = sentry.run(["config"], env={"DATABASE_URL": "mysql://sentry:%s@h/app" % PASSWORD})
    assert r.rc == 64, r
    assert "DATABASE_URL" in r.stderr


def test_config_does_not_look_for_the_migrate_program(sentry, db):
    r = sentry.run(["config"], env={"SENTRY_MIGRATE_CMD": "definitely-not-a-migrator up"})
    assert r.rc == 0, r
    assert "definitely-not-a-migrator" in r.stdout


def test_config_redacts_every_password_form(sentry, db):
    forms = [
        db.url_with(),
        "postgres://sentry:%s@127.0.0.1:%d/%s" % (PASSWORD, db.port, db.name),
        "postgresql+psycopg2://sentry:%s@127.0.0.1:%d/%s" % (PASSWORD, db.port, db.name),
        "host=127.0.0.1 port=%d dbname=%s user=sentry password=%s" % (db.port, db.name, PASSWORD),
        "host=127.0.0.1 password='%s' dbname=%s" % (PASSWORD, db.name),
        "postgresql://sentry@127.0.0.1:%d/%s?sslmode=disable&password=%s" % (
            db.port, db.name, PASSWORD),
    ]
    for url in forms:
        r = sentry.run(["config"], env={"DATABASE_URL": url})
        assert r.rc == 0, (url, r)


# ------------------------------------------------------------------ status

def test_status_without_file_is_66(sentry, db):
    r = sentry.run(["status"])
    assert r.rc == 66, r


def test_status_after_success_is_0(sentry, db):
    assert sentry.run([]).rc == 0
    r = sentry.run(["status"])
    assert r.rc == 0, r
    assert json.loads(r.stdout) == json.loads(sentry.status_path.read_text())
    # --status-file works for status too
    other = sentry.status_path.parent / "copy.json"
    other.write_text(sentry.status_path.read_text())
    sentry.status_path.unlink()
    r = sentry.run(["status", "--status-file", str(other)])
    assert r.rc == 0, r


def test_status_after_failure_is_1(sentry, db):
    r = sentry.run(["--require-column", "proposals.nope"])
    assert r.rc == 65, r
    r = sentry.run(["status"])
    assert r.rc == 1, r
    st = json.loads(r.stdout)
    assert st["migrated"] is False and st["phase"] == "verify"


def test_status_of_a_hand_written_file(sentry, db):
    sentry.status_path.write_text('{"migrated": false, "phase": "migrate"}\n')
    assert sentry.run(["status"]).rc == 1
    sentry.status_path.write_text('{"migrated": true}\n')
    assert sentry.run(["status"]).rc == 0


# ------------------------------------------------------------------ check

def test_check_healthy_is_0(sentry, db):
    assert sentry.run([]).rc == 0
    r = sentry.run(["check", "--require-column", "proposals.visitor_session_id"])
    assert r.rc == 0, r
    st = r.stdout_json
    assert_status_shape(st)
    assert st["migrated"] is True
    assert st["alembic_current"] == HEAD
    assert st["checks"] == {"proposals.visitor_session_id": True}
    assert st["migration"]["ran"] is False


def test_check_missing_column_is_65(sentry, db):
    assert sentry.run([]).rc == 0
    r = sentry.run(["check", "--require-column", "proposals.nope"])
    assert r.rc == 65, r
    st = r.stdout_json
    assert st["checks"] == {"proposals.nope": False}
    assert st["migrated"] is False and st["phase"] == "verify"


def test_check_unreachable_is_69(sentry, db, closed_port):
    url = db.url_with().replace(":%d/" % db.port, ":%d/" % closed_port)
    r = sentry.run(["check"], env={"DATABASE_URL": url, "SENTRY_DB_WAIT": "1"})
    assert r.rc == 69, r
    st = r.stdout_json
    assert st["phase"] == "connect" and st["migrated"] is False


def test_check_never_migrates(sentry, db):
    r = sentry.run(["check"], env={"SENTRY_MIGRATE_CMD": "sh -c 'echo ran > migrate-ran'"})
    assert r.rc == 65, r
    assert not (sentry.cwd / "migrate-ran").exists()
    assert db.alembic_version() is None
    assert not db.has_table("proposals")
    # nor does it need the migrate program
    r = sentry.run(["check"], env={"SENTRY_MIGRATE_CMD": "definitely-not-a-migrator"})
    assert r.rc == 65, r


# ------------------------------------------------------------------ --version / --help

def test_version(sentry, db):
    r = sentry.run(["--version"])
    assert r.rc == 0, r
    assert "0.1.0" in r.stdout


def test_help(sentry, db):
    r = sentry.run(["--help"])
    assert r.rc == 0, r
    for word in ("--require-column", "--status-file", "check", "status", "config"):
        assert word in r.stdout, word
