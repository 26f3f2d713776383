"""default queues and routing rules

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
from sqlalchemy.orm import Session

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from triage.defaults import ensure_queues

    session = Session(bind=op.get_bind())
    ensure_queues(session)  # does nothing on a database that has queues already
    session.flush()


def downgrade() -> None:
    op.execute("DELETE FROM routing_rules")
    op.execute("DELETE FROM queues")
