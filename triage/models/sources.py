"""Where mentions come from, and each delivery of raw posts kept until it is processed."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triage.db import Base, UTCDateTime, utcnow


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # demo, rss, import, api
    name: Mapped[str] = mapped_column(String(80), unique=True)
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    brand_handles: Mapped[list] = mapped_column(JSON, default=list)
    interval_seconds: Mapped[int] = mapped_column(default=300)
    cursor: Mapped[dict] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def polled(self) -> bool:
        return self.kind in ("demo", "rss")


class Delivery(Base):
    """A batch of raw posts as received, stored before anything else happens to them.

    It is what makes ingest survive a worker killed mid-job or a Redis restart: until
    `processed_at` is set, the sweeper enqueues it again, and processing is idempotent.
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_pending", "processed_at", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    posts: Mapped[list] = mapped_column(JSON)  # validated records in the import format
    post_count: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stored_count: Mapped[int | None]
    duplicate_count: Mapped[int | None]
    response_count: Mapped[int | None]

    source: Mapped[Source] = relationship()
