"""Daily summaries behind long-range reports: built by a job from the mentions, read instead of them.

A year of a busy brand is a million mentions; a report that aggregated them on every request would take many
seconds. The summary job keeps, per UTC day, the report's counts for each agent, team, queue, intent, network
and sentiment, the day's exact medians, and histograms of response times (per day and per past month). A report
over a long range adds these up, and computes from the mentions only the days whose summary is missing or
stale. Counts are exact. Medians and 90th percentiles of a multi-day range come from the histograms: buckets
5% wide, interpolated: within 5% of the exact figure, and far closer over many items; the page says so.

Triggers (migration 0005) mark the days a change touched, in the same transaction as the change; those days
are read from the mentions until the job has rebuilt them. Items that still had time left on a target when
summarised are kept by due time, so a report counts those whose deadline has passed since as missed.
"""
from __future__ import annotations

import itertools
import math
import time as clock
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Integer, String, and_, case, cast, delete, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from triage import reports
from triage.db import utcnow
from triage.models import Event, Mention
from triage.models.summaries import (
    DAY,
    EVENT_DAY,
    EVERYTHING,
    MONTH,
    QUARTER,
    WEEK,
    ReportBucket,
    ReportDay,
    ReportEventDay,
    ReportPending,
    ReportPeriod,
    ReportStale,
)
from triage.workflow import write_lock

GROWTH = 1.05  # bucket k > 0 holds [GROWTH^(k-1), GROWTH^k) seconds
# Below this many mentions in a range the report is computed exactly from the mentions (fast enough, and exact).
EXACT_UP_TO = 25_000
# The report falls back to the mentions while more days than this wait for their summary.
MAX_LIVE_DAYS = 62
DIMS = {"agent": "agent_id", "team": "team_id", "queue": "queue_id", "intent": "intent", "network": "network",
        "sentiment": "sentiment"}
ID_DIMS = ("agent", "team", "queue")
GROUPED = ("all", "agent", "team", "queue", "intent", "network")  # with percentiles (sentiment: counts only)
COUNTS = ("mentions", "answered", "resolved", "fr_met", "fr_missed", "fr_pending", "res_met", "res_missed",
          "res_pending", "from_ingest")
MEASURES = {1: ("fr", "fr_s"), 2: ("res", "res_s")}
_names = itertools.count()


def _key(column):
    """A group's key as text ('' for none), as stored."""
    return func.coalesce(cast(column, String(40)), "")


def _bucket(value):
    return case((value < 1, 0), else_=cast(func.floor(func.ln(value) / math.log(GROWTH)), Integer) + 1)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


def _runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as contiguous (first, last) runs."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


# ------------------------------------------------------------------------------ figures of a run of days


class _Run:
    """The summary queries over the mentions posted from `first` to `last` (UTC days), grouped by day."""

    def __init__(self, session: Session, first: date, last: date, now: datetime):
        self.session, self.first, self.last, self.now = session, first, last, now
        f = reports.Filters(since=first, until=last)
        bound = reports._range_bounds(session, f)
        facts = reports._facts(session, f, now, reports._Ids(), min_id=bound).subquery("facts")
        # Computed once into a temporary table: a dozen groupings read it, not the joins behind it.
        self.name = f"summary_facts_{next(_names)}"
        create = select(facts).into(self.name, temporary=True)
        session.execute(create)
        self.facts = create.table
        self.sql = reports._Sql(session)
        self._counted: dict[str, list] = {}

    def close(self) -> None:
        self.session.execute(text(f"DROP TABLE IF EXISTS {self.name}"))

    def counts(self, dim: str):
        """(day, dim, key, counts...) for one dimension ('all': key '')."""
        facts = self.facts
        key = literal("") if dim == "all" else _key(facts.c[DIMS[dim]])
        return (select(facts.c.day, literal(dim).label("dim"), key.label("key"), *reports._aggregates(facts))
                .group_by(facts.c.day, *([] if dim == "all" else [facts.c[DIMS[dim]]])))

    def count_rows(self, dim: str) -> list:
        """The rows of `counts(dim)`, read once however many of the report's tables need them."""
        if dim not in self._counted:
            self._counted[dim] = list(self.session.execute(self.counts(dim)).mappings())
        return self._counted[dim]

    def buckets(self, dim: str, measure: int, *, by_day: bool = True):
        """([span, period,] dim, key, measure, bucket, n) for one dimension and measure, per day or in all."""
        facts = self.facts
        value = facts.c[MEASURES[measure][1]]
        key = literal("") if dim == "all" else _key(facts.c[DIMS[dim]])
        bucket = _bucket(value)
        groups = [bucket] + ([] if dim == "all" else [facts.c[DIMS[dim]]])
        columns = [literal(dim).label("dim"), key.label("key"), literal(measure).label("measure"),
                   bucket.label("bucket"), func.count().label("n")]
        if by_day:
            columns = [literal(DAY).label("span"), facts.c.day.label("period"), *columns]
            groups.append(facts.c.day)
        return select(*columns).where(value.is_not(None)).group_by(*groups)

    def closed(self):
        """(day, 'closed', closing day, mentions): what the backlog subtracts, by the day each item closed."""
        m = Mention
        day, closed_day = self.sql.day(m.posted_at), self.sql.day(m.resolved_at)
        return (select(day.label("day"), literal("closed").label("dim"),
                       cast(closed_day, String(40)).label("key"), func.count().label("mentions"))
                .where(*self._range(), m.resolved_at.is_not(None)).group_by(day, closed_day))

    def _range(self) -> list:
        return [Mention.posted_at >= _day_start(self.first), Mention.posted_at < _day_start(self.last) + timedelta(1)]

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
                figures = reports._ranked_percentiles(self.session, self.facts, ("day",), value)
            for (day,), values in figures.items():
                out[reports._as_date(day)].update({f"{prefix}_{k}": v for k, v in values.items()})
        return out

    def pending(self, dim: str, target: int):
        """(day, dim, key, target, due, n): items with time left on a target, by due time (see module doc)."""
        facts = self.facts
        state, due = (facts.c.fr_state, facts.c.fr_due) if target == 1 else (facts.c.res_state, facts.c.res_due)
        key = literal("") if dim == "all" else _key(facts.c[DIMS[dim]])
        groups = [facts.c.day, due] + ([] if dim == "all" else [facts.c[DIMS[dim]]])
        return (select(facts.c.day, literal(dim).label("dim"), key.label("key"), literal(target).label("target"),
                       due.label("due_at"), func.count().label("n"))
                .where(state == "pending").group_by(*groups))


def _event_counts(session: Session, first: date, last: date):
    """(day, actor, action, n) from the audit log, for the workload table."""
    sql = reports._Sql(session)
    day = sql.day(Event.created_at)
    return (select(day.label("day"), Event.actor_id, Event.action, func.count().label("n"))
            .where(Event.created_at >= _day_start(first), Event.created_at < _day_start(last) + timedelta(1),
                   Event.actor_id.is_not(None))
            .group_by(day, Event.actor_id, Event.action))


# ------------------------------------------------------------------------------------------- the job


@dataclass
class Progress:
    days: int = 0
    event_days: int = 0
    coarse: int = 0  # quarters, months and weeks
    waiting: int = 0  # days still to summarise when the job stopped (it carries on next run)
    busy: bool = False  # another worker was refreshing: this run did nothing
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("days", "event_days", "coarse", "waiting", "busy")} | {
            "seconds": round(self.seconds, 2)}


def _first_day(session: Session, column) -> date | None:
    first = session.scalar(select(func.min(column)))
    return None if first is None else reports._as_date(first)


def _todo(session: Session, now: datetime) -> tuple[list[date], list[date], int]:
    """Mention days and event days to (re)build, most recent first, and the stale marks they cover."""
    top = session.scalar(select(func.max(ReportStale.id))) or 0
    if session.scalar(select(func.count()).select_from(ReportStale).where(
            ReportStale.kind == EVERYTHING, ReportStale.id <= top)):
        session.execute(delete(ReportPeriod).where(ReportPeriod.span.in_((DAY, *COARSE))))
        session.execute(delete(ReportStale).where(ReportStale.kind == EVERYTHING, ReportStale.id <= top))
    today = now.date()
    out = []
    for span, kind, column in ((DAY, DAY, Mention.posted_at), (EVENT_DAY, EVENT_DAY, Event.created_at)):
        first = _first_day(session, column)
        if first is None:
            out.append([])
            continue
        stale = {reports._as_date(d) for d in session.scalars(select(ReportStale.day).distinct().where(
            ReportStale.kind == kind, ReportStale.id <= top))}
        built = {reports._as_date(d) for d in session.scalars(select(ReportPeriod.period).where(
            ReportPeriod.span == span))}
        missing = set(_days(first, today)) - built
        out.append(sorted((stale - {None}) | missing, reverse=True))
    return out[0], out[1], top


def _rebuild_days(session: Session, days: list[date], now: datetime) -> None:
    for first, last in _runs(days):
        in_run = and_(ReportDay.day >= first, ReportDay.day <= last)
        session.execute(delete(ReportDay).where(in_run))
        session.execute(delete(ReportBucket).where(ReportBucket.span == DAY, ReportBucket.period >= first,
                                                   ReportBucket.period <= last))
        session.execute(delete(ReportPending).where(ReportPending.day >= first, ReportPending.day <= last))
        run = _Run(session, first, last, now)
        columns = ["day", "dim", "key", *COUNTS]
        for dim in ("all", *DIMS):
            session.execute(insert(ReportDay).from_select(columns, run.counts(dim)))
        for dim in GROUPED:
            for measure in MEASURES:
                session.execute(insert(ReportBucket).from_select(
                    ["span", "period", "dim", "key", "measure", "bucket", "n"], run.buckets(dim, measure)))
                session.execute(insert(ReportPending).from_select(
                    ["day", "dim", "key", "target", "due_at", "n"], run.pending(dim, measure)))
        session.execute(insert(ReportDay).from_select(["day", "dim", "key", "mentions"], run.closed()))
        for day, figures in run.percentiles().items():
            session.execute(update(ReportDay).where(ReportDay.day == day, ReportDay.dim == "all",
                                                    ReportDay.key == "").values(**figures))
        run.close()
        _mark_built(session, DAY, _days(first, last), now)


def _rebuild_event_days(session: Session, days: list[date], now: datetime) -> None:
    for first, last in _runs(days):
        session.execute(delete(ReportEventDay).where(ReportEventDay.day >= first, ReportEventDay.day <= last))
        session.execute(insert(ReportEventDay).from_select(["day", "actor_id", "action", "n"],
                                                           _event_counts(session, first, last)))
        _mark_built(session, EVENT_DAY, _days(first, last), now)


def _mark_built(session: Session, span: str, days: list[date], now: datetime) -> None:
    session.execute(delete(ReportPeriod).where(ReportPeriod.span == span, ReportPeriod.period.in_(days)))
    session.execute(insert(ReportPeriod), [{"span": span, "period": d, "refreshed_at": now} for d in days])


def _month_of(day: date) -> date:
    return day.replace(day=1)


def _month_end(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _quarter_of(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def _quarter_end(quarter: date) -> date:
    return _month_end(_month_end(_month_end(quarter) + timedelta(1)) + timedelta(1))


# Histograms are also kept per past quarter, month and week (Monday to Sunday): a period's histogram has about as
# many rows however long it is, so a year reads a few quarters and months, a few weeks at its edges and a few
# days, rather than every day. Longest first: the order in which a report's range is covered.
COARSE = {QUARTER: (_quarter_of, _quarter_end), MONTH: (_month_of, _month_end),
          WEEK: (_week_of, lambda week: week + timedelta(days=6))}


def _rebuild_coarse(session: Session, span: str, periods: set[date], now: datetime) -> int:
    """A past month's or week's histograms: the sum of its days'."""
    end_of = COARSE[span][1]
    built = 0
    for start in sorted(periods):
        end = end_of(start)
        session.execute(delete(ReportBucket).where(ReportBucket.span == span, ReportBucket.period == start))
        session.execute(delete(ReportPeriod).where(ReportPeriod.span == span, ReportPeriod.period == start))
        if end >= now.date():
            continue  # not over yet: a range covering all of it would end in the future
        days = session.scalar(select(func.count()).select_from(ReportPeriod).where(
            ReportPeriod.span == DAY, ReportPeriod.period >= start, ReportPeriod.period <= end))
        if days < (end - start).days + 1:
            continue  # some of its days are not summarised yet
        b = ReportBucket
        session.execute(insert(ReportBucket).from_select(
            ["span", "period", "dim", "key", "measure", "bucket", "n"],
            select(literal(span), literal(start), b.dim, b.key, b.measure, b.bucket, func.sum(b.n))
            .where(b.span == DAY, b.period >= start, b.period <= end).group_by(b.dim, b.key, b.measure, b.bucket)))
        session.add(ReportPeriod(span=span, period=start, refreshed_at=now))
        built += 1
    return built


LOCK_KEY = 7_261_001  # the PostgreSQL advisory lock one refresh holds at a time


def _lock(session: Session) -> bool:
    """One refresh at a time, reading one snapshot.

    On PostgreSQL the batch runs in REPEATABLE READ: the stale marks it deletes are exactly those its snapshot
    saw, so a change committed meanwhile keeps its mark for the next run. On SQLite the write lock does both.
    """
    if session.get_bind().dialect.name != "postgresql":
        write_lock(session)
        return True
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_KEY))))


def refresh(session_factory, *, now: datetime | None = None, batch_days: int = 14,
            budget_seconds: float = 50.0) -> Progress:
    """Bring the summaries up to date, newest days first, a batch per transaction, until done or out of time.

    `session_factory` makes sessions (one transaction per batch, so writers wait at most one batch on SQLite).
    """
    started = clock.perf_counter()
    progress = Progress()
    while True:
        with session_factory() as session, session.begin():
            if not _lock(session):
                progress.busy = True
                break
            now_ = now or utcnow()
            days, event_days, top = _todo(session, now_)
            batch, event_batch = days[:batch_days], event_days[:batch_days * 4]
            if batch:
                _rebuild_days(session, batch, now_)
                for span, (start_of, _) in COARSE.items():
                    progress.coarse += _rebuild_coarse(session, span, {start_of(d) for d in batch}, now_)
            if event_batch:
                _rebuild_event_days(session, event_batch, now_)
            for kind, done in ((DAY, batch), (EVENT_DAY, event_batch)):
                if done:
                    session.execute(delete(ReportStale).where(ReportStale.kind == kind, ReportStale.id <= top,
                                                              ReportStale.day.in_(done)))
            progress.days += len(batch)
            progress.event_days += len(event_batch)
            progress.waiting = len(days) - len(batch) + len(event_days) - len(event_batch)
        if not progress.waiting or clock.perf_counter() - started > budget_seconds:
            break
    progress.seconds = clock.perf_counter() - started
    return progress


# ------------------------------------------------------------------------------------------- reading


@dataclass
class Coverage:
    """Which days of a report's range its summaries answer, and which need the mentions."""

    days: set[date] = field(default_factory=set)  # summarised days in the range
    coarse: list[tuple[str, date]] = field(default_factory=list)  # (span, start): past periods wholly in range
    live: set[date] = field(default_factory=set)  # days (of the whole history) to compute from the mentions
    history: tuple[date, date] | None = None  # first mention day .. today
    mentions: int = 0  # mentions in the summarised days of the range


def coverage(session: Session, since: date, until: date, now: datetime) -> Coverage | None:
    """What the summaries can answer for this range; None when they are not ready (the job is catching up)."""
    first = _first_day(session, Mention.posted_at)
    if first is None:
        return None
    today = now.date()
    if session.scalar(select(func.count()).select_from(ReportStale).where(ReportStale.kind == EVERYTHING)):
        return None
    stale = {reports._as_date(d) for d in session.scalars(
        select(ReportStale.day).distinct().where(ReportStale.kind == DAY))}
    periods = {reports._as_date(p): at for p, at in session.execute(
        select(ReportPeriod.period, ReportPeriod.refreshed_at).where(ReportPeriod.span == DAY))}
    usable = set(periods) - stale
    history = set(_days(first, today))
    live = history - usable
    if len(live) > MAX_LIVE_DAYS:
        return None
    out = Coverage(days={d for d in usable if since <= d <= until}, live=live, history=(first, today))
    coarse = session.execute(select(ReportPeriod.span, ReportPeriod.period, ReportPeriod.refreshed_at).where(
        ReportPeriod.span.in_(tuple(COARSE)), ReportPeriod.period >= since, ReportPeriod.period <= until)).all()
    taken: set[date] = set()
    for span in COARSE:  # quarters first; then months, then weeks, among the days not yet covered
        for _, start, at in sorted(r for r in coarse if r.span == span):
            start = reports._as_date(start)
            days = _days(start, COARSE[span][1](start))
            if (days[-1] <= until and all(d in out.days for d in days) and not taken.intersection(days)
                    and all(periods[d] <= at for d in days)):
                out.coarse.append((span, start))
                taken.update(days)
    if out.days:
        out.mentions = session.scalar(select(func.coalesce(func.sum(ReportDay.mentions), 0)).where(
            ReportDay.dim == "all", ReportDay.day >= since, ReportDay.day <= until)) or 0
    return out


def _merge_counts(target: dict, row) -> None:
    for name in COUNTS:
        target[name] = target.get(name, 0) + int(row[name] or 0)


def _percentile(hist: dict[int, int], p: float) -> float | None:
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


def figures(session: Session, f: reports.Filters, now: datetime) -> dict | None:
    """The report's grouped figures, volume, backlog and workload from the summaries, or None to compute them
    exactly from the mentions (a filtered or drilled-down report, a small range, or summaries not ready)."""
    if any(getattr(f, name) is not None for name in (*reports.Filters.FILTERS, *reports.Filters.DRILLS)):
        return None
    cover = coverage(session, f.since, f.until, now)
    if cover is None or cover.mentions <= EXACT_UP_TO:
        return None
    live_in_range = sorted(d for d in cover.live if f.since <= d <= f.until)
    runs = [_Run(session, a, b, now) for a, b in _runs(live_in_range)]
    try:
        return {"grouped": _grouped(session, f, cover, runs, now), "volume": _volume(session, f, cover, runs),
                "backlog": _backlog(session, f, cover, now), "done": _done(session, f, now)}
    finally:
        for run in runs:
            run.close()


def _grouped(session: Session, f: reports.Filters, cover: Coverage, runs: list[_Run],
             now: datetime) -> dict[str, list[dict]]:
    d = ReportDay
    totals: dict[tuple[str, str], dict] = defaultdict(dict)
    query = (select(d.dim, d.key, *[func.sum(getattr(d, c)).label(c) for c in COUNTS])
             .where(*_summarised(d.day, f, cover.days), d.dim.in_(GROUPED)).group_by(d.dim, d.key))
    rows = list(session.execute(query).mappings())
    for run in runs:
        for dim in GROUPED:
            rows += run.count_rows(dim)
    for row in rows:
        _merge_counts(totals[(row["dim"], row["key"])], row)
    overdue = _overdue(session, f, cover, now, by="key")
    for group, shifts in overdue.items():
        _shift(totals[group], shifts)
    hist: dict[tuple[str, str, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for dim, key, measure, bucket, n in _bucket_rows(session, cover, runs):
        hist[(dim, key, measure)][bucket] += int(n)
    out: dict[str, list[dict]] = {"all": []}
    for (dim, key), counts in totals.items():
        row = dict(counts)
        for measure, (prefix, _) in MEASURES.items():
            values = hist.get((dim, key, measure), {})
            row[f"{prefix}_median"], row[f"{prefix}_p90"] = _percentile(values, 0.5), _percentile(values, 0.9)
        if dim == "all":
            out["all"].append(row)
        else:
            row[DIMS[dim]] = (int(key) if dim in ID_DIMS else key) if key else None
            out.setdefault(dim, []).append(row)
    out["day"] = _day_rows(session, f, cover, runs, now)
    return out


def _overdue(session: Session, f: reports.Filters, cover: Coverage, now: datetime, *, by: str) -> dict:
    """Items summarised with time left whose deadline has passed by `now`, per group (`by` key) or per day.

    They count as missed now, not pending: {(dim, key) or day: {"fr": n, "res": n}}.
    """
    p = ReportPending
    group = [p.dim, p.key] if by == "key" else [p.day]
    query = (select(*group, p.target, func.sum(p.n)).where(*_summarised(p.day, f, cover.days), p.due_at <= now)
             .group_by(*group, p.target))
    if by != "key":
        query = query.where(p.dim == "all")
    out: dict = defaultdict(dict)
    for *key, target, n in session.execute(query):
        name = MEASURES[target][0]
        group_key = tuple(key) if by == "key" else reports._as_date(key[0])
        out[group_key][name] = out[group_key].get(name, 0) + int(n)
    return out


def _shift(counts: dict, overdue: dict[str, int]) -> None:
    for prefix, n in overdue.items():
        counts[f"{prefix}_pending"] = counts.get(f"{prefix}_pending", 0) - n
        counts[f"{prefix}_missed"] = counts.get(f"{prefix}_missed", 0) + n


def _summarised(column, f: reports.Filters, usable: set[date]) -> list:
    """Conditions selecting the summarised days of the range: the range, less the few days that are not."""
    return [column >= f.since, column <= f.until, column.not_in(sorted(set(f.days()) - usable))]


def _bucket_rows(session: Session, cover: Coverage, runs: list[_Run]) -> list:
    b = ReportBucket
    covered = set()
    parts = []
    for span in COARSE:
        starts = [start for s, start in cover.coarse if s == span]
        covered.update(d for start in starts for d in _days(start, COARSE[span][1](start)))
        if starts:
            parts.append(select(b.dim, b.key, b.measure, b.bucket, b.n).where(b.span == span, b.period.in_(starts)))
    for first, last in _runs(cover.days - covered):
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


def _day_rows(session: Session, f: reports.Filters, cover: Coverage, runs: list[_Run],
              now: datetime) -> list[dict]:
    d = ReportDay
    out = []
    days = sorted(cover.days)
    if days:
        overdue = _overdue(session, f, cover, now, by="day")
        query = select(d).where(d.dim == "all", d.day >= days[0], d.day <= days[-1])
        for row in session.scalars(query):
            day = reports._as_date(row.day)
            if day in cover.days:
                counts = {c: getattr(row, c) for c in COUNTS}
                _shift(counts, overdue.get(day, {}))
                out.append({"day": day, **counts,
                            **{c: getattr(row, c) for c in ("fr_median", "fr_p90", "res_median", "res_p90")}})
    for run in runs:
        figures = run.percentiles()
        for row in run.count_rows("all"):
            day = reports._as_date(row["day"])
            out.append({"day": day, **{c: row[c] for c in COUNTS},
                        **{f"{p}_{k}": figures.get(day, {}).get(f"{p}_{k}") for p in ("fr", "res")
                           for k in ("median", "p90")}})
    return out


def _volume(session: Session, f: reports.Filters, cover: Coverage, runs: list[_Run]) -> dict:
    d = ReportDay
    counts: dict[tuple[str, date, str], int] = defaultdict(int)
    query = (select(d.dim, d.day, d.key, d.mentions).where(d.dim.in_(("intent", "sentiment")),
                                                           d.day >= f.since, d.day <= f.until))
    for dim, day, key, n in session.execute(query):
        if reports._as_date(day) in cover.days:
            counts[(dim, reports._as_date(day), key or reports.NONE)] += n
    for run in runs:
        for dim in ("intent", "sentiment"):
            for row in run.count_rows(dim):
                counts[(dim, reports._as_date(row["day"]), row["key"] or reports.NONE)] += row["mentions"]
    out = {}
    for dim in ("intent", "sentiment"):
        series = sorted({k for (name, _, k) in counts if name == dim})
        out[dim] = {"series": series, "days": [
            {"day": day, "counts": {s: counts.get((dim, day, s), 0) for s in series}} for day in f.days()]}
    return out


def _backlog(session: Session, f: reports.Filters, cover: Coverage, now: datetime) -> list[dict]:
    """Open at the end of each day = posted by then, minus closed by then, over the whole history."""
    d = ReportDay
    first, _ = cover.history
    arrivals: dict[date, int] = defaultdict(int)
    closures: dict[date, int] = defaultdict(int)
    query = select(d.day, d.dim, d.key, d.mentions).where(d.dim.in_(("all", "closed")))
    for day, dim, key, n in session.execute(query):
        day = reports._as_date(day)
        if day in cover.live:
            continue
        if dim == "all":
            arrivals[day] += n
        else:
            closures[date.fromisoformat(key)] += n
    sql = reports._Sql(session)
    m = Mention
    for a, b in _runs(cover.live):
        in_run = [m.posted_at >= _day_start(a), m.posted_at < _day_start(b) + timedelta(1)]
        posted_day = sql.day(m.posted_at)
        for day, n in session.execute(select(posted_day, func.count()).where(*in_run).group_by(posted_day)):
            arrivals[reports._as_date(day)] += n
        closed_day = sql.day(m.resolved_at)
        for day, n in session.execute(select(closed_day, func.count()).where(
                *in_run, m.resolved_at.is_not(None)).group_by(closed_day)):
            closures[reports._as_date(day)] += n
    out, posted, closed = [], 0, 0
    for day in _days(min(first, f.since), f.until):
        posted += arrivals.get(day, 0)
        closed += closures.get(day, 0)
        if day >= f.since:
            out.append({"day": day, "open": None if day > now.date() else posted - closed,
                        "arrived": arrivals.get(day, 0), "closed": closures.get(day, 0)})
    return out


def _done(session: Session, f: reports.Filters, now: datetime) -> dict[int, dict[str, int]]:
    """Per person, what they did in the range (claimed, replied, ...), from the event summaries."""
    e = ReportEventDay
    stale = {reports._as_date(d) for d in session.scalars(
        select(ReportStale.day).distinct().where(ReportStale.kind == EVENT_DAY))}
    built = {reports._as_date(p) for p in session.scalars(select(ReportPeriod.period).where(
        ReportPeriod.span == EVENT_DAY, ReportPeriod.period >= f.since, ReportPeriod.period <= f.until))}
    usable = built - stale
    live = [day for day in f.days() if day not in usable and day <= now.date()]
    rows = list(session.execute(select(e.actor_id, e.action, func.sum(e.n).label("n")).where(
        *_summarised(e.day, f, usable)).group_by(e.actor_id, e.action)))
    for a, b in _runs(live):
        rows += list(session.execute(_event_counts(session, a, b)))
    done: dict[int, dict[str, int]] = {}
    for row in rows:
        column = next((k for k, group in reports.WORKLOAD_ACTIONS.items() if row.action in group), None)
        if column is not None:
            done.setdefault(row.actor_id, {}).setdefault(column, 0)
            done[row.actor_id][column] += row.n
    return done


__all__ = ["EXACT_UP_TO", "Coverage", "Progress", "coverage", "figures", "refresh"]
