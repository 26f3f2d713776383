"""Test data: users of each role and mentions that are tagged and queued, through the real ingest."""
from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select

from tests.conftest import record
from triage.db import utcnow
from triage.intake import ingest
from triage.intake.source_settings import ensure_source
from triage.models import Mention, User
from triage.people.accounts import add_user
from triage.sla.check import BREACH_POINTS
from triage.work import claims, escalation, replies, sla_marks


def queued_mentions(db, *records_or_texts, source_name: str = "Factory", **source_fields) -> list[Mention]:
    """Ingest posts (texts or records) and return their mentions, tagged and queued, in the given order."""
    source = ensure_source(db, source_name, source_fields.pop("kind", "import"), **source_fields)
    records = [record(text=r) if isinstance(r, str) else r for r in records_or_texts]
    receipt = ingest.receive(db, source, records)
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id)
    db.commit()
    ids = [r["id"] for r in records]
    by_id = {m.external_id: m for m in db.scalars(select(Mention).where(Mention.external_id.in_(ids)))}
    return [by_id[i] for i in ids]


SOURCE_FIELDS = ("source_name", "kind", "config", "brand_handles")


def queued_mention(db, text: str = "@northwind my order arrived broken, I want a refund", **overrides) -> Mention:
    """One mention; `source_name`, `kind`, `config` and `brand_handles` describe its source, the rest the post."""
    source = {k: overrides.pop(k) for k in SOURCE_FIELDS if k in overrides}
    return queued_mentions(db, record(text=text, **overrides), **source)[0]


STATES = ("open", "claimed", "answered", "escalated", "breached", "resolved")
_people = itertools.count(1)


def make_user(db, role: str = "agent", username: str | None = None, password: str = "correct horse battery"):
    """A user of `role`, through accounts.add_user (committed)."""
    user = add_user(db, username or f"{role}-f{next(_people)}", password, role=role)
    db.commit()
    return user


def make_mention(db, state: str = "open", *, text: str = "@northwind my order arrived broken, I want a refund",
                 by=None, **overrides) -> Mention:
    """A mention in `state`, reached through the workflow's own transitions by `by` (an agent made if None).

    open: tagged and queued. claimed: held by `by`. answered: replied to by `by`. escalated: handed to a lead
    (one is made if there is none) with a reason. breached: posted long ago, its first response flagged overdue
    by the deadline check's transition. resolved: resolved by `by`. Committed; returned refreshed.
    """
    if state not in STATES:
        raise ValueError(f"state is one of {', '.join(STATES)}")
    if state == "breached":
        overrides.setdefault("posted_at", (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    mention = queued_mention(db, text, **overrides)
    if state != "open" and state != "breached":
        by = by or make_user(db, "agent")
    if state == "claimed":
        claims.claim(db, mention.id, by)
    elif state == "answered":
        replies.reply(db, mention.id, by, "Sorry about that, we are on it: DM us your order number.")
    elif state == "escalated":
        if db.scalar(select(User.id).where(User.role == "lead", User.active.is_(True))) is None:
            make_user(db, "lead")
        escalation.escalate(db, mention.id, by, "lead", "the customer asks for a manager")
    elif state == "resolved":
        replies.resolve(db, mention.id, by)
    elif state == "breached":
        assert mention.first_response_due_at is not None, "no service level applies to this mention"
        assert sla_marks.flag_sla_breach(db, mention.id, "first_response", mention.first_response_due_at,
                                        points=BREACH_POINTS)
    db.commit()
    db.refresh(mention)
    return mention
