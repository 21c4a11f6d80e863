"""Output you can trust (issue 14): every status file, stdout JSON and log
line is valid UTF-8 whatever bytes went in; no piece of a password passes,
also where a long line is cut; the JSON log carries the same events as the
text log; a command whose output is its result fails with 74 when stdout
cannot be written.

Every run through the `sentry` runner already checks, besides this file's
own assertions, that stdout, stderr and the status file decode as strict
UTF-8 and hold no 3-character piece of the database password."""

import json
import os
import re
import shutil
import signal
import subprocess
import uuid

import pytest

from conftest import (BANNER_SUCCESS, HEAD, ISO_MS_Z, PASSWORD, assert_no_secret,
                      assert_status_shape, assert_utf8, banner_failed)
from pgserver import _runuser

# Invalid UTF-8 of every kind, and control characters a terminal acts on.
BAD_BYTES = [b"\xff", b"\xfe", b"\x80", b"\xbf\x80", b"\xc0\xaf", b"\xe0\x80\xaf",
             b"\xf0\x80\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xe2\x82", b"\xf0\x9f\x98",
             b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x1b[2J\x1b]0;title\x07", b"\xc2\x9b",
             b"\x7f", b"\r"]
BAD = b"<" + b"|".join(BAD_BYTES) + b">"
BAD_STR = os.fsdecode(BAD)          # the same bytes, as an argv or environment string
JSON_KEYS = ["time", "level", "phase", "msg"]
LEVELS = ("info", "warning", "error")


def assert_clean(raw, where):
    """RAW (bytes) is strict UTF-8 with no control character but tab and
    newline (C0, DEL and C1): nothing a terminal would act on."""
    text = assert_utf8(raw, where)
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\t\n") or 0x7f <= ord(c) <= 0x9f]
    assert not bad, "%s holds control characters %r:\n%s" % (where, bad[:5], text[-2000:])
    return text


def assert_all_clean(r):
    """stdout, stderr and the status file of R: clean, and JSON where JSON."""
    assert_clean(r.stdout_raw, "stdout")
    assert_clean(r.stderr_raw, "stderr")
    st = None
    if r.status_path is not None and r.status_path.exists():
        st = json.loads(assert_clean(r.status_path.read_bytes(), "status file"))
        assert_status_shape(st)
    if r.stdout.startswith("{"):
        assert_status_shape(json.loads(r.stdout))
    return st


def json_events(r):
    """The JSON log of R, every line checked: one object, keys in order."""
    out = []
    for line in assert_clean(r.stderr_raw, "JSON log").splitlines():
        o = json.loads(line)
        keys = list(o.keys())
        assert keys in (JSON_KEYS, JSON_KEYS + ["stream"]), line
        assert ISO_MS_Z.match(o["time"]), line
        assert o["level"] in LEVELS, line
        assert isinstance(o["phase"], str) and o["phase"], line
        assert isinstance(o["msg"], str), line
        assert o.get("stream", "migrate") == "migrate", line
        out.append(o)
    return out


def text_event(line):
    """The (level, msg, stream) a text log line stands for."""
    m = re.match(r"^=== MIGRATION SENTRY: (.*) ===$", line)
    if m:
        msg = m.group(1)
        level = "error" if msg.startswith("FAILED") else \
            "warning" if msg.startswith("RECOVERED") else "info"
        return level, msg, None
    for prefix, level in (("[SENTRY] error: ", "error"), ("[SENTRY] warning: ", "warning")):
        if line.startswith(prefix):
            return level, line[len(prefix):], None
    if line.startswith("[SENTRY] "):
        msg = line[len("[SENTRY] "):]
        return ("warning" if msg.startswith("WARNING:") else "info"), msg, None
    if line.startswith("[migrate] "):
        return "info", line[len("[migrate] "):], "migrate"
    return "info", line, None


def normalise(msg):
    msg = re.sub(r"t_[0-9a-f]{12}", "DB", msg)
    msg = re.sub(r"\d+(\.\d+)?m?s\b", "N", msg)
    return re.sub(r"pid \d+", "pid N", msg)


def same_events(text_run, json_run):
    """The JSON log says what the text log says, event by event."""
    t = [text_event(l) for l in text_run.lines]
    j = [(o["level"], o["msg"], o.get("stream")) for o in json_events(json_run)]
    norm = lambda evs: [(lv, normalise(m), s) for lv, m, s in evs]
    assert norm(j) == norm(t), "text:\n%s\njson:\n%s" % (text_run.stderr, json_run.stderr)


def psql_bytes(pg, sql, db, check=True):
    """SQL (bytes) as the superuser with client_encoding SQL_ASCII, so that
    bytes that are not UTF-8 reach a SQL_ASCII database as they are."""
    argv = [_runuser(), "-u", "postgres", "--", os.path.join(pg.bindir, "psql"), "-X", "-q",
            "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", pg.sock_dir, "-p", str(pg.port),
            "-U", "postgres", "-d", db, "-c", sql]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PGCLIENTENCODING": "SQL_ASCII"}
    p = subprocess.run(argv, env=env, cwd=pg.base_dir, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("psql %r failed: %r" % (sql, p.stderr))
    return p.stdout


@pytest.fixture
def ascii_db(pg):
    """A SQL_ASCII database (the server stores any bytes there) and a second
    one whose very name is not UTF-8; both owned by the sentry role."""
    name = "t_%s_a" % uuid.uuid4().hex[:10]
    pg.psql("CREATE DATABASE %s OWNER sentry ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
            "TEMPLATE template0" % name, db="postgres")
    bad_name = b"t_bad" + b"\xff\x1b[2J\xc0" + uuid.uuid4().hex[:6].encode()
    psql_bytes(pg, b'CREATE DATABASE "' + bad_name + b'" OWNER sentry ENCODING \'SQL_ASCII\' '
               b"LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0", name.encode())
    yield name, bad_name
    psql_bytes(pg, b'DROP DATABASE IF EXISTS "' + bad_name + b'" WITH (FORCE)', name.encode(),
               check=False)
    pg.drop_db(name)


def url_for(db, dbname_enc):
    return "postgresql://sentry:%s@127.0.0.1:%d/%s" % (PASSWORD, db.port, dbname_enc)


def pct(b):
    return "".join("%%%02X" % c for c in b)


@pytest.fixture
def empty_versions(tmp_path):
    d = tmp_path / "empty_versions"
    d.mkdir()
    return d


# ------------------------------------------------------- invalid UTF-8, every input

def settings_of(sentry):
    r = sentry.run(["config"])
    assert r.rc == 0, r
    return [l.split("=", 1)[0] for l in r.stdout.splitlines()]


def test_every_setting_with_bad_bytes(sentry, db, empty_versions, tmp_path):
    """Each setting holding bytes that are not UTF-8, alone and after a good
    value: `config`, the gate and `check` print clean output whatever they
    make of it."""
    names = settings_of(sentry)
    assert len(names) >= 20 and "SENTRY_LOG_FORMAT" in names, names
    good = {"SENTRY_MIGRATE_CMD": "true", "SENTRY_MIGRATIONS_DIR": str(empty_versions),
            "SENTRY_REQUIRE_COLUMNS": "public.t.c", "DATABASE_URL": db.url + "?sslmode=disable",
            "SENTRY_STATUS_FILE": str(tmp_path / "alt" / "status.json")}
    (tmp_path / "alt").mkdir()
    base = {"SENTRY_MIGRATE_CMD": "true", "SENTRY_MIGRATIONS_DIR": str(empty_versions),
            "SENTRY_DB_WAIT": "0"}
    for name in names:
        for value in (BAD_STR, good.get(name, "x") + BAD_STR):
            env = dict(base, **{name: value})
            r = sentry.run(["config"], env=env)
            assert r.rc in (0, 64), r
            assert_all_clean(r)
            if r.rc == 0:
                lines = r.stdout.splitlines()
                assert len(lines) == len(names), r
                assert all(re.match(r"^[A-Z_]+=.* \((flag|environment|default)\)$", l)
                           for l in lines), r
            r = sentry.run([], env=env)
            assert r.rc in (0, 64, 65, 69, 73), r
            assert_all_clean(r)
            r = sentry.run(["check"], env=env)
            assert_all_clean(r)
            if r.rc != 64:
                assert_status_shape(r.stdout_json)


def test_flags_with_bad_bytes(sentry, db, empty_versions):
    env = {"SENTRY_MIGRATE_CMD": "true", "SENTRY_MIGRATIONS_DIR": str(empty_versions)}
    for args in (["--require-column", "proposals." + BAD_STR],
                 ["--status-file", str(sentry.status_path.parent / ("s" + BAD_STR))],
                 ["--migrate-cmd", "true " + BAD_STR], ["--migrate-cmd", BAD_STR],
                 ["--log-format", BAD_STR], ["--schemas", BAD_STR],
                 ["--unknown-" + BAD_STR], [BAD_STR]):
        for cmd in ([], ["check"], ["config"]):
            r = sentry.run(args + cmd, env=env)
            assert r.rc in (0, 64, 65), r
            assert_all_clean(r)
    r = sentry.run(["--require-column", '"proposals"."%s"' % BAD_STR, "check"], env=env)
    assert r.rc == 65, r
    (label,) = r.stdout_json["checks"]
    assert "\ufffd" in label and "\\x1b[2J" in label and "\\x9b" in label, label


def test_url_parts_with_bad_bytes(sentry, db, empty_versions):
    """User, host, database name and options not UTF-8, raw and
    percent-encoded: libpq's and the server's refusals, the display form."""
    env = {"SENTRY_MIGRATE_CMD": "true", "SENTRY_MIGRATIONS_DIR": str(empty_versions),
           "SENTRY_DB_WAIT": "0"}
    enc = pct(BAD)
    port = db.port
    urls = [
        "postgresql://u%s:%s@127.0.0.1:%d/%s" % (enc, PASSWORD, port, db.name),
        "postgresql://sentry:%s@127.0.0.1:%d/%s" % (PASSWORD, port, enc),
        "postgresql://sentry:%s@127.0.0.1:%d/d%s" % (PASSWORD, port, BAD_STR),
        "postgresql://sentry:%s@h%s:%d/%s?hostaddr=127.0.0.1" % (PASSWORD, enc, port, db.name),
        "postgresql://sentry:%s@127.0.0.1:%d/%s?options=-c%%20search_path%%3D%s"
        % (PASSWORD, port, db.name, enc),
        "postgresql://sentry:%s@127.0.0.1:%d/%s?%s=1" % (PASSWORD, port, db.name, enc),
        "postgresql://sentry:%s@127.0.0.1:%s/%s" % (PASSWORD, BAD_STR, db.name),
        "host=h%s hostaddr=127.0.0.1 port=%d dbname=%s user=sentry password=%s"
        % (BAD_STR, port, db.name, PASSWORD),
        "host=127.0.0.1 port=%d dbname='%s' user='%s' password=%s"
        % (port, BAD_STR, BAD_STR, PASSWORD),
        "host=127.0.0.1 sslmode=%s password=%s" % (BAD_STR, PASSWORD),
        "postgresql+%s://sentry:%s@127.0.0.1/app" % (BAD_STR, PASSWORD),
        "%s://sentry:%s@127.0.0.1/app" % (BAD_STR, PASSWORD),
    ]
    for url in urls:
        for cmd in ([], ["check"], ["config"]):
            r = sentry.run(cmd, env=dict(env, DATABASE_URL=url))
            assert r.rc in (0, 64, 65, 69, 77), r
            st = assert_all_clean(r)
            if st is not None and st["database"]:
                assert "******" in st["database"] or "@" not in st["database"], st


def test_startup_notice_with_bad_bytes(sentry, db, empty_versions):
    url = "postgresql://sentry:%s@127.0.0.1:%d/%s?application_name=%s" % (
        PASSWORD, db.port, db.name, pct(BAD))
    r = sentry.run([], env={"DATABASE_URL": url, "SENTRY_MIGRATE_CMD": "true",
                            "SENTRY_MIGRATIONS_DIR": str(empty_versions)})
    assert r.rc == 0, r
    assert_all_clean(r)
    assert any(l.startswith("[SENTRY] NOTICE:  identifier") for l in r.lines), r


def test_migration_output_with_bad_bytes(sentry, db, tmp_path):
    """The migration command prints every kind of bad byte, NUL, ESC, CR and
    a line longer than the 4096-byte cut with characters across the cut."""
    out = tmp_path / "out.bin"
    long_line = ("é" * 3000).encode() + b"\xff" * 10 + "€".encode() * 2000
    out.write_bytes(b"\n".join([BAD, b"nul\x00in the middle", b"\x1b[31mred\x1b[0m",
                                b"progress\r50%\r100%", long_line, b"\xe2\x82"]) + b"\r\n")
    r = sentry.run([], env={"SENTRY_MIGRATE_CMD": "cat %s" % out})
    assert r.rc == 65, r  # nothing migrated: verify says so
    st = assert_all_clean(r)
    tail = st["migration"]["output_tail"]
    assert any("nul\\x00in the middle" == l for l in tail), tail
    assert "\\x1b[31mred\\x1b[0m" in tail, tail
    assert "progress\\x0d50%\\x0d100%" in tail, tail
    assert "\ufffd" in tail[0], tail
    pieces = [l for l in tail if "é" in l or "€" in l]
    assert len(pieces) >= 3 and all(len(p.encode()) <= 4096 for p in pieces), pieces
    assert "".join(pieces) == long_line.decode("utf-8", "replace"), "a character was split"
    assert tail[-1] == "\ufffd", tail
    assert sum(1 for l in r.lines if l.startswith("[migrate] ")) == len(tail)
    assert b"\x00" not in r.stderr_raw and b"\x1b" not in r.stderr_raw


def test_database_name_not_utf8(sentry, db, pg, ascii_db, empty_versions):
    """A database created through psql with a name that is not UTF-8: the
    gate connects to it and says so cleanly; a missing one is refused
    cleanly (the server quotes the name)."""
    _, bad_name = ascii_db
    env = {"SENTRY_MIGRATE_CMD": "true", "SENTRY_MIGRATIONS_DIR": str(empty_versions),
           "DATABASE_URL": url_for(db, pct(bad_name)), "SENTRY_DB_WAIT": "0"}
    for log_format in ("text", "json"):
        r = sentry.run(["--log-format=" + log_format], env=env)
        assert r.rc == 0, r
        st = assert_all_clean(r)
        shown = bad_name.decode("utf-8", "replace").replace("\x1b", "\\x1b")
        assert st["database"].endswith("/" + shown), st["database"]
        if log_format == "json":
            assert any(o["msg"] == "DB OK: " + shown for o in json_events(r)), r
        else:
            assert "[SENTRY] DB OK: " + shown in r.lines, r
    r = sentry.run(["check"], env=dict(env, DATABASE_URL=url_for(db, pct(bad_name + b"-missing"))))
    assert r.rc == 69, r
    assert_all_clean(r)
    assert "does not exist" in r.stdout_json["error"], r


def test_server_messages_not_utf8(sentry, db, pg, ascii_db, tmp_path, empty_versions):
    """RAISE NOTICE and RAISE EXCEPTION with bytes that are not UTF-8 (in a
    SQL_ASCII database), through `sql`; a revision and a column name with
    such bytes, read back by the gate and check."""
    name, _ = ascii_db
    url = url_for(db, name)
    f = tmp_path / "notice.sql"
    f.write_bytes(b"DO $$ BEGIN RAISE NOTICE 'note " + BAD + b"'; END $$;\n")
    r = sentry.run(["sql", str(f)], env={"DATABASE_URL": url})
    assert r.rc == 0, r
    assert_all_clean(r)
    assert any(l.startswith("[SENTRY] NOTICE:  note <\ufffd") for l in r.lines), r
    f.write_bytes(b"SELECT 1;\nDO $$ BEGIN RAISE EXCEPTION 'boom " + BAD + b"'; END $$;\n")
    r = sentry.run(["sql", str(f), "--log-format=json"], env={"DATABASE_URL": url})
    assert r.rc == 70, r
    errors = [o for o in json_events(r) if o["level"] == "error"]
    assert any("boom <\ufffd" in o["msg"] for o in errors), r.stderr
    # a revision and a column that are not UTF-8
    psql_bytes(pg, b"CREATE TABLE alembic_version (version_num varchar(200) PRIMARY KEY); "
               b"INSERT INTO alembic_version VALUES ('r" + BAD.replace(b"'", b"") + b"'); "
               b'CREATE TABLE "t' + b"\xff" + b'" ("c' + b"\xfe\x1b" + b'" int); '
               b"ALTER TABLE alembic_version OWNER TO sentry", name.encode())
    env = {"DATABASE_URL": url, "SENTRY_MIGRATE_CMD": "true"}
    r = sentry.run([], env=env)
    assert r.rc == 70, r  # no script defines that revision: a broken chain
    st = assert_all_clean(r)
    assert st["alembic_current"].startswith("r<\ufffd"), st
    assert "broken chain" in st["error"] and "r<\ufffd" in st["error"], st
    col = os.fsdecode(b'"t\xff"."c\xfe\x1b"')
    r = sentry.run(["check", "--require-column", col],
                   env=dict(env, SENTRY_MIGRATIONS_DIR=str(empty_versions)))
    assert_all_clean(r)
    st = r.stdout_json
    # an empty versions folder gives unknown heads (issue 9): the revision is
    # not judged; the column itself is found
    assert r.rc == 0, r
    assert list(st["checks"].values()) == [True], st


def test_migration_raising_bad_bytes(sentry, db, pg, ascii_db, app_dir):
    """A real Alembic migration that raises NOTICE and EXCEPTION with bytes
    that are not UTF-8: flask fails, the gate reports it cleanly."""
    name, _ = ascii_db
    # E'\\xff' in the SQL: the server makes the byte (a SQL_ASCII database takes it)
    (app_dir / "migrations" / "versions" / "4d5e6f708192_raise.py").write_text(r"""
revision = '4d5e6f708192'
down_revision = '3c4d5e6f7081'
branch_labels = None
depends_on = None
from alembic import op


def upgrade():
    op.execute("DO $$ BEGIN RAISE NOTICE E'n\\xff\\x1b[2J'; "
               "RAISE EXCEPTION E'boom \\xff\\xc0\\x1b[2J'; END $$")


def downgrade():
    pass
""")
    r = sentry.run([], env={"DATABASE_URL": url_for(db, name)}, timeout=120)
    assert r.rc == 70, r
    st = assert_all_clean(r)
    assert st["migration"]["ran"] is True and st["migration"]["exit_code"] != 0, st
    assert any("RaiseException" in l or "boom" in l for l in st["migration"]["output_tail"]), st


def write_script(d, filename, rev, down, extra=b""):
    (d / os.fsdecode(filename)).write_bytes(
        b"revision = '" + rev + b"'\ndown_revision = " + (b"'" + down + b"'" if down else b"None")
        + b"\nbranch_labels = None\ndepends_on = None\n" + extra)


def test_versions_folder_with_bad_bytes(sentry, db, tmp_path):
    """File names and script contents that are not UTF-8 (NUL included): the
    heads, the reasons given for unreadable scripts, the status file."""
    cases = {
        "names": [(b"\xff\x1b[2Jfirst.py", b"aaa111", None, b""),
                  (b"second\xc0\xaf.py", b"bbb222", b"aaa111", b"# \x00 nul \xff\n")],
        "revision": [(b"bad.py", b"r" + b"\xff\x1b", None, b"")],
        "down": [(b"a.py", b"aaa111", None, b""), (b"b\xfe.py", b"bbb222", b"x\xff\x1b", b"")],
        "content": [(b"c\xff.py", b"aaa111", None, b"\x00\xff\xfe = '\x1b'\ndef \xc0(): pass\n")],
    }
    for what, scripts in cases.items():
        d = tmp_path / ("versions_" + what)
        d.mkdir()
        for fn, rev, down, extra in scripts:
            write_script(d, fn, rev, down, extra)
        env = {"SENTRY_MIGRATIONS_DIR": str(d), "SENTRY_MIGRATE_CMD": "true"}
        r = sentry.run(["heads"], env=env)
        assert r.rc in (0, 65), r
        assert_all_clean(r)
        for cmd in ([], ["check"]):
            r = sentry.run(cmd, env=env)
            assert r.rc in (0, 65, 70), r
            assert_all_clean(r)


# ---------------------------------------- the password, around the 4096-byte cut

PW_CHARS = "Qz7Xj9Kv2WqPtZx4JkVy"
PW_LENGTHS = (1, 2, 3, 4, 5, 6, 7, 9, 13, 20)
SPECIAL_PW = "Qz'7\\Xj@9/K v%2W"   # quote, backslash, '@', '/', blank, '%': every escape


def url_encode(s):
    return "".join(c if c.isalnum() else "%%%02X" % ord(c) for c in s)


def conninfo_quote(s):
    return s.replace("\\", "\\\\").replace("'", "\\'")


def database_url_spellings(user, pw, db):
    """Every spelling DATABASE_URL can give the password in."""
    host = "127.0.0.1:%d/%s" % (db.port, db.name)
    kv = "host=127.0.0.1 port=%d dbname=%s user=%s" % (db.port, db.name, user)
    plain = not any(c in pw for c in "'\\@/ %")
    out = {
        "url-encoded": "postgresql://%s:%s@%s" % (user, url_encode(pw), host),
        "query-encoded": "postgresql://%s@%s?sslmode=disable&password=%s" % (user, host, url_encode(pw)),
        "conninfo-quoted": "%s password = '%s'" % (kv, conninfo_quote(pw)),
    }
    if plain:
        out.update({
            "url": "postgresql://%s:%s@%s" % (user, pw, host),
            "sqlalchemy": "postgresql+psycopg2://%s:%s@%s" % (user, pw, host),
            "query": "postgresql://%s@%s?password=%s" % (user, host, pw),
            "conninfo": "%s password=%s" % (kv, pw),
        })
    return out


def printed_spellings(user, pw):
    """How a migration tool may print the password."""
    forms = ["postgresql://%s:%s@db.internal/app" % (user, url_encode(pw)),
             "postgresql://%s@db/app?sslmode=require&password=%s&x=1" % (user, url_encode(pw)),
             "dsn: password = '%s' host=db" % conninfo_quote(pw),
             "PGPASSWORD=%s" % url_encode(pw)]
    if url_encode(pw) == pw:
        forms += ["postgresql://%s:%s@db/app" % (user, pw), "host=db password=%s user=x" % pw]
    if len(pw) >= 4:
        forms += ["bare %s in text" % pw, "bare %s in text" % url_encode(pw)]
    return forms


def cut_lines(forms):
    """Each form at every position around the 4096-byte cut, one a line."""
    lines = []
    for f in forms:
        n = len(f.encode())
        for pad in range(4096 - n - 2, 4096 + 2):
            lines.append(("o" * pad + f + "." * 40).encode())
    return lines


@pytest.fixture
def role_for(pg, db):
    """role_for(password) -> a login role with that password on db's database."""
    made = []

    def make(pw):
        user = "sp_%s" % uuid.uuid4().hex[:8]
        pg.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (user, pw.replace("'", "''")), db="postgres")
        made.append(user)
        return user

    yield make
    for user in made:
        pg.psql("DROP ROLE IF EXISTS %s" % user, db="postgres")


@pytest.mark.parametrize("length", PW_LENGTHS + ("special",))
def test_password_never_split_by_the_cut(sentry, db, role_for, tmp_path, length):
    pw = SPECIAL_PW if length == "special" else PW_CHARS[:length]
    user = role_for(pw)
    lines = cut_lines(printed_spellings(user, pw))
    out = tmp_path / "out.txt"
    out.write_bytes(b"\n".join(lines) + b"\n")
    for spelling, url in database_url_spellings(user, pw, db).items():
        r = sentry.run([], env={"DATABASE_URL": url, "SENTRY_MIGRATE_CMD": "cat %s" % out},
                       secrets=[pw])
        assert r.rc == 65, (spelling, r.stderr[-3000:])  # cat migrates nothing
        # masked, not dropped: one mask per printed line; and each line of
        # about 4.1 KB in at most two pieces (a cut only where it must be)
        migrate = "\n".join(r.migrate_lines)
        assert migrate.count("******") >= len(lines), (spelling, len(lines))
        assert len(r.migrate_lines) <= 2 * len(lines), (spelling, r.migrate_lines[:6])
        assert all(len(l.encode()) <= len("[migrate] ") + 4096 for l in r.migrate_lines)
        assert_no_secret(json.dumps(r.status["migration"]["output_tail"], ensure_ascii=False),
                         [pw], "output_tail (%s)" % spelling)


def test_secret_check_is_a_real_check():
    """The suite's check finds a password by any piece of it, and a short one
    as a credential's value."""
    with pytest.raises(AssertionError):
        assert_no_secret("o" * 10 + PASSWORD[:3], [PASSWORD], "x")
    with pytest.raises(AssertionError):
        assert_no_secret("...j9-Kv...", [PASSWORD], "x")
    with pytest.raises(AssertionError):
        assert_no_secret("dsn password = 'Q' host", ["Q"], "x")
    with pytest.raises(AssertionError):
        assert_no_secret("postgresql://u:Qz@h", ["Qz"], "x")
    assert_no_secret("Quite a Q; password=******", ["Q"], "x")


# ------------------------------------------------------------------- the JSON log

def test_json_log_happy_path(sentry, db, pg):
    other = "t_" + uuid.uuid4().hex[:12]
    url2 = pg.create_db(other)
    try:
        text = sentry.run(["--require-column", "proposals.title"], env={"DATABASE_URL": url2})
        js = sentry.run(["--require-column", "proposals.title"], env={"SENTRY_LOG_FORMAT": "json"})
    finally:
        pg.drop_db(other)
    assert text.rc == 0 and js.rc == 0, js
    same_events(text, js)
    evs = json_events(js)
    assert evs[0]["msg"] == "starting" and evs[-1]["msg"] == "success"
    assert {"FLASK_APP=app.py", "DB (redacted): " + db.redacted()} <= {o["msg"] for o in evs}
    migrate = [o for o in evs if o.get("stream") == "migrate"]
    assert migrate and all(o["phase"] == "migrate" for o in migrate), evs
    assert any("Running upgrade" in o["msg"] for o in migrate), migrate
    phases = [o["phase"] for o in evs]
    order = ["config", "connect", "lock", "migrate", "verify", "start"]
    assert [p for p in order if p in phases] == order, phases
    assert sorted(set(phases), key=phases.index) == [p for p in order if p in phases], phases
    # the second run: already at heads, in JSON as well
    again = sentry.run(["--log-format", "json"])
    assert again.rc == 0, again
    assert any(o["msg"].startswith("database already at heads") for o in json_events(again))


def hold_lock(db):
    import psycopg2
    conn = psycopg2.connect(host="127.0.0.1", port=db.port, user="sentry", password=PASSWORD,
                            dbname=db.name)
    conn.autocommit = True
    conn.cursor().execute("SELECT pg_advisory_lock(7886758897530337569)")
    return conn


@pytest.mark.parametrize("phase", ["config", "connect", "lock", "migrate", "verify", "status"])
def test_json_log_failing_phase(sentry, db, closed_port, empty_versions, phase):
    env, code, holder = {}, None, None
    if phase == "config":
        env, code = {"SENTRY_DB_WAIT": "soon"}, 64
    elif phase == "connect":
        env, code = {"DATABASE_URL": db.url.replace(":%d/" % db.port, ":%d/" % closed_port),
                     "SENTRY_DB_WAIT": "0"}, 69
    elif phase == "lock":
        env, code, holder = {"SENTRY_LOCK_WAIT": "0"}, 75, hold_lock(db)
    elif phase == "migrate":
        env, code = {"SENTRY_MIGRATE_CMD": "sh -c 'echo about to fail >&2; exit 3'"}, 70
    elif phase == "verify":
        env, code = {"SENTRY_MIGRATE_CMD": "true"}, 65
    else:
        env, code = {"SENTRY_MIGRATE_CMD": "true", "SENTRY_MIGRATIONS_DIR": str(empty_versions),
                     "SENTRY_STATUS_FILE": str(sentry.status_path.parent / "no" / "s.json")}, 73
    try:
        text = sentry.run([], env=env)
        js = sentry.run([], env=dict(env, SENTRY_LOG_FORMAT="json"))
    finally:
        if holder:
            holder.close()
    assert text.rc == code and js.rc == code, js
    assert banner_failed(phase) in text.lines, text
    same_events(text, js)
    evs = json_events(js)
    failed = [o for o in evs if o["msg"] == "FAILED (phase: %s)" % phase]
    assert len(failed) == 1 and failed[0]["level"] == "error", evs
    assert failed[0]["phase"] == phase, failed
    i = evs.index(failed[0])
    assert any(o["level"] == "error" for o in evs[i + 1:]), evs


def test_json_log_pid1_hand_off(sentry, empty_versions):
    """As PID 1: the gate, then the bare supervisor it re-executes into (the
    flag given on the command line reaches it), in JSON to the last line."""
    env = sentry.env({"SENTRY_MIGRATIONS_DIR": str(empty_versions), "SENTRY_MIGRATE_CMD": "true",
                      "SENTRY_GRACE": "2"})
    cmd = ["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; sleep 30 & exit 4"]
    runs = {}
    for fmt in ("text", "json"):
        p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sentry.binary,
                            "--log-format=" + fmt, "--"] + cmd, env=env, cwd=str(sentry.cwd),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 4, p
        runs[fmt] = p
    assert "--supervise-only=2 --log-format=json -- sh" in runs["json"].stdout.decode()
    assert "--supervise-only=2 -- sh" in runs["text"].stdout.decode()

    class R:
        def __init__(self, p):
            self.stderr_raw = p.stderr
            self.stderr = assert_utf8(p.stderr, "stderr")
            self.lines = self.stderr.splitlines()
    same_events(R(runs["text"]), R(runs["json"]))
    evs = json_events(R(runs["json"]))
    assert any(o["phase"] == "start" and o["msg"].startswith("command exited") for o in evs), evs
    assert any(o["msg"] == "success" for o in evs), evs
    assert_no_secret(runs["json"].stderr.decode(), [PASSWORD], "stderr")


def test_json_log_config_error_and_bad_format(sentry, db):
    r = sentry.run(["--log-format=json", "--db-wait=never"])
    assert r.rc == 64, r
    evs = json_events(r)
    assert [o["level"] for o in evs] == ["error", "error"], evs
    assert evs[0]["msg"] == "FAILED (phase: config)" and "--db-wait" in evs[1]["msg"], evs
    for bad in ("JSON", "xml", ""):
        r = sentry.run(["--log-format=" + bad])
        assert r.rc == 64, r
        assert any("--log-format must be 'text' or 'json'" in l for l in r.lines), r
    r = sentry.run([], env={"SENTRY_LOG_FORMAT": "yaml"})
    assert r.rc == 64 and "SENTRY_LOG_FORMAT must be" in r.stderr, r


# ----------------------------------------------------- stdout that cannot be written

def run_to(sentry, args, stdout, env=None, preexec_fn=None):
    p = subprocess.run([sentry.binary] + args, env=sentry.env(env), cwd=str(sentry.cwd),
                       stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                       timeout=60, preexec_fn=preexec_fn)
    return p.returncode, assert_utf8(p.stderr, "stderr")


PRINTING = [["heads"], ["config"], ["status"], ["check"], ["--help"], ["--version"], ["-h"],
            ["-V"]]


@pytest.mark.parametrize("args", PRINTING, ids=lambda a: a[0])
def test_stdout_full_is_74(sentry, db, args):
    assert sentry.run([]).rc == 0  # a status file, a migrated database
    with open("/dev/full", "w") as full:
        rc, err = run_to(sentry, args, full)
    assert rc == 74, err
    assert "[SENTRY] error: cannot write to standard output: No space left on device" in err, err
    # a reader gone (EPIPE, whatever SIGPIPE's disposition) and a closed stdout
    r, w = os.pipe()
    os.close(r)
    try:
        rc, err = run_to(sentry, args, w)
    finally:
        os.close(w)
    assert rc == 74 and "Broken pipe" in err, (rc, err)
    rc, err = run_to(sentry, args, None, preexec_fn=lambda: os.close(1))
    assert rc == 74 and "Bad file descriptor" in err, (rc, err)
    # and the same command with a working stdout: 0
    assert sentry.run(args).rc == 0


def test_stdout_full_keeps_a_failure_code(sentry, db, tmp_path):
    """74 replaces success and status's "not migrated" (1); a command that
    failed for its own reason keeps its code."""
    sentry.status_path.write_text('{"migrated": false}\n')
    with open("/dev/full", "w") as full:
        assert run_to(sentry, ["status"], full)[0] == 74
        assert run_to(sentry, ["check"], full, env={"SENTRY_REQUIRE_COLUMNS": "no.such"})[0] == 65
        assert run_to(sentry, ["config"], full, env={"SENTRY_DB_WAIT": "x"})[0] == 64


def test_gate_goes_on_when_stderr_is_full(sentry, db):
    for fmt in ("text", "json"):
        with open("/dev/full", "w") as full:
            p = subprocess.run([sentry.binary, "--log-format=" + fmt], env=sentry.env(),
                               cwd=str(sentry.cwd), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=full, timeout=120)
        assert p.returncode == 0
        assert json.loads(sentry.status_path.read_text())["migrated"] is True


def test_help_lists_74(sentry):
    r = sentry.run(["--help"])
    assert r.rc == 0 and "74 stdout not writable" in r.stdout, r


# --------------------------------------------------------- status on a bad file

@pytest.mark.parametrize("content,message,code", [
    (b"", "is empty: not migrated", 1),
    (b"  \n\n", "is empty: not migrated", 1),
    (b"{\"migrated\": tru", "is not valid JSON: not migrated", 1),
    (b"{\"migrated\": true, \"e\": \"\xff\"}", "is not valid UTF-8", 1),
    (b"{\"migrated\": \"yes\"}", "has no boolean \"migrated\": not migrated", 1),
    (None, "no status file at", 66),
    ("dir", "not a regular file", 66),
    ("fifo", "not a regular file", 66),
], ids=["empty", "blank", "truncated", "not-utf8", "no-bool", "missing", "dir", "fifo"])
def test_status_says_what_is_wrong(sentry, content, message, code):
    path = sentry.status_path
    if content == "dir":
        path.mkdir()
    elif content == "fifo":
        os.mkfifo(str(path))
    elif content is not None:
        path.write_bytes(content)
    # run directly: the runner would read the (broken) status file itself
    p = subprocess.run([sentry.binary, "status"], env=sentry.env(), cwd=str(sentry.cwd),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    out, err = assert_clean(p.stdout, "stdout"), assert_clean(p.stderr, "stderr")
    assert p.returncode == code, (p.returncode, out, err)
    errors = [l for l in err.splitlines() if l.startswith("[SENTRY] error: ")]
    assert len(errors) == 1 and message in errors[0] and str(path) in errors[0], err
    if content in (b"{\"migrated\": \"yes\"}",):
        assert json.loads(out) == {"migrated": "yes"}
    else:
        assert out == "", out
    p = subprocess.run([sentry.binary, "status", "--log-format=json"], env=sentry.env(),
                       cwd=str(sentry.cwd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)

    class R:
        stderr_raw = p.stderr
    evs = json_events(R)
    assert [o["level"] for o in evs] == ["error"] and message in evs[0]["msg"], evs
    assert evs[0]["phase"] == "status", evs
