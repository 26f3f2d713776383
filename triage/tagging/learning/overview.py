"""What leads see on the model page: the active model, the versions before it, and the labels gathered since."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.config import Settings
from triage.models import ModelVersion
from triage.tagging.learning.examples import TASKS, label_counts
from triage.tagging.learning.labels import stored_examples
from triage.tagging.learning.versions import active_version, labels_waiting


@dataclass
class Overview:
    """The model page: the active model, the versions before it, and the labels gathered since."""

    active: ModelVersion | None
    versions: list[ModelVersion]
    waiting: int
    label_counts: dict[str, dict[str, int]]
    min_per_class: int

    def tasks(self) -> list[dict[str, Any]]:
        """Per task, for the active model: who decides (learned or rules), its figures, its labels and what it mixes
        up most."""
        scores = (self.active.scores if self.active else {}) or {}
        counts = (self.active.counts if self.active else {}) or {}
        return [{"name": task, "classes": classes, "score": scores.get(task) or {}, "counts": counts.get(task) or {},
                 "now": self.label_counts[task], "mixups": mixups(classes, (scores.get(task) or {}).get("confusion"))}
                for task, classes in TASKS.items()]


def mixups(classes: Sequence[str], confusion: list[list[int]] | None, *, top: int = 3) -> list[dict[str, Any]]:
    """The model's most frequent mistakes in cross-validation, as (label, taken for, how many, share of the label's
    texts), most first; what more labels would help with."""
    if not confusion:
        return []
    out: list[dict[str, Any]] = [
        {"label": classes[i], "taken_for": classes[j], "n": row[j], "share": row[j] / max(sum(row), 1)}
        for i, row in enumerate(confusion) for j in range(len(classes)) if i != j and row[j]
    ]
    return sorted(out, key=lambda m: (-m["n"], -m["share"]))[:top]


def overview(session: Session, settings: Settings, *, history: int = 10) -> Overview:
    """The model page's figures, with the `history` newest versions."""
    versions = list(session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc()).limit(history)))
    return Overview(active=active_version(session), versions=versions, waiting=labels_waiting(session),
                    label_counts=label_counts(stored_examples(session)), min_per_class=settings.min_labels_per_class)
