"""Reading queues: their items in working order, and counts per queue."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from triage.models import Mention, Queue
from triage.models.mentions import WORKABLE


def ordered(query):
    """Working order: highest priority first, then the longest waiting."""
    return query.order_by(Mention.priority.desc(), Mention.posted_at.asc(), Mention.id.asc())


def all_queues(session: Session) -> list[Queue]:
    return list(session.scalars(select(Queue).order_by(Queue.position, Queue.id)))


def items(session: Session, queue_id: int, *, limit: int = 50, statuses=WORKABLE) -> list[Mention]:
    query = select(Mention).options(joinedload(Mention.author)).where(
        Mention.queue_id == queue_id, Mention.status.in_(statuses))
    return list(session.scalars(ordered(query).limit(limit)))


def counts(session: Session, statuses=WORKABLE) -> dict[int, int]:
    rows = session.execute(
        select(Mention.queue_id, func.count()).where(Mention.status.in_(statuses)).group_by(Mention.queue_id))
    return {queue_id: n for queue_id, n in rows if queue_id is not None}
