"""JSON API, authenticated with bearer tokens (`triage token create --user NAME`)."""
from __future__ import annotations

import functools
import hashlib
import json

from flask import Blueprint, abort, g, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from triage import customers, health, outbound, workflow
from triage import queues as queue_reads
from triage.accounts import AccountError, push_source, token_for
from triage.db import MAX_ROW_ID
from triage.ingest import receive
from triage.models import Mention, Queue, Response
from triage.web import db, limiter, settings

bp = Blueprint("api", __name__)
MAX_ITEMS = 5000


def error(status: int, message: str, *, headers=(), **extra):
    """A JSON error body `{"error": message}`; `headers` (e.g. an exception's Allow) are kept."""
    response = jsonify({"error": message, **extra})
    response.status_code = status
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="triage"'
    return response


def http_error(exc: HTTPException):
    """An HTTP error as JSON, with the headers it carries (Allow on a 405, Retry-After on a 429)."""
    return error(exc.code or 500, exc.description or exc.name, headers=exc.get_headers())


bp.register_error_handler(HTTPException, http_error)


def _rate_key() -> str:
    """Requests are counted per token (hashed), so one busy integration does not slow another at its address."""
    header = request.headers.get("Authorization", "")
    if header:
        return "token:" + hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()[:32]
    return "address:" + (request.remote_addr or "unknown")


limiter.limit(lambda: settings().api_limit, key_func=_rate_key,
              exempt_when=lambda: request.endpoint in ("api.healthz", "api.openapi"))(bp)


def token_required(view):
    """The view runs as the token's user, within the token's scope: a read-only token may only GET, and a token
    scoped to a source may only call views marked `source_tokens_allowed` (pushing posts), nothing else."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error(401, "send an API token as 'Authorization: Bearer <token>'")
        row = token_for(db(), token.strip())
        if row is None:
            return error(401, "the API token is unknown or revoked")
        if row.source_id is not None and not getattr(view, "source_tokens_allowed", False):
            return error(403, f"this token is scoped to the source '{row.source.name}': it may only push posts "
                              "into it (POST /api/v1/mentions)")
        if row.read_only and request.method not in ("GET", "HEAD", "OPTIONS"):
            return error(403, "this token is read-only: it may only GET")
        if db().is_modified(row):  # "last used" is kept even when the view itself writes nothing
            db().commit()
        g.api_user, g.api_token = row.user, row
        return view(*args, **kwargs)

    return wrapper


def source_tokens_allowed(view):
    """Let tokens scoped to a source in; the view itself must keep them to their source."""
    view.source_tokens_allowed = True
    return view


@bp.get("/healthz")
def healthz():
    ok, body = health.report(db(), settings())
    return jsonify(body), 200 if ok else 503


@bp.post("/api/v1/mentions")
@token_required
@source_tokens_allowed
def push_mentions():
    """Accept a JSON array of posts: 202 with what was accepted and an error per refused item.

    Who may push where is decided before the body is read (`accounts.push_source`): a lead's or admin's token,
    or a token scoped to that source; creating a source with `?source=NEW` needs a lead's or admin's token.
    """
    session = db()
    try:
        source = push_source(session, g.api_token, request.args.get("source"))
    except AccountError as exc:
        session.rollback()
        return error(exc.status, str(exc))
    try:
        payload = request.get_json(silent=True, force=True)
    except RecursionError:  # Python's JSON parser recurses per level: a body nested this deep holds no posts
        return error(400, "the body is nested too deeply to be posts (send a JSON array of posts)")
    if payload is None:
        return error(400, "the body is not valid JSON (send a JSON array of posts)")
    if isinstance(payload, dict) and isinstance(payload.get("mentions"), list):
        payload = payload["mentions"]
    if not isinstance(payload, list):
        return error(400, "send a JSON array of posts (or an object with a 'mentions' array)")
    if len(payload) > MAX_ITEMS:
        return error(413, f"at most {MAX_ITEMS:,} posts per request; split the batch")
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

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}


@bp.errorhandler(workflow.WorkflowError)
def _refused(exc: workflow.WorkflowError):
    db().rollback()
    return error(exc.status, str(exc))


def _json_object() -> dict:
    """The body as a JSON object; an empty body is an empty object."""
    data = request.get_data(cache=True)
    if not data.strip():
        return {}
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise workflow.Invalid("the body is not valid JSON (send a JSON object)") from None
    if not isinstance(payload, dict):
        raise workflow.Invalid(f"send a JSON object, not {_JSON_TYPES.get(type(payload), 'that')}")
    return payload


class Fields:
    """A JSON object body read field by field: a missing field, a wrong type or an unknown name is a 400 naming it.

    Nothing is coerced: `{"text": true}` is refused, not stored as "True".
    """

    def __init__(self, *names: str):
        self.values = _json_object()
        unknown = sorted(set(self.values) - set(names))
        if unknown:
            raise workflow.Invalid(f"unknown field '{unknown[0][:80]}'; this takes {', '.join(names)}")

    def _get(self, name: str, optional: bool):
        value = self.values.get(name)
        if value is None and not optional:
            raise workflow.Invalid(f"'{name}' is required")
        return value

    def text(self, name: str, *, optional: bool = False) -> str | None:
        value = self._get(name, optional)
        if value is None:
            return None
        if not isinstance(value, str):
            raise workflow.Invalid(f"'{name}' must be a string, not {_JSON_TYPES.get(type(value), 'that')}")
        if "\x00" in value or not _encodes(value):
            raise workflow.Invalid(f"'{name}' is not valid text (it holds a NUL character or a lone surrogate)")
        return value

    def row_id(self, name: str, *, optional: bool = False) -> int | None:
        value = self._get(name, optional)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ROW_ID:
            raise workflow.Invalid(f"'{name}' must be a whole number from 1 to {MAX_ROW_ID}")
        return value


def _encodes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_LIMIT):
        raise workflow.Invalid(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _account_json(a) -> dict:
    return {"id": a.id, "network": a.network, "handle": a.handle, "name": a.display_name}


def _mention_json(m, *, events: bool = False) -> dict:
    body = {
        "id": m.id, "network": m.network, "external_id": m.external_id, "url": m.url, "text": m.text,
        "author": {"id": m.author.id, "handle": m.author.handle, "name": m.author.display_name,
                   "followers": m.author.followers},
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
        ctx = queue_reads.context(db(), m, history_limit=0)
        body["events"] = [
            {"action": e.action, "actor": e.actor.username if e.actor else None, "from": e.from_state,
             "to": e.to_state, "reason": e.reason, "at": _iso(e.created_at), "detail": e.detail}
            for e in ctx.events
        ]
        body["responses"] = [
            {"id": r.id, "text": r.text, "origin": r.origin, "delivery_status": r.delivery_status,
             "sent_at": _iso(r.sent_at), "by": r.user.username if r.user else r.author_handle, "url": r.url,
             "last_error": r.last_error}
            for r in ctx.responses
        ]
        # What the item page offers to link: the accounts already linked, and look-alikes on other networks.
        body["linked_accounts"] = [_account_json(a) for a in ctx.linked_accounts]
        body["possibly_same"] = [_account_json(a) for a in ctx.possibly_same]
    return body


def _iso(value):
    return value.isoformat() if value else None


def _run(action, *, status: int = 200, after=None):
    """Run one transition as the token's user and commit; a refusal answers with its status (see `_refused`)."""
    session = db()
    result = action(session, g.api_user)
    session.commit()
    if after:
        after(result)
    return result, status


def _mention_result(action, *, status: int = 200, mention_id: int | None = None):
    """Run `action`, answer with the mention it returns (or with `mention_id` when it returns something else)."""
    result, status = _run(action, status=status)
    mention = db().get(Mention, mention_id) if mention_id is not None else result
    return jsonify(_mention_json(mention, events=True)), status


def _mention_or_404(mention_id: int) -> Mention:
    mention = db().get(Mention, mention_id)
    if mention is None:
        abort(404, f"there is no mention {mention_id}")
    return mention


@bp.get("/api/v1/queues")
@token_required
def api_queues():
    session = db()
    counts = queue_reads.counts(session)
    return jsonify([{"name": q.slug, "title": q.name, "description": q.description, "open": counts.get(q.id, 0)}
                    for q in queue_reads.all_queues(session)])


def _queue_or_404(name: str):
    queue = None if "\x00" in name else db().scalar(select(Queue).where(Queue.slug == name))
    if queue is None:
        abort(404, f"there is no queue '{name[:80]}'")
    return queue


@bp.get("/api/v1/queues/<name>/mentions")
@token_required
def api_queue_mentions(name: str):
    queue = _queue_or_404(name)
    limit = _limit()
    return jsonify([_mention_json(m) for m in queue_reads.items(db(), queue.id, limit=limit)])


@bp.post("/api/v1/queues/<name>/claim-next")
@token_required
def api_claim_next(name: str):
    queue = _queue_or_404(name)
    mention, _ = _run(lambda s, u: workflow.claim_next(s, queue.id, u))
    if mention is None:
        return "", 204
    return jsonify(_mention_json(mention, events=True)), 200


@bp.get("/api/v1/mentions/<int:mention_id>")
@token_required
def api_mention(mention_id: int):
    return jsonify(_mention_json(_mention_or_404(mention_id), events=True))


@bp.post("/api/v1/mentions/<int:mention_id>/claim")
@token_required
def api_claim(mention_id: int):
    idle = settings().claim_idle_minutes
    return _mention_result(lambda s, u: workflow.claim(s, mention_id, u, idle_minutes=idle))


@bp.post("/api/v1/mentions/<int:mention_id>/release")
@token_required
def api_release(mention_id: int):
    return _mention_result(lambda s, u: workflow.release(s, mention_id, u))


def _reply_json(response: Response, mention_id: int) -> dict:
    return {"response": {"id": response.id, "delivery_status": response.delivery_status},
            "mention": _mention_json(db().get(Mention, mention_id))}


@bp.post("/api/v1/mentions/<int:mention_id>/reply")
@token_required
def api_reply(mention_id: int):
    from workers.jobs import try_enqueue_response

    fields = Fields("text", "saved_reply_id")
    text, saved_reply_id = fields.text("text"), fields.row_id("saved_reply_id", optional=True)
    response, status = _run(lambda s, u: workflow.reply(s, mention_id, u, text, saved_reply_id=saved_reply_id),
                            status=202)
    try_enqueue_response(settings(), response.id)  # failing that, it stays pending and can be retried
    return jsonify(_reply_json(response, mention_id)), status


@bp.post("/api/v1/mentions/<int:mention_id>/responses/<int:response_id>/retry")
@token_required
def api_retry_reply(mention_id: int, response_id: int):
    from workers.jobs import try_enqueue_response

    response, status = _run(lambda s, u: outbound.retry(s, mention_id, response_id, u), status=202)
    try_enqueue_response(settings(), response.id, attempt=response.attempts)
    return jsonify(_reply_json(response, mention_id)), status


@bp.post("/api/v1/mentions/<int:mention_id>/escalate")
@token_required
def api_escalate(mention_id: int):
    fields = Fields("to", "reason")
    to, reason = fields.text("to"), fields.text("reason")
    return _mention_result(lambda s, u: workflow.escalate(s, mention_id, u, to, reason))


@bp.post("/api/v1/mentions/<int:mention_id>/assign")
@token_required
def api_assign(mention_id: int):
    username = Fields("user").text("user")
    return _mention_result(lambda s, u: workflow.assign(s, [mention_id], u, username), mention_id=mention_id)


@bp.post("/api/v1/mentions/<int:mention_id>/resolve")
@token_required
def api_resolve(mention_id: int):
    return _mention_result(lambda s, u: workflow.resolve(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/spam")
@token_required
def api_spam(mention_id: int):
    return _mention_result(lambda s, u: workflow.mark_spam(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/irrelevant")
@token_required
def api_irrelevant(mention_id: int):
    return _mention_result(lambda s, u: workflow.mark_irrelevant(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/reopen")
@token_required
def api_reopen(mention_id: int):
    return _mention_result(lambda s, u: workflow.reopen(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/relabel")
@token_required
def api_relabel(mention_id: int):
    fields = Fields("sentiment", "intent")
    sentiment, intent = fields.text("sentiment", optional=True), fields.text("intent", optional=True)
    return _mention_result(lambda s, u: workflow.relabel(s, mention_id, u, sentiment=sentiment, intent=intent))


@bp.post("/api/v1/mentions/<int:mention_id>/link")
@token_required
def api_link_accounts(mention_id: int):
    other = Fields("author_id").row_id("author_id")
    mention = _mention_or_404(mention_id)
    return _mention_result(lambda s, u: customers.link_authors(s, mention.author_id, other, u, mention_id=mention_id),
                           mention_id=mention_id)


@bp.post("/api/v1/mentions/<int:mention_id>/notes")
@token_required
def api_note(mention_id: int):
    text = Fields("text").text("text")
    return _mention_result(lambda s, u: workflow.add_note(s, mention_id, u, text), status=201, mention_id=mention_id)


@bp.get("/api/v1/openapi.json")
def openapi():
    from triage.web.openapi import document

    return jsonify(document())
