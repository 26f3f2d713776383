"""The embedded Redis has one owner: one server per instance folder, and no command's exit takes it down."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import RUN_ID

TRIAGE = [sys.executable, "-m", "triage.cli"]


def embedded_env(instance: Path, **extra: str) -> dict[str, str]:
    """The embedded default (no TRIAGE_* from the test session) on its own instance folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(TRIAGE_INSTANCE_PATH=str(instance), TRIAGE_DEMO="0", **extra)
    return env


def servers(socket: Path) -> set[int]:
    """Pids of every running redis-server serving `socket` (its process title names the socket)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"redis-server" in cmdline and str(socket).encode() in cmdline and state != b"Z":
            found.add(int(entry.name))
    return found


def write_posts(path: Path, prefix: str, count: int) -> None:
    path.write_text("".join(json.dumps({"id": f"{prefix}-{n}", "network": "x", "author": f"fan{n % 13}",
                                        "text": f"@northwind my parcel {n} is late again"}) + "\n"
                            for n in range(count)))


def test_processes_starting_it_at_once_start_one_server(tmp_path):
    directory = tmp_path / "redis"
    code = ("import sys; from pathlib import Path; from triage.broker import EmbeddedRedis; "
            "print(EmbeddedRedis(Path(sys.argv[1])).start(detach=True).server_pid())")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True)
             for _ in range(6)]
    try:
        pids = {int(p.communicate(timeout=120)[0]) for p in procs}
        assert len(pids) == 1, f"split brain: {pids}"
        assert servers(directory / "redis.sock") == pids  # and it outlived every process that started it
    finally:
        for pid in servers(directory / "redis.sock"):
            os.kill(pid, signal.SIGTERM)


def test_worker_and_import_started_together_share_one_server_and_every_post_lands(tmp_path):
    instance = tmp_path / "instance"
    env = embedded_env(instance, TRIAGE_BATCH_SIZE="50")
    socket = instance / "redis" / "redis.sock"
    subprocess.run([*TRIAGE, "init"], env=env, check=True, timeout=180, capture_output=True)
    assert not servers(socket), "init needs no Redis"
    expected = 0
    for trial in range(3):
        posts = tmp_path / f"trial-{trial}.jsonl"
        write_posts(posts, f"{RUN_ID}-t{trial}", 300)
        with (tmp_path / f"worker-{trial}.log").open("wb") as log:
            worker = subprocess.Popen([*TRIAGE, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
            try:
                imported = subprocess.run([*TRIAGE, "import", str(posts), "--source", "Export"], env=env,
                                          capture_output=True, text=True, timeout=300)
                assert imported.returncode == 0, imported.stderr[-2000:]
                assert "300 posts accepted" in imported.stdout
                expected += 300
                running = servers(socket)
                assert len(running) == 1, f"trial {trial}: {len(running)} redis-servers on one socket"
                time.sleep(1)
                assert servers(socket) == running, f"trial {trial}: the import's exit took the server down"
                assert worker.poll() is None, f"trial {trial}: the worker died"
                more = tmp_path / f"more-{trial}.jsonl"
                write_posts(more, f"{RUN_ID}-m{trial}", 20)
                again = subprocess.run([*TRIAGE, "import", str(more), "--source", "Export"], env=env,
                                       capture_output=True, text=True, timeout=300)
                assert again.returncode == 0 and "20 posts accepted" in again.stdout, again.stderr[-2000:]
                expected += 20
            finally:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(60)
        stopped = subprocess.run([*TRIAGE, "redis", "stop"], env=env, capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0 and "stopped the embedded Redis" in stopped.stdout, stopped.stderr
        assert not servers(socket)
    with sqlite3.connect(instance / "triage.sqlite3") as conn:
        stored, tagged, distinct = conn.execute(
            "SELECT count(*), count(tagged_at), count(DISTINCT external_id) FROM mentions").fetchone()
    assert stored == tagged == distinct == expected


def test_run_adopts_a_detached_server_and_stops_it_last_without_tracebacks(tmp_path):
    instance = tmp_path / "instance"
    env = embedded_env(instance)
    socket = instance / "redis" / "redis.sock"
    started = subprocess.run([*TRIAGE, "redis", "start"], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    [detached] = servers(socket)
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        # Its own session, so that SIGINT to its process group is what Ctrl-C in a terminal sends.
        run = subprocess.Popen([*TRIAGE, "run", "--no-web"], env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and "workers and scheduler running" not in log_path.read_text():
                assert run.poll() is None, log_path.read_text()
                time.sleep(0.5)
            assert f"(pid {detached})" in log_path.read_text()  # adopted, not a second server
            refused = subprocess.run([*TRIAGE, "redis", "stop"], env=env, capture_output=True, text=True,
                                     timeout=60)
            assert refused.returncode != 0 and "owns this Redis" in refused.stderr
            second = subprocess.run([*TRIAGE, "run", "--no-web"], env=env, capture_output=True, text=True,
                                    timeout=60)
            assert second.returncode != 0 and "another `triage run`" in second.stderr
            assert servers(socket) == {detached}
            _wait_for_status(env, "ok", 120)
        finally:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group gets it
            run.wait(90)
    text = log_path.read_text()
    assert run.returncode == 0 and "Traceback" not in text, text[-3000:]
    assert text.rstrip().endswith("stopped")
    assert not servers(socket), "Ctrl-C left the embedded Redis running"
    assert subprocess.run(["pgrep", "-s", str(run.pid)], capture_output=True).stdout == b"", "processes left"


def _wait_for_status(env: dict[str, str], wanted: str, seconds: float) -> dict:
    deadline, body = time.monotonic() + seconds, {}
    while time.monotonic() < deadline:
        done = subprocess.run([*TRIAGE, "status"], env=env, capture_output=True, text=True, timeout=60)
        body = json.loads(done.stdout) if done.stdout.startswith("{") else {"output": done.stdout + done.stderr}
        if body.get("status") == wanted:
            return body
        time.sleep(1)
    raise AssertionError(f"status never became {wanted}: {body}")


def test_status_looks_without_starting_the_embedded_redis(tmp_path):
    instance = tmp_path / "instance"
    env = embedded_env(instance)
    subprocess.run([*TRIAGE, "init"], env=env, check=True, timeout=180, capture_output=True)
    done = subprocess.run([*TRIAGE, "status"], env=env, capture_output=True, text=True, timeout=60)
    body = json.loads(done.stdout)
    assert done.returncode == 1 and body["status"] == "down" and "Traceback" not in done.stderr
    assert any("embedded Redis does not answer" in p for p in body["problems"])
    assert not servers(instance / "redis" / "redis.sock")
    said = subprocess.run([*TRIAGE, "redis", "status"], env=env, capture_output=True, text=True, timeout=60)
    assert said.returncode == 1 and "not running" in said.stdout
