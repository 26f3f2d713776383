"""Reading queues and work lists: items in working order, filters, counts, an item's context."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, TextClause, false, func, or_, select, text
from sqlalchemy.orm import Session, joinedload

from triage.models import Author, Event, Mention, Queue, Response, User
from triage.models.mentions import CLAIMABLE_WHERE, CLOSED, WORKABLE_WHERE

# The same literal terms as the partial ranking indexes, so both backends use them (see models/mentions.py).
IS_WORKABLE = text("mentions." + WORKABLE_WHERE)
IS_CLAIMABLE = text(" AND ".join("mentions." + term for term in CLAIMABLE_WHERE.split(" AND ")))
COUNT_CAP = 1000  # counts above this show as "1,000+": counting a huge backlog exactly costs every page load

VIEWS = {
    "all": "All open",
    "mine": "Mine",
    "unassigned": "Unassigned",
    "escalated": "Escalated",
}
FILTERS = ("queue", "network", "intent", "sentiment", "status", "owner", "tags")
UNSURE = 0.6  # below this the classifier is right about half the time: a person's look (and label) helps most
Q = TypeVar("Q", bound=Select[Any])
Condition = ColumnElement[bool] | TextClause  # a WHERE term: an expression, or the partial indexes' literal text
MAX_PAGE = 100_000  # 5 million items deep: further is no list anyone pages through (and the offset stays small)


def unsure_tags() -> ColumnElement[bool]:
    """Mentions whose sentiment or intent the classifier was less than UNSURE sure of."""
    return or_(Mention.sentiment_confidence < UNSURE, Mention.intent_confidence < UNSURE)


def ordered(query: Q) -> Q:
    """Working order: highest priority first, then the longest waiting."""
    return query.order_by(Mention.priority.desc(), Mention.posted_at.asc(), Mention.id.asc())


def all_queues(session: Session) -> list[Queue]:
    return list(session.scalars(select(Queue).order_by(Queue.position, Queue.id)))


def items(session: Session, queue_id: int, *, limit: int = 50) -> list[Mention]:
    """A queue's open and answered mentions in working order (read straight off ix_mentions_queue_rank)."""
    query = select(Mention).options(joinedload(Mention.author), joinedload(Mention.claimed_by),
                                    joinedload(Mention.owner)).where(Mention.queue_id == queue_id, IS_WORKABLE)
    return list(session.scalars(ordered(query).limit(limit)))


def capped_count(session: Session, *where: Condition, cap: int = COUNT_CAP) -> int:
    """How many rows match, counting no further than `cap` (shown as "1,000+")."""
    inner = select(Mention.id).where(*where).limit(cap).subquery()
    return session.scalar(select(func.count()).select_from(inner)) or 0


def counts(session: Session) -> dict[int, int]:
    """Open mentions per queue, each capped at COUNT_CAP."""
    return {q.id: capped_count(session, Mention.queue_id == q.id, IS_WORKABLE) for q in all_queues(session)}


@dataclass
class Listing:
    items: list[Mention]
    has_more: bool
    page: int


def work_list(session: Session, user: User, view: str = "all", filters: dict[str, Any] | None = None, *,
              page: int = 1, per_page: int = 50) -> Listing:
    """A view (all, mine, unassigned, escalated) with filters, in working order."""
    filters = {k: v for k, v in (filters or {}).items() if k in FILTERS and v}
    query = select(Mention).options(joinedload(Mention.author), joinedload(Mention.claimed_by),
                                    joinedload(Mention.owner), joinedload(Mention.queue))
    status = filters.get("status")
    if status == "closed":
        query = query.where(Mention.status.in_(CLOSED))
    elif status:
        query = query.where(Mention.status == status)
    else:
        query = query.where(IS_WORKABLE)
    if view == "mine":
        query = query.where(or_(Mention.claimed_by_id == user.id, Mention.owner_id == user.id))
    elif view == "unassigned":
        query = query.where(Mention.owner_id.is_(None), Mention.claimed_by_id.is_(None))
    elif view == "escalated":
        query = query.where(Mention.escalated_at.is_not(None))
    if "queue" in filters:
        query = query.join(Queue, Queue.id == Mention.queue_id).where(Queue.slug == filters["queue"])
    for name in ("network", "intent", "sentiment"):
        if name in filters:
            query = query.where(getattr(Mention, name) == filters[name])
    if "owner" in filters:
        owner = session.scalar(select(User.id).where(User.username == filters["owner"]))
        # An unknown owner owns nothing (comparing with None would list every unowned item instead).
        query = query.where(Mention.owner_id == owner if owner is not None else false())
    if filters.get("tags") == "unsure":
        query = query.where(unsure_tags())
    page = min(max(1, page), MAX_PAGE)
    rows = list(session.scalars(ordered(query).offset((page - 1) * per_page).limit(per_page + 1)).unique())
    return Listing(rows[:per_page], len(rows) > per_page, page)


def view_counts(session: Session, user: User) -> dict[str, int]:
    def count(*where: Condition) -> int:
        return capped_count(session, IS_WORKABLE, *where)

    return {
        "all": count(),
        "mine": count(or_(Mention.claimed_by_id == user.id, Mention.owner_id == user.id)),
        "unassigned": count(Mention.owner_id.is_(None), Mention.claimed_by_id.is_(None)),
        "escalated": count(Mention.escalated_at.is_not(None)),
    }


def networks(session: Session) -> list[str]:
    return list(session.scalars(select(Author.network).distinct().order_by(Author.network)))


@dataclass
class Context:
    """What an agent needs beside the post itself."""

    parent: Mention | None
    replies_in_thread: list[Mention]
    history: list[Mention]  # the same person's other mentions, on any network, newest first
    linked_accounts: list[Author]
    possibly_same: list[Author]  # same display name on another network, not linked yet
    responses: list[Response]
    events: list[Event]


def context(session: Session, mention: Mention, *, history_limit: int = 20) -> Context:
    parent = None
    if mention.in_reply_to:
        parent = session.scalar(select(Mention).where(Mention.network == mention.network,
                                                      Mention.external_id == mention.in_reply_to))
    replies = list(session.scalars(select(Mention).where(
        Mention.network == mention.network, Mention.in_reply_to == mention.external_id).order_by(Mention.posted_at)))
    author = mention.author
    if author.customer_id:
        authors = list(session.scalars(select(Author).where(Author.customer_id == author.customer_id)))
    else:
        authors = [author]
    history = list(session.scalars(
        select(Mention).options(joinedload(Mention.author))
        .where(Mention.author_id.in_([a.id for a in authors]), Mention.id != mention.id)
        .order_by(Mention.posted_at.desc()).limit(history_limit)))
    possibly_same: list[Author] = []
    if author.display_name:
        possibly_same = list(session.scalars(select(Author).where(
            Author.display_name == author.display_name, Author.network != author.network,
            Author.id.not_in([a.id for a in authors])).limit(5)))
    responses = list(session.scalars(select(Response).options(joinedload(Response.user))
                                     .where(Response.mention_id == mention.id).order_by(Response.id)))
    events = list(session.scalars(select(Event).options(joinedload(Event.actor))
                                  .where(Event.mention_id == mention.id).order_by(Event.created_at, Event.id)))
    return Context(parent, replies, history, [a for a in authors if a.id != author.id], possibly_same, responses,
                   events)
