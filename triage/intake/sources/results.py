"""What a source kind's fetch gives back: new posts and the next cursor, or a `SourceError` for the whole source."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from triage.intake.posts import Post


class SourceError(Exception):
    """A source that failed as a whole; the message is shown to users as it is."""


@dataclass
class FetchResult:
    """New posts (oldest first), the cursor to pass next time, and per-entry problems that were skipped."""

    posts: list[Post]
    cursor: dict[str, Any]
    errors: list[str] = field(default_factory=list)
