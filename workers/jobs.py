"""Jobs run by RQ workers. Each takes ids and plain values, never ORM objects, and is safe to repeat."""
from __future__ import annotations

import logging
from datetime import timedelta

from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import or_, select, update

from triage import broker, ingest, outbound, workflow
from triage.config import load_settings
from triage.db import session_factory, session_scope, utcnow
from triage.models import Delivery, Source
from triage.sources import KINDS, SourceError

log = logging.getLogger(__name__)
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
DELIVERY_JOB_TIMEOUT = 300


def delivery_job_id(delivery_id: int) -> str:
    return f"delivery-{delivery_id}"


def enqueue_delivery(settings, delivery_id: int):
    return broker.enqueue(settings, "ingest", process_delivery, delivery_id, job_id=delivery_job_id(delivery_id),
                          job_timeout=DELIVERY_JOB_TIMEOUT)


def enqueue_deliveries(settings, delivery_ids: list[int]) -> bool:
    """Enqueue stored deliveries; with Redis away they stay stored and the sweeper enqueues them later."""
    try:
        for delivery_id in delivery_ids:
            enqueue_delivery(settings, delivery_id)
    except (RedisError, OSError) as exc:
        log.warning("could not enqueue %d deliveries (%s); the sweeper will", len(delivery_ids), exc)
        return False
    return True


def process_delivery(delivery_id: int) -> dict | None:
    """Store, tag and queue one delivery of posts (one transaction; a repeat does nothing)."""
    from triage import learning

    settings = load_settings()
    with session_scope(settings.database_url) as session:
        learning.follow_active(session, settings.instance_path)  # a model trained on another host, too
        result = ingest.process_delivery(session, delivery_id)
    if result is None:
        return None
    return {"delivery": delivery_id, "stored": result.stored, "duplicates": result.duplicates,
            "responses": result.responses}


REPLY_RETRY = Retry(max=5, interval=[10, 60, 300, 900, 3600])


def enqueue_response(settings, response_id: int, *, attempt: int = 0):
    return broker.enqueue(settings, "replies", send_response, response_id, retry=REPLY_RETRY,
                          job_id=f"reply-{response_id}-{attempt}", job_timeout=60)


def try_enqueue_response(settings, response_id: int, *, attempt: int = 0) -> bool:
    """Enqueue a reply's delivery; with Redis away it stays 'pending' and visible, and Retry sends it later."""
    try:
        enqueue_response(settings, response_id, attempt=attempt)
    except (RedisError, OSError) as exc:
        log.warning("could not enqueue reply %d (%s); it stays pending", response_id, exc)
        return False
    return True


def send_response(response_id: int) -> str:
    """Deliver a reply; a failure is committed as visible before RQ retries the job."""
    settings = load_settings()
    session = session_factory(settings.database_url)()
    try:
        status = outbound.deliver(session, response_id)
        session.commit()
        return status
    except outbound.DeliveryError:
        session.commit()  # keep the failed attempt on record, then let RQ retry
        raise
    finally:
        session.close()


def expire_claims() -> list[int]:
    """Release claims left idle longer than TRIAGE_CLAIM_IDLE_MINUTES (run every minute)."""
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        return workflow.expire_idle_claims(session, idle_minutes=settings.claim_idle_minutes)


def poll_source(source_id: int) -> dict:
    """Fetch what is new from one source, keep it as deliveries with the new cursor, then process them."""
    settings = load_settings()
    now = utcnow()
    with session_scope(settings.database_url) as session:
        source = session.get(Source, source_id)
        if source is None or not source.enabled or source.kind not in KINDS:
            return {"source": source_id, "skipped": True}
        try:
            fetched = KINDS[source.kind](dict(source.config), dict(source.cursor or {}))
        except SourceError as exc:
            source.last_error, source.last_error_at, source.last_run_at = str(exc), now, now
            log.warning("source %s failed: %s", source.name, exc)
            return {"source": source_id, "error": str(exc)}
        receipt = ingest.receive(session, source, [p.to_record() for p in fetched.posts],
                                 batch_size=settings.batch_size)
        # The cursor moves in the same transaction that keeps the posts: a crash repeats both or neither.
        source.cursor = fetched.cursor
        source.last_run_at = now
        errors = fetched.errors + [e["error"] for e in receipt.errors]
        source.last_error = "; ".join(errors)[:2000] if errors else None
        source.last_error_at = now if errors else source.last_error_at
        delivery_ids = receipt.delivery_ids
    for delivery_id in delivery_ids:
        process_delivery(delivery_id)
    return {"source": source_id, "posts": receipt.accepted, "errors": len(errors)}


def schedule_polls() -> list[int]:
    """Enqueue a poll for every enabled source that is due (run by RQ's cron scheduler every few seconds)."""
    settings = load_settings()
    now = utcnow()
    enqueued = []
    with session_scope(settings.database_url) as session:
        due = session.execute(
            select(Source.id, Source.interval_seconds).where(
                Source.enabled.is_(True), Source.kind.in_(list(KINDS)),
                or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now))
        ).all()
        for source_id, interval in due:
            # A conditional UPDATE claims the slot, so two schedulers never enqueue the same poll.
            claimed = session.execute(
                update(Source).where(Source.id == source_id,
                                     or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now))
                .values(next_poll_at=now + timedelta(seconds=interval))
            ).rowcount
            if claimed:
                enqueued.append(source_id)
    for source_id in enqueued:
        broker.enqueue(settings, "ingest", poll_source, source_id, job_id=f"poll-{source_id}-{int(now.timestamp())}",
                       retry=None, job_timeout=120)
    return enqueued


def sweep(stale_seconds: int | None = None, started_timeout: int = DELIVERY_JOB_TIMEOUT) -> list[int]:
    """Enqueue again every delivery left unprocessed: its job was lost (Redis restart) or its worker died."""
    settings = load_settings()
    stale_seconds = settings.sweep_after_seconds if stale_seconds is None else stale_seconds
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    with session_scope(settings.database_url) as session:
        pending = list(session.scalars(
            select(Delivery.id).where(Delivery.processed_at.is_(None), Delivery.received_at <= cutoff)
            .order_by(Delivery.id).limit(1000)
        ))
    conn = broker.connection(settings)
    requeued = []
    for delivery_id in pending:
        job_id = f"{settings.queue_prefix}-{delivery_job_id(delivery_id)}"
        try:
            job = Job.fetch(job_id, connection=conn)
            status = job.get_status()
        except NoSuchJobError:
            job, status = None, None
        if status in WAITING:
            continue
        if status == JobStatus.STARTED and job.started_at and \
                (utcnow() - job.started_at).total_seconds() < started_timeout:
            continue  # still running, as far as anyone can tell
        enqueue_delivery(settings, delivery_id)
        requeued.append(delivery_id)
    if requeued:
        log.warning("sweep: enqueued %d unprocessed deliveries again", len(requeued))
    return requeued


def check_deadlines() -> dict:
    """Raise priority as SLA deadlines near, flag breaches, escalate breached urgent items (run every minute)."""
    from triage import sla

    settings = load_settings()
    with session_scope(settings.database_url) as session:
        return sla.check_deadlines(session).as_dict()


def refresh_summaries() -> dict:
    """Rebuild the report summaries of days that changed (run every minute; a backfill carries on next run)."""
    from triage import summaries
    from triage.db import session_factory

    settings = load_settings()
    return summaries.refresh(session_factory(settings.database_url)).as_dict()


RETRAIN_JOB_ID = "retrain-now"
RETRAIN_JOB_TIMEOUT = 1800


def retrain(force: bool = False) -> dict:
    """Train a model on every stored label and make it active; unless `force`, only when labels came in since the
    active model was trained or the active model cannot be read (the hourly run)."""
    from triage import learning

    settings = load_settings()
    with session_scope(settings.database_url) as session:
        learning.follow_active(session, settings.instance_path)
        unreadable = learning.active_version(session) is not None and learning.active_model(
            settings.instance_path) is None  # e.g. written by an older triage: the rules are tagging meanwhile
        if not force and not unreadable and not learning.labels_waiting(session):
            return {"trained": False, "reason": "no new labels since the active model"}
        version, result = learning.train(session, settings)
    if version is None:
        return {"trained": False, "reason": "; ".join(result.summary()), "labels": result.label_count}
    return {"trained": True, "version": version.id, "labels": result.label_count, "scores": result.scores}


def retrain_job(settings) -> Job | None:
    """The on-demand retrain job, while RQ still knows it."""
    try:
        return Job.fetch(f"{settings.queue_prefix}-{RETRAIN_JOB_ID}", connection=broker.connection(settings))
    except NoSuchJobError:
        return None


def enqueue_retrain(settings) -> Job:
    """Retrain now (the model page's button); a job already waiting or running is returned instead of a second."""
    job = retrain_job(settings)
    if job is not None and job.get_status() in WAITING | {JobStatus.STARTED}:
        return job
    return broker.enqueue(settings, "maintenance", retrain, True, job_id=RETRAIN_JOB_ID, retry=None,
                          job_timeout=RETRAIN_JOB_TIMEOUT, result_ttl=86400, failure_ttl=86400)
