"""Pages people work in."""
from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup
from sqlalchemy import func, select
from werkzeug.http import quote_etag, unquote_etag
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from triage.core.errors import WorkflowError
from triage.db import session_factory
from triage.intake.dead_letters import open_letters
from triage.intake.importer import ImportFileError, import_stream
from triage.intake.source_settings import prepare_import_source
from triage.intake.sources import connectable
from triage.models import Delivery, Source
from triage.web.context import db, settings
from triage.work import queues as queue_reads

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return redirect(url_for("pages.queues"))


def live_etag(html: str, *key: object) -> str:
    """The (weak) ETag of a live region's HTML as this user sees it under `key`, the query that chose it.

    Made from the HTML itself, so a 304 can never hide a change, "12 s ago" turning "16 s ago" included. The one
    part left out is this request's CSRF token: it is signed afresh every second, but the token already in the
    page is as good for the same session, and the user's id is in the tag.
    """
    digest = hashlib.blake2b(digest_size=16)
    for part in (current_user.id, current_user.role, *key):
        digest.update(f"{part!r}\0".encode())
    digest.update(html.replace(generate_csrf(), "").encode())
    return quote_etag(digest.hexdigest(), weak=True)  # weak: equal up to the CSRF token, not byte for byte


def live_fragment(html: str, *key: object) -> Response:
    """A live region's HTML, or 304 Not Modified when the browser's If-None-Match says it shows exactly that."""
    etag = live_etag(html, *key)
    shown = request.if_none_match.contains_weak(unquote_etag(etag)[0])
    response = Response(status=304) if shown else make_response(html)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response


def _queue_board(selected: str | None = None) -> dict[str, Any]:
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
def queues(slug: str | None = None) -> str:
    board = _queue_board(slug)
    html = render_template("_board.html", **board)
    return render_template("queues.html", board_html=Markup(html), board_etag=live_etag(html, slug),
                           **board)


@bp.get("/queues/fragment")
@bp.get("/queues/<slug>/fragment")
@login_required
def queues_fragment(slug: str | None = None) -> Response:
    """The board alone, which the page fetches every few seconds to stay live (304 while it is unchanged)."""
    return live_fragment(render_template("_board.html", **_queue_board(slug)), slug)


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
    return render_template("sources.html", sources=rows, pending=pending, form=form, networks=connectable(),
                           dead_letters=open_letters(session)), (
        400 if request.method == "POST" else 200)


def _import_upload(form: ImportForm):
    from workers.jobs import enqueue_deliveries

    session = db()
    try:  # a new source or new brand handles are settings changes: audited, as `triage import` does
        source = prepare_import_source(session, current_user, form.source.data.strip(),
                                       brand_handles=form.brand_handles.data or "")
    except WorkflowError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("pages.sources"))
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
