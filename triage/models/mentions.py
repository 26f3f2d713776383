"""Mentions, the people who wrote them, the answers they got and every event in their life."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triage.core.vocabulary import ANSWERED, CLOSED, IRRELEVANT, NEW, OPEN, RESOLVED, SPAM, WORKABLE  # noqa: F401
from triage.db import Base, UTCDateTime, utcnow
from triage.models.people import User
from triage.models.queues import Queue
from triage.models.sources import Source

if TYPE_CHECKING:
    from triage.models.customers import CustomerRecord

# Literal SQL for the ranking indexes' WHERE clauses: a query uses a partial index only when it repeats
# the same terms with the same literals (SQLite cannot match a bound parameter against them).
WORKABLE_WHERE = "status IN ('open', 'answered')"
CLAIMABLE_WHERE = "status = 'open' AND claimed_by_id IS NULL"


class Customer(Base):
    """One consumer, however many network accounts (authors) they write from."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    authors: Mapped[list[Author]] = relationship(back_populates="customer")
    records: Mapped[list[CustomerRecord]] = relationship(back_populates="customer")  # from the brand's systems


class Author(Base):
    __tablename__ = "authors"
    __table_args__ = (UniqueConstraint("network", "handle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    followers: Mapped[int | None] = mapped_column(BigInteger)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer | None] = relationship(back_populates="authors")


class Mention(Base):
    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("network", "external_id", name="uq_mentions_network_external_id"),
        # The queue pages and claim-next read exactly these orders over small partial indexes: no sort, and
        # no resolved history to skip, however large the backlog grows.
        Index("ix_mentions_queue_rank", "queue_id", text("priority DESC"), "posted_at", "id",
              sqlite_where=text(WORKABLE_WHERE), postgresql_where=text(WORKABLE_WHERE)),
        Index("ix_mentions_rank", text("priority DESC"), "posted_at", "id",
              sqlite_where=text(WORKABLE_WHERE), postgresql_where=text(WORKABLE_WHERE)),
        Index("ix_mentions_claimable", "queue_id", text("priority DESC"), "posted_at", "id",
              sqlite_where=text(CLAIMABLE_WHERE), postgresql_where=text(CLAIMABLE_WHERE)),
        Index("ix_mentions_claimed_by", "claimed_by_id", "status"),
        Index("ix_mentions_owner", "owner_id", "status"),
        Index("ix_mentions_escalated", "escalated_at", "status"),
        Index("ix_mentions_untagged", "tagged_at", "ingested_at"),
        Index("ix_mentions_author", "author_id", "posted_at"),
        Index("ix_mentions_posted_at", "posted_at", "id"),  # report date ranges
        Index("ix_mentions_resolved_at", "resolved_at"),  # report backlog over time
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), index=True)
    network: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(512))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2048))
    in_reply_to: Mapped[str | None] = mapped_column(String(512))
    language: Mapped[str | None] = mapped_column(String(16))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    posted_at_known: Mapped[bool] = mapped_column(default=True)  # False: the network gave no time, ingest time used
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the connector keeps to answer it (ids, uri/cid, visibility), and the network's counts as last seen
    # (replies, reposts, likes, quotes, score), refreshed whenever the post is delivered again.
    network_data: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    engagement: Mapped[dict[str, int] | None] = mapped_column(JSON(none_as_null=True))
    engagement_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Tags, set once by the tagging job.
    tagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sentiment: Mapped[str | None] = mapped_column(String(16))
    polarity: Mapped[float | None]
    subjectivity: Mapped[float | None]
    sentiment_confidence: Mapped[float | None]
    intent: Mapped[str | None] = mapped_column(String(16))
    intent_confidence: Mapped[float | None]
    cues: Mapped[list] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(default=0)
    priority_reasons: Mapped[list] = mapped_column(JSON, default=list)
    urgent: Mapped[bool] = mapped_column(default=False)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))

    # Workflow.
    status: Mapped[str] = mapped_column(String(16), default=NEW)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_touched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the holder's last action; idle expiry
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", name="fk_mentions_escalated_by_id"))
    escalated_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", name="fk_mentions_escalated_to_id"))
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    first_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Service levels (triage/sla.py): when a first response and a resolution are due, and breaches seen.
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[Author] = relationship()
    queue: Mapped[Queue | None] = relationship()
    source: Mapped[Source | None] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])
    escalated_to: Mapped[User | None] = relationship(foreign_keys=[escalated_to_id])
    escalated_by: Mapped[User | None] = relationship(foreign_keys=[escalated_by_id])
    responses: Mapped[list[Response]] = relationship(order_by="Response.id", viewonly=True)


class Response(Base):
    """An answer to a mention: sent from the app, or posted by a brand handle on the network.

    A brand reply that arrives before the post it answers waits with no mention (`in_reply_to` says which
    post it answers) and is attached when that post arrives.
    """

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id"), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(512))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))  # "app" or "network" (the brand replied outside the app)
    url: Mapped[str | None] = mapped_column(String(2048))  # where the reply is (or is to be posted by hand)
    network: Mapped[str | None] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(512))
    author_handle: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery_status: Mapped[str] = mapped_column(String(16), default="sent")  # pending, sent, failed, manual

    user: Mapped[User | None] = relationship()
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("network", "external_id", name="uq_responses_network_external_id"),
        Index("ix_responses_waiting", "network", "in_reply_to"),
    )


class Event(Base):
    """Append-only audit trail: who did what to which mention, when, from which state to which."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_mention", "mention_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the system
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(200))  # a state, a holder, a queue: what changed
    to_state: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    actor: Mapped[User | None] = relationship()


class Notification(Base):
    """Something a team member should see: an escalation to them, an assignment."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id"))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SavedReply(Base):
    """A reply a lead wrote once for the team; placeholders such as {author} are filled in when used."""

    __tablename__ = "saved_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(16))  # suggested first for mentions of this intent
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uses: Mapped[int] = mapped_column(default=0)


class Label(Base):
    """A person's (or an imported file's) verdict on a text's sentiment and intent: training data."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    sentiment: Mapped[str | None] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16), default="correction")  # correction, import
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelVersion(Base):
    """A classifier trained from labels: where it is, what it learned from, how well it scored."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    path: Mapped[str] = mapped_column(String(1024))
    label_count: Mapped[int] = mapped_column(default=0)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)  # labels per class
    scores: Mapped[dict] = mapped_column(JSON, default=dict)  # cross-validated figures
    active: Mapped[bool] = mapped_column(default=False)
    # The model file itself, for hosts that do not have it yet; kept for the newest few versions only.
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
