"""Sample Flask + Flask-SQLAlchemy + Flask-Migrate app gated by migration-sentry.

    FLASK_APP=app.py DATABASE_URL=postgresql://... flask db upgrade
    FLASK_APP=app.py flask run

DATABASE_URL may be postgres:// (Heroku/Render style, rewritten to
postgresql:// because SQLAlchemy 1.4 refuses it), postgresql://,
postgresql+psycopg2://, or a libpq key=value conninfo string.

GET /api/ops/migration_status serves the status JSON migration-sentry wrote to
SENTRY_STATUS_FILE (default /tmp/migration_status.json): 200 when it says
"migrated": true, 503 otherwise or when there is none.
"""

import json
import os
from datetime import datetime

from flask import Flask, Response
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy


def database_config(raw):
    """(SQLALCHEMY_DATABASE_URI, engine options) for a DATABASE_URL value."""
    raw = (raw or "").strip()
    if not raw:
        return "sqlite://", {}
    if raw.startswith("postgres://"):
        return "postgresql://" + raw[len("postgres://"):], {}
    if "://" not in raw and "=" in raw:
        # libpq key=value conninfo: let psycopg2 (libpq) parse it
        import psycopg2
        return "postgresql+psycopg2://", {"creator": lambda: psycopg2.connect(raw)}
    return raw, {}


db = SQLAlchemy()
migrate = Migrate()


class Proposal(db.Model):
    __tablename__ = "proposals"
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(200), nullable=False)
    visitor_session_id = db.Column(db.String(64), index=True)


class Conversion(db.Model):
    __tablename__ = "conversions"
    id = db.Column(db.Integer, primary_key=True)
    created_at = db.Column(db.DateTime, nullable=False, default=datetime.utcnow)
    proposal_id = db.Column(db.Integer, db.ForeignKey("proposals.id"), index=True)


def create_app():
    app = Flask(__name__)
    uri, engine_options = database_config(os.environ.get("DATABASE_URL"))
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options
    app.config["SQLALCHEMY_TRACK_MODIFICATIONS"] = False
    db.init_app(app)
    migrate.init_app(app, db)

    @app.get("/")
    def index():
        return Response("sample app is up\n", mimetype="text/plain")

    @app.get("/api/ops/migration_status")
    def migration_status():
        path = os.environ.get("SENTRY_STATUS_FILE", "/tmp/migration_status.json")
        try:
            with open(path) as f:
                status = json.load(f)
        except (OSError, ValueError) as e:
            status = {"migrated": False, "error": "no readable status file: %s" % e}
        code = 200 if isinstance(status, dict) and status.get("migrated") is True else 503
        # json.dumps keeps the file's key order (jsonify would sort the keys)
        return Response(json.dumps(status) + "\n", status=code, mimetype="application/json")

    return app


app = create_app()
