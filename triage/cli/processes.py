"""The processes: `init` and `run` (everything, supervised), `worker`, `cron`, and the embedded `redis`."""
from __future__ import annotations

import signal
import sys
import time
from typing import TYPE_CHECKING

import click

from triage.cli.group import checked_settings, main
from triage.config import Settings

if TYPE_CHECKING:
    from rq.worker import BaseWorker

    from triage.broker import EmbeddedRedis


def _prepare(settings: Settings) -> list[tuple[str, str, str]]:
    """Migrate the database and create what a new install starts with; returns new demo passwords."""
    from triage import defaults, migrate
    from triage.db import session_scope

    settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        defaults.ensure_queues(session)
        created = defaults.ensure_demo_team(session) if settings.demo else []
        if settings.demo:
            defaults.ensure_demo_source(session)
    return created


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url


@main.command()
def init() -> None:
    """Create or upgrade the database (Alembic migrations) and the default queues."""
    settings = checked_settings(database=False)
    for username, role, password in _prepare(settings):
        click.echo(f"  {username:<11} {role:<11} {password}")
    click.echo(f"database ready: {_redact(settings.database_url)}")


@main.command()
@click.option("--workers", default=1, show_default=True, help="RQ worker processes to start.")
@click.option("--no-web", is_flag=True, help="Run Redis, workers and the scheduler only.")
def run(workers: int, no_web: bool) -> None:
    """Set up and run everything: database, Redis (embedded unless TRIAGE_REDIS_URL), workers, scheduler, web.

    A worker, the scheduler or the embedded Redis that dies is started again; Ctrl-C stops the workers and
    the scheduler, then the embedded Redis last.
    """
    import threading

    from triage import broker
    from triage.supervision import Supervisor, child_argv

    settings = checked_settings(database=False)  # it creates or upgrades the database itself
    embedded, ownership = None, None
    if not settings.redis_url:
        embedded = broker.embedded_for(settings)
        ownership = embedded.hold_ownership()
        if ownership is None:
            raise click.ClickException(f"another `triage run` (pid {embedded.owner()}) runs this instance "
                                       f"({settings.instance_path}); stop it first")
    created = _prepare(settings)
    if created:
        click.secho("Demo team created. These passwords are shown once; keep them:", fg="yellow", bold=True)
        for username, role, password in created:
            click.echo(f"  {username:<11} {role:<11} {password}")
    if embedded is not None:
        try:
            embedded.start(adopt=True)  # a server a CLI command left running is adopted, and stopped at the end
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"embedded Redis on {embedded.socket} (pid {embedded.pid})")
        settings = settings.with_(redis_url=embedded.url)  # nobody else in this process starts one
    supervisor = Supervisor(broker.worker_env(settings), embedded=embedded,
                            log=lambda line: click.echo(f"triage run: {line}", err=True))
    for n in range(workers):
        supervisor.add(f"worker {n + 1}" if workers > 1 else "worker", child_argv("worker"))
    supervisor.add("scheduler", child_argv("cron"))
    # SIGTERM stops it as Ctrl-C does (werkzeug's server returns on KeyboardInterrupt).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        supervisor.start()
        threading.Thread(target=supervisor.watch, name="supervisor", daemon=True).start()
        if no_web:
            click.echo("workers and scheduler running; Ctrl-C stops them")
            while True:
                time.sleep(3600)
        else:
            from werkzeug.serving import run_simple

            from triage.web import create_app

            click.secho(f"triage is running on http://{settings.host}:{settings.port}  (Ctrl-C stops it)",
                        fg="green", bold=True)
            run_simple(settings.host, settings.port, create_app(settings), threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the orderly stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        click.echo("stopping: workers and scheduler first" + (", then the embedded Redis" if embedded else ""))
        supervisor.stop()
        if ownership is not None:
            ownership.close()
        click.echo("stopped")


@main.command()
@click.option("--burst", is_flag=True, help="Quit when the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: host and pid).")
@click.option("--fork/--no-fork", default=False, show_default=True,
              help="Run each job in a forked process (RQ's Worker) instead of in the worker itself (SimpleWorker).")
def worker(burst: bool, name: str | None, fork: bool) -> None:
    """Run an RQ worker on the triage queues, in priority order, with RQ's scheduler for retries.

    By default jobs run in the worker process: forking a fresh process per batch throws away the warm
    classifier, the compiled SQL and the open database connection, which cost ~40% of ingest throughput
    (bench/pipeline.py). Job time limits still apply; a worker that dies mid-job loses nothing (see sweep).
    """
    from rq import SimpleWorker, Worker

    from triage import broker
    from triage.supervision import follow_supervisor

    settings = checked_settings()
    _preload()
    worker_class = Worker if fork else SimpleWorker
    try:
        w = worker_class(broker.all_queues(settings), connection=broker.connection(settings), name=name)
    except RuntimeError as exc:  # the embedded Redis would not start
        raise click.ClickException(str(exc)) from None
    follow_supervisor()
    _keep_heartbeat(w)
    w.work(burst=burst, with_scheduler=True, logging_level="WARNING")


HEARTBEAT_SECONDS = 10  # /healthz counts a worker whose heartbeat is older than health.WORKER_STALE_SECONDS as gone
# Refresh the heartbeat only of a worker still registered: after RQ's teardown deleted the key, a late beat
# would bring back a ghost holding nothing but 'last_heartbeat'.
_BEAT = """if redis.call('exists', KEYS[1]) == 1 then
  redis.call('hset', KEYS[1], 'last_heartbeat', ARGV[1])
  redis.call('expire', KEYS[1], ARGV[2])
end"""


def _keep_heartbeat(w: BaseWorker) -> None:
    """Beat every few seconds, busy or idle: RQ beats only between jobs (idle: every ~7 min), so a worker
    killed mid-batch looked alive, and busy, for minutes."""
    import threading

    from redis.exceptions import RedisError
    from rq.utils import now, utcformat

    beat = w.connection.register_script(_BEAT)

    def loop() -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            try:
                beat(keys=[w.key], args=[utcformat(now()), HEARTBEAT_SECONDS * 6])
            except RedisError:
                pass  # Redis is away; RQ's own loop reconnects, and the next beat follows

    threading.Thread(target=loop, name="heartbeat", daemon=True).start()


def _preload() -> None:
    """Load the jobs and the classifier's lexicons once, before RQ forks a work horse per job."""
    import workers.jobs  # noqa: F401
    from triage.tagging.classifier import classify

    classify("warming up the lexicons")


@main.command()
def cron() -> None:
    """Run RQ's cron scheduler: polls due sources every few seconds, sweeps lost work every 30 s, retrains hourly."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from triage.supervision import follow_supervisor
    from workers.schedule import cron_scheduler

    settings = checked_settings()
    try:
        scheduler = cron_scheduler(settings)
    except RuntimeError as exc:  # the embedded Redis would not start
        raise click.ClickException(str(exc)) from None
    follow_supervisor()
    try:
        scheduler.start()
    except (RedisConnectionError, RedisTimeoutError) as exc:
        # One line rather than a traceback; `triage run` starts the scheduler again once Redis is back.
        raise click.ClickException(f"the scheduler lost Redis ({exc}); stopping") from None


@main.group(name="redis")
def redis_group() -> None:
    """The embedded Redis server (when TRIAGE_REDIS_URL is unset): status, start, stop."""


def _embedded(settings: Settings) -> EmbeddedRedis:
    from triage import broker

    if settings.redis_url and not broker.is_embedded(settings):
        raise click.ClickException(f"TRIAGE_REDIS_URL is set ({_redact(settings.redis_url)}): triage uses that "
                                   "server, not an embedded one")
    return broker.embedded_for(settings)


@redis_group.command(name="status")
def redis_status() -> None:
    """Whether the embedded Redis runs, its pid and socket, and who owns it."""
    embedded = _embedded(checked_settings(database=False))
    pid, owner = embedded.server_pid(), embedded.owner()
    if not embedded.alive():
        click.echo(f"embedded Redis: not running ({embedded.socket}); `triage run` starts it, "
                   "as does any command that needs it")
        sys.exit(1)
    import redis

    info = redis.Redis(unix_socket_path=str(embedded.socket)).info()
    held = f"owned by `triage run` (pid {owner}), which stops it" if owner else \
        "detached: it runs until `triage redis stop` (or a `triage run` adopts it)"
    click.echo(f"embedded Redis: running, pid {pid or info.get('process_id')}, socket {embedded.socket}, "
               f"up {info.get('uptime_in_seconds', 0):,} s, {info.get('used_memory_human', '?')} used; {held}")


@redis_group.command(name="start")
def redis_start() -> None:
    """Start the embedded Redis detached (it outlives this command) unless one runs already."""
    embedded = _embedded(checked_settings(database=False))
    try:
        embedded.start(detach=True)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"embedded Redis runs (pid {embedded.server_pid()}) on {embedded.socket}")


@redis_group.command(name="stop")
def redis_stop() -> None:
    """Stop a detached embedded Redis (one that `triage run` owns stops with it: Ctrl-C that instead)."""
    embedded = _embedded(checked_settings(database=False))
    owner = embedded.owner()
    if owner:
        raise click.ClickException(f"`triage run` (pid {owner}) owns this Redis and would start it again: "
                                   "stop `triage run` (Ctrl-C) instead")
    pid = embedded.take_over()
    if pid is None:
        click.echo("embedded Redis: not running")
        return
    embedded.stop()
    click.echo(f"stopped the embedded Redis (pid {pid})")
