"""Template filters: times and durations as people read them, and links that may be followed."""
from __future__ import annotations

from datetime import datetime

from triage.db import utcnow


def ago(value: datetime | None) -> str:
    if value is None:
        return "—"
    seconds = int((utcnow() - value).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def compact(number: int | None) -> str:
    if number is None:
        return "—"
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if number >= size:
            return f"{number / size:.1f}{unit}".replace(".0", "")
    return str(number)


def capped(number: int | None) -> str:
    """A count that stopped counting at the cap says so."""
    from triage.work.queues import COUNT_CAP

    if number is None:
        return "0"
    return f"{COUNT_CAP:,}+" if number >= COUNT_CAP else f"{number:,}"


def register(app) -> None:
    app.jinja_env.filters["thousands"] = lambda n: "—" if n is None else f"{n:,}"
    app.jinja_env.filters["capped"] = capped
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["compact"] = compact
    app.jinja_env.filters["iso"] = lambda v: v.isoformat() if v else ""
    from triage.web.navigation import safe_url

    # Every stored URL goes through this before it becomes an href: only http(s) pages, never javascript: or data:.
    app.jinja_env.filters["safe_url"] = safe_url
    from triage.work.queues import UNSURE

    app.jinja_env.globals["unsure"] = UNSURE  # tags less sure than this are marked "?" for a person to check
