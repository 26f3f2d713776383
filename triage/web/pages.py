"""Pages people work in."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import func, select
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from triage import queues as queue_reads
from triage.db import session_factory
from triage.dead_letters import open_letters
from triage.defaults import ensure_source
from triage.importer import ImportFileError, import_stream
from triage.models import Delivery, Source
from triage.web import db, settings

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return redirect(url_for("pages.queues"))


def _queue_board(selected: str | None = None):
    session = db()
    all_queues = queue_reads.all_queues(session)
    counts = queue_reads.counts(session)
    shown = [q for q in all_queues if selected in (None, q.slug)]
    if selected and not shown:
        abort(404)
    board = [(q, queue_reads.items(session, q.id, limit=25)) for q in shown]
    return dict(all_queues=all_queues, counts=counts, board=board, selected=selected)


@bp.get("/queues")
@bp.get("/queues/<slug>")
@login_required
def queues(slug: str | None = None):
    return render_template("queues.html", **_queue_board(slug))


@bp.get("/queues/fragment")
@bp.get("/queues/<slug>/fragment")
@login_required
def queues_fragment(slug: str | None = None):
    """The board alone, which the page fetches every few seconds to stay live."""
    return render_template("_board.html", **_queue_board(slug))


class ImportForm(FlaskForm):
    file = FileField("File (CSV or JSON Lines)", validators=[FileRequired()])
    source = StringField("Source name", default="Imports", validators=[DataRequired(), Length(max=80)])
    brand_handles = StringField("Brand handles (comma separated)", validators=[Length(max=500)])


def _require_lead() -> None:
    if not current_user.can("lead"):
        abort(403)


@bp.route("/sources", methods=["GET", "POST"])
@login_required
def sources():
    session = db()
    form = ImportForm()
    if request.method == "POST":
        _require_lead()
        if form.validate_on_submit():
            return _import_upload(form)
        flash("; ".join(e for errs in form.errors.values() for e in errs), "error")
    pending = dict(session.execute(
        select(Delivery.source_id, func.coalesce(func.sum(Delivery.post_count), 0))
        .where(Delivery.processed_at.is_(None)).group_by(Delivery.source_id)).all())
    rows = session.scalars(select(Source).order_by(Source.name)).all()
    return render_template("sources.html", sources=rows, pending=pending, form=form,
                           dead_letters=open_letters(session)), (
        400 if request.method == "POST" else 200)


def _import_upload(form: ImportForm):
    from workers.jobs import enqueue_deliveries

    handles = [h.strip().lstrip("@").lower() for h in (form.brand_handles.data or "").split(",") if h.strip()]
    session = db()
    source = ensure_source(session, form.source.data.strip(), "import")
    if handles:
        source.brand_handles = sorted(set(source.brand_handles or []) | set(handles))
    session.commit()
    upload = form.file.data
    try:
        summary = import_stream(session_factory(settings().database_url), source.id, upload.stream,
                                upload.filename or "", batch_size=settings().batch_size,
                                on_batch=lambda ids: enqueue_deliveries(settings(), ids))
    except ImportFileError as exc:
        flash(f"{upload.filename}: {exc}. Nothing was imported.", "error")
        return redirect(url_for("pages.sources"))
    flash(f"{upload.filename}: {summary.accepted:,} posts accepted into “{source.name}”; "
          "they appear in the queues as they are tagged.", "info")
    for error in summary.errors[:10]:
        flash(f"{upload.filename}: {error}", "error")
    if len(summary.errors) > 10:
        flash(f"… and {len(summary.errors) - 10:,} more rows refused.", "error")
    return redirect(url_for("pages.sources"))
