"""Dead letters: posts the worker could not store, set aside so the rest of their batch could land.

A lead sees each on the Sources page with its reason, and either fixes and retries it (the edited record goes
through the same door as any post, `parse_post`, into a new delivery) or discards it. Both are audited; a dead
letter is resolved, never deleted, so the record of what was refused stays.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from triage.core import audit
from triage.core.errors import Invalid, NotFound
from triage.core.locking import rows_changed
from triage.core.roles import LEADS, require
from triage.db import MAX_ROW_ID, utcnow
from triage.intake.posts import PostError, parse_post
from triage.models import DeadLetter, Delivery, Event, User

RETRIED, DISCARDED = "retried", "discarded"
MAX_EDIT_CHARS = 100_000  # a post is at most 10,000 characters of text; the rest is a handful of short fields


def give_up(session: Session, delivery_id: int, reason: str, *, now: datetime | None = None) -> int:
    """Set every post of a delivery that never finished aside as a dead letter; returns how many (caller commits).

    The conditional UPDATE claims the delivery, so a worker finishing it at the same moment and this never both
    count it: whichever marks it processed first wins, and the other does nothing.
    """
    now = now or utcnow()
    claimed = rows_changed(session, update(Delivery).where(Delivery.id == delivery_id, Delivery.processed_at.is_(None))
                           .values(processed_at=now, stored_count=0, duplicate_count=0, response_count=0))
    delivery = session.get(Delivery, delivery_id)
    if not claimed or delivery is None:
        return 0
    for raw in delivery.posts or []:
        session.add(DeadLetter(source_id=delivery.source_id, delivery_id=delivery.id, payload=raw,
                               error=reason[:2000], attempts=delivery.attempts, created_at=now))
    # By the system (actor None), so the audit log shows why these posts wait on the Sources page.
    session.add(Event(mention_id=None, actor_id=None, action="delivery given up", created_at=now, reason=reason[:500],
                      detail={"delivery": delivery.id, "source": delivery.source.name, "attempts": delivery.attempts,
                              "posts": len(delivery.posts or [])}))
    return len(delivery.posts or [])


def open_letters(session: Session, *, limit: int = 200) -> list[DeadLetter]:
    """Unresolved dead letters, oldest first (the order they need a look in)."""
    return list(session.scalars(select(DeadLetter).where(DeadLetter.resolved_at.is_(None))
                                .order_by(DeadLetter.created_at, DeadLetter.id).limit(limit)))


def open_count(session: Session) -> int:
    """How many dead letters wait for a lead."""
    return session.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.resolved_at.is_(None))) or 0


def counts_by_delivery(session: Session, delivery_ids: list[int]) -> int:
    """How many posts of these deliveries were set aside (for `triage import`'s summary)."""
    if not delivery_ids:
        return 0
    return session.scalar(select(func.count()).select_from(DeadLetter)
                          .where(DeadLetter.delivery_id.in_(delivery_ids))) or 0


def pretty(payload: Any) -> str:
    """The raw record as a lead edits it: indented JSON, non-ASCII kept readable."""
    return json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@dataclass(frozen=True)
class Retried:
    letter: DeadLetter
    delivery_id: int


def retry(session: Session, actor: User, letter_id: int, edited: str, *, now: datetime | None = None) -> Retried:
    """Fix and retry: the edited JSON passes the door (`parse_post`) and becomes a new delivery (caller commits,
    then enqueues `delivery_id`). A record that still fails in the worker becomes a new dead letter."""
    letter = _open_letter(session, actor, letter_id)
    now = now or utcnow()
    if len(edited) > MAX_EDIT_CHARS:
        raise Invalid(f"the record is {len(edited):,} characters, more than the {MAX_EDIT_CHARS:,} allowed")
    try:
        record = json.loads(edited)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply to be a post
        raise Invalid(f"the record is not valid JSON: {getattr(exc, 'msg', 'nested too deeply')}") from None
    source = letter.source
    try:
        post = parse_post(record, default_network=(source.config or {}).get("network"))
    except PostError as exc:
        raise Invalid(f"the record is still refused: {exc}") from None
    delivery = Delivery(source_id=source.id, posts=[post.to_record()], post_count=1, received_at=now)
    session.add(delivery)
    session.flush()
    _resolve(session, actor, letter, RETRIED, now, retry_delivery_id=delivery.id)
    audit.record(session, actor, "dead letter retried", letter.error[:500], now=now, dead_letter=letter.id,
                 source=source.name, delivery=delivery.id, network=post.network, external_id=post.external_id,
                 edited=post.to_record() != letter.payload)
    return Retried(letter, delivery.id)


def discard(session: Session, actor: User, letter_id: int, *, now: datetime | None = None) -> DeadLetter:
    """Discard a dead letter: it stays on record as discarded, by whom and when (caller commits)."""
    letter = _open_letter(session, actor, letter_id)
    now = now or utcnow()
    _resolve(session, actor, letter, DISCARDED, now)
    payload = letter.payload if isinstance(letter.payload, dict) else {}
    audit.record(session, actor, "dead letter discarded", letter.error[:500], now=now, dead_letter=letter.id,
                 source=letter.source.name,
                 external_id=str(payload.get("id"))[:80] if payload.get("id") is not None else None)
    return letter


def _open_letter(session: Session, actor: User, letter_id: int) -> DeadLetter:
    require(actor, LEADS, "retry or discard dead letters")
    letter = session.get(DeadLetter, letter_id) if 0 < letter_id <= MAX_ROW_ID else None
    if letter is None:
        raise NotFound(f"there is no dead letter {letter_id}")
    if letter.resolved_at is not None:
        raise Invalid(f"dead letter {letter_id} was already {letter.resolution}")
    return letter


def _resolve(session: Session, actor: User, letter: DeadLetter, resolution: str, now: datetime,
             retry_delivery_id: int | None = None) -> None:
    # Conditional, so two leads pressing at once resolve it once; the second is told it is done.
    changed = rows_changed(
        session, update(DeadLetter).where(DeadLetter.id == letter.id, DeadLetter.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by_id=actor.id, resolution=resolution, retry_delivery_id=retry_delivery_id)
        .execution_options(synchronize_session="fetch"))
    if not changed:
        raise Invalid(f"dead letter {letter.id} was resolved by someone else just now")
