"""Priority points for what the brand's other systems know of a customer: a tier ("Gold: +15") or a lifetime
value ("over 1,000: +10"). Leads set the rules (`save_rules`, audited); `Placer` adds the points, which only ever
raise a priority, to the mention's reasons ("Why N") like every other factor."""
from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from triage.core import audit
from triage.core.errors import Invalid
from triage.core.roles import LEADS, require
from triage.intake.posts import clean_text
from triage.models import Author, CustomerPriorityRule, CustomerRecord, User

MAX_POINTS, MAX_RULES = 50, 20


def _checked(rule: dict[str, Any]) -> CustomerPriorityRule:
    points, tier, value = rule.get("points"), rule.get("tier"), rule.get("min_value")
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_POINTS:
        raise Invalid(f"a rule's points must be a whole number from 1 to {MAX_POINTS} (they never lower a priority)")
    if (tier is None) == (value is None):
        raise Invalid("a rule names either a tier or a lifetime value, not both")
    if tier is not None:
        tier = clean_text(tier) if isinstance(tier, str) else ""
        if not tier or len(tier) > 64:
            raise Invalid("a rule's tier must be text of 1 to 64 characters")
        return CustomerPriorityRule(tier=tier, points=points)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
            or value > 1e12:
        raise Invalid("a rule's lifetime value must be a number from 0 to 1,000,000,000,000")
    return CustomerPriorityRule(min_value=float(value), points=points)


RULE_RE = re.compile(r"^\s*(?:(?:lifetime\s+)?value\s+over\s+(?P<value>[\d,]+(?:\.\d+)?)|(?:tier\s+)?(?P<tier>[^:]+?))"
                     r"\s*:\s*\+?\s*(?P<points>\d{1,3})\s*$", re.IGNORECASE)


def parse_rule(text: str) -> dict[str, Any]:
    """ "Gold: +15" or "tier Gold: +15", "lifetime value over 1,000: +10" as a rule for `save_rules`."""
    match = RULE_RE.match(text)
    if not match:
        raise Invalid(f"'{text[:60]}' is not a rule: write 'Gold: +15' or 'lifetime value over 1,000: +10'")
    points = int(match["points"])
    if match["value"]:
        return {"min_value": float(match["value"].replace(",", "")), "points": points}
    return {"tier": match["tier"], "points": points}


def describe(rule: CustomerPriorityRule) -> str:
    what = f"tier {rule.tier}" if rule.tier is not None else f"lifetime value over {rule.min_value:,.0f}"
    return f"{what}: +{rule.points}"


def save_rules(session: Session, actor: User | None, rules: list[dict[str, Any]]) -> list[CustomerPriorityRule]:
    """Replace the rule set with `rules` ([{"tier": "Gold", "points": 15}, {"min_value": 1000, "points": 10}])."""
    require(actor, LEADS, "change customer priority rules")
    if len(rules) > MAX_RULES:
        raise Invalid(f"at most {MAX_RULES} customer priority rules")
    fresh = [_checked(r) for r in rules]
    before = [describe(r) for r in session.scalars(select(CustomerPriorityRule).order_by(CustomerPriorityRule.id))]
    session.execute(delete(CustomerPriorityRule))
    session.add_all(fresh)
    session.flush()
    after = [describe(r) for r in fresh]
    audit.record(session, actor, "customer priority rules saved",
                 f"customer priority rules: {'; '.join(after) or 'none'}", before=before, after=after)
    return fresh


class CustomerFacts:
    """The rules, loaded once for many placements; each author's customer looked up once."""

    def __init__(self, session: Session):
        self.session = session
        self.rules = list(session.scalars(select(CustomerPriorityRule)))
        self.seen: dict[int, list[dict[str, Any]]] = {}

    def reasons(self, author_id: int | None) -> list[dict[str, Any]]:
        """The points the author's customer earns, as priority reasons: the best tier rule and the best value rule."""
        if not self.rules or author_id is None:
            return []
        if author_id not in self.seen:
            facts = self.session.execute(
                select(func.lower(CustomerRecord.tier), CustomerRecord.lifetime_value)
                .join(Author, Author.customer_id == CustomerRecord.customer_id).where(Author.id == author_id)).all()
            tiers = {t for t, _ in facts if t}
            best_value = max((v for _, v in facts if v is not None), default=None)
            found = []
            by_tier = [r for r in self.rules if r.tier is not None and r.tier.lower() in tiers]
            by_value = [r for r in self.rules if r.min_value is not None and best_value is not None
                        and best_value > r.min_value]
            for matched in (by_tier, by_value):
                if matched:
                    rule = max(matched, key=lambda r: r.points)
                    found.append({"factor": "customer", "points": rule.points, "detail": describe(rule)})
            self.seen[author_id] = found
        return self.seen[author_id]


__all__ = ["CustomerFacts", "describe", "parse_rule", "save_rules"]
