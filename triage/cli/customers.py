"""What the brand's other systems know of its customers: `customers import` a CRM or loyalty export."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from triage.cli.group import checked_settings, main


@main.group()
def customers() -> None:
    """Customer records from the brand's other systems (CRM, loyalty programme, shop)."""


@customers.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--system", default=None, help="The system the records come from (else each row names its own).")
def customers_import(file: Path, system: str | None) -> None:
    """Import a CSV or JSON Lines export; a bad row is named and skipped, the good ones land."""
    import time

    from tqdm import tqdm

    from triage.core.errors import WorkflowError
    from triage.db import session_factory
    from triage.people.customer_records import import_file

    settings = checked_settings()
    started = time.monotonic()
    with tqdm(total=None, unit=" rows", desc="read", disable=None) as bar, file.open("rb") as stream:
        try:
            result = import_file(session_factory(settings.database_url), None, stream, file.name, system=system,
                                 on_rows=bar.update)
        except WorkflowError as exc:
            raise click.ClickException(f"{file}: {exc}; nothing was imported") from None
    for error in result.errors:
        click.echo(error["error"], err=True)
    seconds = max(time.monotonic() - started, 1e-6)
    click.echo(f"{file}: {result.added:,} records added, {result.updated:,} updated, {result.linked:,} accounts "
               f"linked, {len(result.suggestions):,} left as suggestions, {result.refused:,} rows refused "
               f"({(result.added + result.updated) / seconds:,.0f} rows/s)")
    if result.refused:
        sys.exit(1)


@customers.command(name="priority")
@click.argument("rules", nargs=-1)
@click.option("--clear", is_flag=True, help="Remove every customer priority rule.")
def customers_priority(rules: tuple[str, ...], clear: bool) -> None:
    """Show or set the priority points for customer facts, e.g. "Gold: +15" "lifetime value over 1,000: +10"."""
    from sqlalchemy import select

    from triage.core.errors import WorkflowError
    from triage.db import session_scope
    from triage.models import CustomerPriorityRule
    from triage.routing.customer_facts import describe, parse_rule, save_rules

    try:
        with session_scope(checked_settings().database_url) as session:
            if rules or clear:
                save_rules(session, None, [parse_rule(r) for r in rules])
            query = select(CustomerPriorityRule).order_by(CustomerPriorityRule.id)
            shown = [describe(r) for r in session.scalars(query)]
    except WorkflowError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("\n".join(shown) if shown else "no customer priority rules")
