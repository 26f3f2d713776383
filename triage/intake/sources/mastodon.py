"""Mastodon: mentions of the connected account, hashtag timelines and keyword searches; replies threaded under them.

Talks to the instance through Mastodon.py. Each stream (mentions, the account's own replies, each hashtag, each
keyword) keeps its own newest id in the cursor and is read forward from it with `min_id`, page by page, so a poll
that dies midway starts again from the stored cursor (the store keeps each post once by network and id).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import mastodon as mastodon_py
import requests

from triage.intake.posts import MAX_TEXT_CHARS, Post, PostError, parse_post
from triage.intake.sources.base import (
    Account,
    ConfigField,
    Connector,
    OutgoingReply,
    RateLimited,
    ReplyRefused,
    SentReply,
    TransientReplyError,
)
from triage.intake.sources.results import FetchResult, SourceError
from triage.intake.sources.rss import html_to_text

PAGE_SIZE = 40  # the most Mastodon returns per page
MAX_POSTS_PER_POLL = 200  # per stream; the rest comes next poll, from where this one stopped
DEFAULT_TIMEOUT = 20.0
RATE_WINDOW = timedelta(minutes=5)  # Mastodon's limits reset every 5 minutes; used when no reset time came back
VISIBILITIES = ("public", "unlisted", "private", "direct")
URL_WEIGHT = 23  # Mastodon counts every link as 23 characters, whatever its length
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_REMOTE_MENTION = re.compile(r"(@\w+)@[\w.-]+\w", re.UNICODE)

Page = Callable[[str | None], Any]  # min_id (None: the latest) -> one page of items, as the instance orders them


def _instance(config: dict[str, Any]) -> tuple[str, str]:
    url = str((config or {}).get("instance_url") or "").strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+$", url, re.IGNORECASE):
        raise SourceError("Mastodon: 'instance_url' must be the instance's address, e.g. https://mastodon.social")
    return url, urlsplit(url).hostname or url


def _client(config: dict[str, Any]) -> Any:
    url, _ = _instance(config)
    token = (config or {}).get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise SourceError("Mastodon: an access token is needed (create one under Preferences → Development)")
    timeout = config.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 30:
        raise SourceError("Mastodon: 'timeout' must be a number of seconds above 0 and at most 30")
    # "throw": a rate limit is reported to the scheduler, never slept through inside a job.
    return mastodon_py.Mastodon(access_token=token.strip(), api_base_url=url, request_timeout=float(timeout),
                                ratelimit_method="throw", version_check_mode="none", user_agent="triage/0.1")


def _words(values: Any) -> list[str]:
    if isinstance(values, str):
        values = re.split(r"[,\n]", values)
    if not isinstance(values, (list, tuple)):
        return []
    return [str(v).strip() for v in values if str(v).strip()]


def _status_code(exc: BaseException) -> int | None:
    args: tuple[Any, ...] = exc.args  # the library raises (message, status, reason, the instance's error text)
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def _reason(exc: BaseException) -> str:
    """What the instance said: its `error` text, else the HTTP reason phrase."""
    args: tuple[Any, ...] = exc.args
    if len(args) > 3 and isinstance(args[3], str) and args[3]:
        return args[3][:300]
    if len(args) > 2 and isinstance(args[2], str) and args[2]:
        return args[2][:300]
    return type(exc).__name__


def _rate_limit_until(api: Any) -> datetime:
    reset = getattr(api, "ratelimit_reset", None)
    if isinstance(reset, (int, float)) and reset > 0:
        return datetime.fromtimestamp(reset, tz=UTC)
    return datetime.now(UTC) + RATE_WINDOW


def _network_failure(exc: BaseException, host: str) -> str:
    cause = exc.__context__ or exc.__cause__
    if isinstance(cause, requests.Timeout):
        return f"Mastodon: {host} did not answer in time"
    return f"Mastodon: could not reach {host} ({type(cause or exc).__name__})"


def _source_error(exc: Exception, api: Any, host: str) -> SourceError:
    """The library's exception as one a user can read; never carries the token (it only travels in a header)."""
    if isinstance(exc, mastodon_py.MastodonRatelimitError):
        until = _rate_limit_until(api)
        return RateLimited(f"Mastodon: {host} says too many requests; waiting until {until:%H:%M:%S} UTC", until)
    if isinstance(exc, mastodon_py.MastodonNetworkError):
        return SourceError(_network_failure(exc, host))
    status = _status_code(exc)
    if status == 401:
        return SourceError(f"Mastodon: {host} refused the access token: {_reason(exc)}")
    if status == 403:
        return SourceError(f"Mastodon: {host} does not allow this token to do that: {_reason(exc)} "
                           "(the token needs the read scope)")
    if status is not None:
        return SourceError(f"Mastodon: {host} answered {status} {_reason(exc)}")
    if "JSON" in str(exc):
        return SourceError(f"Mastodon: {host} answered with something that is not JSON (is it a Mastodon instance?)")
    return SourceError(f"Mastodon: {host} gave an answer that could not be read ({type(exc).__name__})")


def _id_key(value: str) -> tuple[int, str]:
    # Mastodon ids are numeric strings (other servers: fixed-width sortable strings): longer is newer.
    return len(value), value


def _handle(acct: str, host: str) -> str:
    return acct if "@" in acct else f"{acct}@{host}"


def _text(status: dict[str, Any]) -> str:
    body = html_to_text(status.get("content") or "")
    if not body:
        described = [html_to_text(m.get("description") or "") for m in status.get("media_attachments") or []]
        body = " ".join(d for d in described if d) or ("[attachment]" if status.get("media_attachments") else "")
    warning = html_to_text(status.get("spoiler_text") or "")
    text = f"CW: {warning}\n\n{body}" if warning and body else body
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1].rstrip() + "…"


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _record(status: dict[str, Any], host: str) -> dict[str, Any]:
    account = status.get("account") or {}
    acct = str(account.get("acct") or account.get("username") or "")
    posted = status.get("created_at")
    return {
        "id": str(status["id"]),
        "network": "mastodon",
        "text": _text(status),
        "author": _handle(acct, host),
        "author_name": account.get("display_name") or None,
        "author_followers": account.get("followers_count"),
        "posted_at": posted.astimezone(UTC) if isinstance(posted, datetime) else posted,
        "url": status.get("url") or status.get("uri"),
        "in_reply_to": str(status["in_reply_to_id"]) if status.get("in_reply_to_id") is not None else None,
        "language": status.get("language"),
        "network_data": {"visibility": status.get("visibility") or "public", "acct": acct},
        "engagement": {"replies": _count(status.get("replies_count")), "reposts": _count(status.get("reblogs_count")),
                       "likes": _count(status.get("favourites_count"))},
    }


def _read_stream(fetch_page: Page, since: str | None, status_of: Callable[[Any], Any]) -> tuple[list[Any], str | None]:
    """Statuses newer than `since`, oldest first, and the newest item id read; walks forward one page at a time.

    Without `since` (a first poll) only the latest page is read: the history before connecting is not the inbox.
    """
    statuses: list[Any] = []
    newest = since
    while len(statuses) < MAX_POSTS_PER_POLL:
        page = fetch_page(newest)
        if not isinstance(page, list):
            raise SourceError("Mastodon: the instance answered with something other than a list of posts")
        items = sorted((i for i in page if isinstance(i, dict) and i.get("id") is not None),
                       key=lambda i: _id_key(str(i["id"])))
        if newest is not None:
            items = [i for i in items if _id_key(str(i["id"])) > _id_key(newest)]
        if not items:
            break
        statuses.extend(s for s in (status_of(i) for i in items) if isinstance(s, dict))
        newest = str(items[-1]["id"])
        if since is None or len(page) < PAGE_SIZE:
            break
    return statuses, newest


def _streams(api: Any, config: dict[str, Any], account_id: str) -> list[tuple[str, Page, Callable[[Any], Any]]]:
    """Each stream: its cursor key, how to read a page after an id, and how to find the status in an item."""

    def mentions(since: str | None) -> Any:
        return api.notifications(types=["mention"], min_id=since, limit=PAGE_SIZE)

    def own(since: str | None) -> Any:
        # The brand's replies written in another app: recognised downstream as answers to stored mentions.
        return api.account_statuses(account_id, min_id=since, limit=PAGE_SIZE, exclude_reblogs=True)

    def hashtag(tag: str) -> Page:
        return lambda since: api.timeline_hashtag(tag, min_id=since, limit=PAGE_SIZE)

    def search(words: str) -> Page:
        # Read as statuses: the answer holds accounts and hashtags too. No resolve: no WebFinger lookups.
        return lambda since: api.search_v2(words, resolve=False, result_type="statuses", min_id=since,
                                           limit=PAGE_SIZE)["statuses"]

    def itself(status: Any) -> Any:
        return status

    streams: list[tuple[str, Page, Callable[[Any], Any]]] = [
        ("mentions", mentions, lambda notification: notification.get("status")),
        ("own", own, lambda status: status if status.get("in_reply_to_id") is not None else None)]
    tags = [t.lstrip("#") for t in _words(config.get("hashtags"))]
    streams += [(f"tag:{t.lower()}", hashtag(t), itself) for t in tags if t]
    streams += [(f"search:{w.lower()}", search(w), itself) for w in _words(config.get("keywords"))]
    return streams


class MastodonConnector(Connector):
    kind = "mastodon"
    label = "Mastodon"
    network = "mastodon"
    connectable = True
    reply_limit = 500  # Mastodon's default; instances may allow more, never fewer
    min_interval = 60
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("instance_url", "Instance address", kind="url", help="e.g. https://mastodon.social"),
        ConfigField("access_token", "Access token", secret=True,
                    help="Preferences → Development → New application, scopes read and write:statuses"),
        ConfigField("hashtags", "Hashtags to follow", required=False, kind="list", help="without the #"),
        ConfigField("keywords", "Keywords to search", required=False, kind="list",
                    help="needs full-text search on the instance"),
    )

    def verify(self, config: dict[str, Any]) -> Account:
        api = _client(config)
        url, host = _instance(config)
        try:
            me = api.account_verify_credentials()
        except mastodon_py.MastodonError as exc:
            raise _source_error(exc, api, host) from None
        if not isinstance(me, dict) or not me.get("username"):
            raise SourceError(f"Mastodon: {host} did not say whose token this is (is {url} a Mastodon instance?)")
        return Account(handle=_handle(str(me.get("acct") or me["username"]), host),
                       display_name=me.get("display_name") or None, url=me.get("url") or None)

    def fetch(self, config: dict[str, Any], cursor: dict[str, Any]) -> FetchResult:
        api = _client(config)
        _, host = _instance(config)
        old = dict(cursor or {})
        new_cursor = dict(old)
        found: list[Any] = []
        try:
            # Asked each poll, not kept: a source reconnected with another account's token reads that account.
            account_id = str(api.account_verify_credentials()["id"])
            for key, fetch_page, status_of in _streams(api, config, account_id):
                statuses, newest = _read_stream(fetch_page, old.get(key), status_of)
                found.extend(statuses)
                if newest is not None:
                    new_cursor[key] = newest
        except mastodon_py.MastodonError as exc:
            raise _source_error(exc, api, host) from None
        except (KeyError, TypeError, AttributeError):
            raise SourceError(f"Mastodon: {host} answered in a shape this app does not know") from None
        return self._posts(found, new_cursor, host)

    def _posts(self, statuses: list[Any], cursor: dict[str, Any], host: str) -> FetchResult:
        posts: dict[str, Post] = {}
        errors: list[str] = []
        for status in statuses:
            sid = str(status.get("id"))
            if sid in posts:
                continue  # a post can be a mention and carry a followed hashtag too
            try:
                record = _record(status, host)
                if not record["text"]:
                    errors.append(f"post {sid} has no text; skipped")
                    continue
                post = parse_post(record)
            except PostError as exc:
                errors.append(f"post {sid}: {exc}")
                continue
            except (KeyError, TypeError, AttributeError, ValueError):
                errors.append(f"post {sid} is not in the shape Mastodon sends; skipped")
                continue
            posts[sid] = post
        ordered = sorted(posts.values(), key=lambda p: (p.posted_at or datetime.now(UTC), _id_key(p.external_id)))
        return FetchResult(ordered, cursor, errors)

    def send_reply(self, config: dict[str, Any], reply: OutgoingReply) -> SentReply:
        acct = str(reply.network_data.get("acct") or reply.author_handle).lstrip("@")
        text = reply.text.strip()
        if not re.search(rf"(?<![\w@])@{re.escape(acct)}(?![\w@.-])", text, re.IGNORECASE):
            text = f"@{acct} {text}"  # Mastodon notifies and threads only for accounts the text mentions
        limit = self.reply_limit or 500
        if counted_length(text) > limit:
            raise ReplyRefused(f"Mastodon replies may have at most {limit} characters; this one has "
                               f"{counted_length(text)} (with the @{acct} mention)")
        visibility = reply.network_data.get("visibility")
        api = _client(config)
        _, host = _instance(config)
        try:
            sent = api.status_post(text, in_reply_to_id=reply.external_id,
                                   visibility=visibility if visibility in VISIBILITIES else None,
                                   idempotency_key=f"triage-{reply.reply_id}")
        except mastodon_py.MastodonRatelimitError:
            until = _rate_limit_until(api)
            raise TransientReplyError(f"Mastodon: {host} says too many requests until {until:%H:%M} UTC") from None
        except mastodon_py.MastodonNetworkError as exc:
            raise TransientReplyError(_network_failure(exc, host)) from None
        except mastodon_py.MastodonError as exc:
            status = _status_code(exc)
            if status == 404:
                raise ReplyRefused(f"Mastodon: the post being answered is gone ({_reason(exc)})") from None
            if status in (401, 403, 422):
                raise ReplyRefused(f"Mastodon: {host} refused the reply: {_reason(exc)}") from None
            raise TransientReplyError(str(_source_error(exc, api, host))) from None
        if not isinstance(sent, dict) or sent.get("id") is None:
            raise TransientReplyError(f"Mastodon: {host} did not say whether the reply was posted")
        return SentReply(external_id=str(sent["id"]), url=sent.get("url") or sent.get("uri"))


def counted_length(text: str) -> int:
    """Length as Mastodon counts it: links as 23 characters, remote mentions by their local part only."""
    text = _REMOTE_MENTION.sub(r"\1", text)
    return len(_URL.sub("x" * URL_WEIGHT, text))


CONNECTOR = MastodonConnector()
