"""The network connectors, found by looking: every module of this package that defines `CONNECTOR` (`base.py`).

Adding a network is adding its module; nothing here lists them. The poll job, reply delivery, the Sources page
and reply limits all ask this registry.
"""
from __future__ import annotations

import importlib
import pkgutil

from triage.core.vocabulary import reply_limit as fallback_reply_limit
from triage.intake.sources.base import Connector

_NOT_CONNECTORS = {"base", "results", "demo_phrases"}


def _discover() -> dict[str, Connector]:
    found: dict[str, Connector] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name in _NOT_CONNECTORS or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        candidate = getattr(module, "CONNECTOR", None)
        if isinstance(candidate, Connector):
            found[candidate.kind] = candidate
    return found


CONNECTORS: dict[str, Connector] = _discover()


def connector(kind: str) -> Connector | None:
    """The connector of a source kind; None for kinds without one (file imports, the push API)."""
    return CONNECTORS.get(kind)


def polled(kind: str) -> bool:
    """Whether sources of `kind` are fetched on a schedule (the others are pushed or imported)."""
    found = CONNECTORS.get(kind)
    return found is not None and found.polled


def polled_kinds() -> list[str]:
    return sorted(kind for kind, found in CONNECTORS.items() if found.polled)


def connectable() -> list[Connector]:
    """The networks a lead can connect an account of, in the order the Sources page shows them."""
    return sorted((c for c in CONNECTORS.values() if c.connectable), key=lambda c: c.label)


def reply_limit(network: str, kind: str | None = None) -> int:
    """The longest reply a mention on `network` (from a source of `kind`) may get, in characters.

    The network's connector knows it; posts of a network without one (imported, pushed) use the shared table.
    """
    own = CONNECTORS.get(kind) if kind else None
    candidates = [own] if own is not None else []
    candidates += [c for c in CONNECTORS.values() if c is not own]
    for found in candidates:
        if found.network == network and found.reply_limit is not None:
            return found.reply_limit
    return fallback_reply_limit(network)


__all__ = ["CONNECTORS", "connectable", "connector", "polled", "polled_kinds", "reply_limit"]
