"""Mention sources: each kind turns a config and a cursor into new posts and the next cursor."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from triage.posts import Post


class SourceError(Exception):
    """A source that failed as a whole; the message is shown to users as it is."""


@dataclass
class FetchResult:
    """New posts (oldest first), the cursor to pass next time, and per-entry problems that were skipped."""

    posts: list[Post]
    cursor: dict[str, Any]
    errors: list[str] = field(default_factory=list)


# Imported after the classes above because the source modules import them from this package.
from triage.sources import demo, rss

KINDS = {"demo": demo.fetch, "rss": rss.fetch}

__all__ = ["KINDS", "FetchResult", "SourceError"]
