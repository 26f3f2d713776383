"""Reading the daily summaries back into a report: which days of a range they answer, and its figures.

A report over a long range adds up the summary job's rows (summaries.py), and computes from the mentions only
the days whose summary is missing or stale (rollup.py, the same queries the job runs). Counts are exact.
Medians and 90th percentiles of a multi-day range come from the histograms: buckets 5% wide, interpolated:
within 5% of the exact figure, and far closer over many items; the page says so. Items summarised with time
left on a target whose deadline has passed since count as missed.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from triage.models import Mention
from triage.models.summaries import (
    DAY,
    EVENT_DAY,
    EVERYTHING,
    ReportBucket,
    ReportDay,
    ReportEventDay,
    ReportPending,
    ReportPeriod,
    ReportStale,
)
from triage.reporting.facts import WORKLOAD_ACTIONS, Dialect, as_date
from triage.reporting.filters import NONE, Filters
from triage.reporting.rollup import (
    COARSE,
    COUNTS,
    DIMS,
    GROUPED,
    GROWTH,
    ID_DIMS,
    MEASURES,
    DayRun,
    day_start,
    days_between,
    event_counts,
    first_day,
    runs_of,
)

# Below this many mentions in a range the report is computed exactly from the mentions (fast enough, and exact).
EXACT_UP_TO = 25_000
# The report falls back to the mentions while more days than this wait for their summary.
MAX_LIVE_DAYS = 62


@dataclass
class Coverage:
    """Which days of a report's range its summaries answer, and which need the mentions."""

    history: tuple[date, date]  # first mention day .. today
    days: set[date] = field(default_factory=set)  # summarised days in the range
    coarse: list[tuple[str, date]] = field(default_factory=list)  # (span, start): past periods wholly in range
    live: set[date] = field(default_factory=set)  # days (of the whole history) to compute from the mentions
    mentions: int = 0  # mentions in the summarised days of the range


def coverage(session: Session, since: date, until: date, now: datetime) -> Coverage | None:
    """What the summaries can answer for this range; None when they are not ready (the job is catching up)."""
    first = first_day(session, Mention.posted_at)
    if first is None:
        return None
    today = now.date()
    if session.scalar(select(func.count()).select_from(ReportStale).where(ReportStale.kind == EVERYTHING)):
        return None
    stale = {as_date(d) for d in session.scalars(
        select(ReportStale.day).distinct().where(ReportStale.kind == DAY)) if d is not None}
    periods = {as_date(p): at for p, at in session.execute(
        select(ReportPeriod.period, ReportPeriod.refreshed_at).where(ReportPeriod.span == DAY))}
    usable = set(periods) - stale
    history = set(days_between(first, today))
    live = history - usable
    if len(live) > MAX_LIVE_DAYS:
        return None
    out = Coverage(days={d for d in usable if since <= d <= until}, live=live, history=(first, today))
    coarse = session.execute(select(ReportPeriod.span, ReportPeriod.period, ReportPeriod.refreshed_at).where(
        ReportPeriod.span.in_(tuple(COARSE)), ReportPeriod.period >= since, ReportPeriod.period <= until)).all()
    taken: set[date] = set()
    for span in COARSE:  # quarters first; then months, then weeks, among the days not yet covered
        for _, period, at in sorted(r for r in coarse if r.span == span):
            start = as_date(period)
            days = days_between(start, COARSE[span][1](start))
            if (days[-1] <= until and all(d in out.days for d in days) and not taken.intersection(days)
                    and all(periods[d] <= at for d in days)):
                out.coarse.append((span, start))
                taken.update(days)
    if out.days:
        out.mentions = session.scalar(select(func.coalesce(func.sum(ReportDay.mentions), 0)).where(
            ReportDay.dim == "all", ReportDay.day >= since, ReportDay.day <= until)) or 0
    return out


def _merge_counts(target: dict[str, int], row: Mapping[str, Any]) -> None:
    for name in COUNTS:
        target[name] = target.get(name, 0) + int(row[name] or 0)


def percentile(hist: dict[int, int], p: float) -> float | None:
    """percentile_cont over a histogram: each order statistic placed evenly inside its bucket."""
    total = sum(hist.values())
    if not total:
        return None
    position = (total - 1) * p
    below, fraction = int(position), position - int(position)
    low = _order_statistic(hist, below)
    return low if not fraction else low + fraction * (_order_statistic(hist, below + 1) - low)


def _order_statistic(hist: dict[int, int], rank: int) -> float:
    seen = 0
    for bucket in sorted(hist):
        count = hist[bucket]
        if rank < seen + count:
            lo, hi = (0.0, 1.0) if bucket == 0 else (GROWTH ** (bucket - 1), GROWTH ** bucket)
            return lo + (rank - seen + 0.5) / count * (hi - lo)
        seen += count
    raise ValueError("rank beyond the histogram")


def figures(session: Session, f: Filters, now: datetime) -> dict[str, Any] | None:
    """The report's grouped figures, volume, backlog and workload from the summaries, or None to compute them
    exactly from the mentions (a filtered or drilled-down report, a small range, or summaries not ready)."""
    if any(getattr(f, name) is not None for name in (*Filters.FILTERS, *Filters.DRILLS)):
        return None
    cover = coverage(session, f.since, f.until, now)
    if cover is None or cover.mentions <= EXACT_UP_TO:
        return None
    live_in_range = sorted(d for d in cover.live if f.since <= d <= f.until)
    runs = [DayRun(session, a, b, now) for a, b in runs_of(live_in_range)]
    try:
        return {"grouped": _grouped(session, f, cover, runs, now), "volume": _volume(session, f, cover, runs),
                "backlog": _backlog(session, f, cover, now), "done": _done(session, f, now)}
    finally:
        for run in runs:
            run.close()


def _grouped(session: Session, f: Filters, cover: Coverage, runs: list[DayRun],
             now: datetime) -> dict[str, list[dict[str, Any]]]:
    d = ReportDay
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    query = (select(d.dim, d.key, *[func.sum(getattr(d, c)).label(c) for c in COUNTS])
             .where(*_summarised(d.day, f, cover.days), d.dim.in_(GROUPED)).group_by(d.dim, d.key))
    rows: list[Mapping[str, Any]] = [*session.execute(query).mappings()]
    for run in runs:
        for dim in GROUPED:
            rows += run.count_rows(dim)
    for counted in rows:
        _merge_counts(totals[(counted["dim"], counted["key"])], counted)
    for group, shifts in _overdue_by_group(session, f, cover, now).items():
        _shift(totals[group], shifts)
    hist: dict[tuple[str, str, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for dim, key, measure, bucket, n in _bucket_rows(session, cover, runs):
        hist[(dim, key, measure)][bucket] += int(n)
    out: dict[str, list[dict[str, Any]]] = {"all": []}
    for (dim, key), counts in totals.items():
        row: dict[str, Any] = dict(counts)
        for measure, (prefix, _) in MEASURES.items():
            values = hist.get((dim, key, measure), {})
            row[f"{prefix}_median"], row[f"{prefix}_p90"] = percentile(values, 0.5), percentile(values, 0.9)
        if dim == "all":
            out["all"].append(row)
        else:
            row[DIMS[dim]] = (int(key) if dim in ID_DIMS else key) if key else None
            out.setdefault(dim, []).append(row)
    out["day"] = _day_rows(session, f, cover, runs, now)
    return out


def _overdue(session: Session, f: Filters, cover: Coverage, now: datetime, group: list[InstrumentedAttribute[Any]],
             *where: ColumnElement[bool]) -> list[Row[*tuple[Any, ...]]]:
    """Items summarised with time left whose deadline has passed by `now`: (*group, target, n).

    They count as missed now, not pending.
    """
    p = ReportPending
    query = (select(*group, p.target, func.sum(p.n))
             .where(*_summarised(p.day, f, cover.days), p.due_at <= now, *where).group_by(*group, p.target))
    return list(session.execute(query))


def _overdue_by_group(session: Session, f: Filters, cover: Coverage,
                      now: datetime) -> dict[tuple[str, str], dict[str, int]]:
    """{(dim, key): {"fr": n, "res": n}}: see _overdue."""
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for dim, key, target, n in _overdue(session, f, cover, now, [ReportPending.dim, ReportPending.key]):
        name = MEASURES[target][0]
        out[(dim, key)][name] = out[(dim, key)].get(name, 0) + int(n)
    return out


def _overdue_by_day(session: Session, f: Filters, cover: Coverage, now: datetime) -> dict[date, dict[str, int]]:
    """{day: {"fr": n, "res": n}} for the report as a whole: see _overdue."""
    out: dict[date, dict[str, int]] = defaultdict(dict)
    for day, target, n in _overdue(session, f, cover, now, [ReportPending.day], ReportPending.dim == "all"):
        name = MEASURES[target][0]
        out[as_date(day)][name] = out[as_date(day)].get(name, 0) + int(n)
    return out


def _shift(counts: dict[str, int], overdue: dict[str, int]) -> None:
    for prefix, n in overdue.items():
        counts[f"{prefix}_pending"] = counts.get(f"{prefix}_pending", 0) - n
        counts[f"{prefix}_missed"] = counts.get(f"{prefix}_missed", 0) + n


def _summarised(column: InstrumentedAttribute[date], f: Filters, usable: set[date]) -> list[ColumnElement[bool]]:
    """Conditions selecting the summarised days of the range: the range, less the few days that are not."""
    return [column >= f.since, column <= f.until, column.not_in(sorted(set(f.days()) - usable))]


def _bucket_rows(session: Session, cover: Coverage, runs: list[DayRun]) -> list[Row[*tuple[Any, ...]]]:
    """(dim, key, measure, bucket, n): the range's histograms, from its coarse periods, days and live days."""
    b = ReportBucket
    covered: set[date] = set()
    parts: list[Select[*tuple[Any, ...]]] = []
    for span in COARSE:
        starts = [start for s, start in cover.coarse if s == span]
        covered.update(d for start in starts for d in days_between(start, COARSE[span][1](start)))
        if starts:
            parts.append(select(b.dim, b.key, b.measure, b.bucket, b.n).where(b.span == span, b.period.in_(starts)))
    for first, last in runs_of(cover.days - covered):
        parts.append(select(b.dim, b.key, b.measure, b.bucket, b.n).where(
            b.span == DAY, b.period >= first, b.period <= last))
    parts += [run.buckets(dim, measure, by_day=False) for run in runs for dim in GROUPED for measure in MEASURES]
    if not parts:
        return []
    # One statement: the database adds the periods' and the live days' histograms up.
    union = parts[0].union_all(*parts[1:]).subquery() if len(parts) > 1 else parts[0].subquery()
    return list(session.execute(select(union.c.dim, union.c.key, union.c.measure, union.c.bucket,
                                       func.sum(union.c.n).label("n"))
                                .group_by(union.c.dim, union.c.key, union.c.measure, union.c.bucket)))


def _day_rows(session: Session, f: Filters, cover: Coverage, runs: list[DayRun],
              now: datetime) -> list[dict[str, Any]]:
    d = ReportDay
    out: list[dict[str, Any]] = []
    days = sorted(cover.days)
    if days:
        overdue = _overdue_by_day(session, f, cover, now)
        query = select(d).where(d.dim == "all", d.day >= days[0], d.day <= days[-1])
        for summary in session.scalars(query):
            day = as_date(summary.day)
            if day in cover.days:
                counts = {c: getattr(summary, c) for c in COUNTS}
                _shift(counts, overdue.get(day, {}))
                out.append({"day": day, **counts,
                            **{c: getattr(summary, c) for c in ("fr_median", "fr_p90", "res_median", "res_p90")}})
    for run in runs:
        percentiles = run.percentiles()
        for row in run.count_rows("all"):
            day = as_date(row["day"])
            out.append({"day": day, **{c: row[c] for c in COUNTS},
                        **{f"{p}_{k}": percentiles.get(day, {}).get(f"{p}_{k}") for p in ("fr", "res")
                           for k in ("median", "p90")}})
    return out


def _volume(session: Session, f: Filters, cover: Coverage, runs: list[DayRun]) -> dict[str, Any]:
    d = ReportDay
    counts: dict[tuple[str, date, str], int] = defaultdict(int)
    query = (select(d.dim, d.day, d.key, d.mentions).where(d.dim.in_(("intent", "sentiment")),
                                                           d.day >= f.since, d.day <= f.until))
    for dim, day, key, n in session.execute(query):
        if as_date(day) in cover.days:
            counts[(dim, as_date(day), key or NONE)] += n
    for run in runs:
        for dim in ("intent", "sentiment"):
            for row in run.count_rows(dim):
                counts[(dim, as_date(row["day"]), row["key"] or NONE)] += row["mentions"]
    out = {}
    for dim in ("intent", "sentiment"):
        series = sorted({k for (name, _, k) in counts if name == dim})
        out[dim] = {"series": series, "days": [
            {"day": day, "counts": {s: counts.get((dim, day, s), 0) for s in series}} for day in f.days()]}
    return out


def _backlog(session: Session, f: Filters, cover: Coverage, now: datetime) -> list[dict[str, Any]]:
    """Open at the end of each day = posted by then, minus closed by then, over the whole history."""
    d = ReportDay
    first, _ = cover.history
    arrivals: dict[date, int] = defaultdict(int)
    closures: dict[date, int] = defaultdict(int)
    query = select(d.day, d.dim, d.key, d.mentions).where(d.dim.in_(("all", "closed")))
    for stored, dim, key, n in session.execute(query):
        day = as_date(stored)
        if day in cover.live:
            continue
        if dim == "all":
            arrivals[day] += n
        else:
            closures[date.fromisoformat(key)] += n
    sql = Dialect(session)
    m = Mention
    for a, b in runs_of(cover.live):
        in_run = [m.posted_at >= day_start(a), m.posted_at < day_start(b) + timedelta(1)]
        posted_day = sql.day(m.posted_at)
        for posted, n in session.execute(select(posted_day, func.count()).where(*in_run).group_by(posted_day)):
            arrivals[as_date(posted)] += n
        closed_day = sql.day(m.resolved_at)
        for closing, n in session.execute(select(closed_day, func.count()).where(
                *in_run, m.resolved_at.is_not(None)).group_by(closed_day)):
            closures[as_date(closing)] += n
    out: list[dict[str, Any]] = []
    posted, closed = 0, 0
    for day in days_between(min(first, f.since), f.until):
        posted += arrivals.get(day, 0)
        closed += closures.get(day, 0)
        if day >= f.since:
            out.append({"day": day, "open": None if day > now.date() else posted - closed,
                        "arrived": arrivals.get(day, 0), "closed": closures.get(day, 0)})
    return out


def _done(session: Session, f: Filters, now: datetime) -> dict[int, dict[str, int]]:
    """Per person, what they did in the range (claimed, replied, ...), from the event summaries."""
    e = ReportEventDay
    stale = {as_date(d) for d in session.scalars(
        select(ReportStale.day).distinct().where(ReportStale.kind == EVENT_DAY)) if d is not None}
    built = {as_date(p) for p in session.scalars(select(ReportPeriod.period).where(
        ReportPeriod.span == EVENT_DAY, ReportPeriod.period >= f.since, ReportPeriod.period <= f.until))}
    usable = built - stale
    live = [day for day in f.days() if day not in usable and day <= now.date()]
    summarised = select(e.actor_id, e.action, func.sum(e.n).label("n")).where(*_summarised(e.day, f, usable))
    rows: list[Row[*tuple[Any, ...]]] = list(session.execute(summarised.group_by(e.actor_id, e.action)))
    for a, b in runs_of(live):
        rows += list(session.execute(event_counts(session, a, b)))
    done: dict[int, dict[str, int]] = {}
    for row in rows:
        column = next((k for k, group in WORKLOAD_ACTIONS.items() if row.action in group), None)
        if column is not None:
            done.setdefault(row.actor_id, {}).setdefault(column, 0)
            done[row.actor_id][column] += row.n
    return done


__all__ = ["EXACT_UP_TO", "MAX_LIVE_DAYS", "Coverage", "coverage", "figures", "percentile"]
