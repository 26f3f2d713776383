"""Routing: a tagged mention goes to the queue of the first enabled rule it matches, else to 'other'."""
from __future__ import annotations

from sqlalchemy import select

from tests.factories import make_user
from triage.models import Queue, RoutingRule
from triage.routing import settings as routing_settings
from triage.routing.rules import FALLBACK_QUEUE, Router, Rule

FACTS = {"intent": "question", "sentiment": "neutral", "network": "x", "priority": 40, "urgent": False}


def _queue(db, slug: str) -> Queue:
    return db.scalar(select(Queue).where(Queue.slug == slug))


def _rule(**conditions) -> Rule:
    values = {"queue_id": 1, "intent": None, "sentiment": None, "network": None, "min_priority": None,
              "urgent": None} | conditions
    return Rule(**values)


def test_a_rule_without_conditions_matches_everything():
    assert _rule().matches(**FACTS)


def test_each_condition_of_a_rule_must_hold():
    assert _rule(intent="question", network="x").matches(**FACTS)
    assert not _rule(intent="complaint").matches(**FACTS)
    assert not _rule(sentiment="negative").matches(**FACTS)
    assert not _rule(network="reddit").matches(**FACTS)
    assert not _rule(urgent=True).matches(**FACTS)
    assert _rule(urgent=False).matches(**FACTS)  # "not urgent" is a condition too, not "any"


def test_min_priority_is_inclusive():
    assert _rule(min_priority=40).matches(**FACTS)
    assert not _rule(min_priority=41).matches(**FACTS)


def test_the_default_table_sends_each_intent_to_its_queue(db):
    router = Router(db)
    assert router.route(**FACTS) == _queue(db, "questions").id
    assert router.route(**FACTS | {"intent": "complaint", "sentiment": "negative"}) == _queue(db, "complaints").id
    assert router.route(**FACTS | {"urgent": True}) == _queue(db, "urgent").id
    assert router.route(**FACTS | {"priority": 80}) == _queue(db, "urgent").id


def test_no_matching_rule_falls_back_to_the_catch_all_queue(db):
    rule_id, queue_id = Router(db).match(**FACTS | {"intent": "chatter"})
    assert rule_id is None
    assert queue_id == _queue(db, FALLBACK_QUEUE).id


def test_the_first_matching_rule_by_position_wins_and_match_names_it(db):
    lead = make_user(db, "lead")
    advocacy = _queue(db, "advocacy")
    x_rule = routing_settings.add_rule(db, lead, {"queue_id": advocacy.id, "network": "x"})
    db.commit()
    router = Router(db)
    assert router.match(**FACTS) == (db.scalar(select(RoutingRule.id).where(RoutingRule.intent == "question")),
                                     _queue(db, "questions").id)  # the question rule comes first
    assert router.route(**FACTS | {"intent": "chatter"}) == advocacy.id  # only the new, last rule matches
    # Moved to the top, it wins over the question rule.
    for _ in range(len(router.rules)):
        routing_settings.move_rule(db, lead, x_rule.id, "up")
    db.commit()
    assert Router(db).match(**FACTS) == (x_rule.id, advocacy.id)


def test_a_disabled_rule_is_skipped(db):
    lead = make_user(db, "lead")
    question_rule = db.scalar(select(RoutingRule).where(RoutingRule.intent == "question"))
    routing_settings.set_rule_enabled(db, lead, question_rule.id, False)
    db.commit()
    router = Router(db)
    assert question_rule.id not in router.rule_ids
    assert router.route(**FACTS) == _queue(db, FALLBACK_QUEUE).id


def test_without_a_catch_all_queue_an_unmatched_mention_has_no_queue(db):
    db.execute(RoutingRule.__table__.delete())
    db.execute(Queue.__table__.delete().where(Queue.slug == FALLBACK_QUEUE))
    db.commit()
    assert Router(db).match(**FACTS) == (None, None)
