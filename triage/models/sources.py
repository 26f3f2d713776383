"""Where mentions come from, and each delivery of raw posts kept until it is processed."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triage.db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from triage.models.people import User


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # demo, rss, import, api, or a connector's (mastodon, ...)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    config: Mapped[dict] = mapped_column(JSON, default=dict)  # a connector's secrets sealed (triage.core.secrets)
    brand_handles: Mapped[list] = mapped_column(JSON, default=list)
    # The connected network account ({"handle", "display_name", "url"}), as the network named it on connect.
    account: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
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
        """Fetched on a schedule: the demo, feeds and connected networks; not file imports or the push API."""
        return self.kind not in ("import", "api")


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
    attempts: Mapped[int] = mapped_column(default=0)  # counted when a worker starts on it, so a crash counts
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the sweeper takes the least recent first
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stored_count: Mapped[int | None]
    duplicate_count: Mapped[int | None]
    response_count: Mapped[int | None]

    source: Mapped[Source] = relationship()


class DeadLetter(Base):
    """A post the worker could not store, set aside with its raw record and the reason, so its batch could land.

    A lead fixes and retries it (a new delivery) or discards it; either way it is resolved, never deleted.
    """

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_open", "resolved_at", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), index=True)
    payload: Mapped[Any] = mapped_column(JSON, nullable=True)  # the record as stored
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=1)  # how many times its delivery was tried
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(String(16))  # "retried" or "discarded"
    retry_delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))  # where a retry went

    source: Mapped[Source] = relationship()
    resolved_by: Mapped[User | None] = relationship()
