"""The `triage` command: run everything, work with data, and run the worker and scheduler processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from sqlalchemy import func, select

from triage.config import Settings, load_settings


def _settings() -> Settings:
    return load_settings()


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
    settings = _settings()
    for username, role, password in _prepare(settings):
        click.echo(f"  {username:<11} {role:<11} {password}")
    click.echo(f"database ready: {_redact(settings.database_url)}")


@main.command()
@click.option("--workers", default=1, show_default=True, help="RQ worker processes to start.")
@click.option("--no-web", is_flag=True, help="Run Redis, workers and the scheduler only.")
def run(workers: int, no_web: bool) -> None:
    """Set up and run everything: database, Redis (embedded unless TRIAGE_REDIS_URL), workers, scheduler, web."""
    from triage import broker

    settings = _settings()
    created = _prepare(settings)
    if created:
        click.secho("Demo team created. These passwords are shown once; keep them:", fg="yellow", bold=True)
        for username, role, password in created:
            click.echo(f"  {username:<11} {role:<11} {password}")
    embedded = None
    if not settings.redis_url:
        embedded = broker.embedded_for(settings).start()
        click.echo(f"embedded Redis on {embedded.socket}")
    env = broker.worker_env(settings)
    children = [subprocess.Popen([sys.executable, "-m", "triage.cli", "worker"], env=env) for _ in range(workers)]
    children.append(subprocess.Popen([sys.executable, "-m", "triage.cli", "cron"], env=env))

    def stop(*_args) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded:
            embedded.stop()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if no_web:
            click.echo("workers and scheduler running; Ctrl-C stops them")
            while all(c.poll() is None for c in children):
                time.sleep(1)
        else:
            from werkzeug.serving import run_simple

            from triage.web import create_app

            click.secho(f"triage is running on http://{settings.host}:{settings.port}  (Ctrl-C stops it)",
                        fg="green", bold=True)
            run_simple(settings.host, settings.port, create_app(settings), threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
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

    settings = _settings()
    _preload()
    worker_class = Worker if fork else SimpleWorker
    w = worker_class(broker.all_queues(settings), connection=broker.connection(settings), name=name)
    w.work(burst=burst, with_scheduler=True, logging_level="WARNING")


def _preload() -> None:
    """Load the jobs and the classifier's lexicons once, before RQ forks a work horse per job."""
    import workers.jobs  # noqa: F401
    from triage.classifier import classify

    classify("warming up the lexicons")


@main.command()
def cron() -> None:
    """Run RQ's cron scheduler: polls due sources every few seconds, sweeps lost work every 30 s, retrains hourly."""
    from rq.cron import CronScheduler

    from triage import broker
    from workers import jobs

    settings = _settings()
    scheduler = CronScheduler(connection=broker.connection(settings), logging_level="WARNING")
    maintenance = broker.queue_name(settings, "maintenance")
    scheduler.register(jobs.schedule_polls, maintenance, interval=3, job_timeout=60, result_ttl=60)
    scheduler.register(jobs.sweep, maintenance, interval=30, job_timeout=120, result_ttl=60)
    scheduler.register(jobs.expire_claims, maintenance, interval=60, job_timeout=60, result_ttl=60)
    scheduler.register(jobs.check_deadlines, maintenance, interval=60, job_timeout=300, result_ttl=60)
    scheduler.register(jobs.refresh_summaries, maintenance, interval=60, job_timeout=300, result_ttl=60)
    # Hourly, and only when people corrected tags (or labels were imported) since the active model.
    scheduler.register(jobs.retrain, maintenance, interval=3600, job_timeout=jobs.RETRAIN_JOB_TIMEOUT,
                       result_ttl=3600)
    scheduler.start()


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

    from triage import defaults
    from triage.db import session_factory, session_scope
    from triage.importer import ImportFileError, import_stream
    from workers import jobs

    settings = _settings()
    with session_scope(settings.database_url) as session:
        source = defaults.ensure_source(session, source_name, "import")
        if brand_handles:
            handles = {h.strip().lstrip("@").lower() for h in brand_handles if h.strip()}
            source.brand_handles = sorted(set(source.brand_handles or []) | handles)
        if network:
            source.config = {**(source.config or {}), "network": network}
        source_id = source.id
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
            if done >= total:
                return
            if not warned and time.monotonic() - started > 10 and not _workers_alive(settings):
                click.echo("no worker is running: start one with `triage worker` (`make run` starts one)", err=True)
                warned = True
            if time.monotonic() - last_sweep > 15:
                jobs.sweep(stale_seconds=15)
                last_sweep = time.monotonic()
            time.sleep(0.5)


def _workers_alive(settings: Settings) -> bool:
    from rq import Worker

    from triage import broker

    return bool(Worker.all(queue=broker.queue(settings, "ingest")))


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

    settings = _settings()
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
    """API tokens."""


@token.command(name="create")
@click.option("--user", "username", required=True)
@click.option("--name", default="api", show_default=True, help="What the token is for.")
def token_create(username: str, name: str) -> None:
    """Create a bearer token for the push API; it is printed once."""
    from triage.accounts import AccountError, create_token
    from triage.db import session_scope

    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            click.echo(create_token(session, username, name))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def user() -> None:
    """Team members."""


@user.command(name="add")
@click.argument("username")
@click.option("--role", type=click.Choice(["agent", "lead", "supervisor", "admin"]), default="agent",
              show_default=True)
@click.option("--name", "display_name", default=None, help="Name shown to the team.")
@click.option("--team", default=None)
@click.password_option()
def user_add(username: str, role: str, display_name: str | None, team: str | None, password: str) -> None:
    """Add a team member (prompts for the password)."""
    from triage.accounts import AccountError, add_user
    from triage.db import session_scope

    settings = _settings()
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
    from triage import defaults
    from triage.db import session_scope

    if not url.startswith(("http://", "https://")):
        raise click.ClickException("the feed URL must start with http:// or https://")
    settings = _settings()
    with session_scope(settings.database_url) as session:
        src = defaults.ensure_source(session, name, "rss", config={"url": url, "network": network},
                                     interval_seconds=max(30, interval),
                                     brand_handles=[h.lstrip("@").lower() for h in brand_handles])
        src.config = {"url": url, "network": network}
    click.echo(f"source '{name}' polls {url} every {max(30, interval)} s")


@source.command(name="list")
def source_list() -> None:
    """Sources with their last run and last error."""
    from triage.db import session_scope
    from triage.models import Source

    with session_scope(_settings().database_url) as session:
        for s in session.scalars(select(Source).order_by(Source.name)):
            state = "enabled" if s.enabled else "paused"
            click.echo(f"{s.name:<24} {s.kind:<7} {state:<8} last run {s.last_run_at or '-'}  {s.last_error or ''}")


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


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
