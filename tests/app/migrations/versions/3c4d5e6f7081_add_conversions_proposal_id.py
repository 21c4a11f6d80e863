"""add conversions.proposal_id

Revision ID: 3c4d5e6f7081
Revises: 2b3c4d5e6f70
Create Date: 2026-11-15 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c4d5e6f7081'
down_revision = '2b3c4d5e6f70'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposal_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_conversions_proposal_id'),
                              ['proposal_id'], unique=False)
        batch_op.create_foreign_key('fk_conversions_proposal_id_proposals',
                                    'proposals', ['proposal_id'], ['id'])


def downgrade():
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_conversions_proposal_id_proposals', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_conversions_proposal_id'))
        batch_op.drop_column('proposal_id')
