"""Learning from the team: train sentiment and intent models from labels, keep them, and tag with the newest.

Labels are people's corrections (stored by `workflow.relabel`) and imported labelled files. A model is a
TF-IDF of the words plus the rules' own evidence (polarity, failures named, gratitude, questions, the rules'
tags...), fed to one logistic regression per task. The rules' evidence carries it on posts unlike anything
it learned from; the words let it pick up how this brand's customers write. A task with fewer than
`min_per_class` labels in any class is not learned: the rules keep tagging it.

Models live in `<instance>/models/`; `active.json` there names the active one, so tagging finds a new model
with one `stat` per batch and never asks the database.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from triage.classifier import INTENTS, SENTIMENTS, Evidence, Tags, tidy_cues
from triage.config import Settings, load_settings
from triage.db import utcnow
from triage.intent import classify_intent
from triage.models import Label, ModelVersion

log = logging.getLogger(__name__)

TASKS: dict[str, tuple[str, ...]] = {"sentiment": SENTIMENTS, "intent": INTENTS}
FORMAT = 1  # bump when the features change: older model files are then refused, and retraining replaces them
POINTER = "active.json"
CV_FOLDS = 5
# The rules' evidence is a handful of dense columns beside thousands of sparse word columns; weighting them up
# lets the regression lean on them without a large penalty, which is what keeps it sane on unfamiliar posts.
RULE_WEIGHT = 2.0
REGULARISATION_C = 4.0

_SQUEEZE_RE = re.compile(r"(\w)\1{2,}")
_NUMBER_RE = re.compile(r"\d+")
# Words (with inner apostrophes), and "?" / "!" and emoji as tokens of their own.
TOKEN_PATTERN = r"[^\W\d_][\w']*|[?!]|[^\w\s.,;:'\"()\[\]{}<>/\\|&*+=~`^%$#@-]"


class LabelFileError(ValueError):
    """A labelled file that cannot be used; the message names the line."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text; either label may be missing."""

    text: str
    sentiment: str | None = None
    intent: str | None = None


@dataclass
class TrainResult:
    """What training produced: the model (None when no task had enough labels) and what it learned from."""

    model: LearnedModel | None
    label_count: int
    counts: dict[str, dict[str, int]]
    scores: dict[str, dict[str, Any]]
    min_per_class: int

    def summary(self) -> list[str]:
        """One line per task, as people read it."""
        return [describe_task(task, self.counts.get(task, {}), self.scores.get(task, {})) for task in TASKS]


def describe_task(task: str, counts: dict[str, int], score: dict[str, Any]) -> str:
    per_class = ", ".join(f"{c} {counts.get(c, 0)}" for c in TASKS[task])
    if score.get("learned"):
        per_f1 = ", ".join(f"{c} {score['per_class'][c]:.2f}" for c in TASKS[task])
        return (f"{task}: learned, cross-validated macro-F1 {score['macro_f1']:.3f} ({per_f1}); "
                f"labels: {per_class}")
    return f"{task}: rules ({score.get('reason', 'not trained')}); labels: {per_class}"


# --- labelled files --------------------------------------------------------------------------------------------

def parse_label_line(line: str, where: str) -> Example | None:
    """One JSON Lines record {"text", "sentiment"?, "intent"?}; None for a blank line."""
    if not line.strip():
        return None
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError) as exc:
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise LabelFileError(f"{where}: invalid JSON ({why})") from None
    if not isinstance(rec, dict):
        raise LabelFileError(f"{where}: not a JSON object")
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise LabelFileError(f'{where}: missing "text" string' if text is None else f'{where}: "text" must be a '
                             "non-empty string")
    labels = {}
    for task, classes in TASKS.items():
        value = rec.get(task)
        if value is None:
            continue
        if value not in classes:
            raise LabelFileError(f'{where}: "{task}" must be one of {", ".join(classes)}, not {value!r}')
        labels[task] = value
    if not labels:
        raise LabelFileError(f'{where}: no label: give "sentiment" or "intent"')
    return Example(text, labels.get("sentiment"), labels.get("intent"))


def read_label_file(path: Path) -> list[Example]:
    """All records of a labelled JSON Lines file; the first bad line raises LabelFileError naming it."""
    examples = []
    try:
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                example = parse_label_line(line, f"{path}: line {lineno}")
                if example is not None:
                    examples.append(example)
    except UnicodeDecodeError as exc:
        raise LabelFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise LabelFileError(f"{path}: {exc.strerror or exc}") from None
    if not examples:
        raise LabelFileError(f"{path}: no labelled records")
    return examples


# --- features --------------------------------------------------------------------------------------------------

def _words_of(ev: Evidence) -> str:
    # Handles and links are dropped (clean_for_lexicon) so a model does not learn one brand's name or one link.
    return _NUMBER_RE.sub("0", _SQUEEZE_RE.sub(r"\1\1", ev.body.lower().replace("\u2019", "'")))


RULE_FEATURES = (
    "polarity", "subjectivity", *(f"rules sentiment {s}" for s in SENTIMENTS), "sentiment confidence",
    *(f"rules intent {i}" for i in INTENTS), "intent confidence", "failures", "trouble", "gratitude", "praise",
    "sarcasm", "emoji", "question", "question mark", "asks about failure", "problem resolved", "brand reply",
    "shouting", "no words",
)


def _rule_row(ev: Evidence) -> list[float]:
    t, s = ev.tags, ev.sentiment
    cues = t.cues
    row = [t.polarity, t.subjectivity]
    row += [float(t.sentiment == c) for c in SENTIMENTS] + [t.sentiment_confidence]
    row += [float(t.intent == c) for c in INTENTS] + [t.intent_confidence]
    if s is None:
        return row + [0.0] * (len(RULE_FEATURES) - len(row))
    row += [
        min(len(s.failures), 3) / 3, min(s.trouble, 3) / 3, float(s.gratitude), float(s.praise), float(s.sarcasm),
        max(-2, min(s.emoji_score, 2)) / 2, float(ev.question is not None), float(ev.question == "question mark"),
        float(any(c.startswith("asks about failure") for c in cues)), float("problem resolved" in cues),
        float("brand reply" in cues), float("shouting" in cues), float(t.language is None),
    ]
    return row


def _rules_intent_given(ev: Evidence, sentiment: str) -> str:
    """The intent rules, told the learned sentiment instead of the rules' own."""
    if ev.sentiment is None:
        return ev.tags.intent
    return classify_intent(ev.text, replace(ev.sentiment, label=sentiment), ev.question)[0]


def _intent_extra(evidence: Sequence[Evidence], sentiment_proba, sentiment_classes: Sequence[str]):
    """Intent's extra columns: the sentiment model's probabilities and the intent rules given its verdict."""
    import numpy as np

    rows = []
    for ev, proba in zip(evidence, sentiment_proba, strict=True):
        label = sentiment_classes[int(np.argmax(proba))]
        ordered = [proba[list(sentiment_classes).index(c)] for c in SENTIMENTS]
        rules = _rules_intent_given(ev, label)
        rows.append(ordered + [float(rules == c) for c in INTENTS])
    return np.asarray(rows, dtype=float).reshape(len(rows), len(SENTIMENTS) + len(INTENTS))


def _matrix(vectorizer, evidence: Sequence[Evidence], extra=None):
    import numpy as np
    from scipy import sparse

    dense = np.asarray([_rule_row(ev) for ev in evidence], dtype=float).reshape(len(evidence), len(RULE_FEATURES))
    if extra is not None:
        dense = np.hstack([dense, extra])
    words = vectorizer.transform([_words_of(ev) for ev in evidence])
    return sparse.hstack([words, sparse.csr_matrix(dense * RULE_WEIGHT)], format="csr")


def _new_vectorizer(n_texts: int):
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, 2), min_df=2 if n_texts >= 200 else 1,
                           sublinear_tf=True, lowercase=False, dtype=np.float32)


def _new_classifier():
    from sklearn.linear_model import LogisticRegression

    # Balanced weights: a class people label rarely (advocacy, say) still counts as much in the macro score.
    return LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=3000)


# --- the model -------------------------------------------------------------------------------------------------

class LearnedModel:
    """A trained model: one regression per learned task over words plus the rules' evidence."""

    def __init__(self, payload: dict):
        if payload.get("format") != FORMAT:
            raise ValueError(f"model file format {payload.get('format')!r}, this triage reads {FORMAT}; retrain")
        self.payload = payload
        self.version: int | None = payload.get("version")
        self.tasks: dict[str, dict] = payload["tasks"]  # task -> {"vectorizer", "classifier"}

    @property
    def name(self) -> str:
        return f"learned model v{self.version}" if self.version is not None else "learned model"

    def learned(self, task: str) -> bool:
        return task in self.tasks

    def _proba(self, task: str, evidence: Sequence[Evidence], extra=None):
        part = self.tasks[task]
        return part["classifier"].predict_proba(_matrix(part["vectorizer"], evidence, extra))

    def predict_proba(self, evidence: Sequence[Evidence]) -> dict[str, tuple[list[str], Any]]:
        """Per learned task: (classes, probabilities, one row per text)."""
        out: dict[str, tuple[list[str], Any]] = {}
        if "sentiment" in self.tasks:
            out["sentiment"] = (list(self.tasks["sentiment"]["classifier"].classes_),
                                self._proba("sentiment", evidence))
        if "intent" in self.tasks:
            extra = None
            if self.tasks["intent"].get("uses_sentiment"):
                extra = _intent_extra(evidence, out["sentiment"][1], out["sentiment"][0])
            out["intent"] = (list(self.tasks["intent"]["classifier"].classes_), self._proba("intent", evidence, extra))
        return out

    def tag(self, evidence: Sequence[Evidence]) -> list[Tags]:
        """Tags for texts the rules have analysed; posts the rules set aside (not English) keep the rules' tags."""
        import numpy as np

        analysed = [i for i, ev in enumerate(evidence) if ev.sentiment is not None]
        result = [ev.tags for ev in evidence]
        if not analysed or not self.tasks:
            return result
        subset = [evidence[i] for i in analysed]
        proba = self.predict_proba(subset)
        decided = [t for t in TASKS if t in proba]
        cue = f"{self.name} ({', '.join(decided)})"
        for row, (i, ev) in enumerate(zip(analysed, subset, strict=True)):
            t = ev.tags
            sentiment, s_conf, polarity = t.sentiment, t.sentiment_confidence, t.polarity
            intent, i_conf = t.intent, t.intent_confidence
            if "sentiment" in proba:
                classes, p = proba["sentiment"]
                best = int(np.argmax(p[row]))
                sentiment, s_conf = classes[best], float(p[row][best])
                polarity = float(p[row][classes.index("positive")] - p[row][classes.index("negative")])
            if "intent" in proba:
                classes, p = proba["intent"]
                best = int(np.argmax(p[row]))
                intent, i_conf = classes[best], float(p[row][best])
            elif sentiment != t.sentiment:
                intent = _rules_intent_given(ev, sentiment)  # the rules, told the better sentiment
            if t.language is None:  # emoji, links or handles only: any tag stays a guess
                s_conf, i_conf = min(s_conf, 0.4), min(i_conf, 0.3)
            result[i] = replace(
                t, sentiment=sentiment, sentiment_confidence=round(s_conf, 3), polarity=round(polarity, 4),
                intent=intent, intent_confidence=round(i_conf, 3), cues=tidy_cues((cue, *t.cues)),
            )
        return result

    def save(self, path: Path) -> None:
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        joblib.dump(self.payload, tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> LearnedModel:
        """Read a model file (a pickle: load only files this install or someone you trust wrote)."""
        import joblib

        payload = joblib.load(path)
        if not isinstance(payload, dict):
            raise ValueError("not a triage model file")
        return cls(payload)


# --- training --------------------------------------------------------------------------------------------------

def _counts(examples: Sequence[Example]) -> dict[str, dict[str, int]]:
    counts = {}
    for task, classes in TASKS.items():
        seen = Counter(getattr(e, task) for e in examples if getattr(e, task) is not None)
        counts[task] = {c: seen.get(c, 0) for c in classes}
    return counts


def _folds(labels: Sequence[str]) -> int:
    return max(2, min(CV_FOLDS, min(Counter(labels).values())))


def _fit_task(evidence: Sequence[Evidence], labels: list[str], extra=None) -> tuple[dict, dict, Any]:
    """Fit one task; return (its part of the model, its cross-validated scores, its out-of-fold probabilities)."""
    import numpy as np
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    classes = sorted(set(labels))
    oof = np.zeros((len(labels), len(classes)))
    splitter = StratifiedKFold(n_splits=_folds(labels), shuffle=True, random_state=0)
    for train_idx, test_idx in splitter.split(np.zeros(len(y)), y):
        vec = _new_vectorizer(len(train_idx)).fit([_words_of(evidence[i]) for i in train_idx])
        sub_extra = None if extra is None else extra[train_idx]
        clf = _new_classifier().fit(_matrix(vec, [evidence[i] for i in train_idx], sub_extra), y[train_idx])
        test_extra = None if extra is None else extra[test_idx]
        proba = clf.predict_proba(_matrix(vec, [evidence[i] for i in test_idx], test_extra))
        for col, c in enumerate(clf.classes_):
            oof[test_idx, classes.index(c)] = proba[:, col]
    predicted = [classes[i] for i in oof.argmax(axis=1)]
    per_class = f1_score(y, predicted, labels=classes, average=None, zero_division=0)
    scores = {"learned": True, "macro_f1": round(float(np.mean(per_class)), 4),
              "per_class": {c: round(float(f), 4) for c, f in zip(classes, per_class, strict=True)},
              "folds": splitter.get_n_splits(), "accuracy": round(float(np.mean(np.asarray(predicted) == y)), 4)}
    vec = _new_vectorizer(len(labels)).fit([_words_of(ev) for ev in evidence])
    clf = _new_classifier().fit(_matrix(vec, evidence, extra), y)
    return {"vectorizer": vec, "classifier": clf}, scores, oof


def fit(examples: Sequence[Example], *, min_per_class: int = 20) -> TrainResult:
    """Train every task that has at least `min_per_class` labels in each of its classes."""
    from triage.classifier import analyse

    examples = list(examples)
    counts = _counts(examples)
    scores: dict[str, dict[str, Any]] = {}
    tasks: dict[str, dict] = {}
    evidence_by_text: dict[str, Evidence] = {}

    def evidence_for(texts: list[str]) -> list[Evidence]:
        for text in texts:
            if text not in evidence_by_text:
                evidence_by_text[text] = analyse(text)
        return [evidence_by_text[t] for t in texts]

    sentiment_oof: dict[str, Any] = {}
    for task in TASKS:
        short = [c for c, n in counts[task].items() if n < min_per_class]
        if short:
            scores[task] = {"learned": False, "reason": f"needs {min_per_class} labels per class; "
                            + ", ".join(f"{c} has {counts[task][c]}" for c in short)}
            continue
        rows = [e for e in examples if getattr(e, task) is not None]
        texts, labels = [e.text for e in rows], [getattr(e, task) for e in rows]
        evidence = evidence_for(texts)
        extra = None
        if task == "intent" and "sentiment" in tasks:
            extra = _intent_features_for_training(tasks["sentiment"], evidence, texts, sentiment_oof)
        part, scores[task], oof = _fit_task(evidence, labels, extra)
        part["uses_sentiment"] = extra is not None
        tasks[task] = part
        if task == "sentiment":
            classes = sorted(set(labels))
            sentiment_oof.update({t: oof[i] for i, t in enumerate(texts)})
            sentiment_oof["__classes__"] = classes
    model = None
    if tasks:
        model = LearnedModel({"format": FORMAT, "version": None, "tasks": tasks,
                              "trained_at": utcnow().isoformat(), "counts": counts, "scores": scores})
    return TrainResult(model, len(examples), counts, scores, min_per_class)


def _intent_features_for_training(sentiment_part: dict, evidence: list[Evidence], texts: list[str],
                                  sentiment_oof: dict[str, Any]):
    """Sentiment probabilities for the intent texts: out-of-fold where the sentiment model trained on the text,
    so intent learns how far to trust sentiment on texts it has not seen."""
    import numpy as np

    classes = sentiment_oof["__classes__"]
    full = sentiment_part["classifier"].predict_proba(_matrix(sentiment_part["vectorizer"], evidence))
    full_classes = list(sentiment_part["classifier"].classes_)
    proba = np.asarray([
        sentiment_oof[t] if t in sentiment_oof else [full[i][full_classes.index(c)] for c in classes]
        for i, t in enumerate(texts)
    ])
    return _intent_extra(evidence, proba, classes)


# --- labels in the database ------------------------------------------------------------------------------------

def import_labels(session: Session, examples: Iterable[Example], *, user_id: int | None = None,
                  now: datetime | None = None) -> int:
    """Store imported labels (origin "import"); the caller commits."""
    now = now or utcnow()
    rows = [{"mention_id": None, "text": e.text, "sentiment": e.sentiment, "intent": e.intent, "origin": "import",
             "user_id": user_id, "created_at": now} for e in examples]
    if rows:
        session.execute(Label.__table__.insert(), rows)
    return len(rows)


def stored_examples(session: Session, *, until: datetime | None = None) -> list[Example]:
    """Training examples from stored labels: per mention (or per text, for imports) the latest verdict per task."""
    query = select(Label.mention_id, Label.text, Label.sentiment, Label.intent).order_by(Label.id)
    if until is not None:
        query = query.where(Label.created_at <= until)
    latest: dict[tuple, dict[str, str | None]] = {}
    for mention_id, text, sentiment, intent in session.execute(query):
        key = ("mention", mention_id) if mention_id is not None else ("text", text.strip())
        entry = latest.setdefault(key, {"text": text, "sentiment": None, "intent": None})
        if sentiment is not None:
            entry["sentiment"] = sentiment
        if intent is not None:
            entry["intent"] = intent
    return [Example(e["text"], e["sentiment"], e["intent"]) for e in latest.values()]


def active_version(session: Session) -> ModelVersion | None:
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
    path = models_dir(settings.instance_path) / f"model-{version.id}.joblib"
    result.model.save(path)
    version.path = str(path)
    session.execute(update(ModelVersion).where(ModelVersion.id != version.id).values(active=False))
    version.active = True
    session.commit()
    activate(settings.instance_path, version.id, path)
    return version, result


# --- the model store -------------------------------------------------------------------------------------------

def models_dir(instance: Path) -> Path:
    return instance / "models"


def activate(instance: Path, version: int | None, path: Path) -> None:
    """Point tagging at a model file (atomically: a reader sees the old pointer or the new one)."""
    directory = models_dir(instance)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{POINTER}.{os.getpid()}"
    tmp.write_text(json.dumps({"version": version, "path": str(path)}))
    os.replace(tmp, directory / POINTER)


def deactivate(instance: Path) -> None:
    """Tag with the rules again (the model files stay)."""
    (models_dir(instance) / POINTER).unlink(missing_ok=True)


@dataclass
class _Loaded:
    key: tuple | None = None
    model: LearnedModel | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_loaded = _Loaded()


def active_model(instance: Path | None = None) -> LearnedModel | None:
    """The active model, loaded once and again only when the pointer file changes; None: tag with the rules."""
    instance = instance or load_settings().instance_path
    pointer = models_dir(instance) / POINTER
    try:
        st = pointer.stat()
        key: tuple | None = (str(pointer), st.st_mtime_ns, st.st_ino, st.st_size)
    except FileNotFoundError:
        key = None
    if key == _loaded.key:
        return _loaded.model
    with _loaded.lock:
        if key != _loaded.key:
            model = None
            if key is not None:
                try:
                    target = json.loads(pointer.read_text())
                    model = LearnedModel.load(Path(target["path"]))
                except Exception as exc:  # noqa: BLE001 - a broken model must not stop tagging: the rules take over
                    log.warning("cannot load the active model named in %s (%s); tagging with the rules", pointer, exc)
            _loaded.model, _loaded.key = model, key
        return _loaded.model


def rate_hint(scores: dict[str, Any]) -> str:
    """A short reading of a cross-validated macro-F1 for people (the model page)."""
    f1 = scores.get("macro_f1")
    if f1 is None or (isinstance(f1, float) and math.isnan(f1)):
        return ""
    return "good" if f1 >= 0.8 else "fair" if f1 >= 0.65 else "weak: more labels help"
