"""Add a column

Revision ID: 2b3c4d5e6f70
Revises: 1a2b3c4d5e6f

An escaped quote: \"""
revision = 'decoy0001'
down_revision = 'decoy0000'
"""
from alembic import op

revision = '2b3c4d5e6f70'
down_revision = '1a2b3c4d5e6f'
branch_labels = None
depends_on = None
