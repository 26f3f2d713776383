"""Delivering a reply through its source's outbound path, with every attempt recorded on the reply."""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from triage.core.errors import Conflict, NotFound
from triage.core.locking import rows_changed
from triage.core.roles import WORKERS, require
from triage.db import is_postgres, utcnow
from triage.models import Event, Mention, Response, User

NO_MENTION = "the mention this reply answers is gone; there is nothing to post it under"


class DeliveryError(Exception):
    """The network refused or failed; the job retries, and the reply shows as failed meanwhile."""


def _demo(response: Response, mention: Mention, config: dict[str, Any]) -> tuple[str, str | None]:
    """The demo network accepts replies (it can be told to be flaky, to show retries)."""
    if random.random() < float(config.get("reply_failure_rate", 0) or 0):
        raise DeliveryError("demo network: 503 Service Unavailable (simulated)")
    return f"demo-reply-{response.id}", None


# Kinds that can post for us; any other kind records the reply as "to be posted by hand".
Sender = Callable[[Response, Mention, dict[str, Any]], tuple[str, str | None]]
OUTBOUND: dict[str, Sender] = {"demo": _demo}


def deliver(session: Session, response_id: int) -> str:
    """Send one reply; returns its delivery status. Raises DeliveryError (after recording it) to be retried.

    A reply whose mention is gone is marked failed, saying so, and not retried: no attempt could succeed.
    """
    response = session.get(Response, response_id, with_for_update=is_postgres(session))
    if response is None:
        return "missing"
    if response.delivery_status in ("sent", "manual"):
        return response.delivery_status
    mention = session.get(Mention, response.mention_id) if response.mention_id is not None else None
    response.attempts += 1
    if mention is None:
        response.delivery_status, response.last_error = "failed", NO_MENTION
        return "failed"
    source = mention.source
    send = OUTBOUND.get(source.kind) if source is not None else None
    if source is None or send is None:
        response.delivery_status = "manual"
        response.url = mention.url
        response.last_error = None
        session.add(Event(mention_id=mention.id, action="reply to post by hand", created_at=utcnow(),
                          to_state="manual", detail={"response_id": response.id, "url": mention.url}))
        return "manual"
    try:
        external_id, url = send(response, mention, source.config or {})
    except DeliveryError as exc:
        response.delivery_status, response.last_error = "failed", str(exc)[:1000]
        session.add(Event(mention_id=mention.id, action="reply failed", created_at=utcnow(), to_state="failed",
                          reason=str(exc)[:1000], detail={"response_id": response.id, "attempt": response.attempts}))
        raise
    response.delivery_status, response.external_id, response.url = "sent", external_id, url
    response.sent_at, response.last_error = utcnow(), None
    session.add(Event(mention_id=mention.id, action="reply sent", created_at=response.sent_at, to_state="sent",
                      detail={"response_id": response.id, "attempt": response.attempts}))
    return "sent"


def retry(session: Session, mention_id: int, response_id: int, user: User) -> Response:
    """Send a failed reply again (agents and leads); the caller commits, then enqueues its delivery."""
    require(user, WORKERS, "retry a reply")
    response = session.get(Response, response_id, populate_existing=True)
    if response is None or response.mention_id != mention_id:
        raise NotFound(f"mention {mention_id} has no reply {response_id}")
    # Conditional, so two people pressing Retry at once send it once.
    done = rows_changed(session, update(Response).where(Response.id == response_id,
                                                        Response.delivery_status == "failed")
                        .values(delivery_status="pending"))
    session.refresh(response)
    if not done:
        raise Conflict(f"this reply is {response.delivery_status}; only failed replies are retried")
    session.add(Event(mention_id=mention_id, actor_id=user.id, action="retried reply", from_state="failed",
                      to_state="pending", created_at=utcnow(),
                      detail={"response_id": response.id, "attempts": response.attempts}))
    return response
