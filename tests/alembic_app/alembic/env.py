"""env.py of the plain Alembic sample: the database from DATABASE_URL (as
on Render or Heroku), the version table renamed when ALEMBIC_VERSION_TABLE
or ALEMBIC_VERSION_TABLE_SCHEMA say so (migration-sentry is then told the
same with SENTRY_VERSION_TABLE and SENTRY_VERSION_TABLE_SCHEMA)."""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def database_url():
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    return url


def run_migrations_online():
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=None,
            version_table=os.environ.get("ALEMBIC_VERSION_TABLE") or "alembic_version",
            version_table_schema=os.environ.get("ALEMBIC_VERSION_TABLE_SCHEMA") or None,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("this sample runs online only")
run_migrations_online()
