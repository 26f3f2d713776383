"""What the settings pages share: a blueprint behind the login, the role check, and running a change or showing
its refusal on the form it came from."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, request
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from triage.core.errors import Forbidden, Invalid, NotFound
from triage.people.accounts import AccountError
from triage.web.context import db

T = TypeVar("T")
Page = tuple[str, int]  # a rendered page and its status
Render = Callable[..., Page]


class InputError(ValueError):
    """Form input that was refused before reaching the domain; the message is shown to the person as written."""


class Refused(Exception):
    """A change was refused: the blueprint answers with `page`, its form re-rendered with the reason (400)."""

    def __init__(self, page: Page):
        super().__init__("refused")
        self.page = page


def blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint whose every page needs a login (each view then checks the role with `allow`), and which answers
    a `Refused` change with its page."""
    bp = Blueprint(name, import_name)

    @bp.before_request
    @login_required
    def _logged_in() -> None:
        """Logged-out visitors go to the login page."""

    @bp.errorhandler(Refused)
    def _refused(exc: Refused) -> Page:
        return exc.page

    return bp


def allow(*roles: str) -> None:
    """403 unless the person holds one of `roles` (admins always may; no roles: admins only)."""
    if not current_user.can(*roles):
        abort(403)


def refuse(message: str, render: Render, *args: Any) -> Refused:
    """Roll back and re-render the form's page with the message and what was typed, as 400: raise what this
    returns."""
    db().rollback()
    flash(message[:1].upper() + message[1:], "error")
    return Refused(render(*args, form=request.form, status=400))


def changed(change: Callable[[], T], render: Render, *args: Any, taken: str | None = None) -> T:
    """Run a domain change and commit it, returning its result; a refusal re-renders the form (`render(*args)`)
    with the reason, as 400; 403 and 404 as such.

    `taken`: the refusal when a unique row loses a race with someone saving the same one (IntegrityError).
    """
    session = db()
    try:
        result = change()
        session.commit()
    except (InputError, Invalid, AccountError) as exc:
        raise refuse(str(exc), render, *args) from None
    except (Forbidden, NotFound) as exc:
        session.rollback()
        abort(exc.status)
    except IntegrityError:
        if taken is None:
            raise
        raise refuse(taken, render, *args) from None
    return result


def field(name: str) -> str:
    """A form field as typed ("" when absent): the domain function reads and checks it."""
    return request.form.get(name, "")


__all__ = ["InputError", "Page", "Refused", "allow", "blueprint", "changed", "field", "refuse"]
