"""Every change to a mention in the team's hands, as an explicit transition.

Each function checks the actor's role, changes the mention with a conditional UPDATE (so two people
racing are decided by the database, not by whoever read first), and writes its audit event in the
same transaction. The caller commits. There is no other code path that changes a mention's state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from triage.db import MAX_ROW_ID, utcnow
from triage.models import Event, Label, Mention, Notification, Queue, Response, SavedReply, User
from triage.models.mentions import ANSWERED, CLOSED, IRRELEVANT, OPEN, RESOLVED, SPAM, WORKABLE
from triage.posts import clean_text
from triage.queues import IS_CLAIMABLE

WORKERS = ("agent", "lead")  # roles that work items; admins can do anything, supervisors audit
LEADS = ("lead",)
REPLY_LIMITS = {"x": 280, "twitter": 280, "bluesky": 300, "mastodon": 500, "threads": 500, "instagram": 2200,
                "tiktok": 2200, "facebook": 8000, "linkedin": 1250, "reddit": 10000, "youtube": 10000}
DEFAULT_REPLY_LIMIT = 5000
NOTE_LIMIT = 10_000
DEFAULT_IDLE_MINUTES = 15


class WorkflowError(Exception):
    """A transition that was refused; `status` is the HTTP status that says why."""

    status = 409


class NotFound(WorkflowError):
    status = 404


class Forbidden(WorkflowError):
    status = 403


class Invalid(WorkflowError):
    status = 400


class Conflict(WorkflowError):
    status = 409


def write_lock(session: Session) -> None:
    """On SQLite, take the database's write lock now, so what we read is still true when we write.

    PostgreSQL needs nothing here: its row locks and conditional UPDATEs decide races.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    raw = session.connection().connection.driver_connection
    if not raw.in_transaction:
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def _require(user: User, *roles: str) -> None:
    if not user.can(*roles):
        raise Forbidden(f"a {user.role} cannot do this; it needs the role {' or '.join(roles)}")


def _get(session: Session, mention_id: int) -> Mention:
    mention = session.get(Mention, mention_id, populate_existing=True)
    if mention is None:
        raise NotFound(f"there is no mention {mention_id}")
    return mention


def _event(session: Session, mention_id: int, actor: User | None, action: str, from_state: str | None,
           to_state: str | None, *, reason: str | None = None, now: datetime, **detail) -> None:
    session.add(Event(mention_id=mention_id, actor_id=actor.id if actor else None, action=action,
                      from_state=from_state, to_state=to_state, reason=reason, detail=detail, created_at=now))


def _holder_name(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.display_name).where(User.id == user_id)) if user_id else None


def _username(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.username).where(User.id == user_id)) if user_id else None


def _explain_refusal(session: Session, mention_id: int, user: User) -> WorkflowError:
    """Say precisely why a conditional UPDATE matched nothing."""
    mention = session.get(Mention, mention_id, populate_existing=True)
    if mention is None:
        return NotFound(f"there is no mention {mention_id}")
    if mention.status in CLOSED:
        return Conflict(f"this mention is {mention.status}; reopen it first")
    if mention.status not in WORKABLE:
        return Conflict("this mention is not tagged and queued yet")
    if mention.claimed_by_id not in (None, user.id):
        return Conflict(f"{_holder_name(session, mention.claimed_by_id)} is working on this mention")
    return Conflict("someone else changed this mention a moment ago; look again")


def _claim_values(user: User, now: datetime) -> dict:
    return {
        "claimed_by_id": user.id, "claimed_at": now, "claim_touched_at": now,
        "first_claimed_at": func.coalesce(Mention.first_claimed_at, now),
    }


def claim(session: Session, mention_id: int, user: User, *, now: datetime | None = None,
          idle_minutes: int = DEFAULT_IDLE_MINUTES) -> Mention:
    """Hold a mention so nobody else answers it. Taking over a claim left idle is allowed."""
    _require(user, *WORKERS)
    now = now or utcnow()
    stale = now - timedelta(minutes=idle_minutes)
    write_lock(session)
    before = _get(session, mention_id)
    previous = before.claimed_by_id
    if previous == user.id:
        session.execute(update(Mention).where(Mention.id == mention_id).values(claim_touched_at=now))
        return _get(session, mention_id)
    holder_matches = Mention.claimed_by_id.is_(None) if previous is None else and_(
        Mention.claimed_by_id == previous, Mention.claim_touched_at < stale)
    done = session.execute(
        update(Mention).where(Mention.id == mention_id, Mention.status.in_(WORKABLE), holder_matches)
        .values(**_claim_values(user, now))
    ).rowcount
    if not done:
        raise _explain_refusal(session, mention_id, user)
    _event(session, mention_id, user, "claimed", _username(session, previous), user.username, now=now,
           **({"took_over_idle_claim": True} if previous else {}))
    return _get(session, mention_id)


def claim_next(session: Session, queue_id: int, user: User, *, now: datetime | None = None) -> Mention | None:
    """Claim the top unclaimed open mention of a queue (priority, then longest waiting); None when empty."""
    _require(user, *WORKERS)
    now = now or utcnow()
    write_lock(session)
    top = (
        select(Mention.id)
        .where(Mention.queue_id == queue_id, IS_CLAIMABLE)  # read off the partial index ix_mentions_claimable
        .order_by(Mention.priority.desc(), Mention.posted_at, Mention.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Claimers skip rows another transaction is claiming instead of queueing behind it.
        top = top.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(Mention).where(Mention.id == top.scalar_subquery(), Mention.claimed_by_id.is_(None))
        .values(**_claim_values(user, now)).returning(Mention.id)
    ).scalar()
    if claimed is None:
        return None
    _event(session, claimed, user, "claimed", None, user.username, now=now, via="next")
    return _get(session, claimed)


def release(session: Session, mention_id: int, user: User, *, now: datetime | None = None) -> Mention:
    """Give a claim back; leads can release anyone's."""
    _require(user, *WORKERS)
    now = now or utcnow()
    write_lock(session)
    mention = _get(session, mention_id)
    holder = mention.claimed_by_id
    if holder is None:
        raise Conflict("nobody holds this mention")
    if holder != user.id:
        _require(user, *LEADS)
    done = session.execute(update(Mention).where(Mention.id == mention_id, Mention.claimed_by_id == holder)
                           .values(claimed_by_id=None, claimed_at=None, claim_touched_at=None)).rowcount
    if not done:
        raise Conflict("the claim changed a moment ago; look again")
    _event(session, mention_id, user, "released", _username(session, holder), None, now=now)
    return _get(session, mention_id)


def _hold_for_action(session: Session, mention: Mention, user: User, now: datetime, *, allow_lead: bool) -> None:
    """An action on an item needs its claim: taken here when free, refused when someone else holds it."""
    if mention.status in CLOSED:
        raise Conflict(f"this mention is {mention.status}; reopen it first")
    holder = mention.claimed_by_id
    if holder == user.id:
        session.execute(update(Mention).where(Mention.id == mention.id).values(claim_touched_at=now))
        return
    if holder is not None and not (allow_lead and user.can(*LEADS)):
        raise Conflict(f"{_holder_name(session, holder)} is working on this mention; "
                       "ask them, or a lead, to release it")
    if holder is None:
        claim(session, mention.id, user, now=now)


def reply_limit(network: str) -> int:
    return REPLY_LIMITS.get(network, DEFAULT_REPLY_LIMIT)


def fill_placeholders(body: str, mention: Mention, agent: User) -> str:
    """Saved-reply placeholders: {author} (the @handle), {name}, {agent}, {network}; others stay as written."""
    values = {"author": "@" + mention.author.handle, "name": mention.author.display_name or mention.author.handle,
              "agent": agent.display_name, "network": mention.network}

    class Keep(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    try:
        return body.format_map(Keep(values))
    except (ValueError, IndexError):  # stray braces in a saved reply: use it as written
        return body


def reply(session: Session, mention_id: int, user: User, text: str, *, saved_reply_id: int | None = None,
          now: datetime | None = None) -> Response:
    """Answer a mention. The reply is delivered by a job (see workers.jobs.send_response) after commit."""
    _require(user, *WORKERS)
    now = now or utcnow()
    text = clean_text(text or "")
    write_lock(session)
    mention = _get(session, mention_id)
    if not text:
        raise Invalid("the reply is empty")
    limit = reply_limit(mention.network)
    if len(text) > limit:
        raise Invalid(f"the reply is {len(text):,} characters; {mention.network} allows {limit:,}")
    if saved_reply_id is not None and not (0 < saved_reply_id <= MAX_ROW_ID
                                           and session.get(SavedReply, saved_reply_id) is not None):
        raise Invalid(f"there is no saved reply {saved_reply_id}")
    _hold_for_action(session, mention, user, now, allow_lead=False)
    response = Response(mention_id=mention_id, user_id=user.id, text=text, origin="app", network=mention.network,
                        created_at=now, delivery_status="pending")
    session.add(response)
    before = mention.status
    session.execute(update(Mention).where(Mention.id == mention_id).values(
        status=ANSWERED, first_response_at=func.coalesce(Mention.first_response_at, now)))
    if saved_reply_id:
        session.execute(update(SavedReply).where(SavedReply.id == saved_reply_id).values(uses=SavedReply.uses + 1))
    session.flush()
    _event(session, mention_id, user, "replied", before, ANSWERED, now=now, response_id=response.id,
           **({"saved_reply_id": saved_reply_id} if saved_reply_id else {}))
    return response


def _close(session: Session, mention_id: int, user: User, status: str, action: str, now: datetime | None,
           reason: str | None = None) -> Mention:
    _require(user, *WORKERS)
    now = now or utcnow()
    write_lock(session)
    mention = _get(session, mention_id)
    _hold_for_action(session, mention, user, now, allow_lead=True)
    before = mention.status
    session.execute(update(Mention).where(Mention.id == mention_id).values(
        status=status, resolved_at=now, claimed_by_id=None, claimed_at=None, claim_touched_at=None))
    _event(session, mention_id, user, action, before, status, reason=reason, now=now)
    return _get(session, mention_id)


def resolve(session: Session, mention_id: int, user: User, *, now: datetime | None = None) -> Mention:
    return _close(session, mention_id, user, RESOLVED, "resolved", now)


def mark_spam(session: Session, mention_id: int, user: User, *, now: datetime | None = None) -> Mention:
    return _close(session, mention_id, user, SPAM, "marked spam", now)


def mark_irrelevant(session: Session, mention_id: int, user: User, *, now: datetime | None = None) -> Mention:
    return _close(session, mention_id, user, IRRELEVANT, "marked not relevant", now)


def reopen(session: Session, mention_id: int, user: User, *, now: datetime | None = None) -> Mention:
    _require(user, *WORKERS)
    now = now or utcnow()
    write_lock(session)
    mention = _get(session, mention_id)
    if mention.status not in CLOSED:
        raise Conflict(f"this mention is {mention.status}, not closed")
    before, after = mention.status, ANSWERED if mention.first_response_at else OPEN
    done = session.execute(update(Mention).where(Mention.id == mention_id, Mention.status == before)
                           .values(status=after, resolved_at=None)).rowcount
    if not done:
        raise Conflict("someone else changed this mention a moment ago; look again")
    _event(session, mention_id, user, "reopened", before, after, now=now)
    return _get(session, mention_id)


def add_note(session: Session, mention_id: int, user: User, text: str, *, now: datetime | None = None) -> None:
    """An internal note for the team; never sent to the customer. Anyone on the team can write one."""
    now = now or utcnow()
    text = clean_text(text or "")
    if not text:
        raise Invalid("the note is empty")
    if len(text) > NOTE_LIMIT:
        raise Invalid(f"the note is {len(text):,} characters; notes hold up to {NOTE_LIMIT:,}")
    _get(session, mention_id)
    _event(session, mention_id, user, "note", None, None, reason=text, now=now)


@dataclass
class Target:
    label: str
    user: User | None = None
    queue: Queue | None = None
    notify: list[User] = field(default_factory=list)


def escalation_targets(session: Session, user: User) -> list[tuple[str, str]]:
    """(value, label) choices for the escalate form: leads, supervisors, then queues."""
    people = session.scalars(select(User).where(User.active.is_(True), User.role.in_(("lead", "supervisor")),
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
    if to in ("lead", "supervisor"):
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
        if not person.can("lead", "supervisor"):
            raise Invalid(f"{person.display_name} is an {person.role}; escalate to a lead, a supervisor or a queue")
    return Target(f"{person.display_name} ({person.role})", user=person, notify=[person])


def escalate(session: Session, mention_id: int, user: User, to: str, reason: str, *,
             now: datetime | None = None) -> Mention:
    """Hand a mention up (a lead or supervisor) or across (another team's queue), with a reason."""
    _require(user, *WORKERS)
    now = now or utcnow()
    reason = clean_text(reason or "")
    if not reason:
        raise Invalid("give a reason for the escalation")
    write_lock(session)
    mention = _get(session, mention_id)
    target = _resolve_target(session, user, to)
    _hold_for_action(session, mention, user, now, allow_lead=True)
    before_queue = mention.queue.slug if mention.queue else None
    values = {"escalated_at": now, "escalated_by_id": user.id, "escalation_reason": reason,
              "escalated_to_id": target.user.id if target.user else None,
              "claimed_by_id": None, "claimed_at": None, "claim_touched_at": None}
    if target.user:
        values["owner_id"] = target.user.id
    if target.queue:
        values["queue_id"] = target.queue.id
    session.execute(update(Mention).where(Mention.id == mention_id).values(**values))
    _event(session, mention_id, user, "escalated", before_queue, target.label, reason=reason, now=now,
           to=to)
    for person in target.notify:
        session.add(Notification(user_id=person.id, mention_id=mention_id, kind="escalation", created_at=now,
                                 message=f"{user.display_name} escalated a mention to {target.label}: {reason}"))
    return _get(session, mention_id)


@dataclass
class AssignResult:
    assigned: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def assign(session: Session, mention_ids: list[int], lead: User, username: str, *,
           now: datetime | None = None) -> AssignResult:
    """A lead makes someone the owner and holder of one or many mentions; closed ones are skipped, with why."""
    _require(lead, *LEADS)
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
            owner_id=assignee.id, **_claim_values(assignee, now)))
        _event(session, mention_id, lead, "assigned", _username(session, previous), assignee.username, now=now)
        result.assigned.append(mention_id)
    if result.assigned and assignee.id != lead.id:
        count = len(result.assigned)
        session.add(Notification(user_id=assignee.id, mention_id=result.assigned[0], kind="assignment", created_at=now,
                                 message=f"{lead.display_name} assigned you {count} mention{'s' if count > 1 else ''}"))
    if len(mention_ids) == 1 and result.skipped:
        [(mention_id, why)] = result.skipped.items()
        raise (NotFound if why == "no such mention" else Conflict)(f"mention {mention_id} was not assigned: {why}")
    return result


def relabel(session: Session, mention_id: int, user: User, *, sentiment: str | None = None,
            intent: str | None = None, now: datetime | None = None) -> Mention:
    """Correct the tags; the correction is kept as a label the classifier learns from."""
    from triage.classifier import INTENTS, SENTIMENTS

    _require(user, *WORKERS)
    now = now or utcnow()
    if sentiment is None and intent is None:
        raise Invalid("give a sentiment or an intent")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise Invalid(f"sentiment must be one of {', '.join(SENTIMENTS)}")
    if intent is not None and intent not in INTENTS:
        raise Invalid(f"intent must be one of {', '.join(INTENTS)}")
    mention = _get(session, mention_id)
    before = f"{mention.intent}/{mention.sentiment}"
    values = _retagged(session, mention, user, sentiment=sentiment, intent=intent)
    moves = {}
    if values["priority"] != mention.priority:
        moves["priority"] = [mention.priority, values["priority"]]
    if values["queue_id"] != mention.queue_id:
        names = dict(session.execute(select(Queue.id, Queue.name).where(
            Queue.id.in_([q for q in (mention.queue_id, values["queue_id"]) if q is not None]))).all())
        moves["queue"] = [names.get(mention.queue_id), names.get(values["queue_id"])]
    after = f"{intent or mention.intent}/{sentiment or mention.sentiment}"
    session.execute(update(Mention).where(Mention.id == mention_id).values(**values))
    session.add(Label(mention_id=mention_id, text=mention.text, sentiment=sentiment, intent=intent,
                      origin="correction", user_id=user.id, created_at=now))
    _event(session, mention_id, user, "relabeled", before, after, now=now, **moves)
    return _get(session, mention_id)


def _retagged(session: Session, mention: Mention, user: User, *, sentiment: str | None,
              intent: str | None) -> dict:
    """What a person's tags change: the tags (a person is sure), the priority and its reasons, and, unless the
    item was escalated on purpose or is closed, its queue and deadlines, as if it had been tagged so at first."""
    from triage import priority, sla
    from triage.routing import Router

    values: dict = {"cues": [f"tags set by {user.display_name}",
                             *[c for c in mention.cues or [] if not c.startswith("tags set by ")]][:8]}
    if sentiment is not None:
        values.update(sentiment=sentiment, sentiment_confidence=1.0,
                      polarity=_polarity_agreeing(sentiment, mention.polarity or 0.0))
    if intent is not None:
        values.update(intent=intent, intent_confidence=1.0)
    intent = intent or mention.intent or "other"
    sentiment = sentiment or mention.sentiment or "neutral"
    intent_confidence = values.get("intent_confidence", mention.intent_confidence or 0.0)
    rank = priority.score(
        text=mention.text, intent=intent, intent_confidence=intent_confidence, sentiment=sentiment,
        polarity=values.get("polarity", mention.polarity or 0.0), followers=mention.author.followers,
        posted_at=mention.posted_at,
        now=mention.tagged_at or mention.posted_at)
    values.update(priority=rank.score, priority_reasons=rank.reasons, urgent=rank.urgent, queue_id=mention.queue_id)
    if mention.escalated_at is None and mention.status not in CLOSED:
        values["queue_id"] = Router(session).route(intent=intent, sentiment=sentiment, network=mention.network,
                                                   priority=rank.score, urgent=rank.urgent)
        first_due, resolution_due = sla.Deadlines(session).due(start=mention.posted_at, intent=intent,
                                                               urgent=rank.urgent, queue_id=values["queue_id"])
        if mention.first_response_at is None:
            values["first_response_due_at"] = first_due
        values["resolution_due_at"] = resolution_due
    return values


def _polarity_agreeing(sentiment: str, polarity: float) -> float:
    """The polarity kept beside a person's sentiment: the machine's, unless it points the other way (a corrected
    "positive" must not keep a negative tone's priority points or show "-0.40" on its chip); neutral has none."""
    if sentiment == "negative":
        return polarity if polarity < 0 else -0.5
    if sentiment == "positive":
        return polarity if polarity > 0 else 0.5
    return 0.0


def expire_idle_claims(session: Session, *, idle_minutes: int = DEFAULT_IDLE_MINUTES,
                       now: datetime | None = None) -> list[int]:
    """Release claims left idle longer than `idle_minutes` (run by the scheduler every minute)."""
    now = now or utcnow()
    stale = now - timedelta(minutes=idle_minutes)
    write_lock(session)
    rows = session.execute(
        update(Mention).where(Mention.claimed_by_id.is_not(None), Mention.claim_touched_at < stale)
        .values(claimed_by_id=None, claimed_at=None, claim_touched_at=None)
        .returning(Mention.id, Mention.owner_id)
    ).all()
    for mention_id, _owner in rows:
        _event(session, mention_id, None, "claim expired", None, None, now=now, idle_minutes=idle_minutes)
    return [r[0] for r in rows]


def release_all(session: Session, person: User, admin: User, *, now: datetime | None = None) -> list[int]:
    """Hand back every claim a departing person holds (their items return to the queues), with events."""
    now = now or utcnow()
    write_lock(session)
    rows = session.execute(
        update(Mention).where(Mention.claimed_by_id == person.id)
        .values(claimed_by_id=None, claimed_at=None, claim_touched_at=None).returning(Mention.id)
    ).scalars().all()
    for mention_id in rows:
        _event(session, mention_id, admin, "released", person.username, None, reason="account deactivated", now=now)
    return list(rows)


def holds(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(Mention).where(Mention.claimed_by_id == user.id)) or 0


def mine_clause(user: User):
    return or_(Mention.claimed_by_id == user.id, Mention.owner_id == user.id)


# System transitions for service levels (triage/sla.py decides which items; these change them).
DEADLINE_NEAR, SLA_BREACHED = "deadline near", "sla breached"
_SLA_NAMES = {"first_response": "first response", "resolution": "resolution"}


def _sla_pending(target: str):
    """The item still waits on `target` and its breach is not flagged yet."""
    if target == "first_response":
        return and_(Mention.first_response_at.is_(None), Mention.resolved_at.is_(None),
                    Mention.first_response_breached_at.is_(None), Mention.status.not_in(CLOSED))
    return and_(Mention.resolved_at.is_(None), Mention.resolution_breached_at.is_(None),
                Mention.status.not_in(CLOSED))


def _bump_priority(session: Session, mention_id: int, reason: dict, guard, values: dict | None = None) -> int | None:
    """Add a priority reason and its points in one conditional UPDATE; the new priority, or None if refused.

    The UPDATE also requires the priority read a moment ago, so two checks racing raise it only once.
    """
    row = session.execute(select(Mention.priority, Mention.priority_reasons).where(Mention.id == mention_id)).first()
    if row is None:
        return None
    reasons = sorted([*(row.priority_reasons or []), reason], key=lambda r: -r["points"])
    priority = max(0, min(100, row.priority + reason["points"]))
    done = session.execute(
        update(Mention).where(Mention.id == mention_id, Mention.priority == row.priority, guard)
        .values(priority=priority, priority_reasons=reasons, **(values or {}))
    ).rowcount
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
                                                    "detail": f"{_SLA_NAMES[target]} due in {left} min"},
                              _sla_pending(target))
    if priority is None:
        return False
    _event(session, mention_id, None, DEADLINE_NEAR, None, target, now=now,
           reason=f"{_SLA_NAMES[target]} due {due:%Y-%m-%d %H:%M} UTC", due=due.isoformat(), points=points,
           priority=priority)
    return True


def flag_sla_breach(session: Session, mention_id: int, target: str, due: datetime, *, points: int,
                    now: datetime | None = None) -> bool:
    """SYSTEM: the item missed its `target` (first_response or resolution): flag it and raise its priority."""
    now = now or utcnow()
    write_lock(session)
    column = "first_response_breached_at" if target == "first_response" else "resolution_breached_at"
    priority = _bump_priority(session, mention_id, {"factor": "overdue", "points": points,
                                                    "detail": f"{_SLA_NAMES[target]} was due {due:%d %b %H:%M} UTC"},
                              _sla_pending(target), {column: due})
    if priority is None:
        return False
    _event(session, mention_id, None, SLA_BREACHED, None, target, now=now,
           reason=f"{_SLA_NAMES[target]} was due {due:%Y-%m-%d %H:%M} UTC", due=due.isoformat(), points=points,
           priority=priority)
    return True


def escalate_breached(session: Session, mention_id: int, lead: User, due: datetime, *,
                      now: datetime | None = None) -> bool:
    """SYSTEM: an urgent item missed its first response: escalate it to the team lead and tell them.

    The holder keeps working on it; the lead is told and sees it among the items escalated to them.
    """
    now = now or utcnow()
    write_lock(session)
    mention = _get(session, mention_id)
    reason = f"urgent mention missed its first-response target (due {due:%Y-%m-%d %H:%M} UTC)"
    done = session.execute(
        update(Mention).where(Mention.id == mention_id, Mention.escalated_at.is_(None), Mention.status.not_in(CLOSED))
        .values(escalated_at=now, escalated_by_id=None, escalated_to_id=lead.id, escalation_reason=reason)
    ).rowcount
    if not done:
        return False
    label = f"{lead.display_name} ({lead.role})"
    _event(session, mention_id, None, "escalated", mention.queue.slug if mention.queue else None, label,
           reason=reason, now=now, to=lead.username, automatic=True)
    session.add(Notification(user_id=lead.id, mention_id=mention_id, kind="escalation", created_at=now,
                             message=f"Escalated to you automatically: {reason}"))
    return True
