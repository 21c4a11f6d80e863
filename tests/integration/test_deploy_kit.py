"""The deploy kit (issue 5): the `sql` hot patch, and every migration-sentry
invocation in the shipped YAML files (render.yaml.example,
docker/docker-compose.yml, docker/kubernetes.yaml) checked with `config`.

The YAML part is generic: each file is parsed with python3-yaml, walked, and
every string or list that mentions migration-sentry is taken as an invocation
(entrypoint/command + args, startCommand, preDeployCommand, healthcheck test,
readinessProbe exec command, ...). Each one is run as
`build/migration-sentry FLAGS... config` with the flags it was given and the
environment that file sets for it (compose `environment`, Kubernetes `env` +
`envFrom` ConfigMaps/Secrets, Render `envVars` + `fromGroup`), secrets and
placeholders replaced by dummy values, and must exit 0. Every SENTRY_* variable
a file sets must be one the binary knows (a typo would be silently ignored).
"""

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import BANNER_SUCCESS, REPO, assert_no_secret, banner_failed

HOT_PATCH = REPO / "docker" / "hot_patch_example.sql"
DUMMY_URL = "postgresql://app:dummy-Pa55word@db.invalid:5432/app"

# file -> the least number of invocations it must hold (so the test cannot
# pass on a file in which the walk found nothing)
YAML_FILES = {
    "render.yaml.example": 3,          # preDeployCommand, 2 x startCommand
    "docker/docker-compose.yml": 4,    # web + worker: entrypoint and healthcheck
    "docker/kubernetes.yaml": 4,       # web + worker: command/args and readinessProbe
}
SUBCOMMANDS = {"check", "status", "heads", "config"}
NAME_KEYS = {"name", "fromGroup", "image", "container_name", "hostname", "key"}
SHELL_OPS = {"||", "&&", ";", "|", "&"}


# ---------------------------------------------------------------- sql FILE

@pytest.fixture
def migrated(sentry, db):
    r = sentry.run([])
    assert r.rc == 0, r
    return sentry


def index_exists(db, name):
    return db.psql("SELECT to_regclass('public.%s') IS NOT NULL" % name) == "t"


def test_hot_patch_example_applies_twice(migrated, db):
    for attempt in (1, 2):
        r = migrated.run(["sql", str(HOT_PATCH)])
        assert r.rc == 0, r
        assert "=== MIGRATION SENTRY: success: %s applied in one transaction ===" % HOT_PATCH \
            in r.lines, r
        assert db.has_column("proposals", "utm_source"), attempt
        assert index_exists(db, "ix_proposals_utm_source"), attempt
    # and the gate still passes, with the patched column required as well
    r = migrated.run(["--require-column", "proposals.utm_source"])
    assert r.rc == 0, r
    assert r.status["checks"] == {"proposals.utm_source": True}


def test_hot_patch_error_in_third_statement_rolls_back_everything(migrated, db, tmp_path):
    f = tmp_path / "bad.sql"
    f.write_text("-- a patch with a typo\n"
                 "CREATE TABLE hp_one (id int);\n"
                 "INSERT INTO hp_one VALUES (1);\n"
                 "\n"
                 "ALTER TABLE proposals\n"
                 "    ADD COLUMN hp_col int DEFAULT nosuchfunction();\n"
                 "CREATE TABLE hp_two (id int);\n")
    r = migrated.run(["sql", str(f)])
    assert r.rc == 70, r
    assert banner_failed("sql") in r.lines, r
    err = [l for l in r.lines if l.startswith("[SENTRY] error: ")]
    assert len(err) == 1 and err[0].startswith("[SENTRY] error: line 5: ALTER TABLE proposals"), r
    assert "nosuchfunction" in err[0], r
    assert BANNER_SUCCESS not in r.lines
    # statements 1 and 2 ran (logged) but were rolled back; 4 never ran
    assert not db.has_table("hp_one")
    assert not db.has_table("hp_two")
    assert not db.has_column("proposals", "hp_col")


@pytest.mark.parametrize("stmt", ["COMMIT", "commit", "BEGIN", "ROLLBACK", "SAVEPOINT s1",
                                  "END", "VACUUM proposals"])
def test_hot_patch_transaction_control_refused(migrated, db, tmp_path, stmt):
    f = tmp_path / "tc.sql"
    f.write_text("CREATE TABLE hp_tc (id int);\n%s;\nCREATE TABLE hp_tc2 (id int);\n" % stmt)
    r = migrated.run(["sql", str(f)])
    assert r.rc == 64, r
    assert any(l.startswith("[SENTRY] error: line 2: ") and "is not allowed" in l
               for l in r.lines), r
    assert not db.has_table("hp_tc") and not db.has_table("hp_tc2")


@pytest.mark.parametrize("kind", ["missing", "directory", "binary", "unterminated", "empty"])
def test_hot_patch_unreadable_file(migrated, tmp_path, kind):
    f = tmp_path / ("f_" + kind)
    if kind == "directory":
        f.mkdir()
    elif kind == "binary":
        f.write_bytes(b"SELECT 1;\0\x01\x02")
    elif kind == "unterminated":
        f.write_text("SELECT 1;\nSELECT 'never closed;\n")
    elif kind == "empty":
        f.write_text("-- nothing but a comment\n")
    r = migrated.run(["sql", str(f)])
    assert r.rc == 64, r
    assert banner_failed("sql") in r.lines, r
    assert any(l.startswith("[SENTRY] error: ") for l in r.lines), r


def test_hot_patch_needs_a_file(migrated):
    r = migrated.run(["sql"])
    assert r.rc == 64, r
    assert "[SENTRY] error: sql needs a FILE to run" in r.lines, r


@pytest.mark.parametrize("form", ["url", "keyword", "query"])
def test_hot_patch_never_prints_the_password(migrated, db, tmp_path, form):
    """The password in URL userinfo, a password= keyword, or a query
    parameter: never on stdout/stderr, even when the SQL error quotes it."""
    pw = db.password
    url = {"url": db.url,
           "keyword": "host=127.0.0.1 port=%d dbname=%s user=sentry password=%s"
                      % (db.port, db.name, pw),
           "query": "postgresql://sentry@127.0.0.1:%d/%s?password=%s" % (db.port, db.name, pw),
           }[form]
    f = tmp_path / "leak.sql"
    f.write_text("SELECT 1;\nSELECT '%s'::int;\n" % pw)
    r = migrated.run(["sql", str(f)], env={"DATABASE_URL": url}, secrets=[pw])
    assert r.rc == 70, r
    assert "******" in r.stderr, r  # masked, not dropped
    ok = migrated.run(["sql", str(HOT_PATCH)], env={"DATABASE_URL": url}, secrets=[pw])
    assert ok.rc == 0, ok


def test_hot_patch_server_notice_is_masked(migrated, db, tmp_path):
    """A NOTICE the server sends while the file runs (here: one that quotes
    the password) goes to the log like everything else: redacted."""
    pw = db.password
    f = tmp_path / "notice.sql"
    f.write_text("DO $$ BEGIN RAISE NOTICE 'connected with %s'; END $$;\n" % pw)
    r = migrated.run(["sql", str(f)], secrets=[pw])
    assert r.rc == 0, r


def test_hot_patch_wrong_password_is_77_and_masked(migrated, db):
    bad = "Wq0Zk-" + db.password[::-1]
    r = migrated.run(["sql", str(HOT_PATCH)], env={"DATABASE_URL": db.url_with(password=bad)},
                     secrets=[bad])
    assert r.rc == 77, r
    assert banner_failed("connect") in r.lines, r
    assert not db.has_column("proposals", "utm_source")


# ---------------------------------------------------------------- YAML files

def mentions_sentry(s):
    return isinstance(s, str) and "migration-sentry" in s


def to_tokens(node):
    if isinstance(node, str):
        return shlex.split(node)
    return [str(x) for x in node]


def sentry_flags(tokens):
    """The options given to migration-sentry in TOKENS (a command line in
    which some token is the binary), without the subcommand and what follows
    `--`. Returns (flags, subcommand or None)."""
    i = next(k for k, t in enumerate(tokens) if mentions_sentry(t))
    flags, sub = [], None
    rest = tokens[i + 1:]
    k = 0
    while k < len(rest):
        t = rest[k]
        if t == "--" or t in SHELL_OPS:
            break
        if t in SUBCOMMANDS and sub is None:
            sub = t
        elif t == "sql":
            sub = t
            k += 1  # its FILE
        else:
            flags.append(t)
        k += 1
    return flags, sub


def walk(node, path=(), ancestors=()):
    """Yields (path, node, ancestors) for every node; ancestors are the
    enclosing mappings/lists, innermost last."""
    yield path, node, ancestors
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, path + (k,), ancestors + (node,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,), ancestors + (node,))


def invocations(doc):
    """(where, tokens, holder) for every migration-sentry invocation in DOC.
    A list mentioning it is one invocation (its items are not looked at
    again); a Kubernetes `command` is joined with the `args` beside it and a
    compose `entrypoint` with its `command`."""
    found = []
    taken = set()
    for path, node, anc in walk(doc):
        if any(id(a) in taken for a in anc):
            continue
        if isinstance(node, list) and any(mentions_sentry(x) for x in node):
            taken.add(id(node))
            tokens = to_tokens(node)
            holder = anc[-1] if anc else None
            if isinstance(holder, dict) and path[-1] == "command" and "args" in holder:
                tokens += to_tokens(holder["args"])
            elif isinstance(holder, dict) and path[-1] == "entrypoint" and "command" in holder:
                tokens += to_tokens(holder["command"])
            found.append((path, compose_test(tokens), anc))
        elif mentions_sentry(node) and not names_something(path) and not (
                anc and isinstance(anc[-1], list) and id(anc[-1]) in taken):
            found.append((path, compose_test(shlex.split(node)), anc))
    return found


def names_something(path):
    """A ConfigMap, env group or label called migration-sentry is a name,
    not a command."""
    return any(isinstance(k, str) and k in NAME_KEYS for k in path[-1:]) or \
        any(k in ("metadata", "labels", "matchLabels") for k in path)


def compose_test(tokens):
    """A compose healthcheck test: ["CMD", prog, ...] or "CMD-SHELL line"."""
    if tokens and tokens[0] == "CMD":
        return tokens[1:]
    if tokens and tokens[0] == "CMD-SHELL":
        return shlex.split(" ".join(tokens[1:]))
    return tokens


def dummy_for(name):
    return DUMMY_URL if "URL" in name.upper() else "dummy-" + name.lower()


def env_of(holder, docs):
    """Environment variables a compose service / k8s container / Render
    service mapping sets, resolved within the file's documents."""
    env = {}
    # compose: environment as a mapping or a list of NAME=VALUE
    e = holder.get("environment")
    if isinstance(e, dict):
        env.update({k: "" if v is None else str(v) for k, v in e.items()})
    elif isinstance(e, list):
        for item in e:
            k, _, v = str(item).partition("=")
            env[k] = v
    # kubernetes: envFrom ConfigMap/Secret, then env (which wins)
    for src in holder.get("envFrom") or []:
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key in src:
                name = src[key]["name"]
                objs = [d for d in docs if isinstance(d, dict) and d.get("kind") == kind
                        and d.get("metadata", {}).get("name") == name]
                if kind == "ConfigMap":
                    assert objs, "envFrom names ConfigMap %r, which the file does not define" % name
                for o in objs:
                    for k, v in (o.get("data") or {}).items():
                        env[k] = str(v)
                    for k in (o.get("stringData") or {}):
                        env[k] = dummy_for(k)
    for item in holder.get("env") or []:
        if isinstance(item, dict) and "name" in item:
            env[item["name"]] = str(item["value"]) if "value" in item else dummy_for(item["name"])
    # render: envVars with value, fromDatabase/fromService/generateValue/sync, fromGroup
    groups = {}
    for d in docs:
        if isinstance(d, dict):
            for g in d.get("envVarGroups") or []:
                groups[g["name"]] = g.get("envVars") or []
    for item in holder.get("envVars") or []:
        if "fromGroup" in item:
            assert item["fromGroup"] in groups, "unknown envVarGroup %r" % item["fromGroup"]
            for gi in groups[item["fromGroup"]]:
                env[gi["key"]] = str(gi["value"]) if "value" in gi else dummy_for(gi["key"])
        elif "key" in item:
            env[item["key"]] = str(item["value"]) if "value" in item else dummy_for(item["key"])
    return env


def invocation_env(anc, docs):
    """The environment for an invocation: every enclosing mapping's, the
    innermost winning."""
    env = {}
    for holder in anc:
        if isinstance(holder, dict):
            env.update(env_of(holder, docs))
    return env


def known_settings(sentry_bin):
    out = subprocess.run([str(sentry_bin), "config"], env={"PATH": "/usr/bin:/bin"},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True).stdout
    names = {l.split("=", 1)[0] for l in out.splitlines() if "=" in l}
    assert "SENTRY_REQUIRE_COLUMNS" in names and "DATABASE_URL" in names, out
    return names


@pytest.mark.parametrize("relpath", sorted(YAML_FILES))
def test_yaml_invocations_pass_config(sentry_bin, tmp_path, relpath):
    docs = [d for d in yaml.safe_load_all((REPO / relpath).read_text()) if d is not None]
    found = []
    for n, doc in enumerate(docs):
        name = doc.get("metadata", {}).get("name") if isinstance(doc, dict) else None
        found += [(("doc%d%s" % (n, ":" + name if name else ""),) + p, t, a)
                  for p, t, a in invocations(doc)]
    assert len(found) >= YAML_FILES[relpath], \
        "%s: only %d migration-sentry invocations found: %r" % (relpath, len(found), found)
    known = known_settings(sentry_bin)
    checked = []
    for path, tokens, anc in found:
        flags, sub = sentry_flags(tokens)
        fenv = invocation_env(anc, docs)
        assert fenv, "%s %r: no environment found for it" % (relpath, path)
        for k in fenv:
            if k.startswith("SENTRY_"):
                assert k in known, "%s sets %s, which migration-sentry does not know" % (relpath, k)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        env.update(fenv)
        # the secret is never in the file: dummy it when the file refers to it
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = DUMMY_URL
        p = subprocess.run([str(sentry_bin)] + flags + ["config"], env=env, cwd=str(tmp_path),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        where = "%s %s: migration-sentry %s config" % (relpath, "/".join(map(str, path)),
                                                       " ".join(flags))
        assert p.returncode == 0, "%s -> %d\n%s%s" % (where, p.returncode, p.stdout, p.stderr)
        shown = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
        for k, v in fenv.items():
            if k.startswith("SENTRY_") and v != "" and not any(
                    f.startswith("--") for f in flags):
                assert shown[k].endswith("(environment)"), (where, k, shown[k])
        if sub == "check":
            # a probe must not wait for the database longer than a probe lasts
            wait = shown["SENTRY_DB_WAIT"].split()
            assert int(wait[0]) <= 10 or wait[1] == "(default)", (where, shown["SENTRY_DB_WAIT"])
        for secret in ("demo-Pa55word", "dummy-Pa55word"):
            # the kit's own passwords hold words ("demo", "word"): whole, and
            # by the pieces of their one distinctive part
            assert_no_secret(p.stdout + p.stderr, [secret], where, pieces=False)
        assert_no_secret(p.stdout + p.stderr, ["-Pa55w"], where)
        checked.append((where, sub))
    # every file gates something and checks something
    assert any(sub is None for _, sub in checked), checked
    if relpath != "render.yaml.example":  # Render's health check is an HTTP path
        assert any(sub == "check" for _, sub in checked), checked


def test_yaml_walk_is_not_vacuous():
    """The walker itself, on a made-up document of every shape it knows."""
    doc = yaml.safe_load("""
a:
  entrypoint: ["/usr/local/bin/migration-sentry", "--lock-wait=5", "--"]
  command: ["gunicorn", "app:app"]
  healthcheck: {test: ["CMD", "/usr/local/bin/migration-sentry", "check"]}
  other: {test: "CMD-SHELL migration-sentry --db-wait=3 check || exit 1"}
b:
  - command: ["migration-sentry"]
    args: ["--no-migrate", "--", "celery"]
  - startCommand: ./bin/migration-sentry --grace 3 -- gunicorn x
""")
    got = sorted((tuple(sentry_flags(t)[0]), sentry_flags(t)[1]) for _, t, _ in invocations(doc))
    assert got == sorted([(("--lock-wait=5",), None), ((), "check"), (("--db-wait=3",), "check"),
                          (("--no-migrate",), None), (("--grace", "3"), None)]), got


def dockerfile_invocations(text):
    """(stage, instruction, tokens, env) for every exec-form ENTRYPOINT, CMD
    or HEALTHCHECK CMD that mentions migration-sentry; env is what the
    stage's ENV lines set."""
    import json
    import re
    lines = re.sub(r"\\\n", " ", text).splitlines()
    out, env, stage = [], {}, None
    for l in lines:
        l = l.strip()
        m = re.match(r"(?i)^FROM\s+\S+(?:\s+AS\s+(\S+))?", l)
        if m:
            stage, env = m.group(1) or "(last)", {}
            continue
        m = re.match(r"(?i)^ENV\s+(.*)$", l)
        if m:
            for tok in shlex.split(m.group(1)):
                k, _, v = tok.partition("=")
                env[k] = v
            continue
        m = re.match(r"(?i)^(ENTRYPOINT|CMD|HEALTHCHECK\b.*?\bCMD)\s+(\[.*\])\s*$", l)
        if m and "migration-sentry" in m.group(2):
            out.append((stage, m.group(1).split()[0].upper(), json.loads(m.group(2)), dict(env)))
    return out


def test_dockerfile_invocations_pass_config(sentry_bin, tmp_path):
    found = dockerfile_invocations((REPO / "docker" / "Dockerfile").read_text())
    # demo-app: ENTRYPOINT + HEALTHCHECK; the scratch stage: ENTRYPOINT
    assert len(found) >= 3, found
    for stage, instr, tokens, denv in found:
        flags, sub = sentry_flags(tokens)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATABASE_URL": DUMMY_URL,
               "FLASK_APP": "app.py"}
        env.update(denv)
        p = subprocess.run([str(sentry_bin)] + flags + ["config"], env=env, cwd=str(tmp_path),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        assert p.returncode == 0, (stage, instr, tokens, p.stdout, p.stderr)
