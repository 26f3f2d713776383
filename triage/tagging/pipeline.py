"""Tag stored mentions (sentiment, intent) and place them: priority, queue and due times (triage.routing.placement)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from triage.core.vocabulary import NEW, OPEN
from triage.db import is_postgres, utcnow
from triage.models import Author, Event, Mention
from triage.routing.placement import Placer
from triage.tagging import classifier

log = logging.getLogger(__name__)
_TAGGED_COLUMNS = ("tagged_at", "sentiment", "polarity", "subjectivity", "sentiment_confidence", "intent",
                   "intent_confidence", "cues", "language", "priority", "priority_reasons", "urgent", "queue_id",
                   "status", "first_response_due_at", "resolution_due_at")
# Core executemany of one cached UPDATE: the ORM's bulk path costs more than the tagging itself.
_MENTIONS, _EVENTS = Mention.metadata.tables["mentions"], Event.metadata.tables["events"]
_TAG_UPDATE = (
    update(_MENTIONS)
    .where(_MENTIONS.c.id == bindparam("b_id"))
    .values({name: bindparam(name) for name in _TAGGED_COLUMNS})
)


def _classify(text: str) -> classifier.Tags:
    """A classifier bug must not hold a whole batch hostage: such a post is tagged as unknown."""
    try:
        return classifier.classify(text)
    except Exception:  # noqa: BLE001 - logged, and the post still reaches a person
        log.exception("classifier failed on a post; tagged other/neutral")
        return classifier.Tags("neutral", 0.0, 0.0, 0.0, "other", 0.0, ("classifier error",), None)


def _classify_all(texts: list[str]) -> list[classifier.Tags]:
    """The batch at once (a learned model is much faster so); if that fails, post by post."""
    try:
        return classifier.classify_many(texts)
    except Exception:  # noqa: BLE001 - logged; _classify then isolates the post that fails
        log.exception("classifier failed on a batch; tagging its posts one by one")
        return [_classify(text) for text in texts]


def classify_posts(texts_by_key: dict[tuple[str, str], str]) -> dict[tuple[str, str], classifier.Tags]:
    """Tags for posts keyed by (network, external id), computed before any write lock is taken."""
    keys = list(texts_by_key)
    return dict(zip(keys, _classify_all([texts_by_key[k] for k in keys]), strict=True))


def tag_new_mentions(session: Session, mention_ids: list[int], *, now: datetime | None = None,
                     tags_by_key: dict[tuple[str, str], classifier.Tags] | None = None) -> int:
    """Tag, score and queue mentions not tagged yet, writing one 'queued' event each (caller commits).

    `tags_by_key` carries tags computed earlier (outside the transaction's write lock); others are classified here.
    """
    if not mention_ids:
        return 0
    now = now or utcnow()
    placer = Placer(session)  # routing rules, policies and teams loaded once per batch
    query = (
        select(Mention.id, Mention.text, Mention.network, Mention.external_id, Mention.posted_at, Mention.status,
               Mention.language, Mention.author_id, Author.followers)
        .join(Author, Author.id == Mention.author_id)
        .where(Mention.id.in_(mention_ids), Mention.tagged_at.is_(None))
    )
    if is_postgres(session):
        # Another worker tagging the same rows holds their locks: skip them, it will queue them.
        query = query.with_for_update(of=Mention, skip_locked=True)
    rows = session.execute(query).all()
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    known = tags_by_key or {}
    missing = [row for row in rows if (row.network, row.external_id) not in known]
    fresh = dict(zip([r.id for r in missing], _classify_all([r.text for r in missing]), strict=True))
    for row in rows:
        tags = known.get((row.network, row.external_id)) or fresh[row.id]
        placed = placer.place(text=row.text, network=row.network, intent=tags.intent,
                              intent_confidence=tags.intent_confidence, sentiment=tags.sentiment,
                              polarity=tags.polarity, followers=row.followers, posted_at=row.posted_at, now=now,
                              author_id=row.author_id)
        rank = placed.rank
        status = OPEN if row.status == NEW else row.status
        updates.append({
            "first_response_due_at": placed.first_response_due, "resolution_due_at": placed.resolution_due,
            "b_id": row.id, "tagged_at": now, "sentiment": tags.sentiment, "polarity": tags.polarity,
            "subjectivity": tags.subjectivity, "sentiment_confidence": tags.sentiment_confidence,
            "intent": tags.intent, "intent_confidence": tags.intent_confidence, "cues": list(tags.cues),
            "language": row.language or tags.language,  # what the network said wins
            "priority": rank.score, "priority_reasons": rank.reasons,
            "urgent": rank.urgent, "queue_id": placed.queue_id, "status": status,
        })
        events.append({"mention_id": row.id, "action": "queued", "from_state": row.status, "to_state": status,
                       "created_at": now, "detail": {"queue_id": placed.queue_id, "priority": rank.score}})
    if updates:
        session.connection().execute(_TAG_UPDATE, updates)
        session.connection().execute(_EVENTS.insert(), events)
    return len(updates)
