"""`triage run` (what `make run` starts) on the embedded default: demo mentions flow, Ctrl-C stops it all."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        kids = []
        try:  # every thread's children: `triage run` restarts children from its supervisor thread
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            continue
        found += kids
        stack += kids
    return found


def _start(instance, port, log):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}  # the embedded default
    env.update(TRIAGE_INSTANCE_PATH=str(instance), TRIAGE_PORT=str(port))
    return subprocess.Popen([sys.executable, "-m", "triage.cli", "run"], env=env, stdout=log, stderr=subprocess.STDOUT)


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return json.load(r)
    except OSError:
        return None


def _stop(proc) -> list[int]:
    kids = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    time.sleep(0.5)
    return [k for k in kids if os.path.exists(f"/proc/{k}") and "zombie" not in open(f"/proc/{k}/status").read()]


def test_run_fills_queues_with_demo_mentions_and_stops_cleanly_and_resumes(tmp_path):
    instance, port = tmp_path / "instance", _free_port()
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        proc = _start(instance, port, log)
        try:
            deadline, body = time.monotonic() + 90, None  # generous: a loaded machine is slow, speed lives in bench/
            while time.monotonic() < deadline:
                body = _health(port)
                if body and sum(body.get("queues", {}).values()) > 0 and body["workers"]["count"]:
                    break
                time.sleep(0.5)
            assert body and sum(body["queues"].values()) > 0, f"no demo mention queued: {body}\n" \
                                                               f"{log_path.read_text()[-2000:]}"
            assert body["status"] == "ok" and body["redis"]["embedded"] and body["database"]["backend"] == "sqlite"
            first_total = sum(body["queues"].values())
        finally:
            leftovers = _stop(proc)
    assert leftovers == [], "Ctrl-C left processes running"
    first_log = log_path.read_text()
    assert "Traceback" not in first_log and first_log.rstrip().endswith("stopped"), first_log[-3000:]  # Ctrl-C
    assert "Demo team created" in first_log and "alex" in first_log
    assert not (instance / "redis" / "redis.sock").exists(), "Ctrl-C left the embedded Redis running"
    assert (instance / "triage.sqlite3").exists()

    with log_path.open("wb") as log:
        proc = _start(instance, port, log)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                body = _health(port)
                if body and sum(body["queues"].values()) > first_total:
                    break
                time.sleep(0.5)
        finally:
            _stop(proc)
    assert sum(body["queues"].values()) > first_total  # it carried on from the same database
    assert "Demo team created" not in log_path.read_text()  # passwords are shown once only


def _pid_of(parent: int, needle: str) -> int | None:
    for pid in _children(parent):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if needle.encode() in f.read().replace(b"\0", b" "):
                    return pid
        except FileNotFoundError:
            continue
    return None


def _wait_healthy(port: int, seconds: float, *, ticked_after: float = 0.0) -> dict | None:
    """/healthz once it says ok (with a scheduler tick after `ticked_after`, a Unix time: a new scheduler's)."""
    from datetime import datetime

    deadline, body = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        body = _health(port)
        tick = (body or {}).get("scheduler", {}).get("last_tick")
        if body and body.get("status") == "ok" and tick and datetime.fromisoformat(tick).timestamp() > ticked_after:
            return body
        time.sleep(0.25)
    return body


def test_run_brings_back_a_killed_redis_and_scheduler_and_loses_no_post(tmp_path, db, settings):
    """Issue 10's fault test: SIGKILL the embedded Redis and the scheduler under a running `triage run`
    while posts arrive; both come back, and every post is stored once, tagged and queued."""
    from sqlalchemy import func, select

    from tests.conftest import RUN_ID
    from tests.test_embedded_redis import TRIAGE, servers, write_posts
    from triage.models import Event, Mention

    instance, port = tmp_path / "instance", _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("TRIAGE_REDIS_URL", "TRIAGE_QUEUE_PREFIX")}
    env.update(TRIAGE_INSTANCE_PATH=str(instance), TRIAGE_PORT=str(port), TRIAGE_DEMO="0",
               TRIAGE_BATCH_SIZE="100", TRIAGE_SWEEP_AFTER_SECONDS="5")  # the database is this test run's
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    write_posts(first, f"{RUN_ID}-fault-a", 2000)
    write_posts(second, f"{RUN_ID}-fault-b", 1000)
    log_path = tmp_path / "run.log"
    imports: list[subprocess.Popen] = []
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*TRIAGE, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert (_wait_healthy(port, 120) or {}).get("status") == "ok", log_path.read_text()[-3000:]
            imports.append(subprocess.Popen([*TRIAGE, "import", str(first), "--source", "Fault"], env=env,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and db.scalar(select(func.count()).select_from(Mention)) < 200:
                time.sleep(0.2)
            redis_pid = int((instance / "redis" / "redis.pid").read_text())
            scheduler_pid = _pid_of(proc.pid, "triage.cli cron")
            killed_at, killed_at_wall = time.monotonic(), time.time()
            os.kill(redis_pid, signal.SIGKILL)
            os.kill(scheduler_pid, signal.SIGKILL)
            stored_at_kill = db.scalar(select(func.count()).select_from(Mention))
            imports.append(subprocess.Popen([*TRIAGE, "import", str(second), "--source", "Fault"], env=env,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            body = _wait_healthy(port, 180, ticked_after=killed_at_wall)
            recovered = time.monotonic() - killed_at
            assert body and body["status"] == "ok", f"{body}\n{log_path.read_text()[-3000:]}"
            assert body["scheduler"]["ok"] and body["workers"]["count"] >= 1
            assert _pid_of(proc.pid, "triage.cli cron") not in (None, scheduler_pid)
            new_servers = servers(instance / "redis" / "redis.sock")
            assert len(new_servers) == 1 and redis_pid not in new_servers
            outputs = [p.communicate(timeout=600)[0].decode() for p in imports]
            all_stored = time.monotonic() - killed_at
            assert [p.returncode for p in imports] == [0, 0], outputs
        finally:
            for p in imports:
                if p.poll() is None:
                    p.kill()
                p.communicate(timeout=30)
            _stop(proc)
    log_text = log_path.read_text()
    assert "triage run: embedded Redis" in log_text and "triage run: scheduler was killed by SIGKILL" in log_text
    db.expire_all()
    ours = Mention.external_id.like(f"{RUN_ID}-fault-%")
    stored = db.scalar(select(func.count()).select_from(Mention).where(ours))
    distinct = db.scalar(select(func.count(func.distinct(Mention.external_id))).where(ours))
    tagged = db.scalar(select(func.count()).select_from(Mention).where(ours, Mention.tagged_at.is_not(None)))
    queued = db.scalar(select(func.count()).select_from(Mention).where(ours, Mention.queue_id.is_not(None)))
    queued_events = db.scalar(select(func.count()).select_from(Event).join(Mention, Event.mention_id == Mention.id)
                              .where(ours, Event.action == "queued"))
    print(f"\nfault test: posts in 3,000, stored {stored:,} ({distinct:,} distinct, {tagged:,} tagged, {queued:,} "
          f"queued); {stored_at_kill:,} stored when Redis and the scheduler were SIGKILLed; /healthz ok again "
          f"after {recovered:.1f} s; every post stored {all_stored:.1f} s after the kill")
    assert stored == distinct == tagged == queued == queued_events == 3000
    assert not servers(instance / "redis" / "redis.sock"), "Ctrl-C left the embedded Redis running"
