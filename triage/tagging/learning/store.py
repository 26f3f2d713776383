"""This host's model store: model files in `<instance>/models/`, and `active.json` there naming the active one.

Tagging finds a new model with one `stat` per batch and never asks the database (`active_model`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.config import load_settings
from triage.tagging.learning.model import LearnedModel

log = logging.getLogger(__name__)

POINTER = "active.json"


def models_dir(instance: Path) -> Path:
    """Where an instance keeps its model files."""
    return instance / "models"


def model_path(instance: Path, version: int) -> Path:
    """The file of a model version."""
    return models_dir(instance) / f"model-{version}.joblib"


def activate(instance: Path, version: int | None, path: Path) -> None:
    """Point tagging at a model file (atomically: a reader sees the old pointer or the new one)."""
    directory = models_dir(instance)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{POINTER}.{os.getpid()}"
    tmp.write_text(json.dumps({"version": version, "path": str(path)}))
    os.replace(tmp, directory / POINTER)


def pointer(instance: Path) -> dict[str, Any] | None:
    """What the pointer names ({"version", "path"}), or None when there is none or it cannot be read."""
    try:
        named = json.loads((models_dir(instance) / POINTER).read_text())
    except (OSError, ValueError):
        return None
    return named if isinstance(named, dict) else None


def deactivate(instance: Path) -> None:
    """Tag with the rules again (the model files stay)."""
    (models_dir(instance) / POINTER).unlink(missing_ok=True)


@dataclass
class _Loaded:
    key: tuple[str, int, int, int] | None = None
    model: LearnedModel | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_loaded = _Loaded()


def active_model(instance: Path | None = None) -> LearnedModel | None:
    """The active model, loaded once and again only when the pointer file changes; None: tag with the rules."""
    instance = instance or load_settings().instance_path
    path = models_dir(instance) / POINTER
    try:
        st = path.stat()
        key: tuple[str, int, int, int] | None = (str(path), st.st_mtime_ns, st.st_ino, st.st_size)
    except FileNotFoundError:
        key = None
    if key == _loaded.key:
        return _loaded.model
    with _loaded.lock:
        if key != _loaded.key:
            model = None
            if key is not None:
                try:
                    target = json.loads(path.read_text())
                    model = LearnedModel.load(Path(target["path"]))
                except Exception as exc:  # noqa: BLE001 - a broken model must not stop tagging: the rules take over
                    log.warning("cannot load the active model named in %s (%s); tagging with the rules", path, exc)
            _loaded.model, _loaded.key = model, key
        return _loaded.model
