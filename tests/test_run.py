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
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(c) for c in f.read().split()]
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
    assert "Demo team created" in first_log and "alex" in first_log
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
