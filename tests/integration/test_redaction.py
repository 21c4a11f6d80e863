"""The password never shows: not in the log, the status file, or an error
(every run through the `sentry` fixture checks that too)."""

import pytest

from conftest import PASSWORD


@pytest.mark.parametrize("how", ["url", "conninfo", "query"])
def test_wrong_password_never_printed(sentry, db, how):
    wrong = "Zq9Xv-Jw7K-%d" % ["url", "conninfo", "query"].index(how)
    if how == "url":
        url = db.url_with(password=wrong)
    elif how == "conninfo":
        url = "host=127.0.0.1 port=%d dbname=%s user=sentry password=%s" % (
            db.port, db.name, wrong)
    else:
        url = "postgresql://sentry@127.0.0.1:%d/%s?password=%s" % (db.port, db.name, wrong)
    r = sentry.run([], env={"DATABASE_URL": url, "SENTRY_DB_WAIT": "5"}, secrets=[wrong])
    assert r.rc == 77, r
    assert r.status is not None and r.status["phase"] == "connect"


def test_password_not_in_log_of_a_successful_run(sentry, db):
    r = sentry.run(["--require-column", "proposals.title"])
    assert r.rc == 0, r
    assert PASSWORD not in r.stderr
    assert PASSWORD not in sentry.status_path.read_text()
    assert "******" in r.stderr


def test_password_not_in_unreachable_errors(sentry, db, closed_port):
    url = db.url_with().replace(":%d/" % db.port, ":%d/" % closed_port)
    r = sentry.run([], env={"DATABASE_URL": url, "SENTRY_DB_WAIT": "1"})
    assert r.rc == 69, r


def test_password_not_echoed_for_bad_url(sentry, db):
    for url in ["mysql://sentry:%s@127.0.0.1/app" % PASSWORD,
                "postgresql://sentry:%s@127.0.0.1:notaport/app" % PASSWORD,
                "postgresql+asyncpg://sentry:%s@[::1/app" % PASSWORD]:
        r = sentry.run([], env={"DATABASE_URL": url, "SENTRY_DB_WAIT": "2"})
        assert r.rc in (64, 69), r


def test_password_not_in_check_output(sentry, db):
    assert sentry.run([]).rc == 0
    r = sentry.run(["check"])
    assert r.rc == 0, r
    assert PASSWORD not in r.stdout


def test_password_not_in_config_with_flag(sentry, db):
    # the flag wins over the environment, and is redacted the same way
    r = sentry.run(["config", "--database-url", db.url_with()],
                   env={"DATABASE_URL": "postgresql://other@10.9.8.7:5432/elsewhere"})
    assert r.rc == 0, r
    assert PASSWORD not in r.stdout
    assert "10.9.8.7" not in r.stdout
    assert "127.0.0.1:%d" % db.port in r.stdout


def test_password_in_migration_output_is_masked(sentry, db):
    # a migration tool that prints the URL it got: masked in the log and the tail
    r = sentry.run([], env={
        "SENTRY_MIGRATE_CMD": "sh -c 'echo connecting to %s; echo done'" % db.url})
    assert r.rc == 65, r  # the command migrated nothing: verify names the pending heads
    lines = [l for l in r.lines if l.startswith("[migrate] connecting to")]
    assert lines and "******" in lines[0], r
    tail = r.status["migration"]["output_tail"]
    assert any("******" in l for l in tail), tail
    # (the run helper has already asserted the password is nowhere in the output)
