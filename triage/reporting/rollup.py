"""The mentions of a run of days rolled up per day: what the daily summaries store, and what a report adds up.

The summary job (summaries.py) stores these rows for each UTC day; a report reading the summaries
(summary_reading.py) computes the same rows for the days whose summary is missing or stale. Per day and
group (`dim`, `key`) they hold the report's counts, the day's exact medians, histograms of response times in
buckets 5% wide, and the items that still had time left on a target, by due time.
"""
from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Integer, Select, String, case, cast, func, literal, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from triage.models import Event, Mention
from triage.models.summaries import DAY, MONTH, QUARTER, WEEK
from triage.reporting.facts import Dialect, Ids, aggregates, as_date, facts, range_start_id, ranked_percentiles
from triage.reporting.filters import Filters

GROWTH = 1.05  # bucket k > 0 holds [GROWTH^(k-1), GROWTH^k) seconds
DIMS = {"agent": "agent_id", "team": "team_id", "queue": "queue_id", "intent": "intent", "network": "network",
        "sentiment": "sentiment"}
ID_DIMS = ("agent", "team", "queue")
GROUPED = ("all", "agent", "team", "queue", "intent", "network")  # with percentiles (sentiment: counts only)
COUNTS = ("mentions", "answered", "resolved", "fr_met", "fr_missed", "fr_pending", "res_met", "res_missed",
          "res_pending", "from_ingest")
MEASURES = {1: ("fr", "fr_s"), 2: ("res", "res_s")}  # measure (and SLA target) number: (prefix, facts column)
_names = itertools.count()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def days_between(since: date, until: date) -> list[date]:
    """Every day from `since` to `until`, both included."""
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


def runs_of(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as contiguous (first, last) runs."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


def first_day(session: Session, column: InstrumentedAttribute[datetime]) -> date | None:
    """The UTC day of the earliest `column` (the history's first mention or event); None if there is none."""
    first = session.scalar(select(func.min(column)))
    return None if first is None else as_date(first)


def _month_of(day: date) -> date:
    return day.replace(day=1)


def _month_end(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_end(week: date) -> date:
    return week + timedelta(days=6)


def _quarter_of(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def _quarter_end(quarter: date) -> date:
    return _month_end(_month_end(_month_end(quarter) + timedelta(1)) + timedelta(1))


# Histograms are also kept per past quarter, month and week (Monday to Sunday): a period's histogram has about as
# many rows however long it is, so a year reads a few quarters and months, a few weeks at its edges and a few
# days, rather than every day. Longest first: the order in which a report's range is covered.
# span: (the start of the period a day is in, the last day of the period that starts on a day)
COARSE: dict[str, tuple[Callable[[date], date], Callable[[date], date]]] = {
    QUARTER: (_quarter_of, _quarter_end), MONTH: (_month_of, _month_end), WEEK: (_week_of, _week_end)}


def _key(column: ColumnElement[Any]) -> ColumnElement[str]:
    """A group's key as text ('' for none), as stored."""
    return func.coalesce(cast(column, String(40)), "")


def _bucket(value: ColumnElement[Any]) -> ColumnElement[int]:
    return case((value < 1, 0), else_=cast(func.floor(func.ln(value) / math.log(GROWTH)), Integer) + 1)


class DayRun:
    """The summary queries over the mentions posted from `first` to `last` (UTC days), grouped by day.

    The run's facts are computed once into a temporary table; `close()` drops it.
    """

    def __init__(self, session: Session, first: date, last: date, now: datetime) -> None:
        self.session, self.first, self.last, self.now = session, first, last, now
        f = Filters(since=first, until=last)
        rows = facts(session, f, now, Ids(), min_id=range_start_id(session, f)).subquery("facts")
        # Computed once into a temporary table: a dozen groupings read it, not the joins behind it.
        self.name = f"summary_facts_{next(_names)}"
        create = select(rows).into(self.name, temporary=True)
        session.execute(create)
        self.facts: FromClause = create.table
        self.sql = Dialect(session)
        self._counted: dict[str, list[dict[str, Any]]] = {}

    def close(self) -> None:
        self.session.execute(text(f"DROP TABLE IF EXISTS {self.name}"))

    def _group_key(self, dim: str) -> ColumnElement[str]:
        return literal("") if dim == "all" else _key(self.facts.c[DIMS[dim]])

    def counts(self, dim: str) -> Select[*tuple[Any, ...]]:
        """(day, dim, key, counts...) for one dimension ('all': key '')."""
        facts = self.facts
        return (select(facts.c.day, literal(dim).label("dim"), self._group_key(dim).label("key"), *aggregates(facts))
                .group_by(facts.c.day, *([] if dim == "all" else [facts.c[DIMS[dim]]])))

    def count_rows(self, dim: str) -> list[dict[str, Any]]:
        """The rows of `counts(dim)`, read once however many of the report's tables need them."""
        if dim not in self._counted:
            self._counted[dim] = [dict(row) for row in self.session.execute(self.counts(dim)).mappings()]
        return self._counted[dim]

    def buckets(self, dim: str, measure: int, *, by_day: bool = True) -> Select[*tuple[Any, ...]]:
        """([span, period,] dim, key, measure, bucket, n) for one dimension and measure, per day or in all."""
        facts = self.facts
        value = facts.c[MEASURES[measure][1]]
        bucket = _bucket(value)
        groups: list[ColumnElement[Any]] = [bucket] + ([] if dim == "all" else [facts.c[DIMS[dim]]])
        columns: list[ColumnElement[Any]] = [
            literal(dim).label("dim"), self._group_key(dim).label("key"), literal(measure).label("measure"),
            bucket.label("bucket"), func.count().label("n")]
        if by_day:
            columns = [literal(DAY).label("span"), facts.c.day.label("period"), *columns]
            groups.append(facts.c.day)
        return select(*columns).where(value.is_not(None)).group_by(*groups)

    def closed(self) -> Select[*tuple[Any, ...]]:
        """(day, 'closed', closing day, mentions): what the backlog subtracts, by the day each item closed."""
        m = Mention
        day, closed_day = self.sql.day(m.posted_at), self.sql.day(m.resolved_at)
        return (select(day.label("day"), literal("closed").label("dim"),
                       cast(closed_day, String(40)).label("key"), func.count().label("mentions"))
                .where(m.posted_at >= day_start(self.first), m.posted_at < day_start(self.last) + timedelta(1),
                       m.resolved_at.is_not(None))
                .group_by(day, closed_day))

    def percentiles(self) -> dict[date, dict[str, float | None]]:
        """Each day's exact medians and 90th percentiles (the report's per-day table)."""
        out: dict[date, dict[str, float | None]] = defaultdict(dict)
        for prefix, value in MEASURES.values():
            if self.sql.postgres:
                column = self.facts.c[value]
                query = (select(self.facts.c.day, func.percentile_cont(0.5).within_group(column),
                                func.percentile_cont(0.9).within_group(column))
                         .where(column.is_not(None)).group_by(self.facts.c.day))
                figures = {(d,): {"median": a, "p90": b} for d, a, b in self.session.execute(query)}
            else:
                figures = ranked_percentiles(self.session, self.facts, ("day",), value)
            for (day,), values in figures.items():
                out[as_date(day)].update({f"{prefix}_{k}": v for k, v in values.items()})
        return out

    def pending(self, dim: str, target: int) -> Select[*tuple[Any, ...]]:
        """(day, dim, key, target, due, n): items with time left on a target, by due time (they turn missed
        when it passes)."""
        facts = self.facts
        state, due = (facts.c.fr_state, facts.c.fr_due) if target == 1 else (facts.c.res_state, facts.c.res_due)
        groups = [facts.c.day, due] + ([] if dim == "all" else [facts.c[DIMS[dim]]])
        return (select(facts.c.day, literal(dim).label("dim"), self._group_key(dim).label("key"),
                       literal(target).label("target"), due.label("due_at"), func.count().label("n"))
                .where(state == "pending").group_by(*groups))


def event_counts(session: Session, first: date, last: date) -> Select[*tuple[Any, ...]]:
    """(day, actor, action, n) from the audit log, for the workload table."""
    day = Dialect(session).day(Event.created_at)
    return (select(day.label("day"), Event.actor_id, Event.action, func.count().label("n"))
            .where(Event.created_at >= day_start(first), Event.created_at < day_start(last) + timedelta(1),
                   Event.actor_id.is_not(None))
            .group_by(day, Event.actor_id, Event.action))


__all__ = ["COARSE", "COUNTS", "DIMS", "GROUPED", "GROWTH", "ID_DIMS", "MEASURES", "DayRun", "day_start",
           "days_between", "event_counts", "first_day", "runs_of"]
