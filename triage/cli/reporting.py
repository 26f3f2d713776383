"""Figures at the console: `report`, `summaries` brought up to date, and `status` (what /healthz says)."""
from __future__ import annotations

import sys
from typing import Any

import click

from triage.cli.group import checked_settings, main


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
def report(since: str | None, until: str | None, fmt: str, exact: bool, **filters: Any) -> None:
    """Print response times, SLA attainment and volumes (the report page's figures) as JSON or CSV."""
    import json

    from triage.db import session_scope
    from triage.reporting import exports, reports
    from triage.reporting.filters import Filters, ReportError

    try:
        f = Filters.parse({"since": since, "until": until, **filters})
        with session_scope(checked_settings().database_url) as session:
            data = reports.report(session, f, exact=exact)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(exports.to_json(data), indent=2))
    else:
        for line in exports.report_csv(data):
            click.echo(line, nl=False)


@main.command()
def summaries() -> None:
    """Bring the report summaries up to date now (the worker does it every minute; useful after a big import)."""
    from triage.db import session_factory
    from triage.reporting import summaries as summary_job

    factory = session_factory(checked_settings().database_url)
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

    settings = checked_settings()
    with session_scope(settings.database_url) as session:
        ok, body = health.report(session, settings)
    click.echo(json.dumps(body, indent=2))
    sys.exit(0 if ok else 1)
