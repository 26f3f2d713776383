"""API tokens in the browser: create one (shown once), see them all, revoke one. Rules in `triage.people.accounts`."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from triage.models import Source, User
from triage.people import accounts
from triage.people.accounts import AccountError
from triage.web.context import db

bp = Blueprint("tokens", __name__)
SCOPES = ("all", "read-only", "source")


@bp.before_request
@login_required
def _logged_in() -> None:
    """Every page here needs a login; the domain functions check the role."""


def _me() -> User:
    return current_user._get_current_object()


def _page(*, created: str | None = None, form=None, status: int = 200):
    session = db()
    me = _me()
    username = (request.values.get("user") or "").strip() or None
    try:
        tokens = accounts.list_tokens(session, me, username)
    except AccountError:
        if request.method == "GET":  # the page redirects with the reason
            raise
        username, tokens = None, accounts.list_tokens(session, me)  # a refused form re-rendered: not narrowed
    people = session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all() if me.can() \
        else [me]
    sources = session.scalars(select(Source).order_by(Source.name)).all() if me.can("lead") else []
    return render_template("tokens.html", tokens=tokens, people=people, sources=sources, created=created,
                           narrowed=username, form=form or {}), status


@bp.get("/tokens")
def tokens():
    try:
        return _page()
    except AccountError as exc:
        flash(str(exc)[:1].upper() + str(exc)[1:] + ".", "error")
        return redirect(url_for(".tokens"))


@bp.post("/tokens")
def token_create():
    session = db()
    form = request.form
    scope = form.get("scope") or "all"
    try:
        if scope not in SCOPES:
            raise AccountError(f"a scope is one of: {', '.join(SCOPES)}")
        if scope == "source" and not form.get("source"):
            raise AccountError("choose the source the token may push into")
        secret = accounts.create_token(session, form.get("owner") or _me().username, form.get("name") or "",
                                       actor=_me(), source=form.get("source") if scope == "source" else None,
                                       read_only=scope == "read-only")
        session.commit()
    except AccountError as exc:
        session.rollback()
        flash(str(exc)[:1].upper() + str(exc)[1:] + ".", "error")
        return _page(form=form, status=exc.status)
    # Rendered, never flashed: a flash would put the secret in the (signed, not encrypted) session cookie.
    body, status = _page(created=secret)
    return body, status, {"Cache-Control": "no-store"}


@bp.post("/tokens/<int:token_id>/revoke")
def token_revoke(token_id: int):
    session = db()
    try:
        row = accounts.revoke_token(session, _me(), token_id)
        session.commit()
    except AccountError as exc:
        session.rollback()
        flash(str(exc)[:1].upper() + str(exc)[1:] + ".", "error")
        return _page(status=exc.status)
    flash(f"Revoked “{row.name}” of {row.user.username}: it is refused from now on.", "info")
    back = request.form.get("user")
    return redirect(url_for(".tokens", user=back) if back else url_for(".tokens"))
