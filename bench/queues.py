"""Queue page and claim-next latency with 10,000 and 1,000,000 mentions in the database, on SQLite and
PostgreSQL: p50 and p95, and the ratio large / small (the cost must not grow with the backlog).

The mentions are loaded straight into the tables (most of them resolved history, as in a real install),
then the real web app renders a queue page through Flask's test client and the real `claims.claim_next`
claims items, each in its own transaction.
"""
from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, text

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NETWORKS = ("x", "mastodon", "bluesky", "reddit", "instagram")
INTENTS = ("complaint", "question", "advocacy", "other")
SENTIMENTS = ("negative", "neutral", "positive")
TEXTS = ("@northwind my bag is lost again", "@northwind how do I change my seat?", "love the crew today!",
         "@northwind refund still missing after 3 weeks", "anyone else flying northwind tomorrow?")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _load(database_url: str, count: int, seed: int = 3) -> None:
    """`count` mentions: 80% resolved, 15% open, 5% answered, spread over queues, priorities and 90 days."""
    from triage.db import get_engine, utcnow
    from triage.models import Author, Mention, Queue, Source

    rng = random.Random(seed)
    engine = get_engine(database_url)
    now = utcnow()
    with engine.begin() as conn:
        queue_ids = list(conn.scalars(select(Queue.id)))
        source_id = conn.execute(insert(Source).values(kind="import", name="bench", config={}, brand_handles=[],
                                                       cursor={}, interval_seconds=300, enabled=True,
                                                       created_at=now)).inserted_primary_key[0]
        authors = max(1, count // 10)
        for start in range(0, authors, 20_000):
            conn.execute(insert(Author), [{"network": NETWORKS[i % 5], "handle": f"user{i}",
                                           "display_name": f"User {i}", "followers": rng.randrange(50_000),
                                           "first_seen_at": now, "last_seen_at": now}
                                          for i in range(start, min(authors, start + 20_000))])
        first_author = conn.scalar(select(Author.id).order_by(Author.id).limit(1))
    columns = ("source_id", "network", "external_id", "author_id", "text", "posted_at", "posted_at_known",
               "ingested_at", "tagged_at", "sentiment", "polarity", "intent", "intent_confidence", "cues", "priority",
               "priority_reasons", "urgent", "queue_id", "status", "resolved_at")

    def rows():
        for n in range(count):
            roll = rng.random()
            status = "resolved" if roll < 0.80 else ("open" if roll < 0.95 else "answered")
            posted = now - timedelta(minutes=rng.randrange(90 * 24 * 60))
            intent = INTENTS[n % 4]
            yield (source_id, NETWORKS[n % 5], f"bench-{n}", first_author + n % authors, TEXTS[n % 5], posted, True,
                   posted, posted, SENTIMENTS[n % 3], 0.0, intent, 0.8, "[]", rng.randrange(101),
                   '[{"factor": "intent", "points": 20, "detail": "bench"}]', False, rng.choice(queue_ids), status,
                   posted + timedelta(hours=2) if status == "resolved" else None)

    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY mentions ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row([v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v else v for v in row])
            raw.commit()
        finally:
            raw.close()
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE mentions"))
        return
    table = Mention.__table__
    batch: list[dict] = []
    with engine.begin() as conn:
        for row in rows():
            batch.append(dict(zip(columns, [*row[:13], [], row[14], [{"factor": "intent", "points": 20,
                                                                       "detail": "bench"}], *row[16:]], strict=True)))
            if len(batch) == 20_000:
                conn.execute(insert(table), batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)
        conn.execute(text("ANALYZE"))
    with engine.connect() as conn:
        # Fold the load's write-ahead log into the database, as SQLite's own checkpoints do over time;
        # measuring against a gigabyte of WAL would time the load, not the queue.
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _measure(database_url: str, settings, runs: int) -> dict[str, list[float]]:
    from triage.db import session_factory
    from triage.models import Queue, User
    from triage.people.accounts import add_user
    from triage.web import create_app
    from triage.work import claims

    factory = session_factory(database_url)
    with factory() as session:
        agents = [add_user(session, f"bench{n}", "bench-password", role="agent").id for n in range(20)]
        session.commit()
        complaints = session.scalar(select(Queue.id).where(Queue.slug == "complaints"))
    app = create_app(settings)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    assert client.post("/login", data={"username": "bench0", "password": "bench-password",
                                       "csrf_token": token}).status_code == 302
    figures: dict[str, list[float]] = {"queue page": [], "claim-next": []}
    for i in range(runs + 20):
        start = time.perf_counter()
        response = client.get("/queues/complaints")
        elapsed = time.perf_counter() - start
        assert response.status_code == 200
        if i >= 20:  # warm the page cache first: a running server has it warm
            figures["queue page"].append(elapsed * 1000)
    for i in range(runs + 5):
        with factory() as session:
            user = session.get(User, agents[i % len(agents)])
            start = time.perf_counter()
            claimed = claims.claim_next(session, complaints, user)
            session.commit()
            elapsed = time.perf_counter() - start
        assert claimed is not None
        if i >= 5:
            figures["claim-next"].append(elapsed * 1000)
    return figures


def run(backend: str, count: int, runs: int) -> dict[str, list[float]] | None:
    from triage import broker, migrate
    from triage.config import load_settings
    from triage.db import get_engine, normalise_url

    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/bench.sqlite3"
        else:
            from sqlalchemy.engine import make_url

            schema = f"bench_{uuid.uuid4().hex[:8]}"
            try:
                with get_engine(normalise_url(PG_URL)).begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            except Exception as exc:  # noqa: BLE001 - say why and go on
                print(f"  postgresql: skipped, {PG_URL} not reachable ({str(exc).splitlines()[0][:100]})")
                return None
            url = make_url(normalise_url(PG_URL)).update_query_dict(
                {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        redis = broker.EmbeddedRedis(Path(tmp) / "redis").start()
        try:
            migrate.upgrade(url)
            started = time.perf_counter()
            _load(url, count)
            print(f"  {backend:<10} {count:>9,} mentions loaded in {time.perf_counter() - started:.0f} s", flush=True)
            settings = load_settings(instance_path=Path(tmp), database_url=url, redis_url=redis.url,
                                     secret_key="bench", demo=False, login_limit="100000 per minute")
            return _measure(url, settings, runs)
        finally:
            redis.stop()
            get_engine(url).dispose()
            if schema:
                with get_engine(normalise_url(PG_URL)).begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def main(sizes: tuple[int, ...] = (10_000, 1_000_000), backends: tuple[str, ...] = ("sqlite", "postgresql"),
         runs: int = 200) -> None:
    print(f"queue benchmark: sizes {', '.join(f'{s:,}' for s in sizes)}; {runs} requests each; "
          f"{os.cpu_count()} cores")
    for backend in backends:
        results = {size: run(backend, size, runs) for size in sizes}
        if any(r is None for r in results.values()):
            continue
        small, large = min(sizes), max(sizes)
        for what, target in (("queue page", 50), ("claim-next", 20)):
            line = [f"  {backend:<10} {what:<11}"]
            for size in sizes:
                values = results[size][what]
                p50, p95 = statistics.median(values), _percentile(values, .95)
                line.append(f"{size:>9,}: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
            ratio = _percentile(results[large][what], .95) / _percentile(results[small][what], .95)
            line.append(f"ratio p95 {large:,}/{small:,} = {ratio:.2f} (target < 1.5; p95 target < {target} ms)")
            print("   ".join(line), flush=True)
