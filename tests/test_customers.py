"""Linking a person's accounts across networks, so their history follows them."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import make_mention, make_user
from triage.core.errors import Forbidden, Invalid
from triage.models import Author, Customer, Event
from triage.people.customers import accounts, link_account, link_authors, unlink_author
from triage.work import queues


def _dana(db):
    on_x = make_mention(db, network="x", author="dana_x", author_name="Dana Reyes")
    on_bluesky = make_mention(db, text="@northwind still no refund after a week", network="bluesky",
                              author="dana.bsky", author_name="Dana Reyes")
    return on_x, on_bluesky


def test_linking_two_accounts_makes_one_customer_named_after_them(db):
    on_x, on_bluesky = _dana(db)
    agent = make_user(db, "agent")
    customer = link_authors(db, on_x.author_id, on_bluesky.author_id, agent, mention_id=on_x.id)
    db.commit()
    assert customer.display_name == "Dana Reyes"
    assert [(a.network, a.handle) for a in accounts(db, customer.id)] == [("bluesky", "dana.bsky"), ("x", "dana_x")]


def test_linking_writes_an_event_on_the_mention_naming_both_accounts(db):
    on_x, on_bluesky = _dana(db)
    agent = make_user(db, "agent")
    customer = link_authors(db, on_x.author_id, on_bluesky.author_id, agent, mention_id=on_x.id)
    db.commit()
    event = db.scalar(select(Event).where(Event.action == "linked accounts"))
    assert (event.mention_id, event.actor_id) == (on_x.id, agent.id)
    assert (event.from_state, event.to_state) == ("x:dana_x", "bluesky:dana.bsky")
    assert event.detail == {"customer_id": customer.id}


def test_history_follows_the_person_across_networks(db):
    on_x, on_bluesky = _dana(db)
    assert queues.context(db, on_x).history == []  # not linked: nothing known of the other account
    assert [a.handle for a in queues.context(db, on_x).possibly_same] == ["dana.bsky"]
    link_authors(db, on_x.author_id, on_bluesky.author_id, make_user(db, "lead"))
    db.commit()
    seen_from_x = queues.context(db, on_x)
    assert [m.id for m in seen_from_x.history] == [on_bluesky.id]
    assert [a.handle for a in seen_from_x.linked_accounts] == ["dana.bsky"]
    assert seen_from_x.possibly_same == []
    assert [m.id for m in queues.context(db, on_bluesky).history] == [on_x.id]


def test_linking_into_an_existing_customer_folds_the_other_persons_accounts_in(db):
    on_x, on_bluesky = _dana(db)
    on_mastodon = make_mention(db, network="mastodon", author="dana@mastodon.social", author_name="Dana R.")
    on_reddit = make_mention(db, network="reddit", author="danar", author_name="Dana R.")
    agent = make_user(db, "agent")
    first = link_authors(db, on_x.author_id, on_bluesky.author_id, agent)
    second = link_authors(db, on_mastodon.author_id, on_reddit.author_id, agent)
    assert first.id != second.id
    merged = link_authors(db, on_bluesky.author_id, on_reddit.author_id, agent)
    db.commit()
    db.expire_all()
    assert merged.id == first.id
    handles = {a.handle for a in db.scalars(select(Author).where(Author.customer_id == merged.id))}
    assert handles == {"dana_x", "dana.bsky", "dana@mastodon.social", "danar"}


def test_an_account_cannot_be_linked_to_itself(db):
    on_x, _ = _dana(db)
    with pytest.raises(Invalid, match="two different"):
        link_authors(db, on_x.author_id, on_x.author_id, make_user(db, "agent"))


@pytest.mark.parametrize("bad_id", [0, -1, 999_999, 2**40])
def test_an_unknown_or_impossible_account_id_is_refused(db, bad_id):
    on_x, _ = _dana(db)
    with pytest.raises(Invalid, match="two different known accounts"):
        link_authors(db, on_x.author_id, bad_id, make_user(db, "agent"))
    db.rollback()
    assert db.get(Author, on_x.author_id).customer_id is None


@pytest.mark.parametrize("role", ["supervisor"])
def test_only_people_who_work_items_link_accounts(db, role):
    on_x, on_bluesky = _dana(db)
    with pytest.raises(Forbidden, match=f"a {role} cannot link accounts"):
        link_authors(db, on_x.author_id, on_bluesky.author_id, make_user(db, role))


def test_confirming_a_suggested_account_on_a_profile_links_it_to_that_customer(db):
    on_x, on_bluesky = _dana(db)
    on_reddit = make_mention(db, network="reddit", author="danar", author_name="Dana Reyes")
    agent = make_user(db, "agent")
    customer = link_authors(db, on_x.author_id, on_bluesky.author_id, agent)
    assert link_account(db, agent, customer.id, on_reddit.author_id).id == customer.id
    db.commit()
    assert {a.handle for a in accounts(db, customer.id)} == {"dana_x", "dana.bsky", "danar"}


def test_a_customer_known_only_from_records_has_no_account_to_link_to(db):
    customer = Customer(display_name="Known from the CRM")
    db.add(customer)
    on_x, _ = _dana(db)
    with pytest.raises(Invalid, match="no account yet"):
        link_account(db, make_user(db, "agent"), customer.id, on_x.author_id)


def test_unlinking_refuses_an_account_of_another_customer_and_the_operator_is_named(db):
    on_x, on_bluesky = _dana(db)
    customer = link_authors(db, on_x.author_id, on_bluesky.author_id, make_user(db, "agent"))
    with pytest.raises(Invalid, match="not linked to this customer"):
        unlink_author(db, None, on_x.author_id, customer_id=customer.id + 1)
    unlink_author(db, None, on_x.author_id, customer_id=customer.id)
    db.commit()
    event = db.scalar(select(Event).where(Event.action == "unlinked account"))
    assert event.actor_id is None and "operator" in event.reason
    assert [a.handle for a in accounts(db, customer.id)] == ["dana.bsky"]
