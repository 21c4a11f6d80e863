-- An emergency hot patch for `migration-sentry sql FILE`: for an image with
-- no psql, when production needs a column now and the next deploy is hours
-- away.
--
--   migration-sentry sql /app/hot_patch.sql        # DATABASE_URL from the environment
--   docker compose exec web migration-sentry sql /app/hot_patch.sql
--   kubectl exec deploy/app-web -- migration-sentry sql /app/hot_patch.sql
--
-- The whole file runs in ONE transaction: either every statement is applied
-- or none is (on an error the sentry rolls back, names the line, exits 70).
-- So: no BEGIN/COMMIT/ROLLBACK/SAVEPOINT/VACUUM here (refused, exit 64), and
-- no CREATE INDEX CONCURRENTLY (PostgreSQL refuses it inside a transaction).
--
-- Write it so that it can run twice: IF NOT EXISTS everywhere. Then follow it
-- with a real Alembic migration that does the same thing idempotently (or
-- that is stamped), or the next `flask db upgrade` will fail on "already
-- exists".

ALTER TABLE proposals
    ADD COLUMN IF NOT EXISTS utm_source varchar(100);

CREATE INDEX IF NOT EXISTS ix_proposals_utm_source
    ON proposals (utm_source);
