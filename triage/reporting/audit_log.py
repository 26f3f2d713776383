"""Reading the audit log: every event, newest first, searched and filtered, on the page or as CSV.

The log is read-only: nothing here (or anywhere) changes an event. The actions it offers to filter by are the
registry in triage/core/audit.py, the one list every writer uses.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, cast, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from triage.core.audit import ACTIONS
from triage.db import UTCDateTime
from triage.models import Event, Mention, User
from triage.reporting.exports import csv_lines
from triage.reporting.filters import ReportError, parse_date, position, row_id

KNOWN_ACTIONS = tuple(ACTIONS)  # the registry in triage/core/audit.py; the log's action filter offers these
SYSTEM = "system"
AUDIT_COLUMNS = ("id", "created_at", "actor", "action", "mention_id", "network", "external_id", "from_state",
                 "to_state", "reason", "detail")


@dataclass(frozen=True)
class AuditFilters:
    """What the audit log shows: a text search, an action, who (a username or 'system'), an item, a range."""

    q: str | None = None
    action: str | None = None
    actor: str | None = None
    mention: int | None = None
    since: date | None = None
    until: date | None = None
    before: tuple[datetime, int] | None = None  # keyset paging: events older than this (created_at, id)

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> AuditFilters:
        """From query-string arguments; a bad value raises ReportError with the reason."""
        typed = (args.get("mention") or "").strip() or None
        mention = row_id(typed, "mention") if typed is not None else None
        before = position(args["before"], "before") if args.get("before") else None
        since, until = parse_date(args.get("since"), "since"), parse_date(args.get("until"), "until")
        if since and until and since > until:
            raise ReportError(f"the range starts ({since}) after it ends ({until})")
        text = (args.get("q") or "").strip()[:200] or None
        return cls(q=text, action=(args.get("action") or "").strip() or None,
                   actor=(args.get("actor") or "").strip().lower() or None,
                   mention=mention, since=since, until=until, before=before)

    def args(self, **changes: object) -> dict[str, str]:
        """Query-string arguments for this view of the log (and `changes`), without the paging position."""
        out = {}
        for f in fields(self):
            value = changes[f.name] if f.name in changes else getattr(self, f.name)
            if value is None or f.name == "before":
                continue
            out[f.name] = str(value)
        return out


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def audit_events(session: Session, a: AuditFilters, *, limit: int | None = 100) -> Iterator[dict[str, Any]]:
    """Events newest first, with who did it and which item, filtered and searched."""
    actor = User.__table__.alias("actor")
    e, m = Event.__table__, Mention.__table__
    query = (select(e, actor.c.username, actor.c.display_name, m.c.network, m.c.external_id)
             .select_from(e.outerjoin(actor, actor.c.id == e.c.actor_id).outerjoin(m, m.c.id == e.c.mention_id))
             .order_by(e.c.created_at.desc(), e.c.id.desc()))
    if a.action:
        query = query.where(e.c.action == a.action)
    if a.actor == SYSTEM:
        query = query.where(e.c.actor_id.is_(None))
    elif a.actor:
        query = query.where(actor.c.username == a.actor)
    if a.mention is not None:
        query = query.where(e.c.mention_id == a.mention)
    if a.since:
        query = query.where(e.c.created_at >= datetime.combine(a.since, time(0), tzinfo=UTC))
    if a.until:
        query = query.where(e.c.created_at < datetime.combine(a.until + timedelta(days=1), time(0), tzinfo=UTC))
    if a.q:
        pattern = _like(a.q)
        query = query.where(or_(*[c.ilike(pattern, escape="\\") for c in (
            e.c.action, e.c.reason, e.c.from_state, e.c.to_state, cast(e.c.detail, String), actor.c.username,
            actor.c.display_name, m.c.external_id)]))
    if a.before is not None:
        query = query.where(tuple_(e.c.created_at, e.c.id) < tuple_(literal(a.before[0], UTCDateTime()),
                                                                    literal(a.before[1])))
    if limit is not None:
        query = query.limit(limit)
    for row in session.execute(query.execution_options(yield_per=2000)).mappings():
        yield {**row, "actor": row["username"] or SYSTEM}


def audit_csv(session: Session, a: AuditFilters) -> Iterator[str]:
    """The events `a` selects, every one, as CSV (the detail as sorted JSON)."""
    rows = ([r["id"], r["created_at"], r["actor"], r["action"], r["mention_id"], r["network"], r["external_id"],
             r["from_state"], r["to_state"], r["reason"], json.dumps(r["detail"] or {}, default=str, sort_keys=True)]
            for r in audit_events(session, a, limit=None))
    return csv_lines(list(AUDIT_COLUMNS), rows)


__all__ = ["AUDIT_COLUMNS", "KNOWN_ACTIONS", "SYSTEM", "AuditFilters", "audit_csv", "audit_events"]
