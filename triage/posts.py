"""A post as it arrives from any source, before it is stored, and its validation.

Every way in (demo, RSS, file import, push API) turns its raw records into `Post`s through
`parse_post`, so a record is judged by the same rules whichever door it came through.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

MAX_TEXT_CHARS = 10_000  # longer posts are refused, not truncated: no network allows more
MAX_FIELD_CHARS = 512
REQUIRED_FIELDS = ("id", "network", "text", "author")
NETWORK_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
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


def _string(record: dict, field: str, *, required: bool = False, limit: int = MAX_FIELD_CHARS) -> str | None:
    value = record.get(field)
    if value is None or value == "":
        if required:
            raise PostError(f"missing field '{field}'")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and field in ("id", "in_reply_to"):
        value = str(value)
    if not isinstance(value, str):
        raise PostError(f"field '{field}' must be a string")
    value = clean_text(value)
    if required and not value:
        raise PostError(f"field '{field}' is empty")
    if len(value) > limit:
        raise PostError(f"field '{field}' is {len(value):,} characters, more than the {limit:,} allowed")
    return value or None


def parse_datetime(value: Any) -> datetime:
    """ISO 8601 (a trailing Z allowed) to an aware UTC datetime; naive times are taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise PostError(f"posted_at '{value[:40]}' is not an ISO 8601 time") from None
    else:
        raise PostError("posted_at must be an ISO 8601 string")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_post(record: Any, *, default_network: str | None = None) -> Post:
    """Validate one raw record (import / API field names) and build a `Post`, or raise `PostError`."""
    if not isinstance(record, dict):
        raise PostError("a post must be a JSON object")
    if default_network and not record.get("network"):
        record = {**record, "network": default_network}
    for field in REQUIRED_FIELDS:
        if record.get(field) in (None, ""):
            raise PostError(f"missing field '{field}'")
    network = _string(record, "network", required=True).lower()
    if not NETWORK_RE.match(network):
        raise PostError(f"network '{network[:40]}' is not a network name (letters, digits, . _ -)")
    followers = record.get("author_followers")
    if followers in (None, ""):
        followers = None
    else:
        try:
            followers = int(followers)
        except (TypeError, ValueError):
            raise PostError("author_followers must be a whole number") from None
        if followers < 0:
            raise PostError("author_followers must not be negative")
    posted_at = record.get("posted_at")
    return Post(
        external_id=_string(record, "id", required=True),
        network=network,
        text=_string(record, "text", required=True, limit=MAX_TEXT_CHARS),
        author_handle=_string(record, "author", required=True).lstrip("@").lower(),
        author_name=_string(record, "author_name"),
        author_followers=followers,
        posted_at=parse_datetime(posted_at) if posted_at not in (None, "") else None,
        url=_string(record, "url", limit=2048),
        in_reply_to=_string(record, "in_reply_to"),
        language=_string(record, "language", limit=16),
    )
