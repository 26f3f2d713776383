"""Service levels: which target applies to a mention, when its answers are due, and how much time is left.

Due times are stamped on each mention when it is placed (triage.routing.placement); later policy edits apply to
new arrivals. This module sits below the work on a mention: the scheduled check (triage.sla.check) and the
settings (triage.sla.settings) build on it, and it imports neither.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.core.vocabulary import CLOSED
from triage.db import utcnow
from triage.models import Mention, Queue, SlaPolicy, Team
from triage.sla.clock import Calendar, wall_clock

URGENT_QUEUE = "urgent"  # mentions routed here (urgent words, or priority 75+) get the urgent policies
NEAR_FRACTION = 0.25  # a deadline "nears" (amber) when less than this share of its window is left
TARGETS = ("first_response", "resolution")
TARGET_NAMES = {"first_response": "first response", "resolution": "resolution"}


@dataclass(frozen=True)
class Policy:
    id: int
    name: str
    urgent: bool | None
    intent: str | None
    first_response_minutes: int
    resolution_minutes: int
    business_hours: bool

    def matches(self, *, intent: str | None, urgent: bool) -> bool:
        return (self.urgent is None or self.urgent == urgent) and (self.intent is None or self.intent == intent)


def load_policies(session: Session) -> list[Policy]:
    rows = session.scalars(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id))
    return [Policy(p.id, p.name, p.urgent, p.intent, p.first_response_minutes, p.resolution_minutes,
                   p.business_hours) for p in rows]


class Deadlines:
    """Policies, team calendars and queue → team loaded once, for a whole batch of mentions."""

    def __init__(self, session: Session):
        self.policies = load_policies(session)
        teams = list(session.scalars(select(Team).order_by(Team.id)))
        self.calendars = {t.id: Calendar.for_team(t) for t in teams}
        self.default_team = teams[0].id if teams else None  # queues with no team keep the first team's hours
        queues = session.execute(select(Queue.id, Queue.slug, Queue.team_id)).all()
        self.queue_team: dict[int, int | None] = {q.id: q.team_id for q in queues}
        self.urgent_queues = {q.id for q in queues if q.slug == URGENT_QUEUE}

    def team_for(self, queue_id: int | None) -> int | None:
        own = self.queue_team.get(queue_id) if queue_id is not None else None
        return own or self.default_team

    def is_urgent(self, *, urgent: bool, queue_id: int | None) -> bool:
        return bool(urgent) or queue_id in self.urgent_queues

    def policy_for(self, *, intent: str | None, urgent: bool, queue_id: int | None = None) -> Policy | None:
        band = self.is_urgent(urgent=urgent, queue_id=queue_id)
        return next((p for p in self.policies if p.matches(intent=intent, urgent=band)), None)

    def due(self, *, start: datetime, intent: str | None, urgent: bool, queue_id: int | None
            ) -> tuple[datetime | None, datetime | None]:
        """(first response due, resolution due); (None, None) when no policy applies."""
        policy = self.policy_for(intent=intent, urgent=urgent, queue_id=queue_id)
        if policy is None:
            return None, None
        if policy.business_hours:
            team = self.team_for(queue_id)
            calendar = (self.calendars.get(team) if team is not None else None) or Calendar()
            return calendar.add(start, policy.first_response_minutes), calendar.add(start, policy.resolution_minutes)
        return wall_clock(start, policy.first_response_minutes), wall_clock(start, policy.resolution_minutes)


# ------------------------------------------------------------------------------- time left and its colour


@dataclass(frozen=True)
class Status:
    target: str  # first_response or resolution
    stage: str  # ok, near, breached
    due: datetime
    left: timedelta  # negative once overdue

    @property
    def label(self) -> str:
        if self.stage == "breached":
            return f"overdue {duration(-self.left)}"
        return f"{duration(self.left)} left"

    @property
    def title(self) -> str:
        return f"{TARGET_NAMES[self.target].capitalize()} due {self.due:%Y-%m-%d %H:%M} UTC"


def duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} days"


def stage(due: datetime, start: datetime, now: datetime) -> str:
    if now >= due:
        return "breached"
    return "near" if due - now <= (due - start) * NEAR_FRACTION else "ok"


def status(mention: Mention, now: datetime | None = None) -> Status | None:
    """The deadline a person should watch on this item now: the first response, then the resolution."""
    now = now or utcnow()
    if mention.status in CLOSED or mention.resolved_at is not None:
        return None
    if mention.first_response_at is None and mention.first_response_due_at is not None:
        target, due = "first_response", mention.first_response_due_at
    elif mention.resolution_due_at is not None:
        target, due = "resolution", mention.resolution_due_at
    else:
        return None
    return Status(target, stage(due, mention.posted_at, now), due, due - now)
