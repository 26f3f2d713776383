"""customer priority rules: points for a tier or a lifetime value, set by leads

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

import triage.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_priority_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tier", sa.String(64), nullable=True),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("created_at", triage.db.UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customer_priority_rules")
