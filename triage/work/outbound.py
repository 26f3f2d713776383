"""Delivering a reply through its source's connector (`triage.intake.sources`), every attempt recorded on it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from triage.config import Settings, load_settings
from triage.core.errors import Conflict, NotFound
from triage.core.locking import rows_changed
from triage.core.roles import WORKERS, require
from triage.db import is_postgres, utcnow
from triage.intake.connections import source_config
from triage.intake.sources import connector
from triage.intake.sources.base import OutgoingReply, ReplyRefused, TransientReplyError
from triage.intake.sources.results import SourceError
from triage.models import Event, Mention, Response, User

NO_MENTION = "the mention this reply answers is gone; there is nothing to post it under"


class DeliveryError(Exception):
    """The network failed in a way that may pass; the job retries, and the reply shows as failed meanwhile."""


def _outgoing(response: Response, mention: Mention) -> OutgoingReply:
    return OutgoingReply(text=response.text, reply_id=response.id, external_id=mention.external_id, url=mention.url,
                         author_handle=mention.author.handle, network_data=dict(mention.network_data or {}))


def _failed(session: Session, response: Response, mention: Mention, reason: str, *, final: bool) -> None:
    response.delivery_status, response.last_error = "failed", reason[:1000]
    detail: dict[str, Any] = {"response_id": response.id, "attempt": response.attempts}
    if final:
        detail["refused"] = True  # the network will never take it: no automatic retry (the Retry button stays)
    session.add(Event(mention_id=mention.id, action="reply failed", created_at=utcnow(), to_state="failed",
                      reason=reason[:1000], detail=detail))


def deliver(session: Session, response_id: int, settings: Settings | None = None) -> str:
    """Send one reply through its source's connector; returns its delivery status.

    A reply where no connector can post is left to be posted by hand at the mention. A failure that may pass
    raises DeliveryError (after recording it) to be retried; one the network refuses for good (the post deleted,
    no permission), or a reply whose mention is gone, is marked failed, saying why, and not retried.
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
    found = connector(source.kind) if source is not None else None
    if source is None or found is None or found.reply_limit is None:
        response.delivery_status = "manual"
        response.url = mention.url
        response.last_error = None
        session.add(Event(mention_id=mention.id, action="reply to post by hand", created_at=utcnow(),
                          to_state="manual", detail={"response_id": response.id, "url": mention.url}))
        return "manual"
    try:
        sent = found.send_reply(source_config(settings or load_settings(), source), _outgoing(response, mention))
    except SourceError as exc:  # its credentials cannot be opened here: nothing to retry until someone acts
        _failed(session, response, mention, str(exc), final=True)
        return "failed"
    except TransientReplyError as exc:
        _failed(session, response, mention, str(exc) or type(exc).__name__, final=False)
        raise DeliveryError(str(exc)) from exc
    except ReplyRefused as exc:
        _failed(session, response, mention, str(exc) or f"{found.label} refused the reply", final=True)
        return "failed"
    # A network may post the reply without saying its id (Reddit in quarantined communities): stored as unknown.
    response.delivery_status, response.external_id = "sent", sent.external_id[:512] or None
    response.url = sent.url
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
