"""A person correcting an item's tags: the mention is placed again, and the correction is kept as a label.

Transitions as in triage.work.transitions. The classifier learns from the labels (triage.tagging.learning).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triage.core.errors import Invalid
from triage.core.roles import WORKERS, require
from triage.core.vocabulary import CLOSED, INTENTS, SENTIMENTS
from triage.db import utcnow
from triage.models import Label, Mention, Queue, User
from triage.routing.placement import Placer
from triage.work.transitions import get_mention, write_event


def relabel(session: Session, mention_id: int, user: User, *, sentiment: str | None = None,
            intent: str | None = None, now: datetime | None = None) -> Mention:
    """Correct the tags; the correction is kept as a label the classifier learns from."""
    require(user, WORKERS, "work items")
    now = now or utcnow()
    if sentiment is None and intent is None:
        raise Invalid("give a sentiment or an intent")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise Invalid(f"sentiment must be one of {', '.join(SENTIMENTS)}")
    if intent is not None and intent not in INTENTS:
        raise Invalid(f"intent must be one of {', '.join(INTENTS)}")
    mention = get_mention(session, mention_id)
    before = f"{mention.intent}/{mention.sentiment}"
    values = _retagged(session, mention, user, sentiment=sentiment, intent=intent)
    moves: dict[str, Any] = {}
    if values["priority"] != mention.priority:
        moves["priority"] = [mention.priority, values["priority"]]
    if values["queue_id"] != mention.queue_id:
        names = dict(session.execute(select(Queue.id, Queue.name).where(
            Queue.id.in_([q for q in (mention.queue_id, values["queue_id"]) if q is not None]))).all())
        moves["queue"] = [names.get(q) if q is not None else None for q in (mention.queue_id, values["queue_id"])]
    after = f"{intent or mention.intent}/{sentiment or mention.sentiment}"
    session.execute(update(Mention).where(Mention.id == mention_id).values(**values))
    session.add(Label(mention_id=mention_id, text=mention.text, sentiment=sentiment, intent=intent,
                      origin="correction", user_id=user.id, created_at=now))
    write_event(session, mention_id, user, "relabeled", before, after, now=now, **moves)
    return get_mention(session, mention_id)


def _retagged(session: Session, mention: Mention, user: User, *, sentiment: str | None,
              intent: str | None) -> dict[str, Any]:
    """What a person's tags change: the tags (a person is sure), the priority and its reasons, and, unless the
    item was escalated on purpose or is closed, its queue and deadlines, as if it had been tagged so at first."""
    values: dict[str, Any] = {"cues": [f"tags set by {user.display_name}",
                                       *[c for c in mention.cues or [] if not c.startswith("tags set by ")]][:8]}
    if sentiment is not None:
        values.update(sentiment=sentiment, sentiment_confidence=1.0,
                      polarity=_polarity_agreeing(sentiment, mention.polarity or 0.0))
    if intent is not None:
        values.update(intent=intent, intent_confidence=1.0)
    placed = Placer(session).place(
        text=mention.text, network=mention.network, intent=intent or mention.intent or "other",
        intent_confidence=values.get("intent_confidence", mention.intent_confidence or 0.0),
        sentiment=sentiment or mention.sentiment or "neutral",
        polarity=values.get("polarity", mention.polarity or 0.0), followers=mention.author.followers,
        posted_at=mention.posted_at, now=mention.tagged_at or mention.posted_at, author_id=mention.author_id)
    rank = placed.rank
    values.update(priority=rank.score, priority_reasons=rank.reasons, urgent=rank.urgent, queue_id=mention.queue_id)
    if mention.escalated_at is None and mention.status not in CLOSED:
        values["queue_id"] = placed.queue_id
        if mention.first_response_at is None:
            values["first_response_due_at"] = placed.first_response_due
        values["resolution_due_at"] = placed.resolution_due
    return values


def _polarity_agreeing(sentiment: str, polarity: float) -> float:
    """The polarity kept beside a person's sentiment: the machine's, unless it points the other way (a corrected
    "positive" must not keep a negative tone's priority points or show "-0.40" on its chip); neutral has none."""
    if sentiment == "negative":
        return polarity if polarity < 0 else -0.5
    if sentiment == "positive":
        return polarity if polarity > 0 else 0.5
    return 0.0
