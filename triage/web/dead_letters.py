"""Dead letters on the Sources page: a lead fixes and retries a post the worker set aside, or discards it."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from triage.core.errors import WorkflowError
from triage.intake import dead_letters
from triage.models import DeadLetter
from triage.web.context import db, settings

bp = Blueprint("dead_letters", __name__)


def _letter_or_404(letter_id: int) -> DeadLetter:
    letter = db().get(DeadLetter, letter_id) if letter_id < 2**63 else None
    if letter is None:
        abort(404, f"There is no dead letter {letter_id}.")
    return letter


@bp.get("/sources/dead-letters/<int:letter_id>")
@login_required
def show(letter_id: int):
    letter = _letter_or_404(letter_id)
    return render_template("dead_letter.html", letter=letter, edited=dead_letters.pretty(letter.payload))


@bp.post("/sources/dead-letters/<int:letter_id>/retry")
@login_required
def retry(letter_id: int):
    from workers.jobs import enqueue_deliveries

    session = db()
    edited = request.form.get("payload", "")
    try:
        done = dead_letters.retry(session, current_user, letter_id, edited)
        session.commit()
    except WorkflowError as exc:
        session.rollback()
        if exc.status in (403, 404):
            abort(exc.status, str(exc))
        flash(str(exc), "error")
        letter = _letter_or_404(letter_id)
        return render_template("dead_letter.html", letter=letter, edited=edited), exc.status
    enqueue_deliveries(settings(), [done.delivery_id])  # Redis away: the sweeper enqueues it later
    flash(f"Dead letter {letter_id} sent again; the post appears in the queues once it is tagged.", "info")
    return redirect(url_for("pages.sources") + "#dead-letters", code=303)


@bp.post("/sources/dead-letters/<int:letter_id>/discard")
@login_required
def discard(letter_id: int):
    session = db()
    try:
        dead_letters.discard(session, current_user, letter_id)
        session.commit()
    except WorkflowError as exc:
        session.rollback()
        if exc.status in (403, 404):
            abort(exc.status, str(exc))
        flash(str(exc), "error")
        return redirect(url_for("pages.sources") + "#dead-letters", code=303)
    flash(f"Dead letter {letter_id} discarded.", "info")
    return redirect(url_for("pages.sources") + "#dead-letters", code=303)
