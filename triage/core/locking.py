"""The write lock and conditional statements: what a domain function reads stays true until it writes."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from triage.db import is_postgres


def write_lock(session: Session) -> None:
    """On SQLite, take the database's write lock now, so what we read is still true when we write.

    PostgreSQL needs nothing here: its row locks and conditional UPDATEs decide races.
    """
    if is_postgres(session):
        return
    raw = session.connection().connection.driver_connection
    if raw is not None and not raw.in_transaction:
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def rows_changed(session: Session, statement: Executable) -> int:
    """Run a conditional UPDATE or DELETE; how many rows it changed (0: its condition no longer held)."""
    # Session.execute is typed as returning a plain Result; a DML statement's is a CursorResult, which has rowcount.
    return cast(CursorResult[Any], session.execute(statement)).rowcount
