"""Saved replies (leads write them, supervisors read along): the list, the editor with its live preview, and
add, change, delete through `saved_replies`."""
from __future__ import annotations

import string
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from triage.core.roles import LEADS, READERS
from triage.core.vocabulary import DEFAULT_REPLY_LIMIT, INTENTS, reply_limit
from triage.intake.posts import clean_text
from triage.models import Author, Mention, SavedReply
from triage.web.admin.forms import Page, allow, blueprint, changed, field
from triage.web.context import db
from triage.work.replies import fill_placeholders
from triage.work.saved_replies import add_reply, delete_reply, update_reply

bp = blueprint("replies", __name__)

PLACEHOLDERS = ("author", "name", "agent", "network")
# The mention the preview fills placeholders from: never added to a session, so never stored.
SAMPLE = Mention(network="x", text="@northwind my bag never arrived and nobody answers the phone",
                 author=Author(network="x", handle="dana_w", display_name="Dana Whitfield"))


def preview(body: str) -> dict[str, Any]:
    """A saved reply filled in for the sample mention, its length, and placeholders nobody fills."""
    text = fill_placeholders(body, SAMPLE, current_user)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(body) if name is not None}
    except ValueError:  # stray braces: the reply is used as written
        names = set()
    return {"text": text, "length": len(text), "limit": reply_limit(SAMPLE.network), "network": SAMPLE.network,
            "unknown": sorted(n for n in names if n and n not in PLACEHOLDERS)}


def _replies_page(*, form: Any = None, status: int = 200) -> Page:
    replies = db().scalars(select(SavedReply).order_by(SavedReply.title)).all()
    form = form or {}
    return render_template("saved_replies.html", replies=replies, form=form, intents=INTENTS, sample=SAMPLE,
                           previews={r.id: preview(r.body) for r in replies},
                           draft=preview(form.get("body", "")), placeholders=PLACEHOLDERS), status


def _reply_page(reply_id: int, *, form: Any = None, status: int = 200) -> Page:
    reply = db().get(SavedReply, reply_id)
    if reply is None:
        abort(404)
    form = form or {"title": reply.title, "body": reply.body, "intent": reply.intent or ""}
    return render_template("saved_reply.html", reply=reply, form=form, intents=INTENTS, sample=SAMPLE,
                           draft=preview(form.get("body", "")), placeholders=PLACEHOLDERS), status


@bp.get("/saved-replies")
def saved_replies() -> Page:
    allow(*READERS)
    return _replies_page()


@bp.post("/saved-replies")
def saved_reply_add() -> Response:
    allow(*LEADS)
    reply = changed(lambda: add_reply(db(), current_user, field("title"), field("body"), field("intent")),
                    _replies_page)
    flash(f"Saved “{reply.title}”; agents can use it now.", "info")
    return redirect(url_for(".saved_replies"))


@bp.get("/saved-replies/<int:reply_id>")
def saved_reply(reply_id: int) -> Page:
    allow(*READERS)
    return _reply_page(reply_id)


@bp.post("/saved-replies/<int:reply_id>")
def saved_reply_update(reply_id: int) -> Response:
    allow(*LEADS)
    reply = changed(lambda: update_reply(db(), current_user, reply_id, field("title"), field("body"), field("intent")),
                    _reply_page, reply_id)
    flash(f"Saved “{reply.title}”.", "info")
    return redirect(url_for(".saved_replies"))


@bp.post("/saved-replies/<int:reply_id>/delete")
def saved_reply_delete(reply_id: int) -> Response:
    allow(*LEADS)
    title = changed(lambda: delete_reply(db(), current_user, reply_id), _replies_page)
    flash(f"Deleted “{title}”. Replies already sent with it are unchanged.", "info")
    return redirect(url_for(".saved_replies"))


@bp.post("/saved-replies/preview")
def saved_reply_preview() -> Response:
    """The live preview the reply forms ask for as a lead types."""
    allow(*READERS)
    return jsonify(preview(clean_text(request.form.get("body") or "")[:DEFAULT_REPLY_LIMIT]))
