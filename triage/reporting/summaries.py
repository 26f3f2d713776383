"""The summary job: daily summaries behind long-range reports, built from the mentions, read instead of them.

A year of a busy brand is a million mentions; a report that aggregated them on every request would take many
seconds. The job keeps, per UTC day, the report's counts for each agent, team, queue, intent, network and
sentiment, the day's exact medians, and histograms of response times (per day and per past week, month and
quarter), as rollup.py computes them; summary_reading.py reads them back into a report.

Triggers (migration 0005) mark the days a change touched, in the same transaction as the change; those days
are read from the mentions until the job has rebuilt them. Items that still had time left on a target when
summarised are kept by due time, so a report counts those whose deadline has passed since as missed.
"""
from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from triage.core.locking import write_lock
from triage.db import is_postgres, utcnow
from triage.models import Event, Mention
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
from triage.reporting.facts import as_date
from triage.reporting.rollup import (
    COARSE,
    COUNTS,
    DIMS,
    GROUPED,
    MEASURES,
    DayRun,
    days_between,
    event_counts,
    first_day,
    runs_of,
)

LOCK_KEY = 7_261_001  # the PostgreSQL advisory lock one refresh holds at a time


@dataclass
class Progress:
    """What one run of the job did (the job's result, and `triage summaries`' output)."""

    days: int = 0
    event_days: int = 0
    coarse: int = 0  # quarters, months and weeks
    waiting: int = 0  # days still to summarise when the job stopped (it carries on next run)
    busy: bool = False  # another worker was refreshing: this run did nothing
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | bool | float]:
        return {k: getattr(self, k) for k in ("days", "event_days", "coarse", "waiting", "busy")} | {
            "seconds": round(self.seconds, 2)}


def refresh(session_factory: Callable[[], Session], *, now: datetime | None = None, batch_days: int = 14,
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


def _lock(session: Session) -> bool:
    """One refresh at a time, reading one snapshot.

    On PostgreSQL the batch runs in REPEATABLE READ: the stale marks it deletes are exactly those its snapshot
    saw, so a change committed meanwhile keeps its mark for the next run. On SQLite the write lock does both.
    """
    if not is_postgres(session):
        write_lock(session)
        return True
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_KEY))))


def _todo(session: Session, now: datetime) -> tuple[list[date], list[date], int]:
    """Mention days and event days to (re)build, most recent first, and the stale marks they cover."""
    top = session.scalar(select(func.max(ReportStale.id))) or 0
    if session.scalar(select(func.count()).select_from(ReportStale).where(
            ReportStale.kind == EVERYTHING, ReportStale.id <= top)):
        session.execute(delete(ReportPeriod).where(ReportPeriod.span.in_((DAY, *COARSE))))
        session.execute(delete(ReportStale).where(ReportStale.kind == EVERYTHING, ReportStale.id <= top))
    today = now.date()
    out: list[list[date]] = []
    for span, kind, column in ((DAY, DAY, Mention.posted_at), (EVENT_DAY, EVENT_DAY, Event.created_at)):
        first = first_day(session, column)
        if first is None:
            out.append([])
            continue
        stale = {as_date(d) for d in session.scalars(select(ReportStale.day).distinct().where(
            ReportStale.kind == kind, ReportStale.id <= top)) if d is not None}
        built = {as_date(d) for d in session.scalars(select(ReportPeriod.period).where(ReportPeriod.span == span))}
        missing = set(days_between(first, today)) - built
        out.append(sorted(stale | missing, reverse=True))
    return out[0], out[1], top


def _rebuild_days(session: Session, days: list[date], now: datetime) -> None:
    for first, last in runs_of(days):
        in_run = and_(ReportDay.day >= first, ReportDay.day <= last)
        session.execute(delete(ReportDay).where(in_run))
        session.execute(delete(ReportBucket).where(ReportBucket.span == DAY, ReportBucket.period >= first,
                                                   ReportBucket.period <= last))
        session.execute(delete(ReportPending).where(ReportPending.day >= first, ReportPending.day <= last))
        run = DayRun(session, first, last, now)
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
        _mark_built(session, DAY, days_between(first, last), now)


def _rebuild_event_days(session: Session, days: list[date], now: datetime) -> None:
    for first, last in runs_of(days):
        session.execute(delete(ReportEventDay).where(ReportEventDay.day >= first, ReportEventDay.day <= last))
        session.execute(insert(ReportEventDay).from_select(["day", "actor_id", "action", "n"],
                                                           event_counts(session, first, last)))
        _mark_built(session, EVENT_DAY, days_between(first, last), now)


def _mark_built(session: Session, span: str, days: list[date], now: datetime) -> None:
    session.execute(delete(ReportPeriod).where(ReportPeriod.span == span, ReportPeriod.period.in_(days)))
    session.execute(insert(ReportPeriod), [{"span": span, "period": d, "refreshed_at": now} for d in days])


def _rebuild_coarse(session: Session, span: str, periods: set[date], now: datetime) -> int:
    """A past quarter's, month's or week's histograms: the sum of its days'."""
    end_of = COARSE[span][1]
    built = 0
    for start in sorted(periods):
        end = end_of(start)
        session.execute(delete(ReportBucket).where(ReportBucket.span == span, ReportBucket.period == start))
        session.execute(delete(ReportPeriod).where(ReportPeriod.span == span, ReportPeriod.period == start))
        if end >= now.date():
            continue  # not over yet: a range covering all of it would end in the future
        days = session.scalar(select(func.count()).select_from(ReportPeriod).where(
            ReportPeriod.span == DAY, ReportPeriod.period >= start, ReportPeriod.period <= end)) or 0
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


__all__ = ["LOCK_KEY", "Progress", "refresh"]
