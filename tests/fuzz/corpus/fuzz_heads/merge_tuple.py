"""merge heads

Revision ID: aa11bb22cc33
Revises: 2b3c4d5e6f70, 3c4d5e6f7081
"""
revision = "aa11bb22cc33"
down_revision = ("2b3c4d5e6f70", "3c4d5e6f7081")  # merge
branch_labels = ["feature"]
depends_on = (
    "1a2b3c4d5e6f",  # needs the base tables
)
