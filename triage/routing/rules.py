"""Route a tagged mention to a queue: first matching rule wins, 'other' catches the rest."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.models import Queue, RoutingRule

FALLBACK_QUEUE = "other"


@dataclass(frozen=True, slots=True)
class Rule:
    queue_id: int
    intent: str | None
    sentiment: str | None
    network: str | None
    min_priority: int | None
    urgent: bool | None

    def matches(self, *, intent: str, sentiment: str, network: str, priority: int, urgent: bool) -> bool:
        return (
            (self.intent is None or self.intent == intent)
            and (self.sentiment is None or self.sentiment == sentiment)
            and (self.network is None or self.network == network)
            and (self.min_priority is None or priority >= self.min_priority)
            and (self.urgent is None or self.urgent == urgent)
        )


class Router:
    """The routing table loaded once per batch."""

    def __init__(self, session: Session):
        rows = list(session.scalars(
            select(RoutingRule).where(RoutingRule.enabled.is_(True)).order_by(RoutingRule.position, RoutingRule.id)
        ))
        self.rules = [Rule(r.queue_id, r.intent, r.sentiment, r.network, r.min_priority, r.urgent) for r in rows]
        self.rule_ids = [r.id for r in rows]
        self.fallback = session.scalar(select(Queue.id).where(Queue.slug == FALLBACK_QUEUE))

    def route(self, *, intent: str, sentiment: str, network: str, priority: int, urgent: bool) -> int | None:
        """The queue id for these facts."""
        return self.match(intent=intent, sentiment=sentiment, network=network, priority=priority, urgent=urgent)[1]

    def match(self, *, intent: str, sentiment: str, network: str, priority: int, urgent: bool
              ) -> tuple[int | None, int | None]:
        """(the id of the rule that matched or None, the queue id): what the routing page's trial shows."""
        for rule_id, rule in zip(self.rule_ids, self.rules, strict=True):
            if rule.matches(intent=intent, sentiment=sentiment, network=network, priority=priority, urgent=urgent):
                return rule_id, rule.queue_id
        return None, self.fallback
