"""What every view shares: the request's database session, the settings, and the Flask extensions.

Views import from here, never from the `triage.web` package, so the package that registers them is not imported
back by them.
"""
from __future__ import annotations

from flask import current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import AnonymousUserMixin, LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from triage.config import Settings
from triage.db import session_factory


class Anonymous(AnonymousUserMixin):
    """Someone not logged in: no role, so every `can()` says no. (`login_required` lets OPTIONS through.)"""

    role = None

    def can(self, *roles: str) -> bool:
        return False


login_manager = LoginManager()
login_manager.anonymous_user = Anonymous
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)


def db() -> Session:
    """The request's database session."""
    if "db" not in g:
        g.db = session_factory(current_app.config["TRIAGE"].database_url)()
    return g.db


def settings() -> Settings:
    return current_app.config["TRIAGE"]


@login_manager.user_loader
def _load_user(alternative_id: str):
    """Session and remember cookies carry "<id>:<generation>" (User.get_id); an ended generation logs nobody in."""
    from triage.people.accounts import user_for_session

    return user_for_session(db(), alternative_id)
