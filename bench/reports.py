"""The supervisor's report over a large history on PostgreSQL: 1,000,000 mentions (default) spread over a
year, each with its events (queued, claimed, replied, resolved) and responses, generated in SQL.

Prints how long the report page (/reports) takes for its default range (the last 7 days), for 30 days and
for the whole year, and the drill-down list, CSV exports, the audit log and `triage report`, after the summary
job has caught up (it runs every minute in production). Target: the report page under 1 s.
"""
from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import timedelta

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_SECONDS = 1.0

# Generated in one statement per table; `g` is the row number, so the shape is the same on every run.
# Mentions arrive in time order (as ingest stores them): posted over `days` days up to now, answered after
# a skewed delay (most within the hour, a tail of many hours), resolved later; recent ones still open.
POPULATE = [
    """INSERT INTO teams (name, timezone, business_hours, holidays, escalate_breached_urgent)
       VALUES ('North', 'Europe/London', NULL, '[]', true), ('South', 'America/New_York',
               '{"mon": ["09:00", "17:00"], "tue": ["09:00", "17:00"], "wed": ["09:00", "17:00"],
                 "thu": ["09:00", "17:00"], "fri": ["09:00", "17:00"]}', '[]', true),
              ('West', 'UTC', NULL, '[]', false)""",
    """INSERT INTO users (username, display_name, role, password_hash, team_id, active, created_at)
       SELECT 'agent' || g, 'Agent ' || g, 'agent', '!', (SELECT min(id) FROM teams) + g % 3, true, now()
       FROM generate_series(1, 30) g""",
    """INSERT INTO authors (network, handle, display_name, followers, first_seen_at, last_seen_at)
       SELECT 'x', 'user' || g, 'User ' || g, (g * 7919) % 50000, now(), now() FROM generate_series(1, 200000) g""",
    """CREATE TEMPORARY TABLE gen AS
       SELECT g, (now() AT TIME ZONE 'utc') - make_interval(days => :days)
                 + make_interval(secs => (g::float8 / :n) * :days * 86400 + (g * 7 % 600)) AS p,
              (ARRAY['complaint','complaint','question','question','advocacy','other'])[1 + (g * 31) % 6] AS intent,
              (g * 13) % 29 = 0 AS urgent,
              exp(((g * 7907) % 1000) / 1000.0 * 9.5) AS delay,  -- 1 s .. 3.7 h, most in minutes
              (g * 104729) % 100 AS r
       FROM generate_series(1::bigint, :n) g""",
    """INSERT INTO mentions (network, external_id, author_id, text, posted_at, posted_at_known, ingested_at, tagged_at,
         sentiment, polarity, intent, intent_confidence, cues, priority, priority_reasons, urgent, queue_id, status,
         owner_id, first_claimed_at, first_response_at, resolved_at, first_response_due_at, resolution_due_at)
       SELECT (ARRAY['x','mastodon','bluesky','reddit','instagram'])[1 + g % 5], 'bench-' || g,
         (SELECT min(id) FROM authors) + g % 200000,
         'my bag never arrived and nobody answers the phone, flight ' || g, p, r <> 0, p + interval '5 seconds',
         p + interval '5 seconds', (ARRAY['negative','neutral','positive'])[1 + (g / 7) % 3], 0.0, intent, 0.8, '[]',
         (g * 37) % 100, '[]', urgent,
         (SELECT id FROM queues WHERE slug = CASE WHEN urgent THEN 'urgent' WHEN intent = 'complaint' THEN 'complaints'
              WHEN intent = 'question' THEN 'questions' WHEN intent = 'advocacy' THEN 'advocacy' ELSE 'other' END),
         CASE WHEN p > (now() AT TIME ZONE 'utc') - interval '2 days' AND r < 40 THEN 'open'
              WHEN p > (now() AT TIME ZONE 'utc') - interval '4 days' AND r < 50 THEN 'answered'
              WHEN r >= 97 THEN 'spam' ELSE 'resolved' END,
         (SELECT min(id) FROM users) + g % 30,
         CASE WHEN NOT (p > (now() AT TIME ZONE 'utc') - interval '2 days' AND r < 40)
              THEN p + delay * interval '0.8 second' END,
         CASE WHEN NOT (p > (now() AT TIME ZONE 'utc') - interval '2 days' AND r < 40)
              THEN p + delay * interval '1 second' END,
         CASE WHEN p > (now() AT TIME ZONE 'utc') - interval '4 days' AND r < 50 THEN NULL
              ELSE p + delay * interval '1 second' + ((g * 31337) % 172800) * interval '1 second' END,
         CASE WHEN intent = 'other' AND NOT urgent THEN NULL ELSE p + CASE WHEN urgent THEN interval '30 minutes'
              WHEN intent = 'complaint' THEN interval '1 hour' WHEN intent = 'question' THEN interval '2 hours'
              ELSE interval '24 hours' END END,
         CASE WHEN intent = 'other' AND NOT urgent THEN NULL ELSE p + CASE WHEN urgent THEN interval '4 hours'
              WHEN intent = 'advocacy' THEN interval '72 hours' ELSE interval '24 hours' END END
       FROM gen ORDER BY g""",
    """INSERT INTO responses (mention_id, user_id, text, origin, network, created_at, sent_at, delivery_status,
                            attempts)
       SELECT id, CASE WHEN id % 4 = 0 THEN NULL ELSE owner_id END, 'Sorry to hear that, we are on it',
              CASE WHEN id % 4 = 0 THEN 'network' ELSE 'app' END, network, first_response_at, first_response_at,
              'sent', 1
       FROM mentions WHERE first_response_at IS NOT NULL ORDER BY id""",
    """INSERT INTO events (mention_id, actor_id, action, from_state, to_state, detail, created_at)
       SELECT id, actor, action, from_state, to_state, '{}', at FROM (
         SELECT id, NULL::int AS actor, 'queued' AS action, 'new' AS from_state, 'open' AS to_state,
                ingested_at AS at, 1 AS k FROM mentions
         UNION ALL SELECT id, owner_id, 'claimed', NULL, 'agent', first_claimed_at, 2 FROM mentions
           WHERE first_claimed_at IS NOT NULL
         UNION ALL SELECT id, owner_id, 'replied', 'open', 'answered', first_response_at, 3 FROM mentions
           WHERE first_response_at IS NOT NULL
         UNION ALL SELECT id, owner_id, CASE WHEN status = 'spam' THEN 'marked spam' ELSE 'resolved' END, 'answered',
           status, resolved_at, 4 FROM mentions WHERE resolved_at IS NOT NULL
       ) e ORDER BY at, id, k""",
    "DROP TABLE gen",
]


def populate(engine, count: int, days: int = 365) -> dict:
    """Fill an empty, migrated schema; returns the row counts."""
    from sqlalchemy import text

    with engine.begin() as conn:
        for statement in POPULATE:
            conn.execute(text(statement), {"n": count, "days": days} if ":n" in statement else {})
        counts = {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in ("mentions", "events", "responses")}
    # What autovacuum does to a table that has settled: statistics, and the visibility map index-only scans use.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return counts


def summarise(database_url: str, *, vacuum: bool = True) -> int:
    """Run the summary job until it has caught up (as the worker does, a batch at a time), then let the
    tables settle as autovacuum would."""
    from sqlalchemy import text

    from triage.db import get_engine, session_factory
    from triage.reporting import summaries

    days = 0
    while True:
        progress = summaries.refresh(session_factory(database_url))
        days += progress.days
        if not progress.waiting:
            break
    if vacuum:
        with get_engine(database_url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return days


def _timed(fn, repeat: int) -> tuple[float, float]:
    """(first, median of the following) wall-clock seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times[0], statistics.median(times[1:]) if len(times) > 1 else times[0]


def run(database_url: str, count: int) -> None:
    import tempfile
    from pathlib import Path

    from sqlalchemy import func, select

    from triage import migrate
    from triage.config import load_settings
    from triage.db import get_engine, session_scope, utcnow
    from triage.models import Mention
    from triage.people.accounts import add_user
    from triage.reporting.filters import Filters
    from triage.reporting.reports import report
    from triage.web import create_app

    migrate.upgrade(database_url)
    start = time.perf_counter()
    counts = populate(get_engine(database_url), count)
    print(f"  generated {counts['mentions']:,} mentions, {counts['events']:,} events and {counts['responses']:,} "
          f"responses over a year in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    built = summarise(database_url)
    print(f"  summary job: {built} days summarised from scratch in {time.perf_counter() - start:.0f} s")
    today = utcnow().date()
    with session_scope(database_url) as session:
        add_user(session, "boss", "correct horse battery", role="supervisor")
        first_day = session.scalar(select(func.min(Mention.posted_at))).date()
        in_range = {days: session.scalar(select(func.count()).select_from(Mention).where(
            Mention.posted_at >= utcnow() - timedelta(days=days))) for days in (7, 30, 366)}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(instance_path=Path(tmp), database_url=database_url, redis_url="redis://unused",
                                 secret_key="bench", demo=False)
        app = create_app(settings)
        app.config.update(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
        client = app.test_client()
        assert client.post("/login", data={"username": "boss", "password": "correct horse battery"}).status_code == 302

        def get(url: str) -> None:
            response = client.get(url)
            body = response.get_data()  # streamed exports are read to the end
            assert response.status_code == 200 and body, (url, response.status_code)

        month = f"since={today - timedelta(days=29)}&until={today}"
        year = f"since={first_day}&until={today}"
        rows = [
            (f"report page, default range: last 7 days ({in_range[7]:,} mentions)", "/reports", 6, True),
            (f"report page, last 30 days ({in_range[30]:,} mentions)", f"/reports?{month}", 4, True),
            (f"report page, whole year ({in_range[366]:,} mentions)", f"/reports?{year}", 3, True),
            ("report page, last 7 days, one queue", "/reports?queue=complaints", 4, True),
            ("drill-down: breached items, last 7 days", "/reports/items?breached=first_response", 4, True),
            ("CSV: table by agent, last 30 days", f"/reports/export/agent.csv?{month}", 3, False),
            ("CSV: every item of the last 7 days", "/reports/export/items.csv", 2, False),
            ("audit log page", "/audit", 4, True),
        ]
        print(f"  {'what':<58} {'first':>9} {'warm':>9}")
        for label, url, repeat, target in rows:
            first, warm = _timed(lambda url=url: get(url), repeat)
            flag = ("  ok" if warm < TARGET_SECONDS else "  OVER TARGET") if target else ""
            print(f"  {label:<58} {first * 1000:>6.0f} ms {warm * 1000:>6.0f} ms{flag}")
        with session_scope(database_url) as session:
            f = Filters(since=today - timedelta(days=6), until=today)
            first, warm = _timed(lambda: report(session, f), 4)
            figures = report(session, f)["summary"]
            label = "triage report (the figures alone), last 7 days"
            print(f"  {label:<58} {first * 1000:>6.0f} ms {warm * 1000:>6.0f} ms")
            whole = Filters(since=first_day, until=today)
            took, _ = _timed(lambda: report(session, whole, exact=True), 1)
            label = "triage report --exact, whole year (every item, no summaries)"
            print(f"  {label:<58} {took * 1000:>6.0f} ms")
        # What one change costs the summary job: an agent resolves an item posted months ago.
        with session_scope(database_url) as session:
            old = session.scalar(select(Mention).where(Mention.posted_at < utcnow() - timedelta(days=100),
                                                       Mention.status == "resolved").limit(1))
            old.status, old.resolved_at = "open", None
        start = time.perf_counter()
        summarise(database_url, vacuum=False)
        label = "summary job after one change (an item 100 days old)"
        print(f"  {label:<58} {(time.perf_counter() - start) * 1000:>6.0f} ms")
        fr, res = figures["first_response_seconds"], figures["resolution_seconds"]
        print(f"  last 7 days: {figures['mentions']:,} mentions, {figures['answered']:,} answered; first response "
              f"median {fr['median']:.0f} s, p90 {fr['p90']:.0f} s; resolution median {res['median']:.0f} s; "
              f"first responses on time {figures['sla_attainment']}%")


def main(count: int = 1_000_000) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from triage.db import get_engine, normalise_url

    print(f"reports benchmark: {count:,} mentions on PostgreSQL, {os.cpu_count()} cores "
          f"(target: the report page under {TARGET_SECONDS:.0f} s)")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        with get_engine(normalise_url(PG_URL)).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - say why, and skip
        print(f"  skipped: {PG_URL} not reachable ({str(exc).splitlines()[0][:100]})")
        return
    url = make_url(normalise_url(PG_URL)).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        run(url.render_as_string(hide_password=False), count)
    finally:
        with get_engine(normalise_url(PG_URL)).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
