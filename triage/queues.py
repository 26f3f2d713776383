"""Reading queues and work lists: items in working order, filters, counts, an item's context."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from triage.models import Author, Event, Mention, Queue, Response, User
from triage.models.mentions import CLOSED, WORKABLE

VIEWS = {
    "all": "All open",
    "mine": "Mine",
    "unassigned": "Unassigned",
    "escalated": "Escalated",
}
FILTERS = ("queue", "network", "intent", "sentiment", "status", "owner")


def ordered(query):
    """Working order: highest priority first, then the longest waiting."""
    return query.order_by(Mention.priority.desc(), Mention.posted_at.asc(), Mention.id.asc())


def all_queues(session: Session) -> list[Queue]:
    return list(session.scalars(select(Queue).order_by(Queue.position, Queue.id)))


def items(session: Session, queue_id: int, *, limit: int = 50, statuses=WORKABLE) -> list[Mention]:
    query = select(Mention).options(joinedload(Mention.author), joinedload(Mention.claimed_by)).where(
        Mention.queue_id == queue_id, Mention.status.in_(statuses))
    return list(session.scalars(ordered(query).limit(limit)))


def counts(session: Session, statuses=WORKABLE) -> dict[int, int]:
    rows = session.execute(
        select(Mention.queue_id, func.count()).where(Mention.status.in_(statuses)).group_by(Mention.queue_id))
    return {queue_id: n for queue_id, n in rows if queue_id is not None}


@dataclass
class Listing:
    items: list[Mention]
    has_more: bool
    page: int


def work_list(session: Session, user: User, view: str = "all", filters: dict | None = None, *,
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
        query = query.where(Mention.status.in_(WORKABLE))
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
        query = query.where(Mention.owner_id == owner)
    page = max(1, page)
    rows = list(session.scalars(ordered(query).offset((page - 1) * per_page).limit(per_page + 1)).unique())
    return Listing(rows[:per_page], len(rows) > per_page, page)


def view_counts(session: Session, user: User) -> dict[str, int]:
    open_ = Mention.status.in_(WORKABLE)

    def count(*where) -> int:
        return session.scalar(select(func.count()).select_from(Mention).where(open_, *where)) or 0

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
