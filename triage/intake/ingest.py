"""Receive raw posts (any source), store each exactly once, record brand replies, tag and queue.

`receive` keeps a batch as a `Delivery` row before anything else happens to it; `process_delivery`
turns a delivery into mentions in one transaction and can run again safely, so a worker killed
mid-batch or a Redis restart loses nothing and duplicates nothing.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exc as db_errors
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from triage.db import utcnow
from triage.intake.posts import Post, PostError, parse_post
from triage.models import Author, DeadLetter, Delivery, Event, Mention, Response, Source
from triage.models.mentions import ANSWERED, NEW, OPEN
from triage.tagging.classifier import Tags
from triage.tagging.pipeline import classify_posts, tag_new_mentions

TagsByPost = dict[tuple[str, str], Tags]  # what classify_posts returns, by (network, external id)


@dataclass
class Receipt:
    """What `receive` accepted, and a clear error for each record it refused."""

    delivery_ids: list[int] = field(default_factory=list)
    accepted: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"index", "id", "error"}


@dataclass
class Processed:
    delivery_id: int
    stored: int = 0
    duplicates: int = 0
    responses: int = 0
    waiting_responses: int = 0
    dead_letters: int = 0  # posts set aside (see triage.intake.dead_letters)
    mention_ids: list[int] = field(default_factory=list)


def receive(session: Session, source: Source, records: Iterable[Any], *, batch_size: int = 500,
            first_index: int = 0) -> Receipt:
    """Validate records and keep the valid ones as deliveries of `batch_size` posts (caller commits)."""
    receipt = Receipt()
    batch: list[dict[str, Any]] = []
    for index, record in enumerate(records, start=first_index):
        try:
            post = parse_post(record, default_network=source.config.get("network"))
        except PostError as exc:
            ident = record.get("id") if isinstance(record, dict) else None
            receipt.errors.append({"index": index, "id": _short(ident), "error": str(exc)})
            continue
        batch.append(post.to_record())
        if len(batch) >= batch_size:
            receipt.delivery_ids.append(_store_delivery(session, source, batch))
            receipt.accepted += len(batch)
            batch = []
    if batch:
        receipt.delivery_ids.append(_store_delivery(session, source, batch))
        receipt.accepted += len(batch)
    return receipt


def _store_delivery(session: Session, source: Source, records: list[dict[str, Any]]) -> int:
    delivery = Delivery(source_id=source.id, posts=records, post_count=len(records), received_at=utcnow())
    session.add(delivery)
    session.flush()
    return delivery.id


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:80]


def process_delivery(session: Session, delivery_id: int, *, now: datetime | None = None) -> Processed | None:
    """Store, tag and queue one delivery, in the caller's transaction. Safe to run twice.

    One post that cannot be stored does not sink its batch: the batch is stored in a SAVEPOINT, and if that
    fails it is split in halves until the failing posts are alone; each of those is set aside as a dead letter
    (`triage.intake.dead_letters`) and the others land. Only a database that is away or locked fails the whole job,
    which is then tried again.
    """
    now = now or utcnow()
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.processed_at is not None:
        return None
    source = delivery.source
    brand = {h.lower().lstrip("@") for h in source.brand_handles or []}
    result = Processed(delivery_id=delivery.id)
    parsed: list[tuple[Any, Post]] = []
    for raw in delivery.posts or []:
        try:
            parsed.append((raw, parse_post(raw)))
        except PostError as exc:  # stored by an older triage, or written around the door
            _set_aside(session, delivery, raw, f"refused: {exc}", now=now, result=result)

    # Classify first: on SQLite the writes below hold the database's write lock, and a batch's
    # classification is most of its time; nobody should wait on it.
    tags = classify_posts({(p.network, p.external_id): p.text for _, p in parsed if p.author_handle not in brand})
    # A write before the first SAVEPOINT: pysqlite opens its transaction only at a write, and a SAVEPOINT
    # outside one would commit on release, half a batch before the delivery is marked processed.
    session.execute(update(Delivery).where(Delivery.id == delivery.id).values(last_attempt_at=now))
    _land(session, delivery, parsed, brand, tags, now=now, result=result)

    delivery.processed_at = now
    delivery.stored_count, delivery.duplicate_count = result.stored, result.duplicates
    delivery.response_count = result.responses
    source.last_run_at = now
    return result


# The database is away or locked: no post is at fault, so the job fails and is tried again as a whole.
TRANSIENT = (db_errors.OperationalError, db_errors.InterfaceError, db_errors.TimeoutError, db_errors.DisconnectionError)


def _land(session: Session, delivery: Delivery, items: list[tuple[Any, Post]], brand: set[str], tags: TagsByPost, *,
          now: datetime, result: Processed) -> None:
    """Store `items` in one SAVEPOINT; if that fails, each half on its own, down to the post at fault."""
    if not items:
        return
    try:
        with session.begin_nested():
            part = _store_posts(session, delivery, [p for _, p in items], brand, tags, now=now)
    except TRANSIENT:
        raise
    except Exception as error:  # noqa: BLE001 - isolated below; a single post's failure is kept as its reason
        if len(items) == 1:
            _set_aside(session, delivery, items[0][0], _reason(error), now=now, result=result)
            return
        middle = len(items) // 2
        _land(session, delivery, items[:middle], brand, tags, now=now, result=result)
        _land(session, delivery, items[middle:], brand, tags, now=now, result=result)
        return
    result.stored += part.stored
    result.duplicates += part.duplicates
    result.responses += part.responses
    result.waiting_responses += part.waiting_responses
    result.mention_ids += part.mention_ids


def _store_posts(session: Session, delivery: Delivery, posts: list[Post], brand: set[str], tags: TagsByPost, *,
                 now: datetime) -> Processed:
    source = delivery.source
    customer_posts = [p for p in posts if p.author_handle not in brand]
    brand_posts = [p for p in posts if p.author_handle in brand]
    part = Processed(delivery_id=delivery.id)
    new_ids = store_mentions(session, source, delivery.id, customer_posts, now=now)
    part.stored, part.duplicates = len(new_ids), len(customer_posts) - len(new_ids)
    part.mention_ids = new_ids
    tag_new_mentions(session, new_ids, now=now, tags_by_key=tags)
    part.responses, part.waiting_responses = record_brand_replies(session, brand_posts, now=now)
    part.responses += attach_waiting_replies(session, new_ids, now=now)
    return part


def _set_aside(session: Session, delivery: Delivery, raw: Any, reason: str, *, now: datetime,
               result: Processed) -> None:
    session.add(DeadLetter(source_id=delivery.source_id, delivery_id=delivery.id, payload=raw, error=reason[:2000],
                           attempts=max(delivery.attempts, 1), created_at=now))
    result.dead_letters += 1


def _reason(error: BaseException) -> str:
    """The error in a sentence, without the SQL statement or its parameters."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else 'no message'}"[:2000]


def _insert(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """INSERT with ON CONFLICT support on whichever backend the session runs on."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def upsert_authors(session: Session, posts: list[Post], *, now: datetime) -> dict[tuple[str, str], int]:
    """Insert new authors, refresh name and reach of known ones; returns ids by (network, handle)."""
    latest: dict[tuple[str, str], Post] = {}
    for post in posts:
        latest[(post.network, post.author_handle)] = post
    if not latest:
        return {}
    rows = [
        {"network": n, "handle": h, "display_name": p.author_name, "followers": p.author_followers,
         "first_seen_at": now, "last_seen_at": now}
        for (n, h), p in sorted(latest.items())  # a fixed order keeps concurrent upserts from deadlocking
    ]
    stmt = _insert(session, Author.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["network", "handle"],
        set_={
            "display_name": func.coalesce(stmt.excluded.display_name, Author.__table__.c.display_name),
            "followers": func.coalesce(stmt.excluded.followers, Author.__table__.c.followers),
            "last_seen_at": stmt.excluded.last_seen_at,
        },
    )
    # Plain executemany (no RETURNING): the driver reuses one short prepared statement, where RETURNING
    # would make SQLAlchemy build, and psycopg parse, one huge multi-row statement per page.
    session.connection().execute(stmt, rows)  # Core, not the ORM's bulk path: nothing here needs objects
    by_network: dict[str, list[str]] = {}
    for network, handle in latest:
        by_network.setdefault(network, []).append(handle)
    ids: dict[tuple[str, str], int] = {}
    for network, handles in by_network.items():
        for start in range(0, len(handles), 500):
            query = select(Author.id, Author.handle).where(Author.network == network,
                                                           Author.handle.in_(handles[start:start + 500]))
            ids.update({(network, handle): author_id for author_id, handle in session.execute(query)})
    return ids


def store_mentions(session: Session, source: Source, delivery_id: int | None, posts: list[Post], *,
                   now: datetime) -> list[int]:
    """Insert posts not seen before on their network, refresh the counts of the others; returns the new ids only."""
    unique: dict[tuple[str, str], Post] = {}
    for post in posts:
        unique.setdefault((post.network, post.external_id), post)
    if not unique:
        return []
    authors = upsert_authors(session, list(unique.values()), now=now)
    rows: list[dict[str, Any]] = [
        {
            "source_id": source.id, "delivery_id": delivery_id, "network": p.network, "external_id": p.external_id,
            "author_id": authors[(p.network, p.author_handle)], "text": p.text, "url": p.url,
            "in_reply_to": p.in_reply_to, "language": p.language,
            "posted_at": p.posted_at or now, "posted_at_known": p.posted_at is not None, "ingested_at": now,
            "status": NEW, "priority": 0, "cues": [], "priority_reasons": [],
            "network_data": p.network_data, "engagement": p.engagement,
            "engagement_seen_at": now if p.engagement is not None else None,
        }
        for p in unique.values()
    ]
    # A post seen again keeps everything it had; only the network's counts (when this sighting has them) move on.
    stmt = _insert(session, Mention.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["network", "external_id"],
        set_={"engagement": stmt.excluded.engagement, "engagement_seen_at": stmt.excluded.engagement_seen_at},
        where=stmt.excluded.engagement.is_not(None),
    )
    session.connection().execute(stmt, rows)
    # The new ones are exactly those carrying this delivery's id: a duplicate kept the delivery it came with.
    return list(session.scalars(select(Mention.id).where(Mention.delivery_id == delivery_id,
                                                         Mention.tagged_at.is_(None))))


def record_brand_replies(session: Session, posts: list[Post], *, now: datetime) -> tuple[int, int]:
    """A brand handle answering a mention is that mention's response, sent at the post's time.

    A reply to a post not stored yet waits (kept, with no mention) until that post arrives; returns
    (replies recorded against a mention, replies waiting for theirs).
    """
    recorded = waiting = 0
    for post in posts:
        if not post.in_reply_to:
            continue  # the brand's own broadcast, not an answer to anyone
        mention = session.scalar(
            select(Mention).where(Mention.network == post.network, Mention.external_id == post.in_reply_to)
        )
        inserted = session.execute(
            _insert(session, Response).on_conflict_do_nothing(index_elements=["network", "external_id"])
            .returning(Response.id)
            .values(mention_id=mention.id if mention else None, in_reply_to=post.in_reply_to, text=post.text,
                    origin="network", network=post.network, external_id=post.external_id,
                    author_handle=post.author_handle, created_at=now, sent_at=post.posted_at or now,
                    delivery_status="sent")
        ).scalar()
        if inserted is None:
            continue  # this reply was recorded by an earlier delivery
        if mention is None:
            waiting += 1
            continue
        recorded += 1
        _answered_on_network(session, mention, post.author_handle, post.posted_at or now, now)
    return recorded, waiting


def attach_waiting_replies(session: Session, mention_ids: list[int], *, now: datetime) -> int:
    """Brand replies that arrived before the posts they answer join those posts now."""
    if not mention_ids:
        return 0
    attached = 0
    for start in range(0, len(mention_ids), 500):
        rows = session.execute(
            select(Response, Mention).join(Mention, (Mention.network == Response.network)
                                           & (Mention.external_id == Response.in_reply_to))
            .where(Response.mention_id.is_(None), Mention.id.in_(mention_ids[start:start + 500]))
            .order_by(Response.sent_at)
        ).all()
        for response, mention in rows:
            response.mention_id = mention.id
            _answered_on_network(session, mention, response.author_handle, response.sent_at or now, now)
            attached += 1
    return attached


def _answered_on_network(session: Session, mention: Mention, handle: str | None, sent_at: datetime,
                         now: datetime) -> None:
    session.refresh(mention, ["status", "first_response_at"])
    before = mention.status
    after = ANSWERED if before in (NEW, OPEN) else before
    first = mention.first_response_at
    session.execute(update(Mention).where(Mention.id == mention.id).values(
        first_response_at=sent_at if first is None or sent_at < first else first, status=after))
    session.add(Event(mention_id=mention.id, action="responded", from_state=before, to_state=after,
                      created_at=now, detail={"origin": "network", "by": handle, "sent_at": sent_at.isoformat()}))
