"""What RQ's cron scheduler (`triage cron`) runs, and how often: the periodic jobs of workers/jobs.py.

Every one runs on the "maintenance" queue with no arguments and is safe to repeat, so a round run twice
(two schedulers, or one restarted) does no harm.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rq.cron import CronScheduler

from triage import broker
from triage.config import Settings
from workers import jobs


@dataclass(frozen=True)
class Periodic:
    """A job the scheduler enqueues every `every` seconds, with a time limit and how long its result is kept."""

    job: Callable[[], Any]
    every: int
    timeout: int
    result_ttl: int = 60


SCHEDULE = (
    Periodic(jobs.schedule_polls, every=3, timeout=60),  # each source keeps its own interval (next_poll_at)
    Periodic(jobs.sweep, every=30, timeout=120),
    Periodic(jobs.expire_claims, every=60, timeout=60),
    Periodic(jobs.check_deadlines, every=60, timeout=300),
    Periodic(jobs.refresh_summaries, every=60, timeout=300),
    # Hourly, and only when people corrected tags (or labels were imported) since the active model.
    Periodic(jobs.retrain, every=3600, timeout=jobs.RETRAIN_JOB_TIMEOUT, result_ttl=3600),
)


def cron_scheduler(settings: Settings) -> CronScheduler:
    """RQ's cron scheduler with the SCHEDULE registered on the maintenance queue (`start()` runs it).

    Raises RuntimeError when the embedded Redis would not start.
    """
    scheduler = CronScheduler(connection=broker.connection(settings), logging_level="WARNING")
    maintenance = broker.queue_name(settings, "maintenance")
    for periodic in SCHEDULE:
        scheduler.register(periodic.job, maintenance, interval=periodic.every, job_timeout=periodic.timeout,
                           result_ttl=periodic.result_ttl)
    return scheduler
