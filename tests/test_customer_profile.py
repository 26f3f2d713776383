"""The customer profile: finding a person, everything known of them on one page and through the API, and linking
that stays a person's decision (suggest, confirm, unlink, each audited)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import record
from tests.factories import make_user, queued_mentions
from tests.test_browser import ARGS, ARTIFACTS, CHROMIUM, browser, server  # noqa: F401 - fixtures
from triage.core.errors import Forbidden, Invalid
from triage.db import utcnow
from triage.models import Author, Customer, CustomerRecord, Event, Response
from triage.people import customers as people
from triage.people.accounts import create_token


def _dana(db, *, link: bool = True):
    """Dana on x and bluesky (linked by an agent unless `link` is False), a CRM record, one reply."""
    on_x, on_bluesky = queued_mentions(
        db, record(network="x", author="dana_x", author_name="Dana Reyes", posted_at="2026-11-20T10:00:00Z",
                   text="@northwind my order arrived broken, I want a refund"),
        record(network="bluesky", author="dana.bsky", author_name="Dana Reyes", posted_at="2026-11-21T10:00:00Z",
               text="@northwind still no refund after a week, this is terrible"))
    agent = make_user(db, "agent", "linker-agent")
    customer = people.link_authors(db, on_x.author_id, on_bluesky.author_id, agent) if link else None
    crm = CustomerRecord(system="crm", external_id="C-1001", email="dana@example.com", name="Dana Reyes",
                         handles={"x": "dana_x"}, tier="gold", lifetime_value=1234.5, loyalty_points=4200,
                         orders=17, last_order_at=utcnow() - timedelta(days=3), attributes={"city": "Lisbon"},
                         customer_id=customer.id if customer else None)
    db.add(crm)
    on_x.first_response_at = on_x.posted_at + timedelta(minutes=30)
    db.add(Response(mention_id=on_x.id, text="So sorry, Dana: DM us your order number.", origin="app",
                    network="x", delivery_status="sent", user_id=agent.id,
                    created_at=on_x.posted_at + timedelta(minutes=30)))
    db.commit()
    return customer, on_x, on_bluesky, crm, agent


# Search ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["dana reyes", "DANA", "dana.bsky", "dana_x", "dana@example.com", "example.com",
                                   "C-1001"])
def test_search_finds_the_customer_by_name_handle_email_or_external_id(db, query):
    customer, *_ = _dana(db)
    found, more = people.search(db, query)
    assert [c.id for c in found] == [customer.id] and more is None


def test_search_takes_wildcards_literally_and_a_partial_external_id_finds_nothing(db):
    _dana(db)
    assert people.search(db, "%")[0] == [] and people.search(db, "a_a")[0] == []  # as wildcards, "dana" matched
    assert len(people.search(db, "a_x")[0]) == 1  # the handle dana_x, literally
    assert people.search(db, "C-10")[0] == []


def test_search_pages_fifty_at_a_time_newest_first(db):
    db.add_all([Customer(display_name=f"Shopper {i}") for i in range(people.PAGE + 3)])
    db.commit()
    first, cursor = people.search(db, "shopper")
    assert len(first) == people.PAGE and cursor == first[-1].id
    assert [c.id for c in first] == sorted((c.id for c in first), reverse=True)
    rest, end = people.search(db, "shopper", before=cursor)
    assert len(rest) == 3 and end is None and not {c.id for c in rest} & {c.id for c in first}


def test_the_search_page_lists_matches_and_says_what_to_try_when_none(client, db, login):
    customer, *_ = _dana(db)
    login("supervisor")
    html = client.get("/customers?q=dana").get_data(as_text=True)
    assert f'href="/customers/{customer.id}"' in html and "C-1001" in html
    empty = client.get("/customers?q=nobody-like-this")
    assert empty.status_code == 200 and "Nobody matches" in empty.get_data(as_text=True)
    assert client.get("/customers?before=abc").status_code == 400


# The profile -------------------------------------------------------------------------------------------------------

def test_the_profile_shows_accounts_with_their_linker_facts_chart_open_items_and_first_responses(client, db, login):
    customer, on_x, on_bluesky, _, agent = _dana(db)
    login("supervisor")
    response = client.get(f"/customers/{customer.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "@dana_x" in html and "@dana.bsky" in html and f"linked by {agent.display_name}" in html
    for fact in ("gold", "1,234.50", "4,200", "17", "Lisbon", "crm · C-1001"):
        assert fact in html, fact
    assert html.count('<svg class="chart') >= 2 and "Sentiment by month" in html and "Intent by month" in html
    open_part = html.split('id="open-items"')[1].split("</section>")[0]
    assert f"/mentions/{on_bluesky.id}" in open_part
    assert "Median time to first response: <strong>30 min</strong>" in html
    assert "So sorry, Dana" in html  # the reply is on the timeline


def test_an_item_of_a_linked_author_links_to_the_profile(client, db, login):
    customer, on_x, *_ = _dana(db)
    login("agent")
    html = client.get(f"/mentions/{on_x.id}").get_data(as_text=True)
    assert f'href="/customers/{customer.id}">Profile</a>' in html


def test_the_timeline_reads_pages_newest_first_mentions_and_replies_together(db):
    customer, on_x, on_bluesky, *_ = _dana(db)
    more = queued_mentions(db, *[record(network="x", author="dana_x", author_name="Dana Reyes",
                                        posted_at=f"2026-11-22T10:{i:02d}:00Z") for i in range(5)])
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = people.timeline(db, customer.id, after=people.parse_cursor(cursor) if cursor else None,
                                       size=3)
        assert len(page) <= 3
        seen += page
        pages += 1
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 8  # 7 mentions and 1 reply, each once
    assert [(e.kind, e.id) for e in seen][-3:] == [("mention", on_bluesky.id), ("reply", seen[-2].id),
                                                   ("mention", on_x.id)]
    assert seen[0].mention.id == more[-1].id
    assert [e.at for e in seen] == sorted((e.at for e in seen), reverse=True)


def test_the_profile_page_shows_fifty_entries_and_a_link_to_older_ones(client, db, login):
    customer, *_ = _dana(db)
    queued_mentions(db, *[record(network="x", author="dana_x", author_name="Dana Reyes",
                                 posted_at=f"2026-11-25T{i // 60:02d}:{i % 60:02d}:00Z") for i in range(55)])
    login("agent")
    html = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    timeline = html.split('id="timeline"')[1].split("</section>")[0]
    assert timeline.count("<li class=\"entry-") == people.PAGE and "Older →" in timeline
    older = timeline.split("Older →")[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    rest = client.get(older).get_data(as_text=True).split('id="timeline"')[1].split("</section>")[0]
    assert rest.count("<li class=\"entry-") == 58 - people.PAGE and "Older →" not in rest
    assert client.get(f"/customers/{customer.id}?after=nonsense").status_code == 400
    assert client.get("/customers/999999").status_code == 404


# Linking stays deliberate ------------------------------------------------------------------------------------------

def test_suggestions_name_same_name_email_and_handle_matches_and_nothing_links_until_confirmed(client, db, login):
    customer, *_ = _dana(db)
    lookalike = queued_mentions(db, record(network="mastodon", author="dana@social.example",
                                           author_name="Dana Reyes"))[0].author
    by_email = CustomerRecord(system="loyalty", external_id="L-9", email="DANA@example.com")
    by_handle = CustomerRecord(system="shop", external_id="S-3", handles={"bluesky": "dana.bsky"})
    stranger = CustomerRecord(system="shop", external_id="S-4", email="someone@else.example")
    db.add_all([by_email, by_handle, stranger])
    db.commit()
    authors, records = people.suggestions(db, customer)
    assert [a.id for a in authors] == [lookalike.id]
    assert {r.external_id for r in records} == {"L-9", "S-3"}
    assert db.get(Author, lookalike.id).customer_id is None and by_email.customer_id is None
    login("agent")
    html = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert "Link @dana@social.example" in html and "Link record L-9" in html
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(f"/customers/{customer.id}/link-account", data={"csrf_token": token, "author_id": lookalike.id})
    client.post(f"/customers/{customer.id}/link-record", data={"csrf_token": token, "record_id": by_email.id})
    db.expire_all()
    assert db.get(Author, lookalike.id).customer_id == customer.id
    assert db.get(CustomerRecord, by_email.id).customer_id == customer.id
    event = db.scalar(select(Event).where(Event.action == "linked record"))
    assert event.from_state == "loyalty:L-9" and event.detail["customer_id"] == customer.id


def test_unlinking_an_account_is_audited_and_it_stands_alone(db):
    customer, on_x, *_ = _dana(db)
    lead = make_user(db, "lead")
    people.unlink_author(db, lead, on_x.author_id, customer_id=customer.id)
    db.commit()
    assert db.get(Author, on_x.author_id).customer_id is None
    assert [a.handle for a in people.accounts(db, customer.id)] == ["dana.bsky"]
    event = db.scalar(select(Event).where(Event.action == "unlinked account"))
    assert (event.actor_id, event.from_state, event.detail["customer_id"]) == (lead.id, "x:dana_x", customer.id)
    with pytest.raises(Invalid, match="not linked to anyone"):
        people.unlink_author(db, lead, on_x.author_id)


def test_a_record_cannot_be_linked_twice_nor_an_unknown_one(db):
    customer, _, _, crm, agent = _dana(db)
    with pytest.raises(Invalid, match="already this customer's"):
        people.link_record(db, agent, crm.id, customer.id)
    with pytest.raises(Invalid, match="known record"):
        people.link_record(db, agent, 2**40, customer.id)


@pytest.mark.parametrize("action", ["link_record", "unlink_author", "link_account"])
def test_supervisors_read_profiles_but_do_not_link_or_unlink(db, action):
    customer, on_x, _, crm, _ = _dana(db)
    supervisor = make_user(db, "supervisor")
    calls = {"link_record": lambda: people.link_record(db, supervisor, crm.id, customer.id),
             "unlink_author": lambda: people.unlink_author(db, supervisor, on_x.author_id),
             "link_account": lambda: people.link_account(db, supervisor, customer.id, on_x.author_id)}
    with pytest.raises(Forbidden, match="a supervisor cannot"):
        calls[action]()


# The API -----------------------------------------------------------------------------------------------------------

def test_the_api_finds_customers_and_reads_a_profile(client, db):
    customer, on_x, on_bluesky, _, agent = _dana(db)
    headers = {"Authorization": f"Bearer {create_token(db, agent.username, 'profile')}"}
    db.commit()
    found = client.get("/api/v1/customers?q=C-1001", headers=headers).get_json()
    assert [c["id"] for c in found["customers"]] == [customer.id] and found["next_before"] is None
    assert {a["handle"] for a in found["customers"][0]["accounts"]} == {"dana_x", "dana.bsky"}
    body = client.get(f"/api/v1/customers/{customer.id}", headers=headers).get_json()
    assert body["counts"] == {"mentions": 2, "open": 2, "replies": 1}
    assert {a["linked_by"] for a in body["accounts"]} == {agent.username}
    assert body["records"][0]["tier"] == "gold" and body["records"][0]["loyalty_points"] == 4200
    assert [m["id"] for m in body["mentions"]] == [on_bluesky.id, on_x.id]
    assert body["first_response_median_seconds"] == 1800
    assert client.get("/api/v1/customers/999999", headers=headers).status_code == 404
    assert client.get("/api/v1/customers?before=x", headers=headers).status_code == 400
    assert client.get("/api/v1/customers").status_code == 401


# In a browser ------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium")
def test_from_an_item_to_the_profile_and_a_confirmed_link_in_a_browser(server, browser, db):  # noqa: F811
    customer, on_x, *_ = _dana(db)
    queued_mentions(db, record(network="mastodon", author="dana@social.example", author_name="Dana Reyes"))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server}/mentions/{on_x.id}")
    page.fill("input[name=username]", "linker-agent")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.goto(f"{server}/mentions/{on_x.id}")
    page.click("a.profile-link")
    page.wait_for_url(f"{server}/customers/{customer.id}")
    assert page.locator("#charts svg.chart").count() == 2
    assert "linked by Linker-Agent" in page.inner_text("#accounts")
    assert "gold" in page.inner_text("#facts")
    page.click("#suggestions button:has-text('Link @dana@social.example')")
    page.wait_for_selector(".flash:has-text('Linked')")
    assert "@dana@social.example" in page.inner_text("#accounts")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "customer-profile.png"), full_page=True)
