"""RSS / Atom source: poll a feed URL (a news search, a subreddit, a forum) and turn new entries into posts."""
from __future__ import annotations

import calendar
import hashlib
import io
import re
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import feedparser
import requests

from triage.intake.posts import MAX_TEXT_CHARS, Post, PostError, parse_post
from triage.intake.sources.base import Connector
from triage.intake.sources.results import FetchResult, SourceError

USER_AGENT = "triage/0.1 (+mention triage)"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
MAX_BYTES = 5 * 1024 * 1024
MAX_ENTRIES = 500
SEEN_KEPT = 500
MAX_ID_CHARS = 256
_SPACE = re.compile(r"\s+")
# Tags that end a line of text; without a break here "<p>a</p><p>b</p>" would read "ab".
_BLOCK = {"p", "br", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"}
_INVISIBLE = {"script", "style", "template", "noscript", "iframe", "object", "svg"}


class _TextOnly(HTMLParser):
    """Collects the visible text of an HTML fragment; entities are decoded by the parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self.hidden += 1
        elif tag in _BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    """Visible text of an HTML fragment, entities decoded, whitespace collapsed."""
    parser = _TextOnly()
    parser.feed(value)
    parser.close()
    # A second unescape catches feeds that escape their HTML twice ("&amp;amp;").
    return _SPACE.sub(" ", unescape("".join(parser.parts))).strip()


def _settings(config: dict[str, Any]) -> tuple[str, str, float]:
    url = (config or {}).get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url.strip(), re.IGNORECASE):
        raise SourceError("RSS source: 'url' must be an http:// or https:// address")
    network = config.get("network") or "rss"
    timeout = config.get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 120:
        raise SourceError("RSS source: 'timeout' must be a number of seconds above 0 and at most 120")
    return url.strip(), str(network).lower(), float(timeout)


def _download(session: requests.Session, url: str, timeout: float, cursor: dict[str, Any]) -> tuple[bytes, Any] | None:
    """The body (at most MAX_BYTES) and response headers, or None when the feed is unchanged (304)."""
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if cursor.get("etag"):
        headers["If-None-Match"] = cursor["etag"]
    if cursor.get("modified"):
        headers["If-Modified-Since"] = cursor["modified"]
    try:
        response = session.get(url, headers=headers, timeout=timeout, stream=True)
    except requests.Timeout:
        raise SourceError(f"feed at {url} did not answer within {timeout:g} seconds") from None
    except requests.ConnectionError as exc:
        raise SourceError(f"could not connect to the feed at {url}: {type(exc).__name__}") from None
    except requests.RequestException as exc:
        raise SourceError(f"could not fetch the feed at {url}: {exc}") from None
    with response:
        if response.status_code == 304:
            return None
        if response.status_code >= 400:
            raise SourceError(f"feed at {url} answered HTTP {response.status_code} {response.reason or ''}".rstrip())
        too_big = SourceError(f"feed at {url} is larger than the {MAX_BYTES // (1024 * 1024)} MB allowed")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_BYTES:
            raise too_big
        # Count while streaming: the declared length can be missing or wrong, and gzip can expand a small body.
        body = bytearray()
        try:
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_BYTES:
                    raise too_big
        except requests.RequestException as exc:
            raise SourceError(f"feed at {url} broke off while downloading: {type(exc).__name__}") from None
        return bytes(body), response.headers


def _when(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    # feedparser's struct_time is already UTC; timegm reads it as such (mktime would apply local time).
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)


def _entry_id(entry: Any) -> str:
    raw = entry.get("id") or entry.get("link") or ""
    if raw and len(raw) <= MAX_ID_CHARS:
        return raw
    basis = raw or f"{entry.get('title', '')}\n{entry.get('link', '')}"
    return "sha1:" + hashlib.sha1(basis.encode("utf-8")).hexdigest()


def _text(entry: Any) -> str:
    title = html_to_text(entry.get("title") or "")
    body = entry.get("summary") or ""
    if not body and entry.get("content"):
        body = entry["content"][0].get("value") or ""
    summary = html_to_text(body)
    if summary == title or (len(title) > 40 and summary.startswith(title + " ")):
        title = ""  # many feeds repeat the title as the start of the summary
    text = "\n\n".join(part for part in (title, summary) if part)
    # Articles are not posts: keep the start of a long one rather than refusing it.
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1].rstrip() + "…"


def _author(entry: Any, feed: Any) -> str:
    detail = entry.get("author_detail") or {}
    return (detail.get("name") or entry.get("author") or feed.get("title") or "").strip()


def to_handle(name: str) -> str:
    """A display name as a handle: lowercase, spaces to underscores, no leading slashes or @ (reddit's /u/x)."""
    return _SPACE.sub("_", name.strip().lstrip("/@").lower())[:100]


def _record(entry: Any, feed: Any, url: str, network: str, now: datetime, language: str | None) -> dict[str, Any]:
    name = _author(entry, feed)
    link = entry.get("link")
    return {
        "id": _entry_id(entry),
        "network": network,
        "text": _text(entry),
        "author": to_handle(name) or network,
        "author_name": name[:512] or None,
        "posted_at": _when(entry) or now,  # undated feeds: the time we first saw the entry
        "url": urljoin(url, link) if link else None,
        "language": (entry.get("language") or language or "")[:16] or None,
    }


def parse_feed(body: bytes, url: str, content_type: str = "") -> Any:
    """Parse feed bytes, or raise SourceError naming the URL and why it is not a feed."""
    # A BytesIO, not the bytes: feedparser tries a bytes argument as a local file name before parsing it.
    # Without a Content-Type feedparser blames the missing header; XML is self-describing, so assume it.
    # No content-location: feedparser would resolve relative ids against it, and ids must not move with the URL.
    headers = {"content-type": content_type or "application/xml"}
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        start = body[:512].lstrip().lower()
        if start.startswith(b"<!doctype html") or b"<html" in start:
            reason = "it is an HTML page (a web page's feed link usually ends in /rss, /feed or .xml)"
        elif not body.strip():
            reason = "the response was empty"
        else:
            # expat says "<unknown>:2:0: not well-formed"; users read "line 2, column 0: not well-formed".
            bozo = str(parsed.get("bozo_exception") or "")
            reason = re.sub(r"^<unknown>:(\d+):(\d+): ", r"line \1, column \2: ", bozo)
            reason = reason or "no RSS or Atom root element"
        raise SourceError(f"feed at {url} is not RSS or Atom: {reason}")
    return parsed


def fetch(
    config: dict[str, Any], cursor: dict[str, Any], *, session: requests.Session | None = None,
    now: datetime | None = None,
) -> FetchResult:
    """Fetch the feed (conditionally) and return entries not returned before, oldest first."""
    url, network, timeout = _settings(config)
    cursor = dict(cursor or {})
    now = (now or datetime.now(UTC)).astimezone(UTC)
    own_session = session is None
    session = session or requests.Session()
    try:
        downloaded = _download(session, url, timeout, cursor)
    finally:
        if own_session:
            session.close()
    if downloaded is None:
        return FetchResult([], cursor, [])
    body, headers = downloaded
    parsed = parse_feed(body, url, headers.get("Content-Type", ""))
    raw_seen = cursor.get("seen")
    old_seen = [s for s in raw_seen if isinstance(s, str)] if isinstance(raw_seen, list) else []
    known = set(old_seen)
    language = parsed.feed.get("language")
    current: dict[str, None] = {}  # ordered set
    fresh: list[Post] = []
    errors: list[str] = []
    # Feeds list newest first; walking them backwards gives chronological order for undated entries too.
    for position, entry in reversed(list(enumerate(parsed.entries[:MAX_ENTRIES]))):
        entry_id = _entry_id(entry)
        if entry_id in current:
            continue
        current[entry_id] = None  # broken entries too, so the same problem is not reported on every poll
        if entry_id in known:
            continue
        try:
            record = _record(entry, parsed.feed, url, network, now, language)
            if not record["text"]:
                errors.append(f"entry {position + 1} ({entry_id}) has no title or text; skipped")
                continue
            fresh.append(parse_post(record))
        except PostError as exc:
            errors.append(f"entry {position + 1} ({entry_id}): {exc}")
    if len(parsed.entries) > MAX_ENTRIES:
        errors.append(f"feed has {len(parsed.entries)} entries; only the first {MAX_ENTRIES} were read")
    # Stable sort by date keeps document order among equal or missing dates.
    posts = sorted(fresh, key=lambda post: post.posted_at or now)
    # Ids still in the feed go last so trimming never forgets an entry the feed still shows.
    seen = [s for s in old_seen if s not in current] + list(current)
    new_cursor: dict[str, Any] = {"seen": seen[-SEEN_KEPT:]}
    etag = headers.get("ETag") or cursor.get("etag")
    modified = headers.get("Last-Modified") or cursor.get("modified")
    if etag:
        new_cursor["etag"] = etag
    if modified:
        new_cursor["modified"] = modified
    return FetchResult(posts, new_cursor, errors)


class RssConnector(Connector):
    """A feed: polled, read only (a reply to an entry is posted by hand at its link)."""

    kind = "rss"
    label = "RSS / Atom feed"
    network = "rss"  # the default; a source's config may name another ("reddit" for a subreddit's feed)
    min_interval = 30  # a feed polled faster is being hammered

    def fetch(self, config: dict[str, Any], cursor: dict[str, Any]) -> FetchResult:
        return fetch(config, cursor)


CONNECTOR = RssConnector()
