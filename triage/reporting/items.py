"""The items behind a report figure: the drill-down list, newest first, with every timestamp."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.orm import Session

from triage.db import UTCDateTime, utcnow
from triage.reporting.facts import Names, facts, resolve, seconds, tune
from triage.reporting.filters import Filters

ITEM_COLUMNS = ("id", "network", "external_id", "url", "author", "status", "intent", "sentiment", "priority",
                "urgent", "queue", "agent", "team", "clock_start", "posted_at", "ingested_at", "tagged_at",
                "first_claimed_at", "first_response_at", "resolved_at", "first_response_due_at", "resolution_due_at",
                "first_response_breached_at", "resolution_breached_at", "escalated_at", "first_response_seconds",
                "resolution_seconds", "first_response_sla", "resolution_sla", "text")
_STORED = ("id", "network", "external_id", "url", "author", "status", "intent", "sentiment", "priority", "urgent",
           "posted_at", "ingested_at", "tagged_at", "first_claimed_at", "first_response_at", "resolved_at",
           "first_response_due_at", "resolution_due_at", "first_response_breached_at", "resolution_breached_at",
           "escalated_at", "text")


def items(session: Session, f: Filters, *, now: datetime | None = None, limit: int | None = 100,
          after: tuple[datetime, int] | None = None) -> Iterator[dict[str, Any]]:
    """The mentions behind a figure, newest first, with every timestamp; `after` pages on (keyset)."""
    now = now or utcnow()
    tune(session)
    ids = resolve(session, f)
    rows = facts(session, f, now, ids, detail=True).subquery("facts")
    query = select(rows).order_by(rows.c.posted_at.desc(), rows.c.id.desc())
    if after is not None:
        query = query.where(tuple_(rows.c.posted_at, rows.c.id) < tuple_(literal(after[0], UTCDateTime()),
                                                                        literal(after[1])))
    if limit is not None:
        query = query.limit(limit)
    names = Names.load(session)
    result = session.execute(query.execution_options(yield_per=2000)).mappings()
    for row in result:
        agent = names.agent.get(row["agent_id"])
        queue = names.queue.get(row["queue_id"])
        yield {
            **{k: row[k] for k in _STORED},
            "queue": queue.name if queue else None, "agent": agent.display_name if agent else None,
            "team": names.team.get(row["team_id"]),
            "clock_start": "posted" if row["posted_at_known"] else "ingested",
            "first_response_seconds": seconds(row["fr_s"]), "resolution_seconds": seconds(row["res_s"]),
            "first_response_sla": row["fr_state"], "resolution_sla": row["res_state"],
        }


def count_items(session: Session, f: Filters, *, now: datetime | None = None) -> int:
    """How many items the drill-down lists (an unknown filter raises ReportError)."""
    now = now or utcnow()
    ids = resolve(session, f)
    rows = facts(session, f, now, ids, detail=True)
    return session.scalar(select(func.count()).select_from(rows.subquery())) or 0


def describe(f: Filters) -> list[str]:
    """The drill-down in words, for the page heading."""
    words = []
    if f.open_on:
        words.append(f"open at the end of {f.open_on}")
    if f.day:
        words.append(f"posted on {f.day}")
    for name in Filters.FILTERS:
        if getattr(f, name):
            words.append(f"{name} {getattr(f, name)}")
    if f.sla:
        target = "first response" if f.target == "first_response" else "resolution"
        words.append({"missed": f"{target} target missed", "met": f"{target} target met",
                      "pending": f"{target} still due"}[f.sla])
    if f.answered is not None:
        words.append("answered" if f.answered else "not answered")
    if f.resolved is not None:
        words.append("resolved" if f.resolved else "not resolved")
    if f.holder:
        words.append(f"held by {f.holder}")
    if f.clock:
        words.append("clock started when received" if f.clock == "ingested" else "clock started when posted")
    return words


__all__ = ["ITEM_COLUMNS", "count_items", "describe", "items"]
