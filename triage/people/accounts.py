"""Team members, their sessions and their API tokens: who may log in, and what each token may do.

Every change here checks the actor's role, validates and writes its audit event (an `Event` with no mention) in
the caller's transaction. `actor=None` is the operator at the console (the `triage` command), who may do
anything an admin may; the audit event records them as such. A token or password never goes into an event.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from triage.core import errors
from triage.core.audit import OPERATOR as OPERATOR  # OPERATOR: who `actor=None` is, re-exported
from triage.core.audit import record
from triage.core.locking import rows_changed, write_lock
from triage.core.roles import ADMIN, LEADS, require
from triage.db import utcnow
from triage.intake.source_settings import API_SOURCE, api_source
from triage.models import ApiToken, Source, Team, User
from triage.models.people import ROLES
from triage.people import teams
from triage.work import claims

TOKEN_PREFIX = "trg_"
MIN_PASSWORD, MAX_PASSWORD = 8, 256
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
LAST_USED_EVERY = timedelta(minutes=1)


class AccountError(errors.Invalid):
    """Refused input. Every refusal here is an AccountError (what the web, the API and the command catch) and
    also the `triage.core.errors` class that says why, with its HTTP `status`."""

    status = 400


class NotAllowed(AccountError, errors.Forbidden):
    status = 403


class NotFound(AccountError, errors.NotFound):
    status = 404


def _audit(session: Session, actor: User | None, action: str, reason: str, **detail: Any) -> None:
    record(session, actor, action, reason, **detail)


def _require_admin(actor: User | None, what: str) -> None:
    require(actor, ADMIN, what, error=NotAllowed)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"there is no user {user_id}")
    return user


def _user_named(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.strip().lower()))


def _known_user(session: Session, username: str) -> User:
    user = _user_named(session, username)
    if user is None:
        raise NotFound(f"no user '{username.strip()[:64]}'")
    return user


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password must have at most {MAX_PASSWORD} characters")


# People -----------------------------------------------------------------------------------------------------

def add_user(session: Session, username: str, password: str, *, role: str = "agent", display_name: str | None = None,
             team: str | None = None) -> User:
    """A new user, not audited: the install's demo team and tests. People an admin or the operator adds go
    through `create_user`, which writes the event."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError("password must have at least 8 characters")
    username = username.strip().lower()
    if not username:
        raise AccountError("username is empty")
    if not USERNAME_RE.fullmatch(username):
        raise AccountError("a username starts with a letter or digit and uses only letters, digits, '.', '_', '-' "
                           "(at most 64 characters)")
    if session.scalar(select(User.id).where(User.username == username)):
        raise AccountError(f"user '{username}' exists already")
    user = User(username=username, display_name=display_name or username.title(), role=role,
                password_hash=generate_password_hash(password))  # scrypt, werkzeug's default
    if team:
        user.team = session.scalar(select(Team).where(Team.name == team)) or Team(name=team)
    session.add(user)
    session.flush()
    return user


def create_user(session: Session, actor: User | None, username: str, password: str, *, role: str = "agent",
                display_name: str | None = None, team: str | None = None, team_id: int | None = None) -> User:
    """Add someone (admins; `actor=None` is the operator), in a team by id or by name (created if new); audited."""
    _require_admin(actor, "add people")
    if team and team_id is None:
        existing = session.scalar(select(Team).where(func.lower(Team.name) == team.strip().lower()))
        team_id = existing.id if existing is not None else teams.add_team(session, actor, team).id
    user = add_user(session, username, password, role=role, display_name=display_name)
    if team_id is not None:
        if session.get(Team, team_id) is None:
            raise NotFound(f"there is no team {team_id}")
        user.team_id = team_id
        session.flush()
    _audit(session, actor, "user added", f"{user.username} added as {user.role}", user=user.username,
           after={"role": user.role, "team_id": user.team_id, "display_name": user.display_name})
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = _user_named(session, username)
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


def end_sessions(session: Session, user: User) -> None:
    """Make every login cookie of `user` (each session, each remember-me cookie) worthless from now on."""
    # One atomic UPDATE, so two concurrent bumps cannot both write the same next value.
    session.execute(update(User).where(User.id == user.id).values(session_generation=User.session_generation + 1)
                    .execution_options(synchronize_session=False))
    session.refresh(user, ["session_generation"])


def user_for_session(session: Session, alternative_id: str) -> User | None:
    """The user a login cookie names ("<id>:<generation>"), if that cookie is still current and they are active."""
    user_id, _, generation = alternative_id.partition(":")
    if not (user_id.isdigit() and generation.isdigit() and len(user_id) < 12 and len(generation) < 12):
        return None  # a cookie from before generations, or forged: log in again
    user = session.get(User, int(user_id))
    if user is None or not user.active or user.session_generation != int(generation):
        return None
    return user


def log_out(session: Session, user: User) -> None:
    """Logging out ends every session of `user`: a copied session or remember cookie cannot come back."""
    end_sessions(session, user)


def _other_active_admins(session: Session, user_id: int) -> int:
    """Active admins besides `user_id`, read under a lock so two admins cannot demote each other at once."""
    write_lock(session)
    admins = session.scalars(select(User.id).where(User.role == "admin", User.active.is_(True))
                             .order_by(User.id).with_for_update()).all()
    return sum(1 for i in admins if i != user_id)


def change_role(session: Session, actor: User | None, user_id: int, role: str, team_id: int | None) -> User:
    """Give someone a role and a team (admins). A new role ends their sessions: they log in again under it."""
    _require_admin(actor, "change roles")
    if role not in ROLES:
        raise AccountError(f"role must be one of: {', '.join(ROLES)}")
    user = _user(session, user_id)
    if user.role == "admin" and role != "admin" and user.active and not _other_active_admins(session, user.id):
        raise AccountError(f"{user.username} is the last active admin; make someone else an admin first")
    before = {"role": user.role, "team_id": user.team_id}
    user.role, user.team_id = role, team_id
    if before["role"] != role:
        end_sessions(session, user)
    after = {"role": role, "team_id": team_id}
    if before != after:
        _audit(session, actor, "user changed", f"{user.username}: {before['role']} → {role}", user=user.username,
               before=before, after=after)
    session.flush()
    return user


def reset_password(session: Session, actor: User | None, user_id: int, password: str) -> int:
    """Set a new password (admins): every session ends and every API token is revoked. Returns the tokens revoked."""
    _require_admin(actor, "reset passwords")
    _check_password(password)
    user = _user(session, user_id)
    user.password_hash = generate_password_hash(password)
    end_sessions(session, user)
    revoked = rows_changed(
        session, update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    _audit(session, actor, "password reset", f"{user.username}: sessions ended, {revoked} API token(s) revoked",
           user=user.username, tokens_revoked=revoked)
    session.flush()
    return revoked


def deactivate(session: Session, actor: User | None, user_id: int) -> list[int]:
    """Someone leaves (admins): no more logins or tokens, their claims go back. Returns the mentions released."""
    _require_admin(actor, "deactivate people")
    user = _user(session, user_id)
    if actor is not None and user.id == actor.id:
        raise AccountError("you cannot deactivate yourself; ask another admin")
    if user.role == "admin" and not _other_active_admins(session, user.id):
        raise AccountError(f"{user.username} is the last active admin")
    user.active = False
    end_sessions(session, user)
    released = claims.release_all(session, user, actor)
    _audit(session, actor, "user deactivated", user.username, user=user.username, released=len(released))
    session.flush()
    return released


def reactivate(session: Session, actor: User | None, user_id: int) -> User:
    """Let someone log in again (admins); sessions from before the deactivation stay ended."""
    _require_admin(actor, "reactivate people")
    user = _user(session, user_id)
    user.active = True
    end_sessions(session, user)
    _audit(session, actor, "user reactivated", user.username, user=user.username)
    session.flush()
    return user


# API tokens ---------------------------------------------------------------------------------------------------
# Who manages which tokens: everyone their own; admins (and the operator) anyone's; leads may also list and revoke
# anyone's, to cut off a leaking integration, but not create tokens for others (that would let them act as them).
# A token scoped to a source pushes into that source whatever its user's role, so only a lead or admin grants one.

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _source_named(session: Session, name: str) -> Source | None:
    return session.scalar(select(Source).where(func.lower(Source.name) == name.strip().lower()))


def create_token(session: Session, username: str, name: str = "api", *, actor: User | None = None,
                 source: str | None = None, read_only: bool = False) -> str:
    """A new bearer token for `username`, optionally scoped to one source or read-only; shown once (only its hash
    is kept). `actor=None` is the operator at the console."""
    user = _known_user(session, username)
    if actor is not None and actor.id != user.id and not actor.can():
        raise NotAllowed(f"a {actor.role} can create tokens for themself only; admins create them for others")
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        raise AccountError("a token's name has 1 to 80 characters: say what it is for")
    if not user.active:
        raise AccountError(f"{user.username} is deactivated; reactivate them first")
    if source and read_only:
        raise AccountError("a token is scoped to a source or read-only, not both")
    scoped = None
    if source:
        if actor is not None and not actor.can(*LEADS):
            raise NotAllowed("only a lead or an admin can create a token that pushes into a source")
        scoped = _source_named(session, source)
        if scoped is None:
            raise NotFound(f"there is no source '{source.strip()[:80]}'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=_digest(token), source_id=scoped.id if scoped else None,
                   read_only=read_only)
    session.add(row)
    session.flush()
    session.refresh(row, ["source", "user"])
    _audit(session, actor, "token created", f"“{name}” for {user.username}: {row.scope}", token_id=row.id,
           user=user.username, source=scoped.name if scoped else None, read_only=read_only)
    return token


def list_tokens(session: Session, actor: User | None, username: str | None = None) -> list[ApiToken]:
    """Tokens, newest first: the actor's own, or (admins, leads, the operator) anyone's; `username` narrows."""
    query = select(ApiToken).join(ApiToken.user).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    own = None if actor is None or actor.can(*LEADS) else actor  # who the list is narrowed to, if anyone
    if username:
        user = _known_user(session, username)
        if own is not None and user.id != own.id:
            raise NotAllowed(f"a {own.role} sees their own tokens only")
        query = query.where(ApiToken.user_id == user.id)
    elif own is not None:
        query = query.where(ApiToken.user_id == own.id)
    return list(session.scalars(query))


def revoke_token(session: Session, actor: User | None, token_id: int) -> ApiToken:
    """Revoke a token for good (its user, a lead, an admin or the operator)."""
    row = session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
    if row is None:
        raise NotFound(f"there is no token {token_id}")
    if actor is not None and actor.id != row.user_id and not actor.can(*LEADS):
        raise NotAllowed(f"a {actor.role} can revoke their own tokens only")
    if row.revoked_at is not None:
        raise AccountError(f"token {token_id} (“{row.name}”) is revoked already")
    row.revoked_at = utcnow()
    _audit(session, actor, "token revoked", f"“{row.name}” of {row.user.username}: {row.scope}", token_id=row.id,
           user=row.user.username)
    session.flush()
    return row


def token_for(session: Session, token: str) -> ApiToken | None:
    """The live token behind a bearer secret (its user active), noting when it was last used."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None)))
    if row is None or not row.user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:  # a write per minute, not per call
        row.last_used_at = now
    return row


def user_for_token(session: Session, token: str) -> User | None:
    """The user a live bearer secret acts as."""
    row = token_for(session, token)
    return row.user if row else None


def push_source(session: Session, token: ApiToken, name: str | None) -> Source:
    """The source a push with `token` lands in, created if new; refuses what the token may not do.

    A source-scoped token pushes into its own source only. Otherwise pushing into an existing source and creating
    one both need a lead's or admin's token, as adding sources and uploading files do in the web app.
    """
    name = " ".join((name or "").split())[:80]
    if token.source is not None:
        if name and name.lower() != token.source.name.lower():
            raise NotAllowed(f"this token may only push into the source '{token.source.name}', not '{name}'")
        return token.source
    if token.read_only:
        raise NotAllowed("this token is read-only: it cannot push mentions")
    name = name or API_SOURCE
    source = _source_named(session, name)
    user = token.user
    if source is None:
        if not user.can(*LEADS):
            raise NotAllowed(f"there is no source '{name}', and creating one needs a lead's or an admin's token "
                             f"(this is a {user.role}'s)")
        return api_source(session, user, name)
    if not user.can(*LEADS):
        raise NotAllowed(f"pushing into '{source.name}' needs a lead's or an admin's token, or a token scoped to "
                         f"that source (this is a {user.role}'s)")
    return source
