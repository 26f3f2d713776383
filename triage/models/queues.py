"""Prioritized queues and the rules that route tagged mentions into them."""
from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triage.db import Base


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[int] = mapped_column(default=0)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))


class RoutingRule(Base):
    """First enabled rule (by position) whose every set condition matches routes the mention."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    intent: Mapped[str | None] = mapped_column(String(16))
    sentiment: Mapped[str | None] = mapped_column(String(16))
    network: Mapped[str | None] = mapped_column(String(32))
    min_priority: Mapped[int | None]
    urgent: Mapped[bool | None]  # matches mentions with (True) or without (False) an urgency cue
    enabled: Mapped[bool] = mapped_column(default=True)

    queue: Mapped[Queue] = relationship()


class SlaPolicy(Base):
    """First-response and resolution targets for mentions of an intent (or urgent ones), in minutes."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=0)  # first matching policy applies
    urgent: Mapped[bool | None]  # True: urgent mentions only
    intent: Mapped[str | None] = mapped_column(String(16))
    first_response_minutes: Mapped[int]
    resolution_minutes: Mapped[int]
    business_hours: Mapped[bool] = mapped_column(default=False)  # count only the team's business hours
