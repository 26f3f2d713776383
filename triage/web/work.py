"""Working the queues: lists with filters, "Next", the item page and its actions. Thin shells over workflow."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask import Response as HttpResponse  # triage.models has a Response: a reply
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import func, select, update

from triage.core import errors
from triage.db import MAX_ROW_ID, utcnow
from triage.models import Mention, Notification, Queue, Response, SavedReply, User
from triage.people import customers
from triage.tagging.classifier import INTENTS, SENTIMENTS
from triage.web.context import db, settings
from triage.web.navigation import safe_next
from triage.web.pages import live_etag, live_fragment
from triage.work import claims, corrections, escalation, outbound, presence, replies
from triage.work import queues as reads

bp = Blueprint("work", __name__)


def _form_ids(name: str) -> list[int]:
    """The row ids posted in a form field; what is not one (a word, "²", a number no row can have) is left out."""
    return [int(v) for v in request.form.getlist(name)
            if v.isascii() and v.isdigit() and len(v) <= len(str(MAX_ROW_ID)) and int(v) <= MAX_ROW_ID]


def _filters() -> dict[str, str]:
    return {k: request.args.get(k, "").strip() for k in reads.FILTERS if request.args.get(k, "").strip()}


def _page() -> int:
    raw = request.args.get("page", "").strip() or "1"
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= reads.MAX_PAGE:
        abort(400, f"The page must be a whole number from 1 to {reads.MAX_PAGE:,}, not “{raw[:20]}”.")
    return int(raw)


def _list_context() -> dict[str, Any]:
    view = request.args.get("view", "all")
    if view not in reads.VIEWS:
        abort(404, f"There is no view “{view[:40]}”; the views are {', '.join(reads.VIEWS)}.")
    session = db()
    filters = _filters()
    owner = filters.get("owner")
    if owner and session.scalar(select(User.id).where(User.username == owner)) is None:
        abort(400, f"There is no user “{owner[:64]}” to list the items of.")
    listing = reads.work_list(session, current_user, view, filters, page=_page())
    return dict(view=view, views=reads.VIEWS, listing=listing, filters=filters,
                view_counts=reads.view_counts(session, current_user), all_queues=reads.all_queues(session),
                networks=reads.networks(session), intents=INTENTS, sentiments=SENTIMENTS,
                people=_workers(session))


def _workers(session) -> list[User]:
    return list(session.scalars(select(User).where(User.active.is_(True), User.role.in_(("agent", "lead", "admin")))
                                .order_by(User.display_name)))


def _work_page(status: int = 200) -> tuple[str, int]:
    """The work list; its rows are the fragment the page polls, rendered once here with their ETag."""
    ctx = _list_context()
    html = render_template("_work_rows.html", **ctx)
    return render_template("work.html", rows_html=Markup(html), rows_etag=live_etag(html, *_list_key(ctx)),
                           **ctx), status


def _list_key(ctx: dict[str, Any]) -> tuple[object, ...]:
    """What chose the rows: the view, the page and the filters (the ETag's key)."""
    return ctx["view"], ctx["listing"].page, sorted(ctx["filters"].items())


@bp.get("/work")
@login_required
def work_list():
    return _work_page()


@bp.get("/work/fragment")
@login_required
def work_fragment() -> HttpResponse:
    """The rows alone, which the page fetches every few seconds to stay live (304 while they are unchanged)."""
    ctx = _list_context()
    return live_fragment(render_template("_work_rows.html", **ctx), *_list_key(ctx))


@bp.post("/queues/<slug>/next")
@login_required
def claim_next(slug: str):
    session = db()
    queue = session.scalar(select(Queue).where(Queue.slug == slug))
    if queue is None:
        abort(404)
    try:
        mention = claims.claim_next(session, queue.id, current_user)
        session.commit()
    except errors.WorkflowError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("pages.queues", slug=slug)), exc.status
    if mention is None:
        flash(f"Nothing left to claim in {queue.name}. Well done.", "info")
        return redirect(url_for("pages.queues", slug=slug))
    return redirect(url_for("work.item", mention_id=mention.id))


def _item_page(mention_id: int, status: int = 200):
    session = db()
    mention = session.get(Mention, mention_id)
    if mention is None:
        abort(404)
    ctx = reads.context(session, mention)
    saved = list(session.scalars(select(SavedReply).order_by(
        (SavedReply.intent == mention.intent).desc(), SavedReply.uses.desc(), SavedReply.title)))
    filled = {s.id: replies.fill_placeholders(s.body, mention, current_user) for s in saved}
    others = presence.seen(settings(), mention.id, current_user.username, current_user.display_name)
    return render_template(
        "item.html", m=mention, ctx=ctx, saved_replies=saved, filled=filled, viewers=others,
        targets=escalation.escalation_targets(session, current_user), people=_workers(session),
        reply_limit=replies.reply_limit_for(mention), intents=INTENTS, sentiments=SENTIMENTS,
        idle_minutes=settings().claim_idle_minutes,
    ), status


@bp.get("/mentions/<int:mention_id>")
@login_required
def item(mention_id: int):
    return _item_page(mention_id)


def _act(mention_id: int, action, success, after=None):
    """Run one transition, commit, and come back to the item; a refusal re-renders it with its status."""
    session = db()
    try:
        result = action(session)
        session.commit()
        if after is not None:
            after(result)
    except errors.WorkflowError as exc:
        session.rollback()
        if exc.status == 404 and session.get(Mention, mention_id) is None:
            abort(404, str(exc))
        flash(str(exc), "error")
        return _item_page(mention_id, exc.status)
    flash(success if isinstance(success, str) else success(result), "info")
    return redirect(safe_next(request.form.get("next"), url_for("work.item", mention_id=mention_id)))


@bp.post("/mentions/<int:mention_id>/claim")
@login_required
def claim(mention_id: int):
    return _act(mention_id, lambda s: claims.claim(s, mention_id, current_user,
                                                    idle_minutes=settings().claim_idle_minutes), "You hold it now.")


@bp.post("/mentions/<int:mention_id>/release")
@login_required
def release(mention_id: int):
    return _act(mention_id, lambda s: claims.release(s, mention_id, current_user), "Released.")


@bp.post("/mentions/<int:mention_id>/reply")
@login_required
def reply(mention_id: int):
    saved_id = request.form.get("saved_reply_id", type=int)
    return _act(mention_id, lambda s: replies.reply(s, mention_id, current_user, request.form.get("text", ""),
                                                     saved_reply_id=saved_id),
                "Reply saved; it is being sent.", after=lambda r: _enqueue_quietly(r.id))


def _enqueue_quietly(response_id: int, attempt: int = 0) -> None:
    from workers.jobs import try_enqueue_response

    if not try_enqueue_response(settings(), response_id, attempt=attempt):
        flash("The reply is saved but could not be queued for sending yet; use Retry when the system is back.",
              "error")


@bp.post("/mentions/<int:mention_id>/responses/<int:response_id>/retry")
@login_required
def retry_response(mention_id: int, response_id: int):
    return _act(mention_id, lambda s: outbound.retry(s, mention_id, response_id, current_user),
                "Sending the reply again.", after=lambda r: _enqueue_quietly(r.id, attempt=r.attempts))


@bp.post("/mentions/<int:mention_id>/escalate")
@login_required
def escalate(mention_id: int):
    return _act(mention_id, lambda s: escalation.escalate(s, mention_id, current_user, request.form.get("to", ""),
                                                        request.form.get("reason", "")),
                lambda m: "Escalated" + (f" to {m.escalated_to.display_name}." if m.escalated_to else "."))


@bp.post("/mentions/<int:mention_id>/assign")
@login_required
def assign(mention_id: int):
    return _act(mention_id, lambda s: escalation.assign(s, [mention_id], current_user, request.form.get("user", "")),
                "Assigned.")


@bp.post("/work/assign")
@login_required
def assign_many():
    ids = _form_ids("mention")
    session = db()
    try:
        result = escalation.assign(session, ids, current_user, request.form.get("user", ""))
        session.commit()
    except errors.WorkflowError as exc:
        session.rollback()
        flash(str(exc), "error")
        return _work_page(exc.status)
    flash(f"Assigned {len(result.assigned)} mention{'s' if len(result.assigned) != 1 else ''}."
          + (f" Skipped {len(result.skipped)}: " + "; ".join(f"#{i} {why}" for i, why in result.skipped.items())
             if result.skipped else ""), "info")
    return redirect(safe_next(request.form.get("next"), url_for("work.work_list")))


@bp.post("/mentions/<int:mention_id>/resolve")
@login_required
def resolve(mention_id: int):
    return _act(mention_id, lambda s: replies.resolve(s, mention_id, current_user), "Resolved.")


@bp.post("/mentions/<int:mention_id>/reopen")
@login_required
def reopen(mention_id: int):
    return _act(mention_id, lambda s: replies.reopen(s, mention_id, current_user), "Reopened.")


@bp.post("/mentions/<int:mention_id>/spam")
@login_required
def spam(mention_id: int):
    return _act(mention_id, lambda s: replies.mark_spam(s, mention_id, current_user), "Marked as spam.")


@bp.post("/mentions/<int:mention_id>/irrelevant")
@login_required
def irrelevant(mention_id: int):
    return _act(mention_id, lambda s: replies.mark_irrelevant(s, mention_id, current_user),
                "Marked as not relevant.")


@bp.post("/mentions/<int:mention_id>/notes")
@login_required
def note(mention_id: int):
    return _act(mention_id, lambda s: replies.add_note(s, mention_id, current_user, request.form.get("text", "")),
                "Note added.")


@bp.post("/mentions/<int:mention_id>/relabel")
@login_required
def relabel(mention_id: int):
    return _act(mention_id, lambda s: corrections.relabel(s, mention_id, current_user,
                                                       sentiment=request.form.get("sentiment") or None,
                                                       intent=request.form.get("intent") or None),
                lambda m: "Thanks: the correction is saved and the classifier will learn from it. "
                          f"Priority {m.priority}" + (f", in {m.queue.name}." if m.queue else "."))


@bp.post("/mentions/<int:mention_id>/link")
@login_required
def link_account(mention_id: int):
    mention = db().get(Mention, mention_id)
    if mention is None:
        abort(404)
    other = next(iter(_form_ids("author_id")), None)
    return _act(mention_id, lambda s: customers.link_authors(s, mention.author_id, other or 0, current_user,
                                                             mention_id=mention_id),
                "Linked: their history now shows on both accounts.")


@bp.post("/mentions/<int:mention_id>/presence")
@login_required
def ping(mention_id: int):
    """The item page calls this every few seconds: who else is here, and who holds the item now."""
    session = db()
    mention = session.get(Mention, mention_id, populate_existing=True)
    if mention is None:
        abort(404)
    if request.form.get("leaving"):
        presence.gone(settings(), mention_id, current_user.username, current_user.display_name)
        return ("", 204)
    others = presence.seen(settings(), mention_id, current_user.username, current_user.display_name)
    holder = mention.claimed_by
    return jsonify({
        "viewers": others, "status": mention.status,
        "holder": holder.display_name if holder else None, "held_by_me": holder is not None and
        holder.id == current_user.id,
        "responses": session.scalar(select(func.count()).select_from(Response)
                                    .where(Response.mention_id == mention_id)),
    })


@bp.get("/notifications")
@login_required
def notifications():
    session = db()
    rows = session.scalars(select(Notification).where(Notification.user_id == current_user.id)
                           .order_by(Notification.created_at.desc()).limit(100)).all()
    return render_template("notifications.html", notifications=rows)


@bp.post("/notifications/read")
@login_required
def notifications_read():
    session = db()
    session.execute(update(Notification).where(Notification.user_id == current_user.id,
                                               Notification.read_at.is_(None)).values(read_at=utcnow()))
    session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("work.notifications")))


@bp.app_context_processor
def _unread():
    if not current_user.is_authenticated:
        return {}
    count = db().scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == current_user.id, Notification.read_at.is_(None)))
    return {"unread_notifications": count or 0}
