"""Bluesky: mentions, replies and quotes of the account, keyword searches, and replies threaded under them.

Uses the `atproto` SDK against the account's service (https://bsky.social, or a local fake in tests). createSession
is rate-limited (30 per 5 minutes, 300 a day), so polls do not log in: the session string is kept in the cursor
(for sends, which have no cursor, in this process), the SDK refreshes it, and a dead one logs in again.
Replies are measured in graphemes, approximated: combining marks, variation selectors, skin tones and whatever a
zero-width joiner joins add nothing, and a flag counts once. A post also holds at most 3,000 bytes.
"""
from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, cast

from atproto import Client, Request, Session, SessionEvent, models
from atproto_client import exceptions as atp
from atproto_client.models.common import XrpcError
from atproto_client.models.utils import get_model_as_dict
from atproto_client.utils import facet_detection
from atproto_core.exceptions import AtProtocolError

from triage.intake.posts import Post, PostError, parse_post
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

SERVICE = "https://bsky.social"
APP_URL = "https://bsky.app"
TIMEOUT = 20.0  # seconds, every XRPC call
PAGE, MAX_PAGES = 50, 5  # items a page; pages a poll reads of each list
REASONS = ("mention", "reply", "quote")
SEEN_KEPT = 200
MAX_GRAPHEMES, MAX_BYTES = 300, 3000  # what a post may hold
RATE_LIMIT_FALLBACK = timedelta(minutes=5)  # a 429 without ratelimit-reset
_AUTH_ERRORS = {"AuthenticationRequired", "ExpiredToken", "InvalidToken", "AuthMissing"}
_JOINED = re.compile("\u200d.", re.DOTALL)  # a zero-width joiner and what it joins to the character before
_FLAGS = re.compile("[\U0001F1E6-\U0001F1FF]{2}")
_ZERO_WIDTH = {0x200D, 0x20E3, *range(0xFE00, 0xFE10), *range(0x1F3FB, 0x1F400), *range(0xE0020, 0xE0080)}
# Sends have no cursor: the newest session string of each account (service, handle, password) in this process.
_sessions: dict[str, str] = {}
_sessions_lock = threading.Lock()


def grapheme_count(text: str) -> int:
    """Approximate user-perceived characters (see the module docstring)."""
    text = _JOINED.sub("", text)
    plain = sum(1 for char in text if ord(char) not in _ZERO_WIDTH and not unicodedata.combining(char))
    return plain - len(_FLAGS.findall(text))  # a flag is two regional indicators


def _settings(config: dict[str, Any]) -> tuple[str, str, str, list[str]]:
    handle = str(config.get("handle") or "").strip().lstrip("@")
    password = str(config.get("app_password") or "").strip()
    if not handle or not password:
        raise SourceError("Bluesky source: 'handle' and 'app_password' are required")
    service = str(config.get("service") or SERVICE).strip().rstrip("/")
    if not service.lower().startswith(("http://", "https://")):
        raise SourceError("Bluesky source: 'service' must be an http:// or https:// address")
    raw = config.get("keywords") or []
    words = raw.replace("\n", ",").split(",") if isinstance(raw, str) else [str(w) for w in raw]
    return handle, password, service, [w.strip() for w in words if w.strip()]


def _account_key(handle: str, password: str, service: str) -> str:
    return hashlib.sha256(f"{service}\n{handle.lower()}\n{password}".encode()).hexdigest()


def _reason(exc: BaseException) -> str:
    """What the network said, in words: 'AuthenticationRequired: Invalid identifier or password'."""
    response = exc.response if isinstance(exc, atp.RequestErrorBase) else None
    if response is None:
        return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
    content = response.content
    if isinstance(content, XrpcError):
        return f"HTTP {response.status_code} {content.error}" + (f": {content.message}" if content.message else "")
    return f"HTTP {response.status_code}"


def _is_auth_error(exc: BaseException) -> bool:
    if isinstance(exc, atp.UnauthorizedError):
        return True
    response = exc.response if isinstance(exc, atp.BadRequestError) else None
    return response is not None and isinstance(response.content, XrpcError) and response.content.error in _AUTH_ERRORS


def _source_error(exc: Exception, service: str, doing: str) -> SourceError:
    if isinstance(exc, atp.RateLimitExceededError):
        reset = exc.reset_at or datetime.now(UTC) + RATE_LIMIT_FALLBACK
        return RateLimited(f"Bluesky's rate limit was reached while {doing}; it resets at {reset:%H:%M} UTC", reset)
    if not isinstance(exc, atp.RequestErrorBase):
        return SourceError(f"Bluesky at {service} sent a response that is not the expected JSON while {doing}")
    if exc.response is None:
        return SourceError(f"could not reach Bluesky at {service} while {doing}: {type(exc).__name__}")
    if exc.response.status_code >= 500:
        return SourceError(f"Bluesky at {service} failed while {doing} ({_reason(exc)}); polling will retry")
    return SourceError(f"Bluesky at {service} said no while {doing}: {_reason(exc)}")


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def post_url(handle: str, uri: str) -> str:
    return f"{APP_URL}/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}"


class _Link:
    """A logged-in SDK client for one call of the connector; keeps the session string as the SDK changes it."""

    def __init__(self, handle: str, password: str, service: str, saved: str | None) -> None:
        self.handle, self.password, self.service = handle, password, service
        self.key = _account_key(handle, password, service)
        self.saved = saved
        self.session: Session | None = None
        self.logins = 0
        self.client = self._client()

    def _client(self) -> Client:
        client = Client(base_url=self.service, request=Request(timeout=TIMEOUT))
        client.on_session_change(self._changed)
        return client

    def _changed(self, event: SessionEvent, session: Session) -> None:
        self.session = session
        self.saved = session.export()
        with _sessions_lock:
            _sessions[self.key] = self.saved

    def login(self) -> None:
        """Log in with the password (createSession): once per connector call at most."""
        self.logins += 1
        self.client.request.close()
        self.client = self._client()
        self.client.login(self.handle, self.password, fetch_bsky_profile=False)

    def __enter__(self) -> _Link:
        try:
            if self.saved:
                try:
                    self.client.login(session_string=self.saved, fetch_bsky_profile=False)
                    if self.session and self.session.access_jwt_payload.exp:
                        return self
                except (ValueError, AtProtocolError):
                    pass  # an unreadable session string: log in afresh
            self.login()
        except BaseException:
            self.client.request.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.client.request.close()

    def call(self, request: Callable[[Client], Any]) -> Any:
        """Run `request(client)`; a session the server no longer takes (even after the SDK's refresh, e.g. with a
        dead refresh token) logs in once with the password and runs it again."""
        try:
            return request(self.client)
        except AtProtocolError as exc:
            if self.logins or not _is_auth_error(exc):
                raise
        self.login()
        return request(self.client)

    def posts(self, uris: list[str]) -> list[dict[str, Any]]:
        """app.bsky.feed.getPosts (at most 25 uris): the views of those still there, with their counts."""
        return [_as_dict(p) for p in self.call(lambda c: c.app.bsky.feed.get_posts({"uris": uris})).posts]

    @property
    def did(self) -> str:
        assert self.session is not None  # set by every login, from a password or a session string
        return str(self.session.did)


def _as_dict(model: Any) -> dict[str, Any]:
    return cast(dict[str, Any], get_model_as_dict(model))


def _walk(pages: Callable[[str | None], tuple[list[dict[str, Any]], str | None]],
          marker: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
    """Items newer than `marker` (newest first, as listed), the next marker, and whether a gap was left unread."""
    since = newest = _when(marker.get("since"))
    seen = [s for s in marker["seen"] if isinstance(s, str)] if isinstance(marker.get("seen"), list) else []
    known, fresh, page_cursor, reached = set(seen), list[dict[str, Any]](), None, False
    for _ in range(MAX_PAGES):
        items, page_cursor = pages(page_cursor)
        for item in items:
            at = _when(item.get("indexedAt"))
            if since is not None and at is not None and at < since:
                reached = True
                break
            if at is not None and (newest is None or at > newest):
                newest = at
            if item.get("uri") not in known:
                known.add(str(item.get("uri")))
                fresh.append(item)
        if reached or not page_cursor or not items:
            reached = True
            break
    kept = (seen + [str(item.get("uri")) for item in reversed(fresh)])[-SEEN_KEPT:]
    next_marker = {"seen": kept, **({"since": newest.isoformat()} if newest else {})}
    return fresh, next_marker, not reached and since is not None


def _to_post(view: dict[str, Any], counts: dict[str, int] | None, errors: list[str]) -> Post | None:
    """A post view or notification (camelCase dicts, as the lexicon names them) as a Post; None if unusable."""
    uri, cid = str(view.get("uri") or ""), str(view.get("cid") or "")
    author, record = view.get("author") or {}, view.get("record") or {}
    handle = str(author.get("handle") or author.get("did") or "")
    reply = record.get("reply") or {}
    root = reply.get("root") or {"uri": uri, "cid": cid}
    indexed, created = _when(view.get("indexedAt")), _when(record.get("createdAt"))
    if created is None or (indexed is not None and created > indexed + timedelta(days=1)):
        created = indexed  # a client-set createdAt far ahead of when the network saw it is not believed
    langs = record.get("langs") or []
    text = str(record.get("text") or "").strip() or "[post without text]"  # image-only mentions still count
    data = {"uri": uri, "cid": cid, "root": {"uri": str(root.get("uri")), "cid": str(root.get("cid"))}}
    rec: dict[str, Any] = {
        "id": uri, "network": "bluesky", "text": text, "author": handle,
        "author_name": author.get("displayName") or None,
        "posted_at": created.isoformat() if created else None, "url": post_url(handle, uri) if handle else None,
        "in_reply_to": (reply.get("parent") or {}).get("uri"),
        "language": str(langs[0])[:16] if langs else None, "network_data": data, "engagement": counts,
    }
    try:
        return parse_post(rec)
    except PostError as exc:
        errors.append(f"post {uri}: {exc}")
        return None


def _counts(view: dict[str, Any]) -> dict[str, int] | None:
    pairs = {"replies": "replyCount", "reposts": "repostCount", "likes": "likeCount", "quotes": "quoteCount"}
    found = {ours: int(view[theirs]) for ours, theirs in pairs.items() if isinstance(view.get(theirs), int)}
    return found or None


class BlueskyConnector(Connector):
    kind: ClassVar[str] = "bluesky"
    label: ClassVar[str] = "Bluesky"
    network: ClassVar[str] = "bluesky"
    connectable: ClassVar[bool] = True
    reply_limit: ClassVar[int | None] = MAX_GRAPHEMES
    min_interval: ClassVar[int] = 60
    secret_cursor_keys: ClassVar[tuple[str, ...]] = ("session",)  # the exported session logs in for weeks
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("handle", "Handle", help="the account's handle, e.g. brand.bsky.social"),
        ConfigField("app_password", "App password", secret=True,
                    help="Settings → Privacy and security → App passwords on bsky.app (not the account password)"),
        ConfigField("service", "Service (PDS) URL", required=False, kind="url", default=SERVICE,
                    help="where the account lives; https://bsky.social for most accounts"),
        ConfigField("keywords", "Search keywords", required=False, kind="list",
                    help="also fetch posts matching these searches (brand names, product names)"),
    )

    def verify(self, config: dict[str, Any]) -> Account:
        handle, password, service, _ = _settings(config)
        try:
            with _Link(handle, password, service, None) as link:
                try:
                    profile = _as_dict(link.client.app.bsky.actor.get_profile({"actor": link.did}))
                except AtProtocolError as exc:
                    if _is_auth_error(exc) or isinstance(exc, atp.RateLimitExceededError):
                        raise
                    profile = {}  # a bare PDS without the app view: the login itself is what counts
                own = str(profile.get("handle") or (link.session.handle if link.session else handle))
                return Account(handle=own, display_name=profile.get("displayName") or None,
                               url=f"{APP_URL}/profile/{own}")
        except (AtProtocolError, ValueError) as exc:
            raise _source_error(exc, service, "logging in") from None

    def fetch(self, config: dict[str, Any], cursor: dict[str, Any]) -> FetchResult:
        handle, password, service, keywords = _settings(config)
        cursor, errors, found = dict(cursor or {}), list[str](), dict[str, Post]()
        account = f"{handle.lower()}@{service}"
        saved = cursor.get("session") if cursor.get("account") == account else None
        searches: dict[str, Any] = cursor["search"] if isinstance(cursor.get("search"), dict) else {}
        step = "logging in"
        try:
            with _Link(handle, password, service, saved if isinstance(saved, str) else None) as link:
                step = "reading the notifications"
                params: dict[str, Any] = {"limit": PAGE, "reasons": list(REASONS)}
                notes, cursor["notifications"] = _read(
                    link, lambda c: c.app.bsky.notification.list_notifications, "notifications", params,
                    cursor.get("notifications"), errors, "notifications")
                notes = [n for n in notes if n.get("reason") in REASONS]
                step = "reading the posts' counts"  # notifications carry none: getPosts, 25 at a time
                counts: dict[str, dict[str, int] | None] = {}
                for start in range(0, len(notes), 25):
                    got = link.posts([str(n["uri"]) for n in notes[start:start + 25]])
                    counts.update({str(v["uri"]): _counts(v) for v in got})
                views = [(note, counts.get(str(note["uri"]))) for note in notes]
                # The account's own replies made on bsky.app, so the mentions they answer count as answered.
                step = "reading the account's own replies"
                params = {"actor": link.did, "filter": "posts_with_replies", "limit": PAGE}
                own, cursor["own"] = _read(link, lambda c: c.app.bsky.feed.get_author_feed, "feed", params,
                                           cursor.get("own"), errors, "posts of the account")
                views += [(v, _counts(v)) for v in own if (v.get("author") or {}).get("did") == link.did
                          and (v.get("record") or {}).get("reply")]
                cursor["search"] = {}
                for word in keywords:
                    step = f"searching for '{word}'"
                    marker: dict[str, Any] = searches[word] if isinstance(searches.get(word), dict) else {}
                    params = {"q": word, "sort": "latest", "limit": PAGE, "since": marker.get("since")}
                    hits, cursor["search"][word] = _read(link, lambda c: c.app.bsky.feed.search_posts, "posts", params,
                                                         marker, errors, f"posts matching '{word}'")
                    views += [(v, _counts(v)) for v in hits]
                cursor["account"], cursor["session"] = account, link.saved
        except (AtProtocolError, ValueError) as exc:
            raise _source_error(exc, service, step) from None
        for view, engagement in views:  # a post found twice (a mention matching a search) is kept once
            post = _to_post(view, engagement, errors)
            if post is not None:
                found.setdefault(post.external_id, post)
        posts = sorted(found.values(), key=lambda p: p.posted_at or datetime.now(UTC))
        return FetchResult(posts, cursor, errors)

    def send_reply(self, config: dict[str, Any], reply: OutgoingReply) -> SentReply:
        try:
            handle, password, service, _ = _settings(config)
        except SourceError as exc:
            raise ReplyRefused(str(exc)) from None
        text = reply.text.strip()
        length = grapheme_count(text)
        if length > MAX_GRAPHEMES:
            raise ReplyRefused(f"the reply is {length} characters (as Bluesky counts them); it allows {MAX_GRAPHEMES}")
        if len(text.encode("utf-8")) > MAX_BYTES:
            raise ReplyRefused(f"the reply is more than the {MAX_BYTES} bytes Bluesky allows in a post")
        data = reply.network_data or {}
        parent = {"uri": str(data.get("uri") or reply.external_id), "cid": str(data.get("cid") or "")}
        root = data.get("root") if isinstance(data.get("root"), dict) else None
        if not parent["uri"].startswith("at://"):
            raise ReplyRefused(f"'{parent['uri'][:80]}' is not the address of a Bluesky post (at://...)")
        with _sessions_lock:
            saved = _sessions.get(_account_key(handle, password, service))
        try:
            with _Link(handle, password, service, saved) as link:
                if not parent["cid"] or not root:
                    parent, root = _thread_refs(link, parent["uri"])
                ref = models.AppBskyFeedPost.ReplyRef(
                    parent=models.ComAtprotoRepoStrongRef.Main(uri=parent["uri"], cid=parent["cid"]),
                    root=models.ComAtprotoRepoStrongRef.Main(uri=str(root["uri"]), cid=str(root["cid"])))
                facets = facet_detection.detect_facets(text) or None  # links and #tags; no lookups
                sent = link.call(lambda c: c.send_post(text, profile_identify=link.did, reply_to=ref, facets=facets))
                own = link.session.handle if link.session else handle
        except (atp.RateLimitExceededError, atp.NetworkError) as exc:
            raise TransientReplyError(f"Bluesky did not take the reply now: {_reason(exc)}") from None
        except atp.RequestErrorBase as exc:
            if exc.response is None or exc.response.status_code >= 500:
                raise TransientReplyError(f"Bluesky at {service} failed: {_reason(exc)}") from None
            raise ReplyRefused(f"Bluesky refused the reply: {_reason(exc)}") from None
        except (AtProtocolError, ValueError) as exc:
            raise TransientReplyError(f"Bluesky at {service} sent an unexpected answer: {type(exc).__name__}") from None
        return SentReply(external_id=str(sent.uri), url=post_url(str(own), str(sent.uri)))


def _read(link: _Link, method: Callable[[Client], Callable[[dict[str, Any]], Any]], key: str,
          params: dict[str, Any], marker: Any, errors: list[str], what: str) -> tuple[list[dict[str, Any]], Any]:
    """One paginated list read back to `marker`; posts of a feed are unwrapped (reposts left out)."""
    def page(after: str | None) -> tuple[list[dict[str, Any]], str | None]:
        got = link.call(lambda c: method(c)({**params, "cursor": after}))
        items = [_as_dict(item) for item in getattr(got, key)]
        return [i["post"] for i in items if not i.get("reason")] if key == "feed" else items, got.cursor

    items, marker, gap = _walk(page, marker if isinstance(marker, dict) else {})
    if gap and what:
        errors.append(f"more than {MAX_PAGES * PAGE} new {what}; the older ones were not read")
    return items, marker


def _thread_refs(link: _Link, uri: str) -> tuple[dict[str, str], dict[str, str]]:
    """Parent and root strong refs of a post stored without them (e.g. imported): looked up with getPosts."""
    views = link.posts([uri])
    if not views:
        raise ReplyRefused(f"the post {uri} is no longer on Bluesky (deleted?)")
    parent = {"uri": str(views[0]["uri"]), "cid": str(views[0]["cid"])}
    root = (views[0].get("record") or {}).get("reply", {}).get("root") or parent
    return parent, {"uri": str(root["uri"]), "cid": str(root["cid"])}


CONNECTOR = BlueskyConnector()
