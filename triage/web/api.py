"""The JSON API's door, authenticated with bearer tokens (`triage token create --user NAME`): errors as JSON, the
token check with its scopes, the rate limit; and the calls that are not about one mention: health, pushing posts in,
and the OpenAPI document. The workflow's calls are `api_mentions.py`."""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from triage import health
from triage.core import errors
from triage.intake.ingest import receive
from triage.people.accounts import AccountError, push_source, token_for
from triage.web.api_fields import MAX_ITEMS
from triage.web.context import db, limiter, settings
from triage.web.openapi import document

View = TypeVar("View", bound=Callable[..., ResponseReturnValue])
UNCOUNTED = ("api.healthz", "api.openapi")  # not held to the rate limit


def error(status: int, message: str, *, headers: Iterable[tuple[str, str]] = (), **extra: Any) -> Response:
    """A JSON error body `{"error": message}`; `headers` (e.g. an exception's Allow) are kept."""
    response = jsonify({"error": message, **extra})
    response.status_code = status
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="triage"'
    return response


def http_error(exc: HTTPException) -> Response:
    """An HTTP error as JSON, with the headers it carries (Allow on a 405, Retry-After on a 429)."""
    return error(exc.code or 500, exc.description or exc.name, headers=exc.get_headers())


def _refused(exc: errors.WorkflowError) -> Response:
    db().rollback()
    return error(exc.status, str(exc))


def _rate_key() -> str:
    """Requests are counted per token (hashed), so one busy integration does not slow another at its address."""
    header = request.headers.get("Authorization", "")
    if header:
        return "token:" + hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()[:32]
    return "address:" + (request.remote_addr or "unknown")


def api_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint of the API: refusals and HTTP errors answer as JSON, and each token has its rate limit."""
    bp = Blueprint(name, import_name)
    bp.register_error_handler(HTTPException, http_error)
    bp.register_error_handler(errors.WorkflowError, _refused)
    limiter.limit(lambda: settings().api_limit, key_func=_rate_key,
                  exempt_when=lambda: request.endpoint in UNCOUNTED)(bp)
    return bp


bp = api_blueprint("api", __name__)


def token_required(view: View) -> View:
    """The view runs as the token's user, within the token's scope: a read-only token may only GET, and a token
    scoped to a source may only call views marked `source_tokens_allowed` (pushing posts), nothing else."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error(401, "send an API token as 'Authorization: Bearer <token>'")
        row = token_for(db(), token.strip())
        if row is None:
            return error(401, "the API token is unknown or revoked")
        if row.source is not None and not getattr(view, "source_tokens_allowed", False):
            return error(403, f"this token is scoped to the source '{row.source.name}': it may only push posts "
                              "into it (POST /api/v1/mentions)")
        if row.read_only and request.method not in ("GET", "HEAD", "OPTIONS"):
            return error(403, "this token is read-only: it may only GET")
        if db().is_modified(row):  # "last used" is kept even when the view itself writes nothing
            db().commit()
        g.api_user, g.api_token = row.user, row
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature; mypy cannot follow


def source_tokens_allowed(view: View) -> View:
    """Let tokens scoped to a source in; the view itself must keep them to their source."""
    view.source_tokens_allowed = True  # type: ignore[attr-defined]  # a mark `token_required` reads
    return view


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    ok, body = health.report(db(), settings())
    return jsonify(body), 200 if ok else 503


@bp.get("/api/v1/openapi.json")
def openapi() -> Response:
    return jsonify(document())


@bp.post("/api/v1/mentions")
@token_required
@source_tokens_allowed
def push_mentions() -> ResponseReturnValue:
    """Accept a JSON array of posts: 202 with what was accepted and an error per refused item.

    Who may push where is decided before the body is read (`accounts.push_source`): a lead's or admin's token,
    or a token scoped to that source; creating a source with `?source=NEW` needs a lead's or admin's token, and
    adds it as any source is added (`source_settings.api_source`, audited).
    """
    from workers.jobs import enqueue_deliveries

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

    enqueue_deliveries(settings(), receipt.delivery_ids)
    body: dict[str, Any] = {"accepted": receipt.accepted, "rejected": len(receipt.errors), "errors": receipt.errors,
            "source": source.name}
    if not receipt.accepted and receipt.errors:
        return error(400, "no post in the request was valid", **body)
    return jsonify(body), 202

