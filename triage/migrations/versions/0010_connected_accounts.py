"""connected network accounts: the account a source speaks for, and what posts carry to be answered

`sources.account` is the network account a connector source was connected with (handle, display name, url);
its credentials live, sealed, in `sources.config`. A mention keeps what its connector needs to reply
(`network_data`) and the network's counts as last seen (`engagement`, refreshed on each sighting, with when).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

import triage.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("account", sa.JSON(), nullable=True))
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("network_data", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("engagement", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("engagement_seen_at", triage.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("engagement_seen_at")
        batch.drop_column("engagement")
        batch.drop_column("network_data")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("account")
