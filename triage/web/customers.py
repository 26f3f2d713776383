"""Customers: finding a person, and their profile (accounts, timeline, charts, open items, facts), where a worker
confirms or undoes links. Thin shells over `triage.people.customers`."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy.orm import Session

from triage.core import errors
from triage.db import MAX_ROW_ID, utcnow
from triage.people import customers as people
from triage.reporting.charts import Series, duration, stacked_bars
from triage.tagging.classifier import INTENTS, SENTIMENTS
from triage.web.context import db

bp = Blueprint("customers", __name__)
MONTHS = 12  # the charts' span


def _row_id(raw: str | None) -> int:
    """A posted or queried row id; 0 (refused by the domain) for what is not one."""
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_ROW_ID else 0


def month_starts(now: datetime, count: int = MONTHS) -> list[datetime]:
    """The first moments of the last `count` months, oldest first, the current month last."""
    year, month = now.year, now.month
    starts = []
    for _ in range(count):
        starts.append(now.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def charts(session: Session, customer_id: int) -> list[tuple[str, Markup]]:
    """Sentiment and intent per month, as server-rendered SVG."""
    months = month_starts(utcnow())
    labels = [f"{m:%b %y}" for m in months]
    out = []
    for column, names, title in (("sentiment", SENTIMENTS, "Sentiment by month"),
                                 ("intent", INTENTS, "Intent by month")):
        data = people.monthly(session, customer_id, column, months)
        order = [n for n in names if n in data] + sorted(set(data) - set(names))
        out.append((title, stacked_bars(title, labels, [Series(n, data[n]) for n in order], width=560, height=180)))
    return out


@bp.get("/customers")
@login_required
def customers() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()[:people.MAX_QUERY]
    raw_before = request.args.get("before", "").strip()
    before = _row_id(raw_before) if raw_before else None
    if raw_before and not before:
        abort(400, f"“{raw_before[:20]}” is not a page of the customer list.")
    found, next_before = people.search(db(), query, before=before)
    return render_template("customers.html", query=query, found=found, next_before=next_before, before=before)


def _profile(customer_id: int, status: int = 200) -> ResponseReturnValue:
    session = db()
    try:
        customer = people.get(session, customer_id)
    except errors.NotFound as exc:
        abort(404, str(exc))
    raw_after = request.args.get("after", "").strip()
    after = people.parse_cursor(raw_after) if raw_after else None
    if raw_after and after is None:
        abort(400, f"“{raw_after[:40]}” is not a page of this customer's history.")
    linked = people.accounts(session, customer.id)
    entries, next_after = people.timeline(session, customer.id, after=after)
    answered, median = people.first_responses(session, customer.id)
    suggested_authors, suggested_records = people.suggestions(session, customer)
    return render_template(
        "customer.html", customer=customer, accounts=linked, linkers=people.linkers(session, linked),
        entries=entries, next_after=next_after, paged=after is not None, counts=people.counts(session, customer.id),
        charts=charts(session, customer.id), open_items=people.open_items(session, customer.id),
        answered=answered[:20], median=median, duration=duration, records=sorted(
            customer.records, key=lambda r: (r.system, r.external_id)),
        suggested_authors=suggested_authors, suggested_records=suggested_records,
        worker=current_user.can("agent", "lead")), status


@bp.get("/customers/<int:customer_id>")
@login_required
def customer(customer_id: int) -> ResponseReturnValue:
    return _profile(customer_id)


def _act(customer_id: int, action: Callable[[Session], Any], success: str) -> ResponseReturnValue:
    """Run one change, commit, and come back to the profile; a refusal re-renders it with its status."""
    session = db()
    try:
        action(session)
        session.commit()
    except errors.WorkflowError as exc:
        session.rollback()
        if isinstance(exc, errors.NotFound):
            abort(404, str(exc))
        flash(str(exc), "error")
        return _profile(customer_id, exc.status)
    flash(success, "info")
    return redirect(url_for("customers.customer", customer_id=customer_id))


@bp.post("/customers/<int:customer_id>/link-account")
@login_required
def link_account(customer_id: int) -> ResponseReturnValue:
    author_id = _row_id(request.form.get("author_id"))
    return _act(customer_id, lambda s: people.link_account(s, current_user, customer_id, author_id),
                "Linked: the account's history now shows here.")


@bp.post("/customers/<int:customer_id>/link-record")
@login_required
def link_record(customer_id: int) -> ResponseReturnValue:
    record_id = _row_id(request.form.get("record_id"))
    return _act(customer_id, lambda s: people.link_record(s, current_user, record_id, customer_id),
                "Linked: the record's facts now show here.")


@bp.post("/customers/<int:customer_id>/unlink")
@login_required
def unlink(customer_id: int) -> ResponseReturnValue:
    author_id = _row_id(request.form.get("author_id"))
    return _act(customer_id, lambda s: people.unlink_author(s, current_user, author_id,
                                                                          customer_id=customer_id),
                "Unlinked: that account stands on its own again.")
