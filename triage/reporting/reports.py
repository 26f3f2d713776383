"""Supervisor reports: response times, SLA attainment, volume, backlog and workload, aggregated in SQL.

Every figure is computed by the database from stored timestamps, from the rows of facts.py (how times, SLA
states, agents and teams are counted is said there). A long unfiltered range is read from the daily summaries
instead (summary_reading.py). Days are UTC days.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from triage.db import utcnow
from triage.models import Event, Mention, Queue, Response, User
from triage.models.mentions import WORKABLE
from triage.reporting import summary_reading
from triage.reporting.facts import (
    GROUPINGS,
    WORKLOAD_ACTIONS,
    Dialect,
    Ids,
    Names,
    as_date,
    equals,
    facts,
    grouped,
    range_start_id,
    resolve,
    seconds,
    tune,
)
from triage.reporting.filters import DIMENSIONS, NONE, SLA_STATES, Filters

TableRow = dict[str, Any]  # a row of one of the report's tables: plain values by name


def report(session: Session, f: Filters, *, now: datetime | None = None, exact: bool = False) -> dict[str, Any]:
    """All the figures of the report page (and of `triage report`).

    A long unfiltered range is read from the daily summaries (summary_reading.py) unless `exact`.
    """
    now = now or utcnow()
    tune(session)
    ids = resolve(session, f)
    summarised = None if exact else summary_reading.figures(session, f, now)
    if summarised is None:
        groups = grouped(session, facts(session, f, now, ids, min_id=range_start_id(session, f)).subquery("facts"))
    else:
        groups = summarised["grouped"]
    names = Names.load(session)
    by: dict[str, list[TableRow]] = {}
    for dimension in DIMENSIONS:
        key_name = GROUPINGS[dimension][0]
        rows = []
        for row in groups[dimension]:
            key = as_date(row[key_name]) if dimension == "day" and row[key_name] is not None else row[key_name]
            label, value = _label_row(dimension, key.isoformat() if isinstance(key, date) else key, names)
            rows.append({"key": key, "label": label, "value": value, **_figures(row)})
        by[dimension] = _sorted_rows(dimension, rows, names)
    summary = _figures(groups["all"][0] if groups["all"] else None)
    return {
        "since": f.since, "until": f.until, "generated_at": now, "filters": f.report_args(),
        "summary": summary, "by": by,
        "volume": summarised["volume"] if summarised else volume(session, f, ids),
        "backlog": summarised["backlog"] if summarised else backlog(session, f, ids, now=now),
        "workload": workload(session, f, ids, by["agent"], names, done=summarised["done"] if summarised else None),
        # Percentiles of a long range come from summary histograms (within 5%); counts are exact either way.
        "estimated": bool(summarised),
    }


def _pct(met: int, missed: int) -> float | None:
    return round(100.0 * met / (met + missed), 1) if met + missed else None


def _figures(row: Mapping[str, Any] | None) -> TableRow:
    values = row or {}

    def n(key: str) -> int:
        return int(values.get(key) or 0)

    return {
        "mentions": n("mentions"), "answered": n("answered"), "resolved": n("resolved"),
        "first_response_seconds": {"median": seconds(values.get("fr_median")), "p90": seconds(values.get("fr_p90"))},
        "resolution_seconds": {"median": seconds(values.get("res_median")), "p90": seconds(values.get("res_p90"))},
        "sla_attainment": _pct(n("fr_met"), n("fr_missed")),
        "resolution_sla_attainment": _pct(n("res_met"), n("res_missed")),
        "sla": {t: {s: n(f"{p}_{s}") for s in SLA_STATES} for t, p in (("first_response", "fr"),
                                                                         ("resolution", "res"))},
        "clock_started_at_ingest": n("from_ingest"),
    }


def _label_row(dimension: str, key: Any, names: Names) -> tuple[str, str]:
    """(label shown, value of the drill-down filter) for a group's key."""
    if key is None:
        return {"agent": "— no agent", "team": "— no team", "queue": "— no queue", "intent": "— untagged",
                "network": "—", "day": "—"}[dimension], NONE
    if dimension == "agent":
        user = names.agent.get(key)
        return (user.display_name, user.username) if user else (f"user {key}", NONE)
    if dimension == "team":
        return names.team.get(key, f"team {key}"), str(key)
    if dimension == "queue":
        queue = names.queue.get(key)
        return (queue.name, queue.slug) if queue else (f"queue {key}", NONE)
    return str(key), str(key)


def _sorted_rows(dimension: str, rows: list[TableRow], names: Names) -> list[TableRow]:
    if dimension == "day":
        return sorted(rows, key=lambda r: (r["key"] is None, r["key"] or date.min))
    if dimension == "queue":
        position = {q.id: q.position for q in names.queue.values()}
        return sorted(rows, key=lambda r: (r["key"] is None, position.get(r["key"], 0), r["label"]))
    return sorted(rows, key=lambda r: (r["key"] is None, -r["mentions"], r["label"]))


def volume(session: Session, f: Filters, ids: Ids) -> dict[str, Any]:
    """Mentions per day by intent and by sentiment (counts only: one pass over the range, no percentiles)."""
    sql = Dialect(session)
    day = sql.day(Mention.posted_at).label("day")
    where = [Mention.posted_at >= f.start, Mention.posted_at < f.end, *_mention_filters(f, ids)]
    out = {}
    for name in ("intent", "sentiment"):
        column = getattr(Mention, name)
        counts = {(as_date(d), k or NONE): n for d, k, n in session.execute(
            select(day, column, func.count()).where(*where).group_by(day, column))}
        series = sorted({k for _, k in counts})
        out[name] = {"series": series, "days": [
            {"day": d, "counts": {s: counts.get((d, s), 0) for s in series}} for d in f.days()]}
    return out


def _mention_filters(f: Filters, ids: Ids) -> list[ColumnElement[bool]]:
    """The report's filters as conditions on mentions alone (agent and team through a per-item lookup)."""
    m = Mention
    where = []
    if ids.queue is not None:
        where.append(equals(m.queue_id, ids.queue))
    for name in ("intent", "network", "sentiment"):
        if getattr(f, name):
            where.append(equals(getattr(m, name), getattr(f, name)))
    if ids.agent is not None or ids.team is not None:
        first_reply = (select(Response.user_id).where(Response.mention_id == m.id, Response.user_id.is_not(None))
                       .order_by(Response.id).limit(1).scalar_subquery())
        agent_id = func.coalesce(first_reply, m.owner_id)
        if ids.agent is not None:
            where.append(equals(agent_id, ids.agent))
        if ids.team is not None:
            queue_team = select(Queue.team_id).where(Queue.id == m.queue_id).scalar_subquery()
            agent_team = select(User.team_id).where(User.id == agent_id).scalar_subquery()
            where.append(equals(func.coalesce(agent_team, queue_team), ids.team))
    return where


def backlog(session: Session, f: Filters, ids: Ids, *, now: datetime) -> list[TableRow]:
    """Items open at the end of each day: open now, minus arrivals after that day, plus closures after it."""
    sql = Dialect(session)
    where = _mention_filters(f, ids)
    open_now = session.scalar(
        select(func.count()).select_from(Mention).where(Mention.resolved_at.is_(None), *where)) or 0
    posted_day, closed_day = sql.day(Mention.posted_at), sql.day(Mention.resolved_at)
    arrivals = {as_date(d): n for d, n in session.execute(
        select(posted_day, func.count()).where(Mention.posted_at >= f.start, *where).group_by(posted_day))}
    closures = {as_date(d): n for d, n in session.execute(
        select(closed_day, func.count()).where(Mention.resolved_at >= f.start, *where).group_by(closed_day))}
    out = []
    for day in f.days():
        later_arrivals = sum(n for d, n in arrivals.items() if d > day)
        later_closures = sum(n for d, n in closures.items() if d > day)
        out.append({"day": day, "open": None if day > now.date() else open_now - later_arrivals + later_closures,
                    "arrived": arrivals.get(day, 0), "closed": closures.get(day, 0)})
    return out


def workload(session: Session, f: Filters, ids: Ids, agent_rows: list[TableRow], names: Names,
             done: dict[int, dict[str, int]] | None = None) -> list[TableRow]:
    """Per person: items counted for them, what they did in the range (from the audit log, unless the summaries
    gave it as `done`), what they hold now."""
    where = _mention_filters(f, ids)
    if done is None:
        done = _done(session, f, ids, where)

    def open_items_by(column: Any) -> dict[int, int]:
        return {k: n for k, n in session.execute(select(column, func.count()).where(
            column.is_not(None), Mention.status.in_(WORKABLE), *where).group_by(column))}

    holding, owning = open_items_by(Mention.claimed_by_id), open_items_by(Mention.owner_id)
    counted = {r["key"]: r for r in agent_rows if r["key"] is not None}
    people = set(done) | set(holding) | set(owning) | set(counted)
    if ids.agent is None and ids.team is None:  # everyone who works items, idle or not
        people |= set(session.scalars(select(User.id).where(User.active.is_(True), User.role.in_(("agent", "lead")))))
    rows = []
    for user_id in people:
        user = names.agent.get(user_id)
        if user is None or (ids.agent not in (None, NONE) and user_id != ids.agent):
            continue
        if ids.team not in (None, NONE) and user.team_id != ids.team and user_id not in counted:
            continue
        item = counted.get(user_id, {})
        rows.append({
            "user_id": user_id, "username": user.username, "label": user.display_name,
            "team": names.team.get(user.team_id) if user.team_id is not None else None,
            "items": item.get("mentions", 0), "answered": item.get("answered", 0),
            "first_response_median": (item.get("first_response_seconds") or {}).get("median"),
            "breached": (item.get("sla") or {}).get("first_response", {}).get("missed", 0),
            **{k: done.get(user_id, {}).get(k, 0) for k in WORKLOAD_ACTIONS},
            "holding": holding.get(user_id, 0), "owning": owning.get(user_id, 0),
        })
    return sorted(rows, key=lambda r: (-(r["items"] + r["replied"] + r["holding"]), r["label"]))


def _done(session: Session, f: Filters, ids: Ids, where: list[ColumnElement[bool]]) -> dict[int, dict[str, int]]:
    """Per person, what they did in the range, counted from the audit log."""
    actions = [a for group in WORKLOAD_ACTIONS.values() for a in group]
    query = (select(Event.actor_id, Event.action, func.count()).where(
        Event.created_at >= f.start, Event.created_at < f.end, Event.actor_id.is_not(None),
        Event.action.in_(actions)).group_by(Event.actor_id, Event.action))
    if where:
        query = query.join(Mention, Mention.id == Event.mention_id).where(*where)
    if ids.agent not in (None, NONE):
        query = query.where(Event.actor_id == ids.agent)
    done: dict[int, dict[str, int]] = {}
    for actor_id, action, count in session.execute(query):
        if actor_id is None:
            continue  # not reached: the query keeps people's events only
        column = next(k for k, group in WORKLOAD_ACTIONS.items() if action in group)
        done.setdefault(actor_id, {}).setdefault(column, 0)
        done[actor_id][column] += count
    return done


__all__ = ["backlog", "report", "volume", "workload"]
