"""One person across networks: linking their accounts (and what the brand's systems know of them) so their history
follows them. Linking is always a person's decision: `suggestions` only proposes, a worker confirms.

Reads here are bounded: search and the timeline read one page (keyset), the charts aggregate in the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, select, true, update
from sqlalchemy.orm import Session, selectinload

from triage.core.audit import record
from triage.core.errors import Invalid, NotFound
from triage.core.roles import WORKERS, require
from triage.core.vocabulary import CLOSED
from triage.db import MAX_ROW_ID, utcnow
from triage.models import Author, Customer, CustomerRecord, Event, Mention, Response, User

PAGE = 50  # customers per search page, timeline entries per page
MAX_QUERY = 200  # characters of a search
OPEN_LIMIT = 50  # open items shown on a profile
ANSWERED_LIMIT = 200  # answered mentions the first-response median is taken over (the most recent)
SUGGESTION_LIMIT = 10


def link_authors(session: Session, author_id: int, other_id: int, user: User, *,
                 mention_id: int | None = None) -> Customer:
    """Record that two network accounts are the same person (merging what was known of each)."""
    require(user, WORKERS, "link accounts")
    # Out-of-range ids are refused before the database sees them (PostgreSQL rejects them as integers).
    first, second = (session.get(Author, i) if 0 < i <= MAX_ROW_ID else None for i in (author_id, other_id))
    if first is None or second is None or first.id == second.id:
        raise Invalid("choose two different known accounts")
    customer = first.customer or second.customer
    if customer is None:
        customer = Customer(display_name=first.display_name or second.display_name or first.handle)
        session.add(customer)
        session.flush()
    for author in (first, second):
        if author.customer_id and author.customer_id != customer.id:
            # Fold the other person record into this one: everyone linked to it comes along.
            session.execute(update(Author).where(Author.customer_id == author.customer_id)
                            .values(customer_id=customer.id))
        author.customer_id = customer.id
    session.add(Event(mention_id=mention_id, actor_id=user.id, action="linked accounts",
                      from_state=f"{first.network}:{first.handle}", to_state=f"{second.network}:{second.handle}",
                      created_at=utcnow(), detail={"customer_id": customer.id}))
    return customer


def accounts(session: Session, customer_id: int) -> list[Author]:
    """Every network account linked to one person, by network."""
    return list(session.scalars(select(Author).where(Author.customer_id == customer_id).order_by(Author.network)))


def get(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id) if 0 < customer_id <= MAX_ROW_ID else None
    if customer is None:
        raise NotFound(f"there is no customer {customer_id}")
    return customer


def link_account(session: Session, user: User, customer_id: int, author_id: int) -> Customer:
    """Confirm that account `author_id` is this customer (`link_authors` with one of theirs)."""
    require(user, WORKERS, "link accounts")
    linked = accounts(session, get(session, customer_id).id)
    if not linked:
        raise Invalid("this customer has no account yet to link another to")
    return link_authors(session, linked[0].id, author_id, user)


def link_record(session: Session, user: User | None, record_id: int, customer_id: int) -> CustomerRecord:
    """Confirm that what another system knows (`record_id`) is this customer's."""
    require(user, WORKERS, "link records")
    row = session.get(CustomerRecord, record_id) if 0 < record_id <= MAX_ROW_ID else None
    if row is None:
        raise Invalid("choose a known record")
    customer = get(session, customer_id)
    if row.customer_id == customer.id:
        raise Invalid(f"the {row.system} record {row.external_id} is already this customer's")
    before = row.customer_id
    row.customer_id = customer.id
    event = record(session, user, "linked record", f"{row.system} record {row.external_id} linked to customer "
                   f"{customer.id}", customer_id=customer.id, record_id=row.id, previous_customer_id=before)
    event.from_state, event.to_state = f"{row.system}:{row.external_id}"[:200], f"customer:{customer.id}"
    return row


def unlink_author(session: Session, user: User | None, author_id: int, *, customer_id: int | None = None) -> Author:
    """Take one account off its customer (`customer_id`, when the caller names it): it stands alone again (no
    customer) until someone links it."""
    require(user, WORKERS, "unlink accounts")
    author = session.get(Author, author_id) if 0 < author_id <= MAX_ROW_ID else None
    if author is None:
        raise Invalid("choose a known account")
    if author.customer_id is None:
        raise Invalid(f"@{author.handle} on {author.network} is not linked to anyone")
    if customer_id is not None and author.customer_id != customer_id:
        raise Invalid(f"@{author.handle} on {author.network} is not linked to this customer")
    customer_id, author.customer_id = author.customer_id, None
    event = record(session, user, "unlinked account", f"{author.network}:{author.handle} unlinked from customer "
                   f"{customer_id}", customer_id=customer_id, author_id=author.id)
    event.from_state, event.to_state = f"{author.network}:{author.handle}"[:200], f"customer:{customer_id}"
    return author


# Search ------------------------------------------------------------------------------------------------------------

def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(session: Session, query: str, *, before: int | None = None) -> tuple[list[Customer], int | None]:
    """Customers whose name, a linked account's handle, or a record's e-mail or external id matches, newest first;
    one page (`PAGE`) below the id `before`, and the cursor of the next page (None: this is the last)."""
    q = query.strip()[:MAX_QUERY]
    stmt = select(Customer).options(selectinload(Customer.authors), selectinload(Customer.records))
    if q:
        pattern = _like(q.lower())
        by_handle = select(Author.customer_id).where(func.lower(Author.handle).like(pattern, escape="\\"))
        by_record = select(CustomerRecord.customer_id).where(or_(
            func.lower(CustomerRecord.email).like(pattern, escape="\\"), CustomerRecord.external_id == q))
        stmt = stmt.where(or_(func.lower(Customer.display_name).like(pattern, escape="\\"),
                              Customer.id.in_(by_handle), Customer.id.in_(by_record)))
    if before is not None:
        stmt = stmt.where(Customer.id < before)
    rows = list(session.scalars(stmt.order_by(Customer.id.desc()).limit(PAGE + 1)))
    return rows[:PAGE], (rows[PAGE - 1].id if len(rows) > PAGE else None)


# The profile -------------------------------------------------------------------------------------------------------

def _mentions_of(customer_id: int) -> Select[Any]:
    return select(Mention.id).join(Author, Author.id == Mention.author_id).where(Author.customer_id == customer_id)


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: a mention the person wrote, or a reply to one."""

    kind: str  # "mention" or "reply" (a reply sorts after a mention at the same moment)
    at: datetime
    id: int
    mention: Mention
    response: Response | None = None

    @property
    def cursor(self) -> str:
        return f"{self.at.isoformat()}|{self.kind}|{self.id}"


KIND_RANK = {"mention": 0, "reply": 1}


def parse_cursor(raw: str) -> tuple[datetime, str, int] | None:
    """A timeline cursor (`Entry.cursor`); None for what is not one."""
    at, _, rest = raw.partition("|")
    kind, _, row_id = rest.partition("|")
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        return None
    if kind not in KIND_RANK or not (row_id.isascii() and row_id.isdigit() and 0 < int(row_id) <= MAX_ROW_ID):
        return None
    return when, kind, int(row_id)


def _older(when: Any, row_id: Any, kind: str, cursor: tuple[datetime, str, int] | None) -> ColumnElement[bool]:
    """Rows of `kind` that come after `cursor` in newest-first (time, kind, id) order."""
    if cursor is None:
        return true()
    at, cursor_kind, cursor_id = cursor
    rank, cursor_rank = KIND_RANK[kind], KIND_RANK[cursor_kind]
    same_moment = (row_id < cursor_id) if rank == cursor_rank else (true() if rank < cursor_rank else false())
    return or_(when < at, and_(when == at, same_moment))


def timeline(session: Session, customer_id: int, *, after: tuple[datetime, str, int] | None = None,
             size: int = PAGE) -> tuple[list[Entry], str | None]:
    """One page of everything the person wrote and everything we answered, newest first, and the next cursor."""
    mentions = session.scalars(
        select(Mention).where(Mention.id.in_(_mentions_of(customer_id)),
                              _older(Mention.posted_at, Mention.id, "mention", after))
        .order_by(Mention.posted_at.desc(), Mention.id.desc()).limit(size + 1))
    replies = session.execute(
        select(Response, Mention).join(Mention, Mention.id == Response.mention_id)
        .where(Response.mention_id.in_(_mentions_of(customer_id)),
               _older(Response.created_at, Response.id, "reply", after))
        .order_by(Response.created_at.desc(), Response.id.desc()).limit(size + 1))
    entries = [Entry("mention", m.posted_at, m.id, m) for m in mentions]
    entries += [Entry("reply", r.created_at, r.id, m, r) for r, m in replies]
    entries.sort(key=lambda e: (e.at, KIND_RANK[e.kind], e.id), reverse=True)
    page = entries[:size]
    return page, (page[-1].cursor if len(entries) > size else None)


def recent_mentions(session: Session, customer_id: int, limit: int = PAGE) -> list[Mention]:
    return list(session.scalars(select(Mention).where(Mention.id.in_(_mentions_of(customer_id)))
                                .order_by(Mention.posted_at.desc(), Mention.id.desc()).limit(limit)))


def counts(session: Session, customer_id: int) -> dict[str, int]:
    ids = _mentions_of(customer_id)
    return {
        "mentions": session.scalar(select(func.count()).select_from(ids.subquery())) or 0,
        "open": session.scalar(select(func.count()).where(Mention.id.in_(ids), Mention.status.not_in(CLOSED))) or 0,
        "replies": session.scalar(select(func.count()).where(Response.mention_id.in_(ids))) or 0,
    }


def open_items(session: Session, customer_id: int) -> list[Mention]:
    return list(session.scalars(select(Mention).where(Mention.id.in_(_mentions_of(customer_id)),
                                                      Mention.status.not_in(CLOSED))
                                .order_by(Mention.posted_at.desc(), Mention.id.desc()).limit(OPEN_LIMIT)))


def first_responses(session: Session, customer_id: int) -> tuple[list[tuple[Mention, float]], float | None]:
    """The most recent answered mentions with the seconds to their first response, and the median of those."""
    rows = list(session.scalars(select(Mention).where(Mention.id.in_(_mentions_of(customer_id)),
                                                      Mention.first_response_at.is_not(None))
                                .order_by(Mention.posted_at.desc(), Mention.id.desc()).limit(ANSWERED_LIMIT)))
    pairs = [(m, max((m.first_response_at - m.posted_at).total_seconds(), 0.0)) for m in rows
             if m.first_response_at is not None]
    ordered = sorted(s for _, s in pairs)
    if not ordered:
        return pairs, None
    half = len(ordered) // 2
    return pairs, ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def monthly(session: Session, customer_id: int, column: str, months: list[datetime]) -> dict[str, list[int]]:
    """Counts of the person's mentions per value of `column` ("sentiment" or "intent") in each month starting at
    `months` (ascending; the last runs on), aggregated by the database."""
    value = getattr(Mention, column)
    if not months:
        return {}
    bucket = case(*[(Mention.posted_at >= start, index) for index, start in reversed(list(enumerate(months)))],
                  else_=-1)
    rows = session.execute(select(bucket, value, func.count()).where(Mention.id.in_(_mentions_of(customer_id)))
                           .group_by(bucket, value))
    out: dict[str, list[int]] = {}
    for index, name, n in rows:
        if index >= 0:
            out.setdefault(name or "none", [0] * len(months))[index] += n
    return out


def linkers(session: Session, authors: list[Author]) -> dict[int, Event]:
    """For each account, the latest "linked accounts" event that names it: who linked it, and when."""
    keys = {f"{a.network}:{a.handle}": a.id for a in authors}
    if not keys:
        return {}
    events = session.scalars(select(Event).where(Event.action == "linked accounts",
                                                 or_(Event.from_state.in_(keys), Event.to_state.in_(keys)))
                             .order_by(Event.created_at, Event.id))
    found: dict[int, Event] = {}
    for event in events:
        for key in (event.from_state, event.to_state):
            if key in keys:
                found[keys[key]] = event
    return found


def suggestions(session: Session, customer: Customer) -> tuple[list[Author], list[CustomerRecord]]:
    """Accounts and records that may be this person (same name, same e-mail, or a record naming one of their
    handles), not yet linked to them. Only suggestions: a person confirms each."""
    linked = accounts(session, customer.id)
    names = {n.lower() for n in [customer.display_name, *(a.display_name for a in linked)] if n}
    records = list(customer.records)
    emails = {r.email.lower() for r in records if r.email}
    handles = {(network, str(handle)) for r in records for network, handle in (r.handles or {}).items()}
    author_match: list[ColumnElement[bool]] = [func.lower(Author.display_name).in_(names)] if names else []
    author_match += [and_(Author.network == n, Author.handle == h) for n, h in sorted(handles)][:50]
    authors = list(session.scalars(select(Author).where(
        or_(*author_match), or_(Author.customer_id.is_(None), Author.customer_id != customer.id))
        .order_by(Author.id).limit(SUGGESTION_LIMIT))) if author_match else []
    record_match: list[ColumnElement[bool]] = [func.lower(CustomerRecord.name).in_(names)] if names else []
    record_match += [func.lower(CustomerRecord.email).in_(emails)] if emails else []
    record_match += [CustomerRecord.handles[a.network].as_string() == a.handle for a in linked[:50]]
    found = list(session.scalars(select(CustomerRecord).where(
        or_(*record_match), or_(CustomerRecord.customer_id.is_(None), CustomerRecord.customer_id != customer.id))
        .order_by(CustomerRecord.id).limit(SUGGESTION_LIMIT))) if record_match else []
    return authors, found
