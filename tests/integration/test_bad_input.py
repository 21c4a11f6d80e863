"""Bad input, table-driven: every input the binary reads, fed with junk.

Each case runs the real binary (SENTRY_BIN selects another build, e.g.
build/asan/migration-sentry) and must give its contract code (64 for
configuration, 65 for `heads` with scripts it cannot read for certain), with
exactly one `[SENTRY] error:` line on stderr (after the FAILED banner for the
gate) and nothing else there, never an exit >= 128, never a sanitizer report,
never the database password anywhere, and no status file for a configuration
failure. No database is needed: the URLs point at a closed port and
configuration errors come before any connection.

Limits of the harness: Linux refuses a single argv or environment string
longer than MAX_ARG_STRLEN (128 KiB), so the "1 MB" inputs are ~120 KB
strings, and ~1 MB in total where a setting can be repeated as a flag.
"""

import os
import subprocess

import pytest

from conftest import BINARY, assert_no_secret, assert_utf8, banner_failed

PW = "Zq9-Vxj7Kq-Wz-77x"
PW_ENC = "Zq9%2DVxj7Kq%2DWz%2D77x"     # the same password, percent-encoded
HOST = "127.0.0.1:1"                    # nothing listens on port 1
GOOD_URL = "postgresql://sentry:%s@%s/app" % (PW, HOST)
BIG = 120_000                           # bytes: under Linux's 128 KiB per string
SECRETS = (PW, "Vxj7Kq-Wz", "Vxj7Kq%2DWz")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "ThreadSanitizer", "MemorySanitizer")
ERROR_PREFIX = "[SENTRY] error: "
CONFIG_BANNER = banner_failed("config")


def base_env(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "FLASK_APP": "app.py",
        "DATABASE_URL": GOOD_URL,
        "SENTRY_DB_WAIT": "0",
        "SENTRY_STATUS_FILE": str(tmp_path / "run" / "status.json"),
    }
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if os.environ.get(k):
            env[k] = os.environ[k]
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    return env


def run(tmp_path, args, env=None, timeout=30):
    """(rc, stdout, stderr) of the binary run in tmp_path with a clean env."""
    full = base_env(tmp_path)
    (tmp_path / "run").mkdir(exist_ok=True)
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    p = subprocess.run([str(BINARY)] + list(args), cwd=str(tmp_path), env=full,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, start_new_session=True)
    where = "output of %r" % ([a[:60] for a in args],)
    return p.returncode, assert_utf8(p.stdout, "std" + where), assert_utf8(p.stderr, "err" + where)


def describe(args, rc, out, err):
    def cut(s):
        return s if len(s) < 3000 else s[:1500] + "\n...[%d bytes]...\n" % len(s) + s[-1500:]
    return "argv=%r rc=%r\n--- stdout:\n%s\n--- stderr:\n%s" % (
        [a if len(a) < 200 else a[:60] + "...(%d bytes)" % len(a) for a in args], rc,
        cut(out), cut(err))


def check_common(tmp_path, args, rc, out, err):
    what = describe(args, rc, out, err)
    assert rc < 128, "exit >= 128\n" + what
    for mark in SANITIZER_MARKS:
        assert mark not in err and mark not in out, "sanitizer report\n" + what
    for s in SECRETS:
        assert s not in out and s not in err, "password %r leaked\n%s" % (s, what)
    assert_no_secret(out + err, [PW], what)
    status_dir = tmp_path / "run"
    if status_dir.exists():
        st = status_dir / "status.json"
        if st.exists():
            for s in SECRETS:
                assert s not in st.read_text(errors="replace"), "password in status file"
    return what


def assert_config_error(tmp_path, args, env=None, gate=None):
    """64, exactly one error line (after the FAILED banner for the gate),
    no status file."""
    rc, out, err = run(tmp_path, args, env)
    what = check_common(tmp_path, args, rc, out, err)
    assert rc == 64, what
    lines = err.splitlines()
    errors = [l for l in lines if l.startswith(ERROR_PREFIX)]
    assert len(errors) == 1, "want exactly one error line\n" + what
    assert len(errors[0]) > len(ERROR_PREFIX) + 5, what
    if gate is None:
        gate = not any(a in ("config", "check", "heads", "status", "sql") for a in args)
    if gate:
        assert lines == [CONFIG_BANNER, errors[0]], what
    else:
        # a parse error before the subcommand word is read is still the gate's
        assert lines in ([errors[0]], [CONFIG_BANNER, errors[0]]), what
    status_dir = tmp_path / "run"
    assert not status_dir.exists() or list(status_dir.iterdir()) == [], \
        "status file written on a config failure: %r\n%s" % (list(status_dir.iterdir()), what)
    return errors[0]


# ----------------------------------------------------------------- DATABASE_URL

def u(rest, scheme="postgresql"):
    return "%s://sentry:%s@%s" % (scheme, PW, rest)


BAD_URLS = [
    ("empty", ""),
    ("blank", "   "),
    ("tabs-newlines", "\t\n \r\n"),
    ("mysql", u(HOST + "/app", "mysql")),
    ("http", u(HOST + "/app", "http")),
    ("https", u(HOST + "/app", "https")),
    ("sqlite", "sqlite:///app.db"),
    ("jdbc", "jdbc:postgresql://127.0.0.1:1/app?user=sentry&password=" + PW),
    ("pgsql-scheme", u(HOST + "/app", "pgsql")),
    ("postgresx", u(HOST + "/app", "postgresx")),
    ("upper-scheme", u(HOST + "/app", "POSTGRESQL")),
    ("driver-empty", u(HOST + "/app", "postgresql+")),
    ("driver-on-wrong-scheme", u(HOST + "/app", "mysql+psycopg2")),
    ("one-slash", "postgresql:/sentry:%s@%s/app" % (PW, HOST)),
    ("no-scheme", "sentry:%s@%s/app" % (PW, HOST)),
    ("scheme-only", "postgresql://"[:-2]),
    ("scheme-with-underscore", u(HOST + "/app?x=1", "x_y")),
    ("scheme-with-space", u(HOST + "/app?x=1", "post gres")),
    ("scheme-with-colon-eq", "a=b:" + u(HOST + "/app")),
    ("port-letters", u("127.0.0.1:abc/app")),
    ("port-mixed", u("127.0.0.1:12a/app")),
    ("port-zero", u("127.0.0.1:0/app")),
    ("port-negative", u("127.0.0.1:-1/app")),
    ("port-65536", u("127.0.0.1:65536/app")),
    ("port-huge", u("127.0.0.1:99999999999999999999/app")),
    ("port-space", u("127.0.0.1: 5432/app")),
    ("port-plus", u("127.0.0.1:+5432/app")),
    ("port-in-multihost", u("127.0.0.1:5432,127.0.0.2:x/app")),
    ("port-query", u("127.0.0.1/app?port=70000")),
    ("pct-bad-host", u("h%zz:1/app")),
    ("pct-bad-db", u(HOST + "/a%zzb")),
    ("pct-truncated", u(HOST + "/app%4")),
    ("pct-lone", u(HOST + "/app%")),
    ("pct-bad-in-password", "postgresql://sentry:%s%%zz@%s/app" % (PW, HOST)),
    ("pct-nul", u(HOST + "/a%00b")),
    ("pct-bad-query", u(HOST + "/app?application_name=%g1")),
    ("unknown-param", u(HOST + "/app?bogus=1")),
    ("unknown-param-2", u(HOST + "/app?sslmode=require&frobnicate=yes")),
    ("query-no-value", u(HOST + "/app?sslmode")),
    ("query-password-then-bogus", "postgresql://sentry@%s/app?password=%s&bogus=1" % (HOST, PW)),
    ("unterminated-ipv6", u("[::1/app")),
    ("kv-unknown-key", "host=127.0.0.1 port=1 password=%s bogus_option=1" % PW),
    ("kv-unterminated-quote", "host=127.0.0.1 password='%s" % PW),
    ("kv-missing-equals", "host=127.0.0.1 password=%s junk" % PW),
    ("kv-bad-port", "host=127.0.0.1 port=notaport password=%s" % PW),
    ("kv-password-spaces", "password = %s x" % PW),
    ("kv-empty-key", "=%s host=127.0.0.1" % PW),
    ("invalid-sslmode", u(HOST + "/app?sslmode=bogus")),
    ("invalid-target-session-attrs", u(HOST + "/app?target_session_attrs=bogus")),
    ("invalid-gssencmode", u(HOST + "/app?gssencmode=bogus")),
    ("binary-junk", "".join(chr(c) for c in range(1, 256) if c not in (0x3d,)) + PW),
    ("unicode-junk", "\u2603\u00e9\u4e2d\U0001f600 " + PW),
    ("unicode-scheme", u(HOST + "/app", "p\u00f6stgresql")),
    ("big-junk", "x" * BIG + PW),
    ("big-bad-query", u(HOST + "/app?x=" + "a" * BIG)),
    ("big-bad-port", u("127.0.0.1:" + "9" * BIG + "/app")),
    ("big-pct", u(HOST + "/" + "%zz" * (BIG // 3))),
]


@pytest.mark.parametrize("url", [c[1] for c in BAD_URLS], ids=[c[0] for c in BAD_URLS])
@pytest.mark.parametrize("how", ["gate-env", "config-env", "gate-flag"])
def test_bad_database_url(tmp_path, sentry_bin, url, how):
    if how == "gate-env":
        err = assert_config_error(tmp_path, ["--", "true"], env={"DATABASE_URL": url})
    elif how == "config-env":
        err = assert_config_error(tmp_path, ["config"], env={"DATABASE_URL": url})
    else:
        err = assert_config_error(tmp_path, ["--database-url", url, "--", "true"],
                                  env={"DATABASE_URL": None})
        assert "--database-url" in err, err
        return
    if url.strip():
        assert "DATABASE_URL" in err, err


GOOD_ODD_URLS = [
    ("sqlalchemy-driver", u(HOST + "/app", "postgresql+psycopg2")),
    ("postgres-scheme", u(HOST + "/app", "postgres")),
    ("unicode-db", u(HOST + "/d\u00df\u2603")),
    ("unicode-user", "postgresql://\u00fc:%s@%s/app" % (PW, HOST)),
    ("encoded-password", "postgresql://sentry:%s@%s/app" % (PW_ENC, HOST)),
    ("password-query", "postgresql://sentry@%s/app?password=%s" % (HOST, PW)),
    ("kv", "host=127.0.0.1 port=1 dbname=app user=sentry password=%s" % PW),
    ("kv-quoted", "host=127.0.0.1 port=1 dbname=app user=sentry password='%s'" % PW),
    ("surrounding-blanks", "  " + GOOD_URL + " \n"),
    ("big-dbname", u(HOST + "/" + "d" * BIG)),
    ("ipv6-literal", u("[::1]:1/app")),
    ("hostname-with-colons", u("[zz::1:1]:1/app")),
]


@pytest.mark.parametrize("url", [c[1] for c in GOOD_ODD_URLS], ids=[c[0] for c in GOOD_ODD_URLS])
def test_odd_but_valid_database_url(tmp_path, sentry_bin, url):
    """Accepted by `config` (exit 0); the gate gets past config and fails to
    connect (69) in one attempt; the password shows nowhere."""
    rc, out, err = run(tmp_path, ["config"], env={"DATABASE_URL": url})
    what = check_common(tmp_path, ["config"], rc, out, err)
    assert rc == 0, what
    assert "DATABASE_URL=postgresql://" in out, what
    if "[" in url:
        # the shown URL must stay a URL: an IPv6 host keeps its brackets
        shown = [l for l in out.splitlines() if l.startswith("DATABASE_URL=")][0]
        assert "@[" in shown and "]:1/app" in shown, what
    rc, out, err = run(tmp_path, ["--", "true"], env={"DATABASE_URL": url})
    what = check_common(tmp_path, ["--", "true"], rc, out, err)
    assert rc == 69, what
    assert banner_failed("connect") in err.splitlines(), what


# ------------------------------------------------------------ numeric settings

SECONDS = ["SENTRY_DB_WAIT", "SENTRY_LOCK_WAIT", "SENTRY_MIGRATE_TIMEOUT", "SENTRY_GRACE"]
FLAG_OF = {"SENTRY_DB_WAIT": "--db-wait", "SENTRY_LOCK_WAIT": "--lock-wait",
           "SENTRY_MIGRATE_TIMEOUT": "--migrate-timeout", "SENTRY_GRACE": "--grace",
           "SENTRY_LOCK_KEY": "--lock-key", "SENTRY_MIGRATE_CMD": "--migrate-cmd",
           "SENTRY_REQUIRE_COLUMNS": "--require-column", "SENTRY_RECOVER": "--recover",
           "SENTRY_REQUIRED_ENV": "--require-env", "SENTRY_STATUS_FILE": "--status-file",
           "SENTRY_MIGRATIONS_DIR": "--migrations-dir"}
BAD_SECONDS = [
    ("minus-one", "-1"), ("fraction", "1.5"), ("exponent", "1e3"), ("hex", "0x10"),
    ("octal-ish", "010x"), ("huge", "99999999999999999999999"), ("over-a-year", "31536001"),
    ("int64-max", "9223372036854775807"), ("int64-overflow", "9223372036854775808"),
    ("space", " "), ("leading-space", " 5"), ("trailing-space", "5 "), ("plus", "+5"),
    ("minus-zero", "-0"), ("unit", "5s"), ("words", "five"), ("arabic-digit", "\u0663"),
    ("fullwidth-digit", "\uff15"), ("newline", "5\n"), ("tab", "\t5"), ("comma", "1,000"),
    ("underscore", "1_000"), ("nan", "nan"), ("inf", "inf"), ("big", "1" * BIG),
    ("big-junk", "x" * BIG),
]


@pytest.mark.parametrize("value", [c[1] for c in BAD_SECONDS], ids=[c[0] for c in BAD_SECONDS])
@pytest.mark.parametrize("var", SECONDS)
def test_bad_seconds(tmp_path, sentry_bin, var, value):
    err = assert_config_error(tmp_path, ["--", "true"], env={var: value})
    assert var in err, err
    err = assert_config_error(tmp_path, ["config"], env={var: value})
    assert var in err, err
    err = assert_config_error(tmp_path, [FLAG_OF[var] + "=" + value, "--", "true"])
    assert FLAG_OF[var] in err, err
    # the flag wins over a good variable, and the error says which one was bad
    err = assert_config_error(tmp_path, [FLAG_OF[var], value, "config"], env={var: "5"})
    assert FLAG_OF[var] in err, err
    assert len(err) < 600, "the error echoes the whole value: %d bytes" % len(err)


@pytest.mark.parametrize("var", SECONDS)
def test_empty_seconds_flag_is_refused(tmp_path, sentry_bin, var):
    assert_config_error(tmp_path, [FLAG_OF[var] + "=", "--", "true"])
    assert_config_error(tmp_path, [FLAG_OF[var] + "=", "config"])


@pytest.mark.parametrize("var", SECONDS + ["SENTRY_LOCK_KEY", "SENTRY_MIGRATE_CMD",
                                           "SENTRY_NO_MIGRATE", "SENTRY_INIT", "SENTRY_RECOVER"])
def test_empty_scalar_variable_means_unset(tmp_path, sentry_bin, var):
    """VAR= (as compose files write it) is the default, not an error."""
    rc, out, err = run(tmp_path, ["config"], env={var: ""})
    what = check_common(tmp_path, ["config"], rc, out, err)
    assert rc == 0, what
    line = [l for l in out.splitlines() if l.startswith(var + "=")]
    assert len(line) == 1 and line[0].endswith("(default)"), what


@pytest.mark.parametrize("value,ok", [("0", True), ("31536000", True), ("007", True)])
@pytest.mark.parametrize("var", SECONDS)
def test_edge_seconds_accepted(tmp_path, sentry_bin, var, value, ok):
    rc, out, err = run(tmp_path, ["config"], env={var: value})
    what = check_common(tmp_path, ["config"], rc, out, err)
    assert rc == 0, what


# --------------------------------------------------------------- SENTRY_LOCK_KEY

BAD_KEYS = [
    ("overflow-up", "9223372036854775808"), ("overflow-down", "-9223372036854775809"),
    ("way-over", "1" * 40), ("way-under", "-" + "1" * 40), ("hex", "0x10"), ("hex-upper", "0XFF"),
    ("junk", "junk"), ("fraction", "1.5"), ("exponent", "1e3"), ("leading-space", " 1"),
    ("trailing-space", "1 "), ("only-minus", "-"), ("only-plus", "+"), ("double-minus", "--1"),
    ("unicode-digit", "\u0661\u0662"), ("comma", "1,2"), ("big", "9" * BIG),
]


@pytest.mark.parametrize("value", [c[1] for c in BAD_KEYS], ids=[c[0] for c in BAD_KEYS])
def test_bad_lock_key(tmp_path, sentry_bin, value):
    err = assert_config_error(tmp_path, ["--", "true"], env={"SENTRY_LOCK_KEY": value})
    assert "SENTRY_LOCK_KEY" in err, err
    err = assert_config_error(tmp_path, ["--lock-key=" + value, "config"])
    assert "--lock-key" in err, err
    assert len(err) < 600, "the error echoes the whole value: %d bytes" % len(err)


@pytest.mark.parametrize("value", ["9223372036854775807", "-9223372036854775808", "0", "-1"])
def test_lock_key_limits_accepted(tmp_path, sentry_bin, value):
    rc, out, err = run(tmp_path, ["config"], env={"SENTRY_LOCK_KEY": value})
    what = check_common(tmp_path, ["config"], rc, out, err)
    assert rc == 0, what
    assert "SENTRY_LOCK_KEY=%s (environment)" % value in out.splitlines(), what


# ------------------------------------------------------------ SENTRY_MIGRATE_CMD

BAD_CMDS = [
    ("unterminated-single", "flask 'db upgrade"), ("unterminated-double", 'flask "db upgrade'),
    ("semicolon", "flask db upgrade; echo x"), ("pipe", "flask db upgrade | tee log"),
    ("and", "flask db upgrade && echo ok"), ("background", "flask db upgrade &"),
    ("redirect-out", "flask db upgrade > log"), ("redirect-in", "flask db upgrade < x"),
    ("subshell", "(flask db upgrade)"), ("dollar", "flask $CMD"),
    ("command-subst", "$(which flask) db upgrade"), ("backticks", "`which flask` db upgrade"),
    ("dollar-in-double", 'flask "$HOME"'), ("lone-backslash", "flask db upgrade \\"),
    ("blank", "   "), ("tab-newline", "\t\n"), ("not-found", "no-such-program-xyz db upgrade"),
    ("not-executable", "/etc/passwd"), ("a-directory", "/tmp"),
    ("missing-abs", "/nonexistent/bin/flask db upgrade"),
    ("big-unterminated", "flask '" + "x" * BIG), ("big-program", "y" * BIG),
    ("big-operator", "flask " + "a" * BIG + ";"),
]


@pytest.mark.parametrize("value", [c[1] for c in BAD_CMDS], ids=[c[0] for c in BAD_CMDS])
def test_bad_migrate_cmd(tmp_path, sentry_bin, value):
    err = assert_config_error(tmp_path, ["--", "true"], env={"SENTRY_MIGRATE_CMD": value})
    assert "SENTRY_MIGRATE_CMD" in err, err
    err = assert_config_error(tmp_path, ["--migrate-cmd", value, "--", "true"])
    assert "--migrate-cmd" in err, err
    assert len(err) < 1000, "the error echoes the whole value: %d bytes" % len(err)


def test_empty_migrate_cmd_flag(tmp_path, sentry_bin):
    err = assert_config_error(tmp_path, ["--migrate-cmd=", "--", "true"])
    assert "--migrate-cmd" in err, err


@pytest.mark.parametrize("value", [c[1] for c in BAD_CMDS if c[0] in
                                   ("semicolon", "not-found", "unterminated-single")])
def test_migrate_cmd_ignored_with_no_migrate(tmp_path, sentry_bin, value):
    """The command's program is looked for only when it may run; its syntax
    is checked always (a config error is a config error)."""
    rc, out, err = run(tmp_path, ["--no-migrate", "--", "true"], env={"SENTRY_MIGRATE_CMD": value})
    check_common(tmp_path, [], rc, out, err)
    assert rc in (64, 69), describe([], rc, out, err)
    if "not-found" in value or "no-such-program" in value:
        assert rc == 69, describe([], rc, out, err)


# -------------------------------------------------------- SENTRY_REQUIRE_COLUMNS

BAD_COLUMNS = [
    ("no-dot", "proposals"), ("trailing-dot", "proposals."), ("leading-dot", ".id"),
    ("double-dot", "a..b"), ("four-parts", "a.b.c.d"), ("space-inside", "a b.c"),
    ("only-dots", "..."), ("one-bad-of-many", "a.b,c,d.e"), ("dot", "."),
    ("big-no-dot", "x" * BIG), ("big-dots", "." * BIG),
]


@pytest.mark.parametrize("value", [c[1] for c in BAD_COLUMNS], ids=[c[0] for c in BAD_COLUMNS])
def test_bad_require_columns(tmp_path, sentry_bin, value):
    err = assert_config_error(tmp_path, ["--", "true"], env={"SENTRY_REQUIRE_COLUMNS": value})
    assert "SENTRY_REQUIRE_COLUMNS" in err, err
    err = assert_config_error(tmp_path, ["config"], env={"SENTRY_REQUIRE_COLUMNS": value})
    err = assert_config_error(tmp_path, ["--require-column", "ok.col",
                                         "--require-column=" + value, "--", "true"])
    assert "--require-column" in err, err
    assert len(err) < 1000, "the error echoes the whole value: %d bytes" % len(err)


def test_require_columns_a_megabyte_of_flags(tmp_path, sentry_bin):
    """~1 MB of --require-column flags (9 x 120 KB), the last one bad."""
    args = []
    for i in range(8):
        args += ["--require-column", "t%d.%s" % (i, "c" * BIG)]
    args += ["--require-column", "bad" * (BIG // 3), "config"]
    err = assert_config_error(tmp_path, args)
    assert "--require-column" in err and len(err) < 1000, err[:2000]


# ------------------------------------------ SENTRY_RECOVER, booleans, required env

BAD_RECOVER = ["STAMP", " stamp", "stamp ", "stamp,x", "heads", "1", "true", "yes", "r" * BIG]


@pytest.mark.parametrize("value", BAD_RECOVER, ids=lambda v: v if len(v) < 20 else "big")
def test_bad_recover(tmp_path, sentry_bin, value):
    err = assert_config_error(tmp_path, ["--", "true"], env={"SENTRY_RECOVER": value})
    assert "SENTRY_RECOVER" in err, err
    err = assert_config_error(tmp_path, ["--recover=" + value, "config"])
    assert "--recover" in err, err


BAD_BOOLS = ["maybe", "2", "-1", " 1", "1 ", "y", "n", "t", "f", "enable", "\u2713", "1" * BIG]


@pytest.mark.parametrize("value", BAD_BOOLS, ids=lambda v: repr(v) if len(v) < 20 else "big")
@pytest.mark.parametrize("var", ["SENTRY_NO_MIGRATE", "SENTRY_INIT"])
def test_bad_bool(tmp_path, sentry_bin, var, value):
    err = assert_config_error(tmp_path, ["--", "true"], env={var: value})
    assert var in err, err
    err = assert_config_error(tmp_path, ["config"], env={var: value})
    assert var in err, err
    assert len(err) < 600, err[:2000]


@pytest.mark.parametrize("value,expect", [
    ("1", "1"), ("true", "1"), ("YES", "1"), ("On", "1"),
    ("0", "0"), ("false", "0"), ("No", "0"), ("OFF", "0"),
])
def test_good_bools(tmp_path, sentry_bin, value, expect):
    for var in ("SENTRY_NO_MIGRATE", "SENTRY_INIT"):
        rc, out, err = run(tmp_path, ["config"], env={var: value})
        what = check_common(tmp_path, ["config"], rc, out, err)
        assert rc == 0, what


BAD_ENV_NAMES = [
    ("digit-first", "1BAD"), ("dash", "A-B"), ("space", "A B"), ("equals", "A=B"),
    ("dot", "A.B"), ("unicode", "\u00c4B"), ("dollar", "$HOME"), ("one-bad-of-many", "FLASK_APP,9X"),
    ("big", "A" * 50 + "-" + "B" * BIG),
]


@pytest.mark.parametrize("value", [c[1] for c in BAD_ENV_NAMES], ids=[c[0] for c in BAD_ENV_NAMES])
def test_bad_required_env_names(tmp_path, sentry_bin, value):
    err = assert_config_error(tmp_path, ["--", "true"], env={"SENTRY_REQUIRED_ENV": value})
    assert "SENTRY_REQUIRED_ENV" in err, err
    err = assert_config_error(tmp_path, ["--require-env=" + value, "config"])
    assert "--require-env" in err, err
    assert len(err) < 600, err[:2000]


@pytest.mark.parametrize("name", ["SECRET_KEY", "_UNDERSCORE", "A" * 200])
def test_required_env_missing_or_empty(tmp_path, sentry_bin, name):
    env = {"SENTRY_REQUIRED_ENV": "DATABASE_URL,FLASK_APP," + name}
    err = assert_config_error(tmp_path, ["--", "true"], env=env)
    assert name in err, err
    err = assert_config_error(tmp_path, ["--", "true"], env=dict(env, **{name: ""}))
    assert name in err, err


# ------------------------------------------------------------------- flags

BAD_ARGV = [
    ("unknown-long", ["--bogus"]),
    ("unknown-long-value", ["--bogus=1"]),
    ("unknown-short", ["-x"]),
    ("unknown-short-cluster", ["-hx"]),
    ("typo", ["--db_wait=5"]),
    ("prefix-only", ["--db"]),
    ("empty-long-name", ["--=5"]),
    ("lone-dash", ["-"]),
    ("missing-value-db-wait", ["--db-wait"]),
    ("missing-value-url", ["--database-url"]),
    ("missing-value-status", ["--status-file"]),
    ("missing-value-require-column", ["--require-column"]),
    ("missing-value-migrate-cmd", ["--migrate-cmd"]),
    ("no-migrate-with-value", ["--no-migrate=1"]),
    ("no-migrate-with-empty-value", ["--no-migrate="]),
    ("init-with-value", ["--init=0"]),
    ("no-init-with-value", ["--no-init=1"]),
    ("help-with-value", ["--help=1"]),
    ("version-with-value", ["--version=1"]),
    ("stray-word", ["upgrade"]),
    ("empty-word", [""]),
    ("two-subcommands", ["check", "heads"]),
    ("status-file-empty", ["--status-file="]),
    ("big-unknown", ["--" + "z" * BIG]),
    ("big-word", ["w" * BIG]),
]


@pytest.mark.parametrize("argv", [c[1] for c in BAD_ARGV], ids=[c[0] for c in BAD_ARGV])
def test_bad_flags_gate(tmp_path, sentry_bin, argv):
    # alone (a flag that needs a value really lacks one), then before a command
    assert_config_error(tmp_path, argv)
    assert_config_error(tmp_path, argv + ["--", "true"])


@pytest.mark.parametrize("argv", [c[1] for c in BAD_ARGV], ids=[c[0] for c in BAD_ARGV])
def test_bad_flags_config(tmp_path, sentry_bin, argv):
    assert_config_error(tmp_path, ["config"] + argv, gate=False)


@pytest.mark.parametrize("argv", [
    ["config", "--", "true"], ["check", "--", "true"], ["heads", "--", "x"], ["sql"],
    ["status", "extra"], ["sql", "a.sql", "b.sql"],
])
def test_misused_subcommands(tmp_path, sentry_bin, argv):
    assert_config_error(tmp_path, argv, gate=False)


# ------------------------------------------------------- the versions folder

GOOD_HEAD = "aaaa00000001"


def script(rev, down, extra=""):
    return ('"""x\n\nRevision ID: %s\n"""\nrevision = %s\ndown_revision = %s\n%s'
            % (rev, rev, down, extra))


BAD_SCRIPTS = [
    ("binary-nul", b"revision = 'abc'\ndown_revision = None\n\x00\x01\x02"),
    ("random-bytes", bytes(range(256)) * 64),
    ("huge", b"revision = 'big1'\ndown_revision = None\n" + b"#" * (1024 * 1024 + 10)),
    ("call", b"revision = make_rev()\ndown_revision = None\n"),
    ("plus", b"revision = 'ab' + 'cd'\ndown_revision = None\n"),
    ("bytes-literal", b"revision = b'abc'\ndown_revision = None\n"),
    ("unterminated", b"revision = 'abc\ndown_revision = None\n"),
    ("unterminated-tuple", b"revision = 'abc'\ndown_revision = ('x',\n"),
    ("revision-none", b"revision = None\ndown_revision = None\n"),
    ("revision-tuple", b"revision = ('a', 'b')\ndown_revision = None\n"),
    ("revision-int", b"revision = 12345\ndown_revision = None\n"),
    ("augmented", b"revision = 'abc'\ndown_revision = None\nrevision += 'x'\n"),
    ("comparison", b"revision == 'abc'\ndown_revision = None\n"),
    ("no-revision", b"down_revision = None\n"),
    ("no-down-revision", b"revision = 'abc'\n"),
    ("empty-file", b""),
    ("non-ascii-revision", "revision = '\u00e9t\u00e9'\ndown_revision = None\n".encode()),
    ("latin1-revision", b"revision = '\xe9t\xe9'\ndown_revision = None\n"),
    ("missing-parent", script("'abc'", "'nosuchparent'").encode()),
    ("dangling-depends", script("'abc'", "None", "depends_on = 'ghost'\n").encode()),
    ("big-revision-expr", b"revision = " + b"x" * 500000 + b"\ndown_revision = None\n"),
]


def make_versions(tmp_path, files):
    d = tmp_path / "versions"
    d.mkdir()
    (d / ("%s_base.py" % GOOD_HEAD)).write_text(script("'%s'" % GOOD_HEAD, "None"))
    for name, content in files.items():
        p = d / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return d


def run_heads(tmp_path, d, timeout=30):
    args = ["heads"]
    try:
        rc, out, err = run(tmp_path, args, env={"SENTRY_MIGRATIONS_DIR": str(d)}, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("`heads` hung for %ss on %s" % (timeout, sorted(os.listdir(str(d)))))
    return args, rc, out, err


@pytest.mark.parametrize("content", [c[1] for c in BAD_SCRIPTS], ids=[c[0] for c in BAD_SCRIPTS])
def test_heads_unreadable_script(tmp_path, sentry_bin, content):
    d = make_versions(tmp_path, {"bbbb_bad.py": content})
    args, rc, out, err = run_heads(tmp_path, d)
    what = check_common(tmp_path, args, rc, out, err)
    assert rc == 65, what
    assert out == "", "heads printed although unknown\n" + what
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), what
    assert len(lines[0]) < 2000, "the error echoes the file: %d bytes" % len(lines[0])


def test_heads_script_is_a_directory(tmp_path, sentry_bin):
    d = make_versions(tmp_path, {})
    (d / "cccc_dir.py").mkdir()
    args, rc, out, err = run_heads(tmp_path, d)
    what = check_common(tmp_path, args, rc, out, err)
    assert rc == 65 and out == "" and len(err.splitlines()) == 1, what


def test_heads_dangling_symlink(tmp_path, sentry_bin):
    d = make_versions(tmp_path, {})
    os.symlink(str(tmp_path / "nowhere.py"), str(d / "dddd_link.py"))
    args, rc, out, err = run_heads(tmp_path, d)
    what = check_common(tmp_path, args, rc, out, err)
    assert rc == 65 and out == "" and len(err.splitlines()) == 1, what


def test_heads_symlink_loop(tmp_path, sentry_bin):
    d = make_versions(tmp_path, {})
    os.symlink("eeee_loop.py", str(d / "eeee_loop.py"))
    args, rc, out, err = run_heads(tmp_path, d)
    what = check_common(tmp_path, args, rc, out, err)
    assert rc == 65 and out == "" and len(err.splitlines()) == 1, what


def test_heads_fifo_does_not_block(tmp_path, sentry_bin):
    d = make_versions(tmp_path, {})
    os.mkfifo(str(d / "ffff_fifo.py"))
    args, rc, out, err = run_heads(tmp_path, d, timeout=10)
    what = check_common(tmp_path, args, rc, out, err)
    assert rc == 65 and out == "" and len(err.splitlines()) == 1, what


@pytest.mark.parametrize("files", [
    {"a_cycle.py": script("'c1'", "'c2'"), "b_cycle.py": script("'c2'", "'c1'")},
    {"a_self.py": script("'s1'", "'s1'")},
    {"a_dup.py": script("'%s'" % GOOD_HEAD, "None")},
], ids=["cycle", "self-parent", "duplicate-revision"])
def test_heads_broken_graph(tmp_path, sentry_bin, files):
    d = make_versions(tmp_path, files)
    args, rc, out, err = run_heads(tmp_path, d)
    what = check_common(tmp_path, args, rc, out, err)
    assert rc == 65, what
    assert out == "" and len(err.splitlines()) == 1, what


ODD_BUT_FINE = [
    ("annotated", "revision: str = 'odd1'\ndown_revision: Union[str, None] = '%s'\n" % GOOD_HEAD, "odd1"),
    ("crlf", ("revision = 'odd2'\r\ndown_revision = '%s'\r\n" % GOOD_HEAD), "odd2"),
    ("tabs-comments", "revision\t=\t'odd3'  # c\ndown_revision = \"%s\"  # d\n" % GOOD_HEAD, "odd3"),
    ("docstring-decoy", '"""\nrevision = \'decoy\'\n"""\nrevision = \'odd4\'\ndown_revision = \'%s\'\n'
     % GOOD_HEAD, "odd4"),
    ("tuple-down", "revision = 'odd5'\ndown_revision = ('%s',)\n" % GOOD_HEAD, "odd5"),
    # read as Python reads them (they made the heads unknown before issue 9)
    ("concatenation", "revision = 'od' 'd6'\ndown_revision = '%s'\n" % GOOD_HEAD, "odd6"),
    ("triple-quoted", "revision = '''odd7'''\ndown_revision = '%s'\n" % GOOD_HEAD, "odd7"),
    ("f-string", "revision = f'odd8'\ndown_revision = '%s'\n" % GOOD_HEAD, "odd8"),
    ("escape", "revision = 'odd\\x39'\ndown_revision = '%s'\n" % GOOD_HEAD, "odd9"),
    ("assigned-twice", "revision = 'x'\nrevision = 'odd10'\ndown_revision = '%s'\n" % GOOD_HEAD,
     "odd10"),
]


@pytest.mark.parametrize("content,head", [(c[1], c[2]) for c in ODD_BUT_FINE],
                         ids=[c[0] for c in ODD_BUT_FINE])
def test_heads_odd_but_readable(tmp_path, sentry_bin, content, head):
    d = make_versions(tmp_path, {"zz_odd.py": content})
    args, rc, out, err = run_heads(tmp_path, d)
    what = check_common(tmp_path, args, rc, out, err)
    assert rc == 0, what
    assert out.splitlines() == [head], what


def test_heads_missing_folder(tmp_path, sentry_bin):
    err = assert_config_error(tmp_path, ["heads"], env={"SENTRY_MIGRATIONS_DIR":
                                                        str(tmp_path / "nope")}, gate=False)
    assert "nope" in err
    err = assert_config_error(tmp_path, ["--migrations-dir", "m" * BIG, "heads"], gate=False)
    assert len(err) < 1000, err[:2000]


def test_migrations_dir_is_a_file(tmp_path, sentry_bin):
    f = tmp_path / "file"
    f.write_text("x")
    assert_config_error(tmp_path, ["--", "true"], env={"SENTRY_MIGRATIONS_DIR": str(f)})
    assert_config_error(tmp_path, ["--migrations-dir=" + str(f), "heads"], gate=False)


# --------------------------------------------------------------- status file

def test_status_file_empty_flag_and_status_command(tmp_path, sentry_bin):
    assert_config_error(tmp_path, ["--status-file=", "status"], gate=False)
    assert_config_error(tmp_path, ["--status-file=", "--", "true"])


def test_status_command_on_junk_file(tmp_path, sentry_bin):
    """`status` on a file that is not JSON: 1 (not migrated), no crash."""
    for content in (b"\x00\x01junk", b"{" * 200000, b"[" * 100000 + b"]" * 100000,
                    b'{"migrated": "true"}', b"null", b""):
        p = tmp_path / "junk.json"
        p.write_bytes(content)
        args = ["--status-file", str(p), "status"]
        rc, out, err = run(tmp_path, args)
        check_common(tmp_path, args, rc, out, err)
        assert rc == 1, describe(args, rc, out[:200], err)


def test_status_command_on_huge_file(tmp_path, sentry_bin):
    """A status file exists but is over the read limit: it is not "no status
    file" (66); the contract leaves 1 (not migrated)."""
    p = tmp_path / "huge.json"
    p.write_bytes(b'{"migrated": true' + b" " * (2 << 20) + b"}")
    args = ["--status-file", str(p), "status"]
    rc, out, err = run(tmp_path, args)
    check_common(tmp_path, args, rc, out, err)
    assert rc == 1, describe(args, rc, out[:200], err)


@pytest.mark.parametrize("files", [{}, {"README": "x", "notes.txt": "revision = 'x'\n",
                                        "__init__.py": "", ".#lock.py": "junk"}],
                         ids=["empty", "no-scripts"])
def test_heads_folder_without_scripts(tmp_path, sentry_bin, files):
    """No script at all: unknown (65), never "known, no heads", which let
    SENTRY_RECOVER=stamp delete every alembic_version row (issue 9)."""
    d = tmp_path / "versions"
    d.mkdir()
    for name, content in files.items():
        (d / name).write_text(content)
    args, rc, out, err = run_heads(tmp_path, d)
    what = check_common(tmp_path, args, rc, out, err)
    assert rc == 65 and out == "" and "no revision scripts" in err, what
