"""Jobs through real RQ workers: polling, sweeping lost work, a worker killed mid-batch, Redis restarts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import func, select

from tests.conftest import record
from triage import broker
from triage.intake import ingest
from triage.models import Delivery, Event, Mention, Source
from workers import jobs

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Brand alerts</title><link>http://example.test/</link>
<description>alerts</description>
{items}
</channel></rss>"""
ITEM = """<item><title>{title}</title><link>http://example.test/{n}</link><guid>alert-{n}</guid>
<description>{body}</description><author>fan{n}@example.test (Fan {n})</author>
<pubDate>Mon, 23 Nov 2026 09:0{n}:00 GMT</pubDate></item>"""


@pytest.fixture
def feed_server():
    """A local HTTP server speaking RSS 2.0; tests set `server.body` to what it serves."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = self.server.body
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.body = b""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _count(db, model, *where) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model).where(*where))


def test_due_demo_source_is_polled_by_a_real_worker(db, make_source, run_worker):
    source = make_source("Demo", "demo", interval_seconds=60, config={"per_poll": 3})
    assert jobs.schedule_polls() == [source.id]
    assert jobs.schedule_polls() == []  # not due again until its interval has passed
    run_worker()
    assert _count(db, Mention) >= 2  # a few of the three may be brand replies to earlier demo posts
    assert _count(db, Mention, Mention.tagged_at.is_(None)) == 0
    db.expire_all()
    polled = db.get(Source, source.id)
    assert polled.cursor.get("seq") and polled.last_run_at is not None and polled.last_error is None


def test_rss_feed_is_polled_without_duplicates(db, make_source, run_worker, feed_server):
    items = [ITEM.format(n=n, title=f"Northwind lost my luggage {n}", body="Still waiting &amp; angry")
             for n in range(1, 4)]
    feed_server.body = RSS.format(items="\n".join(items)).encode()
    url = f"http://127.0.0.1:{feed_server.server_address[1]}/feed.xml"
    source = make_source("Alerts", "rss", interval_seconds=1, config={"url": url, "network": "web"})
    jobs.poll_source(source.id)
    assert _count(db, Mention) == 3
    texts = db.scalars(select(Mention.text).order_by(Mention.posted_at)).all()
    assert texts[0].startswith("Northwind lost my luggage 1") and "Still waiting & angry" in texts[0]
    feed_server.body = RSS.format(items="\n".join(items + [ITEM.format(n=4, title="New one", body="b")])).encode()
    jobs.poll_source(source.id)
    assert _count(db, Mention) == 4


def test_a_broken_feed_is_reported_on_the_source_and_nothing_is_stored(db, make_source, feed_server):
    feed_server.body = b"<html><body>502 Bad Gateway</body></html>"
    url = f"http://127.0.0.1:{feed_server.server_address[1]}/feed.xml"
    source = make_source("Broken", "rss", config={"url": url})
    result = jobs.poll_source(source.id)
    assert "error" in result
    db.expire_all()
    broken = db.get(Source, source.id)
    assert url in broken.last_error and broken.last_error_at is not None
    assert _count(db, Mention) == 0 and _count(db, Delivery) == 0


def test_sweep_enqueues_deliveries_whose_job_was_lost(db, make_source, run_worker, redis_conn, settings):
    source = make_source()
    receipt = ingest.receive(db, source, [record() for _ in range(4)])
    db.commit()
    jobs.enqueue_deliveries(settings, receipt.delivery_ids)
    broker.queue(settings, "ingest").empty()  # what a Redis restart without persistence does
    assert jobs.sweep(stale_seconds=3600) == []  # too recent to call lost
    assert jobs.sweep(stale_seconds=0) == receipt.delivery_ids
    assert jobs.sweep(stale_seconds=0) == []  # already waiting in the queue: not enqueued twice
    run_worker()
    assert _count(db, Mention, Mention.status == "open") == 4


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(db, make_source, settings, redis_conn, tmp_path):
    source = make_source()
    posts = [record(text=f"@northwind order {n} arrived broken, I want a refund now") for n in range(6000)]
    receipt = ingest.receive(db, source, posts, batch_size=len(posts))
    db.commit()
    [delivery_id] = receipt.delivery_ids
    job = jobs.enqueue_delivery(settings, delivery_id)

    log = tmp_path / "worker.log"

    def start_worker() -> subprocess.Popen:
        with log.open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", "triage.cli", "worker"], env=os.environ.copy(),
                                    start_new_session=True, stdout=out, stderr=subprocess.STDOUT)

    worker = start_worker()
    deadline = time.monotonic() + 60
    while job.get_status(refresh=True) != JobStatus.STARTED:
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the batch: classifying 6,000 posts takes seconds
    assert job.get_status(refresh=True) == JobStatus.STARTED, log.read_text()[-1500:]
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, with no chance to clean up
    worker.wait()
    assert db.get(Delivery, delivery_id).processed_at is None, "the job finished before the kill: test proves nothing"
    assert _count(db, Mention) == 0  # the batch is one transaction: nothing half-written

    requeued = jobs.sweep(stale_seconds=0, started_timeout=0)  # what the scheduler does after the timeout
    assert requeued == [delivery_id]
    worker = start_worker()
    try:
        deadline = time.monotonic() + 120
        while _count(db, Delivery, Delivery.processed_at.is_not(None)) == 0:
            assert worker.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the delivery was not processed after the restart"
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    assert _count(db, Mention) == len(posts)
    assert _count(db, Mention, Mention.tagged_at.is_(None)) == 0
    assert _count(db, Event, Event.action == "queued") == len(posts)
    external_ids = db.scalars(select(Mention.external_id)).all()
    assert len(set(external_ids)) == len(posts)


def test_embedded_redis_keeps_queued_jobs_across_a_restart(tmp_path, settings):
    embedded = broker.EmbeddedRedis(tmp_path / "redis").start()
    try:
        own = settings.with_(redis_url=embedded.url)
        job = broker.enqueue(own, "ingest", jobs.process_delivery, 12345)
        embedded.stop()
        assert not embedded.alive()
        broker._connection.cache_clear()
        embedded.start()
        again = Job.fetch(job.id, connection=broker.connection(own))
        assert again.args == (12345,) and again.get_status() == JobStatus.QUEUED
    finally:
        embedded.stop()
        broker._connection.cache_clear()


def test_stored_posts_survive_redis_being_unreachable(db, make_source, settings, run_worker):
    source = make_source()
    receipt = ingest.receive(db, source, [record(), record()])
    db.commit()
    unreachable = settings.with_(redis_url="redis://127.0.0.1:1/0")
    assert jobs.enqueue_deliveries(unreachable, receipt.delivery_ids) is False  # no exception reaches the caller
    assert jobs.sweep(stale_seconds=0) == receipt.delivery_ids  # Redis is back: the sweeper finds them
    run_worker()
    assert _count(db, Mention, Mention.status == "open") == 2


def _start_worker(log) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "triage.cli", "worker"], env=os.environ.copy(),
                                start_new_session=True, stdout=out, stderr=subprocess.STDOUT)


def test_a_batch_held_by_a_sigkilled_worker_is_retried_at_the_next_sweep(db, make_source, settings, redis_conn,
                                                                         tmp_path):
    source = make_source()
    posts = [record(text=f"@northwind parcel {n} never came, this is a disgrace") for n in range(4000)]
    [delivery_id] = ingest.receive(db, source, posts, batch_size=len(posts)).delivery_ids
    db.commit()
    job = jobs.enqueue_delivery(settings, delivery_id)
    log = tmp_path / "worker.log"
    worker = _start_worker(log)
    deadline = time.monotonic() + 60
    while job.get_status(refresh=True) != JobStatus.STARTED:
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.05)
    while _count(db, Delivery, Delivery.attempts == 1) == 0:  # counted as it starts, before any work
        assert time.monotonic() < deadline, "the attempt was not counted"
        time.sleep(0.05)
    assert jobs.sweep(stale_seconds=0) == []  # its worker is alive: not taken from it
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    killed_at = time.monotonic()
    assert db.get(Delivery, delivery_id).processed_at is None, "the job finished before the kill: test proves nothing"
    assert job.get_status(refresh=True) == JobStatus.STARTED  # what RQ still believes, for minutes

    # Default window and time limit (60 s, 300 s): the sweep sees the worker's process is gone, without waiting.
    assert jobs.sweep() == [delivery_id]
    worker = _start_worker(log)
    try:
        while _count(db, Delivery, Delivery.processed_at.is_not(None)) == 0:
            assert worker.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() - killed_at < 60, "the batch was not retried within a minute"
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    assert _count(db, Mention) == len(posts) and _count(db, Mention, Mention.tagged_at.is_(None)) == 0
    db.expire_all()
    assert db.get(Delivery, delivery_id).attempts == 2  # counted when each job started, the killed one too


def test_sweep_is_fair_past_its_page_limit(db, make_source, settings, redis_conn):
    source = make_source()
    ids = [ingest.receive(db, source, [record()]).delivery_ids[0] for _ in range(5)]
    db.commit()
    redis_conn.delete(f"{settings.queue_prefix}:sweep-cursor")
    seen = []
    try:
        for _ in range(3):
            swept = jobs.sweep(stale_seconds=0, limit=2)
            seen += swept
            broker.queue(settings, "ingest").empty()  # lost again: only a fair sweep reaches the later ones
        assert sorted(seen) == ids  # the first two, the next two, then the last one: none starved
        assert jobs.sweep(stale_seconds=0, limit=2) == ids[:2]  # and round again
    finally:
        redis_conn.delete(f"{settings.queue_prefix}:sweep-cursor")


def test_a_round_of_the_cron_schedule_runs_every_periodic_job_through_a_worker(db, settings, redis_conn, run_worker):
    from workers import schedule

    scheduler = schedule.cron_scheduler(settings)
    enqueued = scheduler.enqueue_jobs()  # the first round: every job is due
    assert {c.func for c in enqueued} == {jobs.schedule_polls, jobs.sweep, jobs.expire_claims, jobs.check_deadlines,
                                          jobs.refresh_summaries, jobs.retrain}
    maintenance = broker.queue(settings, "maintenance")
    job_ids = maintenance.job_ids
    assert len(job_ids) == len(enqueued)  # all on the maintenance queue, with no arguments
    run_worker()
    statuses = {job.func_name: job.get_status() for job in Job.fetch_many(job_ids, connection=redis_conn)}
    assert set(statuses.values()) == {JobStatus.FINISHED}, statuses
    assert jobs.retrain not in {c.func for c in scheduler.enqueue_jobs()}  # hourly: not due again at once
    maintenance.empty()
