"""Who may do what: the roles, the groups of them the domain names, and the one check every domain function makes.

Admins can do anything (`User.can`); supervisors read and audit; leads run the team's settings; agents and
leads work items. `actor=None` is the operator at the console (the `triage` command), who may do anything.
"""
from __future__ import annotations

from triage.core.errors import Forbidden
from triage.models.people import ROLES, User

ADMIN = ()  # `can()` with no roles: admins only
WORKERS = ("agent", "lead")  # roles that work items
LEADS = ("lead",)
READERS = ("lead", "supervisor")  # who reads the team's settings and reports
ESCALATION_ROLES = ("lead", "supervisor")  # who an item can be escalated to

__all__ = ["ADMIN", "ESCALATION_ROLES", "LEADS", "READERS", "ROLES", "WORKERS", "require"]


def require(actor: User | None, roles: tuple[str, ...], what: str, *, error: type[Exception] = Forbidden) -> None:
    """Refuse `actor` unless it holds one of `roles` (admins always may); `what` finishes "a ... cannot ..."."""
    if actor is None or actor.can(*roles):
        return
    needed = " or ".join(roles) if roles else "admin"
    article = "an" if actor.role[:1] in ("a", "e", "i", "o", "u") else "a"
    raise error(f"{article} {actor.role} cannot {what}; it needs the role {needed}")
