"""Service levels: which target applies to a mention, when its answers are due, and what happens as they near.

The clock starts at the post's time on its network (ingest time where the network gave none) and, for
policies that say so, runs only in the team's business hours, in the team's time zone, skipping its
holidays. Due times are stamped on each mention when it is tagged; later policy edits apply to new arrivals.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import and_, bindparam, exists, select, update
from sqlalchemy.orm import Session

from triage.audit import record
from triage.db import utcnow
from triage.models import Event, Mention, Queue, SlaPolicy, Team, User
from triage.models.mentions import CLOSED

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
URGENT_QUEUE = "urgent"  # mentions routed here (urgent words, or priority 75+) get the urgent policies
NEAR_FRACTION = 0.25  # a deadline "nears" (amber) when less than this share of its window is left
NEAR_POINTS = 10  # priority added when a deadline nears
BREACH_POINTS = 15  # and again when it is missed
TARGETS = ("first_response", "resolution")
TARGET_NAMES = {"first_response": "first response", "resolution": "resolution"}
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class SlaError(ValueError):
    """A policy or team setting that cannot be used; the message says which field and why."""


# ---------------------------------------------------------------------------------------------- the clock


def _parse_hhmm(value: str) -> time | None:
    """'09:00' -> time(9); '24:00' -> None (the end of the day)."""
    if not isinstance(value, str) or not _HHMM.match(value.strip()):
        raise SlaError(f"'{value}' is not a time of day like 09:00 (24:00 ends the day)")
    value = value.strip()
    return None if value == "24:00" else time(int(value[:2]), int(value[3:]))


def parse_hours(hours: dict | None) -> dict[str, tuple[time, time | None]] | None:
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


def check_timezone(name: str) -> str:
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
    hours: dict[str, tuple[time, time | None]] | None = None
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


# ------------------------------------------------------------------------------------------------ policies


@dataclass(frozen=True)
class Policy:
    id: int
    name: str
    urgent: bool | None
    intent: str | None
    first_response_minutes: int
    resolution_minutes: int
    business_hours: bool

    def matches(self, *, intent: str | None, urgent: bool) -> bool:
        return (self.urgent is None or self.urgent == urgent) and (self.intent is None or self.intent == intent)


def load_policies(session: Session) -> list[Policy]:
    rows = session.scalars(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id))
    return [Policy(p.id, p.name, p.urgent, p.intent, p.first_response_minutes, p.resolution_minutes,
                   p.business_hours) for p in rows]


class Deadlines:
    """Policies, team calendars and queue → team loaded once, for a whole batch of mentions."""

    def __init__(self, session: Session):
        self.policies = load_policies(session)
        teams = list(session.scalars(select(Team).order_by(Team.id)))
        self.calendars = {t.id: Calendar.for_team(t) for t in teams}
        self.default_team = teams[0].id if teams else None  # queues with no team keep the first team's hours
        queues = session.execute(select(Queue.id, Queue.slug, Queue.team_id)).all()
        self.queue_team = {q.id: q.team_id for q in queues}
        self.urgent_queues = {q.id for q in queues if q.slug == URGENT_QUEUE}

    def team_for(self, queue_id: int | None) -> int | None:
        return self.queue_team.get(queue_id) or self.default_team

    def is_urgent(self, *, urgent: bool, queue_id: int | None) -> bool:
        return bool(urgent) or queue_id in self.urgent_queues

    def policy_for(self, *, intent: str | None, urgent: bool, queue_id: int | None = None) -> Policy | None:
        band = self.is_urgent(urgent=urgent, queue_id=queue_id)
        return next((p for p in self.policies if p.matches(intent=intent, urgent=band)), None)

    def due(self, *, start: datetime, intent: str | None, urgent: bool, queue_id: int | None
            ) -> tuple[datetime | None, datetime | None]:
        """(first response due, resolution due); (None, None) when no policy applies."""
        policy = self.policy_for(intent=intent, urgent=urgent, queue_id=queue_id)
        if policy is None:
            return None, None
        if policy.business_hours:
            calendar = self.calendars.get(self.team_for(queue_id)) or Calendar()
            return calendar.add(start, policy.first_response_minutes), calendar.add(start, policy.resolution_minutes)
        return wall_clock(start, policy.first_response_minutes), wall_clock(start, policy.resolution_minutes)


_DUE_UPDATE = (
    update(Mention.__table__)
    .where(Mention.__table__.c.id == bindparam("b_id"))
    .values(first_response_due_at=bindparam("first_due"), resolution_due_at=bindparam("resolution_due"))
)


def stamp_due_times(session: Session, mention_ids: list[int]) -> int:
    """Set both due times on freshly tagged mentions, from their clock start (caller commits)."""
    if not mention_ids:
        return 0
    deadlines = Deadlines(session)
    rows = session.execute(
        select(Mention.id, Mention.posted_at, Mention.intent, Mention.urgent, Mention.queue_id)
        .where(Mention.id.in_(mention_ids))
    ).all()
    values = []
    for row in rows:
        first, resolution = deadlines.due(start=row.posted_at, intent=row.intent, urgent=row.urgent,
                                          queue_id=row.queue_id)
        values.append({"b_id": row.id, "first_due": first, "resolution_due": resolution})
    if values:
        session.connection().execute(_DUE_UPDATE, values)
    return len(values)


# ------------------------------------------------------------------------------- time left and its colour


@dataclass(frozen=True)
class Status:
    target: str  # first_response or resolution
    stage: str  # ok, near, breached
    due: datetime
    left: timedelta  # negative once overdue

    @property
    def label(self) -> str:
        if self.stage == "breached":
            return f"overdue {duration(-self.left)}"
        return f"{duration(self.left)} left"

    @property
    def title(self) -> str:
        return f"{TARGET_NAMES[self.target].capitalize()} due {self.due:%Y-%m-%d %H:%M} UTC"


def duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} days"


def stage(due: datetime, start: datetime, now: datetime) -> str:
    if now >= due:
        return "breached"
    return "near" if due - now <= (due - start) * NEAR_FRACTION else "ok"


def status(mention: Mention, now: datetime | None = None) -> Status | None:
    """The deadline a person should watch on this item now: the first response, then the resolution."""
    now = now or utcnow()
    if mention.status in CLOSED or mention.resolved_at is not None:
        return None
    if mention.first_response_at is None and mention.first_response_due_at is not None:
        target, due = "first_response", mention.first_response_due_at
    elif mention.resolution_due_at is not None:
        target, due = "resolution", mention.resolution_due_at
    else:
        return None
    return Status(target, stage(due, mention.posted_at, now), due, due - now)


# ------------------------------------------------------------------------------ the scheduled deadline check


@dataclass
class CheckResult:
    near: list[int] = field(default_factory=list)
    breached: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"near": len(self.near), "breached": len(self.breached), "escalated": len(self.escalated)}


def _pending(target: str):
    """Mentions still waiting on `target`: not closed, and (for first response) not answered."""
    m = Mention
    if target == "first_response":
        return and_(m.first_response_at.is_(None), m.resolved_at.is_(None), m.first_response_due_at.is_not(None),
                    m.first_response_breached_at.is_(None), m.status.not_in(CLOSED))
    return and_(m.resolved_at.is_(None), m.resolution_due_at.is_not(None), m.resolution_breached_at.is_(None),
                m.status.not_in(CLOSED))


def _due_column(target: str):
    return Mention.first_response_due_at if target == "first_response" else Mention.resolution_due_at


def team_lead(session: Session, team_id: int | None) -> User | None:
    """The lead a breached urgent item goes to: the team's first active lead, else any active lead."""
    leads = select(User).where(User.active.is_(True), User.role == "lead").order_by(User.id)
    if team_id is not None:
        own = session.scalars(leads.where(User.team_id == team_id).limit(1)).first()
        if own is not None:
            return own
    return session.scalars(leads.limit(1)).first()


def check_deadlines(session: Session, *, now: datetime | None = None, limit: int = 1000) -> CheckResult:
    """Raise priority as deadlines near, flag breaches, escalate breached urgent items to the team lead.

    Each change is a system transition in triage.workflow with its audit event; a second run changes
    nothing more. Runs every minute from the scheduler; the caller commits.
    """
    from triage import workflow

    now = now or utcnow()
    result = CheckResult()
    deadlines = Deadlines(session)
    teams = {t.id: t for t in session.scalars(select(Team))}
    for target in TARGETS:
        due_col = _due_column(target)
        # Breaches first: an item past due should not also be told its deadline is near.
        overdue = session.execute(
            select(Mention.id, due_col.label("due"), Mention.urgent, Mention.queue_id, Mention.escalated_at)
            .where(_pending(target), due_col <= now).order_by(due_col, Mention.id).limit(limit)
        ).all()
        for row in overdue:
            if not workflow.flag_sla_breach(session, row.id, target, row.due, points=BREACH_POINTS, now=now):
                continue
            result.breached.append(row.id)
            team = teams.get(deadlines.team_for(row.queue_id))
            if (target == "first_response" and row.escalated_at is None
                    and deadlines.is_urgent(urgent=row.urgent, queue_id=row.queue_id)
                    and (team is None or team.escalate_breached_urgent)):
                lead = team_lead(session, team.id if team else None)
                if lead is not None and workflow.escalate_breached(session, row.id, lead, row.due, now=now):
                    result.escalated.append(row.id)
        already = exists().where(Event.mention_id == Mention.id, Event.action == workflow.DEADLINE_NEAR,
                                 Event.to_state == target)
        upcoming = session.execute(
            select(Mention.id, Mention.posted_at, due_col.label("due"))
            .where(_pending(target), due_col > now, ~already).order_by(due_col, Mention.id)
        ).all()
        for row in upcoming:
            if len(result.near) >= limit:
                break
            if stage(row.due, row.posted_at, now) != "near":
                continue
            if workflow.note_deadline_near(session, row.id, target, row.due, points=NEAR_POINTS, now=now):
                result.near.append(row.id)
    return result


# --------------------------------------------------------------------------------- editing (leads, admins)

POLICY_FIELDS = ("name", "position", "urgent", "intent", "first_response_minutes", "resolution_minutes",
                 "business_hours")


def validate_policy(values: dict) -> dict:
    """Clean a policy form; raises SlaError naming the field."""
    from triage.classifier import INTENTS

    name = (values.get("name") or "").strip()
    if not name or len(name) > 80:
        raise SlaError("give the policy a name (up to 80 characters)")
    intent = values.get("intent") or None
    if intent is not None and intent not in INTENTS:
        raise SlaError(f"intent must be one of {', '.join(INTENTS)}, or any")
    urgent = {"": None, None: None, "any": None, "yes": True, "no": False, True: True, False: False}.get(
        values.get("urgent"), "bad")
    if urgent == "bad":
        raise SlaError("urgent must be yes, no or any")
    cleaned = {"name": name, "intent": intent, "urgent": urgent,
               "business_hours": values.get("business_hours") in (True, "on", "1", "yes", "true")}
    for key, label in (("first_response_minutes", "first response"), ("resolution_minutes", "resolution"),
                       ("position", "order")):
        try:
            number = int(str(values.get(key, "")).strip())
        except ValueError:
            raise SlaError(f"{label} must be a whole number") from None
        if key != "position" and not 1 <= number <= 60 * 24 * 365:
            raise SlaError(f"{label} must be between 1 minute and a year")
        cleaned[key] = number
    if cleaned["resolution_minutes"] < cleaned["first_response_minutes"]:
        raise SlaError("the resolution target cannot be shorter than the first-response target")
    return cleaned


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


def _audit(session: Session, actor: User, action: str, reason: str, now: datetime, **detail) -> None:
    record(session, actor, action, reason, now=now, **detail)


def save_policy(session: Session, actor: User, values: dict, policy_id: int | None = None, *,
                now: datetime | None = None) -> SlaPolicy:
    """Create or change a policy (leads and admins); the change is in the audit log. Caller commits."""
    _require_lead(actor)
    now = now or utcnow()
    cleaned = validate_policy(values)
    if policy_id is None:
        policy = SlaPolicy(**cleaned)
        session.add(policy)
        before = None
    else:
        policy = session.get(SlaPolicy, policy_id)
        if policy is None:
            raise SlaError(f"there is no policy {policy_id}")
        before = {k: getattr(policy, k) for k in POLICY_FIELDS}
        for key, value in cleaned.items():
            setattr(policy, key, value)
    session.flush()
    _audit(session, actor, "sla policy saved", f"{policy.name}: first response {policy.first_response_minutes} min, "
           f"resolution {policy.resolution_minutes} min", now, policy_id=policy.id, before=before, after=cleaned)
    return policy


def delete_policy(session: Session, actor: User, policy_id: int, *, now: datetime | None = None) -> None:
    _require_lead(actor)
    policy = session.get(SlaPolicy, policy_id)
    if policy is None:
        raise SlaError(f"there is no policy {policy_id}")
    _audit(session, actor, "sla policy deleted", policy.name, now or utcnow(), policy_id=policy.id,
           before={k: getattr(policy, k) for k in POLICY_FIELDS})
    session.delete(policy)
    session.flush()


def save_team_hours(session: Session, actor: User, team_id: int, *, timezone: str, hours: dict | None,
                    holidays: list[str], escalate_breached_urgent: bool, now: datetime | None = None) -> Team:
    """Change a team's clock: time zone, business hours (None: around the clock), holidays, escalation."""
    _require_lead(actor)
    team = session.get(Team, team_id)
    if team is None:
        raise SlaError(f"there is no team {team_id}")
    timezone = check_timezone(timezone)
    parse_hours(hours)
    if hours is not None and not any(hours.values()):
        raise SlaError("open at least one day, or choose around the clock")
    before = {"timezone": team.timezone, "business_hours": team.business_hours, "holidays": team.holidays,
              "escalate_breached_urgent": team.escalate_breached_urgent}
    team.timezone, team.business_hours, team.holidays = timezone, hours, holidays
    team.escalate_breached_urgent = escalate_breached_urgent
    after = {"timezone": timezone, "business_hours": hours, "holidays": holidays,
             "escalate_breached_urgent": escalate_breached_urgent}
    _audit(session, actor, "team hours saved", team.name, now or utcnow(), team_id=team.id, before=before, after=after)
    session.flush()
    return team


def _require_lead(actor: User) -> None:
    from triage.workflow import Forbidden

    if not actor.can("lead"):
        raise Forbidden(f"a {actor.role} cannot change service levels; it needs the role lead")

