"""Connected network accounts: connecting, changing and disconnecting a source of a connectable kind, audited.

The connector (`triage.intake.sources`) checks the credentials with the network before anything is saved; the
secret fields are sealed at rest (`triage.core.secrets`) and never appear in a page, an error or an event.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from triage.config import Settings
from triage.core import audit
from triage.core.errors import Invalid
from triage.core.secrets import CredentialsError, is_sealed, seal, unseal
from triage.intake.posts import clean_text
from triage.intake.source_settings import (
    DEFAULT_INTERVAL,
    check_feed_url,
    check_interval,
    check_name,
    clean_handles,
    get_source,
    logged_url,
    require_lead,
    settings_of,
)
from triage.intake.sources import connectable, connector
from triage.intake.sources.base import Account, ConfigField, Connector
from triage.intake.sources.results import SourceError
from triage.models import Source, User

MAX_VALUE, MAX_ITEMS, MAX_ITEM, MAX_NUMBER = 2048, 100, 200, 2**31 - 1


def _network(kind: str) -> Connector:
    found = connector(kind)
    if found is None or not found.connectable:
        kinds = ", ".join(c.kind for c in connectable()) or "none yet"
        raise Invalid(f"“{kind[:40]}” is not a network whose accounts can be connected (these are: {kinds}).")
    return found


def _connected(session: Session, source_id: int) -> tuple[Source, Connector]:
    source = get_source(session, source_id)
    found = connector(source.kind)
    if found is None or not found.connectable:
        raise Invalid(f"Source “{source.name}” is not a connected network account.")
    return source, found


def _field_value(f: ConfigField, raw: str | None) -> Any:
    """One setting as typed, checked by its kind; None when blank. No error shows the value (it may be secret)."""
    text = clean_text(raw or "")
    if not text:
        return None
    if len(text) > MAX_VALUE:
        raise Invalid(f"{f.label} is too long: {len(text):,} characters, at most {MAX_VALUE:,}.")
    if f.kind == "url":
        return check_feed_url(text, f.label)
    if f.kind == "list":
        items = [item for item in (clean_text(i) for i in re.split(r"[,\n]", text)) if item]
        if len(items) > MAX_ITEMS or any(len(i) > MAX_ITEM for i in items):
            raise Invalid(f"{f.label}: at most {MAX_ITEMS} entries of at most {MAX_ITEM} characters each.")
        return items
    if f.kind == "number":
        if not re.fullmatch(r"[0-9]{1,10}", text) or int(text) > MAX_NUMBER:
            raise Invalid(f"{f.label} must be a whole number from 0 to {MAX_NUMBER:,}.")
        return int(text)
    return text


def _parse_values(found: Connector, values: dict[str, str], stored: dict[str, Any] | None) -> dict[str, Any]:
    """The connector's config from the values given; with `stored` (an update), a blank secret keeps its value."""
    names = [f.name for f in found.fields]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise Invalid(f"{found.label} has no setting “{unknown[0][:40]}”; its settings are: {', '.join(names)}.")
    config: dict[str, Any] = {}
    for f in found.fields:
        value = _field_value(f, values.get(f.name))
        if value is None and f.secret and stored:
            value = stored.get(f.name)
        if value is None:
            value = f.default
        if value in (None, "", []):
            if f.required:
                raise Invalid(f"{f.label} is required.")
            continue
        config[f.name] = value
    return config


def _verify(found: Connector, config: dict[str, Any]) -> Account:
    """The account the network says the credentials belong to; its refusal, in its words, as `Invalid`."""
    try:
        return found.verify(config)
    except SourceError as exc:
        reason = str(exc)
        for f in found.fields:  # a network echoing a credential back is not to be trusted with the log
            value = config.get(f.name)
            if f.secret and isinstance(value, str) and len(value) >= 4:
                reason = reason.replace(value, "•••")
        # Connectors name their network already ("Mastodon: ..."); say it once.
        named = reason.lower().startswith(found.label.lower())
        raise Invalid(reason if named else f"{found.label} refused the account: {reason}") from None


def _account_settings(found: Connector, source: Source, config: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a connected account: no secret, only which secrets are set."""
    shown = {f.name: logged_url(config.get(f.name)) if f.kind == "url" else config.get(f.name)
             for f in found.fields if not f.secret and f.name in config}
    return {**settings_of(source), "kind": source.kind, "account": (source.account or {}).get("handle"),
            "settings": shown, "secrets set": sorted(f.name for f in found.fields if f.secret and config.get(f.name))}


def _apply(settings: Settings, found: Connector, source: Source, config: dict[str, Any], account: Account) -> None:
    names = {f.name for f in found.fields}
    old = (source.account or {}).get("handle")
    keep = {k: v for k, v in (source.config or {}).items() if k not in names}
    source.config = {**keep, **seal(settings, config, found.fields)}
    source.account = {"handle": account.handle[:MAX_ITEM], "display_name": account.display_name, "url": account.url}
    handles = set(source.brand_handles or []) - (set(clean_handles([old])) if old and old != account.handle else set())
    source.brand_handles = sorted(handles | set(clean_handles([account.handle])))


def connect_account(session: Session, settings: Settings, actor: User | None, kind: str, name: str,
                    values: dict[str, str], *, interval: int | str | None = None,
                    now: datetime | None = None) -> Source:
    """A new source polling a network account (leads, admins, the operator), saved only once the network has
    accepted its credentials; the secrets are sealed, the account's handle becomes a brand handle."""
    require_lead(actor)
    found = _network(kind)
    source_name = check_name(session, name)
    every = check_interval(interval, found.kind) if interval not in (None, "") else max(DEFAULT_INTERVAL,
                                                                                        found.min_interval)
    config = _parse_values(found, values, None)
    account = _verify(found, config)
    source = Source(kind=found.kind, name=source_name, cursor={}, interval_seconds=every, brand_handles=[])
    _apply(settings, found, source, config, account)
    session.add(source)
    session.flush()
    audit.record(session, actor, "account connected",
                 f"source “{source.name}”: {found.label} account {account.handle} connected, polled every {every} s",
                 now=now, source_id=source.id, before={}, after=_account_settings(found, source, config))
    return source


def update_account(session: Session, settings: Settings, actor: User | None, source_id: int,
                   values: dict[str, str], *, now: datetime | None = None) -> Source:
    """New settings or credentials for a connected account, checked with the network again; a secret left blank
    keeps the stored one. Another account or server starts from a fresh cursor."""
    require_lead(actor)
    source, found = _connected(session, source_id)
    try:
        stored = unseal(settings, source.config or {})
    except CredentialsError:  # the key is gone: the secrets must be given again
        stored = {k: v for k, v in (source.config or {}).items() if not is_sealed(v)}
    config = _parse_values(found, values, stored)
    account = _verify(found, config)
    changed = [f.name for f in found.fields if stored.get(f.name) != config.get(f.name)]
    before = _account_settings(found, source, stored)
    moved = (source.account or {}).get("handle") != account.handle or any(
        not f.secret and f.name in changed for f in found.fields)
    _apply(settings, found, source, config, account)
    if moved:
        source.cursor, source.next_poll_at = {}, None
    session.flush()
    after = _account_settings(found, source, config)
    diff = {k: after[k] for k in after if before.get(k) != after[k]}
    audit.record(session, actor, "account changed",
                 f"source “{source.name}”: " + (", ".join(changed) + " changed" if changed else "checked, unchanged"),
                 now=now, source_id=source.id, fields=changed, before={k: before.get(k) for k in diff}, after=diff)
    return source


def disconnect_account(session: Session, settings: Settings, actor: User | None, source_id: int, *,
                       now: datetime | None = None) -> Source:
    """Stop using a connected account: the source is paused and its secrets wiped (its mentions stay)."""
    require_lead(actor)
    source, found = _connected(session, source_id)
    before = settings_of(source)
    secret = {f.name for f in found.fields if f.secret}
    wiped = sorted(k for k, v in (source.config or {}).items() if k in secret or is_sealed(v))
    source.config = {k: v for k, v in (source.config or {}).items() if k not in wiped}
    source.enabled = False
    handle = (source.account or {}).get("handle") or "?"
    audit.record(session, actor, "account disconnected",
                 f"source “{source.name}”: {found.label} account {handle} disconnected, paused, credentials wiped",
                 now=now, source_id=source.id, wiped=wiped, before=before, after=settings_of(source))
    return source


def source_config(settings: Settings, source: Source) -> dict[str, Any]:
    """The config a connector is given: secrets unsealed; a key this install lacks is the source's error."""
    try:
        return unseal(settings, source.config or {}, owner=f"source “{source.name}”")
    except CredentialsError as exc:
        raise SourceError(str(exc)) from None




def source_cursor(settings: Settings, source: Source) -> dict[str, Any]:
    """The cursor a connector is given: sealed entries opened; one no key opens is dropped (the connector then
    starts that part again, e.g. logs in anew), never an error."""
    cursor = dict(source.cursor or {})
    try:
        return unseal(settings, cursor, owner=f"source “{source.name}”")
    except CredentialsError:
        return {k: v for k, v in cursor.items() if not is_sealed(v)}


def sealed_cursor(settings: Settings, found: Connector, cursor: dict[str, Any]) -> dict[str, Any]:
    """The cursor as stored: the entries the connector marks as a login (`secret_cursor_keys`) sealed."""
    if not found.secret_cursor_keys:
        return cursor
    marks = [ConfigField(name=key, label=key, secret=True) for key in found.secret_cursor_keys]
    return seal(settings, cursor, marks)


__all__ = ["connect_account", "disconnect_account", "sealed_cursor", "source_config", "source_cursor",
           "update_account"]
