"""Team members and their teams."""
from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triage.db import Base, UTCDateTime, utcnow

ROLES = ("agent", "lead", "supervisor", "admin")


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # Service-level clock (triage/sla.py): business hours {"mon": ["09:00", "17:00"], ...} in `timezone`;
    # None means around the clock. Holidays are ISO dates on which the clock does not run.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    business_hours: Mapped[dict | None] = mapped_column(JSON)
    holidays: Mapped[list] = mapped_column(JSON, default=list)
    escalate_breached_urgent: Mapped[bool] = mapped_column(default=True)

    members: Mapped[list[User]] = relationship(back_populates="team")


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16), default="agent")
    password_hash: Mapped[str] = mapped_column(String(256))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of every login cookie (see get_id): bumping it (logout, password change, deactivation, role change)
    # ends every session and remember-me cookie issued before.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    team: Mapped[Team | None] = relationship(back_populates="members")

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """flask-login's "alternative id": the session and the remember cookie carry it, not the bare user id."""
        return f"{self.id}:{self.session_generation}"

    def can(self, *roles: str) -> bool:
        """Admins can do anything; others need one of `roles`."""
        return self.role == "admin" or self.role in roles
