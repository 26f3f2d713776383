"""Placing a tagged mention: its priority with reasons, the queue its routing rules pick, and its due times.

The one place that turns tags into a place in the work, used by tagging (a batch of new mentions), by a person's
tag correction (triage.work.corrections) and by the routing page's trial of a text. A new priority factor lands
here once. `Placer` loads the routing table and the service levels once per batch; it computes, the caller writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from triage.routing.customer_facts import CustomerFacts
from triage.routing.priority import Priority, score
from triage.routing.rules import Router
from triage.sla.deadlines import Deadlines


@dataclass(frozen=True, slots=True)
class Placement:
    rank: Priority  # score, reasons (largest first), urgent
    rule_id: int | None  # the routing rule that matched; None when the catch-all queue took it
    queue_id: int | None
    first_response_due: datetime | None  # both None when no service level applies
    resolution_due: datetime | None


class Placer:
    """The routing rules, service levels and team calendars, loaded once for many placements."""

    def __init__(self, session: Session):
        self.router = Router(session)
        self.deadlines = Deadlines(session)
        self.customer_facts = CustomerFacts(session)

    def place(self, *, text: str, network: str, intent: str, intent_confidence: float, sentiment: str,
              polarity: float, followers: int | None, posted_at: datetime, now: datetime,
              author_id: int | None = None) -> Placement:
        """Where a mention with these tags goes; `now` is when it is scored (its waiting time counts).

        The author's customer facts (tier, lifetime value) add their points here, raising a priority, never lowering.
        """
        rank = score(text=text, intent=intent, intent_confidence=intent_confidence, sentiment=sentiment,
                     polarity=polarity, followers=followers, posted_at=posted_at, now=now)
        extra = self.customer_facts.reasons(author_id)
        if extra:
            reasons = sorted([*(r for r in rank.reasons if r["factor"] != "cap"), *extra], key=lambda r: -r["points"])
            raw = sum(r["points"] for r in reasons)
            if raw > 100:  # as `score` does: the points shown add up to the score
                reasons.append({"factor": "cap", "points": 100 - raw, "detail": "priorities stop at 100"})
            rank = Priority(score=max(rank.score, min(100, raw)), reasons=reasons, urgent=rank.urgent)
        rule_id, queue_id = self.router.match(intent=intent, sentiment=sentiment, network=network,
                                              priority=rank.score, urgent=rank.urgent)
        first_due, resolution_due = self.deadlines.due(start=posted_at, intent=intent, urgent=rank.urgent,
                                                       queue_id=queue_id)
        return Placement(rank, rule_id, queue_id, first_due, resolution_due)
