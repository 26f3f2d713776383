"""Tagging stored mentions: tags, priority with reasons, a queue and due times, once per mention."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import parse_post, record
from tests.factories import make_mention
from triage.db import utcnow
from triage.intake import ingest
from triage.intake.source_settings import ensure_source
from triage.models import Event, Mention, Queue
from triage.sla.check import BREACH_POINTS
from triage.tagging.pipeline import tag_new_mentions


def _stored(db, *texts: str, **fields) -> list[Mention]:
    """Mentions stored but not tagged yet, as ingest leaves them before tagging."""
    source = ensure_source(db, "Tagging", "import")
    posts = [parse_post(record(text=t, **fields)) for t in texts]
    ids = ingest.store_mentions(db, source, None, posts, now=utcnow())
    db.commit()
    by_text = {m.text: m for m in db.scalars(select(Mention).where(Mention.id.in_(ids)))}
    return [by_text[t] for t in texts]


def _queue_slug(db, mention: Mention) -> str | None:
    return db.scalar(select(Queue.slug).where(Queue.id == mention.queue_id))


def _queued_events(db, mention_id: int) -> int:
    return db.scalar(select(func.count()).select_from(Event).where(Event.mention_id == mention_id,
                                                                   Event.action == "queued"))


def test_stored_mentions_wait_untagged_and_unqueued(db):
    (m,) = _stored(db, "@northwind my order arrived broken, I want a refund")
    assert (m.tagged_at, m.queue_id, m.status, m.intent) == (None, None, "new", None)


def test_tagging_sets_tags_priority_queue_status_and_due_times(db):
    complaint, question = _stored(db, "@northwind my order arrived broken, worst service, I want a refund",
                                  "@northwind how do I change my seat on tomorrow's flight?")
    assert tag_new_mentions(db, [complaint.id, question.id]) == 2
    db.commit()
    for m in (complaint, question):
        db.refresh(m)
        assert m.tagged_at is not None and m.status == "open"
        assert m.sentiment in ("negative", "neutral", "positive") and m.cues is not None
        assert 0 <= m.priority <= 100 and m.priority_reasons, "a priority comes with its reasons"
        assert m.first_response_due_at is not None and m.resolution_due_at is not None
        assert m.first_response_due_at <= m.resolution_due_at
    assert (complaint.intent, _queue_slug(db, complaint)) == ("complaint", "complaints")
    assert complaint.sentiment == "negative"
    assert (question.intent, _queue_slug(db, question)) == ("question", "questions")
    # The default service levels: a complaint within the hour, a question within two, from when it was posted.
    assert complaint.first_response_due_at - complaint.posted_at == timedelta(minutes=60)
    assert question.first_response_due_at - question.posted_at == timedelta(minutes=120)


def test_each_tagged_mention_gets_one_queued_event_naming_its_queue(db):
    (m,) = _stored(db, "@northwind my order arrived broken, I want a refund")
    tag_new_mentions(db, [m.id])
    db.commit()
    event = db.scalar(select(Event).where(Event.mention_id == m.id, Event.action == "queued"))
    db.refresh(m)
    assert (event.from_state, event.to_state) == ("new", "open")
    assert event.detail == {"queue_id": m.queue_id, "priority": m.priority}


def test_tagging_twice_changes_nothing(db):
    (m,) = _stored(db, "@northwind my order arrived broken, I want a refund")
    assert tag_new_mentions(db, [m.id]) == 1
    db.commit()
    db.refresh(m)
    first = (m.tagged_at, m.queue_id, m.priority, m.first_response_due_at, m.status)
    assert tag_new_mentions(db, [m.id], now=utcnow() + timedelta(hours=1)) == 0
    db.commit()
    db.refresh(m)
    assert (m.tagged_at, m.queue_id, m.priority, m.first_response_due_at, m.status) == first
    assert _queued_events(db, m.id) == 1


def test_an_urgent_mention_goes_to_the_urgent_queue_with_the_urgent_deadline(db):
    (m,) = _stored(db, "@northwind your charger caught fire in my kitchen, this is a safety hazard")
    tag_new_mentions(db, [m.id])
    db.commit()
    db.refresh(m)
    assert m.urgent and _queue_slug(db, m) == "urgent"
    assert m.first_response_due_at - m.posted_at == timedelta(minutes=30)


def test_no_ids_is_no_work(db):
    assert tag_new_mentions(db, []) == 0


@pytest.mark.parametrize(("state", "status", "check"), [
    ("open", "open", lambda m: m.claimed_by_id is None and m.queue_id is not None),
    ("claimed", "open", lambda m: m.claimed_by_id is not None),
    ("answered", "answered", lambda m: m.first_response_at is not None),
    ("escalated", "open", lambda m: m.escalated_at is not None and m.escalated_to_id is not None),
    ("breached", "open", lambda m: m.first_response_breached_at is not None),
    ("resolved", "resolved", lambda m: m.resolved_at is not None),
])
def test_a_tagged_mention_reaches_each_state_through_the_workflow(db, state, status, check):
    # tests/factories.make_mention, which the other tests lean on, through the real transitions.
    mention = make_mention(db, state)
    assert mention.tagged_at is not None and mention.status == status and check(mention)
    actions = set(db.scalars(select(Event.action).where(Event.mention_id == mention.id)))
    expected = {"open": "queued", "claimed": "claimed", "answered": "replied", "escalated": "escalated",
                "breached": "sla breached", "resolved": "resolved"}[state]
    assert expected in actions


def test_a_breached_mention_moves_up_by_the_breach_points(db):
    text = "@northwind where is my parcel?"
    fresh = make_mention(db, text=text, author="a1", posted_at=(utcnow() - timedelta(days=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"))
    breached = make_mention(db, "breached", text=text, author="a1")  # the same post, also two days old
    assert breached.priority == min(100, fresh.priority + BREACH_POINTS)
    assert [r["factor"] for r in breached.priority_reasons if r["factor"] == "overdue"] == ["overdue"]
