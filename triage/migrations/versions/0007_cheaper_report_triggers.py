"""report triggers that fire less often on ingest

The workload table counts people's actions only, so events written by the system (one "queued" per mention
tagged) no longer mark their day. On SQLite, whose triggers run per row, an updated mention marks its old day
only when the update moved it to another day. Together this halves the trigger work per ingested post there.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# As in 0005: a change to any of these moves a mention's figures.
MENTION_COLUMNS = ("posted_at", "posted_at_known", "status", "owner_id", "queue_id", "intent", "sentiment",
                   "network", "first_response_at", "resolved_at", "first_response_due_at", "resolution_due_at")


def _mark(kind: str, day: str, also: str = "") -> str:
    """Insert a stale mark unless the day is already marked (SQLite has one writer at a time, so no race)."""
    return (f"INSERT INTO report_stale (kind, day) SELECT '{kind}', {day} WHERE NOT EXISTS "
            f"(SELECT 1 FROM report_stale WHERE kind = '{kind}' AND day IS {day}){also};")


def _sqlite(events_when: str, old_day_only_if_moved: bool) -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in MENTION_COLUMNS)
    moved = " AND date(OLD.posted_at) IS NOT date(NEW.posted_at)" if old_day_only_if_moved else ""
    return [
        "DROP TRIGGER IF EXISTS report_mentions_updated",
        f"""CREATE TRIGGER report_mentions_updated AFTER UPDATE OF {', '.join(MENTION_COLUMNS)} ON mentions
            WHEN {changed} BEGIN
            {_mark('d', 'date(NEW.posted_at)')} {_mark('d', 'date(OLD.posted_at)', moved)} END""",
        "DROP TRIGGER IF EXISTS report_events_inserted",
        f"""CREATE TRIGGER report_events_inserted AFTER INSERT ON events {events_when} BEGIN
            {_mark('e', 'date(NEW.created_at)')} END""",
    ]


def _postgres(where: str) -> list[str]:
    return [f"""CREATE OR REPLACE FUNCTION report_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             INSERT INTO report_stale (kind, day) SELECT DISTINCT 'e', CAST(created_at AS DATE) FROM new_rows{where};
             RETURN NULL;
           END $$"""]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in (_postgres(" WHERE actor_id IS NOT NULL") if postgres
                      else _sqlite("WHEN NEW.actor_id IS NOT NULL", old_day_only_if_moved=True)):
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _postgres("") if postgres else _sqlite("", old_day_only_if_moved=False):
        op.execute(statement)
