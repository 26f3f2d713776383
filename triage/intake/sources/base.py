"""The shape every network connector has: one module per network carries everything about it.

A connector says what its account settings are (secret ones marked), how to check an account, how to fetch new
posts from a cursor, how to post a reply and how long one may be. The registry (`__init__.py`) lists them; the
poll job, reply delivery, the Sources page, the CLI and reply limits all read it, so adding a network is one
module plus its tests.

Connectors do no database work: they are given a plain config (secrets already decrypted) and a cursor, and
return posts, a cursor, an account or a sent reply. Errors say what the network said, in words, and never carry
a secret.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from triage.intake.sources.results import FetchResult, SourceError

__all__ = ["Account", "ConfigField", "Connector", "FetchResult", "OutgoingReply", "RateLimited", "ReplyRefused",
           "SentReply", "SourceError", "TransientReplyError"]


@dataclass(frozen=True)
class ConfigField:
    """One setting of a connected account, as the form, the CLI (`--set name=value`) and the config store see it.

    `secret` fields are encrypted at rest and never shown again; `kind` is "text", "url", "list" (comma or
    newline separated → list of strings) or "number".
    """

    name: str
    label: str
    secret: bool = False
    required: bool = True
    kind: str = "text"
    help: str = ""
    default: Any = None


@dataclass(frozen=True)
class Account:
    """Who the credentials belong to, as the network says: shown on connect, and the brand's own handle."""

    handle: str
    display_name: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class OutgoingReply:
    """A reply to post under a mention: what the connector needs of the mention and the text."""

    text: str
    reply_id: int  # our Response id: an idempotency key where the network takes one
    external_id: str  # the mention's id on the network
    url: str | None
    author_handle: str
    network_data: dict[str, Any] = field(default_factory=dict)  # what the connector stored with the post


@dataclass(frozen=True)
class SentReply:
    """The posted reply: its id and address on the network."""

    external_id: str
    url: str | None = None


class RateLimited(SourceError):
    """The network said wait: poll again (or send again) at `until`, keeping the cursor."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


class TransientReplyError(Exception):
    """Sending failed in a way that may pass (network down, 5xx, rate limit): the job retries."""


class ReplyRefused(Exception):
    """The network will never take this reply (post deleted, no permission, too long): failed, with Retry."""


class Connector:
    """A network. Subclasses set the class attributes and implement the methods their network supports."""

    kind: ClassVar[str]  # stored as Source.kind: "mastodon"
    label: ClassVar[str]  # "Mastodon"
    network: ClassVar[str]  # the network name posts carry (Post.network)
    fields: ClassVar[tuple[ConfigField, ...]] = ()
    polled: ClassVar[bool] = True  # fetched on a schedule (False: pushed or imported)
    connectable: ClassVar[bool] = False  # leads connect it on the Sources page / `triage source connect`
    reply_limit: ClassVar[int | None] = None  # characters a reply may have; None: replies are posted by hand
    min_interval: ClassVar[int] = 60  # seconds between polls at the fastest
    secret_cursor_keys: ClassVar[tuple[str, ...]] = ()  # cursor entries that work as a login: sealed at rest too

    def verify(self, config: dict[str, Any]) -> Account:
        """Check the credentials against the network; raise SourceError with the network's reason."""
        raise SourceError(f"{self.label} accounts cannot be checked")

    def fetch(self, config: dict[str, Any], cursor: dict[str, Any]) -> FetchResult:
        """New posts since `cursor` (oldest first) and the next cursor; RateLimited or SourceError as a whole."""
        raise SourceError(f"{self.label} sources are not polled")

    def send_reply(self, config: dict[str, Any], reply: OutgoingReply) -> SentReply:
        """Post `reply` threaded under its mention as the connected account."""
        raise ReplyRefused(f"{self.label} replies are posted by hand")
