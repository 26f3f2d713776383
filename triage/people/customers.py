"""One person across networks: linking their accounts so their history follows them."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triage.core.errors import Invalid
from triage.core.roles import WORKERS, require
from triage.db import MAX_ROW_ID, utcnow
from triage.models import Author, Customer, Event, User


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
