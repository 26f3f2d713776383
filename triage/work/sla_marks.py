"""System transitions for service levels: a deadline nears, a deadline is missed, a breached urgent item goes up.

triage.sla.check decides which items (it runs every minute); these change them, as in triage.work.transitions,
with `actor=None` (the system). Each is a conditional UPDATE, so a second run, or two racing, changes nothing.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.orm import Session

from triage.core.locking import rows_changed, write_lock
from triage.core.vocabulary import CLOSED
from triage.db import utcnow
from triage.models import Event, Mention, Notification, User
from triage.sla.deadlines import TARGET_NAMES
from triage.work.transitions import get_mention, write_event

DEADLINE_NEAR, SLA_BREACHED = "deadline near", "sla breached"


def _sla_pending(target: str) -> ColumnElement[bool]:
    """The item still waits on `target` and its breach is not flagged yet."""
    if target == "first_response":
        return and_(Mention.first_response_at.is_(None), Mention.resolved_at.is_(None),
                    Mention.first_response_breached_at.is_(None), Mention.status.not_in(CLOSED))
    return and_(Mention.resolved_at.is_(None), Mention.resolution_breached_at.is_(None),
                Mention.status.not_in(CLOSED))


def _bump_priority(session: Session, mention_id: int, reason: dict[str, Any], guard: ColumnElement[bool],
                   values: dict[str, Any] | None = None) -> int | None:
    """Add a priority reason and its points in one conditional UPDATE; the new priority, or None if refused.

    The UPDATE also requires the priority read a moment ago, so two checks racing raise it only once.
    """
    row = session.execute(select(Mention.priority, Mention.priority_reasons).where(Mention.id == mention_id)).first()
    if row is None:
        return None
    reasons = sorted([*(row.priority_reasons or []), reason], key=lambda r: -r["points"])
    priority = max(0, min(100, row.priority + reason["points"]))
    done = rows_changed(session, update(Mention).where(Mention.id == mention_id, Mention.priority == row.priority,
                                                       guard)
                        .values(priority=priority, priority_reasons=reasons, **(values or {})))
    return priority if done else None


def note_deadline_near(session: Session, mention_id: int, target: str, due: datetime, *, points: int,
                       now: datetime | None = None) -> bool:
    """SYSTEM: a deadline nears; the item rises in its queue. Once per item and target."""
    now = now or utcnow()
    write_lock(session)
    seen = session.scalar(select(Event.id).where(Event.mention_id == mention_id, Event.action == DEADLINE_NEAR,
                                                 Event.to_state == target).limit(1))
    if seen is not None:
        return False
    left = max(0, int((due - now).total_seconds() // 60))
    priority = _bump_priority(session, mention_id, {"factor": "deadline", "points": points,
                                                    "detail": f"{TARGET_NAMES[target]} due in {left} min"},
                              _sla_pending(target))
    if priority is None:
        return False
    write_event(session, mention_id, None, DEADLINE_NEAR, None, target, now=now,
                reason=f"{TARGET_NAMES[target]} due {due:%Y-%m-%d %H:%M} UTC", due=due.isoformat(), points=points,
                priority=priority)
    return True


def flag_sla_breach(session: Session, mention_id: int, target: str, due: datetime, *, points: int,
                    now: datetime | None = None) -> bool:
    """SYSTEM: the item missed its `target` (first_response or resolution): flag it and raise its priority."""
    now = now or utcnow()
    write_lock(session)
    column = "first_response_breached_at" if target == "first_response" else "resolution_breached_at"
    priority = _bump_priority(session, mention_id, {"factor": "overdue", "points": points,
                                                    "detail": f"{TARGET_NAMES[target]} was due {due:%d %b %H:%M} UTC"},
                              _sla_pending(target), {column: due})
    if priority is None:
        return False
    write_event(session, mention_id, None, SLA_BREACHED, None, target, now=now,
                reason=f"{TARGET_NAMES[target]} was due {due:%Y-%m-%d %H:%M} UTC", due=due.isoformat(),
                points=points, priority=priority)
    return True


def escalate_breached(session: Session, mention_id: int, lead: User, due: datetime, *,
                      now: datetime | None = None) -> bool:
    """SYSTEM: an urgent item missed its first response: escalate it to the team lead and tell them.

    The holder keeps working on it; the lead is told and sees it among the items escalated to them.
    """
    now = now or utcnow()
    write_lock(session)
    mention = get_mention(session, mention_id)
    reason = f"urgent mention missed its first-response target (due {due:%Y-%m-%d %H:%M} UTC)"
    done = rows_changed(session, update(Mention).where(Mention.id == mention_id, Mention.escalated_at.is_(None),
                                                       Mention.status.not_in(CLOSED))
                        .values(escalated_at=now, escalated_by_id=None, escalated_to_id=lead.id,
                                escalation_reason=reason))
    if not done:
        return False
    label = f"{lead.display_name} ({lead.role})"
    write_event(session, mention_id, None, "escalated", mention.queue.slug if mention.queue else None, label,
                reason=reason, now=now, to=lead.username, automatic=True)
    session.add(Notification(user_id=lead.id, mention_id=mention_id, kind="escalation", created_at=now,
                             message=f"Escalated to you automatically: {reason}"))
    return True
