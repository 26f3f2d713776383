"""Create or upgrade the database schema with Alembic."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from triage.db import normalise_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from triage.db import get_engine

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def readiness(url: str) -> str | None:
    """None when the database is at this triage's newest revision, else one sentence saying what to run.

    Creates nothing: connecting to a SQLite file that does not exist would leave an empty one behind."""
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).exists():
        return f"there is no database at {parsed.database} yet: run `triage init` first (`make run` does it too)"
    try:
        current = current_revision(url)
    except SQLAlchemyError as exc:
        return f"cannot read the database: {str(exc).splitlines()[0][:300]}"
    script = ScriptDirectory.from_config(alembic_config(url))
    heads = set(script.get_heads())
    if current in heads:
        return None
    if current is None:
        return "the database has no tables yet: run `triage init` first (`make run` does it too)"
    known = {rev.revision for rev in script.walk_revisions()}
    if current in known:
        return f"the database is at revision {current}, this triage needs {', '.join(sorted(heads))}: " \
               "run `triage init` to upgrade it"
    return f"the database is at revision {current}, newer than this triage knows: upgrade triage"
