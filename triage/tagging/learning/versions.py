"""Model versions in the database: training on every stored label and keeping the result, and every host following
the active version.

Each version keeps its model file's bytes (the newest KEEP_PAYLOADS of them), so a worker on another host can write
the file into its own model store (`follow_active`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from triage.config import Settings
from triage.db import utcnow
from triage.models import Label, ModelVersion
from triage.tagging.learning.labels import stored_examples
from triage.tagging.learning.model import write_atomically
from triage.tagging.learning.store import activate, model_path, pointer
from triage.tagging.learning.training import TrainResult, fit

log = logging.getLogger(__name__)

KEEP_PAYLOADS = 3  # model versions whose file stays in the database (a few MB each)


def active_version(session: Session) -> ModelVersion | None:
    """The version tagging uses, or None: the rules."""
    return session.scalars(select(ModelVersion).where(ModelVersion.active.is_(True))
                           .order_by(ModelVersion.id.desc()).limit(1)).first()


def labels_waiting(session: Session) -> int:
    """Labels stored since the active model was trained (all labels when there is none)."""
    current = active_version(session)
    query = select(func.count(Label.id))
    if current is not None:
        query = query.where(Label.created_at > current.created_at)
    return session.scalar(query) or 0


def train(session: Session, settings: Settings, *, min_per_class: int | None = None,
          now: datetime | None = None) -> tuple[ModelVersion | None, TrainResult]:
    """Train on every stored label; keep and activate the model if any task was learned. Commits."""
    now = now or utcnow()
    min_per_class = settings.min_labels_per_class if min_per_class is None else min_per_class
    result = fit(stored_examples(session, until=now), min_per_class=min_per_class)
    if result.model is None:
        return None, result
    version = ModelVersion(created_at=now, path="", label_count=result.label_count, counts=result.counts,
                           scores={**result.scores, "min_per_class": min_per_class}, active=False)
    session.add(version)
    session.flush()
    result.model.version = version.id
    result.model.payload["version"] = version.id
    path = model_path(settings.instance_path, version.id)
    version.payload = result.model.dumps()  # for the other hosts' workers (follow_active)
    write_atomically(path, version.payload)
    version.path = str(path)
    session.execute(update(ModelVersion).where(ModelVersion.id != version.id).values(active=False))
    kept = select(ModelVersion.id).order_by(ModelVersion.id.desc()).limit(KEEP_PAYLOADS)
    session.execute(update(ModelVersion).where(ModelVersion.id.not_in(kept), ModelVersion.payload.is_not(None))
                    .values(payload=None))
    version.active = True
    session.commit()
    activate(settings.instance_path, version.id, path)
    return version, result


def follow_active(session: Session, instance: Path) -> int | None:
    """Make this host tag with the database's active model: when this host's model store does not hold it (a
    worker on another host trained it, or this host is new), write it from the database and point at it.

    One small query per call; workers call it once per batch, so every host follows a retrain within a batch.
    Returns the active version, or None when the database has none (the host's store is then left alone).
    """
    version = session.scalar(select(ModelVersion.id).where(ModelVersion.active.is_(True))
                             .order_by(ModelVersion.id.desc()).limit(1))
    if version is None:
        return None
    named = pointer(instance)
    if named is not None and named.get("version") == version and Path(named.get("path", "")).is_file():
        return version
    payload = session.scalar(select(ModelVersion.payload).where(ModelVersion.id == version))
    if payload is None:  # trained before models were kept in the database: this host keeps what it has
        return version
    path = model_path(instance, version)
    write_atomically(path, payload)
    activate(instance, version, path)
    log.info("now tagging with learned model v%s, fetched from the database", version)
    return version
