"""dead letters: posts set aside with their raw payload and the reason, and delivery attempts bounded

A post the worker cannot store no longer sinks its whole batch: it is kept in `dead_letters` (raw record,
error, attempts) for a lead to fix and retry or discard. `deliveries.last_attempt_at` lets the sweeper take
the least recently tried deliveries first, so a few failing ones cannot starve the rest.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

import triage.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_attempt_at", triage.db.UTCDateTime(), nullable=True))
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", triage.db.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", triage.db.UTCDateTime(), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("retry_delivery_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"]),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"]),
        sa.ForeignKeyConstraint(["resolved_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["retry_delivery_id"], ["deliveries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dead_letters_open", "dead_letters", ["resolved_at", "source_id"], unique=False)
    op.create_index("ix_dead_letters_delivery_id", "dead_letters", ["delivery_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dead_letters_delivery_id", table_name="dead_letters")
    op.drop_index("ix_dead_letters_open", table_name="dead_letters")
    op.drop_table("dead_letters")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("last_attempt_at")
