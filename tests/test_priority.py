"""Priority: explainable points, urgent words without crying wolf."""
from __future__ import annotations

from datetime import timedelta

import pytest

from triage.db import utcnow
from triage.routing import priority


@pytest.mark.parametrize("text", [
    "we are stuck on the tarmac for 3 hours and nobody tells us anything",
    "smoke in the cabin, this is unsafe",
    "my account was hacked and someone booked flights with my card",
    "if you don't refund me by Friday I'm taking legal action",
    "I will sue you for this",
    "a journalist friend wants to hear about this",
])
def test_urgent_words_are_noticed(text):
    assert priority.urgency_cues(text)


@pytest.mark.parametrize("text", [
    "the safety video with the dancing pilots is stuck in my head",
    "this song is stuck in my head all day",
    "suing? no, just a bit annoyed",
    "my sister works in a hospitality job",
])
def test_ordinary_phrases_are_not_urgent(text):
    assert priority.urgency_cues(text) == []


def test_points_add_up_and_each_has_a_reason():
    now = utcnow()
    p = priority.score(text="I will sue you, my bag is lost", intent="complaint", intent_confidence=1.0,
                       sentiment="negative", polarity=-0.6, followers=250_000, posted_at=now - timedelta(hours=1),
                       now=now)
    assert p.urgent and p.score == sum(r["points"] for r in p.reasons) == 100
    assert {r["factor"] for r in p.reasons} == {"intent", "negativity", "urgency", "reach", "waiting", "cap"}
    assert p.reasons[-1] == {"factor": "cap", "points": 100 - 113, "detail": "priorities stop at 100"}
    assert p.reasons[:-1] == sorted(p.reasons[:-1], key=lambda r: -r["points"])


def test_score_is_capped_at_100_and_never_negative():
    now = utcnow()
    top = priority.score(text="lawyer, hacked, unsafe", intent="complaint", intent_confidence=1.0,
                         sentiment="negative", polarity=-1.0, followers=10**9, posted_at=now - timedelta(days=9),
                         now=now)
    assert top.score == 100
    calm = priority.score(text="nice day", intent="other", intent_confidence=0.2, sentiment="positive",
                          polarity=0.5, followers=None, posted_at=now + timedelta(minutes=5), now=now)
    assert calm.score == 0 and calm.reasons == []
