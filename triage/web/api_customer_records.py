"""`POST /api/v1/customers`: the brand's other systems push what they know of customers (as the file import does)."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from triage.core.roles import LEADS, require
from triage.people.customer_records import push
from triage.web.api import api_blueprint, error, token_required
from triage.web.api_fields import MAX_ITEMS
from triage.web.context import db

bp = api_blueprint("api_customer_records", __name__)


@bp.post("/api/v1/customers")
@token_required
def push_customers() -> ResponseReturnValue:
    """Accept a JSON array of customer records: 202 with the counts and an error per refused item (by index).

    A lead's or admin's token; each record is judged on its own (`customer_records.parse_record`), the valid ones
    are upserted on (system, external_id) and linked to matching accounts before the answer.
    """
    require(g.api_user, LEADS, "push customer records")  # before the body is read: a role is refused as such
    try:
        payload = request.get_json(silent=True, force=True)
    except RecursionError:
        return error(400, "the body is nested too deeply to be records (send a JSON array of records)")
    if payload is None:
        return error(400, "the body is not valid JSON (send a JSON array of customer records)")
    if isinstance(payload, dict) and isinstance(payload.get("records"), list):
        payload = payload["records"]
    if not isinstance(payload, list):
        return error(400, "send a JSON array of customer records (or an object with a 'records' array)")
    if len(payload) > MAX_ITEMS:
        return error(413, f"at most {MAX_ITEMS:,} records per request; split the batch")
    session = db()
    result = push(session, g.api_user, payload, system=request.args.get("system") or None)
    body: dict[str, Any] = {"accepted": result.added + result.updated, "rejected": result.refused,
                            "errors": result.errors, **result.counts()}
    if result.refused and not body["accepted"]:
        session.rollback()
        return error(400, "no record in the request was valid", **body)
    session.commit()
    return jsonify(body), 202
