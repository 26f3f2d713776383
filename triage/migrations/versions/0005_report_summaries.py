"""report summaries: daily figures, response-time histograms, pending deadlines, and triggers that mark changed days

A report over months would otherwise read every mention in its range. Triggers note each day a change
touches, in the same transaction as the change, so no code path can forget to; the summary job rebuilds those
days (triage/summaries.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

import triage.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# A change to any of these moves a mention's figures; claims, priority and breach flags do not.
MENTION_COLUMNS = ("posted_at", "posted_at_known", "status", "owner_id", "queue_id", "intent", "sentiment",
                   "network", "first_response_at", "resolved_at", "first_response_due_at", "resolution_due_at")


def _tables() -> None:
    counts = [sa.Column(name, sa.Integer(), nullable=False, server_default="0") for name in (
        "mentions", "answered", "resolved", "fr_met", "fr_missed", "fr_pending", "res_met", "res_missed",
        "res_pending", "from_ingest")]
    op.create_table("report_days",
                    sa.Column("day", sa.Date(), nullable=False),
                    sa.Column("dim", sa.String(16), nullable=False),
                    sa.Column("key", sa.String(40), nullable=False),
                    *counts,
                    *[sa.Column(name, sa.Float(), nullable=True) for name in (
                        "fr_median", "fr_p90", "res_median", "res_p90")],
                    sa.PrimaryKeyConstraint("day", "dim", "key"))
    op.create_table("report_buckets",
                    sa.Column("span", sa.String(1), nullable=False),
                    sa.Column("period", sa.Date(), nullable=False),
                    sa.Column("dim", sa.String(16), nullable=False),
                    sa.Column("key", sa.String(40), nullable=False),
                    sa.Column("measure", sa.SmallInteger(), nullable=False),
                    sa.Column("bucket", sa.SmallInteger(), nullable=False),
                    sa.Column("n", sa.Integer(), nullable=False, server_default="0"),
                    sa.PrimaryKeyConstraint("span", "period", "dim", "key", "measure", "bucket"),
                    sqlite_with_rowid=False)  # stored in key order: a period's rows are read together
    # Reports sum whole periods: on PostgreSQL an index-only scan reads them without visiting the table.
    op.create_index("ix_report_buckets_read", "report_buckets", ["span", "period", "dim", "key", "measure", "bucket"],
                    postgresql_include=["n"])
    op.create_table("report_event_days",
                    sa.Column("day", sa.Date(), nullable=False),
                    sa.Column("actor_id", sa.Integer(), nullable=False),
                    sa.Column("action", sa.String(40), nullable=False),
                    sa.Column("n", sa.Integer(), nullable=False, server_default="0"),
                    sa.PrimaryKeyConstraint("day", "actor_id", "action"))
    op.create_table("report_periods",
                    sa.Column("span", sa.String(1), nullable=False),
                    sa.Column("period", sa.Date(), nullable=False),
                    sa.Column("refreshed_at", triage.db.UTCDateTime(), nullable=False),
                    sa.PrimaryKeyConstraint("span", "period"))
    op.create_table("report_pending",
                    sa.Column("day", sa.Date(), nullable=False),
                    sa.Column("dim", sa.String(16), nullable=False),
                    sa.Column("key", sa.String(40), nullable=False),
                    sa.Column("target", sa.SmallInteger(), nullable=False),
                    sa.Column("due_at", triage.db.UTCDateTime(), nullable=False),
                    sa.Column("n", sa.Integer(), nullable=False, server_default="0"),
                    sa.PrimaryKeyConstraint("day", "dim", "key", "target", "due_at"))
    op.create_index("ix_report_pending_due", "report_pending", ["due_at"])
    op.create_table("report_stale",
                    sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("kind", sa.String(1), nullable=False),
                    sa.Column("day", sa.Date(), nullable=True),
                    sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_report_stale_day", "report_stale", ["kind", "day"])


def _postgres_triggers() -> list[str]:
    """Statement-level triggers with transition tables: one small insert per statement, however many rows.

    Writers only ever append to report_stale, so they never wait on each other or on the summary job.
    """
    changed = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in MENTION_COLUMNS)
    return [
        """CREATE FUNCTION report_mentions_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             INSERT INTO report_stale (kind, day) SELECT DISTINCT 'd', CAST(posted_at AS DATE) FROM new_rows;
             RETURN NULL;
           END $$""",
        """CREATE TRIGGER report_mentions_inserted AFTER INSERT ON mentions REFERENCING NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION report_mentions_inserted()""",
        f"""CREATE FUNCTION report_mentions_updated() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             INSERT INTO report_stale (kind, day)
               SELECT DISTINCT 'd', d FROM new_rows n JOIN old_rows o ON o.id = n.id,
                 LATERAL (VALUES (CAST(n.posted_at AS DATE)), (CAST(o.posted_at AS DATE))) AS days(d)
               WHERE {changed};
             RETURN NULL;
           END $$""",
        """CREATE TRIGGER report_mentions_updated AFTER UPDATE ON mentions
           REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION report_mentions_updated()""",
        """CREATE FUNCTION report_responses_changed() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             INSERT INTO report_stale (kind, day)
               SELECT DISTINCT 'd', CAST(m.posted_at AS DATE) FROM new_rows r JOIN mentions m ON m.id = r.mention_id;
             RETURN NULL;
           END $$""",
        """CREATE TRIGGER report_responses_inserted AFTER INSERT ON responses REFERENCING NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION report_responses_changed()""",
        """CREATE TRIGGER report_responses_updated AFTER UPDATE ON responses REFERENCING NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION report_responses_changed()""",
        """CREATE FUNCTION report_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             INSERT INTO report_stale (kind, day) SELECT DISTINCT 'e', CAST(created_at AS DATE) FROM new_rows;
             RETURN NULL;
           END $$""",
        """CREATE TRIGGER report_events_inserted AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION report_events_inserted()""",
        """CREATE FUNCTION report_team_changed() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             INSERT INTO report_stale (kind, day) VALUES ('*', NULL);
             RETURN NULL;
           END $$""",
        """CREATE TRIGGER report_user_team_changed AFTER UPDATE OF team_id ON users FOR EACH ROW
           WHEN (OLD.team_id IS DISTINCT FROM NEW.team_id) EXECUTE FUNCTION report_team_changed()""",
        """CREATE TRIGGER report_queue_team_changed AFTER UPDATE OF team_id ON queues FOR EACH ROW
           WHEN (OLD.team_id IS DISTINCT FROM NEW.team_id) EXECUTE FUNCTION report_team_changed()""",
    ]


def _sqlite_mark(kind: str, day: str) -> str:
    """Insert a stale mark unless the day is already marked (SQLite has one writer at a time, so no race)."""
    return (f"INSERT INTO report_stale (kind, day) SELECT '{kind}', {day} WHERE NOT EXISTS "
            f"(SELECT 1 FROM report_stale WHERE kind = '{kind}' AND day IS {day});")


def _sqlite_triggers() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in MENTION_COLUMNS)
    mention_day = "(SELECT date(posted_at) FROM mentions WHERE id = NEW.mention_id)"
    return [
        f"""CREATE TRIGGER report_mentions_inserted AFTER INSERT ON mentions BEGIN
            {_sqlite_mark('d', 'date(NEW.posted_at)')} END""",
        f"""CREATE TRIGGER report_mentions_updated AFTER UPDATE OF {', '.join(MENTION_COLUMNS)} ON mentions
            WHEN {changed} BEGIN
            {_sqlite_mark('d', 'date(NEW.posted_at)')} {_sqlite_mark('d', 'date(OLD.posted_at)')} END""",
        f"""CREATE TRIGGER report_responses_inserted AFTER INSERT ON responses WHEN NEW.mention_id IS NOT NULL BEGIN
            {_sqlite_mark('d', mention_day)} END""",
        f"""CREATE TRIGGER report_responses_updated AFTER UPDATE OF mention_id, user_id ON responses
            WHEN NEW.mention_id IS NOT NULL BEGIN {_sqlite_mark('d', mention_day)} END""",
        f"""CREATE TRIGGER report_events_inserted AFTER INSERT ON events BEGIN
            {_sqlite_mark('e', 'date(NEW.created_at)')} END""",
        f"""CREATE TRIGGER report_user_team_changed AFTER UPDATE OF team_id ON users
            WHEN OLD.team_id IS NOT NEW.team_id BEGIN {_sqlite_mark('*', 'NULL')} END""",
        f"""CREATE TRIGGER report_queue_team_changed AFTER UPDATE OF team_id ON queues
            WHEN OLD.team_id IS NOT NEW.team_id BEGIN {_sqlite_mark('*', 'NULL')} END""",
    ]


TRIGGERS = ("report_mentions_inserted", "report_mentions_updated", "report_responses_inserted",
            "report_responses_updated", "report_events_inserted", "report_user_team_changed",
            "report_queue_team_changed")
TRIGGER_TABLES = ("mentions", "mentions", "responses", "responses", "events", "users", "queues")


def upgrade() -> None:
    _tables()
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _postgres_triggers() if postgres else _sqlite_triggers():
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table in zip(TRIGGERS, TRIGGER_TABLES, strict=True):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else ""))
    if postgres:
        for function in ("report_mentions_inserted", "report_mentions_updated", "report_responses_changed",
                         "report_events_inserted", "report_team_changed"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    for table in ("report_stale", "report_pending", "report_periods", "report_event_days", "report_buckets",
                  "report_days"):
        op.drop_table(table)
