"""API tokens: a bearer secret acting as its user, optionally narrowed to one source or to reading."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triage.db import Base, UTCDateTime, utcnow
from triage.models.people import User
from triage.models.sources import Source


class ApiToken(Base):
    """A bearer token acting as its user; a scope narrows it: one source to push into, or read-only."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex; the token is shown once
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Scope: a source (it may only push posts into that source, nothing else) or read-only (GET only).
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", name="fk_api_tokens_source_id"))
    read_only: Mapped[bool] = mapped_column(default=False, server_default=false())

    user: Mapped[User] = relationship()
    source: Mapped[Source | None] = relationship()

    @property
    def scope(self) -> str:
        """What the token may do, in words."""
        if self.source is not None:
            return f"push into {self.source.name}"
        return "read-only" if self.read_only else f"everything a {self.user.role} can"
