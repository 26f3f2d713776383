"""Import N posts from a JSON Lines file through a real RQ worker into the database, tagged and queued,
beside the classifier alone on the same texts in the same run; on SQLite and (when reachable) PostgreSQL.
Also reports the worker's peak memory (largest resident set of any process in its tree)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.data import posts, write_jsonl

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def classifier_rate(texts: list[str]) -> float:
    from triage.tagging.classifier import classify_many

    start = time.perf_counter()
    classify_many(texts)
    return len(texts) / (time.perf_counter() - start)


def _tree_rss_kb(pid: int) -> int:
    """Largest VmRSS among `pid` and its descendants (RQ forks a work horse per job)."""
    best, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        best = max(best, int(line.split()[1]))
            with open(f"/proc/{p}/task/{p}/children") as f:
                stack += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return best


class PeakMemory(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))
            time.sleep(0.05)


def _postgres_schema_url() -> tuple[str, str] | None:
    try:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        from triage.db import get_engine, normalise_url

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with get_engine(normalise_url(PG_URL)).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(normalise_url(PG_URL)).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False), schema
    except Exception as exc:  # noqa: BLE001 - the benchmark says why it skips, and goes on
        print(f"  postgresql: skipped, {PG_URL} not reachable ({str(exc).splitlines()[0][:100]})")
        return None


def run_backend(name: str, database_url: str, jsonl: Path, count: int, workers: int) -> dict:
    from triage import broker, migrate
    from triage.config import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        redis = broker.EmbeddedRedis(Path(tmp) / "redis").start()
        settings = load_settings(instance_path=Path(tmp), database_url=database_url, redis_url=redis.url,
                                 queue_prefix=f"bench-{uuid.uuid4().hex[:6]}", demo=False)
        migrate.upgrade(database_url)
        env = broker.worker_env(settings)
        procs = [subprocess.Popen([sys.executable, "-m", "triage.cli", "worker"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
        meters = [PeakMemory(p.pid) for p in procs]
        for m in meters:
            m.start()
        time.sleep(1.5)  # workers up before the clock starts
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "triage.cli", "import", str(jsonl), "--source", "bench"],
                              env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        for m in meters:
            m.running = False
        for p in procs:
            p.terminate()
            p.wait(30)
        redis.stop()
        if done.returncode != 0:
            raise SystemExit(f"bench: import failed on {name}:\n{done.stderr[-2000:]}")
        from sqlalchemy import func, select

        from triage.db import session_scope
        from triage.models import Mention

        with session_scope(database_url) as session:
            tagged = session.scalar(select(func.count()).select_from(Mention).where(Mention.queue_id.is_not(None)))
        return {"backend": name, "seconds": seconds, "rate": count / seconds, "tagged": tagged,
                "peak_mb": max(m.peak_kb for m in meters) / 1024}


def main(count: int = 50_000, workers: int = 1, backends: tuple[str, ...] = ("sqlite", "postgresql")) -> None:
    records = posts(count)
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = write_jsonl(Path(tmp) / "posts.jsonl", records)
        print(f"pipeline benchmark: {count:,} posts, {workers} worker(s), {os.cpu_count()} cores")
        alone = classifier_rate([r["text"] for r in records])
        print(f"  classifier alone (one process, in memory): {alone:,.0f} posts/s")
        for backend in backends:
            if backend == "sqlite":
                url, schema = f"sqlite:///{tmp}/bench.sqlite3", None
            else:
                made = _postgres_schema_url()
                if made is None:
                    continue
                url, schema = made
            try:
                r = run_backend(backend, url, jsonl, count, workers)
            finally:
                if schema:
                    from sqlalchemy import text

                    from triage.db import get_engine, normalise_url

                    with get_engine(normalise_url(PG_URL)).begin() as conn:
                        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            print(f"  {backend:<10} whole pipeline (file → worker → database, tagged and queued): "
                  f"{r['rate']:,.0f} posts/s in {r['seconds']:.1f} s = {r['rate'] / alone:.0%} of the classifier "
                  f"alone (target ≥ 40%); {r['tagged']:,} queued; worker peak RSS {r['peak_mb']:.0f} MB "
                  f"(target < 300 MB)")
