"""What a new install starts with: the default queues and routing, and the demo team and source."""
from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.models import Queue, RoutingRule, SlaPolicy, Source, User
from triage.people.accounts import add_user

QUEUES = (
    ("urgent", "Urgent", "Safety, security, legal or press risk, and anything scoring 75 or more"),
    ("complaints", "Complaints", "Something went wrong for a customer"),
    ("questions", "Questions", "Someone is waiting for an answer"),
    ("advocacy", "Advocacy", "Fans and praise: thank them, reward them"),
    ("other", "Other", "Chatter and everything no rule claimed"),
)
# (queue slug, conditions), in order: the first match wins.
RULES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("urgent", {"urgent": True}),
    ("urgent", {"min_priority": 75}),
    ("complaints", {"intent": "complaint"}),
    ("questions", {"intent": "question"}),
    ("advocacy", {"intent": "advocacy"}),
)
# (name, conditions, first response minutes, resolution minutes), first match wins.
SLA_POLICIES: tuple[tuple[str, dict[str, Any], int, int], ...] = (
    ("Urgent", {"urgent": True}, 30, 4 * 60),
    ("Complaint", {"intent": "complaint"}, 60, 24 * 60),
    ("Question", {"intent": "question"}, 2 * 60, 24 * 60),
    ("Advocacy", {"intent": "advocacy"}, 24 * 60, 72 * 60),
)
DEMO_TEAM = (
    ("admin", "admin", "Avery Admin"),
    ("lead", "lead", "Lee Lead"),
    ("supervisor", "supervisor", "Sam Supervisor"),
    ("alex", "agent", "Alex Agent"),
    ("jordan", "agent", "Jordan Agent"),
)


def ensure_queues(session: Session) -> None:
    """Create the default queues and routing rules on a database that has none."""
    if session.scalar(select(Queue.id).limit(1)) is not None:
        return
    by_slug: dict[str, Queue] = {}
    for position, (slug, name, description) in enumerate(QUEUES):
        by_slug[slug] = Queue(slug=slug, name=name, description=description, position=position)
        session.add(by_slug[slug])
    session.flush()
    for position, (slug, conditions) in enumerate(RULES):
        session.add(RoutingRule(position=position, queue_id=by_slug[slug].id, **conditions))
    session.flush()


def ensure_sla_policies(session: Session) -> None:
    """Create the default service levels on a database that has none."""
    if session.scalar(select(SlaPolicy.id).limit(1)) is not None:
        return
    for position, (name, conditions, first, resolution) in enumerate(SLA_POLICIES):
        session.add(SlaPolicy(name=name, position=position, first_response_minutes=first,
                              resolution_minutes=resolution, business_hours=False, **conditions))
    session.flush()


def ensure_demo_team(session: Session) -> list[tuple[str, str, str]]:
    """Create the demo team on a database with no users; returns (username, role, password) once."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return []
    created: list[tuple[str, str, str]] = []
    for username, role, name in DEMO_TEAM:
        password = secrets.token_urlsafe(9)
        add_user(session, username, password, role=role, display_name=name, team="Social care")
        created.append((username, role, password))
    return created


def ensure_demo_source(session: Session) -> Source:
    source = session.scalar(select(Source).where(Source.kind == "demo"))
    if source is None:
        source = Source(kind="demo", name="Demo stream", interval_seconds=4,
                        config={"brand": "Northwind", "backfill": 20}, brand_handles=["northwind", "northwindhelp"],
                        cursor={})
        session.add(source)
        session.flush()
    return source

