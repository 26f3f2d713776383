"""Connecting a network account in a real browser, per network, against its fake server over real HTTP: a lead
connects it (a wrong secret first), a poll job brings the mentions in, an agent answers one, the reply job posts it
threaded under the mention on the network, and the mention's page links to the reply there."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from tests import fake_bluesky, fake_mastodon, fake_reddit
from tests.fakenet import serve
from tests.test_browser import CHROMIUM, browser, server  # noqa: F401 - fixtures
from tests.test_browser_work import _log_in, _shot
from triage.intake.sources import bluesky
from triage.models import Event, Mention, Queue, Response, Source
from workers import jobs

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's chromium at "
                                "/usr/bin/chromium (apt-get install chromium; .ci/run installs it)")

ANSWER = "So sorry about this! Please send us your order number and we will put it right today."


@dataclass
class Network:
    """One network's fake, what a lead types to connect it, and how to read the reply it received."""
    kind: str
    label: str
    fake: Any
    mentions: list[dict[str, Any]]  # as the fake holds them: complaint, question, praise
    values: dict[str, str]  # the Connect form's fields, right
    wrong: dict[str, str]  # the one typed wrong first
    reason: str  # what the network says to it
    handle: str  # "Connected as @..."
    external_id: Callable[[dict[str, Any]], str] = field(repr=False)
    sent: Callable[[Any, dict[str, Any]], str] = field(repr=False)  # checks the threading, returns the reply's URL


def _mastodon_sent(fake: fake_mastodon.FakeMastodon, mention: dict[str, Any]) -> str:
    [posted] = fake.posted
    assert posted["form"]["in_reply_to_id"] == mention["id"]
    assert posted["form"]["visibility"] == mention["visibility"] == "unlisted"  # kept, not made public
    assert posted["form"]["status"] == f"@{mention['account']['acct']} {ANSWER}"
    return str(posted["status"]["url"])


def _bluesky_sent(fake: fake_bluesky.FakeBluesky, mention: dict[str, Any]) -> str:
    [created] = fake.created
    record = created["record"]
    def ref(strong: dict[str, Any]) -> tuple[str, str]:  # the SDK adds "$type": "com.atproto.repo.strongRef"
        return strong["uri"], strong["cid"]

    root, parent = ref(record["reply"]["root"]), ref(record["reply"]["parent"])
    assert parent == (mention["uri"], mention["cid"])
    assert root == ref(mention["record"]["reply"]["root"]) and root[0] != mention["uri"]  # the thread's first post
    assert ANSWER in record["text"] and created["repo"] == fake.did
    [view] = [v for v in fake.posts.values() if v["author"]["did"] == fake.did and v["record"] == record]
    return f"https://bsky.app/profile/{fake.handle}/post/{view['uri'].rsplit('/', 1)[-1]}"


def _reddit_sent(fake: fake_reddit.FakeReddit, mention: dict[str, Any]) -> str:
    [reply] = fake.replies
    assert reply["thing_id"] == mention["name"] and mention["name"].startswith("t1_")
    assert ANSWER in reply["text"]
    [made] = [c for c in fake.comments if c["author"] == fake.username]
    assert made["parent_id"] == mention["name"]
    return "https://www.reddit.com" + made["permalink"]


def _network(kind: str, stack: ExitStack) -> Network:
    if kind == "mastodon":
        masto = fake_mastodon.FakeMastodon()
        statuses = fake_mastodon.seed_mentions(masto)
        url = stack.enter_context(serve(fake_mastodon.create_app(masto)))
        return Network("mastodon", "Mastodon", masto, statuses, {"instance_url": url, "access_token": masto.token},
                       {"access_token": "not-the-token-4711"}, "The access token is invalid", "brand@127.0.0.1",
                       lambda m: str(m["id"]), _mastodon_sent)
    if kind == "bluesky":
        sky = fake_bluesky.FakeBluesky()
        views = fake_bluesky.seed_mentions(sky)
        url = stack.enter_context(serve(sky.app()))
        return Network("bluesky", "Bluesky", sky, views,
                       {"handle": sky.handle, "app_password": sky.password, "service": url},
                       {"app_password": "wrong-pass-4711"}, "Invalid identifier or password", sky.handle,
                       lambda m: str(m["uri"]), _bluesky_sent)
    red = fake_reddit.FakeReddit()
    comments = fake_reddit.seed_mentions(red)
    url = stack.enter_context(serve(red.app))
    return Network("reddit", "Reddit", red, comments,
                   {"client_id": red.client_id, "client_secret": red.client_secret, "username": red.username,
                    "password": red.password, "oauth_url": url, "reddit_url": url},
                   {"password": "wrong horse 4711"}, "wrong username or password", red.username,
                   lambda m: str(m["name"]), _reddit_sent)


@pytest.fixture(params=["mastodon", "bluesky", "reddit"])
def network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    # Like a fresh process: a Bluesky session kept for an earlier test's fake (on a port reused since) is not met.
    monkeypatch.setattr(bluesky, "_sessions", {})
    with ExitStack() as stack:
        yield _network(request.param, stack)


def _fill(page: Any, values: dict[str, str]) -> None:
    for name, value in values.items():
        page.fill(f"[name='field-{name}']", value)


def test_a_lead_connects_an_account_and_an_agent_answers_a_mention_on_the_network(  # noqa: F811
        server, browser, db, make_user, run_worker, network: Network):  # noqa: F811
    make_user("lee", "lead")
    make_user("alex", "agent")

    # 1. Sources -> Connect <Network>: a wrong secret is refused in the network's words and nothing is saved.
    lead = _log_in(browser, server, "lee")
    lead.goto(f"{server}/sources")
    lead.click(f"a:has-text('Connect {network.label}')")
    lead.wait_for_url(f"{server}/sources/connect/{network.kind}")
    assert lead.locator("h1").inner_text() == f"Connect a {network.label} account"
    _fill(lead, {**network.values, **network.wrong})
    lead.click(f"button:has-text('Connect {network.label}')")
    error = lead.locator(".flash.error").inner_text()
    assert error.count(network.label) == 1 and network.reason in error, error  # the network named once
    wrong_secret = next(iter(network.wrong.values()))
    assert wrong_secret not in lead.content()
    assert db.scalar(select(func.count(Source.id)).where(Source.kind == network.kind)) == 0
    assert db.scalar(select(func.count(Event.id)).where(Event.action == "account connected")) == 0
    # What was typed stays (the secrets are asked again); typed right, the account connects.
    kept = next(k for k in network.values if k not in network.wrong)
    assert lead.input_value(f"[name='field-{kept}']") == network.values[kept]
    _fill(lead, network.values)
    if network.kind == "mastodon":
        _shot(lead, "connect-mastodon-form")
    lead.click(f"button:has-text('Connect {network.label}')")
    flash = lead.locator(".flash").first.inner_text()
    assert flash.startswith(f"Connected as @{network.handle}"), flash
    assert f"Connected as @{network.handle}" in lead.locator("p.account").inner_text()
    db.expire_all()
    source = db.scalar(select(Source).where(Source.kind == network.kind))
    assert source is not None and source.account["handle"] == network.handle
    secret = [v for k, v in network.values.items() if k in ("access_token", "app_password", "client_secret",
                                                              "password")]
    assert secret and not any(s in str(source.config) for s in secret)  # sealed at rest

    # 2. The poll job fetches the mentions and processes their delivery: stored, tagged, queued.
    result = jobs.poll_source(source.id)
    assert result["posts"] == 3 and result["errors"] == 0, result
    db.expire_all()
    stored = {m.external_id: m for m in db.scalars(select(Mention).where(Mention.source_id == source.id))}
    assert set(stored) == {network.external_id(m) for m in network.mentions}
    assert all(m.sentiment and m.tagged_at and m.queue_id for m in stored.values())
    complaint, question, praise = (stored[network.external_id(m)] for m in network.mentions)
    assert (complaint.intent, question.intent, praise.intent) == ("complaint", "question", "advocacy")
    assert complaint.network == network.kind and complaint.network_data
    lead.goto(f"{server}/queues")
    for mention in (complaint, question, praise):
        slug = db.get(Queue, mention.queue_id).slug
        row = lead.locator(f'section[data-queue="{slug}"] li[data-mention="{mention.id}"]')
        assert row.count() == 1, (slug, mention.text)

    # 3. An agent opens the complaint and answers it; the reply job posts it under the mention on the network.
    agent = _log_in(browser, server, "alex")
    agent.goto(f"{server}/mentions/{complaint.id}")
    agent.fill("#reply-text", ANSWER)
    agent.click("button:has-text('Send reply')")
    agent.wait_for_selector(".flash:has-text('Reply saved')")
    run_worker()  # a real RQ worker runs jobs.send_response -> outbound.deliver
    url = network.sent(network.fake, network.mentions[0])
    db.expire_all()
    response = db.scalar(select(Response).where(Response.mention_id == complaint.id))
    assert response is not None and (response.delivery_status, response.url) == ("sent", url)

    # 4. The mention's page shows the reply as sent, linking to it on the network, and the timeline says so.
    agent.reload()
    sent = agent.locator(".responses .sent-reply")
    assert "✓ sent" in agent.locator(".responses").inner_text()
    assert sent.get_attribute("href") == url and f"see the reply on {network.kind.title()}" in sent.inner_text()
    timeline = agent.locator(".timeline .event-reply-sent")
    assert "reply sent" in timeline.inner_text()
    assert timeline.locator("a.timeline-reply").get_attribute("href") == url
    if network.kind == "mastodon":
        _shot(agent, "connect-mastodon-reply-sent")
