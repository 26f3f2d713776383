"""Changing the service levels: policies (targets per intent and urgency) and each team's clock.

Each change checks the role (leads and admins), validates, changes and writes its audit event in the caller's
transaction (caller commits); the settings page is a thin shell over these. A refused value raises SlaError
naming the field.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from triage.core.audit import record
from triage.core.roles import LEADS, require
from triage.core.vocabulary import INTENTS
from triage.db import utcnow
from triage.models import SlaPolicy, Team, User
from triage.sla.clock import SlaError, check_timezone, parse_hours

POLICY_FIELDS = ("name", "position", "urgent", "intent", "first_response_minutes", "resolution_minutes",
                 "business_hours")
_URGENT = {"": None, "any": None, "yes": True, "no": False}
WHAT = "change service levels"


def validate_policy(values: dict[str, Any]) -> dict[str, Any]:
    """Clean a policy form; raises SlaError naming the field."""
    name = (values.get("name") or "").strip()
    if not name or len(name) > 80:
        raise SlaError("give the policy a name (up to 80 characters)")
    intent = values.get("intent") or None
    if intent is not None and intent not in INTENTS:
        raise SlaError(f"intent must be one of {', '.join(INTENTS)}, or any")
    urgent = values.get("urgent")
    if urgent is None or isinstance(urgent, bool):
        pass
    elif isinstance(urgent, str) and urgent in _URGENT:
        urgent = _URGENT[urgent]
    else:
        raise SlaError("urgent must be yes, no or any")
    cleaned: dict[str, Any] = {"name": name, "intent": intent, "urgent": urgent,
                               "business_hours": values.get("business_hours") in (True, "on", "1", "yes", "true")}
    for key, label in (("first_response_minutes", "first response"), ("resolution_minutes", "resolution"),
                       ("position", "order")):
        try:
            number = int(str(values.get(key, "")).strip())
        except ValueError:
            raise SlaError(f"{label} must be a whole number") from None
        if key != "position" and not 1 <= number <= 60 * 24 * 365:
            raise SlaError(f"{label} must be between 1 minute and a year")
        cleaned[key] = number
    if cleaned["resolution_minutes"] < cleaned["first_response_minutes"]:
        raise SlaError("the resolution target cannot be shorter than the first-response target")
    return cleaned


def _policy(session: Session, policy_id: int) -> SlaPolicy:
    policy = session.get(SlaPolicy, policy_id)
    if policy is None:
        raise SlaError(f"there is no policy {policy_id}")
    return policy


def save_policy(session: Session, actor: User | None, values: dict[str, Any], policy_id: int | None = None, *,
                now: datetime | None = None) -> SlaPolicy:
    """Create or change a policy (leads and admins); the change is in the audit log. Caller commits."""
    require(actor, LEADS, WHAT)
    now = now or utcnow()
    cleaned = validate_policy(values)
    before: dict[str, Any] | None = None
    if policy_id is None:
        policy = SlaPolicy(**cleaned)
        session.add(policy)
    else:
        policy = _policy(session, policy_id)
        before = {k: getattr(policy, k) for k in POLICY_FIELDS}
        for key, value in cleaned.items():
            setattr(policy, key, value)
    session.flush()
    record(session, actor, "sla policy saved", f"{policy.name}: first response {policy.first_response_minutes} min, "
           f"resolution {policy.resolution_minutes} min", now=now, policy_id=policy.id, before=before, after=cleaned)
    return policy


def delete_policy(session: Session, actor: User | None, policy_id: int, *, now: datetime | None = None) -> None:
    """Delete a policy; items already stamped keep their due times."""
    require(actor, LEADS, WHAT)
    policy = _policy(session, policy_id)
    record(session, actor, "sla policy deleted", policy.name, now=now or utcnow(), policy_id=policy.id,
           before={k: getattr(policy, k) for k in POLICY_FIELDS})
    session.delete(policy)
    session.flush()


def save_team_hours(session: Session, actor: User | None, team_id: int, *, timezone: str, hours: dict[str, Any] | None,
                    holidays: list[str], escalate_breached_urgent: bool, now: datetime | None = None) -> Team:
    """Change a team's clock: time zone, business hours (None: around the clock), holidays, escalation."""
    require(actor, LEADS, WHAT)
    team = session.get(Team, team_id)
    if team is None:
        raise SlaError(f"there is no team {team_id}")
    timezone = check_timezone(timezone)
    parse_hours(hours)
    if hours is not None and not any(hours.values()):
        raise SlaError("open at least one day, or choose around the clock")
    before = {"timezone": team.timezone, "business_hours": team.business_hours, "holidays": team.holidays,
              "escalate_breached_urgent": team.escalate_breached_urgent}
    team.timezone, team.business_hours, team.holidays = timezone, hours, holidays
    team.escalate_breached_urgent = escalate_breached_urgent
    after = {"timezone": timezone, "business_hours": hours, "holidays": holidays,
             "escalate_breached_urgent": escalate_breached_urgent}
    record(session, actor, "team hours saved", team.name, now=now or utcnow(), team_id=team.id, before=before,
           after=after)
    session.flush()
    return team
