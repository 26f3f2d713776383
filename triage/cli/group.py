"""The `triage` click group every command module registers on, and the settings check they share."""
from __future__ import annotations

import click

from triage.config import Settings, load_settings


@click.group()
def main() -> None:
    """triage: mention triage and response workflow for brand social-media teams."""


def checked_settings(*, database: bool = True) -> Settings:
    """The settings; with `database`, first make sure the database was created (else say, in one line, to run init)."""
    settings = load_settings()
    if database:
        from triage import migrate

        problem = migrate.readiness(settings.database_url)
        if problem:
            raise click.ClickException(problem)
    return settings
