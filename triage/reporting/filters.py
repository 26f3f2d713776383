"""What a report covers: its range of UTC days, its filters and drill-downs, parsed from a request or the CLI.

Everything typed into a report (a date, a yes/no, a row id, a paging position) is checked here, and a value
that cannot be answered raises ReportError with the reason, for the page or the command to show.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from triage.db import MAX_ROW_ID, utcnow

DIMENSIONS = ("agent", "team", "queue", "intent", "network", "day")
DIMENSION_NAMES = {"agent": "Agent", "team": "Team", "queue": "Queue", "intent": "Intent", "network": "Network",
                   "day": "Day"}
NONE = "none"  # the filter value for "no agent", "no team", ...
MAX_DAYS = 10 * 366  # a whole imported history fits; the page thins its day labels
# Days a filter may name: beyond these no post exists, and 9999-12-31 plus a day overflows the date maths.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
DEFAULT_DAYS = 7  # a week: what a supervisor reviews; longer ranges are a click away
QUICK_RANGES = (7, 30, 90)
TARGETS = ("first_response", "resolution")
SLA_STATES = ("met", "missed", "pending")


class ReportError(ValueError):
    """A report request that cannot be answered (a bad date or filter); the message says which."""


@dataclass(frozen=True)
class Filters:
    """What a report covers: mentions posted from `since` to `until` (UTC days, inclusive) and filters.

    The drill-down fields narrow a report to the items behind one figure.
    """

    since: date
    until: date
    queue: str | None = None  # slug
    team: str | None = None  # id
    agent: str | None = None  # username
    intent: str | None = None
    network: str | None = None
    sentiment: str | None = None
    # Drill-down only:
    day: date | None = None
    target: str | None = None  # first_response or resolution, with `sla`
    sla: str | None = None  # met, missed, pending
    answered: bool | None = None
    resolved: bool | None = None
    holder: str | None = None  # username holding the item now
    open_on: date | None = None  # open at the end of this day (backlog), whenever posted
    clock: str | None = None  # "ingested": the network gave no time, the clock started on arrival

    FILTERS = ("queue", "team", "agent", "intent", "network", "sentiment")
    DRILLS = ("day", "target", "sla", "answered", "resolved", "holder", "open_on", "clock")

    @classmethod
    def parse(cls, args: Mapping[str, Any], *, today: date | None = None) -> Filters:
        """From query-string or CLI arguments; unknown values raise ReportError with the reason."""
        today = today or utcnow().date()
        until = parse_date(args.get("until"), "until") or today
        since = parse_date(args.get("since"), "since") or until - timedelta(days=DEFAULT_DAYS - 1)
        if since > until:
            raise ReportError(f"the range starts ({since}) after it ends ({until})")
        if (until - since).days >= MAX_DAYS:
            raise ReportError(f"a report covers at most {MAX_DAYS} days; choose a shorter range")
        values: dict[str, str | None] = {
            k: (str(args.get(k)).strip() or None) if args.get(k) not in (None, "") else None
            for k in cls.FILTERS + ("holder",)}
        target = args.get("target") or None
        sla = args.get("sla") or None
        if args.get("breached"):  # shorthand: ?breached=first_response
            target, sla = args.get("breached"), "missed"
        if target is not None and target not in TARGETS:
            raise ReportError(f"target must be {' or '.join(TARGETS)}")
        if sla is not None and sla not in SLA_STATES:
            raise ReportError(f"sla must be one of {', '.join(SLA_STATES)}")
        if sla and not target:
            target = "first_response"
        clock = args.get("clock") or None
        if clock not in (None, "ingested", "posted"):
            raise ReportError("clock must be posted or ingested")
        return cls(since=since, until=until, **values, day=parse_date(args.get("day"), "day"), target=target,
                   sla=sla, answered=parse_flag(args.get("answered"), "answered"),
                   resolved=parse_flag(args.get("resolved"), "resolved"),
                   open_on=parse_date(args.get("open_on"), "open_on"), clock=clock)

    def args(self, **changes: object) -> dict[str, str]:
        """Query-string arguments for this report (and `changes`), leaving out what is unset."""
        out = {}
        for f in fields(self):
            value = changes[f.name] if f.name in changes else getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        return out

    def report_args(self, **changes: object) -> dict[str, str]:
        """The same range and filters, without drill-down fields."""
        return self.args(**{**dict.fromkeys(self.DRILLS), **changes})

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(0), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time(0), tzinfo=UTC)

    def days(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days + 1)]


def parse_date(value: object, name: str) -> date | None:
    """A day typed into a filter (ISO, anything after the date ignored); None when blank."""
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        day = date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ReportError(f"{name} '{str(value)[:20]}' is not a date like 2026-11-20") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ReportError(f"{name} {day} is outside the years {FIRST_DAY.year} to {LAST_DAY.year}")
    return day


def parse_flag(value: object, name: str) -> bool | None:
    """A yes/no drill-down (yes, 1, true / no, 0, false); None when blank."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "1", "true"):
        return True
    if text in ("no", "0", "false"):
        return False
    raise ReportError(f"{name} must be yes or no")


def row_id(value: object, name: str) -> int:
    """A row id typed into a filter or a paging position: ASCII digits that a database integer holds."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_ROW_ID:
        raise ReportError(f"{name} must be a number from 0 to {MAX_ROW_ID}")
    return int(text)


def position(value: object, name: str) -> tuple[datetime, int]:
    """A keyset paging position "<ISO time>_<id>", as the "older" links write it."""
    stamp, _, ident = str(value).rpartition("_")
    try:
        when = datetime.fromisoformat(stamp)
        when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ReportError(f"{name} is not a position in the list") from None
    if not FIRST_DAY <= when.date() <= LAST_DAY:
        raise ReportError(f"{name} is not a position in the list")
    return when, row_id(ident, name)
