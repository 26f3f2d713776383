"""Reports, the items behind each figure, CSV exports, the audit log and the service-level settings.

Thin views: they parse the request, call triage.reporting (reports, items, exports, audit_log) and triage.sla,
and render or stream.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import NoReturn
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage.core.audit import ACTIONS
from triage.core.errors import WorkflowError
from triage.db import session_factory, utcnow
from triage.models import Queue, SlaPolicy, Team, User
from triage.reporting import audit_log, charts, exports, items, reports
from triage.reporting.filters import DIMENSION_NAMES, DIMENSIONS, NONE, QUICK_RANGES, Filters, ReportError, position
from triage.sla import clock, deadlines
from triage.sla import settings as sla_settings
from triage.tagging.classifier import INTENTS, SENTIMENTS
from triage.web.context import db, settings

bp = Blueprint("reports", __name__)
AUDIT_PAGE = 100
ITEMS_PAGE = 100


@bp.app_template_global("sla_status")
def _sla_status(mention):
    """The deadline to watch on an item, for the time-left badge (templates/_sla.html)."""
    return deadlines.status(mention)


def _require(*roles: str) -> None:
    if not current_user.can(*roles):
        abort(403)


def _refuse(exc: ReportError) -> NoReturn:
    """A filter or range that cannot be answered: the error page says why (400)."""
    message = str(exc)
    abort(400, message[:1].upper() + message[1:] + ".")


def _filters() -> Filters:
    try:
        return Filters.parse(request.args)
    except ReportError as exc:
        _refuse(exc)


def _choices() -> dict:
    session = db()
    return {
        "queues": session.execute(select(Queue.slug, Queue.name).order_by(Queue.position, Queue.id)).all(),
        "teams": session.execute(select(Team.id, Team.name).order_by(Team.name)).all(),
        "agents": session.execute(select(User.username, User.display_name).where(User.role.in_(("agent", "lead")))
                                  .order_by(User.display_name)).all(),
        "intents": INTENTS, "sentiments": SENTIMENTS,
    }


class _Links:
    """Drill-down URLs for one report: its range and filters, plus what narrows to one figure.

    A long range links thousands of figures; joining a prepared query string keeps that cheap.
    """

    def __init__(self, f: Filters):
        self.f = f
        self.base = f.report_args()
        self.prefix = url_for("reports.report_items") + "?" + urlencode(self.base)

    def __call__(self, **drill) -> str:
        drill = {k: ("yes" if v else "no") if isinstance(v, bool) else str(v) for k, v in drill.items()
                 if v is not None}
        if self.base.keys() & drill.keys():  # a figure's own value replaces the report's filter
            return url_for("reports.report_items", **{**self.base, **drill})
        return self.prefix + "".join(_pair(k, v) for k, v in drill.items())


@lru_cache(maxsize=8192)
def _pair(name: str, value: str) -> str:
    """'&name=value', encoded once: a year's report repeats each day and name in thousands of links."""
    return "&" + urlencode({name: value})


def _charts(f: Filters, data: dict, link: _Links) -> dict:
    """The page's SVG charts; every point and bar links to the items behind it."""
    days = f.days()
    labels = [d.strftime("%d %b") for d in days]
    by_day = {r["key"]: r for r in data["by"]["day"]}
    medians = [(by_day.get(d) or {}).get("first_response_seconds", {}).get("median") for d in days]
    p90s = [(by_day.get(d) or {}).get("first_response_seconds", {}).get("p90") for d in days]
    answered_links = [link(day=d.isoformat(), answered="yes") for d in days]
    out = {"response": charts.line_chart(
        "First response time by day (median and 90th percentile)", labels,
        [charts.Series("median", medians, answered_links), charts.Series("p90", p90s, answered_links)],
        y_format=charts.duration, durations=True)}
    for name in ("intent", "sentiment"):
        volume = data["volume"][name]
        series = [charts.Series(s, [day["counts"][s] for day in volume["days"]],
                                [link(day=day["day"].isoformat(), **{name: s}) for day in volume["days"]])
                  for s in volume["series"]]
        out[f"volume_{name}"] = charts.stacked_bars(f"Mentions per day by {name}", labels, series)
    out["backlog"] = charts.line_chart(
        "Open items at the end of each day", labels,
        [charts.Series("open", [r["open"] for r in data["backlog"]],
                       [link(open_on=r["day"].isoformat()) for r in data["backlog"]])])
    out["agents"] = charts.bar_list(
        "First response median by agent",
        [(r["label"], r["first_response_seconds"]["median"], link(agent=r["value"], answered="yes"))
         for r in data["by"]["agent"]], value_format=charts.duration)
    return out


@bp.get("/reports")
@login_required
def report():
    _require("supervisor", "lead")
    f = _filters()
    try:
        data = reports.report(db(), f)
    except ReportError as exc:
        flash(str(exc), "error")
        return redirect(url_for("reports.report"))
    finally:
        db().rollback()  # read-only; ends the transaction that carried the report's settings
    today = utcnow().date()
    networks = sorted({r["value"] for r in data["by"]["network"] if r["value"] != NONE}
                      | ({f.network} if f.network else set()))
    link = _Links(f)
    return render_template("reports.html", f=f, data=data, charts=_charts(f, data, link), choices=_choices(),
                           networks=networks, dimensions=DIMENSIONS, names=DIMENSION_NAMES,
                           link=link, duration=charts.duration, today=today,
                           quick=[(days, f.report_args(since=today - timedelta(days=days - 1), until=today))
                                  for days in QUICK_RANGES])


@bp.get("/reports/items")
@login_required
def report_items():
    _require("supervisor", "lead")
    f = _filters()
    session = db()
    try:
        after = position(request.args["after"], "after") if request.args.get("after") else None
        rows = list(items.items(session, f, limit=ITEMS_PAGE + 1, after=after))
        total = items.count_items(session, f)
    except ReportError as exc:
        _refuse(exc)
    finally:
        session.rollback()
    more = len(rows) > ITEMS_PAGE
    rows = rows[:ITEMS_PAGE]
    next_args = ({**f.args(), "after": f"{rows[-1]['posted_at'].isoformat()}_{rows[-1]['id']}"} if more else None)
    return render_template("report_items.html", f=f, rows=rows, total=total, words=items.describe(f),
                           next_args=next_args, duration=charts.duration)


def _csv(lines, filename: str) -> Response:
    return Response(lines, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _streamed_csv(produce, filename: str) -> Response:
    """Stream rows as the database yields them, from a session of the stream's own (the request is over by then)."""
    factory = session_factory(settings().database_url)

    def lines():
        with factory() as session:
            yield from produce(session)

    return _csv(lines(), filename)


@bp.get("/reports/export/<table>.csv")
@login_required
def export(table: str):
    """Any table of the report, or the raw items (with every timestamp), as CSV."""
    _require("supervisor", "lead")
    f = _filters()
    stamp = f"{f.since}_{f.until}"
    if table == "items":
        try:
            items.count_items(db(), f)  # a bad filter is refused now, not halfway through the download
        except ReportError as exc:
            _refuse(exc)
        finally:
            db().rollback()
        return _streamed_csv(lambda session: exports.items_csv(session, f), f"triage-items-{stamp}.csv")
    if table not in exports.TABLES:
        abort(404)
    try:
        data = reports.report(db(), f)
    except ReportError as exc:
        _refuse(exc)
    finally:
        db().rollback()
    header, rows = exports.table_rows(data, table)
    return _csv("".join(exports.csv_lines(header, rows)), f"triage-{table}-{stamp}.csv")


# ------------------------------------------------------------------------------------------- audit log


def _audit_filters() -> audit_log.AuditFilters:
    try:
        return audit_log.AuditFilters.parse(request.args)
    except ReportError as exc:
        _refuse(exc)


@bp.get("/audit")
@login_required
def audit():
    """Every event: who, what, when, which item, from → to. Read-only: there is no way to change one."""
    _require("supervisor", "lead")
    a = _audit_filters()
    session = db()
    rows = list(audit_log.audit_events(session, a, limit=AUDIT_PAGE + 1))
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    next_args = ({**a.args(), "before": f"{rows[-1]['created_at'].isoformat()}_{rows[-1]['id']}"} if more else None)
    return render_template("audit.html", a=a, rows=rows, next_args=next_args, actions=ACTIONS,
                           actors=session.execute(select(User.username, User.display_name)
                                                  .order_by(User.display_name)).all())


@bp.get("/audit.csv")
@login_required
def audit_csv():
    _require("supervisor", "lead")
    a = _audit_filters()
    return _streamed_csv(lambda session: audit_log.audit_csv(session, a), f"triage-audit-{utcnow():%Y%m%d-%H%M}.csv")


# ------------------------------------------------------------------------------------------ service levels


@bp.get("/sla")
@login_required
def sla_policies():
    _require("supervisor", "lead")
    session = db()
    policies = session.scalars(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)).all()
    teams = session.scalars(select(Team).order_by(Team.name)).all()
    members = dict(session.execute(select(User.team_id, func.count()).group_by(User.team_id)).all())
    return render_template("sla_policies.html", policies=policies, teams=teams, members=members,
                           intents=INTENTS, days=clock.DAYS, timezones=clock.timezones(),
                           next_position=max((p.position for p in policies), default=-1) + 1,
                           can_edit=current_user.can("lead"))


def _save(action: Callable[[Session], str]) -> ResponseReturnValue:
    _require("lead")
    session = db()
    try:
        message = action(session)
        session.commit()
        flash(message, "info")
    except (clock.SlaError, WorkflowError) as exc:
        session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("reports.sla_policies"))


@bp.post("/sla/policies")
@bp.post("/sla/policies/<int:policy_id>")
@login_required
def save_policy(policy_id: int | None = None):
    def save(session):
        policy = sla_settings.save_policy(session, current_user, request.form.to_dict(), policy_id)
        return f"Saved “{policy.name}”. It applies to mentions that arrive from now on."

    return _save(save)


@bp.post("/sla/policies/<int:policy_id>/delete")
@login_required
def delete_policy(policy_id: int):
    def delete(session):
        sla_settings.delete_policy(session, current_user, policy_id)
        return "Policy deleted. Mentions that arrive from now on no longer get it."

    return _save(delete)


@bp.post("/sla/teams/<int:team_id>")
@login_required
def save_team(team_id: int):
    form = request.form

    def save(session):
        hours = None
        if not form.get("around_the_clock"):
            hours = {day: [form.get(f"{day}_opens"), form.get(f"{day}_closes")] for day in clock.DAYS
                     if form.get(f"{day}_opens") or form.get(f"{day}_closes")}
        team = sla_settings.save_team_hours(session, current_user, team_id, timezone=form.get("timezone", ""),
                                            hours=hours, holidays=clock.parse_holidays(form.get("holidays", "")),
                                            escalate_breached_urgent=bool(form.get("escalate_breached_urgent")))
        return f"Saved {team.name}'s hours. Due times of mentions that arrive from now on follow them."

    return _save(save)
