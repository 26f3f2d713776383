"""Saved replies: the answers leads write once for agents to reuse. Add, change, delete, each audited.

Each change checks the role (leads and admins), validates, changes and writes its audit event in the caller's
transaction (caller commits); the web forms are thin shells over these.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage import audit
from triage.db import utcnow
from triage.models import SavedReply, User
from triage.workflow import Forbidden, Invalid, NotFound


def _require_lead(actor: User) -> None:
    if not actor.can("lead"):
        raise Forbidden(f"a {actor.role} cannot change saved replies; it needs the role lead")


def _check_title(session: Session, title: str, reply_id: int | None = None) -> str:
    if not title:
        raise Invalid("Title is empty.")
    clash = session.scalar(select(SavedReply.id).where(func.lower(SavedReply.title) == title.lower(),
                                                       SavedReply.id != (reply_id or 0)))
    if clash is not None:
        raise Invalid(f"There is a saved reply titled “{title}” already.")
    return title


def _settings(reply: SavedReply) -> dict:
    return {"title": reply.title, "body": reply.body, "intent": reply.intent}


def add_reply(session: Session, actor: User, title: str, body: str, intent: str | None = None) -> SavedReply:
    """A new saved reply agents can use at once."""
    _require_lead(actor)
    reply = SavedReply(created_by_id=actor.id, title=_check_title(session, title), body=body, intent=intent)
    session.add(reply)
    session.flush()
    audit.record(session, actor, "saved reply added", f"saved reply “{reply.title}” added", saved_reply_id=reply.id,
                 after=_settings(reply))
    return reply


def update_reply(session: Session, actor: User, reply_id: int, title: str, body: str,
                 intent: str | None = None) -> SavedReply:
    """Change a saved reply's title, text or intent; replies already sent with it stay as they were."""
    _require_lead(actor)
    reply = session.get(SavedReply, reply_id)
    if reply is None:
        raise NotFound(f"there is no saved reply {reply_id}")
    before = _settings(reply)
    reply.title, reply.body, reply.intent = _check_title(session, title, reply_id), body, intent
    reply.updated_at = utcnow()
    after = _settings(reply)
    changed = [k for k in after if before[k] != after[k]]
    audit.record(session, actor, "saved reply changed", f"saved reply “{reply.title}”: "
                 f"{', '.join(changed) or 'nothing'} changed", saved_reply_id=reply.id,
                 before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    return reply


def delete_reply(session: Session, actor: User, reply_id: int) -> str:
    """Delete a saved reply; returns its title."""
    _require_lead(actor)
    reply = session.get(SavedReply, reply_id)
    if reply is None:
        raise NotFound(f"there is no saved reply {reply_id}")
    before = _settings(reply)
    session.delete(reply)
    session.flush()
    audit.record(session, actor, "saved reply deleted", f"saved reply “{before['title']}” deleted",
                 saved_reply_id=reply_id, before=before)
    return before["title"]


__all__ = ["add_reply", "delete_reply", "update_reply"]
