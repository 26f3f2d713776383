"""The `triage` command: run everything, work with data, and run the worker and scheduler processes."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import click
from sqlalchemy import func, select

from triage.config import Settings, load_settings


def _settings(*, database: bool = True) -> Settings:
    """The settings; with `database`, first make sure the database was created (else say, in one line, to run init)."""
    settings = load_settings()
    if database:
        from triage import migrate

        problem = migrate.readiness(settings.database_url)
        if problem:
            raise click.ClickException(problem)
    return settings


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


@click.group()
def main() -> None:
    """triage: mention triage and response workflow for brand social-media teams."""


@main.command()
def init() -> None:
    """Create or upgrade the database (Alembic migrations) and the default queues."""
    settings = _settings(database=False)
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

    settings = _settings(database=False)  # it creates or upgrades the database itself
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

    settings = _settings()
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


def _keep_heartbeat(w) -> None:
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
    from triage.classifier import classify

    classify("warming up the lexicons")


@main.command()
def cron() -> None:
    """Run RQ's cron scheduler: polls due sources every few seconds, sweeps lost work every 30 s, retrains hourly."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from rq.cron import CronScheduler

    from triage import broker
    from triage.supervision import follow_supervisor
    from workers import jobs

    settings = _settings()
    try:
        scheduler = CronScheduler(connection=broker.connection(settings), logging_level="WARNING")
    except RuntimeError as exc:  # the embedded Redis would not start
        raise click.ClickException(str(exc)) from None
    maintenance = broker.queue_name(settings, "maintenance")
    scheduler.register(jobs.schedule_polls, maintenance, interval=3, job_timeout=60, result_ttl=60)
    scheduler.register(jobs.sweep, maintenance, interval=30, job_timeout=120, result_ttl=60)
    scheduler.register(jobs.expire_claims, maintenance, interval=60, job_timeout=60, result_ttl=60)
    scheduler.register(jobs.check_deadlines, maintenance, interval=60, job_timeout=300, result_ttl=60)
    scheduler.register(jobs.refresh_summaries, maintenance, interval=60, job_timeout=300, result_ttl=60)
    # Hourly, and only when people corrected tags (or labels were imported) since the active model.
    scheduler.register(jobs.retrain, maintenance, interval=3600, job_timeout=jobs.RETRAIN_JOB_TIMEOUT,
                       result_ttl=3600)
    follow_supervisor()
    try:
        scheduler.start()
    except (RedisConnectionError, RedisTimeoutError) as exc:
        # One line rather than a traceback; `triage run` starts the scheduler again once Redis is back.
        raise click.ClickException(f"the scheduler lost Redis ({exc}); stopping") from None


@main.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "source_name", required=True, help="Source the posts belong to (created if new).")
@click.option("--brand-handle", "brand_handles", multiple=True,
              help="The brand's own handle; its replies to stored mentions become their responses. Repeatable.")
@click.option("--network", default=None, help="Network for rows that name none.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until every post is stored, tagged and queued.")
def import_(file: Path, source_name: str, brand_handles: tuple[str, ...], network: str | None, wait: bool) -> None:
    """Import a CSV or JSON Lines export; a bad row is named and skipped, the good ones land."""
    from tqdm import tqdm

    from triage import source_settings
    from triage.db import session_factory, session_scope
    from triage.importer import ImportFileError, import_stream
    from triage.workflow import WorkflowError
    from workers import jobs

    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            source_id = source_settings.prepare_import_source(session, None, source_name, brand_handles=brand_handles,
                                                              network=network).id
    except WorkflowError as exc:
        raise click.ClickException(str(exc)) from None
    with tqdm(total=None, unit=" posts", desc="stored", disable=None) as bar, file.open("rb") as stream:
        try:
            summary = import_stream(session_factory(settings.database_url), source_id, stream, file.name,
                                    batch_size=settings.batch_size,
                                    on_batch=lambda ids: (jobs.enqueue_deliveries(settings, ids),
                                                          bar.update(settings.batch_size)))
        except ImportFileError as exc:
            raise click.ClickException(f"{file}: {exc}; nothing was imported") from None
    for error in summary.errors:
        click.echo(f"{file}: {error}", err=True)
    if wait and summary.delivery_ids:
        _wait_for(settings, summary.delivery_ids, summary.accepted)
    click.echo(f"{file}: {summary.accepted:,} posts accepted, {len(summary.errors):,} rows refused")
    if summary.errors:
        sys.exit(1)


def _wait_for(settings: Settings, delivery_ids: list[int], total: int) -> None:
    """A progress bar until the deliveries are processed; lost jobs are enqueued again as it waits."""
    from tqdm import tqdm

    from triage.db import session_scope
    from triage.models import Delivery
    from workers import jobs

    started = last_sweep = time.monotonic()
    warned = False
    with tqdm(total=total, unit=" posts", desc="tagged and queued", disable=None) as bar:
        while True:
            with session_scope(settings.database_url) as session:
                done = session.scalar(select(func.coalesce(func.sum(Delivery.post_count), 0)).where(
                    Delivery.id.in_(delivery_ids), Delivery.processed_at.is_not(None)))
            bar.update(done - bar.n)
            if done >= total:  # dead-lettered posts count as done: their deliveries are processed
                _say_set_aside(settings, delivery_ids)
                return
            if not warned and time.monotonic() - started > 10 and not _workers_alive(settings):
                click.echo("no worker is running: start one with `triage worker` (`make run` starts one)", err=True)
                warned = True
            if time.monotonic() - last_sweep > 15:
                _sweep_if_redis_answers(jobs)
                last_sweep = time.monotonic()
            time.sleep(0.5)


def _say_set_aside(settings: Settings, delivery_ids: list[int]) -> None:
    from triage import dead_letters
    from triage.db import session_scope

    with session_scope(settings.database_url) as session:
        count = dead_letters.counts_by_delivery(session, delivery_ids)
    if count:
        click.echo(f"{count:,} posts could not be stored and were set aside as dead letters: a lead can fix and "
                   "retry or discard them on the Sources page", err=True)


def _sweep_if_redis_answers(jobs) -> None:
    """Enqueue lost work again; with Redis away (restarting) the next round does it, the posts are stored."""
    from redis.exceptions import RedisError

    try:
        jobs.sweep(stale_seconds=15)
    except (RedisError, OSError, RuntimeError):
        pass


def _workers_alive(settings: Settings) -> bool:
    from redis.exceptions import RedisError
    from rq import Worker

    from triage import broker

    try:
        return bool(Worker.all(queue=broker.queue(settings, "ingest")))
    except (RedisError, OSError, RuntimeError):
        return True  # Redis is away for a moment: no reason to send anyone to start a worker


@main.command()
@click.option("--zero-shot", is_flag=True, help="Use the built-in rules even when a trained model is active.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Use this model file (from <instance>/models/) instead of the active one.")
def classify(zero_shot: bool, model_path: Path | None) -> None:
    """Read JSON Lines {"id", "text"} on stdin, write one JSON line of tags per input, in order.

    Tags come from the newest trained model when there is one (see `triage train`), else from the rules.
    """
    from triage.classifier import ACTIVE, JSONL_BATCH, classify_jsonl

    if zero_shot and model_path:
        raise click.UsageError("give --zero-shot or --model, not both")
    model = None if zero_shot else ACTIVE
    if model_path:
        from triage.learning import LearnedModel

        try:
            model = LearnedModel.load(model_path)
        except Exception as exc:  # noqa: BLE001 - unpickling fails in many ways; each means "not a model file"
            raise click.ClickException(f"{model_path}: not a triage model file ({exc})") from None
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")  # a bad byte spoils one line, not the run
    classify_jsonl(sys.stdin, sys.stdout, model=model, batch_size=1 if sys.stdin.isatty() else JSONL_BATCH)


@main.command()
@click.option("--input", "input_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='Labelled JSON Lines {"text", "sentiment"?, "intent"?}; stored as imported labels first.')
@click.option("--min-per-class", type=click.IntRange(min=3), default=None,
              help="Labels each class needs before a task is learned (default TRIAGE_MIN_LABELS_PER_CLASS, 20).")
def train(input_file: Path | None, min_per_class: int | None) -> None:
    """Train the classifier on every stored label (corrections and imports) and make it the active model."""
    from triage import learning, migrate
    from triage.db import session_scope

    settings = _settings(database=False)  # it migrates the database itself
    examples = []
    if input_file is not None:
        try:
            examples = learning.read_label_file(input_file)
        except learning.LabelFileError as exc:
            raise click.ClickException(f"{exc}; nothing was imported") from None
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        if examples:
            learning.import_labels(session, examples)
            session.commit()
            click.echo(f"{input_file}: {len(examples):,} labels imported")
        version, result = learning.train(session, settings, min_per_class=min_per_class)
    for line in result.summary():
        click.echo(line)
    if version is None:
        raise click.ClickException(f"no model trained: no task has {result.min_per_class} labels in every class "
                                   "yet; tagging keeps using the built-in rules")
    click.echo(f"learned model v{version.id} is active ({result.label_count:,} labelled texts)")


@main.group()
def token() -> None:
    """API tokens: create, list, revoke (as the operator at the console, as the audit log records it)."""


@token.command(name="create")
@click.option("--user", "username", required=True, help="The person the token acts as (with their role).")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
@click.option("--source", default=None, help="Scope: it may only push posts into this (existing) source.")
@click.option("--read-only", is_flag=True, help="Scope: it may only read (GET).")
def token_create(username: str, name: str, source: str | None, read_only: bool) -> None:
    """Create a bearer token for the API; it is printed once (only its hash is kept)."""
    from triage.accounts import AccountError, create_token
    from triage.db import session_scope

    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            secret = create_token(session, username, name, actor=None, source=source, read_only=read_only)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(secret)  # after the commit: a printed token always works


@token.command(name="list")
@click.option("--user", "username", default=None, help="Only this person's tokens.")
def token_list(username: str | None) -> None:
    """List tokens, newest first: id, person, name, scope, created, last used, revoked."""
    from triage.accounts import AccountError, list_tokens
    from triage.db import session_scope

    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            rows = [(str(t.id), t.user.username, t.name, t.scope, _stamp(t.created_at), _stamp(t.last_used_at),
                     _stamp(t.revoked_at)) for t in list_tokens(session, None, username)]
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    if not rows:
        click.echo("no tokens")
        return
    header = ("id", "user", "name", "may", "created", "last used", "revoked")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _stamp(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@token.command(name="revoke")
@click.argument("token_id", type=click.IntRange(min=1))
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id (see `triage token list`); whatever uses it is refused from then on."""
    from triage.accounts import AccountError, revoke_token
    from triage.db import session_scope

    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            row = revoke_token(session, None, token_id)
            described = f"revoked token {row.id} “{row.name}” of {row.user.username}"
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(described)


@main.group()
def user() -> None:
    """Team members."""


@user.command(name="add")
@click.argument("username")
@click.option("--role", type=click.Choice(["agent", "lead", "supervisor", "admin"]), default="agent",
              show_default=True)
@click.option("--name", "display_name", default=None, help="Name shown to the team.")
@click.option("--team", default=None)
@click.option("--password", default=None, help="The first password (prompted for when not given).")
def user_add(username: str, role: str, display_name: str | None, team: str | None, password: str | None) -> None:
    """Add a team member (prompts for the password)."""
    from triage.accounts import AccountError, add_user
    from triage.db import session_scope

    settings = _settings()  # before the prompt: on a fresh instance, say to run init first
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(settings.database_url) as session:
            add_user(session, username, password, role=role, display_name=display_name, team=team)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {username} ({role})")


@main.group()
def source() -> None:
    """Where mentions come from."""


@source.command(name="add-rss")
@click.argument("name")
@click.argument("url")
@click.option("--network", default="rss", show_default=True, help="Network name for its posts, e.g. reddit.")
@click.option("--every", "interval", default=300, show_default=True, help="Seconds between polls.")
@click.option("--brand-handle", "brand_handles", multiple=True)
def source_add_rss(name: str, url: str, network: str, interval: int, brand_handles: tuple[str, ...]) -> None:
    """Poll an RSS or Atom feed (a brand alert, a subreddit, a forum) for mentions."""
    from triage import source_settings
    from triage.db import session_scope
    from triage.workflow import WorkflowError

    try:
        with session_scope(_settings().database_url) as session:
            src = source_settings.add_rss_source(session, None, name, url, network=network, interval=interval,
                                                 brand_handles=brand_handles)
            interval = src.interval_seconds
    except WorkflowError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"source '{name}' polls {url} every {interval} s")


@source.command(name="list")
def source_list() -> None:
    """Sources with their last run and last error."""
    from triage.db import session_scope
    from triage.models import Source

    with session_scope(_settings().database_url) as session:
        for s in session.scalars(select(Source).order_by(Source.name)):
            state = "enabled" if s.enabled else "paused"
            click.echo(f"{s.name:<24} {s.kind:<7} {state:<8} last run {s.last_run_at or '-'}  {s.last_error or ''}")


@source.command(name="dead-letters")
def source_dead_letters() -> None:
    """Posts set aside because they could not be stored, with the reason (fix and retry them on the Sources page)."""
    from triage import dead_letters
    from triage.db import session_scope

    with session_scope(_settings().database_url) as session:
        letters = dead_letters.open_letters(session, limit=1000)
        for d in letters:
            post_id = d.payload.get("id") if isinstance(d.payload, dict) else None
            click.echo(f"{d.id:>6}  {d.source.name:<24} {str(post_id)[:40]:<40} {d.error}")
        if not letters:
            click.echo("no dead letters: every post that arrived was stored")


@main.command()
@click.option("--since", default=None, help="First day (YYYY-MM-DD, UTC); default: 30 days before --until.")
@click.option("--until", default=None, help="Last day, included (YYYY-MM-DD, UTC); default: today.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--queue", default=None, help="Queue slug.")
@click.option("--team", default=None, help="Team name or id.")
@click.option("--agent", default=None, help="Username.")
@click.option("--intent", default=None)
@click.option("--network", default=None)
@click.option("--sentiment", default=None)
@click.option("--exact", is_flag=True, help="Compute medians from every item, not from the daily summaries.")
def report(since: str | None, until: str | None, fmt: str, exact: bool, **filters) -> None:
    """Print response times, SLA attainment and volumes (the report page's figures) as JSON or CSV."""
    import json

    from triage import reports
    from triage.db import session_scope

    try:
        f = reports.Filters.parse({"since": since, "until": until, **filters})
        with session_scope(_settings().database_url) as session:
            data = reports.report(session, f, exact=exact)
    except reports.ReportError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(reports.to_json(data), indent=2))
    else:
        for line in reports.report_csv(data):
            click.echo(line, nl=False)


@main.command()
def summaries() -> None:
    """Bring the report summaries up to date now (the worker does it every minute; useful after a big import)."""
    from triage import summaries as summary_job
    from triage.db import session_factory

    factory = session_factory(_settings().database_url)
    total = 0
    while True:
        progress = summary_job.refresh(factory, budget_seconds=10)
        if progress.busy:
            raise click.ClickException("a worker is summarising right now; try again in a minute")
        total += progress.days + progress.event_days
        click.echo(f"summarised {total} days; {progress.waiting} to go")
        if not progress.waiting:
            break


@main.command()
def status() -> None:
    """Print what /healthz reports, as JSON."""
    import json

    from triage import health
    from triage.db import session_scope

    settings = _settings()
    with session_scope(settings.database_url) as session:
        ok, body = health.report(session, settings)
    click.echo(json.dumps(body, indent=2))
    sys.exit(0 if ok else 1)


@main.group(name="redis")
def redis_group() -> None:
    """The embedded Redis server (when TRIAGE_REDIS_URL is unset): status, start, stop."""


def _embedded(settings: Settings):
    from triage import broker

    if settings.redis_url and not broker.is_embedded(settings):
        raise click.ClickException(f"TRIAGE_REDIS_URL is set ({_redact(settings.redis_url)}): triage uses that "
                                   "server, not an embedded one")
    return broker.embedded_for(settings)


@redis_group.command(name="status")
def redis_status() -> None:
    """Whether the embedded Redis runs, its pid and socket, and who owns it."""
    embedded = _embedded(_settings(database=False))
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
    embedded = _embedded(_settings(database=False))
    try:
        embedded.start(detach=True)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"embedded Redis runs (pid {embedded.server_pid()}) on {embedded.socket}")


@redis_group.command(name="stop")
def redis_stop() -> None:
    """Stop a detached embedded Redis (one that `triage run` owns stops with it: Ctrl-C that instead)."""
    embedded = _embedded(_settings(database=False))
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


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
