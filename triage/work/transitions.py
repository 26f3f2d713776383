"""Every change to a mention in the team's hands, as an explicit transition; this module holds what they share.

The transitions live one module per idea: claims.py (claim, claim next, release, idle claims), replies.py (reply,
resolve, spam, not relevant, reopen, notes), escalation.py (escalate, assign), corrections.py (a person's tags)
and sla_marks.py (the deadline check's system marks). Each function checks the actor's role, changes the mention
with a conditional UPDATE (so two people racing are decided by the database, not by whoever read first), and
writes its audit event in the same transaction. The caller commits. There is no other code path that changes a
mention's state.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage.core.errors import Conflict, NotFound, WorkflowError
from triage.core.vocabulary import CLOSED, WORKABLE
from triage.models import Event, Mention, User

# The columns that say who holds an item, cleared together whenever a claim ends.
NO_CLAIM: dict[str, Any] = {"claimed_by_id": None, "claimed_at": None, "claim_touched_at": None}


def get_mention(session: Session, mention_id: int) -> Mention:
    """The mention as the database has it now (not as this session last saw it)."""
    mention = session.get(Mention, mention_id, populate_existing=True)
    if mention is None:
        raise NotFound(f"there is no mention {mention_id}")
    return mention


def write_event(session: Session, mention_id: int, actor: User | None, action: str, from_state: str | None,
                to_state: str | None, *, reason: str | None = None, now: datetime, **detail: Any) -> None:
    """The transition's audit event, in the caller's transaction; `actor=None` is the system."""
    session.add(Event(mention_id=mention_id, actor_id=actor.id if actor else None, action=action,
                      from_state=from_state, to_state=to_state, reason=reason, detail=detail, created_at=now))


def holder_name(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.display_name).where(User.id == user_id)) if user_id else None


def username_of(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.username).where(User.id == user_id)) if user_id else None


def explain_refusal(session: Session, mention_id: int, user: User) -> WorkflowError:
    """Say precisely why a conditional UPDATE matched nothing."""
    mention = session.get(Mention, mention_id, populate_existing=True)
    if mention is None:
        return NotFound(f"there is no mention {mention_id}")
    if mention.status in CLOSED:
        return Conflict(f"this mention is {mention.status}; reopen it first")
    if mention.status not in WORKABLE:
        return Conflict("this mention is not tagged and queued yet")
    if mention.claimed_by_id not in (None, user.id):
        return Conflict(f"{holder_name(session, mention.claimed_by_id)} is working on this mention")
    return Conflict("someone else changed this mention a moment ago; look again")


def claim_values(user: User, now: datetime) -> dict[str, Any]:
    """The columns a claim sets (claiming, claiming next and assigning all hold the item so)."""
    return {
        "claimed_by_id": user.id, "claimed_at": now, "claim_touched_at": now,
        "first_claimed_at": func.coalesce(Mention.first_claimed_at, now),
    }
