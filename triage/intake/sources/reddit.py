"""Reddit: mentions of the brand's account, keyword searches in subreddits, and replies, through praw.

A Reddit "script" app signs in as the brand's account (client id and secret plus username and password). Each
poll reads the inbox's username mentions, the brand's own latest comments (its answers made on reddit.com arrive
as brand replies) and, when set, keyword searches in the chosen subreddits. Every listing is newest first; the
cursor keeps the newest fullname (t1_…/t3_…) and time of each, and a poll stops reading a listing there.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import praw
import requests
from praw.exceptions import PRAWException, RedditAPIException
from praw.models import Subreddit
from prawcore.exceptions import (
    BadJSON,
    Forbidden,
    InvalidToken,
    NotFound,
    OAuthException,
    PrawcoreException,
    Redirect,
    RequestException,
    ResponseException,
    ServerError,
    TooManyRequests,
)
from prawcore.requestor import Requestor

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

WEB = "https://www.reddit.com"  # where people read posts, whichever API address the config names
TIMEOUT = 15  # seconds for each request (prawcore's own per-request default is 16)
FIRST_POLL = 100  # a new source reads this many of each listing's newest items
LATER_POLLS = 500  # and later at most this many new ones before saying some were skipped
SEARCH_WINDOW = "week"  # Reddit search's time filter; the cursor stops the walk well before it
REPLY_LIMIT = 10_000  # characters in a Reddit comment
RATE_LIMIT_FALLBACK = 60  # seconds to wait when Reddit says 429 without saying how long
_SUBREDDIT = re.compile(r"[A-Za-z0-9_]{2,21}")
_GONE = ("[deleted]", "[removed]")
_SIGN_IN = {
    "invalid_grant": "wrong username or password (an account with two-factor authentication cannot sign in "
                     "this way)",
    "unsupported_grant_type": "the app is not a 'script' app",
    "invalid_client": "wrong client id or secret",
}
# Reddit's error codes for a comment it will never take; anything else it refuses is also final unless it is a
# rate limit, but these get their own words.
_REFUSALS = {
    "DELETED_COMMENT": "the comment has been deleted",
    "DELETED_LINK": "the post has been deleted",
    "THREAD_LOCKED": "the thread is locked",
    "TOO_OLD": "the post is archived (too old to reply to)",
    "USER_BLOCKED": "the author has blocked the account",
    "SUBREDDIT_NOTALLOWED": "the account may not post in that subreddit",
    "TOO_LONG": f"the reply is longer than Reddit's {REPLY_LIMIT:,} characters",
}


class _Exhausted(Exception):
    """The last response said no requests are left in this window: stop instead of sleeping in the worker."""

    def __init__(self, until: float) -> None:
        super().__init__("rate limit used up")
        self.until = until


class _Requestor(Requestor):
    """prawcore's requestor that will not sleep out a spent rate limit (it can be minutes): it stops instead."""

    exhausted_until: float | None = None

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        if self.exhausted_until is not None:
            raise _Exhausted(self.exhausted_until)
        response = super().request(*args, timeout=timeout, **kwargs)
        left, reset = response.headers.get("x-ratelimit-remaining"), response.headers.get("x-ratelimit-reset")
        if left is not None and response.status_code != 429 and _number(left, 1) <= 0:
            self.exhausted_until = time.time() + _number(reset, RATE_LIMIT_FALLBACK)
            del response.headers["x-ratelimit-remaining"]  # prawcore would sleep until the reset
        return response


def _number(raw: str | None, fallback: float) -> float:
    try:
        value = float(raw) if raw is not None else fallback
    except ValueError:
        return fallback
    return value if 0 <= value < 86_400 else fallback


def _text(config: dict[str, Any], name: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SourceError(f"Reddit source: '{name}' is missing")
    return value.strip()


def _url(config: dict[str, Any], name: str, default: str) -> str:
    value = config.get(name) or default
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+$", value.strip().rstrip("/")):
        raise SourceError(f"Reddit source: '{name}' must be an http:// or https:// address without a path")
    return value.strip().rstrip("/")


def _list(config: dict[str, Any], name: str) -> list[str]:
    raw = config.get(name) or []
    parts = re.split(r"[,\n]", raw) if isinstance(raw, str) else [str(p) for p in raw]
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


def _subreddits(config: dict[str, Any]) -> list[str]:
    names = [re.sub(r"^/?r/", "", name, flags=re.IGNORECASE) for name in _list(config, "subreddits")]
    for name in names:
        if not _SUBREDDIT.fullmatch(name):
            raise SourceError(f"Reddit source: '{name[:40]}' is not a subreddit name (2 to 21 letters, digits, _)")
    return names


def _client(config: dict[str, Any]) -> praw.Reddit:
    username = _text(config, "username")
    return praw.Reddit(
        client_id=_text(config, "client_id"), client_secret=_text(config, "client_secret"),
        username=username, password=_text(config, "password"),
        user_agent=f"python:triage:0.1 (by /u/{username})",
        oauth_url=_url(config, "oauth_url", "https://oauth.reddit.com"),
        reddit_url=_url(config, "reddit_url", WEB),
        check_for_updates=False, ratelimit_seconds=0, timeout=TIMEOUT,
        requestor_class=_Requestor, requestor_kwargs={"timeout": TIMEOUT},
    )


def _status(exc: ResponseException) -> str:
    return f"HTTP {exc.response.status_code}"


def _reason(exc: Exception) -> str:
    """What went wrong, in words, from any praw or prawcore error (never the request, which holds secrets)."""
    if isinstance(exc, OAuthException):
        return f"Reddit refused the sign-in: {_SIGN_IN.get(exc.error, exc.error)}"
    if isinstance(exc, RedditAPIException):
        return "Reddit said " + "; ".join(item.error_message for item in exc.items)
    if isinstance(exc, BadJSON):
        return f"Reddit answered with something that is not JSON ({_status(exc)})"
    if isinstance(exc, ServerError):
        return f"Reddit is having trouble ({_status(exc)}); try again later"
    if isinstance(exc, Redirect):
        return f"Reddit redirected to {exc.path} (is a subreddit name wrong?)"
    if isinstance(exc, NotFound):
        return f"Reddit does not know {exc.response.url.split('?')[0]} ({_status(exc)}; is a subreddit name wrong?)"
    if isinstance(exc, Forbidden):
        return f"Reddit refused access ({_status(exc)}: private or banned subreddit, or a suspended account)"
    if isinstance(exc, InvalidToken):
        return "Reddit refused the access token it had just given (HTTP 401); try connecting again"
    if isinstance(exc, ResponseException):
        if exc.response.status_code == 401:
            return "Reddit refused the app's client id or secret (HTTP 401)"
        return f"Reddit answered {_status(exc)}"
    if isinstance(exc, RequestException):
        where = str(exc.request_args[1]).split("?")[0] if len(exc.request_args) > 1 else "Reddit"
        return f"could not reach Reddit at {where}: {type(exc.original_exception).__name__}"
    if isinstance(exc, requests.JSONDecodeError):
        return "Reddit answered the sign-in with something that is not JSON"
    return f"Reddit: {type(exc).__name__}"


def _rate_limited(exc: TooManyRequests | _Exhausted) -> RateLimited:
    if isinstance(exc, _Exhausted):
        until = datetime.fromtimestamp(exc.until, UTC)
    else:
        headers = exc.response.headers
        wait = _number(headers.get("x-ratelimit-reset") or headers.get("retry-after"), RATE_LIMIT_FALLBACK)
        until = datetime.now(UTC) + timedelta(seconds=max(wait, 1))
    return RateLimited(f"Reddit's rate limit is used up; polling again after {until:%H:%M:%S} UTC", until)


@contextmanager
def _calling_reddit() -> Iterator[None]:
    """Reddit's failures as the source's: RateLimited for 429s, SourceError with the reason for the rest."""
    try:
        yield
    except (TooManyRequests, _Exhausted) as exc:
        raise _rate_limited(exc) from None
    except (PrawcoreException, PRAWException, requests.JSONDecodeError) as exc:
        raise SourceError(_reason(exc)) from None


def _fullname(thing: Any) -> str:
    data = vars(thing)  # praw fetches lazily on a missing attribute: read what the listing gave
    return str(data.get("name") or "")


def _created(thing: Any) -> float:
    value = vars(thing).get("created_utc")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _record(thing: Any) -> dict[str, Any] | None:
    """A comment or submission as an import record, or None for one deleted or removed."""
    data = vars(thing)
    fullname = _fullname(thing)
    comment = fullname.startswith("t1_")
    if comment:
        text = str(data.get("body") or "")
    else:
        title, body = str(data.get("title") or ""), str(data.get("selftext") or "")
        text = "\n\n".join(part for part in (title, "" if body in _GONE else body) if part)
    if not text or text in _GONE:
        return None
    if len(text) > MAX_TEXT_CHARS:  # self posts may be 40,000 characters; keep the start
        text = text[: MAX_TEXT_CHARS - 1].rstrip() + "…"
    author = data.get("author")  # a praw Redditor, or None for "[deleted]"
    # Inbox items carry "context" (the permalink plus ?context=3) instead of "permalink".
    link = str(data.get("permalink") or data.get("context") or "").split("?")[0]
    score, replies = data.get("score"), data.get("num_comments")
    engagement = {"score": score} if isinstance(score, int) else {}
    if not comment and isinstance(replies, int):
        engagement["replies"] = replies
    return {
        "id": fullname, "network": "reddit", "text": text,
        "author": str(author) if author is not None else "deleted",
        "posted_at": datetime.fromtimestamp(_created(thing), UTC).isoformat() if _created(thing) else None,
        "url": WEB + link if link.startswith("/") else None,
        "in_reply_to": (str(data.get("parent_id") or "") or None) if comment else None,
        "network_data": {"fullname": fullname, "kind": "comment" if comment else "submission",
                         "subreddit": str(data.get("subreddit") or "")},
        "engagement": engagement or None,
    }


def _walk(listing: Callable[[int], Iterable[Any]], mark: Any) -> tuple[list[Any], dict[str, Any] | None, bool]:
    """The items newer than `mark` (newest first), the new mark, and whether the walk stopped short of `mark`."""
    known = mark if isinstance(mark, dict) and isinstance(mark.get("newest"), str) else None
    limit = LATER_POLLS if known else FIRST_POLL
    items: list[Any] = []
    for thing in listing(limit):
        if known and (_fullname(thing) == known["newest"] or _created(thing) < float(known.get("at") or 0)):
            break
        items.append(thing)
    else:
        cut = known is not None and len(items) >= limit
        return items, _mark(items, known), cut
    return items, _mark(items, known), False


def _mark(items: list[Any], old: dict[str, Any] | None) -> dict[str, Any] | None:
    newest = next((thing for thing in items if _fullname(thing)), None)
    return {"newest": _fullname(newest), "at": _created(newest)} if newest is not None else old


def _search(where: Subreddit, keyword: str) -> Callable[[int], Iterable[Any]]:
    """Reddit search for `keyword` in `where` (a subreddit or several joined by +), newest first."""
    return lambda limit: where.search(keyword, sort="new", time_filter=SEARCH_WINDOW, limit=limit)


class RedditConnector(Connector):
    kind = "reddit"
    label = "Reddit"
    network = "reddit"
    connectable = True
    reply_limit = REPLY_LIMIT
    min_interval = 60
    fields = (
        ConfigField("client_id", "Client id", help="Under the app's name at reddit.com/prefs/apps (a script app)"),
        ConfigField("client_secret", "Client secret", secret=True),
        ConfigField("username", "Username", help="The brand's Reddit account, without u/"),
        ConfigField("password", "Password", secret=True),
        ConfigField("subreddits", "Subreddits", required=False, kind="list",
                    help="Search these for the keywords (every new post in them when no keywords are set)"),
        ConfigField("keywords", "Keywords", required=False, kind="list",
                    help="Reddit search terms; searched in the subreddits, or all of Reddit without any"),
        ConfigField("oauth_url", "API address", required=False, kind="url", default="https://oauth.reddit.com"),
        ConfigField("reddit_url", "Sign-in address", required=False, kind="url", default=WEB),
    )

    def verify(self, config: dict[str, Any]) -> Account:
        """The signed-in account: handle is the bare username (as posts carry it), e.g. "acme", not "u/acme"."""
        with _calling_reddit():
            me = _client(config).user.me()
            if me is None:
                raise SourceError("Reddit did not say who the account is (a read-only sign-in)")
            data = vars(me)
            name = str(data.get("name") or "")
            profile = data.get("subreddit")
            title = vars(profile).get("title") if profile is not None else None
        if not name:
            raise SourceError("Reddit did not say who the account is")
        return Account(handle=name, display_name=str(title or name), url=f"{WEB}/user/{name}")

    def fetch(self, config: dict[str, Any], cursor: dict[str, Any]) -> FetchResult:
        cursor = dict(cursor or {})
        subreddits, keywords = _subreddits(config), _list(config, "keywords")
        with _calling_reddit():
            reddit = _client(config)
            listings: dict[str, Callable[[int], Iterable[Any]]] = {
                "mentions": lambda limit: reddit.inbox.mentions(limit=limit),
                "own": lambda limit: reddit.redditor(_text(config, "username")).comments.new(limit=limit),
            }
            where = reddit.subreddit("+".join(subreddits) or "all")
            for keyword in keywords:
                listings[f"search:{keyword}"] = _search(where, keyword)
            if subreddits and not keywords:
                listings["new"] = lambda limit: where.new(limit=limit)
            found: dict[str, Any] = {}
            errors: list[str] = []
            for key, listing in listings.items():
                items, mark, cut = _walk(listing, cursor.get(key))
                if mark is not None:
                    cursor[key] = mark
                if cut:
                    errors.append(f"{key}: more than {LATER_POLLS} new items since the last poll; older ones skipped")
                for thing in items:
                    found.setdefault(_fullname(thing), thing)
        for key in [k for k in cursor if k.startswith(("search:", "new")) and k not in listings]:
            del cursor[key]  # a keyword or subreddit setting removed
        posts: list[Post] = []
        for fullname, thing in found.items():
            try:
                record = _record(thing)
                if record is not None:
                    posts.append(parse_post(record))
            except PostError as exc:
                errors.append(f"{fullname or 'an item without a fullname'}: {exc}")
        posts.sort(key=lambda post: post.posted_at or datetime.now(UTC))
        return FetchResult(posts, cursor, errors)

    def send_reply(self, config: dict[str, Any], reply: OutgoingReply) -> SentReply:
        text = reply.text.strip()
        if not text:
            raise ReplyRefused("the reply is empty")
        if len(text) > REPLY_LIMIT:
            raise ReplyRefused(f"the reply is {len(text):,} characters; Reddit allows {REPLY_LIMIT:,}")
        kind, _, base36 = reply.external_id.partition("_")
        if kind not in ("t1", "t3") or not re.fullmatch(r"[0-9a-z]{1,13}", base36):
            raise ReplyRefused(f"'{reply.external_id[:40]}' is not a Reddit comment or post (t1_… or t3_…)")
        try:
            reddit = _client(config)
            thing = reddit.comment(base36) if kind == "t1" else reddit.submission(base36)
            sent = thing.reply(text)
        except SourceError as exc:
            raise ReplyRefused(str(exc)) from None
        except (TooManyRequests, _Exhausted, ServerError, RequestException) as exc:
            raise TransientReplyError(_reason(exc) if not isinstance(exc, _Exhausted) else
                                      "Reddit's rate limit is used up") from None
        except RedditAPIException as exc:
            codes = [item.error_type for item in exc.items]
            if "RATELIMIT" in codes:
                raise TransientReplyError(_reason(exc)) from None
            words = [_REFUSALS[code] for code in codes if code in _REFUSALS]
            raise ReplyRefused("; ".join(words) if words else _reason(exc)) from None
        except Forbidden:
            raise ReplyRefused("Reddit refused the reply (HTTP 403): the thread is locked or archived, or the "
                               "account is banned from the subreddit") from None
        except BadJSON:
            raise ReplyRefused("Reddit's answer was not JSON: the reply may have been posted; look at the thread "
                               "before retrying") from None
        except (PrawcoreException, PRAWException, requests.JSONDecodeError) as exc:
            raise ReplyRefused(_reason(exc)) from None
        if sent is None:  # a quarantined subreddit: posted, but Reddit does not say as what
            return SentReply(external_id="", url=reply.url)
        link = str(vars(sent).get("permalink") or "")
        return SentReply(external_id=_fullname(sent) or f"t1_{vars(sent).get('id', '')}",
                         url=WEB + link if link.startswith("/") else None)


CONNECTOR = RedditConnector()
