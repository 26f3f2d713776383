"""Teams: add and rename (admins), each audited. A team's hours and holidays are `sla.save_team_hours`."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage.core import audit
from triage.core.errors import Invalid, NotFound
from triage.core.roles import ADMIN, require
from triage.intake.posts import clean_text
from triage.models import Team, User

MAX_NAME = 80


def _require_admin(actor: User | None) -> None:
    require(actor, ADMIN, "change teams")


def _check_name(session: Session, raw: str, team_id: int | None = None) -> str:
    """The name as typed, cleaned: not empty, at most 80 characters, no other team's (in any case)."""
    name = clean_text(raw)
    if not name:
        raise Invalid("Team name is empty.")
    if len(name) > MAX_NAME:
        raise Invalid(f"Team name is too long: {len(name):,} characters, at most {MAX_NAME:,}.")
    clash = session.scalar(select(Team).where(func.lower(Team.name) == name.lower(), Team.id != (team_id or 0)))
    if clash is not None:
        raise Invalid(f"There is a team called “{clash.name}” already.")
    return name


def add_team(session: Session, actor: User | None, name: str) -> Team:
    """A new team, with no holidays yet."""
    _require_admin(actor)
    team = Team(name=_check_name(session, name), holidays=[])
    session.add(team)
    session.flush()
    audit.record(session, actor, "team added", f"team “{team.name}” added", team_id=team.id,
                 after={"name": team.name})
    return team


def rename_team(session: Session, actor: User, team_id: int, name: str) -> tuple[str, Team]:
    """Rename a team; returns its old name and the team."""
    _require_admin(actor)
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"there is no team {team_id}")
    old, team.name = team.name, _check_name(session, name, team_id)
    audit.record(session, actor, "team renamed", f"team “{old}” renamed to “{team.name}”", team_id=team.id,
                 before={"name": old}, after={"name": team.name})
    return old, team


__all__ = ["add_team", "rename_team"]
