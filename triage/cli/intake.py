"""Where mentions come from: `import` a file (with progress) and the `source` commands."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from sqlalchemy import func, select

from triage.cli.group import checked_settings, main
from triage.config import Settings


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

    from triage.core.errors import WorkflowError
    from triage.db import session_factory, session_scope
    from triage.intake import source_settings
    from triage.intake.importer import ImportFileError, import_stream
    from workers import jobs

    settings = checked_settings()
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
        wait_for(settings, summary.delivery_ids, summary.accepted)
    click.echo(f"{file}: {summary.accepted:,} posts accepted, {len(summary.errors):,} rows refused")
    if summary.errors:
        sys.exit(1)


def wait_for(settings: Settings, delivery_ids: list[int], total: int) -> None:
    """A progress bar until the deliveries are processed; lost jobs are enqueued again as it waits."""
    from tqdm import tqdm

    from triage.db import session_scope
    from triage.models import Delivery

    started = last_sweep = time.monotonic()
    warned = False
    with tqdm(total=total, unit=" posts", desc="tagged and queued", disable=None) as bar:
        while True:
            with session_scope(settings.database_url) as session:
                done = session.scalar(select(func.coalesce(func.sum(Delivery.post_count), 0)).where(
                    Delivery.id.in_(delivery_ids), Delivery.processed_at.is_not(None))) or 0
            bar.update(done - bar.n)
            if done >= total:  # dead-lettered posts count as done: their deliveries are processed
                _say_set_aside(settings, delivery_ids)
                return
            if not warned and time.monotonic() - started > 10 and not _workers_alive(settings):
                click.echo("no worker is running: start one with `triage worker` (`make run` starts one)", err=True)
                warned = True
            if time.monotonic() - last_sweep > 15:
                _sweep_if_redis_answers()
                last_sweep = time.monotonic()
            time.sleep(0.5)


def _say_set_aside(settings: Settings, delivery_ids: list[int]) -> None:
    from triage.db import session_scope
    from triage.intake import dead_letters

    with session_scope(settings.database_url) as session:
        count = dead_letters.counts_by_delivery(session, delivery_ids)
    if count:
        click.echo(f"{count:,} posts could not be stored and were set aside as dead letters: a lead can fix and "
                   "retry or discard them on the Sources page", err=True)


def _sweep_if_redis_answers() -> None:
    """Enqueue lost work again; with Redis away (restarting) the next round does it, the posts are stored."""
    from redis.exceptions import RedisError

    from workers import jobs

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
    from triage.core.errors import WorkflowError
    from triage.db import session_scope
    from triage.intake import source_settings

    try:
        with session_scope(checked_settings().database_url) as session:
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

    with session_scope(checked_settings().database_url) as session:
        for s in session.scalars(select(Source).order_by(Source.name)):
            state = "enabled" if s.enabled else "paused"
            click.echo(f"{s.name:<24} {s.kind:<7} {state:<8} last run {s.last_run_at or '-'}  {s.last_error or ''}")


@source.command(name="dead-letters")
def source_dead_letters() -> None:
    """Posts set aside because they could not be stored, with the reason (fix and retry them on the Sources page)."""
    from triage.db import session_scope
    from triage.intake import dead_letters

    with session_scope(checked_settings().database_url) as session:
        letters = dead_letters.open_letters(session, limit=1000)
        for d in letters:
            post_id = d.payload.get("id") if isinstance(d.payload, dict) else None
            click.echo(f"{d.id:>6}  {d.source.name:<24} {str(post_id)[:40]:<40} {d.error}")
        if not letters:
            click.echo("no dead letters: every post that arrived was stored")


def _pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """`--set key=value` options as a dict; a malformed one is named by position, never echoed (it may be a secret)."""
    values: dict[str, str] = {}
    for number, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--set number {number} is not key=value")
        values[key.strip()] = value
    return values


@source.command(name="connect")
@click.argument("kind")
@click.option("--name", required=True, help="Name of the new source.")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help="One of the network's settings, e.g. --set instance_url=https://mastodon.social. Repeatable; "
                   "a secret left out is asked for (hidden) when run at a terminal.")
@click.option("--every", "interval", type=int, default=None, help="Seconds between polls (default: 300).")
def source_connect(kind: str, name: str, pairs: tuple[str, ...], interval: int | None) -> None:
    """Connect a network account (mastodon, bluesky, reddit, ...) as a source, once the network accepts it."""
    from triage.core.errors import WorkflowError
    from triage.db import session_scope
    from triage.intake import connections
    from triage.intake.sources import connector

    settings = checked_settings()
    values = _pairs(pairs)
    network = connector(kind)
    if network is not None and sys.stdin.isatty():
        for f in network.fields:
            if f.secret and f.required and not values.get(f.name):
                values[f.name] = click.prompt(f.label, hide_input=True)
    try:
        with session_scope(settings.database_url) as session:
            src = connections.connect_account(session, settings, None, kind, name, values, interval=interval)
            account, every = dict(src.account or {}), src.interval_seconds
    except WorkflowError as exc:
        raise click.ClickException(str(exc)) from None
    shown = " ".join(str(p) for p in (account.get("display_name"), account.get("url")) if p)
    click.echo(f"source '{name}' is connected to the account {account.get('handle')}" + (f" ({shown})" if shown else "")
               + f", polled every {every} s")


@source.command(name="disconnect")
@click.argument("name")
def source_disconnect(name: str) -> None:
    """Stop using a connected account: its source is paused and its credentials wiped."""
    from triage.core.errors import WorkflowError
    from triage.db import session_scope
    from triage.intake import connections
    from triage.models import Source

    settings = checked_settings()
    try:
        with session_scope(settings.database_url) as session:
            src = session.scalar(select(Source).where(func.lower(Source.name) == name.strip().lower()))
            if src is None:
                raise click.ClickException(f"there is no source called '{name}'")
            connections.disconnect_account(session, settings, None, src.id)
    except WorkflowError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"source '{name}' is disconnected: paused, its credentials wiped")


@source.command(name="rotate-key")
def source_rotate_key() -> None:
    """Seal every stored credential again with the current key (then old keys can be dropped)."""
    from triage.core import secrets
    from triage.db import session_scope

    settings = checked_settings()
    try:
        with session_scope(settings.database_url) as session:
            count = secrets.rotate(session, settings)
    except secrets.CredentialsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{count:,} credentials sealed again with the current key")
