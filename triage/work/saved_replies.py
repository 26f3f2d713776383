"""Saved replies: the answers leads write once for agents to reuse. Add, change, delete, each audited.

Each change checks the role (leads and admins), validates, changes and writes its audit event in the caller's
transaction (caller commits); the web forms are thin shells over these.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage.core import audit
from triage.core.errors import Invalid, NotFound
from triage.core.roles import LEADS, require
from triage.core.vocabulary import DEFAULT_REPLY_LIMIT, INTENTS
from triage.db import utcnow
from triage.intake.posts import clean_text
from triage.models import SavedReply, User

MAX_TITLE = 120


def _text(raw: str, label: str, limit: int) -> str:
    value = clean_text(raw)
    if not value:
        raise Invalid(f"{label} is empty.")
    if len(value) > limit:
        raise Invalid(f"{label} is too long: {len(value):,} characters, at most {limit:,}.")
    return value


def _fields(session: Session, title: str, body: str, intent: str | None,
            reply_id: int | None = None) -> tuple[str, str, str | None]:
    """Title, body and intent as typed, cleaned and checked; an empty intent is "any"."""
    title, body = _text(title, "Title", MAX_TITLE), _text(body, "The reply", DEFAULT_REPLY_LIMIT)
    if intent and intent not in INTENTS:
        raise Invalid(f"Intent must be one of: {', '.join(INTENTS)}.")
    return _check_title(session, title, reply_id), body, intent or None


def _check_title(session: Session, title: str, reply_id: int | None = None) -> str:
    clash = session.scalar(select(SavedReply.id).where(func.lower(SavedReply.title) == title.lower(),
                                                       SavedReply.id != (reply_id or 0)))
    if clash is not None:
        raise Invalid(f"There is a saved reply titled “{title}” already.")
    return title


def _settings(reply: SavedReply) -> dict[str, Any]:
    return {"title": reply.title, "body": reply.body, "intent": reply.intent}


def add_reply(session: Session, actor: User, title: str, body: str, intent: str | None = None) -> SavedReply:
    """A new saved reply agents can use at once."""
    require(actor, LEADS, "change saved replies")
    title, body, intent = _fields(session, title, body, intent)
    reply = SavedReply(created_by_id=actor.id, title=title, body=body, intent=intent)
    session.add(reply)
    session.flush()
    audit.record(session, actor, "saved reply added", f"saved reply “{reply.title}” added", saved_reply_id=reply.id,
                 after=_settings(reply))
    return reply


def update_reply(session: Session, actor: User, reply_id: int, title: str, body: str,
                 intent: str | None = None) -> SavedReply:
    """Change a saved reply's title, text or intent; replies already sent with it stay as they were."""
    require(actor, LEADS, "change saved replies")
    reply = session.get(SavedReply, reply_id)
    if reply is None:
        raise NotFound(f"there is no saved reply {reply_id}")
    before = _settings(reply)
    reply.title, reply.body, reply.intent = _fields(session, title, body, intent, reply_id)
    reply.updated_at = utcnow()
    after = _settings(reply)
    changed = [k for k in after if before[k] != after[k]]
    audit.record(session, actor, "saved reply changed", f"saved reply “{reply.title}”: "
                 f"{', '.join(changed) or 'nothing'} changed", saved_reply_id=reply.id,
                 before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    return reply


def delete_reply(session: Session, actor: User, reply_id: int) -> str:
    """Delete a saved reply; returns its title."""
    require(actor, LEADS, "change saved replies")
    reply = session.get(SavedReply, reply_id)
    if reply is None:
        raise NotFound(f"there is no saved reply {reply_id}")
    title, before = reply.title, _settings(reply)
    session.delete(reply)
    session.flush()
    audit.record(session, actor, "saved reply deleted", f"saved reply “{title}” deleted",
                 saved_reply_id=reply_id, before=before)
    return title


__all__ = ["add_reply", "delete_reply", "update_reply"]
