"""What the brand's other systems (CRM, loyalty programme, shop) know of a customer, one record per system and id."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triage.db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from triage.models.mentions import Customer


class CustomerRecord(Base):
    """A customer as another system holds them (`system` + `external_id`), upserted on each import or push.

    `handles` maps a network to the person's handle there ({"x": "dana", "mastodon": "dana@social.example"}):
    an account whose handle matches exactly is linked to the record's customer. `provenance` keeps, per fact,
    where and when it came from ({"tier": {"from": "crm-2026-11.csv", "at": "..."}}).
    """

    __tablename__ = "customer_records"
    __table_args__ = (
        UniqueConstraint("system", "external_id", name="uq_customer_records_system_external_id"),
        Index("ix_customer_records_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    system: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    handles: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tier: Mapped[str | None] = mapped_column(String(64))
    lifetime_value: Mapped[float | None] = mapped_column(Float)
    loyalty_points: Mapped[int | None] = mapped_column(BigInteger)
    orders: Mapped[int | None] = mapped_column(BigInteger)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer | None] = relationship(back_populates="records")
