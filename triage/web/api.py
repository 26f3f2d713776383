"""JSON API, authenticated with bearer tokens (`triage token create --user NAME`)."""
from __future__ import annotations

import functools

from flask import Blueprint, abort, g, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from triage import health, workflow
from triage import queues as queue_reads
from triage.accounts import user_for_token
from triage.defaults import ensure_source
from triage.ingest import receive
from triage.models import Event, Mention, Queue, Response
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


# The workflow, for integrations and scripts: the same domain functions as the web pages.

def _mention_json(m, *, events: bool = False) -> dict:
    body = {
        "id": m.id, "network": m.network, "external_id": m.external_id, "url": m.url, "text": m.text,
        "author": {"handle": m.author.handle, "name": m.author.display_name, "followers": m.author.followers},
        "posted_at": _iso(m.posted_at), "ingested_at": _iso(m.ingested_at), "status": m.status,
        "queue": m.queue.slug if m.queue else None, "sentiment": m.sentiment, "polarity": m.polarity,
        "intent": m.intent, "intent_confidence": m.intent_confidence, "cues": m.cues, "priority": m.priority,
        "priority_reasons": m.priority_reasons, "urgent": m.urgent,
        "claimed_by": m.claimed_by.username if m.claimed_by else None,
        "owner": m.owner.username if m.owner else None,
        "escalated_at": _iso(m.escalated_at), "escalation_reason": m.escalation_reason,
        "first_claimed_at": _iso(m.first_claimed_at), "first_response_at": _iso(m.first_response_at),
        "resolved_at": _iso(m.resolved_at),
        "first_response_due_at": _iso(m.first_response_due_at), "resolution_due_at": _iso(m.resolution_due_at),
    }
    if events:
        session = db()
        body["events"] = [
            {"action": e.action, "actor": e.actor.username if e.actor else None, "from": e.from_state,
             "to": e.to_state, "reason": e.reason, "at": _iso(e.created_at), "detail": e.detail}
            for e in session.scalars(select(Event).where(Event.mention_id == m.id).order_by(Event.created_at, Event.id))
        ]
        body["responses"] = [
            {"id": r.id, "text": r.text, "origin": r.origin, "delivery_status": r.delivery_status,
             "sent_at": _iso(r.sent_at), "by": r.user.username if r.user else r.author_handle, "url": r.url,
             "last_error": r.last_error}
            for r in session.scalars(select(Response).where(Response.mention_id == m.id).order_by(Response.id))
        ]
    return body


def _iso(value):
    return value.isoformat() if value else None


def _body() -> dict:
    payload = request.get_json(silent=True)
    if payload is None:
        if request.get_data():
            raise workflow.Invalid("the body is not valid JSON")
        return {}
    if not isinstance(payload, dict):
        raise workflow.Invalid("send a JSON object")
    return payload


def _run(action, *, status: int = 200, after=None):
    """Run one transition as the token's user; refusals answer with their status and a message."""
    session = db()
    try:
        result = action(session, g.api_user)
        session.commit()
    except workflow.WorkflowError as exc:
        session.rollback()
        return error(exc.status, str(exc))
    if after:
        after(result)
    return result, status


def _mention_result(action, **kwargs):
    out = _run(action, **kwargs)
    if not isinstance(out, tuple):
        return out
    mention, status = out
    return jsonify(_mention_json(mention, events=True)), status


@bp.get("/api/v1/queues")
@token_required
def api_queues():
    session = db()
    counts = queue_reads.counts(session)
    return jsonify([{"name": q.slug, "title": q.name, "description": q.description, "open": counts.get(q.id, 0)}
                    for q in queue_reads.all_queues(session)])


def _queue_or_404(name: str):
    queue = db().scalar(select(Queue).where(Queue.slug == name))
    if queue is None:
        abort(404, f"there is no queue '{name}'")
    return queue


@bp.get("/api/v1/queues/<name>/mentions")
@token_required
def api_queue_mentions(name: str):
    queue = _queue_or_404(name)
    limit = min(max(request.args.get("limit", 50, type=int), 1), 200)
    return jsonify([_mention_json(m) for m in queue_reads.items(db(), queue.id, limit=limit)])


@bp.post("/api/v1/queues/<name>/claim-next")
@token_required
def api_claim_next(name: str):
    queue = _queue_or_404(name)
    out = _run(lambda s, u: workflow.claim_next(s, queue.id, u))
    if not isinstance(out, tuple):
        return out
    mention, _ = out
    if mention is None:
        return "", 204
    return jsonify(_mention_json(mention, events=True)), 200


@bp.get("/api/v1/mentions/<int:mention_id>")
@token_required
def api_mention(mention_id: int):
    mention = db().get(Mention, mention_id)
    if mention is None:
        abort(404, f"there is no mention {mention_id}")
    return jsonify(_mention_json(mention, events=True))


@bp.post("/api/v1/mentions/<int:mention_id>/claim")
@token_required
def api_claim(mention_id: int):
    idle = settings().claim_idle_minutes
    return _mention_result(lambda s, u: workflow.claim(s, mention_id, u, idle_minutes=idle))


@bp.post("/api/v1/mentions/<int:mention_id>/release")
@token_required
def api_release(mention_id: int):
    return _mention_result(lambda s, u: workflow.release(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/reply")
@token_required
def api_reply(mention_id: int):
    from workers.jobs import try_enqueue_response

    try:
        body = _body()
    except workflow.Invalid as exc:
        return error(400, str(exc))
    out = _run(lambda s, u: workflow.reply(s, mention_id, u, str(body.get("text") or ""),
                                           saved_reply_id=body.get("saved_reply_id")), status=202)
    if not isinstance(out, tuple):
        return out
    response, status = out
    try_enqueue_response(settings(), response.id)  # failing that, it stays pending and can be retried
    return jsonify({"response": {"id": response.id, "delivery_status": response.delivery_status},
                    "mention": _mention_json(db().get(Mention, mention_id))}), status


@bp.post("/api/v1/mentions/<int:mention_id>/escalate")
@token_required
def api_escalate(mention_id: int):
    try:
        body = _body()
    except workflow.Invalid as exc:
        return error(400, str(exc))
    return _mention_result(lambda s, u: workflow.escalate(s, mention_id, u, str(body.get("to") or ""),
                                                         str(body.get("reason") or "")))


@bp.post("/api/v1/mentions/<int:mention_id>/assign")
@token_required
def api_assign(mention_id: int):
    try:
        body = _body()
    except workflow.Invalid as exc:
        return error(400, str(exc))
    out = _run(lambda s, u: workflow.assign(s, [mention_id], u, str(body.get("user") or "")))
    if not isinstance(out, tuple):
        return out
    return jsonify(_mention_json(db().get(Mention, mention_id), events=True)), 200


@bp.post("/api/v1/mentions/<int:mention_id>/resolve")
@token_required
def api_resolve(mention_id: int):
    return _mention_result(lambda s, u: workflow.resolve(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/reopen")
@token_required
def api_reopen(mention_id: int):
    return _mention_result(lambda s, u: workflow.reopen(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/notes")
@token_required
def api_note(mention_id: int):
    try:
        body = _body()
    except workflow.Invalid as exc:
        return error(400, str(exc))
    out = _run(lambda s, u: workflow.add_note(s, mention_id, u, str(body.get("text") or "")), status=201)
    if not isinstance(out, tuple):
        return out
    return jsonify(_mention_json(db().get(Mention, mention_id), events=True)), 201


@bp.get("/api/v1/openapi.json")
def openapi():
    from triage.web.openapi import document

    return jsonify(document())
