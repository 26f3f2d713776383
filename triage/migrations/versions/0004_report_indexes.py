"""indexes for reports: mentions by posted and by resolved time

Reports read a date range of mentions (by when they were posted) and the backlog over time (by when they
were closed); without these, every report scans the whole mentions table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # With the id, the range's lowest id (which bounds the replies a report reads) comes from the index alone.
    op.create_index("ix_mentions_posted_at", "mentions", ["posted_at", "id"])
    op.create_index("ix_mentions_resolved_at", "mentions", ["resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_mentions_resolved_at", "mentions")
    op.drop_index("ix_mentions_posted_at", "mentions")
