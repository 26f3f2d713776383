"""The Reddit connector through praw against a fake Reddit on a real local HTTP server (tests/fake_reddit.py)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fake_reddit import EPOCH, FakeReddit
from tests.fakenet import serve
from triage.intake.posts import Post, parse_post
from triage.intake.sources import connector, reply_limit
from triage.intake.sources.base import OutgoingReply, RateLimited, ReplyRefused, TransientReplyError
from triage.intake.sources.reddit import CONNECTOR
from triage.intake.sources.results import SourceError


@pytest.fixture
def fake() -> FakeReddit:
    return FakeReddit()


@pytest.fixture
def config(fake: FakeReddit) -> Iterator[dict[str, Any]]:
    with serve(fake.app) as base:
        yield {"client_id": "app-id", "client_secret": "app-secret", "username": "AcmeSupport",
               "password": "right horse", "oauth_url": base, "reddit_url": base}


def reply_to(post: Post, text: str = "Sorry about that! We have sent a replacement.") -> OutgoingReply:
    return OutgoingReply(text=text, reply_id=7, external_id=post.external_id, url=post.url,
                         author_handle=post.author_handle, network_data=post.network_data or {})


def paths(fake: FakeReddit) -> list[str]:
    return [path for _, path, _ in fake.requests]


def test_the_connector_describes_reddit() -> None:
    assert (CONNECTOR.kind, CONNECTOR.label, CONNECTOR.network) == ("reddit", "Reddit", "reddit")
    assert CONNECTOR.connectable and CONNECTOR.reply_limit == 10_000 and CONNECTOR.min_interval == 60
    secret = {f.name for f in CONNECTOR.fields if f.secret}
    assert secret == {"client_secret", "password"}
    optional = {f.name: f.default for f in CONNECTOR.fields if not f.required}
    assert optional == {"subreddits": None, "keywords": None, "oauth_url": "https://oauth.reddit.com",
                        "reddit_url": "https://www.reddit.com"}
    assert connector("reddit") is CONNECTOR and reply_limit("reddit", "reddit") == 10_000


def test_verify_names_the_signed_in_account(fake: FakeReddit, config: dict[str, Any]) -> None:
    account = CONNECTOR.verify(config)
    assert account.handle == "AcmeSupport"
    assert account.display_name == "Acme Support"
    assert account.url == "https://www.reddit.com/user/AcmeSupport"
    token = next(form for method, path, form in fake.requests if path == "/api/v1/access_token")
    assert token == {"grant_type": "password", "username": "AcmeSupport"}


def test_a_wrong_password_is_refused_in_words_without_the_secret(config: dict[str, Any]) -> None:
    with pytest.raises(SourceError, match="wrong username or password") as caught:
        CONNECTOR.verify({**config, "password": "wrong horse"})
    assert "horse" not in str(caught.value) and "app-secret" not in str(caught.value)


def test_a_wrong_client_secret_is_refused(config: dict[str, Any]) -> None:
    with pytest.raises(SourceError, match="client id or secret") as caught:
        CONNECTOR.verify({**config, "client_secret": "guessed-secret"})
    assert "guessed-secret" not in str(caught.value)


def test_a_missing_setting_is_named(config: dict[str, Any]) -> None:
    with pytest.raises(SourceError, match="'password' is missing"):
        CONNECTOR.verify({**config, "password": " "})


def test_first_poll_reads_mentions_oldest_first(fake: FakeReddit, config: dict[str, Any]) -> None:
    first = fake.add_comment("u/AcmeSupport my kettle broke", author="Kettle_Fan", at=10, score=3, mention=True)
    fake.add_comment("hey u/AcmeSupport, where is my order?", author="waiting", subreddit="shipping", at=20,
                     mention=True)
    result = CONNECTOR.fetch(config, {})
    assert [p.text for p in result.posts] == ["u/AcmeSupport my kettle broke",
                                              "hey u/AcmeSupport, where is my order?"]
    post = result.posts[0]
    assert post.external_id == first["name"] and post.external_id.startswith("t1_")
    assert post.network == "reddit" and post.author_handle == "kettle_fan" and post.language is None
    assert post.posted_at == datetime.fromtimestamp(EPOCH + 10, UTC)
    assert post.url == f"https://www.reddit.com/r/gadgets/comments/{first['link_id'][3:]}/a_thread/{first['id']}/"
    assert post.in_reply_to == first["parent_id"]
    assert post.network_data == {"fullname": first["name"], "kind": "comment", "subreddit": "gadgets"}
    assert post.engagement == {"score": 3}
    assert result.cursor["mentions"]["newest"] == result.posts[-1].external_id
    assert result.errors == []
    # The one door: what the connector hands over survives a round trip through parse_post unchanged.
    assert [parse_post(p.to_record()) for p in result.posts] == result.posts


def test_later_polls_return_only_new_mentions(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.add_comment("u/AcmeSupport first", at=10, mention=True)
    cursor = CONNECTOR.fetch(config, {}).cursor
    again = CONNECTOR.fetch(config, cursor)
    assert again.posts == [] and again.cursor["mentions"] == cursor["mentions"]
    fake.add_comment("u/AcmeSupport second", at=20, mention=True)
    fake.add_comment("u/AcmeSupport third", at=30, mention=True)
    later = CONNECTOR.fetch(config, again.cursor)
    assert [p.text for p in later.posts] == ["u/AcmeSupport second", "u/AcmeSupport third"]
    assert later.cursor["mentions"]["newest"] == later.posts[-1].external_id


def test_mentions_are_read_across_pages(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.page_size = 2
    for n in range(5):
        fake.add_comment(f"u/AcmeSupport number {n}", at=n, mention=True)
    result = CONNECTOR.fetch(config, {})
    assert [p.text for p in result.posts] == [f"u/AcmeSupport number {n}" for n in range(5)]
    pages = [query for _, path, query in fake.requests if path == "/message/mentions"]
    assert len(pages) == 3 and "after" not in pages[0] and pages[1]["after"] == fake.mentions[1]["name"]
    for n in range(5, 8):
        fake.add_comment(f"u/AcmeSupport number {n}", at=n, mention=True)
    later = CONNECTOR.fetch(config, result.cursor)
    assert [p.text for p in later.posts] == [f"u/AcmeSupport number {n}" for n in range(5, 8)]


def test_deleted_mentions_are_skipped_and_deleted_authors_kept(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.add_comment("[deleted]", author="[deleted]", at=1, mention=True)
    fake.add_comment("u/AcmeSupport still broken", author="[deleted]", at=2, mention=True)
    result = CONNECTOR.fetch(config, {})
    assert [(p.text, p.author_handle) for p in result.posts] == [("u/AcmeSupport still broken", "deleted")]


def test_a_keyword_search_in_subreddits(fake: FakeReddit, config: dict[str, Any]) -> None:
    hit = fake.add_submission("Acme kettle leaks", "It drips from the lid.", subreddit="gadgets", at=5,
                              score=12, num_comments=4)
    fake.add_submission("Acme toaster", subreddit="Phones", at=6)
    fake.add_submission("Acme in another place", subreddit="cooking", at=7)
    fake.add_submission("Nothing to see", subreddit="gadgets", at=8)
    config = {**config, "subreddits": ["gadgets", "r/Phones"], "keywords": ["acme"]}
    result = CONNECTOR.fetch(config, {})
    assert [p.text for p in result.posts] == ["Acme kettle leaks\n\nIt drips from the lid.", "Acme toaster"]
    post = result.posts[0]
    assert post.external_id == hit["name"] and post.in_reply_to is None
    assert post.url == f"https://www.reddit.com/r/gadgets/comments/{hit['id']}/a_title/"
    assert post.network_data == {"fullname": hit["name"], "kind": "submission", "subreddit": "gadgets"}
    assert post.engagement == {"score": 12, "replies": 4}
    assert parse_post(post.to_record()) == post
    query = next(q for _, path, q in fake.requests if path == "/r/gadgets+Phones/search/")
    assert (query["q"], query["sort"], query["t"], query["restrict_sr"]) == ("acme", "new", "week", "True")
    assert result.cursor["search:acme"]["newest"] == result.posts[-1].external_id
    fake.add_submission("Acme again", subreddit="gadgets", at=9)
    assert [p.text for p in CONNECTOR.fetch(config, result.cursor).posts] == ["Acme again"]


def test_subreddits_without_keywords_read_every_new_post(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.add_submission("Welcome to r/acme", subreddit="acme", at=1)
    fake.add_submission("Unrelated", subreddit="cooking", at=2)
    result = CONNECTOR.fetch({**config, "subreddits": "acme"}, {})
    assert [p.text for p in result.posts] == ["Welcome to r/acme"]
    assert "/r/acme/new" in paths(fake) and "new" in result.cursor


def test_a_reply_is_posted_under_the_mention(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.add_comment("u/AcmeSupport help", at=1, mention=True)
    mention = CONNECTOR.fetch(config, {}).posts[0]
    sent = CONNECTOR.send_reply(config, reply_to(mention))
    assert fake.replies == [{"thing_id": mention.external_id,
                             "text": "Sorry about that! We have sent a replacement."}]
    assert sent.external_id.startswith("t1_") and sent.external_id != mention.external_id
    assert sent.url is not None and sent.url.startswith("https://www.reddit.com/r/gadgets/comments/")


def test_a_brand_reply_made_on_reddit_arrives_as_a_reply(fake: FakeReddit, config: dict[str, Any]) -> None:
    mention = fake.add_comment("u/AcmeSupport help", at=1, mention=True)
    cursor = CONNECTOR.fetch(config, {}).cursor
    fake.add_comment("On its way!", author="AcmeSupport", parent=mention["name"], at=60)
    result = CONNECTOR.fetch(config, cursor)
    assert [(p.author_handle, p.in_reply_to, p.text) for p in result.posts] == [
        ("acmesupport", mention["name"], "On its way!")]


def test_rate_limit_says_when_to_come_back(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.fail_status = 429
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        CONNECTOR.fetch(config, {})
    assert before + timedelta(seconds=41) <= caught.value.until <= datetime.now(UTC) + timedelta(seconds=43)


def test_a_server_error_is_a_source_error_in_words(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.fail_status = 503
    with pytest.raises(SourceError, match=r"Reddit is having trouble \(HTTP 503\)"):
        CONNECTOR.fetch(config, {})
    assert paths(fake).count("/message/mentions") == 3  # prawcore's own two retries, then us


def test_malformed_json_is_a_source_error(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.malformed = True
    with pytest.raises(SourceError, match="not JSON"):
        CONNECTOR.fetch(config, {})


def test_a_reply_to_a_deleted_comment_is_refused(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.add_comment("u/AcmeSupport help", at=1, mention=True)
    mention = CONNECTOR.fetch(config, {}).posts[0]
    fake.deleted.add(mention.external_id)
    with pytest.raises(ReplyRefused, match="the comment has been deleted"):
        CONNECTOR.send_reply(config, reply_to(mention))


def test_a_reply_too_long_is_refused_before_sending(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.add_comment("u/AcmeSupport help", at=1, mention=True)
    mention = CONNECTOR.fetch(config, {}).posts[0]
    with pytest.raises(ReplyRefused, match="10,000"):
        CONNECTOR.send_reply(config, reply_to(mention, "a" * 10_001))
    assert fake.replies == []


@pytest.mark.parametrize("status", [429, 503])
def test_a_reply_failing_for_now_is_transient(fake: FakeReddit, config: dict[str, Any], status: int) -> None:
    fake.add_comment("u/AcmeSupport help", at=1, mention=True)
    mention = CONNECTOR.fetch(config, {}).posts[0]
    fake.fail_status = status
    with pytest.raises(TransientReplyError):
        CONNECTOR.send_reply(config, reply_to(mention))


def test_a_reply_to_something_not_on_reddit_is_refused(config: dict[str, Any]) -> None:
    reply = OutgoingReply(text="hi", reply_id=1, external_id="tag:example.com,2025:1", url=None, author_handle="x")
    with pytest.raises(ReplyRefused, match="not a Reddit comment or post"):
        CONNECTOR.send_reply(config, reply)


def test_a_spent_rate_limit_stops_the_poll_instead_of_sleeping(fake: FakeReddit, config: dict[str, Any]) -> None:
    fake.add_comment("u/AcmeSupport help", at=1, mention=True)
    fake.remaining = 0  # prawcore would sleep until the reset (here 300 s) before its next request
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        CONNECTOR.fetch(config, {})
    assert caught.value.until >= before + timedelta(seconds=299)
    assert paths(fake) == ["/api/v1/access_token", "/message/mentions"]


def test_an_unreachable_reddit_is_named(config: dict[str, Any]) -> None:
    with pytest.raises(SourceError, match=r"could not reach Reddit at http://127\.0\.0\.1:9/api/v1/access_token"):
        CONNECTOR.verify({**config, "reddit_url": "http://127.0.0.1:9"})
