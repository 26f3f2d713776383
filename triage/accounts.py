"""Team members, their sessions and their API tokens: who may log in, and what each token may do.

Every change here checks the actor's role, validates and writes its audit event (an `Event` with no mention) in
the caller's transaction. `actor=None` is the operator at the console (the `triage` command), who may do
anything an admin may; the audit event records them as such. A token or password never goes into an event.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from triage.audit import OPERATOR as OPERATOR  # OPERATOR: who `actor=None` is, re-exported
from triage.audit import record
from triage.db import utcnow
from triage.models import ApiToken, Source, Team, User
from triage.models.people import ROLES

TOKEN_PREFIX = "trg_"
MIN_PASSWORD, MAX_PASSWORD = 8, 256
DEFAULT_PUSH_SOURCE = "API"  # where a push without ?source= lands
LAST_USED_EVERY = timedelta(minutes=1)


class AccountError(ValueError):
    """Refused input; `status` is the HTTP status that says why."""

    status = 400


class NotAllowed(AccountError):
    status = 403


class NotFound(AccountError):
    status = 404


def _audit(session: Session, actor: User | None, action: str, reason: str, **detail) -> None:
    record(session, actor, action, reason, **detail)


def _require_admin(actor: User | None, what: str) -> None:
    if actor is not None and not actor.can():
        raise NotAllowed(f"a {actor.role} cannot {what}; it needs the role admin")


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"there is no user {user_id}")
    return user


def _user_named(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
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
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
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
    from triage.workflow import write_lock

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
    revoked = session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                              .values(revoked_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    _audit(session, actor, "password reset", f"{user.username}: sessions ended, {revoked} API token(s) revoked",
           user=user.username, tokens_revoked=revoked)
    session.flush()
    return revoked


def deactivate(session: Session, actor: User | None, user_id: int) -> list[int]:
    """Someone leaves (admins): no more logins or tokens, their claims go back. Returns the mentions released."""
    from triage import workflow

    _require_admin(actor, "deactivate people")
    user = _user(session, user_id)
    if actor is not None and user.id == actor.id:
        raise AccountError("you cannot deactivate yourself; ask another admin")
    if user.role == "admin" and not _other_active_admins(session, user.id):
        raise AccountError(f"{user.username} is the last active admin")
    user.active = False
    end_sessions(session, user)
    released = workflow.release_all(session, user, actor)
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
    user = _user_named(session, username)
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
        if actor is not None and not actor.can("lead"):
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
    sees_all = actor is None or actor.can("lead")
    query = select(ApiToken).join(ApiToken.user).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if username:
        user = _user_named(session, username)
        if not sees_all and user.id != actor.id:
            raise NotAllowed(f"a {actor.role} sees their own tokens only")
        query = query.where(ApiToken.user_id == user.id)
    elif not sees_all:
        query = query.where(ApiToken.user_id == actor.id)
    return list(session.scalars(query))


def revoke_token(session: Session, actor: User | None, token_id: int) -> ApiToken:
    """Revoke a token for good (its user, a lead, an admin or the operator)."""
    row = session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
    if row is None:
        raise NotFound(f"there is no token {token_id}")
    if actor is not None and actor.id != row.user_id and not actor.can("lead"):
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
    row = token_for(session, token)
    return row.user if row else None


def push_source(session: Session, token: ApiToken, name: str | None) -> Source:
    """The source a push with `token` lands in, created if new; refuses what the token may not do.

    A source-scoped token pushes into its own source only. Otherwise pushing into an existing source and creating
    one both need a lead's or admin's token, as adding sources and uploading files do in the web app.
    """
    from triage.defaults import ensure_source

    name = " ".join((name or "").split())[:80]
    if token.source_id is not None:
        if name and name.lower() != token.source.name.lower():
            raise NotAllowed(f"this token may only push into the source '{token.source.name}', not '{name}'")
        return token.source
    if token.read_only:
        raise NotAllowed("this token is read-only: it cannot push mentions")
    name = name or DEFAULT_PUSH_SOURCE
    source = _source_named(session, name)
    user = token.user
    if source is None:
        if not user.can("lead"):
            raise NotAllowed(f"there is no source '{name}', and creating one needs a lead's or an admin's token "
                             f"(this is a {user.role}'s)")
        return ensure_source(session, name, "api")
    if not user.can("lead"):
        raise NotAllowed(f"pushing into '{source.name}' needs a lead's or an admin's token, or a token scoped to "
                         f"that source (this is a {user.role}'s)")
    return source
