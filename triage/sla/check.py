"""The scheduled deadline check: which items near or miss their deadlines, and which breached ones go up.

It decides; the changes are system transitions in triage.work.sla_marks, each with its audit event, so a second
run changes nothing more. Runs every minute from the scheduler (workers.jobs.check_deadlines); the caller commits.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from triage.core.vocabulary import CLOSED
from triage.db import utcnow
from triage.models import Event, Mention, Team, User
from triage.sla.deadlines import TARGETS, Deadlines, stage
from triage.work.sla_marks import DEADLINE_NEAR, escalate_breached, flag_sla_breach, note_deadline_near

NEAR_POINTS = 10  # priority added when a deadline nears
BREACH_POINTS = 15  # and again when it is missed


@dataclass
class CheckResult:
    near: list[int] = field(default_factory=list)
    breached: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"near": len(self.near), "breached": len(self.breached), "escalated": len(self.escalated)}


def _pending(target: str) -> ColumnElement[bool]:
    """Mentions still waiting on `target`: not closed, and (for first response) not answered."""
    m = Mention
    if target == "first_response":
        return and_(m.first_response_at.is_(None), m.resolved_at.is_(None), m.first_response_due_at.is_not(None),
                    m.first_response_breached_at.is_(None), m.status.not_in(CLOSED))
    return and_(m.resolved_at.is_(None), m.resolution_due_at.is_not(None), m.resolution_breached_at.is_(None),
                m.status.not_in(CLOSED))


def _due_column(target: str) -> InstrumentedAttribute[datetime | None]:
    return Mention.first_response_due_at if target == "first_response" else Mention.resolution_due_at


def team_lead(session: Session, team_id: int | None) -> User | None:
    """The lead a breached urgent item goes to: the team's first active lead, else any active lead."""
    leads = select(User).where(User.active.is_(True), User.role == "lead").order_by(User.id)
    if team_id is not None:
        own = session.scalars(leads.where(User.team_id == team_id).limit(1)).first()
        if own is not None:
            return own
    return session.scalars(leads.limit(1)).first()


def check_deadlines(session: Session, *, now: datetime | None = None, limit: int = 1000) -> CheckResult:
    """Raise priority as deadlines near, flag breaches, escalate breached urgent items to the team lead."""
    now = now or utcnow()
    result = CheckResult()
    deadlines = Deadlines(session)
    teams = {t.id: t for t in session.scalars(select(Team))}
    for target in TARGETS:
        due_col = _due_column(target)
        # Breaches first: an item past due should not also be told its deadline is near.
        overdue = session.execute(
            select(Mention.id, due_col.label("due"), Mention.urgent, Mention.queue_id, Mention.escalated_at)
            .where(_pending(target), due_col <= now).order_by(due_col, Mention.id).limit(limit)
        ).all()
        for row in overdue:
            if not flag_sla_breach(session, row.id, target, row.due, points=BREACH_POINTS, now=now):
                continue
            result.breached.append(row.id)
            team_id = deadlines.team_for(row.queue_id)
            team = teams.get(team_id) if team_id is not None else None
            if (target == "first_response" and row.escalated_at is None
                    and deadlines.is_urgent(urgent=row.urgent, queue_id=row.queue_id)
                    and (team is None or team.escalate_breached_urgent)):
                lead = team_lead(session, team.id if team else None)
                if lead is not None and escalate_breached(session, row.id, lead, row.due, now=now):
                    result.escalated.append(row.id)
        already = exists().where(Event.mention_id == Mention.id, Event.action == DEADLINE_NEAR,
                                 Event.to_state == target)
        upcoming = session.execute(
            select(Mention.id, Mention.posted_at, due_col.label("due"))
            .where(_pending(target), due_col > now, ~already).order_by(due_col, Mention.id)
        ).all()
        for item in upcoming:
            if len(result.near) >= limit:
                break
            if stage(item.due, item.posted_at, now) != "near":
                continue
            if note_deadline_near(session, item.id, target, item.due, points=NEAR_POINTS, now=now):
                result.near.append(item.id)
    return result
