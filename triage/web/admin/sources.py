"""Sources (leads): add an RSS feed, edit a source's name, handles, interval and feed, pause and resume it, all
through `source_settings`. The list of sources is the Sources page (`pages.sources`), which everyone sees."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from triage.core.roles import LEADS
from triage.intake import source_settings
from triage.models import Source
from triage.web.admin.forms import Page, allow, blueprint, changed, field
from triage.web.context import db

bp = blueprint("sources", __name__)

NAME_TAKEN = "that source name is taken"  # two people saving the same source name at once


def _source_page(source_id: int | None = None, *, form: Any = None, status: int = 200) -> Page:
    source = db().get(Source, source_id) if source_id else None
    if source_id and source is None:
        abort(404)
    if form is None:
        form = {"network": "rss", "interval": "300"} if source is None else {
            "name": source.name, "interval": str(source.interval_seconds),
            "brand_handles": ", ".join(source.brand_handles or []),
            "url": (source.config or {}).get("url", ""), "network": (source.config or {}).get("network", "rss")}
    return render_template("source_edit.html", source=source, form=form), status


@bp.get("/sources/rss/new")
def source_new() -> Page:
    allow(*LEADS)
    return _source_page()


@bp.post("/sources/rss/new")
def source_add() -> Response:
    allow(*LEADS)
    source = changed(lambda: source_settings.add_rss_source(
        db(), current_user, field("name"), field("url"), network=field("network"), interval=field("interval"),
        brand_handles=field("brand_handles")), _source_page, taken=NAME_TAKEN)
    flash(f"Added {source.name}: it is polled every {source.interval_seconds} s, the first time within seconds.",
          "info")
    return redirect(url_for("pages.sources"))


@bp.get("/sources/<int:source_id>/edit")
def source_edit(source_id: int) -> Page:
    allow(*LEADS)
    return _source_page(source_id)


@bp.post("/sources/<int:source_id>/edit")
def source_update(source_id: int) -> Response:
    allow(*LEADS)
    source = changed(lambda: source_settings.update_source(
        db(), current_user, source_id, name=field("name"), brand_handles=field("brand_handles"),
        interval=field("interval"), url=field("url"), network=field("network")), _source_page, source_id,
        taken=NAME_TAKEN)
    flash(f"Saved {source.name}.", "info")
    return redirect(url_for("pages.sources"))


def _back_to_source(source_id: int) -> Response:
    if request.form.get("back") == "edit":
        return redirect(url_for(".source_edit", source_id=source_id))
    return redirect(url_for("pages.sources"))


@bp.post("/sources/<int:source_id>/pause")
def source_pause(source_id: int) -> Response:
    allow(*LEADS)
    source = changed(lambda: source_settings.pause_source(db(), current_user, source_id), _source_page, source_id)
    flash(f"{source.name} is paused: it is not polled until you resume it.", "info")
    return _back_to_source(source_id)


@bp.post("/sources/<int:source_id>/resume")
def source_resume(source_id: int) -> Response:
    allow(*LEADS)
    source = changed(lambda: source_settings.resume_source(db(), current_user, source_id), _source_page, source_id)
    flash(f"{source.name} is running again.", "info")
    return _back_to_source(source_id)
