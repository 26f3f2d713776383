"""The audit log's vocabulary: every action an event can name, with a label for people, and one writer.

Every `Event` in `triage/` names an action listed here (a test reads the code to make sure), so the audit log's
action filter knows each one. A change to a setting is written with `record`: no mention, who did it, a reason
naming the setting and what changed, and the before/after in `detail`; never a password or a token.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from triage.db import utcnow
from triage.models import Event, User

OPERATOR = "operator at the console"  # who `actor=None` is in a setting's event: the `triage` command

# action → what a person reads; grouped as the app is: a mention's life, its deadlines, the settings, deliveries.
ACTIONS: dict[str, str] = {
    # a mention's life (work/claims, replies, escalation, corrections, outbound; tagging; ingest; customers)
    "queued": "tagged and queued",
    "claimed": "claimed",
    "released": "released a claim",
    "claim expired": "claim expired (idle)",
    "assigned": "assigned by a lead",
    "replied": "replied",
    "reply sent": "reply sent to the network",
    "reply failed": "reply failed to send",
    "reply to post by hand": "reply to post by hand (no sender for the network)",
    "retried reply": "retried a failed reply",
    "responded": "brand account answered on the network",
    "note": "internal note",
    "escalated": "escalated",
    "relabeled": "tags corrected",
    "resolved": "resolved",
    "marked spam": "marked spam",
    "marked not relevant": "marked not relevant",
    "reopened": "reopened",
    "linked accounts": "linked an author's accounts",
    "customers imported": "customer records imported or pushed from another system",
    "customer priority rules saved": "customer priority rules (tier, lifetime value) saved",
    "unlinked account": "unlinked an account from its customer",
    "linked record": "linked a CRM or loyalty record to a customer",
    # deadlines (work/sla_marks.py, for the check in sla/check.py)
    "deadline near": "deadline near",
    "sla breached": "service level breached",
    # settings (sla/settings, accounts, source_settings, routing/settings, saved_replies, teams, learning)
    "sla policy saved": "service level policy saved",
    "sla policy deleted": "service level policy deleted",
    "team hours saved": "team hours saved",
    "imported labels": "imported labelled posts",
    "user added": "user added",
    "user changed": "user's role or team changed",
    "password reset": "password reset",
    "user deactivated": "user deactivated",
    "user reactivated": "user reactivated",
    "token created": "API token created",
    "token revoked": "API token revoked",
    "source added": "source added",
    "source changed": "source settings changed",
    "source paused": "source paused",
    "source resumed": "source resumed",
    "account connected": "network account connected",
    "account changed": "network account's settings changed",
    "account disconnected": "network account disconnected (credentials wiped)",
    "queue added": "queue added",
    "queue changed": "queue renamed or changed",
    "queue moved": "queue moved on the board",
    "queue deleted": "queue deleted",
    "rule added": "routing rule added",
    "rule changed": "routing rule changed",
    "rule switched": "routing rule switched on or off",
    "rule moved": "routing rule moved",
    "rule deleted": "routing rule deleted",
    "saved reply added": "saved reply added",
    "saved reply changed": "saved reply changed",
    "saved reply deleted": "saved reply deleted",
    "team added": "team added",
    "team renamed": "team renamed",
    # deliveries (dead_letters.py)
    "dead letter retried": "dead letter fixed and retried",
    "dead letter discarded": "dead letter discarded",
    "delivery given up": "delivery given up (posts set aside)",
}


class UnknownAction(ValueError):
    """An event named an action the registry does not list: a programming error, caught by the tests."""


def describe(action: str) -> str:
    """What a person reads for `action`; an action from an older release shows as itself."""
    return ACTIONS.get(action, action)


def record(session: Session, actor: User | None, action: str, reason: str, *, now: datetime | None = None,
           **detail: Any) -> Event:
    """Write a setting's audit event in the caller's transaction; `actor=None` is the operator at the console."""
    if action not in ACTIONS:
        raise UnknownAction(f"'{action}' is not a registered audit action (add it to triage/core/audit.py)")
    if actor is None:  # the log would say "system"; say who it really was
        reason = f"{reason} (by the {OPERATOR})"
    event = Event(mention_id=None, actor_id=actor.id if actor else None, action=action, reason=reason[:2000],
                  detail={"by": actor.username if actor else OPERATOR, **detail}, created_at=now or utcnow())
    session.add(event)
    return event


__all__ = ["ACTIONS", "OPERATOR", "UnknownAction", "describe", "record"]
