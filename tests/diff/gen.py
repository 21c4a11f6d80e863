"""Random but valid Alembic projects for the differential test (run.py).

gen_project(rng, root) writes one project under root and returns a Project:
a random revision graph (bases, chains, branches, merges, depends_on on ids
and on branch labels, branch labels, computed labels when nothing names a
label), each revision written in one of the template shapes (Flask-Migrate's
script.py.mako, Alembic 1.8's, the typed one of later Alembic, the multidb
one) with random layout (quote styles, string prefixes, escapes, implicit
concatenation, brackets over lines, backslash continuations, `;`, trailing
comments, tabs, CRLF, a BOM, a coding cookie) and decoys that must not be
read (assignments in docstrings with escaped quotes, comments, strings,
f-strings, function bodies), spread over one or more folders found through
SENTRY_MIGRATIONS_DIR, Flask-Migrate's layout or an alembic.ini
(version_locations and its separators, %(here)s, DEFAULT, continuation
lines). A few projects are meant to be unknown to the reader (an indented
reassignment, a computed id) and a few are broken for Alembic itself (a
dangling reference, a duplicate id, a loop, a clashing label, an id with a
dash): the property holds either way: the reader is right or says unknown.

Everything is drawn from rng alone, so a seed reproduces a project.
"""

import os
import string

HEX = "0123456789abcdef"
WORD = string.ascii_lowercase + string.digits + "_"

# Decoy lines: assignments that a reader must never take for real ones.
DECOYS = [
    "revision = 'decoy0001'",
    'down_revision = "decoy0002"',
    "depends_on = ('decoy0003',)",
    "branch_labels = ['decoy_label']",
    "revision: str = 'decoy0004'",
    "down_revision = None",
]


class Project:
    def __init__(self):
        self.root = None
        self.mode = "dirs"        # dirs | project | ini
        self.arg = ""             # SENTRY_MIGRATIONS_DIR or alembic.ini path
        self.alembic = None       # how run.py builds Alembic's ScriptDirectory
        self.revs = []
        self.files = 0
        self.rowsets = []
        self.intent = "valid"     # valid | unknown (the reader should not know) | broken


# ----------------------------------------------------------------- values

def rev_id(rng, taken):
    while True:
        k = rng.random()
        if k < 0.72:
            r = "".join(rng.choice(HEX) for _ in range(12))
        elif k < 0.84:
            r = "%04d_%s" % (rng.randint(1, 9999), rng.choice(["init", "add_col", "merge", "x"]))
        elif k < 0.96:
            r = "".join(rng.choice(WORD) for _ in range(rng.randint(1, 8)))
        else:
            r = rng.choice(["a", "ab", "abc", "abcd", "base1", "head1", "rev"]) + str(rng.randint(0, 99))
        if r not in taken and r not in ("head", "heads", "base"):
            taken.add(r)
            return r


def esc_char(rng, c):
    k = rng.random()
    if k < 0.4:
        return "\\x%02x" % ord(c)
    if k < 0.6:
        return "\\u%04x" % ord(c)
    if k < 0.8:
        return "\\%03o" % ord(c)
    return "\\U%08x" % ord(c)


def one_literal(rng, s, allow_raw=True):
    """One string literal token spelling s."""
    q = rng.choice([c for c in "'\"" if c not in s] or ["'"])
    prefixes = ["", "", "", "u", "U", "f", "F"] + (["r", "R", "rf", "fR"] if allow_raw else [])
    prefix = rng.choice(prefixes)
    raw = "r" in prefix.lower()
    pieces = [esc_char(rng, c) if not raw and rng.random() < 0.08 else c for c in s]
    if not raw and rng.random() < 0.03 and len(pieces) > 1:
        pieces.insert(rng.randint(1, len(pieces) - 1), "\\\n")  # a backslash-newline joins
    body = "".join(pieces)
    if rng.random() < 0.06:
        q = q * 3
    return prefix + q + body + q


def string_expr(rng, s):
    """A str expression with value s: one literal, or adjacent ones."""
    if len(s) > 1 and rng.random() < 0.15:
        cut = rng.randint(1, len(s) - 1)
        parts = [one_literal(rng, s[:cut]), one_literal(rng, s[cut:])]
        sep = rng.choice([" ", "", "  ", "\n    "])
        if "\n" in sep:
            return "(" + parts[0] + sep + parts[1] + ")"
        return parts[0] + sep + parts[1]
    lit = one_literal(rng, s)
    if rng.random() < 0.05:
        return "(" + lit + ")"
    return lit


def seq_expr(rng, items, kind=None):
    kind = kind or rng.choice(["tuple", "tuple", "list", "bare"])
    if kind == "bare" and not items:
        kind = "tuple"
    parts = [string_expr(rng, i) for i in items]
    if kind == "bare":
        return ", ".join(parts) + ("," if len(parts) == 1 or rng.random() < 0.2 else "")
    o, c = ("(", ")") if kind == "tuple" else ("[", "]")
    if len(parts) == 1 and kind == "tuple":
        return o + parts[0] + "," + c
    if rng.random() < 0.3:
        inner = "".join("\n    %s,%s" % (p, rng.choice(["", "  # " + rng.choice(DECOYS)])) for p in parts)
        return o + inner + "\n" + c
    trailing = "," if parts and rng.random() < 0.2 else ""
    return o + ", ".join(parts) + trailing + c


def value_expr(rng, v, empty_ok):
    """v: None, a str or a list of str, as Alembic takes it."""
    if v is None:
        if empty_ok and rng.random() < 0.15:
            return rng.choice(['""', "''", "()", "[]"])
        return "None"
    if isinstance(v, str):
        if rng.random() < 0.12:
            return seq_expr(rng, [v], rng.choice(["tuple", "list"]))
        return string_expr(rng, v)
    if len(v) == 1 and rng.random() < 0.5:
        return string_expr(rng, v[0])
    return seq_expr(rng, v)


# ----------------------------------------------------------------- scripts

def docstring(rng, rev, down):
    lines = ["Add a thing", "", "Revision ID: %s" % rev, "Revises: %s" % (down or ""),
             "Create Date: 2024-01-0%d 12:00:00.000000" % rng.randint(1, 9), ""]
    for _ in range(rng.randint(0, 3)):
        lines.insert(rng.randint(1, len(lines)), rng.choice(DECOYS))
    q = rng.choice(['"""', "'''"])
    text = "\n".join(lines) + "\n"
    if rng.random() < 0.3:
        # an escaped quote that does not close the docstring, then a decoy
        text += "\n" + ("\\" + q[0]) + q[:2] + " still inside\n" + rng.choice(DECOYS) + "\n"
    if rng.random() < 0.1:
        text += "\nnon-ASCII: déjà vu, ünïcödé ✓\n"
    prefix = rng.choice(["", "", "r", "u"]) if "\\" not in text else rng.choice(["", "u"])
    return prefix + q + text + q + "\n"


def function(rng, name, typed, indent):
    sig = "def %s()%s:\n" % (name, " -> None" if typed else "")
    body = []
    for _ in range(rng.randint(0, 3)):
        k = rng.random()
        if k < 0.25:
            body.append('op.execute("UPDATE t SET c = 1 WHERE %s")' % rng.choice(DECOYS).replace('"', "'"))
        elif k < 0.45:
            body.append("# " + rng.choice(DECOYS))
        elif k < 0.6:
            body.append("sql = f\"SELECT {1 + 1} -- %s\"" % rng.choice(DECOYS).replace('"', "'"))
        elif k < 0.7:
            body.append("text = '''\n%s\n'''" % rng.choice(DECOYS))
        elif k < 0.8:
            body.append("if False:\n%s%sx = 'revision = 1'" % (indent, indent))
        elif k < 0.9:
            body.append("op.add_column('t', sa.Column('revision', sa.String(32)))")
        else:
            body.append("pass")
    body.append("pass")  # a body of comments alone is no body
    out = sig
    for b in body:
        out += "".join(indent + line + "\n" for line in b.split("\n"))
    return out


def assignment(rng, name, expr, typed):
    ann = {"revision": "str", "down_revision": "Union[str, Sequence[str], None]",
           "branch_labels": "Union[str, Sequence[str], None]",
           "depends_on": "Union[str, Sequence[str], None]"}[name]
    target = "%s: %s" % (name, ann) if typed else name
    eq = rng.choice([" = ", " = ", " = ", "=", "  =  ", " =\t"])
    if rng.random() < 0.05:
        eq = " = \\\n    "
    line = target + eq + expr
    if rng.random() < 0.1:
        line += "  # " + rng.choice(DECOYS)
    return line


def script_text(rng, s, shape, unknown_trick):
    """The text of one revision script for s (a dict of its values)."""
    typed = shape == "typed"
    indent = rng.choice(["    ", "    ", "  ", "\t"])
    out = ""
    if rng.random() < 0.05:
        out += "# -*- coding: utf-8 -*-\n"
    out += docstring(rng, s["rev"], s["down_doc"])
    if typed:
        out += "from typing import Sequence, Union\n\n"
    out += "from alembic import op\nimport sqlalchemy as sa\n"
    if rng.random() < 0.2:
        out += "\nTABLE = %s  # %s\n" % (one_literal(rng, "revision = 'decoy'"), rng.choice(DECOYS))
    out += "\n\n# revision identifiers, used by Alembic.\n"
    lines = []
    for name in ("revision", "down_revision", "branch_labels", "depends_on"):
        if name not in s["values"]:
            continue
        lines.append(assignment(rng, name, s["values"][name], typed))
    if rng.random() < 0.05:
        # an earlier module-level assignment that a later one overrides
        lines.insert(0, "down_revision = 'overridden0'")
    if rng.random() < 0.1 and len(lines) >= 2:
        i = rng.randint(0, len(lines) - 2)
        if "\\\n" not in lines[i] and "#" not in lines[i]:
            lines[i:i + 2] = [lines[i] + rng.choice(["; ", ";"]) + lines[i + 1]]
    out += "\n".join(lines) + "\n"
    if unknown_trick:
        out += unknown_trick(indent) + "\n"
    out += "\n\n"
    if shape == "multidb":
        out += "def upgrade(engine_name):\n%sglobals()[\"upgrade_%%s\" %% engine_name]()\n\n\n" % indent
        out += "def downgrade(engine_name):\n%sglobals()[\"downgrade_%%s\" %% engine_name]()\n\n\n" % indent
        out += function(rng, "upgrade_", False, indent) + "\n\n" + function(rng, "downgrade_", False, indent)
    else:
        out += function(rng, "upgrade", typed, indent) + "\n\n" + function(rng, "downgrade", typed, indent)
    if rng.random() < 0.05:
        out = out.replace("\n", "\r\n")
    if rng.random() < 0.03:
        out = "\ufeff" + out
    if rng.random() < 0.05:
        out += "\f\n# a form feed above\n"
    return out


# Tricks after which the reader must say unknown (Alembic still reads them).
def tricks(rng, s, others):
    other = rng.choice(others) if others else s["rev"]
    return rng.choice([
        lambda ind: "if True:\n%sdown_revision = %r" % (ind, s["down_alembic"] if s["down_alembic"] else None),
        lambda ind: "def helper():\n%srevision = 'local_only'" % ind,
        lambda ind: "for depends_on in [None]:\n%spass" % ind,
        lambda ind: "(branch_labels := None)",
        lambda ind: "revision = %r + ''" % s["rev"],
        lambda ind: "class M:\n%srevision = 'x'" % ind,
        lambda ind: "if 0: revision = %r" % other,
    ])


# ----------------------------------------------------------------- graphs

def gen_graph(rng, p):
    n = rng.randint(1, 12)
    taken = set()
    revs = []
    for i in range(n):
        r = {"rev": rev_id(rng, taken), "down": [], "deps": [], "labels": [], "computed_labels": False}
        if i > 0 and rng.random() > 0.08:
            k = 1 if i == 1 or rng.random() < 0.85 else rng.randint(2, min(3, i))
            r["down"] = rng.sample([x["rev"] for x in revs], min(k, i))
        revs.append(r)
    label_no = 0
    for r in revs:
        if rng.random() < 0.12:
            label_no += 1
            r["labels"] = ["lbl_%d" % label_no] + (["lbl_%db" % label_no] if rng.random() < 0.2 else [])
    # depends_on: on earlier revisions (by id or by label), never a loop
    label_refs = False
    for i, r in enumerate(revs):
        if i > 0 and rng.random() < 0.18:
            for t in rng.sample(revs[:i], min(i, rng.randint(1, 2))):
                if t["labels"] and rng.random() < 0.4:
                    r["deps"].append(rng.choice(t["labels"]))
                    label_refs = True
                elif t["rev"] not in r["deps"]:
                    r["deps"].append(t["rev"])
    if not label_refs and rng.random() < 0.3:
        for r in revs:
            if r["labels"]:
                r["computed_labels"] = True
    return revs


def break_graph(rng, revs):
    """One change after which Alembic refuses the tree."""
    r = rng.choice(revs)
    k = rng.randrange(8)
    if k == 0:
        r["down"] = r["down"] + ["nowhere000"]
    elif k == 1 and len(revs) > 1:
        other = rng.choice([x for x in revs if x is not r])
        other["rev_override"] = r["rev"]           # a duplicate id
    elif k == 2:
        r["down"] = r["down"] + [r["rev"]]         # revises itself
    elif k == 3:
        r["rev_override"] = r["rev"][:1] + "-" + r["rev"][1:]
    elif k == 4 and len(revs) > 1:
        a, b = rng.sample(revs, 2)                 # a loop through depends_on
        a["deps"] = a["deps"] + [b["rev"]]
        b["deps"] = b["deps"] + [a["rev"]]
    elif k == 5 and len(revs) > 1:
        a, b = rng.sample(revs, 2)                 # a label used twice
        a["labels"] = ["twice"]
        b["labels"] = ["twice"]
        a["computed_labels"] = b["computed_labels"] = False
    elif k == 6:
        base = [x for x in revs if not x["down"]]
        rng.choice(base)["deps_empty"] = True      # depends_on '' on a base
    else:
        r["labels"] = [rng.choice(revs)["rev"]]    # a label equal to an id
        r["computed_labels"] = False


def values_of(rng, r, revs):
    rev = r.get("rev_override", r["rev"])
    down = r["down"]
    down_v = None if not down else (down[0] if len(down) == 1 else list(down))
    vals = {"revision": string_expr(rng, rev)}
    if down_v is None:
        vals["down_revision"] = value_expr(rng, None, True)
    else:
        vals["down_revision"] = value_expr(rng, down_v, False)
    if r["labels"]:
        if r["computed_labels"]:
            lab = r["labels"][0]
            vals["branch_labels"] = rng.choice([
                "(%r + %r,)" % (lab[:2], lab[2:]),
                "tuple([%r])" % lab,
                "(%r,)[0:1]" % lab,
            ])
        else:
            v = r["labels"][0] if len(r["labels"]) == 1 and rng.random() < 0.5 else list(r["labels"])
            vals["branch_labels"] = value_expr(rng, v, False)
    elif rng.random() < 0.9:
        vals["branch_labels"] = "None"
    if r.get("deps_empty"):
        vals["depends_on"] = rng.choice(['""', "''", "('',)"])
    elif r["deps"]:
        d = r["deps"][0] if len(r["deps"]) == 1 and rng.random() < 0.5 else list(r["deps"])
        vals["depends_on"] = value_expr(rng, d, False)
    elif rng.random() < 0.9:
        vals["depends_on"] = "None" if (not down or rng.random() < 0.9) else rng.choice(['""', "''"])
    return {"rev": rev, "down_doc": ", ".join(down), "values": vals, "down_alembic": down_v}


# ----------------------------------------------------------------- layouts

def write(path, text, rng=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def junk_files(rng, folder):
    k = rng.random()
    if k < 0.05:
        write(os.path.join(folder, "__init__.py"), "revision = 'not_a_script'\n")
    elif k < 0.08:
        write(os.path.join(folder, ".#lock.py"), "junk")
    elif k < 0.12:
        write(os.path.join(folder, "README"), "revision = 'nope'\n")
    elif k < 0.15:
        write(os.path.join(folder, "__pycache__", "x.cpython-311.pyc"), "junk")
    elif k < 0.17:
        write(os.path.join(folder, "notes.py.txt"), "revision = 'nope'\n")


def ini_text(rng, script_location, locs, here_dir, flask):
    """An alembic.ini naming locs (paths relative to the working directory,
    or under %(here)s) in one of the ways Alembic 1.8.1 splits."""
    def spell(p):
        if here_dir == "." and rng.random() < 0.6:
            return "%(here)s/" + p
        if here_dir is not None and p.startswith(here_dir + "/") and rng.random() < 0.6:
            return "%(here)s/" + p[len(here_dir) + 1:]
        return p
    sep_kind = rng.choice(["legacy-space", "legacy-comma", "os", ":", ";", "space", None])
    lines = ["# A generic, single database configuration.", ""]
    default = rng.random() < 0.15
    if default:
        lines += ["[DEFAULT]", "root_dir = %s" % (here_dir or "."), ""]
    lines += ["[alembic]"]
    if not flask or rng.random() < 0.3:
        lines.append("script_location = %s" % script_location)
    lines.append("# template used to generate migration files")
    lines.append("# file_template = %%(rev)s_%%(slug)s")
    if locs is not None:
        spelled = [spell(p) for p in locs]
        if sep_kind == "legacy-space":
            val = " ".join(spelled)
        elif sep_kind == "legacy-comma":
            val = rng.choice([", ", ","]).join(spelled)
        elif sep_kind in ("os", ":"):
            val = ":".join(spelled)
        elif sep_kind == ";":
            val = ";".join(spelled)
        elif sep_kind == "space":
            val = " ".join(spelled)
        else:
            val = " ".join(spelled)
        if rng.random() < 0.1 and " " in val and sep_kind in ("legacy-space", "space", None):
            val = val.replace(" ", "\n    ", 1)
            if sep_kind != "legacy-space":
                sep_kind = None
            # legacy splitting keeps a newline inside one location: it is
            # then a path that does not exist, which Alembic skips
        if rng.random() < 0.3:
            lines.append("version_locations: %s" % val)
        else:
            lines.append("version_locations = %s" % val)
        if sep_kind in ("os", ":", ";", "space"):
            lines.append("version_path_separator = %s" % sep_kind)
    lines += ["", "sqlalchemy.url = driver://user:pass@localhost/dbname", "",
              "[loggers]", "keys = root", "", "[logger_root]", "level = WARN", "handlers =",
              "qualname =", ""]
    text = "\n".join(lines)
    if rng.random() < 0.05:
        text = text.replace("\n", "\r\n")
    return text


def gen_project(rng, root):
    p = Project()
    p.root = root
    revs = gen_graph(rng, p)
    kind = rng.random()
    if kind < 0.03:
        break_graph(rng, revs)
        p.intent = "broken"
    shapes = ["flask", "alembic", "typed", "multidb"]
    shape_weights = [0.45, 0.2, 0.3, 0.05]
    layout = rng.random()
    if layout < 0.35:
        mode, folders = "project-flask", ["migrations/versions"]
        if rng.random() < 0.25:
            folders = ["migrations/versions", "migrations/extra"]
    elif layout < 0.7:
        mode, folders = "ini", ["alembic/versions"]
        if rng.random() < 0.5:
            folders = ["alembic/versions", "alembic/other"] + (["more/v3"] if rng.random() < 0.3 else [])
    else:
        mode = "dirs"
        folders = ["v1"] if rng.random() < 0.6 else ["v1", "v2"]
    unknown_rev = None
    if p.intent == "valid" and rng.random() < 0.04:
        unknown_rev = rng.randrange(len(revs))
        p.intent = "unknown"
    file_of = {}
    for i, r in enumerate(revs):
        s = values_of(rng, r, revs)
        shape = rng.choices(shapes, shape_weights)[0]
        trick = tricks(rng, s, [x["rev"] for x in revs]) if i == unknown_rev else None
        text = script_text(rng, s, shape, trick)
        folder = rng.choice(folders)
        slug = rng.choice(["add_thing", "merge", "initial", "x"])
        name = "%s_%s.py" % (s["rev"].replace("-", "_"), slug)
        if rng.random() < 0.02:
            name = "%s.py" % rng.choice(["001", "zz", ".hidden"])
        path = os.path.join(root, folder, name)
        while os.path.exists(path):
            path = path[:-3] + "_.py"
        write(path, text)
        file_of[r["rev"]] = path
        p.files += 1
    for f in folders:
        os.makedirs(os.path.join(root, f), exist_ok=True)
        junk_files(rng, os.path.join(root, f))
    if rng.random() < 0.03 and len(folders) > 1:
        # the same script reached from a second folder: loaded once
        src = rng.choice(list(file_of.values()))
        os.symlink(src, os.path.join(root, folders[1] if folders[0] in src else folders[0],
                                     os.path.basename(src)))
    if mode == "project-flask":
        p.mode, p.arg = "project", ""
        locs = None
        if len(folders) > 1 or rng.random() < 0.2:
            locs = folders
        write(os.path.join(root, "migrations", "alembic.ini"),
              ini_text(rng, "migrations", locs, "migrations", True))
        write(os.path.join(root, "migrations", "env.py"), "# not read\n")
        p.alembic = ("flask", "migrations/alembic.ini")
    elif mode == "ini":
        explicit = rng.random() < 0.3
        ini_path = "conf/alembic.ini" if explicit else "alembic.ini"
        here = os.path.dirname(ini_path) or "."
        loc = rng.choice(["alembic", "%(here)s/alembic" if here == "." else "alembic"])
        locs = folders if (len(folders) > 1 or rng.random() < 0.3) else None
        write(os.path.join(root, ini_path), ini_text(rng, loc, locs, "." if here == "." else None, False))
        write(os.path.join(root, "alembic", "env.py"), "# not read\n")
        p.mode, p.arg = ("ini", ini_path) if explicit else ("project", "")
        p.alembic = ("ini", ini_path)
    else:
        p.mode, p.arg = "dirs", ":".join(folders)
        p.alembic = ("dirs", folders)
    p.revs = revs
    p.rowsets = rowsets(rng, revs)
    return p


def rowsets(rng, revs):
    ids = [r.get("rev_override", r["rev"]) for r in revs]
    sets = [[]]
    for _ in range(rng.randint(3, 7)):
        k = rng.random()
        if k < 0.5:
            sets.append(rng.sample(ids, rng.randint(1, min(3, len(ids)))))
        elif k < 0.75:
            sets.append(["HEADS"])                 # run.py fills in Alembic's real heads
        elif k < 0.85:
            sets.append(["HEADS", rng.choice(ids)])
        elif k < 0.9:
            sets.append([rng.choice(ids)[:rng.randint(1, 5)]])   # a prefix
        elif k < 0.95:
            labels = [l for r in revs for l in r["labels"]]
            sets.append([rng.choice(labels)] if labels else ["nosuch99"])
        else:
            sets.append(["nosuch%d" % rng.randint(0, 99)])
    return sets
