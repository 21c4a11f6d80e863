"""The schema file: `migration-sentry schema`, and verify (gate and check)
holding the live database to migrations/schema.json.

Each test gets its own database, copied from one migrated once per module
with the real `flask db upgrade` (CREATE DATABASE ... TEMPLATE), so that no
test pays for Alembic again; the gate then finds it at the heads and skips the
migration command.
"""

import json
import shutil
import subprocess
import uuid

import pytest

from conftest import (HEAD, MARKER_CMD, REV2, SCHEMA_SRC, Database, assert_failed,
                      assert_status_shape, make_sentry)


def canonical(doc):
    """The schema file's text for a document: what `schema` must print."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_doc(path, doc):
    path.write_text(canonical(doc), encoding="utf-8")


class CopiedDatabase(Database):
    """A database made from a template (the migrated one)."""

    def __init__(self, pg, name, template):
        pg.psql('CREATE DATABASE "%s" TEMPLATE "%s" OWNER sentry' % (name, template), db="postgres")
        self.pg = pg
        self.name = name
        self.url = pg.url_for(name)
        self.port = pg.port
        self.password = pg.password


@pytest.fixture(scope="module")
def migrated_template(pg, tmp_path_factory):
    """A database migrated from scratch by the real Flask-Migrate, as CI does."""
    name = "tmpl_" + uuid.uuid4().hex[:12]
    d = Database(pg, name)
    app = tmp_path_factory.mktemp("tmpl") / "app"
    shutil.copytree(str(SCHEMA_SRC.parents[1]), str(app),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "schema.json"))
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "FLASK_APP": "app.py",
           "DATABASE_URL": d.url, "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(app)}
    p = subprocess.run(["/usr/bin/flask", "db", "upgrade"], cwd=str(app), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert p.returncode == 0, p.stdout.decode()
    assert d.alembic_version() == HEAD
    yield name
    pg.drop_db(name)


@pytest.fixture
def mdb(pg, migrated_template):
    name = "t_" + uuid.uuid4().hex[:12]
    d = CopiedDatabase(pg, name, migrated_template)
    yield d
    pg.drop_db(name)


@pytest.fixture
def ms(sentry_bin, app_dir, tmp_path, mdb):
    """A runner against a database at the heads, in an app without a schema file."""
    return make_sentry(sentry_bin, app_dir, tmp_path, mdb)


def dump(sentry, env=None, args=()):
    r = sentry.run(list(args) + ["schema"], env=env)
    assert r.rc == 0, r
    return r.stdout


def gate(sentry, env=None, args=()):
    marker = sentry.cwd / "marker"
    if marker.exists():
        marker.unlink()  # left by an earlier run of the same test
    return sentry.run(list(args) + ["--"] + MARKER_CMD, env=env)


def assert_passes(r, checked=None):
    assert r.rc == 0, r
    assert r.marker_started, r
    st = r.status
    assert_status_shape(st)
    assert st["schema"]["file"] == "migrations/schema.json", st["schema"]
    assert st["schema"]["differences"] == [], st["schema"]
    if checked is not None:
        assert st["schema"]["checked"] == checked, st["schema"]
    assert ("[SENTRY] schema file migrations/schema.json: %d objects as listed"
            % st["schema"]["checked"]) in r.lines, r
    assert "[SENTRY] schema OK." in r.lines, r
    return st


def assert_drift(r, *expected):
    """A gate that failed verify with 65, logging and recording each of EXPECTED."""
    st = assert_failed(r, "verify", 65)
    diffs = st["schema"]["differences"]
    for e in expected:
        assert e in diffs, (e, diffs, r)
        assert "[SENTRY] schema difference: " + e in r.lines, r
    assert "differs from schema file migrations/schema.json" in st["error"], st["error"]
    assert "[SENTRY] schema OK." not in r.lines
    return st


# The sample app's objects: 2 tables, 6 columns, 3 constraints, 2 indexes.
SAMPLE_OBJECTS = 13


# ------------------------------------------------------------ the dump

def test_dump_of_the_sample_is_stable_to_the_byte(ms, mdb):
    first = dump(ms)
    second = dump(ms)
    assert first == second
    doc = json.loads(first)
    assert canonical(doc) == first  # sorted, indent 2, one newline at the end
    assert list(doc) == ["alembic_version", "format", "postgresql", "schemas"]
    assert doc["alembic_version"] == [HEAD]
    assert doc["format"] == 1 and doc["postgresql"] == 15
    public = doc["schemas"]["public"]
    assert set(public["tables"]) == {"proposals", "conversions"}  # not alembic_version
    assert public["enums"] == {}
    p = public["tables"]["proposals"]
    assert p["columns"]["visitor_session_id"] == {
        "default": None, "not_null": False, "type": "character varying(64)"}
    assert p["columns"]["title"]["not_null"] is True
    assert p["columns"]["id"]["default"] == "nextval('public.proposals_id_seq'::regclass)"
    assert p["constraints"] == {"proposals_pkey": "PRIMARY KEY (id)"}
    assert p["indexes"] == {"ix_proposals_visitor_session_id":
                            "CREATE INDEX ix_proposals_visitor_session_id ON public.proposals "
                            "USING btree (visitor_session_id)"}
    c = public["tables"]["conversions"]
    assert c["constraints"]["fk_conversions_proposal_id_proposals"] == \
        "FOREIGN KEY (proposal_id) REFERENCES public.proposals(id)"
    # the log on stderr, the document alone on stdout
    r = ms.run(["schema"])
    assert r.lines[0] == "=== MIGRATION SENTRY: schema of public ===", r
    assert "[SENTRY] DB OK: %s" % mdb.name in r.lines, r
    assert not ms.status_path.exists()  # no status file: schema is not the gate


def test_dump_of_an_empty_database(sentry, db):
    doc = json.loads(dump(sentry))
    assert doc == {"alembic_version": [], "format": 1, "postgresql": 15,
                   "schemas": {"public": {"enums": {}, "tables": {}}}}


def test_committed_schema_file_is_what_the_migrations_make(ms):
    """CI's check: a database migrated from scratch gives the committed file."""
    assert dump(ms) == SCHEMA_SRC.read_text(encoding="utf-8"), \
        "tests/app/migrations/schema.json is stale: run `make schema-file`"


def test_dump_does_not_depend_on_search_path(ms, mdb):
    before = dump(ms)
    mdb.psql('CREATE SCHEMA other; ALTER DATABASE "%s" SET search_path = other, public, pg_catalog'
             % mdb.name)
    assert dump(ms) == before


def test_dump_leaves_out_version_and_history_tables_views_and_sequences(ms, mdb):
    mdb.psql("CREATE TABLE migration_sentry_revisions (revision text);"
             "CREATE VIEW v_proposals AS SELECT id FROM proposals;"
             "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;"
             "CREATE SEQUENCE loose_seq")
    doc = json.loads(dump(ms))
    assert set(doc["schemas"]["public"]["tables"]) == {"proposals", "conversions"}


def test_dump_of_columns_partitions_and_expression_indexes(ms, mdb):
    mdb.psql("""
        CREATE TABLE odd (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            n int GENERATED BY DEFAULT AS IDENTITY,
            name text COLLATE "C" NOT NULL DEFAULT 'x',
            twice int GENERATED ALWAYS AS (n * 2) STORED,
            CONSTRAINT name_short CHECK (length(name) < 100),
            UNIQUE (name, n));
        CREATE INDEX odd_lower ON odd (lower(name)) WHERE id > 5;
        CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
        CREATE TABLE events_2026 PARTITION OF events
            FOR VALUES FROM ('2026-01-01') TO ('2027-01-01') PARTITION BY LIST (id);
        CREATE TABLE events_2026_small PARTITION OF events_2026 FOR VALUES IN (1, 2);
        CREATE INDEX events_id ON events (id);
    """)
    t = json.loads(dump(ms))["schemas"]["public"]["tables"]
    cols = t["odd"]["columns"]
    assert cols["id"] == {"default": None, "identity": "always", "not_null": True, "type": "bigint"}
    assert cols["n"]["identity"] == "by default"
    assert cols["name"] == {"collation": '"C"', "default": "'x'::text", "not_null": True,
                            "type": "text"}
    assert cols["twice"] == {"default": "(n * 2)", "generated": "stored", "not_null": False,
                             "type": "integer"}
    assert t["odd"]["constraints"] == {"name_short": "CHECK ((length(name) < 100))",
                                       "odd_name_n_key": "UNIQUE (name, n)",
                                       "odd_pkey": "PRIMARY KEY (id)"}
    # indexes behind a constraint are the constraint's; the others by definition
    assert t["odd"]["indexes"] == {"odd_lower": "CREATE INDEX odd_lower ON public.odd USING btree "
                                                "(lower(name)) WHERE (id > 5)"}
    assert t["events"]["partition_by"] == "RANGE (at)"
    assert t["events_2026"]["partition_of"] == \
        "public.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')"
    assert t["events_2026"]["partition_by"] == "LIST (id)"
    # nested: the root of the tree, and the bound within its parent
    assert t["events_2026_small"]["partition_of"] == "public.events FOR VALUES IN (1, 2)"
    assert "partition_by" not in t["odd"] and "partition_of" not in t["odd"]


def test_dump_of_enums_keeps_label_order(ms, mdb):
    mdb.psql("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');"
             "ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';"
             "CREATE TYPE empty_one AS ENUM ();"
             "ALTER TABLE proposals ADD COLUMN mood mood[] DEFAULT '{}'")
    doc = json.loads(dump(ms))
    assert doc["schemas"]["public"]["enums"] == {"empty_one": [], "mood": ["sad", "meh", "ok", "happy"]}
    col = doc["schemas"]["public"]["tables"]["proposals"]["columns"]["mood"]
    assert col == {"default": "'{}'::public.mood[]", "not_null": False, "type": "public.mood[]"}


QUOTED_SQL = """
    CREATE SCHEMA "Odd Schema";
    CREATE TYPE "Odd Schema"."Mood" AS ENUM ('sad', 'it''s ok');
    CREATE TABLE "Odd Schema"."User Table" (
        "ID" int PRIMARY KEY, "select" text NOT NULL, "Mixed Case" "Odd Schema"."Mood");
    CREATE INDEX "Expr Idx" ON "Odd Schema"."User Table" (lower("select"));
    CREATE TABLE "order" ("user" text, "group" int CHECK ("group" > 0));
    CREATE INDEX "where" ON "order" ("user");
"""


def test_names_that_need_quoting_and_other_schemas(ms, mdb, app_dir):
    mdb.psql(QUOTED_SQL)
    env = {"SENTRY_SCHEMAS": '"Odd Schema", PUBLIC'}
    text = dump(ms, env)
    doc = json.loads(text)
    assert sorted(doc["schemas"]) == ["Odd Schema", "public"]
    odd = doc["schemas"]["Odd Schema"]
    assert odd["enums"] == {"Mood": ["sad", "it's ok"]}
    cols = odd["tables"]["User Table"]["columns"]
    assert cols["Mixed Case"]["type"] == '"Odd Schema"."Mood"'
    assert odd["tables"]["User Table"]["indexes"]["Expr Idx"] == \
        'CREATE INDEX "Expr Idx" ON "Odd Schema"."User Table" USING btree (lower("select"))'
    assert doc["schemas"]["public"]["tables"]["order"]["indexes"]["where"] == \
        'CREATE INDEX "where" ON public."order" USING btree ("user")'
    # held to it: passes, then each drift named as SQL writes it
    (app_dir / "migrations" / "schema.json").write_text(text, encoding="utf-8")
    assert_passes(gate(ms, env))
    mdb.psql('DROP INDEX "Odd Schema"."Expr Idx";'
             'ALTER TABLE "Odd Schema"."User Table" ALTER "select" TYPE varchar(10);'
             'ALTER TABLE "order" ALTER "user" SET NOT NULL;'
             'DROP TYPE "Odd Schema"."Mood" CASCADE;')
    assert_drift(gate(ms, env),
                 'index "Odd Schema"."Expr Idx" missing',
                 'column "Odd Schema"."User Table".select: type character varying(10), '
                 'expected text',
                 'column "Odd Schema"."User Table"."Mixed Case" missing',
                 # bare names are shown bare, reserved words too: it is a message, not SQL
                 'column order.user: not null, expected nullable',
                 'enum type "Odd Schema"."Mood" missing')


def test_schema_that_does_not_exist_is_65(ms, mdb):
    r = ms.run(["schema"], env={"SENTRY_SCHEMAS": "public,nowhere"})
    assert r.rc == 65, r
    assert "=== MIGRATION SENTRY: FAILED (phase: schema) ===" in r.lines, r
    assert "no schema nowhere in database %s" % mdb.name in r.stderr, r
    assert r.stdout == ""


@pytest.mark.parametrize("value", ['"unterminated', 'two words', '"a"b', "x" * 64])
def test_bad_schema_names_are_64(ms, value):
    r = ms.run(["schema"], env={"SENTRY_SCHEMAS": value})
    assert r.rc == 64, r
    assert "SENTRY_SCHEMAS" in r.stderr and "is not a schema name" in r.stderr, r
    assert r.stdout == ""


def test_schema_connection_failures(ms, mdb, closed_port):
    r = ms.run(["schema"], env={"DATABASE_URL": mdb.url_with(password="wrong-password")})
    assert r.rc == 77, r
    url = mdb.url_with().replace(":%d/" % mdb.port, ":%d/" % closed_port)
    r = ms.run(["schema"], env={"DATABASE_URL": url, "SENTRY_DB_WAIT": "0"})
    assert r.rc == 69, r
    assert "=== MIGRATION SENTRY: FAILED (phase: connect) ===" in r.lines
    assert r.stdout == ""


def test_schema_to_a_full_stdout_is_74(ms):
    with open("/dev/full", "w") as full:
        p = subprocess.run([ms.binary, "schema"], cwd=str(ms.cwd), env=ms.env(),
                           stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 74, p.stderr
    assert b"cannot write to standard output" in p.stderr


# ------------------------------------------------------------ verify

def test_gate_migrates_from_scratch_and_holds_to_the_file(sentry, db, schema_file):
    r = gate(sentry)
    assert "=== MIGRATION SENTRY: flask db upgrade ===" in r.lines, r
    assert_passes(r, SAMPLE_OBJECTS)
    r = gate(sentry)  # the no-op start
    assert any("already at heads" in l for l in r.lines), r
    st = assert_passes(r, SAMPLE_OBJECTS)
    assert st["schema"]["checked"] == SAMPLE_OBJECTS


def test_no_schema_file_nothing_checked(ms):
    r = gate(ms)
    assert r.rc == 0, r
    assert r.status["schema"] == {"file": None, "checked": 0, "differences": []}
    assert not any("schema file" in l for l in r.lines), r


DRIFT = [
    ("dropped index", "DROP INDEX ix_proposals_visitor_session_id",
     ["index ix_proposals_visitor_session_id missing"]),
    ("changed type", "ALTER TABLE proposals ALTER visitor_session_id TYPE text",
     ["column proposals.visitor_session_id: type text, expected character varying(64)",
      # the index is rebuilt on the new type, so its definition still reads the same
      ]),
    ("dropped not null", "ALTER TABLE proposals ALTER title DROP NOT NULL",
     ["column proposals.title: nullable, expected not null"]),
    ("added not null", "ALTER TABLE conversions ALTER proposal_id SET NOT NULL",
     ["column conversions.proposal_id: not null, expected nullable"]),
    ("changed default", "ALTER TABLE conversions ALTER created_at SET DEFAULT now()",
     ["column conversions.created_at: default now(), expected none"]),
    ("dropped default", "ALTER TABLE proposals ALTER id DROP DEFAULT",
     ["column proposals.id: default none, expected nextval('public.proposals_id_seq'::regclass)"]),
    ("dropped constraint",
     "ALTER TABLE conversions DROP CONSTRAINT fk_conversions_proposal_id_proposals",
     ["constraint fk_conversions_proposal_id_proposals on conversions missing"]),
    ("changed constraint",
     "ALTER TABLE conversions DROP CONSTRAINT fk_conversions_proposal_id_proposals;"
     "ALTER TABLE conversions ADD CONSTRAINT fk_conversions_proposal_id_proposals "
     "FOREIGN KEY (proposal_id) REFERENCES proposals(id) ON DELETE CASCADE",
     ["constraint fk_conversions_proposal_id_proposals on conversions: FOREIGN KEY (proposal_id) "
      "REFERENCES public.proposals(id) ON DELETE CASCADE, expected FOREIGN KEY (proposal_id) "
      "REFERENCES public.proposals(id)"]),
    ("changed index", "DROP INDEX ix_conversions_proposal_id;"
     "CREATE UNIQUE INDEX ix_conversions_proposal_id ON conversions (proposal_id)",
     ["index ix_conversions_proposal_id: CREATE UNIQUE INDEX ix_conversions_proposal_id ON "
      "public.conversions USING btree (proposal_id), expected CREATE INDEX "
      "ix_conversions_proposal_id ON public.conversions USING btree (proposal_id)"]),
    ("dropped primary key", "ALTER TABLE proposals DROP CONSTRAINT proposals_pkey CASCADE",
     ["constraint proposals_pkey on proposals missing",
      "constraint fk_conversions_proposal_id_proposals on conversions missing"]),
    ("missing column", "ALTER TABLE conversions DROP COLUMN proposal_id",
     ["column conversions.proposal_id missing", "index ix_conversions_proposal_id missing",
      "constraint fk_conversions_proposal_id_proposals on conversions missing"]),
    ("missing table", "DROP TABLE conversions", ["table conversions missing"]),
    ("renamed table", "ALTER TABLE proposals RENAME TO proposal",
     ["constraint fk_conversions_proposal_id_proposals on conversions: FOREIGN KEY (proposal_id) "
      "REFERENCES public.proposal(id), expected FOREIGN KEY (proposal_id) "
      "REFERENCES public.proposals(id)",
      "table proposals missing"]),
]


@pytest.mark.parametrize("name,sql,expected", DRIFT, ids=[d[0] for d in DRIFT])
def test_drift_is_65_naming_it(ms, mdb, schema_file, name, sql, expected):
    assert_passes(gate(ms), SAMPLE_OBJECTS)
    mdb.psql(sql)
    st = assert_drift(gate(ms), *expected)
    assert st["schema"]["checked"] == SAMPLE_OBJECTS
    if name in ("missing table", "renamed table"):  # one line for a table, none for its parts
        assert st["schema"]["differences"] == expected


@pytest.fixture
def enum_file(ms, mdb, app_dir):
    """A schema file that also lists enum type mood ('sad', 'ok', 'happy')."""
    mdb.psql("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
    path = app_dir / "migrations" / "schema.json"
    path.write_text(dump(ms), encoding="utf-8")
    return path


ENUM_DRIFT = [
    ("missing label", "DROP TYPE mood; CREATE TYPE mood AS ENUM ('sad', 'happy')",
     ["enum type mood: label 'ok' missing"]),
    ("labels reordered", "DROP TYPE mood; CREATE TYPE mood AS ENUM ('happy', 'ok', 'sad')",
     ["enum type mood: labels in the order 'happy', 'ok', 'sad', expected 'sad', 'ok', 'happy'"]),
    ("missing enum type", "DROP TYPE mood", ["enum type mood missing"]),
]


@pytest.mark.parametrize("name,sql,expected", ENUM_DRIFT, ids=[d[0] for d in ENUM_DRIFT])
def test_enum_drift_is_65(ms, mdb, enum_file, name, sql, expected):
    assert_passes(gate(ms), SAMPLE_OBJECTS + 1)
    mdb.psql(sql)
    assert_drift(gate(ms), *expected)


ADDITIONS = [
    ("table", "CREATE TABLE extra (id serial PRIMARY KEY, note text)"),
    ("column", "ALTER TABLE proposals ADD COLUMN note text NOT NULL DEFAULT ''"),
    ("index", "CREATE INDEX ix_proposals_title ON proposals (title)"),
    ("check constraint", "ALTER TABLE proposals ADD CONSTRAINT ck_title CHECK (title <> '')"),
    ("unique constraint", "ALTER TABLE proposals ADD CONSTRAINT uq_title UNIQUE (title)"),
    ("enum type", "CREATE TYPE color AS ENUM ('red')"),
    ("enum label", "ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok'; ALTER TYPE mood ADD VALUE 'glad'"),
    ("view", "CREATE VIEW v AS SELECT id FROM proposals"),
    ("other schema", "CREATE SCHEMA other; CREATE TABLE other.t (id int)"),
]


@pytest.mark.parametrize("name,sql", ADDITIONS, ids=[a[0] for a in ADDITIONS])
def test_additions_pass(ms, mdb, enum_file, name, sql):
    """What a newer release may add: the older file does not list it."""
    mdb.psql(sql)
    assert_passes(gate(ms), SAMPLE_OBJECTS + 1)


def test_identity_generated_collation_and_partitions_are_checked(ms, mdb, app_dir):
    mdb.psql("""
        CREATE TABLE odd (id int GENERATED ALWAYS AS IDENTITY, name text COLLATE "C",
                          twice int GENERATED ALWAYS AS (id * 2) STORED);
        CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
        CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    """)
    (app_dir / "migrations" / "schema.json").write_text(dump(ms), encoding="utf-8")
    assert_passes(gate(ms))
    mdb.psql("""
        ALTER TABLE odd ALTER id DROP IDENTITY;
        ALTER TABLE odd ALTER name TYPE text COLLATE "POSIX";
        ALTER TABLE odd DROP COLUMN twice; ALTER TABLE odd ADD COLUMN twice int;
        ALTER TABLE events DETACH PARTITION events_2026;
    """)
    assert_drift(gate(ms),
                 "column odd.id: identity none, expected always",
                 'column odd.name: collation "POSIX", expected "C"',
                 "column odd.twice: default none, expected (id * 2)",
                 "column odd.twice: generated none, expected stored",
                 "table events_2026: partition_of none, expected public.events FOR VALUES FROM "
                 "('2026-01-01') TO ('2027-01-01')")


def test_differences_capped_at_50_in_the_status_file(ms, schema_file):
    doc = json.loads(schema_file.read_text())
    tables = doc["schemas"]["public"]["tables"]
    for i in range(60):
        tables["gone_%02d" % i] = {"columns": {}, "constraints": {}, "indexes": {}}
    write_doc(schema_file, doc)
    r = gate(ms)
    st = assert_failed(r, "verify", 65)
    assert st["schema"]["checked"] == SAMPLE_OBJECTS + 60
    assert st["schema"]["differences"] == ["table gone_%02d missing" % i for i in range(50)]
    logged = [l for l in r.lines if l.startswith("[SENTRY] schema difference: ")]
    assert len(logged) == 60, r  # the log has every one
    assert "in 60 places (first: table gone_00 missing)" in st["error"], st["error"]


def test_missing_schema_is_one_difference(ms, mdb, app_dir):
    mdb.psql(QUOTED_SQL)
    env = {"SENTRY_SCHEMAS": '"Odd Schema",public'}
    (app_dir / "migrations" / "schema.json").write_text(dump(ms, env), encoding="utf-8")
    mdb.psql('DROP SCHEMA "Odd Schema" CASCADE')
    st = assert_drift(gate(ms, env), 'schema "Odd Schema" missing')
    assert st["schema"]["differences"] == ['schema "Odd Schema" missing']


# ------------------------------------------------------------ refused at config

def test_stale_file_is_64_naming_both(ms, schema_file):
    doc = json.loads(schema_file.read_text())
    doc["alembic_version"] = [REV2]
    write_doc(schema_file, doc)
    r = gate(ms)
    assert_failed(r, "config", 64, status_expected=False)
    assert ("schema file migrations/schema.json was taken at revision %s, but the script heads "
            "are %s" % (REV2, HEAD)) in r.stderr, r
    r = ms.run(["check"])
    assert r.rc == 64, r
    assert "was taken at revision %s" % REV2 in r.stderr


def test_new_migration_makes_the_file_stale(ms, schema_file, app_dir):
    """The reason CI remakes the file: a new script changes the heads."""
    (app_dir / "migrations" / "versions" / "4d5e6f708192_more.py").write_text(
        "revision = '4d5e6f708192'\ndown_revision = '%s'\nbranch_labels = None\n"
        "depends_on = None\n\ndef upgrade():\n    pass\n" % HEAD)
    r = gate(ms, args=["--no-migrate"])
    assert_failed(r, "config", 64, status_expected=False)
    assert "taken at revision %s, but the script heads are 4d5e6f708192" % HEAD in r.stderr, r


def test_unknown_heads_go_on_without_matching(ms, schema_file, app_dir):
    (app_dir / "migrations" / "versions" / "5e6f70819203_computed.py").write_text(
        "revision = 'x' + 'y'\ndown_revision = None\n")
    r = gate(ms, args=["--no-migrate"])
    assert ("[SENTRY] script heads unknown: schema file migrations/schema.json (taken at %s) "
            "not matched to them" % HEAD) in r.lines, r
    assert_passes(r, SAMPLE_OBJECTS)


def test_file_for_another_schema_set_is_64(ms, mdb, schema_file):
    doc = json.loads(schema_file.read_text())
    doc["schemas"]["billing"] = {"enums": {}, "tables": {}}
    write_doc(schema_file, doc)
    r = gate(ms)
    assert_failed(r, "config", 64, status_expected=False)
    assert ("schema file migrations/schema.json describes schemas billing,public, but "
            "SENTRY_SCHEMAS is public") in r.stderr, r
    r = gate(ms, args=["--schemas", "public"])
    assert "but --schemas is public" in r.stderr, r
    # given the same schemas, it is held to them
    mdb.psql("CREATE SCHEMA billing")
    assert_passes(gate(ms, {"SENTRY_SCHEMAS": "public,billing"}), SAMPLE_OBJECTS)


VALID = SCHEMA_SRC.read_text(encoding="utf-8")

MALFORMED = [
    ("trailing comma", '{\n  "format": 1,\n  "x": [1, 2,]\n}', "line 3, column 14: "),
    ("not json", "alembic_version: abc\n", "line 1, column 1: expected a JSON value"),
    ("empty", "", "line 1, column 1: expected a JSON value, found the end of the file"),
    ("truncated", VALID[:200], "expected"),
    ("text after", VALID + "x", "after the end of the JSON document"),
    ("unterminated string", '{"format": "1', "line 1, column 14: unterminated string"),
    ("invalid utf-8", b'{"format": "\xff"}', "line 1, column 13: invalid UTF-8"),
    ("duplicate name", '{\n "format": 1,\n "format": 1}', 'line 3, column 2: the name "format" is given twice'),
    ("array", "[]", "line 1, column 1: the schema file must be a JSON object, not an array"),
    ("missing member", '{"format": 1, "postgresql": 15, "schemas": {}}',
     'line 1, column 1: the schema file has no member "alembic_version"'),
    ("unknown member", VALID.replace('"format": 1,', '"format": 1,\n  "colour": "red",'),
     'line 6, column 3: unknown member "colour" in the schema file'),
    ("wrong format", VALID.replace('"format": 1,', '"format": 2,'), '"format" must be 1'),
    ("wrong type", VALID.replace('"not_null": true', '"not_null": "yes"', 1),
     '"not_null" must be true or false, not a string'),
    ("wrong type of default", VALID.replace('"default": null', '"default": 0', 1),
     '"default" must be a string or null, not a number'),
    ("tables as a list", VALID.replace('"tables": {', '"tables": [{', 1).replace(
        "\n      }\n    }\n  }\n}", "\n      }]\n    }\n  }\n}"), '"tables" must be an object, not an array'),
    ("unknown column member", VALID.replace('"not_null": true', '"not_null": true, "size": 4', 1),
     'unknown member "size" in column "created_at"'),
    ("renamed column member", VALID.replace('"type": "integer"', '"kind": "integer"', 1),
     'unknown member "kind" in column "id"'),
    ("missing column member", VALID.replace('"not_null": true,', '', 1),
     'column "created_at" has no member "not_null"'),
    ("revision not a string", VALID.replace('"3c4d5e6f7081"', "3", 1),
     "an item must be a string, not a number"),
    ("nested too deep", '{"format": ' + "[" * 40 + "]" * 40 + "}", "nested more than 32 deep"),
]


@pytest.mark.parametrize("name,text,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_is_64_with_the_position(ms, app_dir, name, text, message):
    path = app_dir / "migrations" / "schema.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    r = gate(ms)
    assert_failed(r, "config", 64, status_expected=False)
    err = [l for l in r.lines if l.startswith("[SENTRY] error: ")]
    assert err and err[0].startswith("[SENTRY] error: schema file migrations/schema.json: line "), r
    assert message in err[0], (message, err)
    assert r.stderr.encode("utf-8", "strict")  # valid UTF-8, whatever the file held
    assert ms.run(["check"]).rc == 64


def test_explicit_file_that_cannot_be_read_is_64(ms, tmp_path):
    r = gate(ms, {"SENTRY_SCHEMA_FILE": str(tmp_path / "nowhere.json")})
    assert_failed(r, "config", 64, status_expected=False)
    assert "cannot read schema file %s" % (tmp_path / "nowhere.json") in r.stderr, r
    r = gate(ms, args=["--schema-file", str(tmp_path)])
    assert "not a regular file" in r.stderr, r


def test_explicit_file_elsewhere(ms, tmp_path):
    path = tmp_path / "elsewhere.json"
    shutil.copy2(str(SCHEMA_SRC), str(path))
    r = gate(ms, {"SENTRY_SCHEMA_FILE": str(path)})
    assert r.rc == 0, r
    assert r.status["schema"]["file"] == str(path)
    assert r.status["schema"]["checked"] == SAMPLE_OBJECTS


# ------------------------------------------------------------ check

def test_check_with_a_schema_file(ms, mdb, schema_file):
    r = ms.run(["check"])
    assert r.rc == 0, r
    st = r.stdout_json
    assert_status_shape(st)
    assert st["schema"] == {"file": "migrations/schema.json", "checked": SAMPLE_OBJECTS,
                            "differences": []}
    mdb.psql("DROP INDEX ix_conversions_proposal_id")
    r = ms.run(["check"])
    assert r.rc == 65, r
    st = r.stdout_json
    assert st["phase"] == "verify" and st["migrated"] is False
    assert st["schema"]["differences"] == ["index ix_conversions_proposal_id missing"]
    assert "[SENTRY] schema difference: index ix_conversions_proposal_id missing" in r.lines
    assert not ms.status_path.exists()  # check writes no status file


def test_worker_no_migrate_with_schema_file(ms, mdb, schema_file):
    r = gate(ms, args=["--no-migrate"])
    assert_passes(r, SAMPLE_OBJECTS)
    mdb.psql("ALTER TABLE proposals DROP COLUMN visitor_session_id")
    assert_drift(gate(ms, args=["--no-migrate"]),
                 "column proposals.visitor_session_id missing",
                 "index ix_proposals_visitor_session_id missing")


def test_config_shows_the_schema_file(ms, schema_file):
    r = ms.run(["config"])
    assert r.rc == 0, r
    assert "SENTRY_SCHEMA_FILE=migrations/schema.json (default)" in r.stdout.splitlines(), r


def test_names_with_control_characters_stay_on_one_line(ms, mdb, app_dir):
    mdb.psql('CREATE TABLE "two\nlines" (id int CONSTRAINT "ck\tx" CHECK (id <> 7))')
    text = dump(ms)
    assert '"two\\nlines": {' in text and '"ck\\tx": "CHECK ((id <> 7))"' in text
    (app_dir / "migrations" / "schema.json").write_text(text, encoding="utf-8")
    assert_passes(gate(ms))
    mdb.psql('ALTER TABLE "two\nlines" DROP CONSTRAINT "ck\tx"')
    r = gate(ms)
    assert_drift(r, 'constraint "ck?x" on "two?lines" missing')
    mdb.psql('DROP TABLE "two\nlines"')
    assert_drift(gate(ms), 'table "two?lines" missing')
