"""customer records: what the brand's CRM, loyalty programme or shop knows of a customer

One row per (system, external_id), upserted on each import or push, linked to a customer when a handle matches
exactly or a person links it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

import triage.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=True),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("handles", sa.JSON(), nullable=False),
        sa.Column("tier", sa.String(64), nullable=True),
        sa.Column("lifetime_value", sa.Float(), nullable=True),
        sa.Column("loyalty_points", sa.BigInteger(), nullable=True),
        sa.Column("orders", sa.BigInteger(), nullable=True),
        sa.Column("last_order_at", triage.db.UTCDateTime(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("created_at", triage.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", triage.db.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("system", "external_id", name="uq_customer_records_system_external_id"),
    )
    op.create_index("ix_customer_records_customer_id", "customer_records", ["customer_id"])
    op.create_index("ix_customer_records_email", "customer_records", ["email"])


def downgrade() -> None:
    op.drop_index("ix_customer_records_email", "customer_records")
    op.drop_index("ix_customer_records_customer_id", "customer_records")
    op.drop_table("customer_records")
