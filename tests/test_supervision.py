"""`triage run` keeps its children alive, and /healthz knows when workers or the scheduler stopped beating."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta

import pytest
from rq import Worker
from rq.cron import CronScheduler
from rq.cron_scheduler_registry import get_registry_key

from triage import broker, health
from triage.db import utcnow
from triage.supervision import Backoff, Supervisor


def test_backoff_doubles_while_a_child_keeps_dying_and_starts_over_after_a_steady_run():
    backoff = Backoff(first=1, longest=8, steady=60)
    assert [backoff.next_delay(uptime=0.5) for _ in range(5)] == [1, 2, 4, 8, 8]
    assert backoff.next_delay(uptime=61) == 1


def test_a_child_that_dies_is_restarted_with_growing_delays_and_one_line_each(tmp_path):
    runs = tmp_path / "runs"
    script = f"open({str(runs)!r}, 'a').write('run\\n'); raise SystemExit(3)"
    lines: list[str] = []
    supervisor = Supervisor(dict(os.environ), log=lines.append, backoff=Backoff(first=0.2, longest=0.8, steady=60))
    supervisor.add("flaky", [sys.executable, "-c", script])
    supervisor.start()
    watcher = threading.Thread(target=supervisor.watch, kwargs={"interval": 0.05}, daemon=True)
    watcher.start()
    deadline = time.monotonic() + 60
    while len(lines) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    supervisor.stop(warm_seconds=5)
    watcher.join(10)
    assert len(lines) >= 5, lines
    assert all(re.fullmatch(r"flaky exited with status 3 after [\d.]+ s; restarting it in [\d.]+ s", line)
               for line in lines), lines
    delays = [float(re.search(r"in ([\d.]+) s$", line).group(1)) for line in lines[:5]]
    assert delays == [0.2, 0.4, 0.8, 0.8, 0.8]
    assert runs.read_text().count("run") >= 5  # each restart really ran it again


def test_stop_ends_the_children_with_a_warm_shutdown_signal_first(tmp_path):
    marker = tmp_path / "got-sigint"
    script = ("import signal, sys, time\n"
              f"signal.signal(signal.SIGINT, lambda *_: (open({str(marker)!r}, 'w').write('x'), sys.exit(0)))\n"
              "time.sleep(120)\n")
    supervisor = Supervisor(dict(os.environ), log=lambda _line: None)
    child = supervisor.add("sleeper", [sys.executable, "-c", script])
    supervisor.start()
    time.sleep(1.5)  # let it install its handler
    supervisor.stop(warm_seconds=20)
    assert child.process.returncode == 0 and marker.exists()


# /healthz: workers' and the scheduler's heartbeats


def _body(db, settings) -> dict:
    return health.report(db, settings)[1]


@pytest.fixture
def registered_worker(settings, redis_conn):
    """An RQ worker registered on our queues, as a `triage worker` process registers itself, without running it."""
    made = []

    def make(beat_seconds_ago: float) -> Worker:
        w = Worker(broker.all_queues(settings), connection=redis_conn,
                   name=f"{settings.queue_prefix}-w-{uuid.uuid4().hex[:6]}")
        w.register_birth()
        w.set_state("busy")
        redis_conn.hset(w.key, "last_heartbeat", (utcnow() - timedelta(seconds=beat_seconds_ago))
                        .strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        made.append(w)
        return w

    yield make
    for w in made:
        w.register_death()


def test_a_worker_whose_heartbeat_is_stale_is_not_counted_but_named(db, settings, registered_worker):
    dead = registered_worker(beat_seconds_ago=health.WORKER_STALE_SECONDS + 30)
    body = _body(db, settings)
    assert body["workers"]["count"] == 0 and body["workers"]["states"] == []
    assert [w["name"] for w in body["workers"]["stale"]] == [dead.name]
    assert body["workers"]["stale"][0]["state"] == "busy"
    assert any("no worker beats" in p and dead.name in p for p in body["problems"])
    assert body["status"] == "degraded"
    alive = registered_worker(beat_seconds_ago=1)
    body = _body(db, settings)
    assert body["workers"]["count"] == 1 and body["workers"]["states"] == ["busy"]
    assert [w["name"] for w in body["workers"]["stale"]] == [dead.name]
    assert not any("worker" in p for p in body["problems"])  # a dead one's leftover beside a live one is no outage
    assert alive.name not in str(body["workers"]["stale"])


@pytest.fixture
def cron_scheduler(settings, redis_conn):
    """A cron scheduler registered for our maintenance queue, as `triage cron` registers itself."""
    from workers import jobs

    scheduler = CronScheduler(connection=redis_conn, name=f"{settings.queue_prefix}-cron-{uuid.uuid4().hex[:6]}")
    scheduler.register(jobs.sweep, broker.queue_name(settings, "maintenance"), interval=30)
    scheduler.register_birth()
    yield scheduler
    redis_conn.zrem(get_registry_key(), scheduler.name)
    redis_conn.delete(scheduler.key)


def test_healthz_reports_the_schedulers_last_tick_and_is_degraded_when_it_is_stale(db, settings, redis_conn,
                                                                                     cron_scheduler, registered_worker):
    registered_worker(beat_seconds_ago=1)
    cron_scheduler.heartbeat()
    body = _body(db, settings)
    assert body["scheduler"]["ok"] and body["scheduler"]["seconds_since_tick"] < 30
    assert body["status"] == "ok", body["problems"]
    redis_conn.zadd(get_registry_key(), {cron_scheduler.name: time.time() - health.SCHEDULER_STALE_SECONDS - 5})
    body = _body(db, settings)
    assert not body["scheduler"]["ok"] and body["scheduler"]["seconds_since_tick"] > health.SCHEDULER_STALE_SECONDS
    assert body["status"] == "degraded"
    assert any("cron scheduler last ticked" in p for p in body["problems"])


def test_healthz_is_degraded_when_no_scheduler_runs(db, settings, registered_worker):
    registered_worker(beat_seconds_ago=1)
    body = _body(db, settings)
    assert body["scheduler"] == {"ok": False, "last_tick": None, "seconds_since_tick": None}
    assert body["status"] == "degraded" and any("no cron scheduler runs" in p for p in body["problems"])


def test_a_worker_killed_mid_batch_stops_counting_once_its_heartbeat_is_stale(db, settings, redis_conn,
                                                                             monkeypatch, tmp_path):
    """A real `triage worker` beats while busy; SIGKILLed mid-job it is flagged, not listed as busy for minutes."""
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "triage.cli", "worker"], env=os.environ.copy(), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        broker.enqueue(settings, "maintenance", "time.sleep", 120, retry=None, job_timeout=300)
        deadline = time.monotonic() + 90
        body = _body(db, settings)
        while time.monotonic() < deadline and body["workers"]["states"] != ["busy"]:
            time.sleep(0.5)
            body = _body(db, settings)
        assert body["workers"]["states"] == ["busy"], (tmp_path / "worker.log").read_text()[-2000:]
        time.sleep(25)  # RQ itself beats between jobs only: 25 s into a job, its heartbeat would be 25 s old
        body = _body(db, settings)
        assert body["workers"]["count"] == 1 and body["workers"]["seconds_since_heartbeat"] < 20, body["workers"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        monkeypatch.setattr(health, "WORKER_STALE_SECONDS", 15)
        time.sleep(16)
        body = _body(db, settings)
        assert body["workers"]["count"] == 0 and body["workers"]["states"] == []
        assert [w["state"] for w in body["workers"]["stale"]] == ["busy"]
        assert body["status"] == "degraded"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        log.close()
        for w in Worker.all(connection=redis_conn):
            if settings.queue_prefix in ",".join(w.queue_names()):
                w.register_death()
