"""Holding an item: claim it, claim the next one, release it, and claims left idle or by people leaving.

A claim says who is answering an item, so nobody else does. Transitions as in triage.work.transitions.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from triage.core.errors import Conflict
from triage.core.locking import rows_changed, write_lock
from triage.core.roles import LEADS, WORKERS, require
from triage.core.vocabulary import CLOSED, WORKABLE
from triage.db import is_postgres, utcnow
from triage.models import Mention, User
from triage.work.queues import IS_CLAIMABLE
from triage.work.transitions import (
    NO_CLAIM,
    claim_values,
    explain_refusal,
    get_mention,
    holder_name,
    username_of,
    write_event,
)

DEFAULT_IDLE_MINUTES = 15
WORK = "work items"


def claim(session: Session, mention_id: int, user: User, *, now: datetime | None = None,
          idle_minutes: int = DEFAULT_IDLE_MINUTES) -> Mention:
    """Hold a mention so nobody else answers it. Taking over a claim left idle is allowed."""
    require(user, WORKERS, WORK)
    now = now or utcnow()
    stale = now - timedelta(minutes=idle_minutes)
    write_lock(session)
    before = get_mention(session, mention_id)
    previous = before.claimed_by_id
    if previous == user.id:
        session.execute(update(Mention).where(Mention.id == mention_id).values(claim_touched_at=now))
        return get_mention(session, mention_id)
    holder_matches = Mention.claimed_by_id.is_(None) if previous is None else and_(
        Mention.claimed_by_id == previous, Mention.claim_touched_at < stale)
    done = rows_changed(session, update(Mention).where(Mention.id == mention_id, Mention.status.in_(WORKABLE),
                                                       holder_matches).values(**claim_values(user, now)))
    if not done:
        raise explain_refusal(session, mention_id, user)
    took_over: dict[str, Any] = {"took_over_idle_claim": True} if previous else {}
    write_event(session, mention_id, user, "claimed", username_of(session, previous), user.username, now=now,
                **took_over)
    return get_mention(session, mention_id)


def claim_next(session: Session, queue_id: int, user: User, *, now: datetime | None = None) -> Mention | None:
    """Claim the top unclaimed open mention of a queue (priority, then longest waiting); None when empty."""
    require(user, WORKERS, WORK)
    now = now or utcnow()
    write_lock(session)
    top = (
        select(Mention.id)
        .where(Mention.queue_id == queue_id, IS_CLAIMABLE)  # read off the partial index ix_mentions_claimable
        .order_by(Mention.priority.desc(), Mention.posted_at, Mention.id)
        .limit(1)
    )
    if is_postgres(session):
        # Claimers skip rows another transaction is claiming instead of queueing behind it.
        top = top.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(Mention).where(Mention.id == top.scalar_subquery(), Mention.claimed_by_id.is_(None))
        .values(**claim_values(user, now)).returning(Mention.id)
    ).scalar()
    if claimed is None:
        return None
    write_event(session, claimed, user, "claimed", None, user.username, now=now, via="next")
    return get_mention(session, claimed)


def release(session: Session, mention_id: int, user: User, *, now: datetime | None = None) -> Mention:
    """Give a claim back; leads can release anyone's."""
    require(user, WORKERS, WORK)
    now = now or utcnow()
    write_lock(session)
    mention = get_mention(session, mention_id)
    holder = mention.claimed_by_id
    if holder is None:
        raise Conflict("nobody holds this mention")
    if holder != user.id:
        require(user, LEADS, "release someone else's claim")
    done = rows_changed(session, update(Mention).where(Mention.id == mention_id, Mention.claimed_by_id == holder)
                        .values(**NO_CLAIM))
    if not done:
        raise Conflict("the claim changed a moment ago; look again")
    write_event(session, mention_id, user, "released", username_of(session, holder), None, now=now)
    return get_mention(session, mention_id)


def hold_for_action(session: Session, mention: Mention, user: User, now: datetime, *, allow_lead: bool) -> None:
    """An action on an item needs its claim: taken here when free, refused when someone else holds it."""
    if mention.status in CLOSED:
        raise Conflict(f"this mention is {mention.status}; reopen it first")
    holder = mention.claimed_by_id
    if holder == user.id:
        session.execute(update(Mention).where(Mention.id == mention.id).values(claim_touched_at=now))
        return
    if holder is not None and not (allow_lead and user.can(*LEADS)):
        raise Conflict(f"{holder_name(session, holder)} is working on this mention; "
                       "ask them, or a lead, to release it")
    if holder is None:
        claim(session, mention.id, user, now=now)


def expire_idle_claims(session: Session, *, idle_minutes: int = DEFAULT_IDLE_MINUTES,
                       now: datetime | None = None) -> list[int]:
    """Release claims left idle longer than `idle_minutes` (run by the scheduler every minute)."""
    now = now or utcnow()
    stale = now - timedelta(minutes=idle_minutes)
    write_lock(session)
    rows = session.execute(
        update(Mention).where(Mention.claimed_by_id.is_not(None), Mention.claim_touched_at < stale)
        .values(**NO_CLAIM).returning(Mention.id)
    ).scalars().all()
    for mention_id in rows:
        write_event(session, mention_id, None, "claim expired", None, None, now=now, idle_minutes=idle_minutes)
    return list(rows)


def release_all(session: Session, person: User, admin: User | None, *, now: datetime | None = None) -> list[int]:
    """Hand back every claim a departing person holds (their items return to the queues), with events."""
    now = now or utcnow()
    write_lock(session)
    rows = session.execute(
        update(Mention).where(Mention.claimed_by_id == person.id).values(**NO_CLAIM).returning(Mention.id)
    ).scalars().all()
    for mention_id in rows:
        write_event(session, mention_id, admin, "released", person.username, None, reason="account deactivated",
                    now=now)
    return list(rows)

