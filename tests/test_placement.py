"""Placement: tagging, a person's tag correction and the routing page's trial place a mention the same one way."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.factories import make_user, queued_mention
from triage.models import Mention, SlaPolicy
from triage.routing.placement import Placer
from triage.routing.settings import try_text
from triage.work import corrections

URGENT = "@northwind I was injured by your broken seat, my lawyer will call"
COMPLAINT = "@northwind my bag never arrived, nobody answers the phone"


def _placed_as_stored(db, mention: Mention, *, now):
    return Placer(db).place(text=mention.text, network=mention.network, intent=mention.intent,
                            intent_confidence=mention.intent_confidence, sentiment=mention.sentiment,
                            polarity=mention.polarity, followers=mention.author.followers,
                            posted_at=mention.posted_at, now=now)


def test_tagging_stores_what_placement_computes(db):
    for text in (URGENT, COMPLAINT, "@northwind the plane at gate 4 has a new livery"):
        mention = queued_mention(db, text)
        placed = _placed_as_stored(db, mention, now=mention.tagged_at)
        assert (mention.priority, mention.priority_reasons, mention.urgent) == (
            placed.rank.score, placed.rank.reasons, placed.rank.urgent)
        assert mention.queue_id == placed.queue_id
        assert (mention.first_response_due_at, mention.resolution_due_at) == (
            placed.first_response_due, placed.resolution_due)


def test_urgent_words_place_a_mention_in_the_urgent_queue_on_the_urgent_service_level(db):
    mention = queued_mention(db, URGENT)
    urgent = db.scalar(select(SlaPolicy).where(SlaPolicy.name == "Urgent"))
    assert mention.queue.slug == "urgent" and mention.urgent
    assert mention.first_response_due_at - mention.posted_at == timedelta(minutes=urgent.first_response_minutes)
    assert mention.resolution_due_at - mention.posted_at == timedelta(minutes=urgent.resolution_minutes)


def test_trying_a_text_places_it_as_tagging_would_place_it_now(db):
    trial = try_text(db, COMPLAINT, "x", 120)
    placed = trial.placement
    assert (trial.rank, trial.queue.id) == (placed.rank, placed.queue_id)
    assert trial.queue.slug == "complaints" and trial.rule is not None and trial.rule.id == placed.rule_id
    complaint = db.scalar(select(SlaPolicy).where(SlaPolicy.name == "Complaint"))
    assert placed.resolution_due - placed.first_response_due == timedelta(
        minutes=complaint.resolution_minutes - complaint.first_response_minutes)


def test_a_correction_places_the_mention_as_if_it_had_been_tagged_so(db):
    agent = make_user(db, "agent")
    mention = queued_mention(db, "@northwind the plane at gate 4 has a new livery")
    assert mention.first_response_due_at is None  # chatter has no service level
    corrections.relabel(db, mention.id, agent, intent="complaint", sentiment="negative")
    db.commit()
    after = db.get(Mention, mention.id)
    placed = _placed_as_stored(db, after, now=after.tagged_at)
    assert (after.priority, after.priority_reasons, after.queue_id) == (
        placed.rank.score, placed.rank.reasons, placed.queue_id)
    assert (after.first_response_due_at, after.resolution_due_at) == (
        placed.first_response_due, placed.resolution_due)
    assert after.queue.slug == "complaints" and after.first_response_due_at is not None
