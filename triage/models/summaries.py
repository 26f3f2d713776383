"""Daily summaries of the report's figures, so a report over a year reads thousands of rows, not millions.

Database triggers (migration 0005) note which days a change touched in `report_stale`; the summary job
rebuilds those days. A report uses a day's summary only while nothing in it changed since. Items still within
their SLA deadline when summarised are kept with their due times (`report_pending`), so that a report can count
those whose deadline has passed since as missed without reading the day again.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from triage.db import Base, UTCDateTime

DAY, WEEK, MONTH, QUARTER, EVENT_DAY = "d", "w", "m", "q", "e"  # report_periods.span
EVERYTHING = "*"  # report_stale.kind: every day (a person or a queue changed team)


class ReportDay(Base):
    """The figures of the mentions posted on one UTC day, for one group (`dim`, `key`).

    dim is all (key ''), agent, team, queue (ids), intent, network, sentiment, or closed: items posted that day
    and closed on day `key` (for the backlog). Exact medians and 90th percentiles are kept for `all` only: they
    are the report's per-day table.
    """

    __tablename__ = "report_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    dim: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    mentions: Mapped[int] = mapped_column(default=0)
    answered: Mapped[int] = mapped_column(default=0)
    resolved: Mapped[int] = mapped_column(default=0)
    fr_met: Mapped[int] = mapped_column(default=0)
    fr_missed: Mapped[int] = mapped_column(default=0)
    fr_pending: Mapped[int] = mapped_column(default=0)
    res_met: Mapped[int] = mapped_column(default=0)
    res_missed: Mapped[int] = mapped_column(default=0)
    res_pending: Mapped[int] = mapped_column(default=0)
    from_ingest: Mapped[int] = mapped_column(default=0)
    fr_median: Mapped[float | None] = mapped_column(Float)
    fr_p90: Mapped[float | None] = mapped_column(Float)
    res_median: Mapped[float | None] = mapped_column(Float)
    res_p90: Mapped[float | None] = mapped_column(Float)


class ReportBucket(Base):
    """How many response times of a group fell in one bucket, per day, week, month or quarter (`span`).

    Bucket k > 0 holds times in [g^(k-1), g^k) seconds (g = 1.05); bucket 0 holds times under a second.
    Histograms add up across days and groups, which percentiles do not.
    """

    __tablename__ = "report_buckets"
    # Reports sum whole periods: on PostgreSQL an index-only scan reads them without visiting the table.
    __table_args__ = (Index("ix_report_buckets_read", "span", "period", "dim", "key", "measure", "bucket",
                            postgresql_include=["n"]),)

    span: Mapped[str] = mapped_column(String(1), primary_key=True)
    period: Mapped[date] = mapped_column(Date, primary_key=True)
    dim: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    measure: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # 1 first response, 2 resolution
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class ReportEventDay(Base):
    """What each person did on one UTC day, from the audit log (the report's workload table)."""

    __tablename__ = "report_event_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    actor_id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(40), primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class ReportPending(Base):
    """Items of a day and group that had time left on a target when summarised, by due time."""

    __tablename__ = "report_pending"
    __table_args__ = (Index("ix_report_pending_due", "due_at"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    dim: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    target: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # 1 first response, 2 resolution
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class ReportPeriod(Base):
    """A summarised day, week, month, quarter or event day, and when it was built."""

    __tablename__ = "report_periods"

    span: Mapped[str] = mapped_column(String(1), primary_key=True)
    period: Mapped[date] = mapped_column(Date, primary_key=True)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReportStale(Base):
    """A day whose summary a change made stale, written by triggers in the same transaction as the change."""

    __tablename__ = "report_stale"
    __table_args__ = (Index("ix_report_stale_day", "kind", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(1))  # DAY, EVENT_DAY or EVERYTHING
    day: Mapped[date | None] = mapped_column(Date)
