"""Users and teams (admins): add people, give them a role and a team, reset passwords, deactivate; add and rename
teams. Each change is an audited function of `accounts` or `teams`."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload
from werkzeug.wrappers import Response

from triage.core.roles import ADMIN
from triage.db import MAX_ROW_ID
from triage.intake.posts import clean_text
from triage.models import ApiToken, Queue, Team, User
from triage.models.people import ROLES
from triage.people import accounts
from triage.people import teams as teams_domain
from triage.web.admin.forms import InputError, Page, allow, blueprint, changed, field
from triage.web.context import db

bp = blueprint("people", __name__)



# Reading the user forms ------------------------------------------------------------------------------------------

def _text(name: str, label: str, *, max_len: int, required: bool = True) -> str:
    value = clean_text(field(name))
    if required and not value:
        raise InputError(f"{label} is empty.")
    if len(value) > max_len:
        raise InputError(f"{label} is too long: {len(value):,} characters, at most {max_len:,}.")
    return value


def _role() -> str:
    role = field("role")
    if role not in ROLES:
        raise InputError(f"Role must be one of: {', '.join(ROLES)}.")
    return role


def _team() -> Team | None:
    raw = field("team_id").strip()
    if not raw:
        return None
    is_id = raw.isascii() and raw.isdigit() and len(raw) < 12 and int(raw) <= MAX_ROW_ID  # not "²", not past int32
    team = db().get(Team, int(raw)) if is_id else None
    if team is None:
        raise InputError(f"There is no team with id “{raw[:40]}”; it may have been deleted meanwhile.")
    return team


def _password() -> str:
    password = field("password")
    if len(password) < accounts.MIN_PASSWORD:
        raise InputError(f"The password must have at least {accounts.MIN_PASSWORD} characters.")
    if len(password) > accounts.MAX_PASSWORD:
        raise InputError(f"The password must have at most {accounts.MAX_PASSWORD} characters.")
    return password


# Users -----------------------------------------------------------------------------------------------------------

def _teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


def _users_page(*, form: Any = None, status: int = 200) -> Page:
    session = db()
    users = session.scalars(select(User).options(joinedload(User.team))
                            .order_by(User.active.desc(), User.username)).all()
    return render_template("admin_users.html", users=users, teams=_teams(session), roles=ROLES,
                           form=form or {}), status


@bp.get("/admin/users")
def users() -> Page:
    allow(*ADMIN)
    return _users_page()


def _add_user() -> User:
    username = field("username")  # accounts.add_user checks its form
    display_name = _text("display_name", "Display name", max_len=120, required=False)
    role, team = _role(), _team()
    return accounts.create_user(db(), current_user._get_current_object(), username, _password(), role=role,
                                display_name=display_name or None, team_id=team.id if team else None)


@bp.post("/admin/users")
def user_add() -> Response:
    allow(*ADMIN)
    taken = f"user '{field('username').strip().lower()[:64]}' exists already"  # added by someone else meanwhile
    user = changed(_add_user, _users_page, taken=taken)
    flash(f"Added {user.display_name} ({user.username}) as {user.role}.", "info")
    return redirect(url_for(".users"))


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _user_page(user_id: int, *, form: Any = None, status: int = 200) -> Page:
    session = db()
    live_tokens = session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)))
    return render_template("admin_user.html", user=_user(session, user_id), teams=_teams(session), roles=ROLES,
                           live_tokens=live_tokens, form=form or {}), status


@bp.get("/admin/users/<int:user_id>")
def user_detail(user_id: int) -> Page:
    allow(*ADMIN)
    return _user_page(user_id)


def _still_here(user: User) -> None:
    """Changing your own password or role ends your sessions too: carry on in this one, under the new generation."""
    if user.id == current_user.id:
        login_user(user)


@bp.post("/admin/users/<int:user_id>")
def user_update(user_id: int) -> Response:
    allow(*ADMIN)
    user = _user(db(), user_id)
    was = user.role

    def change() -> Team | None:
        role, team = _role(), _team()
        accounts.change_role(db(), current_user._get_current_object(), user.id, role, team.id if team else None)
        return team

    team = changed(change, _user_page, user_id)
    _still_here(user)
    ended = " Their sessions ended: they log in again under the new role." if user.role != was else ""
    flash(f"{user.username} is now {user.role}" + (f" in {team.name}." if team else " with no team.") + ended, "info")
    return redirect(url_for(".user_detail", user_id=user_id))


@bp.post("/admin/users/<int:user_id>/deactivate")
def user_deactivate(user_id: int) -> Response:
    allow(*ADMIN)
    user = _user(db(), user_id)
    released = changed(lambda: accounts.deactivate(db(), current_user._get_current_object(), user.id),
                       _user_page, user_id)
    flash(f"{user.username} is deactivated: they are logged out everywhere and can no longer log in or use their API "
          "tokens. Their history stays."
          + (f" {len(released)} item(s) they held went back to the queues." if released else ""), "info")
    return redirect(url_for(".user_detail", user_id=user_id))


@bp.post("/admin/users/<int:user_id>/reactivate")
def user_reactivate(user_id: int) -> Response:
    allow(*ADMIN)
    session = db()
    user = _user(session, user_id)
    accounts.reactivate(session, current_user._get_current_object(), user.id)
    session.commit()
    flash(f"{user.username} can log in again (sessions from before stay ended).", "info")
    return redirect(url_for(".user_detail", user_id=user_id))


@bp.post("/admin/users/<int:user_id>/password")
def user_password(user_id: int) -> Response:
    allow(*ADMIN)
    user = _user(db(), user_id)

    def change() -> int:
        password = _password()
        if password != (request.form.get("confirm") or ""):
            raise InputError("The two passwords differ.")
        return accounts.reset_password(db(), current_user._get_current_object(), user.id, password)

    revoked = changed(change, _user_page, user_id)
    _still_here(user)
    tokens = f"its {revoked} API token(s) are revoked" if revoked else "it had no API tokens to revoke"
    flash(f"{user.username}'s password is changed; give it to them in person or over a private channel. "
          f"Every session of {user.username} ended and {tokens}.", "info")
    return redirect(url_for(".user_detail", user_id=user_id))


# Teams -----------------------------------------------------------------------------------------------------------

def _teams_page(*, form: Any = None, status: int = 200) -> Page:
    session = db()
    teams = session.scalars(select(Team).options(selectinload(Team.members)).order_by(Team.name)).all()
    queues = session.scalars(select(Queue).where(Queue.team_id.is_not(None)).order_by(Queue.position)).all()
    return render_template("admin_teams.html", teams=teams, queues=queues, form=form or {}), status


@bp.get("/admin/teams")
def teams() -> Page:
    allow(*ADMIN)
    return _teams_page()


@bp.post("/admin/teams")
def team_add() -> Response:
    allow(*ADMIN)
    team = changed(lambda: teams_domain.add_team(db(), current_user, field("name")), _teams_page,
                   taken="that team exists already")  # two admins adding the same team at once
    flash(f"Added the team {team.name}.", "info")
    return redirect(url_for(".teams"))


@bp.post("/admin/teams/<int:team_id>")
def team_rename(team_id: int) -> Response:
    allow(*ADMIN)
    old, team = changed(lambda: teams_domain.rename_team(db(), current_user, team_id, field("name")), _teams_page)
    flash(f"Renamed {old} to {team.name}.", "info")
    return redirect(url_for(".teams"))
