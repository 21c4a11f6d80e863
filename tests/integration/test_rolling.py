"""Rolling deploys and rollbacks (issue 11): old and new releases of the
sample app on one database.

v1 is tests/app as it is (revisions 1a2b..., 2b3c..., 3c4d...). v2 adds a
revision on top (a new column, proposals.status: an expand step). v3 adds one
more that drops proposals.visitor_session_id, a column v1 requires (a
contract step taken too early). Each release lives in a folder of its own;
all share one database.

On the base commit (69ed80c) the old release could not start against a
database a newer release had migrated: its gate failed 70 ("broken chain"),
its `check` (the readiness probe) 65, and a rollback to it was refused the
same way.
"""

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import APP_SRC, HEAD, MARKER_CMD, Sentry, assert_failed, assert_status_shape

REV4 = "4d5e6f708192"
REV5 = "5e6f70819203"
NEED_V1 = "proposals.visitor_session_id,conversions.proposal_id"

REV4_PY = '''"""add proposals.status

Revision ID: {rev}
Revises: {down}
Create Date: 2026-11-22 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

revision = '{rev}'
down_revision = '{down}'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('proposals', sa.Column('status', sa.String(length=20), nullable=True))


def downgrade():
    op.drop_column('proposals', 'status')
'''

REV5_PY = '''"""drop proposals.visitor_session_id

Revision ID: {rev}
Revises: {down}
Create Date: 2026-11-29 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

revision = '{rev}'
down_revision = '{down}'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_proposals_visitor_session_id', table_name='proposals')
    op.drop_column('proposals', 'visitor_session_id')


def downgrade():
    op.add_column('proposals', sa.Column('visitor_session_id', sa.String(length=64), nullable=True))
'''


def release(tmp_path, name, extra):
    """A copy of the sample app with the extra (rev, template, down) revisions."""
    dest = tmp_path / name
    shutil.copytree(str(APP_SRC), str(dest),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "marker", "schema.json"))
    for rev, tmpl, down in extra:
        (dest / "migrations" / "versions" / ("%s_rel.py" % rev)).write_text(
            tmpl.format(rev=rev, down=down))
    return dest


@pytest.fixture
def releases(sentry_bin, tmp_path, db):
    """Runners for v1, v2, v3 on one database, each with its own status file."""
    v1 = release(tmp_path, "v1", [])
    v2 = release(tmp_path, "v2", [(REV4, REV4_PY, HEAD)])
    v3 = release(tmp_path, "v3", [(REV4, REV4_PY, HEAD), (REV5, REV5_PY, REV4)])
    out = {}
    for name, d in (("v1", v1), ("v2", v2), ("v3", v3)):
        run = tmp_path / ("run-" + name)
        run.mkdir()
        home = tmp_path / ("home-" + name)
        home.mkdir()
        out[name] = Sentry(sentry_bin, d, run / "status.json", db, home)
    return out


def v1_env(**kw):
    return dict({"SENTRY_REQUIRE_COLUMNS": NEED_V1}, **kw)


def test_old_release_starts_on_a_newer_database(releases, db):
    v1, v2 = releases["v1"], releases["v2"]
    r = v2.run([])
    assert r.rc == 0, r
    assert db.alembic_version() == REV4
    recorded = db.psql("SELECT string_agg(revision, ',' ORDER BY revision) FROM migration_sentry_revisions")
    assert recorded == ",".join(sorted(["1a2b3c4d5e6f", "2b3c4d5e6f70", "3c4d5e6f7081", REV4])), recorded

    r = v1.run(["--"] + MARKER_CMD, env=v1_env())
    assert r.rc == 0, r
    assert r.marker_started
    st = r.status
    assert_status_shape(st)
    assert st["migrated"] is True and st["phase"] == "done"
    assert st["alembic_ahead"] == [REV4], st
    assert st["alembic_current"] == REV4
    assert st["alembic_heads"] == [HEAD]
    assert st["migration"]["ran"] is False
    assert st["migration"]["skipped"] == "database ahead of this release", st
    assert any("ahead of this release" in l and REV4 in l for l in r.lines), r
    assert db.alembic_version() == REV4  # nothing rewritten

    c = v1.run(["check"], env=v1_env())
    assert c.rc == 0, c
    assert c.stdout_json["alembic_ahead"] == [REV4]
    assert c.stdout_json["migrated"] is True


def test_ahead_fail_refuses(releases, db):
    v1, v2 = releases["v1"], releases["v2"]
    assert v2.run([]).rc == 0
    r = v1.run(["--ahead=fail", "--"] + MARKER_CMD, env=v1_env())
    st = assert_failed(r, "migrate", 70)
    assert REV4 in st["error"] and "SENTRY_AHEAD=fail" in st["error"], st
    r = v1.run(["--"] + MARKER_CMD, env=v1_env(SENTRY_AHEAD="fail"))
    assert_failed(r, "migrate", 70)
    c = v1.run(["check"], env=v1_env(SENTRY_AHEAD="fail"))
    assert c.rc == 65, c
    assert REV4 in c.stdout_json["error"]
    bad = v1.run(["--ahead=maybe"])
    assert bad.rc == 64 and "'verify' or 'fail'" in bad.stderr, bad


def test_revision_no_release_defines_is_still_broken(releases, db):
    v1 = releases["v1"]
    assert v1.run([]).rc == 0
    db.psql("UPDATE alembic_version SET version_num = 'deadbeef0000'")
    r = v1.run(["--"] + MARKER_CMD, env=v1_env())
    st = assert_failed(r, "migrate", 70)
    assert "broken chain" in st["error"] and "deadbeef0000" in st["error"], st
    c = v1.run(["check"], env=v1_env())
    assert c.rc == 65 and "deadbeef0000" in c.stdout_json["error"], c


def test_sibling_branch_is_not_ahead(releases, db, sentry_bin, tmp_path):
    """A database migrated by a release that branched off below this one's
    head (REV4 and REV6 both revise HEAD) is not ahead of it: REV4 does not
    descend from REV6, so the chain is broken (70, naming REV4), not skipped
    into a verify failure. Before this fix the gate called it ahead and
    verify failed 65 on the pending REV6."""
    from conftest import Sentry
    rev6 = "6f7081920314"
    assert releases["v2"].run([]).rc == 0  # REV4 applied and recorded
    d = release(tmp_path, "sibling", [(rev6, REV4_PY, HEAD)])
    (tmp_path / "run-sibling").mkdir()
    (tmp_path / "home-sibling").mkdir()
    sib = Sentry(sentry_bin, d, tmp_path / "run-sibling" / "status.json", db,
                 tmp_path / "home-sibling")
    r = sib.run(["--"] + MARKER_CMD)
    st = assert_failed(r, "migrate", 70)
    assert "broken chain" in st["error"] and REV4 in st["error"], st
    assert not st.get("alembic_ahead"), st
    assert not any("ahead of this release" in l for l in r.lines), r
    c = sib.run(["check"])
    assert c.rc == 65 and REV4 in c.stdout_json["error"], c
    assert not c.stdout_json.get("alembic_ahead"), c
    assert db.alembic_version() == REV4  # nothing rewritten


def test_history_rows_only_added_never_changed(releases, db, sentry_bin, tmp_path):
    """A later release that gives a recorded revision other parents (here a
    redundant depends_on on REV3) and adds a revision of its own: its gate
    records the new one, and the recorded row of REV3 stays as it was."""
    from conftest import Sentry
    assert releases["v1"].run([]).rc == 0
    rows = "SELECT revision, down_revisions, depends_on, recorded_by FROM migration_sentry_revisions"
    before = db.psql(rows + " WHERE revision = '%s'" % HEAD)
    assert before.startswith(HEAD + "|"), before
    d = release(tmp_path, "v2b", [(REV4, REV4_PY, HEAD)])
    script = next((d / "migrations" / "versions").glob(HEAD + "_*.py"))
    text = script.read_text()
    assert "depends_on = None" in text
    script.write_text(text.replace("depends_on = None", "depends_on = '1a2b3c4d5e6f'"))
    (tmp_path / "run-v2b").mkdir()
    (tmp_path / "home-v2b").mkdir()
    v2b = Sentry(sentry_bin, d, tmp_path / "run-v2b" / "status.json", db, tmp_path / "home-v2b")
    r = v2b.run([])
    assert r.rc == 0, r
    assert db.psql(rows + " WHERE revision = '%s'" % HEAD) == before
    assert db.psql("SELECT count(*) FROM migration_sentry_revisions WHERE revision = '%s'" % REV4) == "1"


def test_history_off_restores_the_old_refusal(releases, db):
    v1, v2 = releases["v1"], releases["v2"]
    r = v2.run(["--no-history"])
    assert r.rc == 0, r
    assert not db.has_table("migration_sentry_revisions")
    r = v1.run(["--"] + MARKER_CMD, env=v1_env())  # nothing recorded: broken chain
    st = assert_failed(r, "migrate", 70)
    assert REV4 in st["error"]
    assert v2.run([]).rc == 0  # now recorded
    r = v1.run(["--"] + MARKER_CMD, env=v1_env(SENTRY_HISTORY="off"))
    assert_failed(r, "migrate", 70)
    assert v1.run(["--"] + MARKER_CMD, env=v1_env()).rc == 0


def test_newer_release_dropped_a_column_the_old_needs(releases, db):
    v1, v3 = releases["v1"], releases["v3"]
    assert v3.run([]).rc == 0
    assert db.alembic_version() == REV5
    r = v1.run(["--"] + MARKER_CMD, env=v1_env())
    st = assert_failed(r, "verify", 65)
    assert "proposals.visitor_session_id" in st["error"], st
    assert st["alembic_ahead"] == [REV5], st
    assert st["checks"] == {"proposals.visitor_session_id": False, "conversions.proposal_id": True}
    c = releases["v1"].run(["check"], env=v1_env())
    assert c.rc == 65, c
    # v2 needs only what v3 kept: ahead and fine
    r = releases["v2"].run(["--"] + MARKER_CMD, env={"SENTRY_REQUIRE_COLUMNS": "proposals.status"})
    assert r.rc == 0, r
    assert r.status["alembic_ahead"] == [REV5]


def test_three_releases_rollback(releases, db):
    """v3 migrated, then rolled back to v2 and to v1 (their images
    redeployed): each older gate starts without a downgrade."""
    v1, v2, v3 = releases["v1"], releases["v2"], releases["v3"]
    assert v1.run([]).rc == 0
    assert v2.run([]).rc == 0
    assert v3.run([]).rc == 0
    r = v2.run(["--"] + MARKER_CMD, env={"SENTRY_REQUIRE_COLUMNS": "proposals.status"})
    assert r.rc == 0 and r.status["alembic_ahead"] == [REV5], r
    r = v1.run(["--"] + MARKER_CMD, env={"SENTRY_REQUIRE_COLUMNS": "conversions.proposal_id"})
    assert r.rc == 0 and r.status["alembic_ahead"] == [REV5], r


def test_rolling_update_probes_stay_green(releases, db, tmp_path):
    """N v1 processes behind their gate, their readiness probe (check)
    polled throughout while v2 gates start one by one and migrate: no v1
    probe fails while the columns v1 needs exist."""
    v1, v2 = releases["v1"], releases["v2"]
    assert v1.run([], env=v1_env()).rc == 0
    procs = [v1.popen(["--status-file=%s" % (tmp_path / ("bg-%d.json" % i)), "--", "sleep", "30"],
                      env=v1_env()) for i in range(3)]
    results, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            c = v1.run(["check"], env=v1_env(), timeout=30)
            results.append((c.rc, c.stdout_json.get("alembic_ahead") if c.stdout else None))
            time.sleep(0.1)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        for p in procs:
            p.wait_for(r"=== MIGRATION SENTRY: success ===", timeout=60)
        for _ in range(3):
            r = v2.run(["--", "true"])
            assert r.rc == 0, r
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(40)
        for p in procs:
            p.kill()
    assert results, "no probe ran"
    failed = [x for x in results if x[0] != 0]
    print("v1 probes during the rollout: %d, failed %d, ahead seen %d"
          % (len(results), len(failed), sum(1 for x in results if x[1] == [REV4])))
    assert not failed, failed
    assert results[-1] == (0, [REV4]), results[-1]


def test_history_under_concurrency(releases, db, tmp_path):
    """8 racing gates of two releases on a fresh database: all succeed, one
    migration per release at most, the history complete."""
    v1, v2 = releases["v1"], releases["v2"]
    runs = [(v1 if i % 2 else v2).popen(["--status-file=%s" % (tmp_path / ("st-%d.json" % i))])
            for i in range(8)]
    rs = [p.finish(timeout=180) for p in runs]
    assert all(r.rc == 0 for r in rs), [r for r in rs if r.rc]
    ran = [r for r in rs if r.status["migration"]["ran"]]
    assert 1 <= len(ran) <= 2, [r.status["migration"] for r in rs]
    assert len({str(r.status_path) for r in rs}) == 8
    assert db.alembic_version() == REV4
    n = db.psql("SELECT count(*) FROM migration_sentry_revisions")
    assert n == "4", n


def test_history_without_privileges(releases, db, pg):
    """The history table exists but the role may not read or write it: a
    warning, the gate goes on (an ahead database then looks broken)."""
    v1, v2 = releases["v1"], releases["v2"]
    pg.psql("CREATE TABLE migration_sentry_revisions (revision text PRIMARY KEY,"
            " down_revisions text[] NOT NULL, depends_on text[] NOT NULL,"
            " recorded_at timestamptz NOT NULL DEFAULT now(), recorded_by text NOT NULL);"
            " REVOKE ALL ON migration_sentry_revisions FROM PUBLIC, sentry", db=db.name)
    r = v2.run([])
    assert r.rc == 0, r
    assert any("warning: cannot record the revision history" in l and "permission denied" in l
               for l in r.lines), r
    r = v1.run(["--"] + MARKER_CMD, env=v1_env())
    assert r.rc == 70, r


def test_history_table_in_the_version_table_schema(releases, db):
    """With SENTRY_VERSION_TABLE_SCHEMA (and an env.py using it) the history
    lives beside the version table."""
    db.psql("CREATE SCHEMA ops AUTHORIZATION sentry")
    v1 = releases["v1"]
    env_py = v1.cwd / "migrations" / "env.py"
    text = env_py.read_text()
    assert "context.configure(" in text
    env_py.write_text(text.replace("context.configure(", "context.configure(version_table_schema='ops', "))
    r = v1.run([], env={"SENTRY_VERSION_TABLE_SCHEMA": "ops"})
    assert r.rc == 0, r
    assert db.psql("SELECT to_regclass('ops.alembic_version') IS NOT NULL") == "t"
    assert db.psql("SELECT count(*) FROM ops.migration_sentry_revisions") == "3"
    r = v1.run([], env={"SENTRY_VERSION_TABLE_SCHEMA": "ops"})
    assert r.rc == 0 and r.status["migration"]["skipped"] == "database already at heads", r
