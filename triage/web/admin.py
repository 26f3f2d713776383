"""Managing the team and how work flows: users and teams (admins); saved replies, queues, routing rules and
sources (leads and admins, with supervisors reading along). The views parse the form and call the audited domain
function (`teams`, `saved_replies`, `routing_settings`, `source_settings`, `accounts`), which checks the role again."""
from __future__ import annotations

import re
import string
from collections.abc import Callable
from types import SimpleNamespace

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from triage import accounts, priority, routing_settings, source_settings
from triage import saved_replies as saved_replies_domain
from triage import teams as teams_domain
from triage.accounts import AccountError, add_user
from triage.db import MAX_ROW_ID
from triage.models import ApiToken, Mention, Queue, RoutingRule, SavedReply, Source, Team, User
from triage.models.mentions import CLOSED
from triage.models.people import ROLES
from triage.posts import NETWORK_RE, clean_text
from triage.routing import FALLBACK_QUEUE
from triage.web import db
from triage.workflow import (
    DEFAULT_REPLY_LIMIT,
    Forbidden,
    Invalid,
    NotFound,
    fill_placeholders,
    reply_limit,
)

bp = Blueprint("admin", __name__)

ADMIN: tuple[str, ...] = ()  # `User.can()` with no role: admins only
LEADS = ("lead",)
READERS = ("lead", "supervisor")
INTENTS = tuple(priority.INTENT_POINTS)
SENTIMENTS = ("negative", "neutral", "positive")
PLACEHOLDERS = ("author", "name", "agent", "network")
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
NAME_TAKEN = "that source name is taken"  # two people saving the same source name at once
MIN_PASSWORD, MAX_PASSWORD = 8, 256
# The mention the saved-reply preview fills placeholders from.
SAMPLE = SimpleNamespace(network="x", text="@northwind my bag never arrived and nobody answers the phone",
                         author=SimpleNamespace(handle="dana_w", display_name="Dana Whitfield"))


class InputError(ValueError):
    """Form input that was refused; the message is shown to the person as written."""


@bp.before_request
@login_required
def _logged_in() -> None:
    """Every page here needs a login; each view then checks the role."""


def _allow(*roles: str) -> None:
    if not current_user.can(*roles):
        abort(403)


def _refused(message: str, render: Callable, *args):
    """Re-render the form's page with the message and what was typed, as 400."""
    db().rollback()
    flash(message[:1].upper() + message[1:], "error")
    return render(*args, form=request.form, status=400)


# Reading form fields -------------------------------------------------------------------------------------------

def _text(name: str, label: str, *, max_len: int, required: bool = True) -> str:
    value = clean_text(request.form.get(name) or "")
    if required and not value:
        raise InputError(f"{label} is empty.")
    if len(value) > max_len:
        raise InputError(f"{label} is too long: {len(value):,} characters, at most {max_len:,}.")
    return value


def _number(name: str, label: str, *, lo: int, hi: int, required: bool = True) -> int | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        if required:
            raise InputError(f"{label} is empty.")
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"{label} must be a whole number, not “{raw[:40]}”.") from None
    if not lo <= value <= hi:
        raise InputError(f"{label} must be between {lo:,} and {hi:,}.")
    return value


def _choice(name: str, label: str, choices: tuple[str, ...], *, required: bool = True) -> str | None:
    value = request.form.get(name) or ""
    if not value and not required:
        return None
    if value not in choices:
        raise InputError(f"{label} must be one of: {', '.join(choices)}.")
    return value


def _row(model, name: str, label: str, *, required: bool = True):
    raw = (request.form.get(name) or "").strip()
    if not raw:
        if required:
            raise InputError(f"Choose a {label}.")
        return None
    is_id = raw.isascii() and raw.isdigit() and len(raw) < 12 and int(raw) <= MAX_ROW_ID  # not "²", not past int32
    row = db().get(model, int(raw)) if is_id else None
    if row is None:
        raise InputError(f"There is no {label} with id “{raw[:40]}”; it may have been deleted meanwhile.")
    return row


def _password() -> str:
    password = request.form.get("password") or ""
    if len(password) < MIN_PASSWORD:
        raise InputError(f"The password must have at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"The password must have at most {MAX_PASSWORD} characters.")
    return password


# Users and teams (admins) ----------------------------------------------------------------------------------------

def _teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


def _users_page(*, form=None, status: int = 200):
    session = db()
    users = session.scalars(select(User).options(joinedload(User.team))
                            .order_by(User.active.desc(), User.username)).all()
    return render_template("admin_users.html", users=users, teams=_teams(session), roles=ROLES,
                           form=form or {}), status


@bp.get("/admin/users")
def users():
    _allow(*ADMIN)
    return _users_page()


@bp.post("/admin/users")
def user_add():
    _allow(*ADMIN)
    session = db()
    try:
        username = _text("username", "Username", max_len=64).lower()
        if not USERNAME_RE.fullmatch(username):
            raise InputError("A username starts with a letter or digit and uses only letters, digits, '.', '_', '-'.")
        display_name = _text("display_name", "Display name", max_len=120, required=False)
        role = _choice("role", "Role", ROLES)
        team = _row(Team, "team_id", "team", required=False)
        user = add_user(session, username, _password(), role=role, display_name=display_name or None)
        user.team_id = team.id if team else None
        session.commit()
    except (InputError, AccountError) as exc:
        return _refused(str(exc), _users_page)
    except IntegrityError:  # added by someone else between our check and our insert
        return _refused(f"user '{username}' exists already", _users_page)
    flash(f"Added {user.display_name} ({user.username}) as {user.role}.", "info")
    return redirect(url_for(".users"))


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _user_page(user_id: int, *, form=None, status: int = 200):
    session = db()
    live_tokens = session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)))
    return render_template("admin_user.html", user=_user(session, user_id), teams=_teams(session), roles=ROLES,
                           live_tokens=live_tokens, form=form or {}), status


@bp.get("/admin/users/<int:user_id>")
def user_detail(user_id: int):
    _allow(*ADMIN)
    return _user_page(user_id)


def _still_here(user: User) -> None:
    """Changing your own password or role ends your sessions too: carry on in this one, under the new generation."""
    if user.id == current_user.id:
        login_user(user)


@bp.post("/admin/users/<int:user_id>")
def user_update(user_id: int):
    _allow(*ADMIN)
    session = db()
    try:
        role = _choice("role", "Role", ROLES)
        team = _row(Team, "team_id", "team", required=False)
        user = _user(session, user_id)
        role_changed = user.role != role
        accounts.change_role(session, current_user._get_current_object(), user.id, role, team.id if team else None)
        session.commit()
    except (InputError, AccountError) as exc:
        return _refused(str(exc), _user_page, user_id)
    _still_here(user)
    ended = " Their sessions ended: they log in again under the new role." if role_changed else ""
    flash(f"{user.username} is now {user.role}" + (f" in {team.name}." if team else " with no team.") + ended, "info")
    return redirect(url_for(".user_detail", user_id=user_id))


@bp.post("/admin/users/<int:user_id>/deactivate")
def user_deactivate(user_id: int):
    _allow(*ADMIN)
    session = db()
    try:
        user = _user(session, user_id)
        released = accounts.deactivate(session, current_user._get_current_object(), user.id)
        session.commit()
    except AccountError as exc:
        return _refused(str(exc), _user_page, user_id)
    flash(f"{user.username} is deactivated: they are logged out everywhere and can no longer log in or use their API "
          "tokens. Their history stays."
          + (f" {len(released)} item(s) they held went back to the queues." if released else ""), "info")
    return redirect(url_for(".user_detail", user_id=user_id))


@bp.post("/admin/users/<int:user_id>/reactivate")
def user_reactivate(user_id: int):
    _allow(*ADMIN)
    session = db()
    user = _user(session, user_id)
    accounts.reactivate(session, current_user._get_current_object(), user.id)
    session.commit()
    flash(f"{user.username} can log in again (sessions from before stay ended).", "info")
    return redirect(url_for(".user_detail", user_id=user_id))


@bp.post("/admin/users/<int:user_id>/password")
def user_password(user_id: int):
    _allow(*ADMIN)
    session = db()
    try:
        password = _password()
        if password != (request.form.get("confirm") or ""):
            raise InputError("The two passwords differ.")
        user = _user(session, user_id)
        revoked = accounts.reset_password(session, current_user._get_current_object(), user.id, password)
        session.commit()
    except (InputError, AccountError) as exc:
        return _refused(str(exc), _user_page, user_id)
    _still_here(user)
    tokens = f"its {revoked} API token(s) are revoked" if revoked else "it had no API tokens to revoke"
    flash(f"{user.username}'s password is changed; give it to them in person or over a private channel. "
          f"Every session of {user.username} ended and {tokens}.", "info")
    return redirect(url_for(".user_detail", user_id=user_id))


def _teams_page(*, form=None, status: int = 200):
    session = db()
    teams = session.scalars(select(Team).options(selectinload(Team.members)).order_by(Team.name)).all()
    queues = session.scalars(select(Queue).where(Queue.team_id.is_not(None)).order_by(Queue.position)).all()
    return render_template("admin_teams.html", teams=teams, queues=queues, form=form or {}), status


@bp.get("/admin/teams")
def teams():
    _allow(*ADMIN)
    return _teams_page()


@bp.post("/admin/teams")
def team_add():
    _allow(*ADMIN)
    try:
        ok, team = _changed(lambda: teams_domain.add_team(db(), current_user, _text("name", "Team name", max_len=80)),
                            _teams_page)
    except IntegrityError:  # two admins adding the same team at once
        return _refused("that team exists already", _teams_page)
    if not ok:
        return team
    flash(f"Added the team {team.name}.", "info")
    return redirect(url_for(".teams"))


@bp.post("/admin/teams/<int:team_id>")
def team_rename(team_id: int):
    _allow(*ADMIN)
    ok, renamed = _changed(lambda: teams_domain.rename_team(db(), current_user, team_id,
                                                            _text("name", "Team name", max_len=80)), _teams_page)
    if not ok:
        return renamed
    old, team = renamed
    flash(f"Renamed {old} to {team.name}.", "info")
    return redirect(url_for(".teams"))


# Saved replies (leads) -------------------------------------------------------------------------------------------

def preview(body: str) -> dict:
    """A saved reply filled in for the sample mention, its length, and placeholders nobody fills."""
    text = fill_placeholders(body, SAMPLE, current_user)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(body) if name is not None}
    except ValueError:  # stray braces: the reply is used as written
        names = set()
    return {"text": text, "length": len(text), "limit": reply_limit(SAMPLE.network), "network": SAMPLE.network,
            "unknown": sorted(n for n in names if n and n not in PLACEHOLDERS)}


def _replies_page(*, form=None, status: int = 200):
    replies = db().scalars(select(SavedReply).order_by(SavedReply.title)).all()
    form = form or {}
    return render_template("saved_replies.html", replies=replies, form=form, intents=INTENTS, sample=SAMPLE,
                           previews={r.id: preview(r.body) for r in replies},
                           draft=preview(form.get("body", "")), placeholders=PLACEHOLDERS), status


def _reply_page(reply_id: int, *, form=None, status: int = 200):
    reply = db().get(SavedReply, reply_id)
    if reply is None:
        abort(404)
    form = form or {"title": reply.title, "body": reply.body, "intent": reply.intent or ""}
    return render_template("saved_reply.html", reply=reply, form=form, intents=INTENTS, sample=SAMPLE,
                           draft=preview(form.get("body", "")), placeholders=PLACEHOLDERS), status


def _reply_fields() -> dict:
    return {"title": _text("title", "Title", max_len=120),
            "body": _text("body", "The reply", max_len=DEFAULT_REPLY_LIMIT),
            "intent": _choice("intent", "Intent", INTENTS, required=False)}


@bp.get("/saved-replies")
def saved_replies():
    _allow(*READERS)
    return _replies_page()


@bp.post("/saved-replies")
def saved_reply_add():
    _allow(*LEADS)
    ok, reply = _changed(lambda: saved_replies_domain.add_reply(db(), current_user, **_reply_fields()),
                         _replies_page)
    if not ok:
        return reply
    flash(f"Saved “{reply.title}”; agents can use it now.", "info")
    return redirect(url_for(".saved_replies"))


@bp.get("/saved-replies/<int:reply_id>")
def saved_reply(reply_id: int):
    _allow(*READERS)
    return _reply_page(reply_id)


@bp.post("/saved-replies/<int:reply_id>")
def saved_reply_update(reply_id: int):
    _allow(*LEADS)
    if db().get(SavedReply, reply_id) is None:
        abort(404)  # before reading the form
    ok, reply = _changed(lambda: saved_replies_domain.update_reply(db(), current_user, reply_id, **_reply_fields()),
                         _reply_page, reply_id)
    if not ok:
        return reply
    flash(f"Saved “{reply.title}”.", "info")
    return redirect(url_for(".saved_replies"))


@bp.post("/saved-replies/<int:reply_id>/delete")
def saved_reply_delete(reply_id: int):
    _allow(*LEADS)
    _, title = _changed(lambda: saved_replies_domain.delete_reply(db(), current_user, reply_id), _replies_page)
    flash(f"Deleted “{title}”. Replies already sent with it are unchanged.", "info")
    return redirect(url_for(".saved_replies"))


@bp.post("/saved-replies/preview")
def saved_reply_preview():
    """The live preview the reply forms ask for as a lead types."""
    _allow(*READERS)
    return jsonify(preview(clean_text(request.form.get("body") or "")[:DEFAULT_REPLY_LIMIT]))


# Queues and routing rules (leads) -------------------------------------------------------------------------------

@bp.app_template_filter("conditions")
def conditions(rule: RoutingRule) -> str:
    """A routing rule's conditions as a sentence."""
    return routing_settings.describe_rule(rule)


def _routing_page(*, form=None, status: int = 200):
    session = db()
    queues = session.scalars(select(Queue).order_by(Queue.position, Queue.id)).all()
    rules = session.scalars(select(RoutingRule).options(joinedload(RoutingRule.queue))
                            .order_by(RoutingRule.position, RoutingRule.id)).all()
    open_counts = dict(session.execute(select(Mention.queue_id, func.count()).where(
        Mention.queue_id.is_not(None), Mention.status.not_in(CLOSED)).group_by(Mention.queue_id)).all())
    rule_counts = dict(session.execute(select(RoutingRule.queue_id, func.count()).group_by(RoutingRule.queue_id)).all())
    trial, sample = None, {"text": request.args.get("text", ""), "network": request.args.get("network", "x"),
                           "followers": request.args.get("followers", "")}
    if "text" in request.args:
        try:
            text = clean_text(sample["text"])
            network = (sample["network"] or "x").strip().lower()
            followers = sample["followers"].strip()
            if not text:
                raise InputError("Type a text to see where it would land.")
            if len(text) > 10_000:
                raise InputError("The text is over 10,000 characters.")
            if not NETWORK_RE.fullmatch(network):
                raise InputError("A network is a short name such as x, instagram or reddit.")
            if followers and not (followers.isascii() and followers.isdigit() and len(followers) < 13):
                raise InputError("Followers must be a whole number.")
            trial = routing_settings.try_text(session, text, network, int(followers) if followers else None)
        except InputError as exc:
            flash(str(exc), "error")
            status = 400
    return render_template("routing.html", queues=queues, rules=rules, teams=_teams(session), trial=trial,
                           sample=sample, open_counts=open_counts, rule_counts=rule_counts, intents=INTENTS,
                           sentiments=SENTIMENTS, fallback=FALLBACK_QUEUE, form=form or {}), status


@bp.get("/routing")
def routing():
    _allow(*READERS)
    return _routing_page()


def _changed(change: Callable[[], object], render: Callable, *args, taken: str | None = None):
    """Run a domain change and commit it, or re-render the form with the refusal (400); 403 and 404 as such.

    `taken`: the refusal when a unique name loses a race with someone saving the same one (IntegrityError).
    """
    session = db()
    try:
        result = change()
        session.commit()
    except (InputError, Invalid) as exc:
        return False, _refused(str(exc), render, *args)
    except (Forbidden, NotFound) as exc:
        session.rollback()
        abort(exc.status)
    except IntegrityError:
        if taken is None:
            raise
        return False, _refused(taken, render, *args)
    return True, result


def _queue_fields() -> dict:
    team = _row(Team, "team_id", "team", required=False)
    return {"name": _text("name", "Queue name", max_len=80),
            "description": _text("description", "Description", max_len=300, required=False),
            "team_id": team.id if team else None}


@bp.post("/routing/queues")
def queue_add():
    _allow(*LEADS)
    ok, queue = _changed(lambda: routing_settings.add_queue(db(), current_user, **_queue_fields()), _routing_page)
    if not ok:
        return queue
    flash(f"Added the queue {queue.name}. Add a routing rule so mentions land in it.", "info")
    return redirect(url_for(".routing") + "#queues")


def _queue(session: Session, queue_id: int) -> Queue:
    queue = session.get(Queue, queue_id)
    if queue is None:
        abort(404)
    return queue


def _queue_page(queue_id: int, *, form=None, status: int = 200):
    session = db()
    queue = _queue(session, queue_id)
    form = form or {"name": queue.name, "description": queue.description, "team_id": str(queue.team_id or "")}
    return render_template("routing_queue.html", queue=queue, teams=_teams(session), form=form), status


@bp.get("/routing/queues/<int:queue_id>")
def queue_detail(queue_id: int):
    _allow(*READERS)
    return _queue_page(queue_id)


@bp.post("/routing/queues/<int:queue_id>")
def queue_update(queue_id: int):
    _allow(*LEADS)
    _queue(db(), queue_id)  # 404 before reading the form
    ok, queue = _changed(lambda: routing_settings.update_queue(db(), current_user, queue_id, **_queue_fields()),
                         _queue_page, queue_id)
    if not ok:
        return queue
    flash(f"Saved the queue {queue.name}.", "info")
    return redirect(url_for(".routing") + "#queues")


@bp.post("/routing/queues/<int:queue_id>/move")
def queue_move(queue_id: int):
    _allow(*LEADS)
    _changed(lambda: routing_settings.move_queue(db(), current_user, queue_id, request.form.get("direction", "down")),
             _routing_page)
    return redirect(url_for(".routing") + "#queues")


@bp.post("/routing/queues/<int:queue_id>/delete")
def queue_delete(queue_id: int):
    _allow(*LEADS)
    name = _queue(db(), queue_id).name
    try:
        ok, gone = _changed(lambda: routing_settings.delete_queue(db(), current_user, queue_id), _routing_page)
    except IntegrityError:  # a mention was moved into it meanwhile
        return _refused(f"{name} received a mention meanwhile; it was not deleted", _routing_page)
    if not ok:
        return gone
    moved = f"; its {gone.closed_moved} closed mentions now belong to {gone.fallback}" if (
        gone.closed_moved and gone.fallback) else ""
    flash(f"Deleted the queue {gone.name}{moved}.", "info")
    return redirect(url_for(".routing") + "#queues")


def _rule_fields() -> dict:
    queue = _row(Queue, "queue_id", "queue")
    network = _text("network", "Network", max_len=32, required=False).lower() or None
    urgent = request.form.get("urgent") or ""
    if urgent not in ("", "yes", "no"):
        raise InputError("Urgent words must be: any, yes or no.")
    return {"queue_id": queue.id, "intent": _choice("intent", "Intent", INTENTS, required=False),
            "sentiment": _choice("sentiment", "Sentiment", SENTIMENTS, required=False), "network": network,
            "min_priority": _number("min_priority", "Minimum priority", lo=0, hi=100, required=False),
            "urgent": {"": None, "yes": True, "no": False}[urgent]}


@bp.post("/routing/rules")
def rule_add():
    _allow(*LEADS)
    ok, rule = _changed(lambda: routing_settings.add_rule(db(), current_user, _rule_fields(),
                                                          enabled=bool(request.form.get("enabled"))), _routing_page)
    if not ok:
        return rule
    flash(f"Added a rule: {conditions(rule)} → {rule.queue.name}. It is checked after the rules above it.", "info")
    return redirect(url_for(".routing") + "#rules")


def _rule(session: Session, rule_id: int) -> RoutingRule:
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        abort(404)
    return rule


def _rule_page(rule_id: int, *, form=None, status: int = 200):
    session = db()
    rule = _rule(session, rule_id)
    urgent = {None: "", True: "yes", False: "no"}[rule.urgent]
    form = form or {"queue_id": str(rule.queue_id), "intent": rule.intent or "", "sentiment": rule.sentiment or "",
                    "network": rule.network or "", "urgent": urgent,
                    "min_priority": "" if rule.min_priority is None else str(rule.min_priority)}
    queues = session.scalars(select(Queue).order_by(Queue.position, Queue.id)).all()
    return render_template("routing_rule.html", rule=rule, queues=queues, intents=INTENTS, sentiments=SENTIMENTS,
                           form=form), status


@bp.get("/routing/rules/<int:rule_id>")
def rule_detail(rule_id: int):
    _allow(*READERS)
    return _rule_page(rule_id)


@bp.post("/routing/rules/<int:rule_id>")
def rule_update(rule_id: int):
    _allow(*LEADS)
    _rule(db(), rule_id)  # 404 before reading the form
    ok, rule = _changed(lambda: routing_settings.update_rule(db(), current_user, rule_id, _rule_fields()),
                        _rule_page, rule_id)
    if not ok:
        return rule
    flash(f"Saved the rule: {conditions(rule)} → {rule.queue.name}.", "info")
    return redirect(url_for(".routing") + "#rules")


@bp.post("/routing/rules/<int:rule_id>/enabled")
def rule_enabled(rule_id: int):
    _allow(*LEADS)
    _, rule = _changed(lambda: routing_settings.set_rule_enabled(db(), current_user, rule_id,
                                                                 request.form.get("enabled") == "1"), _routing_page)
    flash(f"Rule “{conditions(rule)} → {rule.queue.name}” is {'on' if rule.enabled else 'off'}.", "info")
    return redirect(url_for(".routing") + "#rules")


@bp.post("/routing/rules/<int:rule_id>/move")
def rule_move(rule_id: int):
    _allow(*LEADS)
    _changed(lambda: routing_settings.move_rule(db(), current_user, rule_id, request.form.get("direction", "down")),
             _routing_page)
    return redirect(url_for(".routing") + "#rules")


@bp.post("/routing/rules/<int:rule_id>/delete")
def rule_delete(rule_id: int):
    _allow(*LEADS)
    _, described = _changed(lambda: routing_settings.delete_rule(db(), current_user, rule_id), _routing_page)
    flash(f"Deleted the rule “{described}”. Mentions already queued stay where they are.", "info")
    return redirect(url_for(".routing") + "#rules")


# Sources (leads) -------------------------------------------------------------------------------------------------

def _source(session: Session, source_id: int) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        abort(404)
    return source


def _source_page(source_id: int | None = None, *, form=None, status: int = 200):
    source = _source(db(), source_id) if source_id else None
    if form is None:
        form = {"network": "rss", "interval": "300"} if source is None else {
            "name": source.name, "interval": str(source.interval_seconds),
            "brand_handles": ", ".join(source.brand_handles or []),
            "url": (source.config or {}).get("url", ""), "network": (source.config or {}).get("network", "rss")}
    return render_template("source_edit.html", source=source, form=form), status


@bp.get("/sources/rss/new")
def source_new():
    _allow(*LEADS)
    return _source_page()


@bp.post("/sources/rss/new")
def source_add():
    _allow(*LEADS)
    f = request.form
    ok, result = _changed(lambda: source_settings.add_rss_source(
        db(), current_user, f.get("name"), f.get("url"), network=f.get("network"), interval=f.get("interval"),
        brand_handles=f.get("brand_handles") or ""), _source_page, taken=NAME_TAKEN)
    if not ok:
        return result
    flash(f"Added {result.name}: it is polled every {result.interval_seconds} s, the first time within seconds.",
          "info")
    return redirect(url_for("pages.sources"))


@bp.get("/sources/<int:source_id>/edit")
def source_edit(source_id: int):
    _allow(*LEADS)
    return _source_page(source_id)


@bp.post("/sources/<int:source_id>/edit")
def source_update(source_id: int):
    _allow(*LEADS)
    _source(db(), source_id)  # 404 before reading the form
    f = request.form
    ok, result = _changed(lambda: source_settings.update_source(
        db(), current_user, source_id, name=f.get("name"), brand_handles=f.get("brand_handles") or "",
        interval=f.get("interval"), url=f.get("url"), network=f.get("network")), _source_page, source_id,
        taken=NAME_TAKEN)
    if not ok:
        return result
    flash(f"Saved {result.name}.", "info")
    return redirect(url_for("pages.sources"))


def _back_to_source(source_id: int):
    if request.form.get("back") == "edit":
        return redirect(url_for(".source_edit", source_id=source_id))
    return redirect(url_for("pages.sources"))


@bp.post("/sources/<int:source_id>/pause")
def source_pause(source_id: int):
    _allow(*LEADS)
    ok, source = _changed(lambda: source_settings.pause_source(db(), current_user, source_id), _source_page,
                          source_id)
    if not ok:
        return source
    flash(f"{source.name} is paused: it is not polled until you resume it.", "info")
    return _back_to_source(source_id)


@bp.post("/sources/<int:source_id>/resume")
def source_resume(source_id: int):
    _allow(*LEADS)
    ok, source = _changed(lambda: source_settings.resume_source(db(), current_user, source_id), _source_page,
                          source_id)
    if not ok:
        return source
    flash(f"{source.name} is running again.", "info")
    return _back_to_source(source_id)
