"""Mention sources: the demo generator and the RSS/Atom poller (against a real local HTTP server)."""
from __future__ import annotations

import collections
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from triage.intake.posts import parse_post
from triage.intake.sources import CONNECTORS, demo, rss
from triage.intake.sources.results import FetchResult, SourceError

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- local feed server


class FeedServer:
    """Serves canned responses by path and records each request's headers."""

    def __init__(self) -> None:
        self.routes: dict[str, dict] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path, {"status": 404, "body": b"not found"})
                time.sleep(route.get("delay", 0))
                headers = dict(route.get("headers", {}))
                if "ETag" in headers and self.headers.get("If-None-Match") == headers["ETag"]:
                    self.send_response(304)
                    self.end_headers()
                    return
                body = route["body"]
                self.send_response(route.get("status", 200))
                headers.setdefault("Content-Type", "application/rss+xml; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                if not route.get("no_length"):  # without it HTTP/1.0 ends the body by closing the connection
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on an oversized body, as it should

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(5)


def rss_doc(items: list[dict]) -> bytes:
    parts = []
    for it in items:
        parts.append(
            "<item>"
            + (f"<guid isPermaLink='false'>{it['guid']}</guid>" if "guid" in it else "")
            + f"<title>{it.get('title', '')}</title><link>{it['link']}</link>"
            + (f"<description>{it['description']}</description>" if "description" in it else "")
            + (f"<dc:creator>{it['creator']}</dc:creator>" if "creator" in it else "")
            + (f"<author>{it['author']}</author>" if "author" in it else "")
            + (f"<pubDate>{it['date']}</pubDate>" if "date" in it else "")
            + "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<channel><title>Travel Forum: Northwind</title><link>https://forum.example/</link>"
        "<description>Posts mentioning Northwind</description><language>en-gb</language>"
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


# Newest first, as feeds are written; one entry escapes its HTML, one hides a script in CDATA.
RSS_ITEMS = [
    {
        "guid": "forum-3", "title": "Praise for the crew", "link": "https://forum.example/t/3",
        "description": "<![CDATA[<p>Great crew on NW12</p><script>alert('pwned')</script>"
        "<img src=x onerror=alert(1)><style>p{color:red}</style><p>would fly again</p>]]>",
        "author": "sam@example.com (Sam Lee)", "date": "Tue, 07 Jan 2025 08:30:00 GMT",
    },
    {
        "guid": "forum-2", "title": "Refund question", "link": "https://forum.example/t/2",
        "description": "How long do refunds take &amp;amp; who do I ask?", "creator": "Priya Raman",
        "date": "Mon, 06 Jan 2025 18:00:00 +0000",
    },
    {
        "guid": "forum-1", "title": "Northwind lost my bag", "link": "https://forum.example/t/1",
        "description": "&lt;p&gt;Bag went to &lt;b&gt;Oslo&lt;/b&gt;&lt;/p&gt;\n\n"
                       "  &lt;p&gt;never came   back&lt;/p&gt;",
        "creator": "Dana Whitfield", "date": "Mon, 06 Jan 2025 10:00:00 +0100",
    },
]

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>r/northwind</title><id>tag:reddit.example,2025:northwind</id><updated>2025-02-02T10:00:00Z</updated>
  <entry>
    <id>t3_bbb</id><title type="html">App crashes &amp;lt;again&amp;gt;</title>
    <link href="https://reddit.example/r/northwind/bbb"/>
    <author><name>/u/Ben Castellano</name></author>
    <updated>2025-02-02T09:00:00+02:00</updated>
    <content type="html">&lt;div&gt;Opened the &lt;em&gt;seat map&lt;/em&gt; and boom&lt;/div&gt;</content>
  </entry>
  <entry>
    <id>t3_broken</id><link href="https://reddit.example/r/northwind/broken"/>
    <updated>2025-02-01T12:00:00Z</updated>
  </entry>
  <entry>
    <id>t3_aaa</id><title>Lounge in Oslo</title><link href="/r/northwind/aaa"/>
    <published>2025-02-01T08:00:00Z</published>
    <summary type="html">&lt;p&gt;Pastries &amp;amp; coffee were great&lt;/p&gt;</summary>
  </entry>
</feed>
"""


def test_registry_finds_the_demo_and_the_feed_connectors() -> None:
    assert CONNECTORS["demo"] is demo.CONNECTOR and CONNECTORS["rss"] is rss.CONNECTOR
    assert (rss.CONNECTOR.polled, rss.CONNECTOR.reply_limit, rss.CONNECTOR.min_interval) == (True, None, 30)


def test_rss_entries_are_mapped_oldest_first(server: FeedServer) -> None:
    server.routes["/feed"] = {"body": rss_doc(RSS_ITEMS)}
    result = rss.fetch({"url": server.url("/feed")}, {}, now=NOW)
    assert isinstance(result, FetchResult) and result.errors == []
    assert [p.external_id for p in result.posts] == ["forum-1", "forum-2", "forum-3"]
    bag, refund, praise = result.posts
    assert bag.text == "Northwind lost my bag\n\nBag went to Oslo never came back"
    assert bag.author_handle == "dana_whitfield" and bag.author_name == "Dana Whitfield"
    assert bag.posted_at == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # +0100 converted to UTC
    assert bag.url == "https://forum.example/t/1" and bag.network == "rss" and bag.language == "en-gb"
    assert refund.text.endswith("How long do refunds take & who do I ask?")
    assert praise.author_name == "Sam Lee" and praise.author_handle == "sam_lee"
    ua = server.requests[0][1]["User-Agent"]
    assert ua == rss.USER_AGENT


def test_rss_strips_hostile_html(server: FeedServer) -> None:
    server.routes["/feed"] = {"body": rss_doc(RSS_ITEMS[:1])}
    (post,) = rss.fetch({"url": server.url("/feed")}, {}, now=NOW).posts
    assert post.text == "Praise for the crew\n\nGreat crew on NW12 would fly again"
    assert not re.search(r"alert|onerror|color|<|>", post.text)


def test_rss_second_fetch_is_empty_and_new_entry_comes_alone(server: FeedServer) -> None:
    server.routes["/feed"] = {"body": rss_doc(RSS_ITEMS)}
    config = {"url": server.url("/feed"), "network": "reddit"}
    first = rss.fetch(config, {}, now=NOW)
    assert len(first.posts) == 3 and all(p.network == "reddit" for p in first.posts)
    again = rss.fetch(config, first.cursor, now=NOW)
    assert again.posts == [] and again.errors == []
    newer = {"guid": "forum-4", "title": "Stuck on the tarmac", "link": "https://forum.example/t/4",
             "description": "three hours now", "date": "Wed, 08 Jan 2025 07:00:00 GMT"}
    server.routes["/feed"] = {"body": rss_doc([newer, *RSS_ITEMS])}
    third = rss.fetch(config, again.cursor, now=NOW)
    assert [p.external_id for p in third.posts] == ["forum-4"]
    assert set(third.cursor["seen"]) == {"forum-1", "forum-2", "forum-3", "forum-4"}


def test_rss_undated_entries_are_deduplicated_by_id(server: FeedServer) -> None:
    items = [{"title": f"post {n}", "link": f"https://forum.example/u/{n}"} for n in (3, 2, 1)]
    server.routes["/feed"] = {"body": rss_doc(items)}
    config = {"url": server.url("/feed")}
    first = rss.fetch(config, {}, now=NOW)
    # No guid: the link is the id; no date: the fetch time, and document order reversed.
    assert [p.external_id for p in first.posts] == [f"https://forum.example/u/{n}" for n in (1, 2, 3)]
    assert all(p.posted_at == NOW for p in first.posts)
    assert all(p.author_handle == "travel_forum:_northwind" for p in first.posts)  # the feed title stands in
    assert rss.fetch(config, first.cursor, now=NOW).posts == []


def test_atom_feed_and_broken_entry(server: FeedServer) -> None:
    server.routes["/atom"] = {"body": ATOM, "headers": {"Content-Type": "application/atom+xml"}}
    result = rss.fetch({"url": server.url("/atom"), "network": "reddit"}, {}, now=NOW)
    assert [p.external_id for p in result.posts] == ["t3_aaa", "t3_bbb"]
    lounge, crash = result.posts
    assert lounge.text == "Lounge in Oslo\n\nPastries & coffee were great"
    assert lounge.posted_at == datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    assert lounge.url == server.url("/r/northwind/aaa")  # relative links resolve against the feed's address
    assert crash.text == "App crashes <again>\n\nOpened the seat map and boom"
    assert crash.author_handle == "u/ben_castellano" and crash.author_name == "/u/Ben Castellano"
    assert crash.posted_at == datetime(2025, 2, 2, 7, 0, tzinfo=UTC)
    assert crash.url == "https://reddit.example/r/northwind/bbb"
    assert len(result.errors) == 1 and "t3_broken" in result.errors[0]
    # The broken entry is remembered, so it is not reported again on every poll.
    assert rss.fetch({"url": server.url("/atom")}, result.cursor, now=NOW).errors == []


def test_rss_conditional_get_304_keeps_cursor(server: FeedServer) -> None:
    modified = "Tue, 07 Jan 2025 09:00:00 GMT"
    server.routes["/feed"] = {"body": rss_doc(RSS_ITEMS), "headers": {"ETag": '"v1"', "Last-Modified": modified}}
    first = rss.fetch({"url": server.url("/feed")}, {}, now=NOW)
    assert first.cursor["etag"] == '"v1"' and first.cursor["modified"] == modified
    second = rss.fetch({"url": server.url("/feed")}, first.cursor, now=NOW)
    assert second.posts == [] and second.cursor == first.cursor
    sent = server.requests[-1][1]
    assert sent["If-None-Match"] == '"v1"' and sent["If-Modified-Since"] == modified
    assert "If-None-Match" not in server.requests[0][1]


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", "HTML page"),
        (bytes(range(256)) * 8, "application/octet-stream", "not well-formed"),
        (b'<?xml version="1.0"?><settings><a>1</a></settings>', "application/xml", "no RSS or Atom root"),
        (b"", "application/xml", "empty"),
    ],
)
def test_rss_non_feed_raises_clear_error(server: FeedServer, body: bytes, content_type: str, reason: str) -> None:
    server.routes["/page"] = {"body": body, "headers": {"Content-Type": content_type}}
    url = server.url("/page")
    with pytest.raises(SourceError) as err:
        rss.fetch({"url": url}, {})
    assert f"feed at {url} is not RSS or Atom" in str(err.value) and reason in str(err.value)


@pytest.mark.parametrize("status", [404, 500, 503])
def test_rss_http_error_raises(server: FeedServer, status: int) -> None:
    server.routes["/feed"] = {"status": status, "body": rss_doc(RSS_ITEMS)}
    with pytest.raises(SourceError, match=rf"feed at {re.escape(server.url('/feed'))} answered HTTP {status}"):
        rss.fetch({"url": server.url("/feed")}, {})


@pytest.mark.parametrize("no_length", [False, True])
def test_rss_oversized_body_raises(server: FeedServer, no_length: bool) -> None:
    server.routes["/big"] = {"body": b"<rss>" + b" " * (rss.MAX_BYTES + 10), "no_length": no_length}
    with pytest.raises(SourceError, match="larger than the 5 MB allowed"):
        rss.fetch({"url": server.url("/big")}, {})


def test_rss_timeout_and_refused_connection(server: FeedServer) -> None:
    server.routes["/slow"] = {"body": rss_doc(RSS_ITEMS), "delay": 1.0}
    with pytest.raises(SourceError, match="did not answer within 0.2 seconds"):
        rss.fetch({"url": server.url("/slow"), "timeout": 0.2}, {})
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SourceError, match=f"could not connect to the feed at http://127.0.0.1:{port}/"):
        rss.fetch({"url": f"http://127.0.0.1:{port}/feed"}, {})


def test_rss_caps_entries_and_seen(server: FeedServer) -> None:
    items = [{"guid": f"g{n}", "title": f"t{n}", "link": f"https://f.example/{n}"} for n in range(520, 0, -1)]
    server.routes["/feed"] = {"body": rss_doc(items)}
    with requests.Session() as session:
        result = rss.fetch({"url": server.url("/feed")}, {"seen": ["old-1"]}, session=session, now=NOW)
    assert len(result.posts) == rss.MAX_ENTRIES and result.posts[-1].external_id == "g520"
    assert any("520 entries" in e for e in result.errors)
    assert len(result.cursor["seen"]) == rss.SEEN_KEPT and "g520" in result.cursor["seen"]


@pytest.mark.parametrize("config", [{}, {"url": "ftp://x.example/feed"}, {"url": "https://x.example", "timeout": 0}])
def test_rss_bad_config(config: dict) -> None:
    with pytest.raises(SourceError, match="RSS source"):
        rss.fetch(config, {})


# ---------------------------------------------------------------- demo


def run_demo(calls: int, seed: int = 1, config: dict | None = None) -> list[FetchResult]:
    rng, cursor, results = random.Random(seed), {}, []
    for n in range(calls):
        result = demo.fetch(config or {}, cursor, now=NOW + timedelta(minutes=n), rng=rng)
        results.append(result)
        cursor = result.cursor
    return results


def test_demo_is_deterministic_for_a_seed() -> None:
    a, b = run_demo(30), run_demo(30)
    assert [r.posts for r in a] == [r.posts for r in b] and a[-1].cursor == b[-1].cursor
    assert [p.text for r in run_demo(30, seed=2) for p in r.posts] != [p.text for r in a for p in r.posts]


def test_demo_ids_unique_and_posts_valid() -> None:
    results = run_demo(300)
    posts = [p for r in results for p in r.posts]
    assert len({p.external_id for p in posts}) == len(posts) == results[-1].cursor["seq"]
    assert all(1 <= len(r.posts) <= 3 for r in results) and not any(r.errors for r in results)
    for n, r in enumerate(results):
        now = NOW + timedelta(minutes=n)
        for p in r.posts:
            assert re.fullmatch(rf"demo-{p.network}-\d+", p.external_id)
            assert parse_post(p.to_record()) == p
            assert now - timedelta(minutes=5) <= p.posted_at <= now and p.posted_at.tzinfo == UTC
        assert [p.posted_at for p in r.posts] == sorted(p.posted_at for p in r.posts)
    assert len({p.text for p in posts if p.in_reply_to is None}) > 0.9 * sum(p.in_reply_to is None for p in posts)


def test_demo_repeat_authors_across_networks() -> None:
    posts = [p for r in run_demo(300) for p in r.posts if p.in_reply_to is None]
    by_name: dict[str, set[tuple[str, str, int | None]]] = collections.defaultdict(set)
    for p in posts:
        by_name[p.author_name].add((p.network, p.author_handle, p.author_followers))
    assert 30 <= len(by_name) <= 45
    assert collections.Counter(p.author_name for p in posts).most_common(1)[0][1] >= 10  # regulars come back
    multi = {name: seen for name, seen in by_name.items() if len({n for n, _, _ in seen}) >= 2}
    assert len(multi) >= 10
    for seen in by_name.values():
        assert len(seen) == len({n for n, _, _ in seen})  # one handle and follower count per network
        assert len({re.split(r"[@.]", h)[0] for _, h, _ in seen}) == 1  # the same base handle everywhere
    dana = {n: h for n, h, _ in by_name["Dana Whitfield"]}
    assert dana == {"x": "danaw", "mastodon": "danaw@mastodon.social"}
    followers = sorted(f for seen in by_name.values() for _, _, f in seen)
    assert followers[len(followers) // 2] < 5_000 and 50_000 <= followers[-1] <= 2_000_000


def test_demo_mixes_intents(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: collections.Counter[str] = collections.Counter()
    real = demo.compose

    def spy(*args: object, **kwargs: object) -> demo.Mention:
        mention = real(*args, **kwargs)
        drawn[mention.intent] += 1
        return mention

    monkeypatch.setattr(demo, "compose", spy)
    run_demo(200)
    assert set(drawn) == {"complaint", "question", "praise", "chatter", "urgent"}
    assert all(count >= 10 for count in drawn.values()) and drawn["complaint"] > drawn["urgent"]


def test_demo_texts_are_varied_and_natural() -> None:
    rng = random.Random(1)
    texts = [demo.compose(rng, "Northwind", ("northwind", "northwindhelp")).text for _ in range(3000)]
    assert len(set(texts)) > 2500
    assert any("@northwind" in t for t in texts) and any("#" in t for t in texts)
    assert any(t.isupper() for t in texts) and any(re.search(r"[\U0001F300-\U0001FAFF]", t) for t in texts)
    urgent = [demo.compose(rng, "Northwind", ("northwind",), "urgent").text.lower() for _ in range(300)]
    assert any("tarmac" in t for t in urgent) and any("hacked" in t for t in urgent)


def test_demo_brand_replies_reference_earlier_posts() -> None:
    results = run_demo(200, config={"brand": "Contoso Air", "brand_handles": ["@ContosoAir", "contosohelp"]})
    earlier: set[str] = set()
    replies = 0
    for r in results:
        for p in r.posts:
            if p.in_reply_to is not None:
                replies += 1
                assert p.in_reply_to in earlier  # emitted by a previous call
                assert p.author_handle in {"contosoair", "contosohelp"}
                assert p.network == p.in_reply_to.split("-")[1]
        earlier |= {p.external_id for p in r.posts if p.in_reply_to is None}
        assert len(r.cursor["recent"]) <= demo.RECENT_KEPT
    total = sum(len(r.posts) for r in results)
    assert 0.04 * total <= replies <= 0.2 * total
    assert any("Contoso Air" in p.text for r in results for p in r.posts)
    assert not any("Northwind" in p.text for r in results for p in r.posts)


def test_demo_config_and_cursor_checks() -> None:
    assert all(len(r.posts) == 5 for r in run_demo(5, config={"per_poll": 5}))
    with pytest.raises(SourceError, match="per_poll"):
        demo.fetch({"per_poll": 0}, {}, rng=random.Random(1))
    with pytest.raises(SourceError, match="brand_handles"):
        demo.fetch({"brand_handles": [""]}, {}, rng=random.Random(1))
    with pytest.raises(SourceError, match="damaged"):
        demo.fetch({}, {"seq": "seven"}, rng=random.Random(1))


def test_demo_backfills_a_new_install_once():
    first = demo.fetch({"backfill": 20}, {}, rng=random.Random(3))
    assert len(first.posts) == 20
    second = demo.fetch({"backfill": 20, "per_poll": 2}, first.cursor, rng=random.Random(3))
    assert len(second.posts) == 2
