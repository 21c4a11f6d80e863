"""Issue 9, "never a wrong answer": each way the reader of the revision
scripts could be fooled, reproduced against a real PostgreSQL and the real
`flask db upgrade` (the sample app, tests/app). Each docstring says what the
base commit (d145025) did; the test checks what happens now."""

import subprocess

import pytest

from conftest import REV1, REV2, REV3, assert_failed

NOTE_REV = "4d5e6f708192"


def flask(app_dir, db, *args, check=True):
    """The real Flask-Migrate command, as the deploy would run it."""
    p = subprocess.run(["/usr/bin/flask", "db"] + list(args), cwd=str(app_dir), timeout=120,
                       env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "FLASK_APP": "app.py",
                            "DATABASE_URL": db.url if db else "", "PYTHONDONTWRITEBYTECODE": "1"},
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if check:
        assert p.returncode == 0, p.stdout
    return p


def flask_heads(app_dir):
    out = flask(app_dir, None, "heads").stdout
    return sorted(l.split()[0] for l in out.splitlines() if l.strip() and not l.startswith("INFO"))


def rows(db):
    return (db.alembic_version() or "").split()


def script(rev, down, body="pass", extra="", doc=""):
    return ('"""%s\n\nRevision ID: %s\nRevises: %s\n%s"""\nfrom alembic import op\nimport sqlalchemy as sa\n\n'
            "# revision identifiers, used by Alembic.\nrevision = %r\ndown_revision = %r\n%s\n\n"
            "def upgrade():\n    %s\n\n\ndef downgrade():\n    pass\n"
            % (rev, rev, down, doc, rev, down, extra, body))


ADD_NOTE = "op.add_column('proposals', sa.Column('note', sa.Text(), nullable=True))"


def test_escaped_quote_in_docstring_hides_decoys(sentry, db, app_dir):
    """Before: the reader ended the docstring at its escaped `\\\"\"\"`, read
    the decoy `revision = ...` lines inside it as code and the real ones as
    a string: heads were the decoy, the database's real revision looked like
    a broken chain, and SENTRY_RECOVER=stamp wrote the decoy into
    alembic_version. Now: the decoy stays in the docstring."""
    doc = ("An escaped quote does not end this docstring: \\\"\"\"\n"
           "revision = 'decoy0000001'\ndown_revision = '%s'\n" % REV3)
    (app_dir / "migrations" / "versions" / ("%s_note.py" % NOTE_REV)).write_text(
        script(NOTE_REV, REV3, ADD_NOTE, "branch_labels = None\ndepends_on = None\n", doc))
    r = sentry.run(["heads"])
    assert r.rc == 0 and r.stdout == NOTE_REV + "\n", r
    assert flask_heads(app_dir) == [NOTE_REV]
    r = sentry.run(["--recover=stamp", "--require-column", "proposals.note"])
    assert r.rc == 0, r
    assert rows(db) == [NOTE_REV] and db.has_column("proposals", "note")
    r = sentry.run(["--recover=stamp"])
    assert r.rc == 0 and not r.migrate_lines, r
    assert r.status["migration"]["recovered"] is False
    assert rows(db) == [NOTE_REV], "the decoy was stamped"


def test_indented_reassignment_makes_the_heads_unknown(sentry, db, app_dir):
    """Before: `down_revision` reassigned in an indented block was ignored,
    so the merge it made was not seen: a fully migrated database had a
    "pending" head and verify refused it (65) on every start. Now: the heads
    are unknown, the log says where, and `flask db upgrade` decides."""
    versions = app_dir / "migrations" / "versions"
    (versions / "b1_side.py").write_text(script("b10000000001", REV1))
    (versions / "m1_merge.py").write_text(script(
        "m10000000001", REV3,
        extra="if True:  # merged later, by hand\n    down_revision = (%r, 'b10000000001')\n" % REV3))
    assert flask_heads(app_dir) == ["m10000000001"]
    flask(app_dir, db, "upgrade")
    assert rows(db) == ["m10000000001"]
    r = sentry.run(["heads"])
    assert r.rc == 65 and "m1_merge.py: line" in r.stderr and "down_revision" in r.stderr, r
    for _ in range(2):
        r = sentry.run(["--", "true"])
        assert r.rc == 0, r
        assert any(l.startswith("[SENTRY] script heads unknown (") for l in r.lines), r
        assert r.status["migration"]["ran"] is True and r.status["alembic_heads"] == []


def test_version_locations_of_flask_migrate_are_read(sentry, db, app_dir):
    """Before: migrations/alembic.ini's version_locations was not read; a
    pending migration in the second folder was skipped ("already at heads")
    and the app started without its column. Now: both folders are one tree
    and the migration runs."""
    ini = app_dir / "migrations" / "alembic.ini"
    ini.write_text(ini.read_text().replace(
        "[alembic]\n", "[alembic]\nversion_locations = %(here)s/versions %(here)s/extra\n", 1))
    r = sentry.run([])
    assert r.rc == 0 and rows(db) == [REV3], r
    extra = app_dir / "migrations" / "extra"
    extra.mkdir()
    (extra / ("%s_note.py" % NOTE_REV)).write_text(script(NOTE_REV, REV3, ADD_NOTE))
    assert flask_heads(app_dir) == [NOTE_REV]
    r = sentry.run(["heads"])
    assert r.rc == 0 and r.stdout == NOTE_REV + "\n", r
    r = sentry.run(["--", "sh", "-c", "echo started > marker"])
    assert r.rc == 0 and r.status["migration"]["ran"] is True, r
    assert rows(db) == [NOTE_REV] and db.has_column("proposals", "note")
    assert r.marker_started
    # several folders given by hand read as one tree too
    r = sentry.run(["heads"], env={"SENTRY_MIGRATIONS_DIR": "migrations/versions:migrations/extra"})
    assert r.rc == 0 and r.stdout == NOTE_REV + "\n", r
    r = sentry.run(["heads"], env={"SENTRY_MIGRATIONS_DIR": "migrations/extra"})
    assert r.rc == 65 and REV3 in r.stderr, r  # alone, the second folder names a missing parent


def test_empty_versions_folder_is_unknown_not_no_heads(sentry, db, app_dir):
    """Before: an empty versions folder was "known, no heads": the database's
    revision looked like a broken chain and SENTRY_RECOVER=stamp deleted
    every alembic_version row. Now: the heads are unknown, nothing is
    stamped, and `flask db upgrade` reports Alembic's own error."""
    assert sentry.run([]).rc == 0 and rows(db) == [REV3]
    for f in (app_dir / "migrations" / "versions").glob("*.py"):
        f.unlink()
    r = sentry.run(["heads"])
    assert r.rc == 65 and "no revision scripts" in r.stderr, r
    r = sentry.run(["--recover=stamp"])
    st = assert_failed(r, "migrate", 70)
    assert rows(db) == [REV3], "alembic_version was emptied"
    assert st["migration"]["recovered"] is False and st["migration"]["ran"] is True
    assert any("Can't locate revision" in l for l in st["migration"]["output_tail"]), st


def test_overlapping_rows_are_not_up_to_date(sentry, db, app_dir):
    """Before: rows of which one is an ancestor of the other (here 2b3c.. and
    3c4d..) were taken as up to date and the migration skipped, where
    `flask db upgrade` refuses them. Now: the gate runs the command, which
    reports Alembic's "overlaps" error; verify and check name the overlap."""
    assert sentry.run([]).rc == 0
    db.psql("INSERT INTO alembic_version (version_num) VALUES ('%s')" % REV2)
    assert rows(db) == [REV2, REV3]
    assert "overlaps with other requested revisions" in flask(app_dir, db, "upgrade", check=False).stdout
    r = sentry.run([])
    st = assert_failed(r, "migrate", 70)
    assert any("overlaps with other requested revisions" in l for l in st["migration"]["output_tail"]), st
    assert any("are ancestors of other rows" in l for l in r.lines), r
    r = sentry.run(["--no-migrate"])
    st = assert_failed(r, "verify", 65)
    assert "overlapping %s" % REV2 in st["error"], st
    r = sentry.run(["check"])
    assert r.rc == 65 and "overlapping" in r.stdout_json["error"], r


def test_stamp_writes_what_stamp_purge_heads_writes(sentry, db, app_dir, pg):
    """Before: SENTRY_RECOVER=stamp wrote every head, also one that another
    head depends_on, so the next `flask db upgrade` failed on overlapping
    rows. Now: exactly the rows of `alembic stamp --purge heads`."""
    versions = app_dir / "migrations" / "versions"
    (versions / "d1.py").write_text(script("d1base000001", None))
    (versions / "d2.py").write_text(script("d2top0000002", REV3, extra="depends_on = 'd1base000001'\n"))
    assert flask_heads(app_dir) == ["d1base000001", "d2top0000002"]
    r = sentry.run(["heads"])
    assert r.rc == 0 and r.stdout.split() == ["d1base000001", "d2top0000002"], r
    heads = {"SENTRY_MIGRATE_CMD": "flask db upgrade heads"}  # two heads: `upgrade` alone refuses
    assert sentry.run([], env=heads).rc == 0
    assert rows(db) == ["d2top0000002"]
    db.psql("UPDATE alembic_version SET version_num = 'deadbeef0000'")
    r = sentry.run(["--recover=stamp"], env=heads)
    assert r.rc == 0 and r.status["migration"]["recovered"] is True, r
    ours = rows(db)
    assert ours == ["d2top0000002"], ours
    flask(app_dir, db, "upgrade", "heads")  # Alembic accepts the rows: nothing to do
    assert rows(db) == ours
    # `alembic stamp --purge heads` (Flask-Migrate 4.0 has no --purge: the same
    # from an emptied table)
    db.psql("DELETE FROM alembic_version")
    flask(app_dir, db, "stamp", "heads")
    assert rows(db) == ours
    r = sentry.run([], env=heads)
    assert r.rc == 0 and not r.migrate_lines, r


@pytest.mark.parametrize("layout", ["empty-strings", "computed-labels"])
def test_trees_alembic_reads_are_known(sentry, db, app_dir, layout):
    """Before: `down_revision = ""`, `depends_on = ""` and branch labels
    computed from an import made the heads unknown, so those projects never
    got the fast path. Now: known (Alembic treats "" as none; a computed
    label changes nothing while no down_revision/depends_on names a label)."""
    versions = app_dir / "migrations" / "versions"
    if layout == "empty-strings":
        first = versions / "1a2b3c4d5e6f_create_proposals_and_conversions.py"
        first.write_text(first.read_text().replace("down_revision = None", 'down_revision = ""'))
        last = versions / "3c4d5e6f7081_add_conversions_proposal_id.py"
        last.write_text(last.read_text().replace("depends_on = None", 'depends_on = ""'))
    else:
        (app_dir / "cli_labels.py").write_text('EXPAND_BRANCH = "expand"\n')
        last = versions / "3c4d5e6f7081_add_conversions_proposal_id.py"
        last.write_text(last.read_text().replace(
            "branch_labels = None", "from cli_labels import EXPAND_BRANCH\nbranch_labels = (EXPAND_BRANCH,)"))
    assert flask_heads(app_dir) == [REV3]
    r = sentry.run(["heads"])
    assert r.rc == 0 and r.stdout == REV3 + "\n", r
    assert sentry.run([]).rc == 0 and rows(db) == [REV3]
    r = sentry.run([])
    assert r.rc == 0 and r.status["migration"]["skipped"] == "database already at heads", r
    assert r.status["alembic_heads"] == [REV3]
