"""Fixtures: a real database (SQLite file, or PostgreSQL from TRIAGE_DATABASE_URL in its own schema)
and a real Redis (embedded, or TRIAGE_REDIS_URL with keys under a prefix this run owns)."""
from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from triage import broker, defaults, migrate
from triage.config import load_settings
from triage.db import Base, get_engine, normalise_url, session_factory
from triage.intake.posts import parse_post
from triage.intake.source_settings import ensure_source

RUN_ID = uuid.uuid4().hex[:10]
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _database_url(tmp_root: Path) -> tuple[str, str | None]:
    url = os.environ.get("TRIAGE_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_root / 'test.sqlite3'}", None
    schema = f"test_{RUN_ID}"
    base = make_url(normalise_url(url))
    with get_engine(base.render_as_string(hide_password=False)).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = base.update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), schema


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    root = tmp_path_factory.mktemp("triage")
    database_url, schema = _database_url(root)
    redis_url = os.environ.get("TRIAGE_REDIS_URL")
    embedded = None
    if not redis_url:
        embedded = broker.EmbeddedRedis(root / "redis").start()
        redis_url = embedded.url
    settings = load_settings(instance_path=root / "instance", database_url=database_url, redis_url=redis_url,
                             queue_prefix=f"triage-test-{RUN_ID}", secret_key="test-secret", demo=False,
                             login_limit="10000 per minute")
    # Jobs read their settings from the environment, as they do in a worker process.
    saved = dict(os.environ)
    os.environ.update(broker.worker_env(settings))
    migrate.upgrade(database_url)
    yield settings
    os.environ.clear()
    os.environ.update(saved)
    _forget_redis_keys(settings)
    if embedded:
        embedded.stop()
    get_engine(database_url).dispose()
    if schema:
        base_url = normalise_url(os.environ["TRIAGE_DATABASE_URL"])
        with get_engine(base_url).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def _forget_redis_keys(settings) -> None:
    """Remove only what this run created in a shared Redis: every key naming our prefix."""
    conn = broker.connection(settings)
    for key in conn.scan_iter(match=f"*{settings.queue_prefix}*", count=1000):
        conn.delete(key)
    for registry in ("rq:queues", "rq:workers"):
        for member in conn.smembers(registry):
            if settings.queue_prefix.encode() in member:
                conn.srem(registry, member)


@pytest.fixture
def db(settings):
    """A session on a database holding only the default queues; emptied after the test."""
    session = session_factory(settings.database_url)()
    with session.begin():
        defaults.ensure_queues(session)
        defaults.ensure_sla_policies(session)
    yield session
    session.rollback()
    session.close()
    with get_engine(settings.database_url).begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    # Ids restart on an emptied SQLite table: forget who was looking at mention 1 in an earlier test.
    conn = broker.connection(settings)
    for key in conn.scan_iter(match=f"{settings.queue_prefix}:presence:*"):
        conn.delete(key)


@pytest.fixture
def redis_conn(settings):
    conn = broker.connection(settings)
    yield conn
    for q in broker.all_queues(settings):
        q.empty()


@pytest.fixture
def run_worker(settings, redis_conn):
    """Run a real RQ worker in this process until the queues are empty."""
    from rq import SimpleWorker

    def run() -> None:
        worker = SimpleWorker(broker.all_queues(settings), connection=redis_conn,
                              name=f"{settings.queue_prefix}-{uuid.uuid4().hex[:6]}")
        worker.work(burst=True, logging_level="WARNING")

    return run


@pytest.fixture
def app(settings, db):
    from triage.web import create_app

    app = create_app(settings)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


_seq = itertools.count(1)


def record(**overrides) -> dict:
    """A raw post record in the import format, unique unless told otherwise."""
    n = next(_seq)
    base = {"id": f"post-{RUN_ID}-{n}", "network": "x", "text": f"@northwind my bag never arrived, flight {n}",
            "author": f"customer{n % 7}", "author_name": f"Customer {n % 7}", "author_followers": 120,
            "posted_at": "2026-11-20T10:00:00Z"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def make_source(db):
    def make(name: str = "Test source", kind: str = "import", **fields):
        source = ensure_source(db, name, kind, **fields)
        db.commit()
        return source

    return make


@pytest.fixture
def make_user(db):
    from triage.people.accounts import add_user

    def make(username: str, role: str = "agent", password: str = "correct horse battery"):
        user = add_user(db, username, password, role=role)
        db.commit()
        return user

    return make


@pytest.fixture
def login(client, make_user):
    """Log a new user of `role` in through the real login form."""

    def do(role: str = "agent", username: str | None = None):
        username = username or f"{role}{next(_seq)}"
        make_user(username, role)
        page = client.get("/login")
        token = _csrf(page.get_data(as_text=True))
        response = client.post("/login", data={"username": username, "password": "correct horse battery",
                                               "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return username

    return do


def _csrf(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


__all__ = ["DATA", "parse_post", "record"]
