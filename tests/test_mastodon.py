"""The Mastodon connector against a fake instance speaking Mastodon's API over real HTTP (tests/fake_mastodon.py)."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.fake_mastodon import TOKEN, FakeMastodon, create_app
from tests.fakenet import serve
from triage.intake.posts import parse_post
from triage.intake.sources import CONNECTORS
from triage.intake.sources.base import OutgoingReply, RateLimited, ReplyRefused, TransientReplyError
from triage.intake.sources.mastodon import CONNECTOR, MAX_POSTS_PER_POLL, counted_length
from triage.intake.sources.results import SourceError


@pytest.fixture
def fake() -> FakeMastodon:
    return FakeMastodon()


@pytest.fixture
def config(fake: FakeMastodon) -> Iterator[dict]:
    with serve(create_app(fake)) as url:
        yield {"instance_url": url, "access_token": TOKEN}


def _mention(fake: FakeMastodon, who: dict, text: str, **kwargs: object) -> dict:
    return fake.status(who, f'<p><span class="h-card"><a href="https://fake.social/@brand">@brand</a></span> '
                            f"{text}</p>", mention_brand=True, **kwargs)


def _reply(mention: dict, text: str = "Sorry about that, we are on it.", reply_id: int = 7) -> OutgoingReply:
    return OutgoingReply(text=text, reply_id=reply_id, external_id=mention["id"], url=mention["url"],
                         author_handle=mention["account"]["acct"],
                         network_data={"visibility": mention["visibility"], "acct": mention["account"]["acct"]})


def test_connector_describes_itself() -> None:
    assert (CONNECTOR.kind, CONNECTOR.network, CONNECTOR.connectable, CONNECTOR.reply_limit) == (
        "mastodon", "mastodon", True, 500)
    assert CONNECTORS["mastodon"] is CONNECTOR  # found by the registry, no list edited
    fields = {f.name: f for f in CONNECTOR.fields}
    assert fields["access_token"].secret and fields["instance_url"].required and not fields["hashtags"].required


def test_verify_names_the_account(fake: FakeMastodon, config: dict) -> None:
    account = CONNECTOR.verify(config)
    host = config["instance_url"].split("//")[1].split(":")[0]
    assert account.handle == f"brand@{host}"
    assert account.display_name == "Brand Support" and account.url == "https://fake.social/@brand"


def test_verify_with_a_bad_token_says_why_without_the_token(config: dict) -> None:
    with pytest.raises(SourceError, match="The access token is invalid") as caught:
        CONNECTOR.verify({**config, "access_token": "wrong-token-123"})
    assert "wrong-token-123" not in str(caught.value)


def test_first_poll_maps_mentions_oldest_first_then_polls_from_the_cursor(fake: FakeMastodon, config: dict) -> None:
    alice = fake.account("alice", "other.social", display_name="Alice A", followers=321)
    bob = fake.account("bob")  # a local account: its acct has no domain
    first = _mention(fake, alice, "my refund is <b>late</b> &amp; nobody answers")
    second = _mention(fake, bob, "thanks!", visibility="unlisted", language="de")
    result = CONNECTOR.fetch(config, {})
    assert [p.external_id for p in result.posts] == [first["id"], second["id"]]
    post = result.posts[0]
    assert post.text == "@brand my refund is late & nobody answers"
    assert (post.author_handle, post.author_name, post.author_followers) == ("alice@other.social", "Alice A", 321)
    assert post.posted_at == datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    assert post.posted_at.tzinfo == UTC
    assert post.url == first["url"] and post.network == "mastodon" and post.in_reply_to is None
    assert post.network_data == {"visibility": "public", "acct": "alice@other.social"}
    assert post.engagement == {"replies": 0, "reposts": 2, "likes": 5}
    host = config["instance_url"].split("//")[1].split(":")[0]
    assert result.posts[1].author_handle == f"bob@{host}" and result.posts[1].language == "de"
    assert result.errors == []

    third = _mention(fake, bob, "one more thing")
    again = CONNECTOR.fetch(config, result.cursor)
    assert [p.external_id for p in again.posts] == [third["id"]]
    assert again.cursor["mentions"] > result.cursor["mentions"]
    assert CONNECTOR.fetch(config, again.cursor).posts == []
    asked = [q for method, path, q in fake.requests if path == "/api/v1/notifications"]
    assert asked[-1]["types[]"] == ["mention"] and asked[-1]["min_id"] == [again.cursor["mentions"]]


def test_emitted_posts_pass_the_door(fake: FakeMastodon, config: dict) -> None:
    _mention(fake, fake.account("carol", "x.example"), "is the app down?", visibility="direct")
    posts = CONNECTOR.fetch(config, {}).posts
    assert posts
    for post in posts:
        assert parse_post(post.to_record()) == post  # network_data and engagement survive too


def test_polls_follow_pages_and_stop_at_the_cap(fake: FakeMastodon, config: dict) -> None:
    dave = fake.account("dave", "big.example")
    _mention(fake, dave, "hello")
    cursor = CONNECTOR.fetch(config, {}).cursor
    burst = [_mention(fake, dave, f"message {n}") for n in range(95)]
    before = len(fake.requests)
    result = CONNECTOR.fetch(config, cursor)
    assert [p.external_id for p in result.posts] == [s["id"] for s in burst]
    pages = [q for _, path, q in fake.requests[before:] if path == "/api/v1/notifications"]
    assert len(pages) == 3  # 40 + 40 + 15, each read forward with min_id from the newest seen

    flood = [_mention(fake, dave, f"flood {n}") for n in range(MAX_POSTS_PER_POLL + 30)]
    capped = CONNECTOR.fetch(config, result.cursor)
    assert [p.external_id for p in capped.posts] == [s["id"] for s in flood[:MAX_POSTS_PER_POLL]]
    rest = CONNECTOR.fetch(config, capped.cursor)
    assert [p.external_id for p in rest.posts] == [s["id"] for s in flood[MAX_POSTS_PER_POLL:]]


def test_hashtags_and_keywords_have_their_own_cursors(fake: FakeMastodon, config: dict) -> None:
    erin = fake.account("erin", "tags.example")
    tagged = fake.status(erin, '<p>loving <a href="#">#Northwind</a> today</p>', tags=("northwind",))
    searched = fake.status(erin, "<p>where is my REFUND</p>")
    fake.status(erin, "<p>unrelated</p>")
    config = {**config, "hashtags": ["#Northwind"], "keywords": "refund"}
    result = CONNECTOR.fetch(config, {})
    assert [p.external_id for p in result.posts] == [tagged["id"], searched["id"]]
    assert result.cursor["tag:northwind"] == tagged["id"] and result.cursor["search:refund"] == searched["id"]
    search = [q for _, path, q in fake.requests if path == "/api/v2/search"][-1]
    assert search["type"] == ["statuses"] and search["q"] == ["refund"]

    newer = fake.status(erin, "<p>refund please</p>", tags=("northwind",))  # both streams: kept once
    again = CONNECTOR.fetch(config, result.cursor)
    assert [p.external_id for p in again.posts] == [newer["id"]]
    search = [q for _, path, q in fake.requests if path == "/api/v2/search"][-1]
    assert search["min_id"] == [searched["id"]]


def test_brand_reply_made_elsewhere_comes_back_with_in_reply_to(fake: FakeMastodon, config: dict) -> None:
    mention = _mention(fake, fake.account("frank", "f.example"), "help")
    cursor = CONNECTOR.fetch(config, {}).cursor
    answer = fake.status(fake.me, "<p>@frank@f.example we replied from the phone app</p>", in_reply_to=mention)
    fake.status(fake.me, "<p>Our spring sale starts today</p>")  # not a reply: not brought in
    result = CONNECTOR.fetch(config, cursor)
    assert [p.external_id for p in result.posts] == [answer["id"]]
    assert result.posts[0].in_reply_to == mention["id"]
    assert result.posts[0].author_handle == CONNECTOR.verify(config).handle


def test_reply_is_threaded_keeps_visibility_and_mentions_the_author(fake: FakeMastodon, config: dict) -> None:
    public = _mention(fake, fake.account("gina", "g.example"), "broken again")
    sent = CONNECTOR.send_reply(config, _reply(public, reply_id=41))
    seen = fake.posted[-1]
    assert sent.external_id == seen["status"]["id"] and sent.url == seen["status"]["url"]
    assert seen["form"]["in_reply_to_id"] == public["id"] and seen["form"]["visibility"] == "public"
    assert seen["form"]["status"] == "@gina@g.example Sorry about that, we are on it."
    assert seen["idempotency_key"] == "triage-41"

    direct = _mention(fake, fake.account("hal"), "my card number leaked", visibility="direct")
    CONNECTOR.send_reply(config, _reply(direct, text="@hal please check your DMs", reply_id=42))
    seen = fake.posted[-1]
    assert seen["form"]["visibility"] == "direct" and seen["form"]["in_reply_to_id"] == direct["id"]
    assert seen["form"]["status"] == "@hal please check your DMs"  # already mentioned: not doubled


def test_a_resent_reply_is_posted_once(fake: FakeMastodon, config: dict) -> None:
    mention = _mention(fake, fake.account("ivy", "i.example"), "hi")
    first = CONNECTOR.send_reply(config, _reply(mention, reply_id=9))
    second = CONNECTOR.send_reply(config, _reply(mention, reply_id=9))
    assert first == second and len([s for s in fake.statuses.values() if s["in_reply_to_id"] == mention["id"]]) == 1


def test_reply_to_a_deleted_post_is_refused(fake: FakeMastodon, config: dict) -> None:
    mention = _mention(fake, fake.account("jo", "j.example"), "hi")
    del fake.statuses[mention["id"]]
    with pytest.raises(ReplyRefused, match="gone"):
        CONNECTOR.send_reply(config, _reply(mention))


def test_too_long_reply_is_refused_naming_the_limit(fake: FakeMastodon, config: dict) -> None:
    mention = _mention(fake, fake.account("kim", "k.example"), "hi")
    with pytest.raises(ReplyRefused, match="500 characters"):
        CONNECTOR.send_reply(config, _reply(mention, text="x" * 496))
    assert fake.posted == []
    # Mastodon counts a link as 23 characters and a remote mention by its name: this one fits.
    assert counted_length("@kim@k.example " + "https://example.com/" + "a" * 600) == 4 + 1 + 23


def test_reply_failures_that_may_pass_are_transient(fake: FakeMastodon, config: dict) -> None:
    mention = _mention(fake, fake.account("lee", "l.example"), "hi")
    fake.fail("/api/v1/statuses", "503")
    with pytest.raises(TransientReplyError, match="503"):
        CONNECTOR.send_reply(config, _reply(mention))
    fake.fail("/api/v1/statuses", "429")
    with pytest.raises(TransientReplyError, match="too many requests"):
        CONNECTOR.send_reply(config, _reply(mention))
    assert CONNECTOR.send_reply(config, _reply(mention)).external_id  # and then it goes through


def test_rate_limit_reports_the_reset_time_and_keeps_the_cursor(fake: FakeMastodon, config: dict) -> None:
    _mention(fake, fake.account("max", "m.example"), "hi")
    cursor = CONNECTOR.fetch(config, {}).cursor
    kept = dict(cursor)
    _mention(fake, fake.account("max", "m.example"), "again")
    fake.fail("/api/v1/notifications", "429")
    with pytest.raises(RateLimited) as caught:
        CONNECTOR.fetch(config, cursor)
    assert abs((caught.value.until - fake.reset_at).total_seconds()) < 2
    assert cursor == kept
    assert len(CONNECTOR.fetch(config, cursor).posts) == 1  # next time, from the same cursor


@pytest.mark.parametrize(("mode", "words"), [("503", "answered 503"), ("malformed", "not JSON")])
def test_server_trouble_is_a_source_error(fake: FakeMastodon, config: dict, mode: str, words: str) -> None:
    fake.fail("/api/v1/notifications", mode)
    with pytest.raises(SourceError, match=words) as caught:
        CONNECTOR.fetch(config, {})
    assert not isinstance(caught.value, RateLimited) and TOKEN not in str(caught.value)


def test_an_instance_that_is_down_is_a_source_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(SourceError, match="could not reach 127.0.0.1"):
        CONNECTOR.fetch({"instance_url": f"http://127.0.0.1:{port}", "access_token": TOKEN}, {})


def test_config_is_checked_before_calling_out() -> None:
    with pytest.raises(SourceError, match="instance_url"):
        CONNECTOR.fetch({"instance_url": "mastodon.social", "access_token": TOKEN}, {})
    with pytest.raises(SourceError, match="access token"):
        CONNECTOR.verify({"instance_url": "https://mastodon.social", "access_token": ""})
