"""`make install` (PREFIX, DESTDIR, BINDIR, MANDIR, INSTALL_BIN) and the man
page migration-sentry(1): no groff or man warning; every command, every
setting (those ../shared/CONTRACT.md names, those the binary's `config`
prints, every flag of its --help), every exit code and the files."""

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, REPO, STATIC_BIN, VERSION, run

MAN = REPO / "docs" / "migration-sentry.1"

# (environment variable, flag) of every setting the contract names; the flag
# for a setting the contract gives none is --kebab-case of the variable.
SETTINGS = [
    ("DATABASE_URL", "--database-url"),
    ("SENTRY_REQUIRED_ENV", "--require-env"),
    ("SENTRY_DB_WAIT", "--db-wait"),
    ("SENTRY_LOCK_KEY", "--lock-key"),
    ("SENTRY_LOCK_WAIT", "--lock-wait"),
    ("SENTRY_MIGRATIONS_DIR", "--migrations-dir"),
    ("SENTRY_ALEMBIC_CONFIG", "--alembic-config"),
    ("SENTRY_VERSION_TABLE", "--version-table"),
    ("SENTRY_VERSION_TABLE_SCHEMA", "--version-table-schema"),
    ("SENTRY_HISTORY", "--no-history"),
    ("SENTRY_AHEAD", "--ahead=fail"),
    ("SENTRY_RECOVER", "--recover=stamp"),
    ("SENTRY_MIGRATE_CMD", "--migrate-cmd"),
    ("SENTRY_MIGRATE_TIMEOUT", "--migrate-timeout"),
    ("SENTRY_MIGRATE_LOCK_TIMEOUT", "--migrate-lock-timeout"),
    ("SENTRY_MIGRATE_RETRIES", "--migrate-retries"),
    ("SENTRY_REQUIRE_COLUMNS", "--require-column"),
    ("SENTRY_SCHEMA_FILE", "--schema-file"),
    ("SENTRY_SCHEMAS", "--schemas"),
    ("SENTRY_STATUS_FILE", "--status-file"),
    ("SENTRY_GRACE", "--grace"),
    ("SENTRY_NO_MIGRATE", "--no-migrate"),
    ("SENTRY_INIT", "--init"),
    ("SENTRY_INIT", "--no-init"),
    ("SENTRY_LOG_FORMAT", "--log-format"),
]
COMMANDS = ["check", "status", "heads", "config", "schema", "sql", "--help", "--version"]
EXIT_CODES = ["0", "1", "64", "65", "66", "69", "70", "73", "74", "75", "77", "126", "127",
              "128+N"]
FILES = ["/tmp/migration_status.json", "migrations/versions", "alembic.ini",
         "migrations/schema.json", "/proc/self/exe"]


def contract():
    """../shared/CONTRACT.md beside the repository (as CI lays it out), or
    CONTRACT= a path; None when there is none."""
    for p in (os.environ.get("CONTRACT"), REPO.parent / "shared" / "CONTRACT.md",
              REPO.parent.parent / "shared" / "CONTRACT.md"):
        if p and Path(p).is_file():
            return Path(p).read_text()
    return None


def man_source():
    """The page with roff's escaped minus signs as plain ones."""
    return MAN.read_text().replace("\\-", "-")


def sections(src):
    out, name = {}, None
    for line in src.splitlines():
        if line.startswith(".SH "):
            name = line[4:].strip().strip('"')
            out[name] = []
        elif name:
            out[name].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def tp_entries(text):
    """The paragraphs of .TP lists: the tag line and its body, as one string."""
    return [chunk.strip() for chunk in re.split(r"(?m)^\.TP\n", text)[1:]]


# ---------------------------------------------------------------- the page

@pytest.mark.parametrize("checker", [
    ["groff", "-ww", "-man", "-z"],
    ["man", "--warnings", "-l"],
])
def test_man_page_has_no_warning(checker):
    p = run(checker + [MAN], env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LANG": "C.UTF-8"})
    assert p.stderr == "", p.stderr


def test_man_page_uses_man_macros_only():
    macros = {l.split()[0] for l in MAN.read_text().splitlines()
              if l.startswith(".") and not l.startswith(".\\\"")}
    allowed = {".TH", ".SH", ".SS", ".TP", ".PP", ".B", ".I", ".BR", ".BI", ".IR", ".RB",
               ".RI", ".IB", ".RS", ".RE", ".nf", ".fi", ".br", ".IP", ".EX", ".EE",
               ".nh", ".ad"}
    assert macros <= allowed, macros - allowed


def tag_text(entry):
    """A .TP tag line as it prints: `.BI --ahead= fail` is --ahead=fail."""
    line = entry.split("\n")[0]
    return re.sub(r'[\s"]', "", re.sub(r"^\.[BIR]{1,2}\s+", "", line))


def test_every_setting_has_its_option_entry():
    opts = tp_entries(sections(man_source())["OPTIONS"])
    for env, flag in SETTINGS:
        assert any(flag in tag_text(e) and env in e for e in opts), (env, flag)


def test_every_setting_of_the_contract_is_in_the_page():
    text = contract()
    if text is None:  # a clean clone alone: the next test holds the page to the binary's settings
        pytest.skip("../shared/CONTRACT.md not found beside the repository (set CONTRACT=)")
    names = set(re.findall(r"\bSENTRY_[A-Z_]*[A-Z]\b", text)) | {"DATABASE_URL"}
    src = man_source()
    missing = sorted(n for n in names if n not in src)
    assert not missing, missing
    assert names <= {e for e, _ in SETTINGS}, names - {e for e, _ in SETTINGS}


def test_every_setting_and_flag_the_binary_knows_is_in_the_page(dynamic_bin):
    src = man_source()
    cfg = run([dynamic_bin, "config"], check=False, env={"PATH": "/usr/bin:/bin"}).stdout
    names = [l.split("=", 1)[0] for l in cfg.splitlines() if "=" in l]
    assert "SENTRY_DB_WAIT" in names, cfg
    assert [n for n in names if n not in src] == []
    usage = run([dynamic_bin, "--help"]).stdout
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", usage))
    assert "--db-wait" in flags, usage
    assert sorted(f for f in flags if f not in src) == []


def test_every_command_exit_code_and_file():
    secs = sections(man_source())
    cmds = [e.split("\n")[0] for e in tp_entries(secs["COMMANDS"])]
    for c in COMMANDS:
        assert any(re.search(r"(^|\s)%s(\s|$)" % re.escape(c), t) for t in cmds), c
    codes = [e.split("\n")[0] for e in tp_entries(secs["EXIT STATUS"])]
    assert codes == [".B " + c for c in EXIT_CODES], codes
    for f in FILES:
        assert f in secs["FILES"], f
    for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "ENVIRONMENT", "SEE ALSO"):
        assert s in secs, s


# ---------------------------------------------------------------- make install

def make_install(tmp_path, *args):
    return run(["make", "--no-print-directory", "install"] + list(args), cwd=REPO,
               timeout=600)


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def test_install_default_prefix_with_destdir(tmp_path, dynamic_bin):
    make_install(tmp_path, "DESTDIR=%s" % tmp_path)
    assert files_under(tmp_path) == ["usr/local/bin/migration-sentry",
                                     "usr/local/share/man/man1/migration-sentry.1"]
    b = tmp_path / "usr/local/bin/migration-sentry"
    assert stat.S_IMODE(b.stat().st_mode) == 0o755
    assert b.read_bytes() == BIN.read_bytes()
    assert run([b, "--version"]).stdout == "migration-sentry %s\n" % VERSION
    m = tmp_path / "usr/local/share/man/man1/migration-sentry.1"
    assert stat.S_IMODE(m.stat().st_mode) == 0o644
    th = [l for l in m.read_text().splitlines() if l.startswith(".TH ")]
    assert th and '"migration-sentry %s"' % VERSION in th[0], th
    # the installed page is what man finds through MANPATH
    p = run(["man", "--warnings", "migration-sentry"], env={
        "PATH": "/usr/bin:/bin", "MANPATH": str(tmp_path / "usr/local/share/man"),
        "MANWIDTH": "80", "LANG": "C.UTF-8", "MANPAGER": "cat", "PAGER": "cat"})
    assert "migration-sentry - gate a Flask-Migrate" in p.stdout and p.stderr == "", p


def test_install_prefix_bindir_mandir_and_the_static_binary(tmp_path):
    if not STATIC_BIN.is_file():
        pytest.fail("%s is missing: run `make static` first" % STATIC_BIN, pytrace=False)
    make_install(tmp_path, "DESTDIR=%s" % tmp_path, "PREFIX=/usr", "MANDIR=/usr/share/man",
                 "INSTALL_BIN=%s" % STATIC_BIN)
    assert files_under(tmp_path) == ["usr/bin/migration-sentry",
                                     "usr/share/man/man1/migration-sentry.1"]
    assert (tmp_path / "usr/bin/migration-sentry").read_bytes() == STATIC_BIN.read_bytes()
    run(["make", "--no-print-directory", "uninstall", "DESTDIR=%s" % tmp_path, "PREFIX=/usr"],
        cwd=REPO)
    assert files_under(tmp_path) == []
