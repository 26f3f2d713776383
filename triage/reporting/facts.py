"""The rows every report figure is aggregated from: one per mention, with its keys, times and SLA states.

Both the report (reports.py) and the daily summaries (rollup.py) count from these rows, so a figure read
from the summaries is the figure the report would compute. Times are seconds from the clock start (the post's
time on its network, or the ingest time where the network gave none) to the first response and to the
resolution. Medians and 90th percentiles interpolate like PostgreSQL's `percentile_cont`, which computes them
there; on SQLite a ranked (sorted-offset) query picks the two rows around each percentile.

Who an item counts for (its "agent"): the person who sent its first reply from the app, else its owner.
Its team: that person's team, else its queue's team.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    FromClause,
    Integer,
    Row,
    Select,
    SQLColumnExpression,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from triage.db import MAX_ROW_ID, UTCDateTime, is_postgres
from triage.models import Author, Mention, Queue, Response, Team, User
from triage.models.mentions import IRRELEVANT, RESOLVED, SPAM, WORKABLE
from triage.reporting.filters import NONE, SLA_STATES, Filters, ReportError

# What the workload table counts per person, from the audit log: column → the actions it adds up.
WORKLOAD_ACTIONS = {"claimed": ("claimed",), "replied": ("replied",),
                    "closed": ("resolved", "marked spam", "marked not relevant"),
                    "escalated": ("escalated",), "notes": ("note",)}
PERCENTILES = (("fr", "fr_s"), ("res", "res_s"))  # (prefix of the figures, the facts column they rank)
KEYS = ("agent_id", "team_id", "queue_id", "intent", "network", "day")
# The report's tables: the facts columns each groups by ("all": one row, the whole report).
GROUPINGS: dict[str, tuple[str, ...]] = {
    "all": (), "agent": ("agent_id",), "team": ("team_id",), "queue": ("queue_id",), "intent": ("intent",),
    "network": ("network",), "day": ("day",)}


class Dialect:
    """Dialect differences: seconds between timestamps, the UTC day of a timestamp."""

    def __init__(self, session: Session) -> None:
        self.postgres = is_postgres(session)

    def seconds(self, later: SQLColumnExpression[Any], earlier: SQLColumnExpression[Any]) -> ColumnElement[float]:
        if self.postgres:  # as float8: percentile_cont sorts doubles several times faster than numerics
            return cast(extract("epoch", later - earlier), Float)
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0

    def day(self, column: SQLColumnExpression[Any]) -> ColumnElement[Any]:
        return cast(column, Date) if self.postgres else func.date(column)


@dataclass
class Ids:
    """A report's filters resolved to ids once (unknown names are an error, not an empty report).

    NONE ("none") stands for "no queue", "no team", "no agent".
    """

    queue: int | str | None = None
    team: int | str | None = None
    agent: int | str | None = None
    holder: int | None = None


def resolve(session: Session, f: Filters) -> Ids:
    """The filters' queue slug, team id or name and usernames as ids; an unknown one raises ReportError."""
    ids = Ids()
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
    if f.agent:
        ids.agent = NONE if f.agent == NONE else _user_id(session, f.agent)
    if f.holder:
        ids.holder = _user_id(session, f.holder)
    return ids


def _user_id(session: Session, username: str) -> int:
    user_id = session.scalar(select(User.id).where(User.username == username.lower()))
    if user_id is None:
        raise ReportError(f"there is no user '{username}'")
    return user_id


def equals(column: SQLColumnExpression[Any], value: object) -> ColumnElement[bool]:
    """column = value, or IS NULL for the NONE filter value."""
    return column.is_(None) if value == NONE else column == value


def facts(session: Session, f: Filters, now: datetime, ids: Ids, *, min_id: int | None = None,
          detail: bool = False) -> Select[*tuple[Any, ...]]:
    """One row per mention in the report: its keys, its times in seconds and its SLA states.

    `detail` adds every column of the item (the drill-down list) and looks its agent up per row; otherwise
    the first replies of the range are ranked in one pass, from mention id `min_id` on.
    """
    sql = Dialect(session)
    m = Mention.__table__
    r = Response.__table__
    q = Queue.__table__
    agent_user = User.__table__.alias("agent_user")
    source: FromClause
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
        ranking = select(r.c.mention_id, r.c.user_id,
                         func.row_number().over(partition_by=r.c.mention_id, order_by=r.c.id).label("n")
                         ).where(r.c.user_id.is_not(None))
        if min_id is not None:
            ranking = ranking.where(r.c.mention_id >= min_id)
        ranked = ranking.subquery("replies")
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
    columns: list[ColumnElement[Any]] = [
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
    where: list[ColumnElement[bool]] = []
    if f.open_on is not None:  # the backlog at the end of a day, whenever those items were posted
        day_end = datetime.combine(f.open_on + timedelta(days=1), time(0), tzinfo=UTC)
        where += [m.c.posted_at < day_end, or_(m.c.resolved_at.is_(None), m.c.resolved_at >= day_end)]
    else:
        where += [m.c.posted_at >= f.start, m.c.posted_at < f.end]
    if ids.queue is not None:
        where.append(equals(m.c.queue_id, ids.queue))
    if ids.team is not None:
        where.append(equals(team_id, ids.team))
    if ids.agent is not None:
        where.append(equals(agent_id, ids.agent))
    for name in ("intent", "network", "sentiment"):
        if getattr(f, name):
            where.append(equals(m.c[name], getattr(f, name)))
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


def aggregates(facts: FromClause) -> list[ColumnElement[Any]]:
    """The counts of a group of facts: mentions, answered, resolved, per SLA state, clocks started at ingest."""

    def count_state(column: ColumnElement[Any], state: str) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((column == state, 1), else_=0)), 0)

    return [
        func.count().label("mentions"),
        func.count(facts.c.fr_s).label("answered"),
        func.count(facts.c.res_s).label("resolved"),
        *[count_state(facts.c.fr_state, s).label(f"fr_{s}") for s in SLA_STATES],
        *[count_state(facts.c.res_state, s).label(f"res_{s}") for s in SLA_STATES],
        func.coalesce(func.sum(facts.c.from_ingest), 0).label("from_ingest"),
    ]


def grouped(session: Session, facts: FromClause) -> dict[str, list[dict[str, Any]]]:
    """Counts, medians and 90th percentiles of the facts for each of GROUPINGS: {grouping: [row, ...]}."""
    return (_grouped_postgres if is_postgres(session) else _grouped_sqlite)(session, facts)


def _grouped_postgres(session: Session, facts: FromClause) -> dict[str, list[dict[str, Any]]]:
    """Every grouping in one pass: GROUPING SETS with percentile_cont."""
    keys = [facts.c[k] for k in KEYS]
    percentiles = []
    for prefix, value in PERCENTILES:
        for p, name in ((0.5, "median"), (0.9, "p90")):
            percentiles.append(func.percentile_cont(p).within_group(facts.c[value]).label(f"{prefix}_{name}"))
    query = (select(*keys, func.grouping(*keys).label("grouping"), *aggregates(facts), *percentiles)
             .group_by(func.grouping_sets(*[tuple_(*[facts.c[k] for k in cols]) for cols in GROUPINGS.values()])))
    masks = {sum(1 << (len(KEYS) - 1 - i) for i, k in enumerate(KEYS) if k not in cols): name
             for name, cols in GROUPINGS.items()}
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in GROUPINGS}
    for row in session.execute(query).mappings():
        out[masks[row["grouping"]]].append({k: v for k, v in row.items() if k != "grouping"})
    return out


def _grouped_sqlite(session: Session, facts: FromClause) -> dict[str, list[dict[str, Any]]]:
    """Per grouping: counts with GROUP BY, percentiles from a ranked query (the two rows around each)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, cols in GROUPINGS.items():
        keys = [facts.c[k] for k in cols]
        rows = {tuple(r[k] for k in cols): dict(r) for r in
                session.execute(select(*keys, *aggregates(facts)).group_by(*keys)).mappings()}
        for row in rows.values():
            row.update({f"{prefix}_{n}": None for prefix, _ in PERCENTILES for n in ("median", "p90")})
        for prefix, value in PERCENTILES:
            for key, figures in ranked_percentiles(session, facts, cols, value).items():
                rows[key].update({f"{prefix}_{n}": v for n, v in figures.items()})
        out[name] = list(rows.values())
    return out


def ranked_percentiles(session: Session, facts: FromClause, cols: tuple[str, ...],
                       value: str) -> dict[tuple[Any, ...], dict[str, float | None]]:
    """Median and 90th percentile of `value` per group of `cols`, as percentile_cont interpolates them.

    For SQLite, which has no percentile_cont: each group's values ranked, the two rows around each percentile.
    """
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
    out: dict[tuple[Any, ...], dict[str, float | None]] = {}
    for row in session.execute(query).mappings():
        if not row["cnt"]:
            continue  # no values at all: the ungrouped query still answers one empty row
        figures: dict[str, float | None] = {}
        for p, name in ((0.5, "median"), (0.9, "p90")):
            position = (row["cnt"] - 1) * p
            low, high = row[f"lo{p}"], row[f"hi{p}"]
            fraction = position - int(position)
            figures[name] = low if high is None or not fraction else low + fraction * (high - low)
        out[tuple(row[k] for k in cols)] = figures
    return out


def range_start_id(session: Session, f: Filters) -> int | None:
    """The lowest mention id posted in the range: bounds the replies scanned for the first responder.

    OFFSET 0 keeps the range on the posted_at index; a bare min(id) tempts PostgreSQL into walking the
    primary key from the start, filtering every older row.
    """
    in_range = select(Mention.id).where(Mention.posted_at >= f.start, Mention.posted_at < f.end).offset(0).subquery()
    first: int | None = session.scalar(select(func.min(in_range.c.id)))
    return first


def tune(session: Session) -> None:
    """PostgreSQL: these one-off aggregates lose more to JIT compilation (about a second) than they gain.

    work_mem stays as configured: percentile_cont sets up a sort per group, and a larger work_mem makes
    each of those slower, not faster.
    """
    if is_postgres(session):
        session.execute(select(func.set_config("jit", "off", True)))


def as_date(value: object) -> date:
    """A day as the database returns it (a date, a datetime, or ISO text on SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def seconds(value: float | None) -> float | None:
    """A duration in seconds as reported: to a tenth of a second."""
    return None if value is None else round(float(value), 1)


@dataclass(frozen=True)
class Names:
    """Who and what the ids of a report name: users (agents), team names, queues."""

    agent: dict[int, Row[*tuple[Any, ...]]]
    team: dict[int, str]
    queue: dict[int, Row[*tuple[Any, ...]]]

    @classmethod
    def load(cls, session: Session) -> Names:
        users = select(User.id, User.username, User.display_name, User.team_id)
        queues = select(Queue.id, Queue.slug, Queue.name, Queue.position)
        return cls(agent={u.id: u for u in session.execute(users)},
                   team={t.id: t.name for t in session.execute(select(Team.id, Team.name))},
                   queue={q.id: q for q in session.execute(queues)})


__all__ = ["GROUPINGS", "KEYS", "PERCENTILES", "WORKLOAD_ACTIONS", "Dialect", "Ids", "Names", "aggregates", "as_date",
           "equals", "facts", "grouped", "ranked_percentiles", "range_start_id", "resolve", "seconds", "tune"]
