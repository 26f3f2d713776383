"""Delivering a reply through its source's outbound path, with every attempt recorded on the reply."""
from __future__ import annotations

import random

from sqlalchemy import update
from sqlalchemy.orm import Session

from triage.db import utcnow
from triage.models import Event, Mention, Response, User


class DeliveryError(Exception):
    """The network refused or failed; the job retries, and the reply shows as failed meanwhile."""


def _demo(response: Response, mention: Mention, config: dict) -> tuple[str, str | None]:
    """The demo network accepts replies (it can be told to be flaky, to show retries)."""
    if random.random() < float(config.get("reply_failure_rate", 0) or 0):
        raise DeliveryError("demo network: 503 Service Unavailable (simulated)")
    return f"demo-reply-{response.id}", None


# Kinds that can post for us; any other kind records the reply as "to be posted by hand".
OUTBOUND = {"demo": _demo}


def deliver(session: Session, response_id: int) -> str:
    """Send one reply; returns its delivery status. Raises DeliveryError (after recording it) to be retried."""
    response = session.get(Response, response_id, with_for_update=session.get_bind().dialect.name == "postgresql")
    if response is None or response.delivery_status in ("sent", "manual"):
        return response.delivery_status if response else "missing"
    mention = session.get(Mention, response.mention_id)
    source = mention.source
    response.attempts += 1
    send = OUTBOUND.get(source.kind if source else "")
    if send is None:
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
    from triage.workflow import WORKERS, Conflict, Forbidden, NotFound

    if not user.can(*WORKERS):
        raise Forbidden(f"a {user.role} cannot retry a reply; it needs the role {' or '.join(WORKERS)}")
    response = session.get(Response, response_id, populate_existing=True)
    if response is None or response.mention_id != mention_id:
        raise NotFound(f"mention {mention_id} has no reply {response_id}")
    # Conditional, so two people pressing Retry at once send it once.
    done = session.execute(update(Response).where(Response.id == response_id, Response.delivery_status == "failed")
                           .values(delivery_status="pending")).rowcount
    session.refresh(response)
    if not done:
        raise Conflict(f"this reply is {response.delivery_status}; only failed replies are retried")
    session.add(Event(mention_id=mention_id, actor_id=user.id, action="retried reply", from_state="failed",
                      to_state="pending", created_at=utcnow(),
                      detail={"response_id": response.id, "attempts": response.attempts}))
    return response
