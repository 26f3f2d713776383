"""Priority rules on what the brand's other systems know of a customer ("Gold: +15", "lifetime value over 1,000:
+10"), set by leads (`triage.routing.customer_facts`) and read by `triage.routing.placement.Placer`."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from triage.db import Base, UTCDateTime, utcnow


class CustomerPriorityRule(Base):
    """Points for a customer whose record has `tier` (case-insensitive), or a lifetime value over `min_value`."""

    __tablename__ = "customer_priority_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    tier: Mapped[str | None] = mapped_column(String(64))  # exactly one of tier and min_value is set
    min_value: Mapped[float | None] = mapped_column(Float)
    points: Mapped[int] = mapped_column(Integer)  # 1..50: a customer fact raises a priority, never lowers it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
