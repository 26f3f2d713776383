"""Sources (leads): add an RSS feed, connect a network account (a form made from its connector's fields), edit a
source's name, handles, interval, feed or account, pause, resume and disconnect it, all through `source_settings`.
The list of sources is the Sources page (`pages.sources`), which everyone sees."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from triage.core.roles import LEADS
from triage.intake import connections, source_settings
from triage.intake.sources import connector
from triage.intake.sources.base import Connector
from triage.models import Source
from triage.web.admin.forms import Page, allow, blueprint, changed, field
from triage.web.context import db, settings

bp = blueprint("sources", __name__)

NAME_TAKEN = "that source name is taken"  # two people saving the same source name at once
FIELD = "field-"  # a connector's settings in the form, apart from the source's own (name, interval)


def _connectable(kind: str) -> Connector:
    found = connector(kind)
    if found is None or not found.connectable:
        abort(404)
    return found


def _values(found: Connector) -> dict[str, str]:
    """The connector's settings as typed; a blank one is left out (a blank secret keeps the stored one)."""
    return {f.name: value for f in found.fields if (value := request.form.get(FIELD + f.name, "").strip())}


def _shown(found: Connector, source: Source) -> dict[str, str]:
    """A connected source's settings as the form shows them: never its secrets."""
    shown: dict[str, str] = {}
    for f in found.fields:
        value = (source.config or {}).get(f.name)
        if not f.secret and value is not None:
            shown[FIELD + f.name] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return shown


def _handle(source: Source) -> str:
    return "@" + str((source.account or {}).get("handle") or "?").lstrip("@")


def _source_page(source_id: int | None = None, *, form: Any = None, status: int = 200) -> Page:
    source = db().get(Source, source_id) if source_id else None
    if source_id and source is None:
        abort(404)
    found = connector(source.kind) if source is not None else None
    network = found if source is not None and found is not None and found.connectable else None
    account_form = _shown(network, source) if network is not None and source is not None else {}
    if form is not None and any(k.startswith(FIELD) for k in form):
        account_form = {k: v for k, v in form.items() if k.startswith(FIELD)}  # the account form, refused
        form = None  # the source's own form shows what is stored
    if form is None:
        form = {"network": "rss", "interval": "300"} if source is None else {
            "name": source.name, "interval": str(source.interval_seconds),
            "brand_handles": ", ".join(source.brand_handles or []),
            "url": (source.config or {}).get("url", ""), "network": (source.config or {}).get("network", "rss")}
    page = "source_connect.html" if network is not None else "source_edit.html"
    return render_template(page, source=source, form=form, network=network, account_form=account_form,
                           field_prefix=FIELD), status


def _connect_page(kind: str, *, form: Any = None, status: int = 200) -> Page:
    found = _connectable(kind)
    form = form if form is not None else {"name": found.label, "interval": str(max(300, found.min_interval))}
    return render_template("source_connect.html", source=None, network=found, form=form, account_form={},
                           field_prefix=FIELD), status


@bp.get("/sources/connect/<kind>")
def source_connect(kind: str) -> Page:
    allow(*LEADS)
    return _connect_page(kind)


@bp.post("/sources/connect/<kind>")
def source_connect_save(kind: str) -> Response:
    allow(*LEADS)
    found = _connectable(kind)
    source = changed(lambda: connections.connect_account(
        db(), settings(), current_user, found.kind, field("name"), _values(found), interval=field("interval")),
        _connect_page, kind, taken=NAME_TAKEN)
    flash(f"Connected as {_handle(source)}: “{source.name}” is polled every {source.interval_seconds} s, the first "
          "time within seconds.", "info")
    return redirect(url_for(".source_edit", source_id=source.id))


@bp.post("/sources/<int:source_id>/account")
def source_account(source_id: int) -> Response:
    allow(*LEADS)
    source = db().get(Source, source_id)
    found = connector(source.kind) if source is not None else None
    if source is None or found is None:
        abort(404)
    source = changed(lambda: connections.update_account(db(), settings(), current_user, source_id,
                                                            _values(found)), _source_page, source_id)
    flash(f"Saved the account settings of {source.name}: connected as {_handle(source)}.", "info")
    return redirect(url_for(".source_edit", source_id=source_id))


@bp.post("/sources/<int:source_id>/disconnect")
def source_disconnect(source_id: int) -> Response:
    allow(*LEADS)
    source = changed(lambda: connections.disconnect_account(db(), settings(), current_user, source_id),
                     _source_page, source_id)
    flash(f"{source.name} is disconnected: paused, and its credentials are wiped. Its mentions stay.", "info")
    return redirect(url_for(".source_edit", source_id=source_id))


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
