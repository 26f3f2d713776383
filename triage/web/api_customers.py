"""Customers through the JSON API: find one, and read a profile (accounts, what other systems know, counts, the
recent mentions). Read only: linking stays a person's decision on the profile page."""
from __future__ import annotations

from typing import Any

from flask import jsonify, request
from werkzeug.wrappers import Response

from triage.core import errors
from triage.db import MAX_ROW_ID
from triage.models import Author, Customer, CustomerRecord, Event, Mention
from triage.people import customers as people
from triage.web.api import api_blueprint, token_required
from triage.web.context import db

bp = api_blueprint("api_customers", __name__)
RECENT = 20  # mentions in a profile


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _account(a: Author, linked: Event | None = None) -> dict[str, Any]:
    return {"id": a.id, "network": a.network, "handle": a.handle, "name": a.display_name,
            "linked_by": (linked.actor.username if linked.actor else None) if linked else None,
            "linked_at": _iso(linked.created_at) if linked else None}


def _record(r: CustomerRecord) -> dict[str, Any]:
    return {"id": r.id, "system": r.system, "external_id": r.external_id, "email": r.email, "name": r.name,
            "handles": r.handles or {}, "tier": r.tier, "lifetime_value": r.lifetime_value,
            "loyalty_points": r.loyalty_points, "orders": r.orders, "last_order_at": _iso(r.last_order_at),
            "attributes": r.attributes or {}, "updated_at": _iso(r.updated_at)}


def _mention(m: Mention) -> dict[str, Any]:
    return {"id": m.id, "network": m.network, "handle": m.author.handle, "text": m.text, "url": m.url,
            "posted_at": _iso(m.posted_at), "status": m.status, "sentiment": m.sentiment, "intent": m.intent}


def _summary(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "name": c.display_name, "accounts": [_account(a) for a in c.authors],
            "records": len(c.records)}


def _before() -> int | None:
    raw = request.args.get("before")
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 1 <= int(raw) <= MAX_ROW_ID):
        raise errors.Invalid(f"before must be a customer id from 1 to {MAX_ROW_ID}")
    return int(raw)


@bp.get("/api/v1/customers")
@token_required
def customers() -> Response:
    found, next_before = people.search(db(), request.args.get("q", ""), before=_before())
    return jsonify({"customers": [_summary(c) for c in found], "next_before": next_before})


@bp.get("/api/v1/customers/<int:customer_id>")
@token_required
def customer(customer_id: int) -> Response:
    session = db()
    c = people.get(session, customer_id)
    linked = people.accounts(session, c.id)
    linkers = people.linkers(session, linked)
    _, median = people.first_responses(session, c.id)
    return jsonify({
        "id": c.id, "name": c.display_name, "notes": c.notes, "created_at": _iso(c.created_at),
        "accounts": [_account(a, linkers.get(a.id)) for a in linked],
        "records": [_record(r) for r in sorted(c.records, key=lambda r: (r.system, r.external_id))],
        "counts": people.counts(session, c.id), "first_response_median_seconds": median,
        "mentions": [_mention(m) for m in people.recent_mentions(session, c.id, RECENT)],
    })
