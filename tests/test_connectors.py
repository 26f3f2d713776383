"""The connector registry and what the app does with a connector: poll it, send replies through it, limit replies.

A fake network defined here (a Connector subclass, registered by patching CONNECTORS) says what each test needs:
posts, a rate limit, a failure, a refusal. The real connectors have their own tests against fake servers.
"""
from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import _csrf, record
from tests.factories import make_mention, make_user
from triage.core.errors import Invalid
from triage.intake import sources
from triage.intake.posts import parse_post
from triage.intake.sources.base import (
    Account,
    ConfigField,
    Connector,
    FetchResult,
    OutgoingReply,
    RateLimited,
    ReplyRefused,
    SentReply,
    SourceError,
    TransientReplyError,
)
from triage.models import Event, Mention, Response, Source
from triage.work import outbound, replies
from workers import jobs


class FakeNet(Connector):
    """A network whose every answer the test sets: `posts`, or `fail` raised instead."""

    kind = "fakenet"
    label = "FakeNet"
    network = "fakenet"
    connectable = True
    reply_limit = 40
    min_interval = 30

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fail: Exception | None = None
        self.cursors: list[dict[str, Any]] = []
        self.sent: list[OutgoingReply] = []

    def fetch(self, config: dict[str, Any], cursor: dict[str, Any]) -> FetchResult:
        self.cursors.append(cursor)
        if self.fail is not None:
            raise self.fail
        seen = cursor.get("seen", 0) + len(self.posts)
        return FetchResult([parse_post(r) for r in self.posts], {"seen": seen})

    def send_reply(self, config: dict[str, Any], reply: OutgoingReply) -> SentReply:
        self.sent.append(reply)
        if self.fail is not None:
            raise self.fail
        return SentReply(f"fake-{reply.reply_id}", f"https://fakenet.example/p/fake-{reply.reply_id}")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeNet:
    net = FakeNet()
    monkeypatch.setitem(sources.CONNECTORS, net.kind, net)
    return net


def _source(db: Any, **fields: Any) -> Source:
    source = Source(kind="fakenet", name="FakeNet brand", config={"token": "t0k"}, cursor={"seen": 7},
                    interval_seconds=60, brand_handles=["northwind"], **fields)
    db.add(source)
    db.commit()
    return source


def _fresh(db: Any, source: Source) -> Source:
    db.expire_all()
    found = db.get(Source, source.id)
    assert found is not None
    return found


def test_the_registry_holds_every_module_that_defines_a_connector() -> None:
    package = importlib.import_module("triage.intake.sources")
    modules = [m.name for m in pkgutil.iter_modules(package.__path__)]
    defining = {importlib.import_module(f"triage.intake.sources.{name}").CONNECTOR.kind for name in modules
                if hasattr(importlib.import_module(f"triage.intake.sources.{name}"), "CONNECTOR")}
    assert {"demo", "rss"} <= defining
    assert set(sources.CONNECTORS) == defining
    assert sources.connector("demo") is sources.CONNECTORS["demo"] and sources.connector("import") is None
    assert all(isinstance(c, Connector) and c.kind == k for k, c in sources.CONNECTORS.items())
    assert "demo" not in [c.kind for c in sources.connectable()]  # nobody connects an account to the demo


def test_reply_limits_come_from_the_network_s_connector_else_the_shared_table(fake: FakeNet) -> None:
    assert sources.reply_limit("fakenet") == 40  # imported posts of a connected network too
    assert sources.reply_limit("x", "demo") == 280  # the demo pretends to be other networks
    assert sources.reply_limit("facebook") == 8000 and sources.reply_limit("someforum") == 5000


def test_a_poll_stores_the_posts_and_moves_the_cursor(db, fake: FakeNet) -> None:
    source = _source(db)
    fake.posts = [record(network="fakenet", text=f"@northwind where is my bag {n}") for n in range(3)]
    result = jobs.poll_source(source.id)
    assert result["posts"] == 3 and fake.cursors == [{"seen": 7}]
    assert db.scalar(select(func.count()).select_from(Mention).where(Mention.network == "fakenet")) == 3
    polled = _fresh(db, source)
    assert polled.cursor == {"seen": 10} and polled.last_error is None and polled.last_run_at is not None


def test_a_rate_limit_keeps_the_cursor_and_waits_as_long_as_the_network_says(db, fake: FakeNet) -> None:
    source = _source(db)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=7)
    fake.fail = RateLimited("429 Too Many Requests", until)
    fake.posts = [record(network="fakenet")]
    jobs.poll_source(source.id)
    limited = _fresh(db, source)
    assert limited.cursor == {"seen": 7} and limited.next_poll_at == until
    assert limited.last_error.startswith("rate-limited until ") and limited.last_error.endswith(
        f"{until:%H:%M} (UTC)")  # the date too, were it tomorrow already
    assert db.scalar(select(func.count()).select_from(Mention).where(Mention.network == "fakenet")) == 0
    assert source.id not in jobs.schedule_polls()  # not due before the network's time


def test_a_failing_source_backs_off_doubling_up_to_an_hour_and_recovers(db, fake: FakeNet) -> None:
    source = _source(db)
    fake.fail = SourceError("FakeNet answered 502 Bad Gateway")
    delays = []
    for _ in range(7):
        before = datetime.now(UTC)
        result = jobs.poll_source(source.id)
        failed = _fresh(db, source)
        assert failed.cursor == {"seen": 7} and failed.last_error == "FakeNet answered 502 Bad Gateway"
        assert failed.next_poll_at is not None and failed.last_error_at is not None
        delays.append(result["retry_in"])
        assert failed.next_poll_at >= before + timedelta(seconds=result["retry_in"])
        # As if the retry ran when it was due: the last error happened that long ago.
        failed.last_error_at -= timedelta(seconds=result["retry_in"])
        db.commit()
    assert delays == [120, 240, 480, 960, 1920, 3600, 3600]
    fake.fail = None
    fake.posts = [record(network="fakenet")]
    assert jobs.poll_source(source.id)["posts"] == 1
    recovered = _fresh(db, source)
    assert recovered.last_error is None and recovered.cursor == {"seen": 8}
    fake.fail = SourceError("down again")
    assert jobs.poll_source(source.id)["retry_in"] == 120  # a new run of failures starts over


def _answered(db: Any, text: str = "Sorry! DM us your booking code.") -> tuple[Mention, Response]:
    agent = make_user(db, "agent")
    mention = make_mention(db, "claimed", by=agent, source_name="FakeNet brand", kind="fakenet",
                           network="fakenet", url="https://fakenet.example/p/m1")
    mention.network_data = {"uri": "at://m1", "cid": "c1"}
    db.commit()
    response = replies.reply(db, mention.id, agent, text)
    db.commit()
    return mention, response


def test_a_reply_is_sent_through_the_connector_and_keeps_its_id_and_address(db, fake: FakeNet) -> None:
    mention, response = _answered(db)
    assert outbound.deliver(db, response.id) == "sent"
    db.commit()
    (sent,) = fake.sent
    assert (sent.text, sent.reply_id, sent.external_id, sent.url) == (
        "Sorry! DM us your booking code.", response.id, mention.external_id, "https://fakenet.example/p/m1")
    assert sent.author_handle == mention.author.handle and sent.network_data == {"uri": "at://m1", "cid": "c1"}
    db.refresh(response)
    assert (response.delivery_status, response.external_id, response.url) == (
        "sent", f"fake-{response.id}", f"https://fakenet.example/p/fake-{response.id}")


def test_a_refused_reply_fails_for_good_saying_why_and_can_be_retried_by_hand(db, fake: FakeNet) -> None:
    mention, response = _answered(db)
    fake.fail = ReplyRefused("FakeNet: the post was deleted")
    assert outbound.deliver(db, response.id) == "failed"  # returned, not raised: the job does not retry it
    db.commit()
    db.refresh(response)
    assert (response.delivery_status, response.last_error) == ("failed", "FakeNet: the post was deleted")
    event = db.scalars(select(Event).where(Event.mention_id == mention.id).order_by(Event.id.desc())).first()
    assert (event.action, event.reason, event.detail["refused"]) == ("reply failed",
                                                                    "FakeNet: the post was deleted", True)
    assert outbound.retry(db, mention.id, response.id, make_user(db, "agent")).delivery_status == "pending"


def test_a_transient_failure_is_raised_for_the_job_to_retry_and_then_sent(db, fake: FakeNet) -> None:
    mention, response = _answered(db)
    fake.fail = TransientReplyError("FakeNet: 503 Service Unavailable")
    with pytest.raises(outbound.DeliveryError, match="503"):
        outbound.deliver(db, response.id)
    db.commit()
    db.refresh(response)
    assert (response.delivery_status, response.attempts) == ("failed", 1)
    fake.fail = None
    assert outbound.deliver(db, response.id) == "sent"  # RQ's retry runs the job again
    db.commit()
    assert (db.get(Response, response.id).attempts, len(fake.sent)) == (2, 2)


def test_a_reply_longer_than_the_network_takes_is_refused_before_anything_is_stored(db, fake: FakeNet) -> None:
    agent = make_user(db, "agent")
    mention = make_mention(db, "claimed", by=agent, source_name="FakeNet brand", kind="fakenet", network="fakenet")
    with pytest.raises(Invalid, match="the reply is 41 characters; fakenet allows 40"):
        replies.reply(db, mention.id, agent, "x" * 41)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Response).where(Response.mention_id == mention.id)) == 0
    assert replies.reply(db, mention.id, agent, "x" * 40).text == "x" * 40


def test_a_connector_that_cannot_post_leaves_the_reply_to_post_by_hand(db, fake: FakeNet,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeNet, "reply_limit", None)
    mention, response = _answered(db)
    assert outbound.deliver(db, response.id) == "manual" and fake.sent == []
    db.commit()
    db.refresh(response)
    assert (response.delivery_status, response.url) == ("manual", "https://fakenet.example/p/m1")


class FakeNetAccounts(FakeNet):
    """FakeNet with account settings: a secret token it checks, a server and keywords."""

    fields = (
        ConfigField("server", "Server", kind="url", default="https://fakenet.example", help="Your FakeNet server."),
        ConfigField("token", "Access token", secret=True, help="Settings › Apps › New token."),
        ConfigField("keywords", "Keywords", kind="list", required=False),
    )

    def __init__(self) -> None:
        super().__init__()
        self.verified: list[dict[str, Any]] = []

    def verify(self, config: dict[str, Any]) -> Account:
        self.verified.append(dict(config))
        if config.get("token") != "good-token-123":
            raise SourceError("401 The access token is invalid")
        return Account("northwind@fakenet.example", "Northwind Air", "https://fakenet.example/@northwind")


@pytest.fixture
def fake_accounts(monkeypatch: pytest.MonkeyPatch) -> FakeNetAccounts:
    net = FakeNetAccounts()
    monkeypatch.setitem(sources.CONNECTORS, net.kind, net)
    return net


def _send(client: Any, path: str, page: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": _csrf(client.get(page).get_data(as_text=True)), **data})


def test_a_lead_connects_an_account_on_the_sources_page(client, db, login, fake_accounts: FakeNetAccounts) -> None:
    login("lead")
    listing = client.get("/sources").get_data(as_text=True)
    assert 'href="/sources/connect/fakenet"' in listing and "Connect FakeNet" in listing
    form = client.get("/sources/connect/fakenet").get_data(as_text=True)
    assert 'type="password" name="field-token" value=""' in form and "Settings › Apps › New token." in form
    assert 'value="https://fakenet.example"' in form  # the server's default

    refused = _send(client, "/sources/connect/fakenet", "/sources/connect/fakenet", name="FakeNet brand",
                    interval="300", **{"field-token": "wrong-token-999", "field-server": "https://fakenet.example"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "FakeNet refused the account: 401 The access token is invalid" in page
    assert "wrong-token-999" not in page  # a secret typed is never sent back
    assert db.scalar(select(func.count()).select_from(Source).where(Source.kind == "fakenet")) == 0

    done = _send(client, "/sources/connect/fakenet", "/sources/connect/fakenet", name="FakeNet brand",
                 interval="300", **{"field-token": "good-token-123", "field-server": "https://fakenet.example",
                                    "field-keywords": "northwind, nw air"})
    assert done.status_code == 302
    source = db.scalar(select(Source).where(Source.kind == "fakenet"))
    assert source is not None and source.account["handle"] == "northwind@fakenet.example"
    assert "good-token-123" not in str(source.config) and source.config["keywords"] == ["northwind", "nw air"]
    assert "northwind@fakenet.example" in source.brand_handles
    edit = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Connected as @northwind@fakenet.example" in edit and "good-token-123" not in edit
    assert 'name="field-token" value=""' in edit and 'value="northwind, nw air"' in edit
    assert "@northwind@fakenet.example" in client.get("/sources").get_data(as_text=True)


def test_a_connected_account_keeps_its_secret_when_left_blank_and_can_be_disconnected(
        client, db, login, fake_accounts: FakeNetAccounts) -> None:
    login("lead")
    _send(client, "/sources/connect/fakenet", "/sources/connect/fakenet", name="FakeNet brand", interval="300",
          **{"field-token": "good-token-123", "field-server": "https://fakenet.example"})
    source = db.scalar(select(Source).where(Source.kind == "fakenet"))
    edit = f"/sources/{source.id}/edit"
    saved = _send(client, f"/sources/{source.id}/account", edit,
                  **{"field-token": "", "field-server": "https://other.fakenet.example"})
    assert saved.status_code == 302
    assert fake_accounts.verified[-1] == {"server": "https://other.fakenet.example", "token": "good-token-123"}
    refused = _send(client, f"/sources/{source.id}/account", edit,
                    **{"field-token": "nope-nope-nope", "field-server": "https://fakenet.example"})
    assert refused.status_code == 400 and "access token is invalid" in refused.get_data(as_text=True)
    page = client.get(edit).get_data(as_text=True)
    assert "Disconnect" in page and "confirm(" in page
    gone = _send(client, f"/sources/{source.id}/disconnect", edit)
    assert gone.status_code == 302
    db.expire_all()
    disconnected = db.get(Source, source.id)
    assert disconnected.enabled is False and "token" not in disconnected.config


def test_a_rate_limited_source_says_until_when_and_agents_cannot_connect(client, db, login,
                                                                          fake_accounts: FakeNetAccounts) -> None:
    source = _source(db)
    source.last_error = "rate-limited until 14:05 (UTC)"
    db.commit()
    login("agent")
    assert "rate-limited until 14:05" in client.get("/sources").get_data(as_text=True)
    assert client.get("/sources/connect/fakenet").status_code == 403


def test_a_sent_reply_links_to_itself_on_the_network(client, db, login, fake: FakeNet) -> None:
    mention, response = _answered(db)
    outbound.deliver(db, response.id)
    db.commit()
    login("agent")
    page = client.get(f"/mentions/{mention.id}").get_data(as_text=True)
    assert f'href="https://fakenet.example/p/fake-{response.id}"' in page
