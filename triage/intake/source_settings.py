"""Changing a source's settings: add an RSS feed, connect a network account, edit, pause, resume, set handles.

One function per change, shared by the web forms and the `triage` command: each checks the role (leads and
admins; `actor=None` is the operator at the console), validates with the one set of rules below, changes the
source and writes its audit event in the caller's transaction (caller commits). A feed URL goes into the log
without any user name, password or query string, which may carry a key; a connected account's secrets are
sealed (`triage.core.secrets`) and only their names are ever logged.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage.core import audit
from triage.core.errors import Invalid, NotFound
from triage.core.roles import LEADS, require
from triage.core.vocabulary import NETWORK_RE
from triage.intake.posts import clean_text
from triage.intake.sources import connector
from triage.models import Source, User

HANDLE_RE = re.compile(r"[\w.@-]{1,200}")
MAX_NAME, MAX_URL = 80, 2048
MIN_RSS_INTERVAL, MIN_INTERVAL, MAX_INTERVAL = 30, 1, 86_400  # a feed polled faster than 30 s is being hammered
DEFAULT_INTERVAL = 300
API_SOURCE = "API"  # where a push without ?source= lands


def require_lead(actor: User | None) -> None:
    require(actor, LEADS, "change sources")


def clean_handles(raw: str | Iterable[str]) -> list[str]:
    """The brand's handles, from "a, @B" or a list: without "@", lower case, sorted, each checked."""
    parts = raw.split(",") if isinstance(raw, str) else [p for item in raw for p in item.split(",")]
    handles = {h.strip().lstrip("@").lower() for h in parts} - {""}
    for handle in sorted(handles):
        if not HANDLE_RE.fullmatch(handle):
            raise Invalid(f"“{handle[:60]}” is not a handle: separate handles with commas, without spaces inside.")
    return sorted(handles)


def check_interval(raw: int | str | None, kind: str) -> int:
    """Seconds between polls: a whole number, at least 30 for a feed (refused below, never silently raised)."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise Invalid("Seconds between polls is empty.")
    try:
        value = int(text)
    except ValueError:
        raise Invalid(f"Seconds between polls must be a whole number, not “{text[:40]}”.") from None
    lo = MIN_RSS_INTERVAL if kind == "rss" else MIN_INTERVAL
    network = connector(kind)
    if network is not None and network.connectable:
        lo = max(lo, network.min_interval)  # the network's own limit: faster polls would be refused
    if not lo <= value <= MAX_INTERVAL:
        raise Invalid(f"Seconds between polls must be between {lo:,} and {MAX_INTERVAL:,}.")
    return value


def check_feed_url(raw: str | None, label: str = "Feed URL") -> str:
    """An http(s) URL naming a host: a feed's, or (`label`) a connected account's setting such as its server."""
    url = clean_text(raw or "")
    if not url:
        raise Invalid(f"{label} is empty.")
    if len(url) > MAX_URL:
        raise Invalid(f"{label} is too long: {len(url):,} characters, at most {MAX_URL:,}.")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unclosed [ in the host
        host = None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise Invalid(f"{'The feed URL' if label == 'Feed URL' else label} must start with http:// or https:// and "
                      "name a host.")
    return url


def check_network(raw: str | None) -> str:
    network = clean_text(raw or "").lower() or "rss"
    if not NETWORK_RE.fullmatch(network):
        raise Invalid("A network is a short name such as rss, reddit or forum.")
    return network


def check_name(session: Session, raw: str | None, source_id: int | None = None) -> str:
    name = clean_text(raw or "")
    if not name:
        raise Invalid("Name is empty.")
    if len(name) > MAX_NAME:
        raise Invalid(f"Name is too long: {len(name):,} characters, at most {MAX_NAME:,}.")
    clash = session.scalar(select(Source.name).where(func.lower(Source.name) == name.lower(),
                                                     Source.id != (source_id or 0)))
    if clash is not None:
        raise Invalid(f"There is a source called “{clash}” already.")
    return name


def logged_url(url: str | None) -> str | None:
    """The feed URL as the audit log keeps it: no user name, password, query or fragment."""
    if not url:
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def settings_of(source: Source) -> dict[str, Any]:
    config = source.config or {}
    out: dict[str, Any] = {"name": source.name, "enabled": source.enabled,
                           "brand_handles": list(source.brand_handles or [])}
    if source.polled:
        out["interval_seconds"] = source.interval_seconds
    if "network" in config:
        out["network"] = config["network"]
    if source.kind == "rss":
        out["url"] = logged_url(config.get("url"))
    return out


def record_change(session: Session, actor: User | None, action: str, source: Source, before: dict[str, Any],
            what: str) -> None:
    after = settings_of(source)
    changed = {k: after[k] for k in after if before.get(k) != after[k]}
    audit.record(session, actor, action, f"source “{source.name}”: {what}", source_id=source.id,
                 before={k: before.get(k) for k in changed}, after=changed)


def get_source(session: Session, source_id: int) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise NotFound(f"there is no source {source_id}")
    return source


def ensure_source(session: Session, name: str, kind: str, **fields: Any) -> Source:
    """The named source, created on first use (imports and the push API need a source to belong to)."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        source = Source(name=name, kind=kind, config=fields.pop("config", {}), cursor={}, **fields)
        session.add(source)
        session.flush()
    return source


def api_source(session: Session, actor: User | None, name: str = API_SOURCE, *,
               now: datetime | None = None) -> Source:
    """The source posts pushed through the API land in, found by name in any case; created on the first push
    (leads, admins, the operator), with its "source added" event."""
    source = session.scalar(select(Source).where(func.lower(Source.name) == name.strip().lower()))
    if source is not None:
        return source
    require_lead(actor)
    source = Source(kind="api", name=check_name(session, name), config={}, cursor={})
    session.add(source)
    session.flush()
    audit.record(session, actor, "source added", f"source “{source.name}”: added by the first push through the API",
                 now=now, source_id=source.id, before={}, after=settings_of(source))
    return source


def add_rss_source(session: Session, actor: User | None, name: str, url: str, *, network: str | None = "rss",
                   interval: int | str | None = DEFAULT_INTERVAL, brand_handles: str | Iterable[str] = ()) -> Source:
    """A new feed to poll (leads, admins, the operator)."""
    require_lead(actor)
    source = Source(kind="rss", name=check_name(session, name), cursor={},
                    config={"url": check_feed_url(url), "network": check_network(network)},
                    interval_seconds=check_interval(interval, "rss"), brand_handles=clean_handles(brand_handles))
    session.add(source)
    session.flush()
    record_change(session, actor, "source added", source, {}, f"RSS feed polled every {source.interval_seconds} s")
    return source


def update_source(session: Session, actor: User | None, source_id: int, *, name: str,
                  brand_handles: str | Iterable[str], interval: int | str | None = None, url: str | None = None,
                  network: str | None = None) -> Source:
    """Rename a source, set its handles and (polled ones) its interval, (feeds) its URL and network."""
    require_lead(actor)
    source = get_source(session, source_id)
    before = settings_of(source)
    new_name, handles = check_name(session, name, source_id), clean_handles(brand_handles)
    new_interval = check_interval(interval, source.kind) if source.polled else None
    if source.kind == "rss":
        new_url, new_network = check_feed_url(url), check_network(network)
        if new_url != (source.config or {}).get("url"):
            source.cursor = {}  # another feed: its ETag and seen ids mean nothing here
            source.next_poll_at = None
        source.config = {**(source.config or {}), "url": new_url, "network": new_network}
    source.name, source.brand_handles = new_name, handles
    if new_interval is not None:
        source.interval_seconds = new_interval
    session.flush()
    record_change(session, actor, "source changed", source, before, _what_changed(before, settings_of(source)))
    return source


def _what_changed(before: dict[str, Any], after: dict[str, Any]) -> str:
    changed = [k.replace("_", " ") for k in after if before.get(k) != after[k]]
    return ", ".join(changed) + " changed" if changed else "saved unchanged"


def pause_source(session: Session, actor: User | None, source_id: int) -> Source:
    """Stop polling a source until it is resumed."""
    require_lead(actor)
    source = get_source(session, source_id)
    before = settings_of(source)
    source.enabled = False
    record_change(session, actor, "source paused", source, before, "paused")
    return source


def resume_source(session: Session, actor: User | None, source_id: int) -> Source:
    """Poll a paused source again, at once rather than after a whole interval."""
    require_lead(actor)
    source = get_source(session, source_id)
    network = connector(source.kind)
    if network is not None and network.connectable and any(
            f.secret and f.required and not (source.config or {}).get(f.name) for f in network.fields):
        raise Invalid(f"Source “{source.name}” was disconnected: connect its {network.label} account again first.")
    before = settings_of(source)
    source.enabled, source.next_poll_at = True, None
    record_change(session, actor, "source resumed", source, before, "resumed")
    return source


def prepare_import_source(session: Session, actor: User | None, name: str, *,
                          brand_handles: str | Iterable[str] = (), network: str | None = None) -> Source:
    """The source an import lands in, created if new; handles given are added, a network given is the default."""
    require_lead(actor)
    handles, network = clean_handles(brand_handles), check_network(network) if network else None
    source = session.scalar(select(Source).where(Source.name == name))
    created = source is None
    before = {} if source is None else settings_of(source)
    source = source or ensure_source(session, check_name(session, name), "import")
    if handles:
        source.brand_handles = sorted(set(source.brand_handles or []) | set(handles))
    if network:
        source.config = {**(source.config or {}), "network": network}
    session.flush()
    if created:
        record_change(session, actor, "source added", source, {}, "import source")
    elif settings_of(source) != before:
        record_change(session, actor, "source changed", source, before, _what_changed(before, settings_of(source)))
    return source


__all__ = ["add_rss_source", "api_source", "check_interval", "check_name", "clean_handles", "ensure_source",
           "get_source", "logged_url", "pause_source", "prepare_import_source", "record_change", "require_lead",
           "resume_source", "settings_of", "update_source"]
