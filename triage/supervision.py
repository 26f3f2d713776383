"""What `triage run` keeps alive: its workers, the cron scheduler and the embedded Redis.

A child that dies is started again after a backoff (1 s, doubling to 30 s while it keeps dying
quickly), with one line in the log. Stopping goes in order: workers and scheduler first (a warm
shutdown lets a batch finish), the embedded Redis last, so nothing loses its Redis mid-way.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from triage.broker import EmbeddedRedis

SUPERVISOR_ENV = "TRIAGE_SUPERVISOR_PID"  # children of `triage run` stop when it is gone (see follow_supervisor)


@dataclass
class Backoff:
    """Delays between restarts: `first`, doubling up to `longest`; a child that ran `steady` seconds starts over."""

    first: float = 1.0
    longest: float = 30.0
    steady: float = 60.0
    failures: int = 0

    def next_delay(self, uptime: float) -> float:
        if uptime >= self.steady:
            self.failures = 0
        delay = min(self.longest, self.first * 2 ** self.failures)
        self.failures += 1
        return delay


@dataclass
class Child:
    """One supervised process: a worker or the scheduler."""

    name: str
    argv: list[str]
    backoff: Backoff
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Supervisor:
    """Starts the children, restarts the ones that die, and stops them all (Redis last)."""

    def __init__(self, env: dict[str, str], *, embedded: EmbeddedRedis | None = None,
                 log: Callable[[str], None] = print, backoff: Backoff | None = None):
        self.env = {**env, SUPERVISOR_ENV: str(os.getpid())}
        self.embedded = embedded
        self.log = log
        self._backoff = backoff or Backoff()
        self.children: list[Child] = []
        self._redis_backoff = self._new_backoff()
        self._redis_since = time.monotonic()
        self._redis_restart_at: float | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # check() and stop() never interleave

    def _new_backoff(self) -> Backoff:
        b = self._backoff
        return Backoff(b.first, b.longest, b.steady)

    def add(self, name: str, argv: list[str]) -> Child:
        child = Child(name, argv, self._new_backoff())
        self.children.append(child)
        return child

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        # Its own process group: Ctrl-C in the terminal reaches `triage run` only, which then stops the
        # children in order (a worker that got the terminal's SIGINT as well would lose Redis mid-shutdown).
        child.process = subprocess.Popen(child.argv, env=self.env, process_group=0)
        child.started_at = time.monotonic()
        child.restart_at = None

    def check(self) -> None:
        """One round: note who died, restart who is due (Redis first: the others need it)."""
        with self._lock:
            if self._stopping.is_set():
                return
            now = time.monotonic()
            self._check_redis(now)
            for child in self.children:
                if child.restart_at is None and child.process is not None and child.process.poll() is not None:
                    _end_group(child.process.pid)  # a SIGKILLed worker leaves its forked RQ scheduler behind
                    delay = child.backoff.next_delay(now - child.started_at)
                    child.restart_at = now + delay
                    self.log(f"{child.name} {describe_exit(child.process.returncode)} after "
                             f"{_seconds(now - child.started_at)}; restarting it in {_seconds(delay)}")
                if child.restart_at is not None and now >= child.restart_at:
                    self._spawn(child)

    def _check_redis(self, now: float) -> None:
        embedded = self.embedded
        if embedded is None:
            return
        if self._redis_restart_at is None and not embedded.running():
            delay = self._redis_backoff.next_delay(now - self._redis_since)
            self._redis_restart_at = now + delay
            self.log(f"embedded Redis (pid {embedded.pid}) is gone; restarting it in {_seconds(delay)}")
        if self._redis_restart_at is not None and now >= self._redis_restart_at:
            try:
                embedded.start(adopt=True)  # adopts a server someone else started meanwhile
            except RuntimeError as exc:
                delay = self._redis_backoff.next_delay(0)
                self._redis_restart_at = time.monotonic() + delay
                self.log(f"embedded Redis did not start ({exc}); trying again in {_seconds(delay)}")
                return
            self._redis_restart_at = None
            self._redis_since = time.monotonic()

    def watch(self, interval: float = 0.5) -> None:
        """Check every `interval` seconds until stop() is called (run it in a thread, or in the main one)."""
        while not self._stopping.wait(interval):
            self.check()

    def stop(self, *, warm_seconds: float = 20.0) -> None:
        """Workers and scheduler first (warm, then cold, then killed), the embedded Redis last."""
        with self._lock:
            self._stopping.set()
            running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
            self._signal(running, signal.SIGINT)  # RQ's warm shutdown: the current batch finishes
            running = self._wait(running, warm_seconds)
            self._signal(running, signal.SIGINT)  # a second one is RQ's cold shutdown: the batch rolls back
            running = self._wait(running, 5)
            self._signal(running, signal.SIGKILL)
            self._wait(running, 5)
            for child in self.children:
                if child.process is not None:
                    _end_group(child.process.pid)
            if self.embedded is not None:
                self.embedded.stop()

    @staticmethod
    def _signal(processes: list[subprocess.Popen], signum: int) -> None:
        for process in processes:
            try:
                process.send_signal(signum)
            except ProcessLookupError:
                pass

    @staticmethod
    def _wait(processes: list[subprocess.Popen], seconds: float) -> list[subprocess.Popen]:
        deadline = time.monotonic() + seconds
        for process in processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        return [p for p in processes if p.poll() is None]


def _end_group(leader: int) -> None:
    """Stop what is left of a dead child's process group (each child leads its own, see _spawn)."""
    try:
        os.killpg(leader, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def follow_supervisor() -> None:
    """In a child of `triage run`: stop (as on Ctrl-C) when `triage run` is gone, rather than linger orphaned."""
    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    if not supervisor.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(supervisor):
            time.sleep(2)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="follow-supervisor", daemon=True).start()


def child_argv(command: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "triage.cli", command, *args]
