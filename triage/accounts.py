"""Team members and API tokens: creation, password checks, token lookup."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from triage.db import utcnow
from triage.models import ApiToken, Team, User
from triage.models.people import ROLES

TOKEN_PREFIX = "trg_"


class AccountError(ValueError):
    pass


def add_user(session: Session, username: str, password: str, *, role: str = "agent", display_name: str | None = None,
             team: str | None = None) -> User:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise AccountError("password must have at least 8 characters")
    username = username.strip().lower()
    if not username or session.scalar(select(User.id).where(User.username == username)):
        raise AccountError(f"user '{username}' exists already" if username else "username is empty")
    user = User(username=username, display_name=display_name or username.title(), role=role,
                password_hash=generate_password_hash(password))  # scrypt, werkzeug's default
    if team:
        user.team = session.scalar(select(Team).where(Team.name == team)) or Team(name=team)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, username: str, name: str = "api") -> str:
    """A new bearer token for `username`; only its hash is kept, so it is shown once."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise AccountError(f"no user '{username}'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token)))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None)))
    if row is None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    return row.user
