"""Answering and closing an item: reply, resolve, spam, not relevant, reopen, and the team's internal notes.

Transitions as in triage.work.transitions. A reply is delivered after commit by triage.work.outbound.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from triage.core.errors import Conflict, Invalid
from triage.core.locking import rows_changed, write_lock
from triage.core.roles import WORKERS, require
from triage.core.vocabulary import ANSWERED, CLOSED, IRRELEVANT, OPEN, RESOLVED, SPAM
from triage.db import MAX_ROW_ID, utcnow
from triage.intake.posts import clean_text
from triage.intake.sources import reply_limit
from triage.models import Mention, Response, SavedReply, User
from triage.work.claims import hold_for_action
from triage.work.transitions import NO_CLAIM, get_mention, write_event

NOTE_LIMIT = 10_000
WORK = "work items"


class _Keep(dict[str, str]):
    """Placeholders nobody filled stay as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill_placeholders(body: str, mention: Mention, agent: User) -> str:
    """Saved-reply placeholders: {author} (the @handle), {name}, {agent}, {network}; others stay as written."""
    values = _Keep(author="@" + mention.author.handle, name=mention.author.display_name or mention.author.handle,
                   agent=agent.display_name, network=mention.network)
    try:
        return body.format_map(values)
    except (ValueError, IndexError):  # stray braces in a saved reply: use it as written
        return body


def reply_limit_for(mention: Mention) -> int:
    """The longest reply this mention may get: its network's (its source's connector knows it)."""
    return reply_limit(mention.network, mention.source.kind if mention.source is not None else None)


def reply(session: Session, mention_id: int, user: User, text: str, *, saved_reply_id: int | None = None,
          now: datetime | None = None) -> Response:
    """Answer a mention. The reply is delivered by a job (see workers.jobs.send_response) after commit."""
    require(user, WORKERS, WORK)
    now = now or utcnow()
    text = clean_text(text or "")
    write_lock(session)
    mention = get_mention(session, mention_id)
    if not text:
        raise Invalid("the reply is empty")
    limit = reply_limit_for(mention)
    if len(text) > limit:
        raise Invalid(f"the reply is {len(text):,} characters; {mention.network} allows {limit:,}")
    if saved_reply_id is not None and not (0 < saved_reply_id <= MAX_ROW_ID
                                           and session.get(SavedReply, saved_reply_id) is not None):
        raise Invalid(f"there is no saved reply {saved_reply_id}")
    hold_for_action(session, mention, user, now, allow_lead=False)
    response = Response(mention_id=mention_id, user_id=user.id, text=text, origin="app", network=mention.network,
                        created_at=now, delivery_status="pending")
    session.add(response)
    before = mention.status
    session.execute(update(Mention).where(Mention.id == mention_id).values(
        status=ANSWERED, first_response_at=func.coalesce(Mention.first_response_at, now)))
    if saved_reply_id:
        session.execute(update(SavedReply).where(SavedReply.id == saved_reply_id).values(uses=SavedReply.uses + 1))
    session.flush()
    used: dict[str, Any] = {"saved_reply_id": saved_reply_id} if saved_reply_id else {}
    write_event(session, mention_id, user, "replied", before, ANSWERED, now=now, response_id=response.id, **used)
    return response


def _close(session: Session, mention_id: int, user: User, status: str, action: str, now: datetime | None,
           reason: str | None = None) -> Mention:
    require(user, WORKERS, WORK)
    now = now or utcnow()
    write_lock(session)
    mention = get_mention(session, mention_id)
    hold_for_action(session, mention, user, now, allow_lead=True)
    before = mention.status
    session.execute(update(Mention).where(Mention.id == mention_id).values(status=status, resolved_at=now,
                                                                           **NO_CLAIM))
    write_event(session, mention_id, user, action, before, status, reason=reason, now=now)
    return get_mention(session, mention_id)


def resolve(session: Session, mention_id: int, user: User, *, now: datetime | None = None) -> Mention:
    return _close(session, mention_id, user, RESOLVED, "resolved", now)


def mark_spam(session: Session, mention_id: int, user: User, *, now: datetime | None = None) -> Mention:
    return _close(session, mention_id, user, SPAM, "marked spam", now)


def mark_irrelevant(session: Session, mention_id: int, user: User, *, now: datetime | None = None) -> Mention:
    return _close(session, mention_id, user, IRRELEVANT, "marked not relevant", now)


def reopen(session: Session, mention_id: int, user: User, *, now: datetime | None = None) -> Mention:
    """Put a closed mention back to work: answered if it had a reply, else open."""
    require(user, WORKERS, WORK)
    now = now or utcnow()
    write_lock(session)
    mention = get_mention(session, mention_id)
    if mention.status not in CLOSED:
        raise Conflict(f"this mention is {mention.status}, not closed")
    before, after = mention.status, ANSWERED if mention.first_response_at else OPEN
    done = rows_changed(session, update(Mention).where(Mention.id == mention_id, Mention.status == before)
                        .values(status=after, resolved_at=None))
    if not done:
        raise Conflict("someone else changed this mention a moment ago; look again")
    write_event(session, mention_id, user, "reopened", before, after, now=now)
    return get_mention(session, mention_id)


def add_note(session: Session, mention_id: int, user: User, text: str, *, now: datetime | None = None) -> None:
    """An internal note for the team; never sent to the customer. Anyone on the team can write one."""
    now = now or utcnow()
    text = clean_text(text or "")
    if not text:
        raise Invalid("the note is empty")
    if len(text) > NOTE_LIMIT:
        raise Invalid(f"the note is {len(text):,} characters; notes hold up to {NOTE_LIMIT:,}")
    get_mention(session, mention_id)
    write_event(session, mention_id, user, "note", None, None, reason=text, now=now)
