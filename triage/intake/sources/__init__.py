"""Mention sources: each kind turns a config and a cursor into new posts and the next cursor (`results.py`)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from triage.intake.sources import demo, rss
from triage.intake.sources.results import FetchResult

KINDS: dict[str, Callable[[dict[str, Any], dict[str, Any]], FetchResult]] = {"demo": demo.fetch, "rss": rss.fetch}

__all__ = ["KINDS"]
