"""People at the console: `user add`, and API tokens (`token create`, `list`, `revoke`)."""
from __future__ import annotations

from datetime import datetime

import click

from triage.cli.group import checked_settings, main


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
    from triage.db import session_scope
    from triage.people.accounts import AccountError, create_token

    settings = checked_settings()
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
    from triage.db import session_scope
    from triage.people.accounts import AccountError, list_tokens

    settings = checked_settings()
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


def _stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@token.command(name="revoke")
@click.argument("token_id", type=click.IntRange(min=1))
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id (see `triage token list`); whatever uses it is refused from then on."""
    from triage.db import session_scope
    from triage.people.accounts import AccountError, revoke_token

    settings = checked_settings()
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
    from triage.db import session_scope
    from triage.people.accounts import AccountError, create_user

    settings = checked_settings()  # before the prompt: on a fresh instance, say to run init first
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(settings.database_url) as session:
            create_user(session, None, username, password, role=role, display_name=display_name, team=team)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {username} ({role})")
