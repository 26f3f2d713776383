"""JSON API, authenticated with bearer tokens (`triage token create --user NAME`)."""
from __future__ import annotations

import functools

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from triage import health
from triage.accounts import user_for_token
from triage.defaults import ensure_source
from triage.ingest import receive
from triage.web import db, settings

bp = Blueprint("api", __name__)
MAX_ITEMS = 5000


def error(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="triage"'
    return response


@bp.errorhandler(HTTPException)
def _json_errors(exc: HTTPException):
    return error(exc.code or 500, exc.description or exc.name)


def token_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error(401, "send an API token as 'Authorization: Bearer <token>'")
        user = user_for_token(db(), token.strip())
        if user is None:
            return error(401, "the API token is unknown or revoked")
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


@bp.get("/healthz")
def healthz():
    ok, body = health.report(db(), settings())
    return jsonify(body), 200 if ok else 503


@bp.post("/api/v1/mentions")
@token_required
def push_mentions():
    """Accept a JSON array of posts: 202 with what was accepted and an error per refused item."""
    payload = request.get_json(silent=True, force=True)
    if payload is None:
        return error(400, "the body is not valid JSON (send a JSON array of posts)")
    if isinstance(payload, dict) and isinstance(payload.get("mentions"), list):
        payload = payload["mentions"]
    if not isinstance(payload, list):
        return error(400, "send a JSON array of posts (or an object with a 'mentions' array)")
    if len(payload) > MAX_ITEMS:
        return error(413, f"at most {MAX_ITEMS:,} posts per request; split the batch")
    session = db()
    source_name = (request.args.get("source") or "API").strip()[:80]
    source = ensure_source(session, source_name, "api")
    receipt = receive(session, source, payload, batch_size=settings().batch_size)
    session.commit()  # the posts are safe before we answer 202

    from workers.jobs import enqueue_deliveries

    enqueue_deliveries(settings(), receipt.delivery_ids)
    body = {"accepted": receipt.accepted, "rejected": len(receipt.errors), "errors": receipt.errors,
            "source": source.name}
    if not receipt.accepted and receipt.errors:
        return error(400, "no post in the request was valid", **body)
    return jsonify(body), 202
