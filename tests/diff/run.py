"""Differential test: the sentry's reader of Alembic projects against Alembic.

    /usr/bin/python3 tests/diff/run.py --trees N [--seed S] [--judge build/diff/judge]
                                       [--binary build/migration-sentry] [--binary-every K]

Each project comes from gen.py (random, valid or not). The sentry's side is
build/diff/judge (its finder, reader and verdict, linked as the binary links
them) and, every K-th project, `migration-sentry heads` itself. Alembic's
side is Debian's python3-alembic, called the way its commands call it:

  - heads: ScriptDirectory.get_heads() (what `alembic heads` prints), with
    the ScriptDirectory built as Flask-Migrate builds it (Config of
    migrations/alembic.ini, script_location set to migrations), as the
    `alembic` command builds it (Config of alembic.ini), or from
    version_locations (SENTRY_MIGRATIONS_DIR);
  - the files: the paths of the scripts _load_revisions() yields;
  - up to date: ScriptDirectory._upgrade_revs("heads", rows), the call
    `alembic upgrade heads` makes with the database's rows: no step means
    nothing to do; "overlaps with other requested revisions" is Alembic's
    refusal of rows of which one is an ancestor of another;
  - the stamp: MigrationContext.stamp(script, "heads") on an empty version
    table in an in-memory SQLite database (what `stamp --purge heads` does
    after deleting the rows), and the rows it leaves.

The property, for every project and row set: the sentry is right or says
unknown, never wrong. A wrong answer is kept under build/diff/wrong/ and
fails the run. The figures printed at the end: projects, files, the share
the sentry left unknown, and the verdicts checked.
"""

import argparse
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

sys.dont_write_bytecode = True
warnings.simplefilter("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gen  # noqa: E402

from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import HeadMaintainer, MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Alembic:
    """What Alembic makes of one project; error is set when it refuses it."""

    def __init__(self, p):
        self.error = None
        self.files = self.heads = self.stamp = None
        cwd = os.getcwd()
        os.chdir(p.root)
        try:
            self.script = self._script(p)
            self.heads = sorted(self.script.get_heads())
            loaded = self.script.revision_map._revision_map.values()
            self.files = sorted({os.path.realpath(s.path) for s in loaded if s is not None})
            self.stamp = self._stamp()
        except Exception as e:  # Alembic refuses the tree: the sentry must not know it
            self.error = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        finally:
            os.chdir(cwd)

    @staticmethod
    def _script(p):
        kind, arg = p.alembic
        if kind == "dirs":
            return ScriptDirectory(p.root, version_locations=[os.path.join(p.root, d) for d in arg])
        cfg = Config(arg)
        if kind == "flask":
            cfg.set_main_option("script_location", "migrations")
        return ScriptDirectory.from_config(cfg)

    def _stamp(self):
        """The rows `stamp --purge heads` leaves: MigrationContext.run_migrations
        with purge starts from no rows, and its HeadMaintainer applies
        _stamp_revs(("heads",), ()) step by step (offline here: the same
        steps, the SQL written to a buffer instead of a database)."""
        ctx = MigrationContext.configure(dialect_name="sqlite",
                                         opts={"as_sql": True, "output_buffer": io.StringIO()})
        maintainer = HeadMaintainer(ctx, ())
        for step in self.script._stamp_revs(("heads",), ()):
            maintainer.update_to_step(step)
        return sorted(maintainer.heads)

    def stamp_in_sqlite(self):
        """The same stamp on a real (in-memory SQLite) version table."""
        engine = create_engine("sqlite://")
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn)
            ctx._ensure_version_table(purge=True)
            ctx.stamp(self.script, "heads")
            rows = sorted(r[0] for r in conn.execute(ctx._version.select()))
        engine.dispose()
        return rows

    def upgrade(self, rows):
        """UP (nothing to do), STEPS, OVERLAP, or ERROR."""
        try:
            steps = self.script._upgrade_revs("heads", tuple(rows))
        except Exception as e:
            return "OVERLAP" if "overlaps with other requested revisions" in str(e) else "ERROR"
        return "STEPS" if steps else "UP"


class Judge:
    def __init__(self, path):
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     universal_newlines=True, bufsize=1)

    def ask(self, p, rowsets):
        sets = "|".join(",".join(rows) for rows in rowsets)
        self.proc.stdin.write("%s\t%s\t%s\t%s\n" % (p.root, p.mode, p.arg, sets))
        self.proc.stdin.flush()
        out = {"files": None, "heads": None, "stamp": None, "why": None, "verdicts": []}
        for line in self.proc.stdout:
            f = line.rstrip("\n").split("\t")
            if f[0] == "END":
                return out
            if f[0] == "FILES":
                out["files"] = sorted(os.path.realpath(os.path.join(p.root, x)) for x in f[1:] if x)
            elif f[0] == "HEADS":
                out["heads"] = [x for x in f[1].split(",") if x]
            elif f[0] == "STAMP":
                out["stamp"] = [x for x in f[1].split(",") if x]
            elif f[0] == "UNKNOWN":
                out["why"] = f[1]
            elif f[0] == "V":
                out["verdicts"].append(f[1:])
            else:
                raise RuntimeError("judge: %r" % line)
        raise RuntimeError("judge died")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def binary_heads(binary, p):
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    if p.mode == "dirs":
        env["SENTRY_MIGRATIONS_DIR"] = p.arg
    elif p.mode == "ini":
        env["SENTRY_ALEMBIC_CONFIG"] = p.arg
    r = subprocess.run([binary, "heads"], cwd=p.root, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    return r.returncode, r.stdout.split()


class Tally:
    def __init__(self):
        self.projects = self.files = self.unknown = self.refused = 0
        self.unknown_valid = self.valid = 0
        self.plain = self.unknown_plain = 0   # projects without a trick meant to be unknown
        self.verdicts = {}
        self.wrong = []
        self.binary_runs = 0
        self.reasons = {}

    def verdict(self, ours, theirs):
        key = (ours, theirs)
        self.verdicts[key] = self.verdicts.get(key, 0) + 1


def compare(p, a, j, t, keep_dir, binary, run_binary):
    """The property for one project; appends what is wrong to t.wrong."""
    wrong = []
    known = j["heads"] is not None
    if a.error is None:
        t.valid += 1
        t.plain += p.intent == "valid"
    if not known:
        t.unknown += 1
        if a.error is None:
            t.unknown_valid += 1
            t.unknown_plain += p.intent == "valid"
            reason = re.sub(r"^(\S*: )?(line \d+: )?", "", j["why"] or "?")
            reason = re.sub(r"'[^']*'|\b[0-9a-f_]{4,}\b|\S*/\S*", "X", reason)[:70]
            t.reasons[reason] = t.reasons.get(reason, 0) + 1
    elif a.error is not None:
        wrong.append("sentry knows heads %s where Alembic refuses the tree (%s)" % (j["heads"], a.error))
    else:
        if j["heads"] != a.heads:
            wrong.append("heads %s, Alembic %s" % (j["heads"], a.heads))
        if j["stamp"] != a.stamp:
            wrong.append("stamp rows %s, Alembic's stamp --purge heads %s" % (j["stamp"], a.stamp))
        if j["files"] is not None and j["files"] != a.files:
            wrong.append("files %s, Alembic %s" % (j["files"], a.files))
    if a.error is not None:
        t.refused += 1
    if known and a.error is None:
        for rows, v in zip(p.resolved_rowsets, j["verdicts"]):
            theirs = a.upgrade(rows)
            ours = v[0]
            t.verdict(ours, theirs)
            expected = {"UP": ("UP",), "PENDING": ("STEPS",), "OVERLAP": ("OVERLAP",),
                        "UNKROWS": ("ERROR",), "UNJUDGED": ("UP", "STEPS", "OVERLAP", "ERROR")}[ours]
            if theirs not in expected:
                wrong.append("rows %s: sentry %s, Alembic %s" % (rows, " ".join(v), theirs))
    if run_binary and a.error is None and a.stamp_in_sqlite() != a.stamp:
        wrong.append("the offline stamp %s differs from the one in SQLite %s" % (a.stamp, a.stamp_in_sqlite()))
    if run_binary:
        t.binary_runs += 1
        rc, out = binary_heads(binary, p)
        if known and (rc != 0 or out != j["heads"]):
            wrong.append("migration-sentry heads: rc %d, %s; judge %s" % (rc, out, j["heads"]))
        if not known and rc != 65:
            wrong.append("migration-sentry heads: rc %d where the judge says unknown" % rc)
    if wrong:
        dest = os.path.join(keep_dir, os.path.basename(p.root))
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(p.root, dest, symlinks=True)
        t.wrong.append((dest, p.mode, p.arg, wrong))


def resolve_rows(rowset, stamp):
    """A row set with HEADS standing for the rows Alembic's stamp writes."""
    rows = []
    for r in rowset:
        rows.extend(stamp if r == "HEADS" else [r])
    return sorted(set(rows))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trees", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--judge", default=os.path.join(REPO, "build/diff/judge"))
    ap.add_argument("--binary", default=os.path.join(REPO, "build/migration-sentry"))
    ap.add_argument("--binary-every", type=int, default=25)
    ap.add_argument("--keep", default=os.path.join(REPO, "build/diff/wrong"))
    args = ap.parse_args()

    t0 = time.monotonic()
    judge = Judge(args.judge)
    t = Tally()
    base = tempfile.mkdtemp(prefix="sentry-diff-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        for i in range(args.trees):
            rng = random.Random(args.seed * 1000003 + i)
            root = os.path.join(base, "p%d_%d" % (args.seed, i))
            os.makedirs(root)
            p = gen.gen_project(rng, root)
            a = Alembic(p)
            p.resolved_rowsets = [resolve_rows(rs, a.stamp or []) for rs in p.rowsets]
            j = judge.ask(p, p.resolved_rowsets)
            t.projects += 1
            t.files += p.files
            compare(p, a, j, t, args.keep, args.binary, args.binary_every and i % args.binary_every == 0)
            shutil.rmtree(root)
    finally:
        judge.close()
        shutil.rmtree(base, ignore_errors=True)
    report(t, time.monotonic() - t0, args)
    return 1 if t.wrong else 0


def report(t, secs, args):
    valid = t.valid
    print("heads-diff: seed %d: %d projects, %d script files, in %.1fs" % (args.seed, t.projects, t.files, secs))
    print("  Alembic refused %d projects; the sentry said unknown for all of them: %s"
          % (t.refused, "yes" if not any("Alembic refuses" in w for _, _, _, ws in t.wrong for w in ws) else "NO"))
    print("  of the %d projects Alembic reads: %d unknown to the sentry (%.1f%%), %d known and checked"
          % (valid, t.unknown_valid, 100.0 * t.unknown_valid / max(valid, 1), valid - t.unknown_valid))
    print("  of the %d without a trick meant to hide a value: %d unknown (%.1f%%)"
          % (t.plain, t.unknown_plain, 100.0 * t.unknown_plain / max(t.plain, 1)))
    for reason, n in sorted(t.reasons.items(), key=lambda kv: -kv[1])[:8]:
        print("      %5d  %s" % (n, reason))
    checked = sum(t.verdicts.values())
    print("  %d up-to-date verdicts checked against `upgrade heads`:" % checked)
    for (ours, theirs), n in sorted(t.verdicts.items()):
        print("      %6d  sentry %-9s Alembic %s" % (n, ours, theirs))
    print("  migration-sentry heads run on %d projects" % t.binary_runs)
    print("  wrong answers: %d" % len(t.wrong))
    for dest, mode, arg, ws in t.wrong[:10]:
        print("    %s (%s %s):" % (dest, mode, arg))
        for w in ws[:5]:
            print("      " + w)


if __name__ == "__main__":
    sys.exit(main())
