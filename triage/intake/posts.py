"""A post as it arrives from any source, before it is stored, and its validation.

Every way in (demo, RSS, file import, push API) turns its raw records into `Post`s through
`parse_post`, so a record is judged by the same rules whichever door it came through.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from triage.core.vocabulary import NETWORK_RE

MAX_TEXT_CHARS = 10_000  # longer posts are refused, not truncated: no network allows more
MAX_FIELD_CHARS = 512  # ids: the columns hold 512
MAX_NAME_CHARS = 200  # handles and display names: the columns hold 200
MAX_URL_CHARS = 2048
MAX_FOLLOWERS = 2**63 - 1  # a signed 64-bit column on every backend
# Earliest and latest post times accepted: no post on any network this app reads predates 1990, and a
# clock a little fast is fine, a date years ahead is a broken exporter (and would overflow deadline maths).
EARLIEST_POST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
REQUIRED_FIELDS = ("id", "network", "text", "author")
MAX_NETWORK_DATA_BYTES = 4096  # what a connector keeps to reply: ids and a few flags, never a copy of the post
MAX_NETWORK_DATA_DEPTH = 4  # the object itself is level 1
ENGAGEMENT_KEYS = ("replies", "reposts", "likes", "quotes", "score")
MAX_COUNT, MIN_SCORE = 2**63 - 1, -(2**63)  # signed 64-bit, as every JSON reader here keeps integers
_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\n\t")


class PostError(ValueError):
    """A record that cannot become a post; the message names the field at fault."""


@dataclass(frozen=True, slots=True)
class Post:
    external_id: str
    network: str
    text: str
    author_handle: str
    author_name: str | None = None
    author_followers: int | None = None
    posted_at: datetime | None = None
    url: str | None = None
    in_reply_to: str | None = None
    language: str | None = None
    # What a connector keeps to answer the post (e.g. Bluesky's uri + cid and thread root, Mastodon's visibility).
    network_data: dict[str, Any] | None = None
    # The network's counts as last seen: replies, reposts, likes, score (whole numbers, refreshed on each sighting).
    engagement: dict[str, int] | None = None

    def to_record(self) -> dict[str, Any]:
        """The post as a JSON-ready dict in the import format (inverse of `parse_post`)."""
        rec = asdict(self)
        rec["id"] = rec.pop("external_id")
        rec["author"] = rec.pop("author_handle")
        if self.posted_at is not None:
            rec["posted_at"] = self.posted_at.isoformat()
        return {k: v for k, v in rec.items() if v is not None}


def clean_text(value: str) -> str:
    """Normalise Unicode and drop control characters that no person typed."""
    return unicodedata.normalize("NFC", value).translate(_CONTROL).strip()


def _string(record: dict[str, Any], field: str, *, required: bool = False, limit: int = MAX_FIELD_CHARS) -> str | None:
    value = record.get(field)
    if value is None or value == "":
        if required:
            raise PostError(f"missing field '{field}'")
        return None
    if field in ("id", "in_reply_to") and not isinstance(value, (str, bool)) and isinstance(value, (int, float)):
        value = str(_whole_number(field, value, 0, 10**30))  # numeric ids, as some exporters write them
    if not isinstance(value, str):
        raise PostError(f"field '{field}' must be a string")
    if not _encodes(value):
        # Refused, not repaired: a lone surrogate means the sender's text was cut or mangled, and the
        # sender (not us) knows what it said. Nothing stored can then fail to encode on the way out.
        raise PostError(f"field '{field}' is not valid Unicode text (it holds a lone surrogate)")
    value = clean_text(value)
    if required and not value:
        raise PostError(f"field '{field}' is empty")
    if len(value) > limit:
        raise PostError(f"field '{field}' is {len(value):,} characters, more than the {limit:,} allowed")
    return value or None


def _required(record: dict[str, Any], field: str, *, limit: int = MAX_FIELD_CHARS) -> str:
    value = _string(record, field, required=True, limit=limit)
    assert value is not None  # _string raises for a required field that is missing or empty
    return value


def _encodes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _whole_number(field: str, value: Any, low: int, high: int) -> int:
    """A whole number in [low, high] from an int, an integral float or a string of digits; else PostError."""
    if isinstance(value, bool):
        raise PostError(f"{field} must be a whole number, not true/false")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise PostError(f"{field} must be a whole number (got {value!r})")
        value = int(value)
    elif isinstance(value, str):
        digits = value.strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,30}", digits):
            raise PostError(f"{field} must be a whole number (got '{digits[:40]}')")
        value = int(digits)
    elif not isinstance(value, int):
        raise PostError(f"{field} must be a whole number")
    if value < low:
        raise PostError(f"{field} must not be negative" if low == 0 else f"{field} is too small")
    if value > high:
        raise PostError(f"{field} is more than the {high:,} allowed")
    return int(value)


def _handle(record: dict[str, Any]) -> str:
    handle = _required(record, "author").lstrip("@").strip().lower()
    if not handle:
        raise PostError("field 'author' is empty (a handle needs more than '@')")
    if len(handle) > MAX_NAME_CHARS:  # measured after lowering: 'İ'.lower() is two characters
        raise PostError(f"field 'author' is {len(handle):,} characters, more than the {MAX_NAME_CHARS:,} allowed")
    return handle


def _http_url(record: dict[str, Any]) -> str | None:
    """The post's link if it is an http(s) URL; any other scheme (javascript:, data:) is dropped, the post kept."""
    url = _string(record, "url", limit=MAX_URL_CHARS)
    if url is None:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _depth(value: Any) -> int:
    """How deeply objects and lists nest in `value`: a scalar is 0, {"a": 1} is 1."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _string_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _string_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_string_keys(v) for v in value)
    return True


def _network_data(record: dict[str, Any]) -> dict[str, Any] | None:
    """What the connector keeps to answer the post: a small JSON object (<= 4 KB, nested at most 4 deep)."""
    value = record.get("network_data")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PostError("field 'network_data' must be a JSON object")
    if not _string_keys(value):
        raise PostError("field 'network_data' must have text keys only")
    if _depth(value) > MAX_NETWORK_DATA_DEPTH:
        raise PostError(f"field 'network_data' nests more than {MAX_NETWORK_DATA_DEPTH} levels deep")
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError):
        raise PostError("field 'network_data' holds a value JSON cannot carry (numbers, text, true/false, "
                        "null, lists and objects only)") from None
    if size > MAX_NETWORK_DATA_BYTES:
        raise PostError(f"field 'network_data' is {size:,} bytes as JSON, more than the {MAX_NETWORK_DATA_BYTES:,} "
                        "allowed")
    return value or None


def _engagement(record: dict[str, Any]) -> dict[str, int] | None:
    """The network's counts: replies, reposts, likes, quotes (whole numbers >= 0) and score (may be negative).

    A count given as null is one the network did not say, and is left out.
    """
    value = record.get("engagement")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PostError("field 'engagement' must be a JSON object of counts")
    unknown = sorted(str(k)[:40] for k in value if k not in ENGAGEMENT_KEYS)
    if unknown:
        raise PostError(f"field 'engagement' has unknown counts {', '.join(unknown)} (known: "
                        f"{', '.join(ENGAGEMENT_KEYS)})")
    counts = {key: _whole_number(f"engagement.{key}", count, MIN_SCORE if key == "score" else 0, MAX_COUNT)
              for key, count in value.items() if count is not None}
    return counts or None


def parse_datetime(value: Any, *, now: datetime | None = None) -> datetime:
    """ISO 8601 (a trailing Z allowed) to an aware UTC datetime between 1990 and a day from now.

    Naive times are taken as UTC.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        if not _encodes(value):
            raise PostError("posted_at is not an ISO 8601 time")
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise PostError(f"posted_at '{value[:40]}' is not an ISO 8601 time") from None
    else:
        raise PostError("posted_at must be an ISO 8601 string")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise PostError(f"posted_at {parsed.isoformat()} is out of range") from None
    latest = (now or datetime.now(UTC)) + FUTURE_SLACK
    if not EARLIEST_POST <= parsed <= latest:
        raise PostError(f"posted_at {parsed.isoformat()} is out of range (from {EARLIEST_POST.year} to a day "
                        "from now)")
    return parsed


def parse_post(record: Any, *, default_network: str | None = None) -> Post:
    """Validate one raw record (import / API field names) and build a `Post`, or raise `PostError`.

    Everything a `Post` holds fits the database columns and the deadline maths, so what passes here can be stored.
    """
    if not isinstance(record, dict):
        raise PostError("a post must be a JSON object")
    if default_network and not record.get("network"):
        record = {**record, "network": default_network}
    for field in REQUIRED_FIELDS:
        if record.get(field) in (None, ""):
            raise PostError(f"missing field '{field}'")
    network = _required(record, "network").lower()
    if not NETWORK_RE.match(network):
        raise PostError(f"network '{network[:40]}' is not a network name (letters, digits, . _ -)")
    followers = record.get("author_followers")
    if isinstance(followers, str) and not followers.strip():
        followers = None
    if followers is not None:
        followers = _whole_number("author_followers", followers, 0, MAX_FOLLOWERS)
    posted_at = record.get("posted_at")
    return Post(
        external_id=_required(record, "id"),
        network=network,
        text=_required(record, "text", limit=MAX_TEXT_CHARS),
        author_handle=_handle(record),
        author_name=_string(record, "author_name", limit=MAX_NAME_CHARS),
        author_followers=followers,
        posted_at=parse_datetime(posted_at) if posted_at not in (None, "") else None,
        url=_http_url(record),
        in_reply_to=_string(record, "in_reply_to"),
        language=_string(record, "language", limit=16),
        network_data=_network_data(record),
        engagement=_engagement(record),
    )
