"""Handing an item on: escalating it up (a lead, a supervisor) or across (a queue), and a lead assigning items.

Transitions as in triage.work.transitions; the people told get a notification in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triage.core.errors import Conflict, Invalid, NotFound, WorkflowError
from triage.core.locking import write_lock
from triage.core.roles import ESCALATION_ROLES, LEADS, WORKERS, require
from triage.core.vocabulary import WORKABLE
from triage.db import utcnow
from triage.intake.posts import clean_text
from triage.models import Mention, Notification, Queue, User
from triage.work.claims import hold_for_action
from triage.work.transitions import NO_CLAIM, claim_values, get_mention, username_of, write_event


@dataclass
class Target:
    label: str
    user: User | None = None
    queue: Queue | None = None
    notify: list[User] = field(default_factory=list)


def escalation_targets(session: Session, user: User) -> list[tuple[str, str]]:
    """(value, label) choices for the escalate form: leads, supervisors, then queues."""
    people = session.scalars(select(User).where(User.active.is_(True), User.role.in_(ESCALATION_ROLES),
                                                User.id != user.id).order_by(User.role, User.display_name))
    queues = session.scalars(select(Queue).order_by(Queue.position))
    return ([(p.username, f"{p.display_name} ({p.role})") for p in people]
            + [(f"queue:{q.slug}", f"Queue: {q.name}") for q in queues])


def _resolve_target(session: Session, user: User, to: str) -> Target:
    to = (to or "").strip()
    if not to:
        raise Invalid("say whom to escalate to: 'lead', 'supervisor', a username or 'queue:<name>'")
    if to.startswith("queue:"):
        queue = session.scalar(select(Queue).where(Queue.slug == to[6:]))
        if queue is None:
            raise Invalid(f"there is no queue '{to[6:]}'")
        leads = select(User).where(User.active.is_(True), User.role == "lead")
        if queue.team_id:
            leads = leads.where(User.team_id == queue.team_id)
        return Target(f"queue {queue.name}", queue=queue, notify=list(session.scalars(leads)))
    if to in ESCALATION_ROLES:
        query = select(User).where(User.active.is_(True), User.role == to, User.id != user.id)
        # Prefer the escalating person's own team.
        query = query.order_by((User.team_id == user.team_id).desc(), User.id) if user.team_id else query
        person = session.scalars(query.limit(1)).first()
        if person is None:
            raise Invalid(f"there is no active {to} to escalate to")
    else:
        person = session.scalar(select(User).where(User.username == to.lower(), User.active.is_(True)))
        if person is None:
            raise Invalid(f"there is no active user '{to}'")
        if not person.can(*ESCALATION_ROLES):
            raise Invalid(f"{person.display_name} is an {person.role}; escalate to a lead, a supervisor or a queue")
    return Target(f"{person.display_name} ({person.role})", user=person, notify=[person])


def escalate(session: Session, mention_id: int, user: User, to: str, reason: str, *,
             now: datetime | None = None) -> Mention:
    """Hand a mention up (a lead or supervisor) or across (another team's queue), with a reason."""
    require(user, WORKERS, "work items")
    now = now or utcnow()
    reason = clean_text(reason or "")
    if not reason:
        raise Invalid("give a reason for the escalation")
    write_lock(session)
    mention = get_mention(session, mention_id)
    target = _resolve_target(session, user, to)
    hold_for_action(session, mention, user, now, allow_lead=True)
    before_queue = mention.queue.slug if mention.queue else None
    values: dict[str, Any] = {"escalated_at": now, "escalated_by_id": user.id, "escalation_reason": reason,
                              "escalated_to_id": target.user.id if target.user else None, **NO_CLAIM}
    if target.user:
        values["owner_id"] = target.user.id
    if target.queue:
        values["queue_id"] = target.queue.id
    session.execute(update(Mention).where(Mention.id == mention_id).values(**values))
    write_event(session, mention_id, user, "escalated", before_queue, target.label, reason=reason, now=now, to=to)
    for person in target.notify:
        session.add(Notification(user_id=person.id, mention_id=mention_id, kind="escalation", created_at=now,
                                 message=f"{user.display_name} escalated a mention to {target.label}: {reason}"))
    return get_mention(session, mention_id)


@dataclass
class AssignResult:
    assigned: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def assign(session: Session, mention_ids: list[int], lead: User, username: str, *,
           now: datetime | None = None) -> AssignResult:
    """A lead makes someone the owner and holder of one or many mentions; closed ones are skipped, with why."""
    require(lead, LEADS, "assign items")
    now = now or utcnow()
    assignee = session.scalar(select(User).where(User.username == (username or "").strip().lower(),
                                                 User.active.is_(True)))
    if assignee is None:
        raise Invalid(f"there is no active user '{username}'")
    if not assignee.can(*WORKERS):
        raise Invalid(f"{assignee.display_name} is a {assignee.role} and does not work items")
    if not mention_ids:
        raise Invalid("choose at least one mention")
    write_lock(session)
    result = AssignResult()
    for mention_id in dict.fromkeys(mention_ids):
        mention = session.get(Mention, mention_id, populate_existing=True)
        if mention is None:
            result.skipped[mention_id] = "no such mention"
            continue
        if mention.status not in WORKABLE:
            result.skipped[mention_id] = f"it is {mention.status}"
            continue
        previous = mention.owner_id
        session.execute(update(Mention).where(Mention.id == mention_id).values(
            owner_id=assignee.id, **claim_values(assignee, now)))
        write_event(session, mention_id, lead, "assigned", username_of(session, previous), assignee.username, now=now)
        result.assigned.append(mention_id)
    if result.assigned and assignee.id != lead.id:
        count = len(result.assigned)
        session.add(Notification(user_id=assignee.id, mention_id=result.assigned[0], kind="assignment", created_at=now,
                                 message=f"{lead.display_name} assigned you {count} mention{'s' if count > 1 else ''}"))
    if len(mention_ids) == 1 and result.skipped:
        [(mention_id, why)] = result.skipped.items()
        error: type[WorkflowError] = NotFound if why == "no such mention" else Conflict
        raise error(f"mention {mention_id} was not assigned: {why}")
    return result
