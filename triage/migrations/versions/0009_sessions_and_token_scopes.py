"""session generations (logout, password change, deactivation end every session) and scoped API tokens

A login cookie (session or remember-me) carries "<user id>:<generation>"; bumping `users.session_generation`
makes every cookie issued before it worthless. An API token may be scoped to one source (it can only push into
that source) or be read-only (GET only).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("source_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("read_only", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_foreign_key("fk_api_tokens_source_id", "sources", ["source_id"], ["id"])
        batch.create_index("ix_api_tokens_user_id", ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index("ix_api_tokens_user_id")
        batch.drop_constraint("fk_api_tokens_source_id", type_="foreignkey")
        batch.drop_column("read_only")
        batch.drop_column("source_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
