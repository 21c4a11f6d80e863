#!/usr/bin/python3
"""Today's way: the Python entrypoint step a Flask-Migrate deploy typically runs
before gunicorn, timed by bench/run.sh against the sentry's no-op gate.

    cd APP_DIR && FLASK_APP=app.py DATABASE_URL=... \\
        SENTRY_REQUIRE_COLUMNS=proposals.visitor_session_id,conversions.proposal_id \\
        /usr/bin/python3 bench/todays_way.py

It imports the app named by FLASK_APP (from the current directory), runs
`flask db upgrade` (the command, as entrypoint scripts do: the issue's "today's
way"), then checks every required column with SQLAlchemy's inspector. With
--in-process it calls Flask-Migrate's upgrade() inside the app context instead
of the command: the fastest Python can do, reported beside it so the ratio is
not flattered. Exit 0 when all columns are there, 1 when one is missing.
"""

import os
import sys


def load_app():
    sys.path.insert(0, os.getcwd())
    from flask.cli import ScriptInfo          # what `flask` itself uses for FLASK_APP
    return ScriptInfo(app_import_path=os.environ.get("FLASK_APP")).load_app()


def required_columns():
    spec = os.environ.get("SENTRY_REQUIRE_COLUMNS", "")
    out = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        parts = item.split(".")
        if len(parts) == 2:
            out.append(("public", parts[0], parts[1]))
        elif len(parts) == 3:
            out.append(tuple(parts))
        else:
            sys.exit("todays_way: bad column %r (table.column or schema.table.column)" % item)
    return out


def main():
    import subprocess
    from flask_migrate import upgrade
    from sqlalchemy import inspect

    in_process = "--in-process" in sys.argv[1:]
    app = load_app()
    with app.app_context():
        if in_process:
            upgrade()
        else:
            subprocess.run(["flask", "db", "upgrade"], check=True)
        engine = app.extensions["migrate"].db.engine
        insp = inspect(engine)
        missing = []
        cache = {}
        for schema, table, column in required_columns():
            key = (schema, table)
            if key not in cache:
                try:
                    cache[key] = {c["name"] for c in insp.get_columns(table, schema=schema)}
                except Exception:                          # no such table
                    cache[key] = set()
            if column not in cache[key]:
                missing.append("%s.%s.%s" % (schema, table, column))
        engine.dispose()
    if missing:
        print("schema check FAILED: missing " + ", ".join(missing), file=sys.stderr)
        return 1
    print("schema OK.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
