"""The state of the database, Redis and the workers, for /healthz and `triage status`."""
from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from triage import broker, queues
from triage.config import Settings
from triage.models import Delivery


def report(session: Session, settings: Settings) -> tuple[bool, dict]:
    body: dict = {"database": {"ok": False}, "redis": {"ok": False}, "workers": {"count": 0}}
    try:
        session.execute(text("SELECT 1"))
        body["database"] = {"ok": True, "backend": session.get_bind().dialect.name}
        names = {q.id: q.slug for q in queues.all_queues(session)}
        counts = queues.counts(session)
        body["queues"] = {slug: counts.get(qid, 0) for qid, slug in names.items()}
        body["untagged_deliveries"] = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.processed_at.is_(None)))
    except Exception as exc:  # noqa: BLE001 - health reports the failure rather than raising it
        body["database"]["error"] = str(exc).splitlines()[0][:300]
    try:
        from rq import Worker

        conn = broker.connection(settings)
        conn.ping()
        body["redis"] = {"ok": True, "embedded": settings.redis_url is None}
        rq_queues = broker.all_queues(settings)
        body["jobs"] = {q.name: q.count for q in rq_queues}
        workers = [w for w in Worker.all(connection=conn) if set(w.queue_names()) & {q.name for q in rq_queues}]
        body["workers"] = {"count": len(workers), "states": sorted(str(w.get_state()) for w in workers)}
    except Exception as exc:  # noqa: BLE001
        body["redis"]["error"] = str(exc).splitlines()[0][:300]
    ok = body["database"]["ok"] and body["redis"]["ok"]
    body["status"] = "ok" if ok and body["workers"]["count"] else ("degraded" if ok else "down")
    return ok, body
