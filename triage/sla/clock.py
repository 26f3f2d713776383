"""The service-level clock: a team's business hours in its time zone, minus its holidays.

The clock starts at the post's time on its network (ingest time where the network gave none) and, for
policies that say so, runs only while the team is open. Nothing here reads the database.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from triage.models import Team

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")

Hours = dict[str, tuple[time, time | None]]  # day → (opens, closes); closes None: the end of the day


class SlaError(ValueError):
    """A policy or team setting that cannot be used; the message says which field and why."""


def _parse_hhmm(value: object) -> time | None:
    """'09:00' -> time(9); '24:00' -> None (the end of the day)."""
    if not isinstance(value, str) or not _HHMM.match(value.strip()):
        raise SlaError(f"'{value}' is not a time of day like 09:00 (24:00 ends the day)")
    value = value.strip()
    return None if value == "24:00" else time(int(value[:2]), int(value[3:]))


def parse_hours(hours: dict[str, Any] | None) -> Hours | None:
    """Validate {"mon": ["09:00", "17:00"], ...}; days left out are closed. None: around the clock."""
    if hours is None:
        return None
    if not isinstance(hours, dict):
        raise SlaError("business hours must map days (mon..sun) to [opens, closes]")
    parsed = {}
    for day, span in hours.items():
        if day not in DAYS:
            raise SlaError(f"'{day}' is not a day; use {', '.join(DAYS)}")
        if span in (None, [], ""):
            continue
        if not isinstance(span, (list, tuple)) or len(span) != 2:
            raise SlaError(f"{day}: give opening and closing times, like ['09:00', '17:00']")
        opens, closes = _parse_hhmm(span[0]), _parse_hhmm(span[1])
        if opens is None:
            raise SlaError(f"{day}: the day cannot open at 24:00")
        if closes is not None and closes <= opens:
            raise SlaError(f"{day}: closes ({span[1]}) must be after it opens ({span[0]})")
        parsed[day] = (opens, closes)
    return parsed


def parse_holidays(text: str) -> list[str]:
    """Dates (YYYY-MM-DD), one per line or comma separated, sorted and deduplicated."""
    out = set()
    for part in re.split(r"[\s,]+", text or ""):
        if not part:
            continue
        try:
            out.add(date.fromisoformat(part).isoformat())
        except ValueError:
            raise SlaError(f"'{part[:20]}' is not a date like 2026-12-25") from None
    return sorted(out)


def check_timezone(name: str) -> str:
    """The time zone's name, trimmed; raises SlaError for a name the zone database does not know."""
    name = (name or "").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SlaError(f"'{name}' is not a time zone; use a name like Europe/London or America/New_York") from None
    return name


def timezones() -> list[str]:
    return sorted(available_timezones())


@dataclass(frozen=True)
class Calendar:
    """When a team's clock runs: business hours in its time zone (None: around the clock), minus holidays."""

    timezone: str = "UTC"
    hours: Hours | None = None
    holidays: frozenset[date] = frozenset()

    @classmethod
    def for_team(cls, team: Team | None) -> Calendar:
        if team is None:
            return cls()
        holidays = frozenset(date.fromisoformat(d) for d in (team.holidays or []))
        return cls(team.timezone or "UTC", parse_hours(team.business_hours), holidays)

    def open_spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The (UTC) spans of `day` (a local date) when the clock runs."""
        if day in self.holidays:
            return []
        zone = ZoneInfo(self.timezone)
        opens: time
        closes: time | None
        if self.hours is None:
            opens, closes = time(0), None
        elif DAYS[day.weekday()] in self.hours:
            opens, closes = self.hours[DAYS[day.weekday()]]
        else:
            return []
        start = datetime.combine(day, opens, tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1) if closes is None else day, closes or time(0), tzinfo=zone)
        # Arithmetic between aware datetimes sharing a zone is wall-clock; in UTC it is elapsed time (DST).
        return [(start.astimezone(UTC), end.astimezone(UTC))]

    def add(self, start: datetime, minutes: float) -> datetime:
        """`start` plus `minutes` of open time: the clock pauses outside business hours and on holidays."""
        remaining = timedelta(minutes=minutes)
        start = start.astimezone(UTC)
        day = start.astimezone(ZoneInfo(self.timezone)).date()
        for _ in range(3 * 366):  # a calendar open at least one day in three years
            for opens, closes in self.open_spans(day):
                begin = max(opens, start)
                if begin >= closes:
                    continue
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
            day += timedelta(days=1)
        raise SlaError("the business hours never open; the clock cannot run")


def wall_clock(start: datetime, minutes: float) -> datetime:
    return start.astimezone(UTC) + timedelta(minutes=minutes)
