"""Jobs run by RQ workers. Each takes ids and plain values, never ORM objects, and is safe to repeat."""
from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import or_, select, update

from triage import broker
from triage.config import Settings, load_settings
from triage.core.locking import rows_changed
from triage.db import session_factory, session_scope, utcnow
from triage.intake import ingest
from triage.intake.connections import sealed_cursor, source_config, source_cursor
from triage.intake.sources import connector, polled_kinds
from triage.intake.sources.base import RateLimited
from triage.intake.sources.results import SourceError
from triage.models import Delivery, Source
from triage.work import claims, outbound

log = logging.getLogger(__name__)
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
DELIVERY_JOB_TIMEOUT = 300


def delivery_job_id(delivery_id: int) -> str:
    return f"delivery-{delivery_id}"


def enqueue_delivery(settings: Settings, delivery_id: int) -> Job:
    return broker.enqueue(settings, "ingest", process_delivery, delivery_id, job_id=delivery_job_id(delivery_id),
                          job_timeout=DELIVERY_JOB_TIMEOUT)


def enqueue_deliveries(settings: Settings, delivery_ids: list[int]) -> bool:
    """Enqueue stored deliveries; with Redis away they stay stored and the sweeper enqueues them later."""
    try:
        for delivery_id in delivery_ids:
            enqueue_delivery(settings, delivery_id)
    except (RedisError, OSError) as exc:
        log.warning("could not enqueue %d deliveries (%s); the sweeper will", len(delivery_ids), exc)
        return False
    return True


def process_delivery(delivery_id: int) -> dict[str, int] | None:
    """Store, tag and queue one delivery of posts (one transaction; a repeat does nothing)."""
    from triage.tagging.learning.versions import follow_active

    settings = load_settings()
    if _count_attempt(settings, delivery_id) is None:
        return None  # processed already (a repeat), or gone
    with session_scope(settings.database_url) as session:
        follow_active(session, settings.instance_path)  # a model trained on another host, too
        result = ingest.process_delivery(session, delivery_id)
    if result is None:
        return None
    return {"delivery": delivery_id, "stored": result.stored, "duplicates": result.duplicates,
            "responses": result.responses, "set_aside": result.dead_letters}


def _count_attempt(settings: Settings, delivery_id: int) -> int | None:
    """Count this attempt before the work, in its own transaction, so one that crashes or times out counts too."""
    with session_scope(settings.database_url) as session:
        return session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.processed_at.is_(None))
            .values(attempts=Delivery.attempts + 1, last_attempt_at=utcnow()).returning(Delivery.attempts)
        ).scalar()


REPLY_RETRY = Retry(max=5, interval=[10, 60, 300, 900, 3600])


def enqueue_response(settings: Settings, response_id: int, *, attempt: int = 0) -> Job:
    return broker.enqueue(settings, "replies", send_response, response_id, retry=REPLY_RETRY,
                          job_id=f"reply-{response_id}-{attempt}", job_timeout=60)


def try_enqueue_response(settings: Settings, response_id: int, *, attempt: int = 0) -> bool:
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
        status = outbound.deliver(session, response_id, settings)
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
        return claims.expire_idle_claims(session, idle_minutes=settings.claim_idle_minutes)


MAX_BACKOFF = 3600  # a failing source is tried at least hourly (or at its own interval, if longer)


def _retry_delay(source: Source, now: datetime) -> int:
    """Seconds until a failed source is tried again: twice the interval, doubling while the failures go on.

    A source failing now failed last time too when its last error is newer than its last good run; the gap
    since that error is the delay it was given then.
    """
    interval = max(source.interval_seconds, 1)
    ceiling = max(MAX_BACKOFF, interval)
    failing = source.last_error_at is not None and (source.last_run_at is None
                                                    or source.last_error_at > source.last_run_at)
    previous = (now - source.last_error_at).total_seconds() if failing and source.last_error_at else 0
    return int(min(ceiling, max(2 * interval, 2 * previous)))


def _clock(when: datetime) -> str:
    """"14:05 (UTC)" today, "2026-12-02 14:05 (UTC)" another day."""
    return when.strftime("%H:%M (UTC)" if when.date() == utcnow().date() else "%Y-%m-%d %H:%M (UTC)")


def poll_source(source_id: int) -> dict[str, Any]:
    """Fetch what is new from one source through its connector, keep it as deliveries with the new cursor (one
    transaction: nothing fetched is lost, nothing is fetched twice), then process them.

    A network that says wait (RateLimited) is next polled when it says; any other failure keeps the cursor, is
    shown on the source in words and tried again later, backing off while it goes on. `last_run_at` is the last
    poll that got through.
    """
    settings = load_settings()
    now = utcnow()
    with session_scope(settings.database_url) as session:
        source = session.get(Source, source_id)
        found = connector(source.kind) if source is not None else None
        if source is None or found is None or not found.polled or not source.enabled:
            return {"source": source_id, "skipped": True}
        try:
            fetched = found.fetch(source_config(settings, source), source_cursor(settings, source))
        except RateLimited as exc:
            until = exc.until if exc.until.tzinfo else exc.until.replace(tzinfo=UTC)
            until = max(until.astimezone(UTC), now)
            source.next_poll_at, source.last_error_at = until, now
            source.last_error = f"rate-limited until {_clock(until)}"
            log.warning("source %s is rate-limited until %s: %s", source.name, until, exc)
            return {"source": source_id, "rate_limited_until": until.isoformat()}
        except SourceError as exc:
            delay = _retry_delay(source, now)
            source.last_error, source.last_error_at = str(exc)[:2000], now
            source.next_poll_at = now + timedelta(seconds=delay)
            log.warning("source %s failed (next try in %d s): %s", source.name, delay, exc)
            return {"source": source_id, "error": str(exc), "retry_in": delay}
        receipt = ingest.receive(session, source, [p.to_record() for p in fetched.posts],
                                 batch_size=settings.batch_size)
        # The cursor moves in the same transaction that keeps the posts: a crash repeats both or neither.
        source.cursor = sealed_cursor(settings, found, fetched.cursor)
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
                Source.enabled.is_(True), Source.kind.in_(polled_kinds()),
                or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now))
        ).all()
        for source_id, interval in due:
            # A conditional UPDATE claims the slot, so two schedulers never enqueue the same poll. The poll itself
            # moves next_poll_at further when the network says wait or the source keeps failing.
            claimed = rows_changed(session, update(Source).where(
                Source.id == source_id, or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now))
                .values(next_poll_at=now + timedelta(seconds=interval)))
            if claimed:
                enqueued.append(source_id)
    for source_id in enqueued:
        broker.enqueue(settings, "ingest", poll_source, source_id, job_id=f"poll-{source_id}-{int(now.timestamp())}",
                       retry=None, job_timeout=120)
    return enqueued


MAX_ATTEMPTS = 5  # a delivery tried this often without finishing is given up: its posts become dead letters
SWEEP_LIMIT = 20_000  # deliveries looked at per sweep; the next sweep carries on after the last one


def sweep(stale_seconds: int | None = None, started_timeout: int = DELIVERY_JOB_TIMEOUT, *,
          limit: int = SWEEP_LIMIT) -> list[int]:
    """Enqueue again every delivery left unprocessed: its job was lost (Redis restart) or its worker died.

    It walks the unprocessed deliveries in id order from where the last sweep stopped (a cursor in Redis), so a
    backlog larger than `limit` cannot starve the deliveries behind it; one tried MAX_ATTEMPTS times is given up
    and its posts set aside as dead letters for a lead.
    """
    from triage.intake import dead_letters

    settings = load_settings()
    stale_seconds = settings.sweep_after_seconds if stale_seconds is None else stale_seconds
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    conn = broker.connection(settings)
    cursor_key = f"{settings.queue_prefix}:sweep-cursor"
    after = int(conn.get(cursor_key) or 0)
    with session_scope(settings.database_url) as session:
        # One tried already was surely enqueued, so it need not age first: a dead worker's batch goes back at once.
        query = (select(Delivery.id, Delivery.attempts)
                 .where(Delivery.processed_at.is_(None),
                        or_(Delivery.received_at <= cutoff, Delivery.last_attempt_at.is_not(None)))
                 .order_by(Delivery.id).limit(limit))
        pending = session.execute(query.where(Delivery.id > after)).all()
        if not pending and after:
            pending = session.execute(query).all()  # the end was reached: start again from the oldest
    # A full page means more may wait behind it: the next sweep starts there. Otherwise it starts over.
    conn.set(cursor_key, pending[-1][0] if len(pending) >= limit else 0)
    requeued, given_up = [], []
    for delivery_id, attempts in pending:
        job_id = f"{settings.queue_prefix}-{delivery_job_id(delivery_id)}"
        try:
            job = Job.fetch(job_id, connection=conn)
            status = job.get_status()
        except NoSuchJobError:
            job, status = None, None
        if status in WAITING:
            continue
        if job is not None and status == JobStatus.STARTED and not _lost(job, conn, started_timeout):
            continue  # still running, as far as anyone can tell
        if attempts >= MAX_ATTEMPTS:
            with session_scope(settings.database_url) as session:
                if dead_letters.give_up(session, delivery_id, f"gave up after {attempts} attempts: "
                                        f"{_last_failure(job)}"):
                    given_up.append(delivery_id)
            continue
        enqueue_delivery(settings, delivery_id)
        requeued.append(delivery_id)
    if requeued:
        log.warning("sweep: enqueued %d unprocessed deliveries again", len(requeued))
    if given_up:
        log.warning("sweep: gave up on %d deliveries after %d attempts; their posts are dead letters",
                    len(given_up), MAX_ATTEMPTS)
    return requeued


def _last_failure(job: Job | None) -> str:
    """Why the delivery's last job ended, in a line, for the dead letters of a delivery given up."""
    try:
        failure = job.exc_info if job is not None and job.get_status() == JobStatus.FAILED else None
    except (RedisError, NoSuchJobError):
        failure = None
    lines = [line for line in (failure or "").strip().splitlines() if line.strip()]
    if lines:
        return f"its last try failed with {lines[-1].strip()[:500]}"
    return "the worker never finished this batch (killed, out of memory or timed out)"


def _lost(job: Job, conn: Redis, started_timeout: int) -> bool:
    """A started job is lost when its worker is gone: a dead process on this host (seen at once), or no longer
    registered (`triage worker` beats every 10 s and its registration expires a minute after the last beat).

    RQ itself would wait for the job's time limit (5 minutes) before calling it abandoned.
    """
    from rq import Worker

    worker = None
    if job.worker_name:
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, connection=conn)
        if worker is None:
            return True  # it unregistered (a clean death) or its registration expired
    if worker is not None and worker.hostname == socket.gethostname() and worker.pid:
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:  # SIGKILLed or crashed: nobody will finish or fail this job
            worker.register_death()  # nor is it busy: stop listing it (RQ would for minutes, until its key expires)
            return True
        except PermissionError:
            pass  # alive, another user's
    return bool(job.started_at and (utcnow() - job.started_at).total_seconds() >= started_timeout)


def check_deadlines() -> dict[str, Any]:
    """Raise priority as SLA deadlines near, flag breaches, escalate breached urgent items (run every minute)."""
    from triage.sla import check

    settings = load_settings()
    with session_scope(settings.database_url) as session:
        return check.check_deadlines(session).as_dict()


def refresh_summaries() -> dict[str, Any]:
    """Rebuild the report summaries of days that changed (run every minute; a backfill carries on next run)."""
    from triage.db import session_factory
    from triage.reporting import summaries

    settings = load_settings()
    return summaries.refresh(session_factory(settings.database_url)).as_dict()


RETRAIN_JOB_ID = "retrain-now"
RETRAIN_JOB_TIMEOUT = 1800


def retrain(force: bool = False) -> dict[str, Any]:
    """Train a model on every stored label and make it active; unless `force`, only when labels came in since the
    active model was trained or the active model cannot be read (the hourly run)."""
    from triage.tagging.learning import versions
    from triage.tagging.learning.store import active_model

    settings = load_settings()
    with session_scope(settings.database_url) as session:
        versions.follow_active(session, settings.instance_path)
        unreadable = versions.active_version(session) is not None and active_model(
            settings.instance_path) is None  # e.g. written by an older triage: the rules are tagging meanwhile
        if not force and not unreadable and not versions.labels_waiting(session):
            return {"trained": False, "reason": "no new labels since the active model"}
        version, result = versions.train(session, settings)
    if version is None:
        return {"trained": False, "reason": "; ".join(result.summary()), "labels": result.label_count}
    return {"trained": True, "version": version.id, "labels": result.label_count, "scores": result.scores}


def retrain_job(settings: Settings) -> Job | None:
    """The on-demand retrain job, while RQ still knows it."""
    try:
        return Job.fetch(f"{settings.queue_prefix}-{RETRAIN_JOB_ID}", connection=broker.connection(settings))
    except NoSuchJobError:
        return None


def enqueue_retrain(settings: Settings) -> Job:
    """Retrain now (the model page's button); a job already waiting or running is returned instead of a second."""
    job = retrain_job(settings)
    if job is not None and job.get_status() in WAITING | {JobStatus.STARTED}:
        return job
    return broker.enqueue(settings, "maintenance", retrain, True, job_id=RETRAIN_JOB_ID, retry=None,
                          job_timeout=RETRAIN_JOB_TIMEOUT, result_ttl=86400, failure_ttl=86400)
