"""Labels in the database: people's corrections (stored by `workflow.relabel`) and imported labelled files, and the
training examples they make."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from triage.core.audit import record
from triage.core.roles import LEADS, require
from triage.db import utcnow
from triage.models import Label, User
from triage.tagging.learning.examples import TASKS, Example

NAME_LIMIT = 200  # the audit event's `to_state`, where the file's name is shown


def import_labels(session: Session, actor: User | None, examples: Sequence[Example], *, name: str,
                  now: datetime | None = None) -> int:
    """Store a labelled file's labels (origin "import") and audit the import; return how many. The caller commits.

    `name` is the file's, as people should read it in the audit log; `actor=None` is the operator at the console.
    """
    require(actor, LEADS, "import labels")
    now = now or utcnow()
    rows = [{"mention_id": None, "text": e.text, "sentiment": e.sentiment, "intent": e.intent, "origin": "import",
             "user_id": actor.id if actor else None, "created_at": now} for e in examples]
    if rows:
        session.execute(insert(Label), rows)
    per_task = {task: sum(getattr(e, task) is not None for e in examples) for task in TASKS}
    what = ", ".join(f"{n:,} {task}" for task, n in per_task.items() if n)
    event = record(session, actor, "imported labels", f"{len(rows):,} labelled texts imported ({what or 'no labels'})",
                   now=now, labels=len(rows), **per_task)
    event.to_state = name[:NAME_LIMIT]
    return len(rows)


def stored_examples(session: Session, *, until: datetime | None = None) -> list[Example]:
    """Training examples from stored labels: per mention (or per text, for imports) the latest verdict per task."""
    query = select(Label.mention_id, Label.text, Label.sentiment, Label.intent).order_by(Label.id)
    if until is not None:
        query = query.where(Label.created_at <= until)
    latest: dict[tuple[str, Any], dict[str, str | None]] = {}
    for mention_id, text, sentiment, intent in session.execute(query):
        key = ("mention", mention_id) if mention_id is not None else ("text", text.strip())
        entry = latest.setdefault(key, {"text": text, "sentiment": None, "intent": None})
        if sentiment is not None:
            entry["sentiment"] = sentiment
        if intent is not None:
            entry["intent"] = intent
    return [Example(str(e["text"]), e["sentiment"], e["intent"]) for e in latest.values()]
