"""The state of the database, Redis and the workers, for /healthz and `triage status`."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from triage import broker
from triage.config import Settings
from triage.db import utcnow
from triage.models import DeadLetter, Delivery
from triage.work import queues

INGEST_SLACK_SECONDS = 120  # beyond the sweep window: a sweep's interval (30 s) and a large batch's time


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _ingest_problems(session: Session, settings: Settings, body: dict) -> list[str]:
    """Deliveries waiting past the sweep window (work is stuck) and dead letters nobody looked at yet."""
    problems = []
    window = settings.sweep_after_seconds + INGEST_SLACK_SECONDS
    oldest = session.scalar(select(func.min(Delivery.received_at)).where(Delivery.processed_at.is_(None)))
    waited = (utcnow() - oldest).total_seconds() if oldest else 0
    body["oldest_delivery_wait_seconds"] = int(waited)
    if waited > window:
        late = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.processed_at.is_(None), Delivery.received_at < utcnow() - timedelta(seconds=window))) or 0
        problems.append(f"{_count(late, 'delivery has', 'deliveries have')} waited more than {window} s to be "
                        f"tagged (the oldest {int(waited):,} s): are the workers running?")
    letters = session.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.resolved_at.is_(None)))
    body["dead_letters"] = letters
    if letters:
        problems.append(f"{_count(letters, 'post', 'posts')} could not be stored and "
                        f"{'waits as a dead letter' if letters == 1 else 'wait as dead letters'} on the Sources page")
    return problems


WORKER_STALE_SECONDS = 60  # `triage worker` beats every 10 s, busy or idle (cli/processes.py)
SCHEDULER_STALE_SECONDS = 60  # RQ's cron scheduler beats every round, every few seconds here (polls: 3 s)


def _seconds_since(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return round((utcnow() - (moment if moment.tzinfo else moment.replace(tzinfo=UTC))).total_seconds(), 1)


def _redis_and_processes(settings: Settings, body: dict) -> list[str]:
    """Redis, the jobs waiting, and whether the workers and the cron scheduler still beat."""
    from rq import Queue, Worker
    from rq.cron import CronScheduler
    from rq.worker import BaseWorker

    conn = broker.connection(settings, start=False)  # looking must not start an embedded Redis
    conn.ping()
    body["redis"] = {"ok": True, "embedded": broker.is_embedded(settings)}
    names = [broker.queue_name(settings, purpose) for purpose in broker.QUEUE_NAMES]
    body["jobs"] = {name: Queue(name, connection=conn).count for name in names}
    problems = []
    live: list[tuple[BaseWorker, float]] = []
    stale: list[tuple[BaseWorker, float | None]] = []
    for w in Worker.all(connection=conn):
        if set(w.queue_names()) & set(names):
            age = _seconds_since(w.last_heartbeat)
            if age is not None and age <= WORKER_STALE_SECONDS:
                live.append((w, age))
            else:
                stale.append((w, age))
    body["workers"] = {
        "count": len(live), "states": sorted(str(w.get_state()) for w, _ in live),
        "seconds_since_heartbeat": min((age for _, age in live), default=None),
        # A worker killed mid-batch stays registered (as busy) until its key expires: not counted, but named.
        "stale": [{"name": w.name, "state": str(w.get_state()), "seconds_since_heartbeat": age} for w, age in stale],
    }
    if stale and not live:  # beside live workers, a dead one's leftover registration is no outage
        problems.append(f"no worker beats: {len(stale)} stopped over {WORKER_STALE_SECONDS} s ago (killed, or "
                        "their host is gone): " + ", ".join(w.name for w, _ in stale))
    maintenance = broker.queue_name(settings, "maintenance")
    ticks = [s.last_heartbeat for s in CronScheduler.all(conn, cleanup=False)
             if any(job.queue_name == maintenance for job in s.get_jobs())]
    last_tick = max((t for t in ticks if t is not None), default=None)
    since = _seconds_since(last_tick)
    scheduler_ok = since is not None and since <= SCHEDULER_STALE_SECONDS
    body["scheduler"] = {"ok": scheduler_ok, "last_tick": last_tick.isoformat() if last_tick else None,
                         "seconds_since_tick": since}
    if last_tick is None:
        problems.append("no cron scheduler runs: sweeps, polls, deadline checks and claim expiry wait "
                        "(start `triage cron`; `triage run` starts one)")
    elif not scheduler_ok:
        problems.append(f"the cron scheduler last ticked {since:,.0f} s ago: sweeps, polls, deadline checks "
                        "and claim expiry wait")
    return problems


def report(session: Session, settings: Settings) -> tuple[bool, dict]:
    body: dict = {"database": {"ok": False}, "redis": {"ok": False}, "workers": {"count": 0}, "problems": []}
    try:
        session.execute(text("SELECT 1"))
        body["database"] = {"ok": True, "backend": session.get_bind().dialect.name}
        names = {q.id: q.slug for q in queues.all_queues(session)}
        counts = queues.counts(session)
        body["queues"] = {slug: counts.get(qid, 0) for qid, slug in names.items()}
        body["untagged_deliveries"] = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.processed_at.is_(None)))
        body["problems"] += _ingest_problems(session, settings, body)
    except Exception as exc:  # noqa: BLE001 - health reports the failure rather than raising it
        body["database"]["error"] = str(exc).splitlines()[0][:300]
    try:
        body["problems"] += _redis_and_processes(settings, body)
    except Exception as exc:  # noqa: BLE001
        body["redis"]["error"] = str(exc).splitlines()[0][:300]
        if broker.is_embedded(settings):
            body["problems"].append("the embedded Redis does not answer: start the app with `triage run` "
                                    "(or `triage redis start`)")
    ok = body["database"]["ok"] and body["redis"]["ok"]
    body["status"] = "ok" if ok and body["workers"]["count"] and not body["problems"] else (
        "degraded" if ok else "down")
    return ok, body
