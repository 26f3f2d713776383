"""The Bluesky connector against a fake PDS/app view over real HTTP, driven by the real `atproto` SDK."""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fake_bluesky import FakeBluesky
from fakenet import serve

from triage.intake.posts import parse_post
from triage.intake.sources import CONNECTORS, bluesky
from triage.intake.sources.base import OutgoingReply, RateLimited, ReplyRefused, TransientReplyError
from triage.intake.sources.bluesky import CONNECTOR, grapheme_count
from triage.intake.sources.results import SourceError

BRAND = "brand.bsky.social"
PASSWORD = "app-pass-1234"


@pytest.fixture(autouse=True)
def fresh_process_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test starts like a new worker process: a port reused by a later fake must not meet an old session.
    monkeypatch.setattr(bluesky, "_sessions", {})


@pytest.fixture
def fake() -> FakeBluesky:
    return FakeBluesky(handle=BRAND, password=PASSWORD)


@pytest.fixture
def url(fake: FakeBluesky) -> Iterator[str]:
    with serve(fake.app()) as base:
        yield base


def config(url: str, **extra: object) -> dict[str, object]:
    return {"handle": BRAND, "app_password": PASSWORD, "service": url, **extra}


def outgoing(post, text: str = "Sorry to hear that, we are on it.") -> OutgoingReply:
    return OutgoingReply(text=text, reply_id=7, external_id=post.external_id, url=post.url,
                         author_handle=post.author_handle, network_data=dict(post.network_data or {}))


def test_connector_shape() -> None:
    assert CONNECTORS["bluesky"] is CONNECTOR
    assert (CONNECTOR.kind, CONNECTOR.label, CONNECTOR.network) == ("bluesky", "Bluesky", "bluesky")
    assert CONNECTOR.connectable and CONNECTOR.reply_limit == 300 and CONNECTOR.min_interval == 60
    fields = {f.name: f for f in CONNECTOR.fields}
    assert fields["app_password"].secret and not fields["handle"].secret
    assert fields["service"].default == "https://bsky.social" and not fields["service"].required
    assert fields["keywords"].kind == "list" and not fields["keywords"].required


def test_first_poll_maps_mentions_replies_and_quotes_oldest_first(fake: FakeBluesky, url: str) -> None:
    brand_post = fake.post(BRAND, "New routes this summer!")
    mention = fake.notify(fake.post("alice.bsky.social", "@brand.bsky.social my bag never arrived", langs=["en-GB"],
                                    display_name="Alice A.", counts={"likes": 4, "replies": 1}))
    reply = fake.notify(fake.post("bob.bsky.social", "Any to Lisbon?", reply_to=brand_post["uri"]), "reply")
    quote = fake.notify(fake.post("carol.bsky.social", "Finally, look at this"), "quote")
    fake.notify(fake.post("dan.bsky.social", "liked"), "like")

    result = CONNECTOR.fetch(config(url), {})

    assert [p.external_id for p in result.posts] == [mention["uri"], reply["uri"], quote["uri"]]
    assert result.errors == []
    first = result.posts[0]
    rkey = mention["uri"].rsplit("/", 1)[-1]
    assert first.network == "bluesky" and first.text == "@brand.bsky.social my bag never arrived"
    assert (first.author_handle, first.author_name, first.language) == ("alice.bsky.social", "Alice A.", "en-GB")
    assert first.url == f"https://bsky.app/profile/alice.bsky.social/post/{rkey}"
    assert first.posted_at == datetime.fromisoformat(mention["record"]["createdAt"].replace("Z", "+00:00"))
    assert first.posted_at.tzinfo is not None and first.posted_at.utcoffset() == timedelta(0)
    assert first.in_reply_to is None
    assert first.network_data == {"uri": mention["uri"], "cid": mention["cid"],
                                  "root": {"uri": mention["uri"], "cid": mention["cid"]}}
    # Notifications carry no counts: they come from getPosts for the batch.
    assert first.engagement == {"replies": 1, "reposts": 0, "likes": 4, "quotes": 0}
    assert fake.count("app.bsky.feed.getPosts") == 1
    second = result.posts[1]
    assert second.in_reply_to == brand_post["uri"]
    assert second.network_data["root"] == {"uri": brand_post["uri"], "cid": brand_post["cid"]}
    # The notifications were asked for by reason.
    _, args = next(c for c in fake.calls if c[0] == "app.bsky.notification.listNotifications")
    assert sorted(args["reasons"]) == ["mention", "quote", "reply"]


def test_posts_pass_parse_post_round_trip(fake: FakeBluesky, url: str) -> None:
    fake.notify(fake.post("alice.bsky.social", "hello @brand.bsky.social", langs=["de"], counts={"reposts": 2}))
    post = CONNECTOR.fetch(config(url), {}).posts[0]
    again = parse_post(post.to_record())
    assert again == post
    assert again.network_data == post.network_data and again.engagement == {"replies": 0, "reposts": 2, "likes": 0,
                                                                             "quotes": 0}


def test_incremental_poll_returns_only_new_notifications(fake: FakeBluesky, url: str) -> None:
    old = fake.notify(fake.post("alice.bsky.social", "first @brand.bsky.social"))
    first = CONNECTOR.fetch(config(url), {})
    assert [p.external_id for p in first.posts] == [old["uri"]]

    assert CONNECTOR.fetch(config(url), first.cursor).posts == []
    new = fake.notify(fake.post("bob.bsky.social", "second @brand.bsky.social"))
    third = CONNECTOR.fetch(config(url), first.cursor)
    assert [p.external_id for p in third.posts] == [new["uri"]]


def test_pagination_reads_every_page_then_stops_at_what_was_seen(fake: FakeBluesky, url: str) -> None:
    notes = [fake.notify(fake.post(f"user{i}.bsky.social", f"hi @brand.bsky.social #{i}")) for i in range(120)]
    first = CONNECTOR.fetch(config(url), {})
    assert [p.external_id for p in first.posts] == [n["uri"] for n in notes]  # oldest first
    assert fake.count("app.bsky.notification.listNotifications") == 3  # 50 + 50 + 20
    assert fake.count("app.bsky.feed.getPosts") == 5  # counts in batches of 25

    more = [fake.notify(fake.post(f"late{i}.bsky.social", f"late @brand.bsky.social {i}")) for i in range(3)]
    calls = fake.count("app.bsky.notification.listNotifications")
    second = CONNECTOR.fetch(config(url), first.cursor)
    assert [p.external_id for p in second.posts] == [n["uri"] for n in more]
    assert fake.count("app.bsky.notification.listNotifications") == calls + 1  # the first page held the marker


def test_keyword_search_finds_posts_that_do_not_mention_the_account(fake: FakeBluesky, url: str) -> None:
    hit = fake.post("erin.bsky.social", "Brandair lost my luggage again", counts={"likes": 9, "quotes": 1})
    fake.post("frank.bsky.social", "unrelated post")
    first = CONNECTOR.fetch(config(url, keywords=["brandair"]), {})
    assert [p.external_id for p in first.posts] == [hit["uri"]]
    assert first.posts[0].engagement == {"replies": 0, "reposts": 0, "likes": 9, "quotes": 1}
    _, args = next(c for c in fake.calls if c[0] == "app.bsky.feed.searchPosts")
    assert args["q"] == ["brandair"] and args["sort"] == ["latest"] and "since" not in args

    later = fake.post("gina.bsky.social", "brandair, where is my refund?")
    second = CONNECTOR.fetch(config(url, keywords="brandair"), first.cursor)
    assert [p.external_id for p in second.posts] == [later["uri"]]
    _, args = [c for c in fake.calls if c[0] == "app.bsky.feed.searchPosts"][-1]
    assert args["since"] == [first.cursor["search"]["brandair"]["since"]]


def test_a_mention_found_twice_is_returned_once(fake: FakeBluesky, url: str) -> None:
    fake.notify(fake.post("alice.bsky.social", "@brand.bsky.social brandair help"))
    result = CONNECTOR.fetch(config(url, keywords=["brandair"]), {})
    assert len(result.posts) == 1


def test_session_is_reused_across_polls(fake: FakeBluesky, url: str) -> None:
    fake.notify(fake.post("alice.bsky.social", "@brand.bsky.social hi"))
    first = CONNECTOR.fetch(config(url), {})
    second = CONNECTOR.fetch(config(url), first.cursor)
    assert fake.count("com.atproto.server.createSession") == 1
    assert fake.count("com.atproto.server.refreshSession") == 0
    assert "session" in first.cursor and second.cursor["session"] == first.cursor["session"]
    tokens = {token for _, token in fake.bearers}
    assert len(tokens) == 1  # every call of both polls used the one access token


def test_a_session_kept_for_another_account_is_not_used(fake: FakeBluesky, url: str) -> None:
    first = CONNECTOR.fetch(config(url), {})
    CONNECTOR.fetch(config(url, handle=BRAND.upper()), first.cursor)  # handles are case-insensitive
    assert fake.count("com.atproto.server.createSession") == 1
    moved = CONNECTOR.fetch(config(url), {**first.cursor, "account": "someone.else@https://bsky.social"})
    assert fake.count("com.atproto.server.createSession") == 2
    assert moved.cursor["session"] != first.cursor["session"]


def test_a_rotated_app_password_logs_in_with_the_new_one(fake: FakeBluesky, url: str) -> None:
    first = CONNECTOR.fetch(config(url), {})
    fake.password = "rotated-pass-5678"
    fake.revoke_sessions()  # revoking an app password ends the sessions made with it
    CONNECTOR.fetch(config(url, app_password="rotated-pass-5678"), first.cursor)
    assert fake.count("com.atproto.server.createSession") == 2
    with pytest.raises(SourceError, match="Invalid identifier or password"):
        CONNECTOR.fetch(config(url), {})


def test_expiring_access_token_is_refreshed_and_the_new_session_kept(fake: FakeBluesky, url: str) -> None:
    fake.access_ttl, fake.refreshed_ttl = timedelta(seconds=60), timedelta(hours=2)
    first = CONNECTOR.fetch(config(url), {})
    assert fake.count("com.atproto.server.createSession") == 1
    assert fake.count("com.atproto.server.refreshSession") == 1
    refreshed = [token for nsid, token in fake.bearers if nsid == "app.bsky.notification.listNotifications"][-1]
    assert refreshed in first.cursor["session"]

    CONNECTOR.fetch(config(url), first.cursor)
    assert fake.count("com.atproto.server.createSession") == 1
    assert fake.count("com.atproto.server.refreshSession") == 1


def test_dead_refresh_token_logs_in_again(fake: FakeBluesky, url: str) -> None:
    fake.notify(fake.post("alice.bsky.social", "@brand.bsky.social hi"))
    first = CONNECTOR.fetch(config(url), {})
    stale = fake.session_string(url, access_ttl=timedelta(seconds=-60), refresh_valid=False)
    result = CONNECTOR.fetch(config(url), {**first.cursor, "session": stale, "notifications": {}})
    assert fake.count("com.atproto.server.refreshSession") == 1  # tried, refused with ExpiredToken
    assert fake.count("com.atproto.server.createSession") == 2
    assert len(result.posts) == 1 and result.cursor["session"] != stale


def test_an_unreadable_kept_session_logs_in_afresh(fake: FakeBluesky, url: str) -> None:
    first = CONNECTOR.fetch(config(url), {})
    for broken in ("garbage", f"{BRAND}:::{fake.did}:::not-a-jwt:::also-not:::{url}/xrpc"):
        result = CONNECTOR.fetch(config(url), {**first.cursor, "session": broken})
        assert result.cursor["session"] not in (broken, first.cursor["session"])
    assert fake.count("com.atproto.server.createSession") == 3


def test_session_the_server_forgot_logs_in_again(fake: FakeBluesky, url: str) -> None:
    first = CONNECTOR.fetch(config(url), {})
    fake.revoke_sessions()
    fake.notify(fake.post("alice.bsky.social", "@brand.bsky.social still there?"))
    result = CONNECTOR.fetch(config(url), first.cursor)
    assert fake.count("com.atproto.server.createSession") == 2
    assert [p.text for p in result.posts] == ["@brand.bsky.social still there?"]


def test_brand_reply_made_outside_the_app_arrives_with_in_reply_to(fake: FakeBluesky, url: str) -> None:
    mention = fake.notify(fake.post("alice.bsky.social", "@brand.bsky.social where is my bag?"))
    CONNECTOR.fetch(config(url), {})
    answer = fake.post(BRAND, "We found it, it is on the next flight", reply_to=mention["uri"])
    fake.post(BRAND, "A broadcast, not a reply")
    first = CONNECTOR.fetch(config(url), {})
    own = [p for p in first.posts if p.author_handle == BRAND]
    assert [(p.external_id, p.in_reply_to) for p in own] == [(answer["uri"], mention["uri"])]


def test_verify_returns_the_account(fake: FakeBluesky, url: str) -> None:
    account = CONNECTOR.verify(config(url))
    assert account.handle == BRAND and account.display_name == "Brand Support"
    assert account.url == f"https://bsky.app/profile/{BRAND}"


def test_verify_with_a_bad_password_says_why_without_the_password(url: str) -> None:
    with pytest.raises(SourceError) as caught:
        CONNECTOR.verify(config(url, app_password="wrong-secret-pass"))
    message = str(caught.value)
    assert "AuthenticationRequired" in message and "Invalid identifier or password" in message
    assert "wrong-secret-pass" not in message


def test_rate_limit_raises_rate_limited_until_the_reset(fake: FakeBluesky, url: str) -> None:
    reset = int(time.time()) + 240
    fake.fail("app.bsky.notification.listNotifications", 429, "RateLimitExceeded", "Rate Limit Exceeded",
              headers={"RateLimit-Reset": str(reset), "RateLimit-Remaining": "0"})
    with pytest.raises(RateLimited) as caught:
        CONNECTOR.fetch(config(url), {})
    assert caught.value.until == datetime.fromtimestamp(reset, tz=UTC)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_source_errors_in_words(fake: FakeBluesky, url: str, status: int) -> None:
    fake.fail("app.bsky.notification.listNotifications", status, "InternalServerError", "Service unavailable")
    with pytest.raises(SourceError) as caught:
        CONNECTOR.fetch(config(url), {})
    assert not isinstance(caught.value, RateLimited)
    assert f"HTTP {status}" in str(caught.value) and "notifications" in str(caught.value)


def test_malformed_json_is_a_source_error(fake: FakeBluesky, url: str) -> None:
    fake.fail("app.bsky.notification.listNotifications", 200, raw=b'{"notifications": [')
    with pytest.raises(SourceError, match="not the expected JSON"):
        CONNECTOR.fetch(config(url), {})
    fake.fail("app.bsky.notification.listNotifications", 200, raw=b'{"notifications": [{"uri": 5}]}')
    with pytest.raises(SourceError, match="not the expected JSON"):
        CONNECTOR.fetch(config(url), {})


def test_unreachable_service_is_a_source_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceError, match="could not reach Bluesky"):
        CONNECTOR.fetch(config(f"http://127.0.0.1:{port}"), {})


def test_reply_is_threaded_under_the_mention_with_root_and_parent(fake: FakeBluesky, url: str) -> None:
    brand_post = fake.post(BRAND, "Tell us about your trip")
    fake.notify(fake.post("bob.bsky.social", "It was awful", reply_to=brand_post["uri"]), "reply")
    post = CONNECTOR.fetch(config(url), {}).posts[0]

    sent = CONNECTOR.send_reply(config(url), outgoing(post, "So sorry, Bob. See https://example.com/help"))

    body = fake.created[-1]
    assert body["repo"] == fake.did and body["record"]["text"] == "So sorry, Bob. See https://example.com/help"
    refs = body["record"]["reply"]
    assert (refs["parent"]["uri"], refs["parent"]["cid"]) == (post.external_id, post.network_data["cid"])
    assert (refs["root"]["uri"], refs["root"]["cid"]) == (brand_post["uri"], brand_post["cid"])
    assert sent.external_id.startswith(f"at://{fake.did}/app.bsky.feed.post/")
    assert sent.url == f"https://bsky.app/profile/{BRAND}/post/{sent.external_id.rsplit('/', 1)[-1]}"
    assert fake.count("com.atproto.server.createSession") == 1  # the poll's session was reused for the send


def test_reply_to_a_post_stored_without_refs_looks_them_up(fake: FakeBluesky, url: str) -> None:
    root = fake.post("alice.bsky.social", "thread start")
    child = fake.post("bob.bsky.social", "@brand.bsky.social see above", reply_to=root["uri"])
    reply = OutgoingReply(text="On it!", reply_id=1, external_id=child["uri"], url=None,
                          author_handle="bob.bsky.social")
    CONNECTOR.send_reply(config(url), reply)
    refs = fake.created[-1]["record"]["reply"]
    assert refs["root"]["uri"] == root["uri"] and refs["parent"]["cid"] == child["cid"]


def test_reply_to_a_deleted_post_is_refused(fake: FakeBluesky, url: str) -> None:
    fake.notify(fake.post("alice.bsky.social", "@brand.bsky.social gone soon"))
    post = CONNECTOR.fetch(config(url), {}).posts[0]
    fake.delete(post.external_id)
    with pytest.raises(ReplyRefused, match="Could not find reply"):
        CONNECTOR.send_reply(config(url), outgoing(post))
    assert fake.created == []


def test_too_long_reply_is_refused_before_sending(fake: FakeBluesky, url: str) -> None:
    fake.notify(fake.post("alice.bsky.social", "@brand.bsky.social hi"))
    post = CONNECTOR.fetch(config(url), {}).posts[0]
    calls = len(fake.calls)
    with pytest.raises(ReplyRefused, match="300"):
        CONNECTOR.send_reply(config(url), outgoing(post, "x" * 301))
    assert len(fake.calls) == calls
    CONNECTOR.send_reply(config(url), outgoing(post, "é" * 300))  # 300 graphemes is allowed
    assert fake.created[-1]["record"]["text"] == "é" * 300
    with pytest.raises(ReplyRefused, match="300"):
        CONNECTOR.send_reply(config(url), outgoing(post, "e\u0301" * 301))  # 301 graphemes of 2 code points


def test_reply_to_something_that_is_not_a_bluesky_post_is_refused(url: str) -> None:
    reply = OutgoingReply(text="Hi", reply_id=1, external_id="12345", url=None, author_handle="someone")
    with pytest.raises(ReplyRefused, match="not the address of a Bluesky post"):
        CONNECTOR.send_reply(config(url), reply)


@pytest.mark.parametrize("status,error", [(503, "InternalServerError"), (429, "RateLimitExceeded")])
def test_reply_that_may_pass_later_is_transient(fake: FakeBluesky, url: str, status: int, error: str) -> None:
    fake.notify(fake.post("alice.bsky.social", "@brand.bsky.social hi"))
    post = CONNECTOR.fetch(config(url), {}).posts[0]
    fake.fail("com.atproto.repo.createRecord", status, error, "try later")
    with pytest.raises(TransientReplyError, match=str(status)):
        CONNECTOR.send_reply(config(url), outgoing(post))
    CONNECTOR.send_reply(config(url), outgoing(post))  # and it does pass later
    assert len(fake.created) == 1


def test_grapheme_count_approximation() -> None:
    assert grapheme_count("hello") == 5
    assert grapheme_count("e\u0301") == 1  # e + combining acute
    assert grapheme_count("\U0001F1EB\U0001F1F7\U0001F1E9\U0001F1EA") == 2  # two flags
    assert grapheme_count("\U0001F469\u200D\U0001F4BB") == 1  # woman technologist (ZWJ)
    assert grapheme_count("\U0001F44D\U0001F3FD!") == 2  # thumbs up with skin tone, then "!"
    assert grapheme_count("\u2764\ufe0f") == 1


def test_the_session_a_poll_keeps_is_sealed_at_rest_and_reused_by_the_next_worker(
        fake: FakeBluesky, url: str, db, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exported session logs in for weeks: the cursor stores it sealed, and a new process reuses it."""
    import json

    from triage.core.secrets import is_sealed
    from triage.intake import connections
    from triage.models import Mention, Source
    from workers import jobs

    source = connections.connect_account(db, settings, None, "bluesky", "Brand on Bluesky",
                                         {"handle": BRAND, "app_password": PASSWORD, "service": url})
    db.commit()
    fake.notify(fake.post("alice.bsky.social", "@brand.bsky.social my bag never arrived"))
    jobs.poll_source(source.id)
    db.expire_all()
    stored = db.get(Source, source.id)
    assert is_sealed(stored.cursor["session"])
    session_string = bluesky._sessions and next(iter(bluesky._sessions.values()))
    assert session_string and session_string not in json.dumps(stored.cursor)
    assert db.query(Mention).filter_by(source_id=source.id).count() == 1
    from triage.core.secrets import rotate

    assert rotate(db, settings) == 2  # the app password in the config and the session in the cursor
    db.commit()

    logins = fake.count("com.atproto.server.createSession")
    monkeypatch.setattr(bluesky, "_sessions", {})  # a new worker process: only the stored cursor knows the session
    fake.notify(fake.post("bob.bsky.social", "@brand.bsky.social is the Lisbon route back?"))
    jobs.poll_source(source.id)
    db.expire_all()
    assert fake.count("com.atproto.server.createSession") == logins
    assert db.query(Mention).filter_by(source_id=source.id).count() == 2
