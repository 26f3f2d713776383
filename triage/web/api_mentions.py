"""The workflow through the JSON API, for integrations and scripts: read the queues and a mention, claim, reply,
escalate, resolve... with the same domain functions as the web pages, as the token's user."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, g, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from triage.models import Author, Mention, Queue, User
from triage.models import Response as Reply
from triage.people import customers
from triage.web.api import api_blueprint, token_required
from triage.web.api_fields import Fields, limit
from triage.web.context import db, settings
from triage.work import claims, corrections, escalation, outbound, replies
from triage.work import queues as queue_reads

bp = api_blueprint("api_mentions", __name__)
T = TypeVar("T")
Action = Callable[[Session, User], T]


# Mentions as JSON --------------------------------------------------------------------------------------------------

def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _account_json(a: Author) -> dict[str, Any]:
    return {"id": a.id, "network": a.network, "handle": a.handle, "name": a.display_name}


def _mention_json(m: Mention, *, events: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
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


def _mention_or_404(mention_id: int) -> Mention:
    mention = db().get(Mention, mention_id)
    if mention is None:
        abort(404, f"there is no mention {mention_id}")
    return mention


def _reply_json(response: Reply, mention_id: int) -> dict[str, Any]:
    return {"response": {"id": response.id, "delivery_status": response.delivery_status},
            "mention": _mention_json(_mention_or_404(mention_id))}


# Running a transition ----------------------------------------------------------------------------------------------

def _run(action: Action[T]) -> T:
    """Run one transition as the token's user and commit; a refusal answers with its status (`api._refused`)."""
    session = db()
    result = action(session, g.api_user)
    session.commit()
    return result


def _answer(action: Action[Mention]) -> ResponseReturnValue:
    """Run `action` and answer with the mention it returns, with its events."""
    return jsonify(_mention_json(_run(action), events=True)), 200


def _answer_with(mention_id: int, action: Action[object], *, status: int = 200) -> ResponseReturnValue:
    """Run `action` (which returns something else) and answer with mention `mention_id`, with its events."""
    _run(action)
    return jsonify(_mention_json(_mention_or_404(mention_id), events=True)), status


# Queues ------------------------------------------------------------------------------------------------------------

@bp.get("/api/v1/queues")
@token_required
def queues() -> Response:
    session = db()
    counts = queue_reads.counts(session)
    return jsonify([{"name": q.slug, "title": q.name, "description": q.description, "open": counts.get(q.id, 0)}
                    for q in queue_reads.all_queues(session)])


def _queue_or_404(name: str) -> Queue:
    queue = None if "\x00" in name else db().scalar(select(Queue).where(Queue.slug == name))
    if queue is None:
        abort(404, f"there is no queue '{name[:80]}'")
    return queue


@bp.get("/api/v1/queues/<name>/mentions")
@token_required
def queue_mentions(name: str) -> Response:
    queue = _queue_or_404(name)
    return jsonify([_mention_json(m) for m in queue_reads.items(db(), queue.id, limit=limit())])


@bp.post("/api/v1/queues/<name>/claim-next")
@token_required
def claim_next(name: str) -> ResponseReturnValue:
    queue = _queue_or_404(name)
    mention = _run(lambda s, u: claims.claim_next(s, queue.id, u))
    if mention is None:
        return "", 204
    return jsonify(_mention_json(mention, events=True)), 200


# One mention -------------------------------------------------------------------------------------------------------

@bp.get("/api/v1/mentions/<int:mention_id>")
@token_required
def mention(mention_id: int) -> Response:
    return jsonify(_mention_json(_mention_or_404(mention_id), events=True))


@bp.post("/api/v1/mentions/<int:mention_id>/claim")
@token_required
def claim(mention_id: int) -> ResponseReturnValue:
    idle = settings().claim_idle_minutes
    return _answer(lambda s, u: claims.claim(s, mention_id, u, idle_minutes=idle))


@bp.post("/api/v1/mentions/<int:mention_id>/release")
@token_required
def release(mention_id: int) -> ResponseReturnValue:
    return _answer(lambda s, u: claims.release(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/reply")
@token_required
def reply(mention_id: int) -> ResponseReturnValue:
    from workers.jobs import try_enqueue_response

    fields = Fields("text", "saved_reply_id")
    text, saved_reply_id = fields.text("text"), fields.optional_row_id("saved_reply_id")
    response = _run(lambda s, u: replies.reply(s, mention_id, u, text, saved_reply_id=saved_reply_id))
    try_enqueue_response(settings(), response.id)  # failing that, it stays pending and can be retried
    return jsonify(_reply_json(response, mention_id)), 202


@bp.post("/api/v1/mentions/<int:mention_id>/responses/<int:response_id>/retry")
@token_required
def retry_reply(mention_id: int, response_id: int) -> ResponseReturnValue:
    from workers.jobs import try_enqueue_response

    response = _run(lambda s, u: outbound.retry(s, mention_id, response_id, u))
    try_enqueue_response(settings(), response.id, attempt=response.attempts)
    return jsonify(_reply_json(response, mention_id)), 202


@bp.post("/api/v1/mentions/<int:mention_id>/escalate")
@token_required
def escalate(mention_id: int) -> ResponseReturnValue:
    fields = Fields("to", "reason")
    to, reason = fields.text("to"), fields.text("reason")
    return _answer(lambda s, u: escalation.escalate(s, mention_id, u, to, reason))


@bp.post("/api/v1/mentions/<int:mention_id>/assign")
@token_required
def assign(mention_id: int) -> ResponseReturnValue:
    username = Fields("user").text("user")
    return _answer_with(mention_id, lambda s, u: escalation.assign(s, [mention_id], u, username))


@bp.post("/api/v1/mentions/<int:mention_id>/resolve")
@token_required
def resolve(mention_id: int) -> ResponseReturnValue:
    return _answer(lambda s, u: replies.resolve(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/spam")
@token_required
def spam(mention_id: int) -> ResponseReturnValue:
    return _answer(lambda s, u: replies.mark_spam(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/irrelevant")
@token_required
def irrelevant(mention_id: int) -> ResponseReturnValue:
    return _answer(lambda s, u: replies.mark_irrelevant(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/reopen")
@token_required
def reopen(mention_id: int) -> ResponseReturnValue:
    return _answer(lambda s, u: replies.reopen(s, mention_id, u))


@bp.post("/api/v1/mentions/<int:mention_id>/relabel")
@token_required
def relabel(mention_id: int) -> ResponseReturnValue:
    fields = Fields("sentiment", "intent")
    sentiment, intent = fields.optional_text("sentiment"), fields.optional_text("intent")
    return _answer(lambda s, u: corrections.relabel(s, mention_id, u, sentiment=sentiment, intent=intent))


@bp.post("/api/v1/mentions/<int:mention_id>/link")
@token_required
def link_accounts(mention_id: int) -> ResponseReturnValue:
    other = Fields("author_id").row_id("author_id")
    author_id = _mention_or_404(mention_id).author_id
    return _answer_with(mention_id, lambda s, u: customers.link_authors(s, author_id, other, u, mention_id=mention_id))


@bp.post("/api/v1/mentions/<int:mention_id>/notes")
@token_required
def note(mention_id: int) -> ResponseReturnValue:
    text = Fields("text").text("text")
    return _answer_with(mention_id, lambda s, u: replies.add_note(s, mention_id, u, text), status=201)
