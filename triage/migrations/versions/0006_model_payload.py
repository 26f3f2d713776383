"""model files kept in the database

Workers on several hosts share nothing but the database (and Redis): the trained model travels in it, and each
host writes its own copy to its model store when the active version changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("model_versions", sa.Column("payload", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("model_versions", "payload")
