"""Supervisor reports: response times, SLA attainment, volume, backlog and workload, aggregated in SQL.

Every figure is computed by the database from stored timestamps. Response times run from the clock start
(the post's time on its network, or the ingest time where the network gave none; the report counts those)
to the first response, and to the resolution. Medians and 90th percentiles interpolate like PostgreSQL's
`percentile_cont`, which computes them there; on SQLite a ranked (sorted-offset) query picks the two rows
around each percentile. Days are UTC days.

Who an item counts for (its "agent"): the person who sent its first reply from the app, else its owner.
Its team: that person's team, else its queue's team.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, Float, Integer, and_, case, cast, extract, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from triage.audit import ACTIONS
from triage.db import MAX_ROW_ID, UTCDateTime, utcnow
from triage.models import Author, Event, Mention, Queue, Response, Team, User
from triage.models.mentions import IRRELEVANT, RESOLVED, SPAM, WORKABLE

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
WORKLOAD_ACTIONS = {"claimed": ("claimed",), "replied": ("replied",),
                    "closed": ("resolved", "marked spam", "marked not relevant"),
                    "escalated": ("escalated",), "notes": ("note",)}
_KEYS = ("agent_id", "team_id", "queue_id", "intent", "network", "day")
_SETS = {"all": (), "agent": ("agent_id",), "team": ("team_id",), "queue": ("queue_id",), "intent": ("intent",),
         "network": ("network",), "day": ("day",)}


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
    def parse(cls, args, *, today: date | None = None) -> Filters:
        """From query-string or CLI arguments; unknown values raise ReportError with the reason."""
        today = today or utcnow().date()
        until = _date(args.get("until"), "until") or today
        since = _date(args.get("since"), "since") or until - timedelta(days=DEFAULT_DAYS - 1)
        if since > until:
            raise ReportError(f"the range starts ({since}) after it ends ({until})")
        if (until - since).days >= MAX_DAYS:
            raise ReportError(f"a report covers at most {MAX_DAYS} days; choose a shorter range")
        values: dict = {k: (str(args.get(k)).strip() or None) if args.get(k) not in (None, "") else None
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
        return cls(since=since, until=until, **values, day=_date(args.get("day"), "day"), target=target, sla=sla,
                   answered=_flag(args.get("answered"), "answered"), resolved=_flag(args.get("resolved"), "resolved"),
                   open_on=_date(args.get("open_on"), "open_on"), clock=clock)

    def args(self, **changes) -> dict[str, str]:
        """Query-string arguments for this report (and `changes`), leaving out what is unset."""
        out = {}
        for f in fields(self):
            value = changes[f.name] if f.name in changes else getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        return out

    def report_args(self, **changes) -> dict[str, str]:
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


def _date(value, name: str) -> date | None:
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


def row_id(value, name: str) -> int:
    """A row id typed into a filter or a paging position: ASCII digits that a database integer holds."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_ROW_ID:
        raise ReportError(f"{name} must be a number from 0 to {MAX_ROW_ID}")
    return int(text)


def position(value, name: str) -> tuple[datetime, int]:
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


def _flag(value, name: str) -> bool | None:
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


# ------------------------------------------------------------------------------------------ SQL building


class _Sql:
    """Dialect differences: seconds between timestamps, the UTC day of a timestamp."""

    def __init__(self, session: Session):
        self.postgres = session.get_bind().dialect.name == "postgresql"

    def seconds(self, later, earlier):
        if self.postgres:  # as float8: percentile_cont sorts doubles several times faster than numerics
            return cast(extract("epoch", later - earlier), Float)
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0

    def day(self, column):
        return cast(column, Date) if self.postgres else func.date(column)


@dataclass
class _Ids:
    """Filters resolved to ids once (unknown names are an error, not an empty report)."""

    queue: int | None | str = None
    team: int | None | str = None
    agent: int | None | str = None
    holder: int | None = None


def _resolve(session: Session, f: Filters) -> _Ids:
    ids = _Ids()
    if f.queue:
        ids.queue = NONE if f.queue == NONE else session.scalar(select(Queue.id).where(Queue.slug == f.queue))
        if ids.queue is None:
            raise ReportError(f"there is no queue '{f.queue}'")
    if f.team:
        if f.team == NONE:
            ids.team = NONE
        else:
            as_id = f.team.isascii() and f.team.isdigit() and int(f.team[:19]) <= MAX_ROW_ID  # an id, else a name
            ids.team = session.scalar(select(Team.id).where(Team.id == int(f.team) if as_id else Team.name == f.team))
            if ids.team is None:
                raise ReportError(f"there is no team '{f.team}'")
    for name in ("agent", "holder"):
        username = getattr(f, name)
        if username:
            value = NONE if username == NONE and name == "agent" else session.scalar(
                select(User.id).where(User.username == username.lower()))
            if value is None:
                raise ReportError(f"there is no user '{username}'")
            setattr(ids, name, value)
    return ids


def _equals(column, value):
    return column.is_(None) if value == NONE else column == value


def _facts(session: Session, f: Filters, now: datetime, ids: _Ids, *, min_id: int | None = None,
           detail: bool = False):
    """One row per mention in the report: its keys, its times in seconds and its SLA states."""
    sql = _Sql(session)
    m = Mention.__table__
    r = Response.__table__
    q = Queue.__table__
    agent_user = User.__table__.alias("agent_user")
    if detail:
        # A page of items: looked up per row, so the newest-first index scan can stop after a page.
        first_reply = (select(r.c.user_id).where(r.c.mention_id == m.c.id, r.c.user_id.is_not(None))
                       .order_by(r.c.id).limit(1).scalar_subquery())
        agent_id = func.coalesce(first_reply, m.c.owner_id)
        team_id = func.coalesce(select(agent_user.c.team_id).where(agent_user.c.id == agent_id).scalar_subquery(),
                                select(q.c.team_id).where(q.c.id == m.c.queue_id).scalar_subquery())
        source = m.join(Author.__table__, Author.__table__.c.id == m.c.author_id)
    else:
        # The whole range: the first reply from the app per mention in one pass over the range's replies
        # (`min_id` bounds them), joined once.
        ranked = select(r.c.mention_id, r.c.user_id,
                        func.row_number().over(partition_by=r.c.mention_id, order_by=r.c.id).label("n")
                        ).where(r.c.user_id.is_not(None))
        if min_id is not None:
            ranked = ranked.where(r.c.mention_id >= min_id)
        ranked = ranked.subquery("replies")
        agent_id = func.coalesce(ranked.c.user_id, m.c.owner_id)
        team_id = func.coalesce(agent_user.c.team_id, q.c.team_id)
        source = (m.outerjoin(ranked, and_(ranked.c.mention_id == m.c.id, ranked.c.n == 1))
                  .outerjoin(agent_user, agent_user.c.id == agent_id).outerjoin(q, q.c.id == m.c.queue_id))
    now_ = literal(now, UTCDateTime())
    excluded = m.c.status.in_((SPAM, IRRELEVANT))
    # Resolved without a reply counts as answered in time for the first-response target.
    answered_at = func.coalesce(m.c.first_response_at, case((m.c.status == RESOLVED, m.c.resolved_at)))
    fr_due, res_due = m.c.first_response_due_at, m.c.resolution_due_at
    fr_state = case((or_(fr_due.is_(None), excluded), None), (answered_at <= fr_due, "met"),
                    (or_(answered_at.is_not(None), fr_due <= now_), "missed"), else_="pending")
    res_state = case((or_(res_due.is_(None), excluded), None), (m.c.resolved_at <= res_due, "met"),
                     (or_(m.c.resolved_at.is_not(None), res_due <= now_), "missed"), else_="pending")
    columns = [
        m.c.id, agent_id.label("agent_id"), team_id.label("team_id"), m.c.queue_id, m.c.intent, m.c.network,
        m.c.sentiment, sql.day(m.c.posted_at).label("day"),
        sql.seconds(m.c.first_response_at, m.c.posted_at).label("fr_s"),
        case((m.c.status == RESOLVED, sql.seconds(m.c.resolved_at, m.c.posted_at))).label("res_s"),
        fr_state.label("fr_state"), res_state.label("res_state"),
        case((m.c.posted_at_known.is_(False), 1), else_=0).label("from_ingest"),
        fr_due.label("fr_due"), res_due.label("res_due"),
    ]
    if detail:
        a = Author.__table__
        columns += [m.c.external_id, m.c.url, m.c.text, a.c.handle.label("author"), m.c.status, m.c.priority,
                    m.c.urgent, m.c.posted_at, m.c.posted_at_known, m.c.ingested_at, m.c.tagged_at,
                    m.c.first_claimed_at, m.c.first_response_at, m.c.resolved_at, fr_due, res_due,
                    m.c.first_response_breached_at, m.c.resolution_breached_at, m.c.escalated_at,
                    m.c.claimed_by_id]
    where = []
    if f.open_on is not None:  # the backlog at the end of a day, whenever those items were posted
        day_end = datetime.combine(f.open_on + timedelta(days=1), time(0), tzinfo=UTC)
        where += [m.c.posted_at < day_end, or_(m.c.resolved_at.is_(None), m.c.resolved_at >= day_end)]
    else:
        where += [m.c.posted_at >= f.start, m.c.posted_at < f.end]
    if ids.queue is not None:
        where.append(_equals(m.c.queue_id, ids.queue))
    if ids.team is not None:
        where.append(_equals(team_id, ids.team))
    if ids.agent is not None:
        where.append(_equals(agent_id, ids.agent))
    for name in ("intent", "network", "sentiment"):
        if getattr(f, name):
            where.append(_equals(m.c[name], getattr(f, name)))
    if f.day is not None:
        day_start = datetime.combine(f.day, time(0), tzinfo=UTC)
        where += [m.c.posted_at >= day_start, m.c.posted_at < day_start + timedelta(days=1)]
    if f.answered is not None:
        where.append(m.c.first_response_at.is_not(None) if f.answered else m.c.first_response_at.is_(None))
    if f.resolved is not None:
        where.append(m.c.status == RESOLVED if f.resolved else m.c.status != RESOLVED)
    if f.sla:
        where.append((res_state if f.target == "resolution" else fr_state) == f.sla)
    if ids.holder is not None:
        where += [m.c.claimed_by_id == ids.holder, m.c.status.in_(WORKABLE)]
    if f.clock is not None:
        where.append(m.c.posted_at_known.is_(f.clock == "posted"))
    return select(*columns).select_from(source).where(*where)


def _aggregates(facts) -> list:
    def count_state(column, state):
        return func.coalesce(func.sum(case((column == state, 1), else_=0)), 0)

    return [
        func.count().label("mentions"),
        func.count(facts.c.fr_s).label("answered"),
        func.count(facts.c.res_s).label("resolved"),
        *[count_state(facts.c.fr_state, s).label(f"fr_{s}") for s in SLA_STATES],
        *[count_state(facts.c.res_state, s).label(f"res_{s}") for s in SLA_STATES],
        func.coalesce(func.sum(facts.c.from_ingest), 0).label("from_ingest"),
    ]


_PERCENTILES = (("fr", "fr_s"), ("res", "res_s"))


def _grouped_postgres(session: Session, facts) -> dict[str, list[dict]]:
    """Every grouping in one pass: GROUPING SETS with percentile_cont."""
    keys = [facts.c[k] for k in _KEYS]
    percentiles = []
    for prefix, value in _PERCENTILES:
        for p, name in ((0.5, "median"), (0.9, "p90")):
            percentiles.append(func.percentile_cont(p).within_group(facts.c[value]).label(f"{prefix}_{name}"))
    query = (select(*keys, func.grouping(*keys).label("grouping"), *_aggregates(facts), *percentiles)
             .group_by(func.grouping_sets(*[tuple_(*[facts.c[k] for k in cols]) for cols in _SETS.values()])))
    masks = {sum(1 << (len(_KEYS) - 1 - i) for i, k in enumerate(_KEYS) if k not in cols): name
             for name, cols in _SETS.items()}
    out: dict[str, list[dict]] = {name: [] for name in _SETS}
    for row in session.execute(query).mappings():
        out[masks[row["grouping"]]].append({k: v for k, v in row.items() if k != "grouping"})
    return out


def _grouped_sqlite(session: Session, facts) -> dict[str, list[dict]]:
    """Per grouping: counts with GROUP BY, percentiles from a ranked query (the two rows around each)."""
    out: dict[str, list[dict]] = {}
    for name, cols in _SETS.items():
        keys = [facts.c[k] for k in cols]
        rows = {tuple(r[k] for k in cols): dict(r) for r in
                session.execute(select(*keys, *_aggregates(facts)).group_by(*keys)).mappings()}
        for row in rows.values():
            row.update({f"{prefix}_{n}": None for prefix, _ in _PERCENTILES for n in ("median", "p90")})
        for prefix, value in _PERCENTILES:
            for key, figures in _ranked_percentiles(session, facts, cols, value).items():
                rows[key].update({f"{prefix}_{n}": v for n, v in figures.items()})
        out[name] = list(rows.values())
    return out


def _ranked_percentiles(session: Session, facts, cols: tuple[str, ...], value: str) -> dict[tuple, dict]:
    part = [facts.c[k] for k in cols]
    ranked = select(*part, facts.c[value].label("v"),
                    func.row_number().over(partition_by=part or None, order_by=facts.c[value]).label("rn"),
                    func.count().over(partition_by=part or None).label("cnt")
                    ).where(facts.c[value].is_not(None)).subquery()
    picks = []
    for p in (0.5, 0.9):
        below = cast((ranked.c.cnt - 1) * p, Integer) + 1  # 1-based row at or below the percentile
        picks += [func.max(case((ranked.c.rn == below, ranked.c.v))).label(f"lo{p}"),
                  func.max(case((ranked.c.rn == below + 1, ranked.c.v))).label(f"hi{p}")]
    query = select(*[ranked.c[k] for k in cols], func.max(ranked.c.cnt).label("cnt"), *picks).group_by(
        *[ranked.c[k] for k in cols])
    out = {}
    for row in session.execute(query).mappings():
        if not row["cnt"]:
            continue  # no values at all: the ungrouped query still answers one empty row
        figures = {}
        for p, name in ((0.5, "median"), (0.9, "p90")):
            position = (row["cnt"] - 1) * p
            low, high = row[f"lo{p}"], row[f"hi{p}"]
            fraction = position - int(position)
            figures[name] = low if high is None or not fraction else low + fraction * (high - low)
        out[tuple(row[k] for k in cols)] = figures
    return out


# ------------------------------------------------------------------------------------------ the report


def _pct(met: int, missed: int) -> float | None:
    return round(100.0 * met / (met + missed), 1) if met + missed else None


def _seconds(value) -> float | None:
    return None if value is None else round(float(value), 1)


def _figures(row: dict | None) -> dict:
    row = row or {}

    def n(key: str) -> int:
        return int(row.get(key) or 0)

    return {
        "mentions": n("mentions"), "answered": n("answered"), "resolved": n("resolved"),
        "first_response_seconds": {"median": _seconds(row.get("fr_median")), "p90": _seconds(row.get("fr_p90"))},
        "resolution_seconds": {"median": _seconds(row.get("res_median")), "p90": _seconds(row.get("res_p90"))},
        "sla_attainment": _pct(n("fr_met"), n("fr_missed")),
        "resolution_sla_attainment": _pct(n("res_met"), n("res_missed")),
        "sla": {t: {s: n(f"{p}_{s}") for s in SLA_STATES} for t, p in (("first_response", "fr"),
                                                                         ("resolution", "res"))},
        "clock_started_at_ingest": n("from_ingest"),
    }


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


def _names(session: Session) -> dict[str, dict]:
    users = {u.id: u for u in session.execute(select(User.id, User.username, User.display_name, User.team_id))}
    return {
        "agent": users,
        "team": dict(session.execute(select(Team.id, Team.name)).all()),
        "queue": {q.id: q for q in session.execute(select(Queue.id, Queue.slug, Queue.name, Queue.position))},
    }


def _label_row(dimension: str, key, names: dict) -> tuple[str, str]:
    """(label shown, value of the drill-down filter) for a group's key."""
    if key is None:
        return {"agent": "— no agent", "team": "— no team", "queue": "— no queue", "intent": "— untagged",
                "network": "—", "day": "—"}[dimension], NONE
    if dimension == "agent":
        user = names["agent"].get(key)
        return (user.display_name, user.username) if user else (f"user {key}", NONE)
    if dimension == "team":
        return names["team"].get(key, f"team {key}"), str(key)
    if dimension == "queue":
        queue = names["queue"].get(key)
        return (queue.name, queue.slug) if queue else (f"queue {key}", NONE)
    return str(key), str(key)


def _range_bounds(session: Session, f: Filters) -> int | None:
    """The lowest mention id posted in the range: bounds the replies scanned for the first responder.

    OFFSET 0 keeps the range on the posted_at index; a bare min(id) tempts PostgreSQL into walking the
    primary key from the start, filtering every older row.
    """
    in_range = select(Mention.id).where(Mention.posted_at >= f.start, Mention.posted_at < f.end).offset(0).subquery()
    return session.scalar(select(func.min(in_range.c.id)))


def _tune(session: Session) -> None:
    """PostgreSQL: these one-off aggregates lose more to JIT compilation (about a second) than they gain.

    work_mem stays as configured: percentile_cont sets up a sort per group, and a larger work_mem makes
    each of those slower, not faster.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.set_config("jit", "off", True)))


def report(session: Session, f: Filters, *, now: datetime | None = None, exact: bool = False) -> dict:
    """All the figures of the report page (and of `triage report`).

    A long unfiltered range is read from the daily summaries (triage/summaries.py) unless `exact`.
    """
    from triage import summaries

    now = now or utcnow()
    _tune(session)
    ids = _resolve(session, f)
    summarised = None if exact else summaries.figures(session, f, now)
    if summarised is None:
        facts = _facts(session, f, now, ids, min_id=_range_bounds(session, f)).subquery("facts")
        grouped = (_grouped_postgres if session.get_bind().dialect.name == "postgresql" else _grouped_sqlite)(
            session, facts)
    else:
        grouped = summarised["grouped"]
    names = _names(session)
    by: dict[str, list[dict]] = {}
    for dimension in DIMENSIONS:
        key_name = _SETS[dimension][0]
        rows = []
        for row in grouped[dimension]:
            key = _as_date(row[key_name]) if dimension == "day" else row[key_name]
            label, value = _label_row(dimension, key.isoformat() if isinstance(key, date) else key, names)
            rows.append({"key": key, "label": label, "value": value, **_figures(row)})
        by[dimension] = _sorted_rows(dimension, rows, names)
    summary = _figures(grouped["all"][0] if grouped["all"] else None)
    return {
        "since": f.since, "until": f.until, "generated_at": now, "filters": f.report_args(),
        "summary": summary, "by": by,
        "volume": summarised["volume"] if summarised else volume(session, f, ids),
        "backlog": summarised["backlog"] if summarised else backlog(session, f, ids, now=now),
        "workload": workload(session, f, ids, by["agent"], names, done=summarised["done"] if summarised else None),
        # Percentiles of a long range come from summary histograms (within 5%); counts are exact either way.
        "estimated": bool(summarised),
    }


def _sorted_rows(dimension: str, rows: list[dict], names: dict) -> list[dict]:
    if dimension == "day":
        return sorted(rows, key=lambda r: (r["key"] is None, r["key"] or date.min))
    if dimension == "queue":
        position = {q.id: q.position for q in names["queue"].values()}
        return sorted(rows, key=lambda r: (r["key"] is None, position.get(r["key"], 0), r["label"]))
    return sorted(rows, key=lambda r: (r["key"] is None, -r["mentions"], r["label"]))


def volume(session: Session, f: Filters, ids: _Ids) -> dict:
    """Mentions per day by intent and by sentiment (counts only: one pass over the range, no percentiles)."""
    sql = _Sql(session)
    day = sql.day(Mention.posted_at).label("day")
    where = [Mention.posted_at >= f.start, Mention.posted_at < f.end, *_mention_filters(f, ids)]
    out = {}
    for name in ("intent", "sentiment"):
        column = getattr(Mention, name)
        counts = {(_as_date(d), k or NONE): n for d, k, n in session.execute(
            select(day, column, func.count()).where(*where).group_by(day, column))}
        series = sorted({k for _, k in counts})
        out[name] = {"series": series, "days": [
            {"day": d, "counts": {s: counts.get((d, s), 0) for s in series}} for d in f.days()]}
    return out


def _mention_filters(f: Filters, ids: _Ids) -> list:
    """The report's filters as conditions on mentions alone (agent and team through a per-item lookup)."""
    m = Mention
    where = []
    if ids.queue is not None:
        where.append(_equals(m.queue_id, ids.queue))
    for name in ("intent", "network", "sentiment"):
        if getattr(f, name):
            where.append(_equals(getattr(m, name), getattr(f, name)))
    if ids.agent is not None or ids.team is not None:
        first_reply = (select(Response.user_id).where(Response.mention_id == m.id, Response.user_id.is_not(None))
                       .order_by(Response.id).limit(1).scalar_subquery())
        agent_id = func.coalesce(first_reply, m.owner_id)
        if ids.agent is not None:
            where.append(_equals(agent_id, ids.agent))
        if ids.team is not None:
            queue_team = select(Queue.team_id).where(Queue.id == m.queue_id).scalar_subquery()
            agent_team = select(User.team_id).where(User.id == agent_id).scalar_subquery()
            where.append(_equals(func.coalesce(agent_team, queue_team), ids.team))
    return where


def backlog(session: Session, f: Filters, ids: _Ids, *, now: datetime) -> list[dict]:
    """Items open at the end of each day: open now, minus arrivals after that day, plus closures after it."""
    sql = _Sql(session)
    where = _mention_filters(f, ids)
    open_now = session.scalar(select(func.count()).select_from(Mention).where(Mention.resolved_at.is_(None), *where))
    arrivals = dict(session.execute(
        select(sql.day(Mention.posted_at), func.count()).where(Mention.posted_at >= f.start, *where)
        .group_by(sql.day(Mention.posted_at))).all())
    closures = dict(session.execute(
        select(sql.day(Mention.resolved_at), func.count()).where(Mention.resolved_at >= f.start, *where)
        .group_by(sql.day(Mention.resolved_at))).all())
    arrivals = {_as_date(k): v for k, v in arrivals.items()}
    closures = {_as_date(k): v for k, v in closures.items()}
    out = []
    for day in f.days():
        later_arrivals = sum(n for d, n in arrivals.items() if d > day)
        later_closures = sum(n for d, n in closures.items() if d > day)
        out.append({"day": day, "open": None if day > now.date() else open_now - later_arrivals + later_closures,
                    "arrived": arrivals.get(day, 0), "closed": closures.get(day, 0)})
    return out


def workload(session: Session, f: Filters, ids: _Ids, agent_rows: list[dict], names: dict,
             done: dict[int, dict[str, int]] | None = None) -> list[dict]:
    """Per person: items counted for them, what they did in the range (from the audit log, unless the summaries
    gave it as `done`), what they hold now."""
    where = _mention_filters(f, ids)
    if done is None:
        done = _done(session, f, ids, where)

    def open_items_by(column) -> dict[int, int]:
        return dict(session.execute(select(column, func.count()).where(
            column.is_not(None), Mention.status.in_(WORKABLE), *where).group_by(column)).all())

    holding, owning = open_items_by(Mention.claimed_by_id), open_items_by(Mention.owner_id)
    counted = {r["key"]: r for r in agent_rows if r["key"] is not None}
    people = set(done) | set(holding) | set(owning) | set(counted)
    if ids.agent is None and ids.team is None:  # everyone who works items, idle or not
        people |= set(session.scalars(select(User.id).where(User.active.is_(True), User.role.in_(("agent", "lead")))))
    rows = []
    for user_id in people:
        user = names["agent"].get(user_id)
        if user is None or (ids.agent not in (None, NONE) and user_id != ids.agent):
            continue
        if ids.team not in (None, NONE) and user.team_id != ids.team and user_id not in counted:
            continue
        item = counted.get(user_id, {})
        rows.append({
            "user_id": user_id, "username": user.username, "label": user.display_name,
            "team": names["team"].get(user.team_id), "items": item.get("mentions", 0),
            "answered": item.get("answered", 0),
            "first_response_median": (item.get("first_response_seconds") or {}).get("median"),
            "breached": (item.get("sla") or {}).get("first_response", {}).get("missed", 0),
            **{k: done.get(user_id, {}).get(k, 0) for k in WORKLOAD_ACTIONS},
            "holding": holding.get(user_id, 0), "owning": owning.get(user_id, 0),
        })
    return sorted(rows, key=lambda r: (-(r["items"] + r["replied"] + r["holding"]), r["label"]))


def _done(session: Session, f: Filters, ids: _Ids, where: list) -> dict[int, dict[str, int]]:
    """Per person, what they did in the range, counted from the audit log."""
    actions = [a for group in WORKLOAD_ACTIONS.values() for a in group]
    query = (select(Event.actor_id, Event.action, func.count()).where(
        Event.created_at >= f.start, Event.created_at < f.end, Event.actor_id.is_not(None),
        Event.action.in_(actions)).group_by(Event.actor_id, Event.action))
    if where:
        query = query.join(Mention, Mention.id == Event.mention_id).where(*where)
    if ids.agent not in (None, NONE):
        query = query.where(Event.actor_id == ids.agent)
    done: dict[int, dict[str, int]] = {}
    for actor_id, action, count in session.execute(query):
        column = next(k for k, group in WORKLOAD_ACTIONS.items() if action in group)
        done.setdefault(actor_id, {}).setdefault(column, 0)
        done[actor_id][column] += count
    return done


# --------------------------------------------------------------------------------- items behind a figure


ITEM_COLUMNS = ("id", "network", "external_id", "url", "author", "status", "intent", "sentiment", "priority",
                "urgent", "queue", "agent", "team", "clock_start", "posted_at", "ingested_at", "tagged_at",
                "first_claimed_at", "first_response_at", "resolved_at", "first_response_due_at", "resolution_due_at",
                "first_response_breached_at", "resolution_breached_at", "escalated_at", "first_response_seconds",
                "resolution_seconds", "first_response_sla", "resolution_sla", "text")


def items(session: Session, f: Filters, *, now: datetime | None = None, limit: int | None = 100,
          after: tuple[datetime, int] | None = None) -> Iterator[dict]:
    """The mentions behind a figure, newest first, with every timestamp; `after` pages on (keyset)."""
    now = now or utcnow()
    _tune(session)
    ids = _resolve(session, f)
    facts = _facts(session, f, now, ids, detail=True).subquery("facts")
    query = select(facts).order_by(facts.c.posted_at.desc(), facts.c.id.desc())
    if after is not None:
        query = query.where(tuple_(facts.c.posted_at, facts.c.id) < tuple_(literal(after[0], UTCDateTime()),
                                                                          literal(after[1])))
    if limit is not None:
        query = query.limit(limit)
    names = _names(session)
    result = session.execute(query.execution_options(yield_per=2000)).mappings()
    for row in result:
        agent = names["agent"].get(row["agent_id"])
        queue = names["queue"].get(row["queue_id"])
        yield {
            **{k: row[k] for k in ("id", "network", "external_id", "url", "author", "status", "intent", "sentiment",
                                   "priority", "urgent", "posted_at", "ingested_at", "tagged_at", "first_claimed_at",
                                   "first_response_at", "resolved_at", "first_response_due_at", "resolution_due_at",
                                   "first_response_breached_at", "resolution_breached_at", "escalated_at", "text")},
            "queue": queue.name if queue else None, "agent": agent.display_name if agent else None,
            "team": names["team"].get(row["team_id"]),
            "clock_start": "posted" if row["posted_at_known"] else "ingested",
            "first_response_seconds": _seconds(row["fr_s"]), "resolution_seconds": _seconds(row["res_s"]),
            "first_response_sla": row["fr_state"], "resolution_sla": row["res_state"],
        }


def count_items(session: Session, f: Filters, *, now: datetime | None = None) -> int:
    now = now or utcnow()
    ids = _resolve(session, f)
    facts = _facts(session, f, now, ids, detail=True)
    return session.scalar(select(func.count()).select_from(facts.subquery()))


def describe(f: Filters, names: dict | None = None) -> list[str]:
    """The drill-down in words, for the page heading."""
    words = []
    if f.open_on:
        words.append(f"open at the end of {f.open_on}")
    if f.day:
        words.append(f"posted on {f.day}")
    for name in Filters.FILTERS:
        if getattr(f, name):
            words.append(f"{name} {getattr(f, name)}")
    if f.sla:
        target = "first response" if f.target == "first_response" else "resolution"
        words.append({"missed": f"{target} target missed", "met": f"{target} target met",
                      "pending": f"{target} still due"}[f.sla])
    if f.answered is not None:
        words.append("answered" if f.answered else "not answered")
    if f.resolved is not None:
        words.append("resolved" if f.resolved else "not resolved")
    if f.holder:
        words.append(f"held by {f.holder}")
    if f.clock:
        words.append("clock started when received" if f.clock == "ingested" else "clock started when posted")
    return words


# ------------------------------------------------------------------------------------------------- CSV

FIGURE_COLUMNS = ("mentions", "answered", "resolved", "first_response_median_s", "first_response_p90_s",
                  "resolution_median_s", "resolution_p90_s", "first_response_sla_met", "first_response_sla_missed",
                  "first_response_sla_pending", "first_response_sla_attainment_pct", "resolution_sla_met",
                  "resolution_sla_missed", "resolution_sla_pending", "resolution_sla_attainment_pct",
                  "clock_started_at_ingest")
TABLES = DIMENSIONS + ("summary", "volume", "backlog", "workload")


def _flat(figures: dict) -> list:
    fr, res = figures["first_response_seconds"], figures["resolution_seconds"]
    sla = figures["sla"]
    return [figures["mentions"], figures["answered"], figures["resolved"], fr["median"], fr["p90"], res["median"],
            res["p90"], *[sla["first_response"][s] for s in SLA_STATES], figures["sla_attainment"],
            *[sla["resolution"][s] for s in SLA_STATES], figures["resolution_sla_attainment"],
            figures["clock_started_at_ingest"]]


def table_rows(data: dict, table: str) -> tuple[list[str], list[list]]:
    """(header, rows) of one table of a report, as exported."""
    if table == "summary":
        return ["since", "until", *FIGURE_COLUMNS], [[data["since"], data["until"], *_flat(data["summary"])]]
    if table in DIMENSIONS:
        return ([table, "filter_value", *FIGURE_COLUMNS],
                [[r["label"], r["value"], *_flat(r)] for r in data["by"][table]])
    if table == "volume":
        intents, sentiments = data["volume"]["intent"], data["volume"]["sentiment"]
        header = ["day", *[f"intent_{s}" for s in intents["series"]],
                  *[f"sentiment_{s}" for s in sentiments["series"]]]
        rows = [[a["day"], *[a["counts"][s] for s in intents["series"]],
                 *[b["counts"][s] for s in sentiments["series"]]]
                for a, b in zip(intents["days"], sentiments["days"], strict=True)]
        return header, rows
    if table == "backlog":
        return ["day", "open_at_end_of_day", "arrived", "closed"], [
            [r["day"], r["open"], r["arrived"], r["closed"]] for r in data["backlog"]]
    if table == "workload":
        keys = ["label", "username", "team", "items", "answered", "first_response_median", "breached",
                *WORKLOAD_ACTIONS, "holding", "owning"]
        header = ["agent", "username", "team", "items", "answered", "first_response_median_s",
                  "first_response_sla_missed", *[f"{k}_in_range" for k in WORKLOAD_ACTIONS], "holding_now",
                  "owning_open_now"]
        return header, [[r[k] for k in keys] for r in data["workload"]]
    raise ReportError(f"there is no table '{table}'; tables are {', '.join(TABLES)}")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.1f}" if value != int(value) else str(int(value))
    text = str(value)
    # A cell a spreadsheet would run as a formula starts with an apostrophe (people's posts are untrusted).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(header: list[str], rows) -> Iterator[str]:
    """CSV text, a line at a time (for streaming responses)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(v) for v in row])
        yield buffer.getvalue()


def items_csv(session: Session, f: Filters, *, now: datetime | None = None) -> Iterator[str]:
    rows = ([item[c] for c in ITEM_COLUMNS] for item in items(session, f, now=now, limit=None))
    return csv_lines(list(ITEM_COLUMNS), rows)


def report_csv(data: dict) -> Iterator[str]:
    """The summary and every by-dimension table in one CSV (`triage report --format csv`)."""
    rows = [["all", "", "", *_flat(data["summary"])]]
    for dimension in DIMENSIONS:
        rows += [[dimension, r["label"], r["value"], *_flat(r)] for r in data["by"][dimension]]
    return csv_lines(["table", "group", "filter_value", *FIGURE_COLUMNS], rows)


def to_json(data: dict) -> dict:
    """The report as JSON-ready values (dates as ISO strings)."""

    def plain(value):
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(value, date):
            return value.isoformat()
        return value

    out = {"since": data["since"], "until": data["until"], "filters": data["filters"], **data["summary"],
           "by": data["by"], "volume": data["volume"], "backlog": data["backlog"], "workload": data["workload"],
           "generated_at": data["generated_at"], "percentiles_estimated": data["estimated"]}
    return plain(out)


# ------------------------------------------------------------------------------------------- audit log

KNOWN_ACTIONS = tuple(ACTIONS)  # the registry in triage/audit.py; the log's action filter offers these
SYSTEM = "system"
AUDIT_COLUMNS = ("id", "created_at", "actor", "action", "mention_id", "network", "external_id", "from_state",
                 "to_state", "reason", "detail")


@dataclass(frozen=True)
class AuditFilters:
    """What the audit log shows: a text search, an action, who (a username or 'system'), an item, a range."""

    q: str | None = None
    action: str | None = None
    actor: str | None = None
    mention: int | None = None
    since: date | None = None
    until: date | None = None
    before: tuple[datetime, int] | None = None  # keyset paging: events older than this (created_at, id)

    @classmethod
    def parse(cls, args) -> AuditFilters:
        mention = (args.get("mention") or "").strip() or None
        if mention is not None:
            mention = row_id(mention, "mention")
        before = position(args["before"], "before") if args.get("before") else None
        since, until = _date(args.get("since"), "since"), _date(args.get("until"), "until")
        if since and until and since > until:
            raise ReportError(f"the range starts ({since}) after it ends ({until})")
        text = (args.get("q") or "").strip()[:200] or None
        return cls(q=text, action=(args.get("action") or "").strip() or None,
                   actor=(args.get("actor") or "").strip().lower() or None,
                   mention=mention, since=since, until=until, before=before)

    def args(self, **changes) -> dict[str, str]:
        out = {}
        for f in fields(self):
            value = changes[f.name] if f.name in changes else getattr(self, f.name)
            if value is None or f.name == "before":
                continue
            out[f.name] = str(value)
        return out


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def audit_events(session: Session, a: AuditFilters, *, limit: int | None = 100) -> Iterator[dict]:
    """Events newest first, with who did it and which item, filtered and searched."""
    from sqlalchemy import String

    actor = User.__table__.alias("actor")
    e, m = Event.__table__, Mention.__table__
    query = (select(e, actor.c.username, actor.c.display_name, m.c.network, m.c.external_id)
             .select_from(e.outerjoin(actor, actor.c.id == e.c.actor_id).outerjoin(m, m.c.id == e.c.mention_id))
             .order_by(e.c.created_at.desc(), e.c.id.desc()))
    if a.action:
        query = query.where(e.c.action == a.action)
    if a.actor == SYSTEM:
        query = query.where(e.c.actor_id.is_(None))
    elif a.actor:
        query = query.where(actor.c.username == a.actor)
    if a.mention is not None:
        query = query.where(e.c.mention_id == a.mention)
    if a.since:
        query = query.where(e.c.created_at >= datetime.combine(a.since, time(0), tzinfo=UTC))
    if a.until:
        query = query.where(e.c.created_at < datetime.combine(a.until + timedelta(days=1), time(0), tzinfo=UTC))
    if a.q:
        pattern = _like(a.q)
        query = query.where(or_(*[c.ilike(pattern, escape="\\") for c in (
            e.c.action, e.c.reason, e.c.from_state, e.c.to_state, cast(e.c.detail, String), actor.c.username,
            actor.c.display_name, m.c.external_id)]))
    if a.before is not None:
        query = query.where(tuple_(e.c.created_at, e.c.id) < tuple_(literal(a.before[0], UTCDateTime()),
                                                                    literal(a.before[1])))
    if limit is not None:
        query = query.limit(limit)
    for row in session.execute(query.execution_options(yield_per=2000)).mappings():
        yield {**row, "actor": row["username"] or SYSTEM}


def audit_csv(session: Session, a: AuditFilters) -> Iterator[str]:
    import json

    rows = ([r["id"], r["created_at"], r["actor"], r["action"], r["mention_id"], r["network"], r["external_id"],
             r["from_state"], r["to_state"], r["reason"], json.dumps(r["detail"] or {}, default=str, sort_keys=True)]
            for r in audit_events(session, a, limit=None))
    return csv_lines(list(AUDIT_COLUMNS), rows)


__all__ = ["DIMENSIONS", "AuditFilters", "Filters", "ReportError", "audit_events", "backlog", "items", "report",
           "workload"]
