"""add proposals.visitor_session_id

Revision ID: 2b3c4d5e6f70
Revises: 1a2b3c4d5e6f
Create Date: 2026-11-08 10:00:00.000000

"""
import os
import sys
import time

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2b3c4d5e6f70'
down_revision = '1a2b3c4d5e6f'
branch_labels = None
depends_on = None


def _test_sleep():
    # For tests of races, timeouts and signals: SAMPLE_MIGRATION_SLEEP=<seconds>
    # makes this migration take that long (inside the migration transaction).
    seconds = float(os.environ.get('SAMPLE_MIGRATION_SLEEP') or 0)
    if seconds > 0:
        print('sample migration: sleeping %gs (pid %d)' % (seconds, os.getpid()),
              flush=True)
        time.sleep(seconds)
        print('sample migration: slept %gs' % seconds, flush=True)


def upgrade():
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('visitor_session_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_proposals_visitor_session_id'),
                              ['visitor_session_id'], unique=False)
    _test_sleep()


def downgrade():
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proposals_visitor_session_id'))
        batch_op.drop_column('visitor_session_id')
