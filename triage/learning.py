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
SVM_C = 0.3
NB_ALPHA = 0.5
NB_CLIP = 10.0
COMBINER_C = 1.0
USE_WORDS_FOR_INTENT = True

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


def _rules_matrix(evidence: Sequence[Evidence]):
    import numpy as np

    return np.asarray([_rule_row(ev) for ev in evidence], dtype=float).reshape(len(evidence), len(RULE_FEATURES))


def _rules_intent_given(ev: Evidence, sentiment: str) -> str:
    """The intent rules, told the learned sentiment instead of the rules' own."""
    if ev.sentiment is None:
        return ev.tags.intent
    return classify_intent(ev.text, replace(ev.sentiment, label=sentiment), ev.question)[0]


def _sentiment_columns(evidence: Sequence[Evidence], proba):
    """Intent's extra columns: the sentiment model's probabilities (in SENTIMENTS order), the same when the text
    asks something (a negative question may be a complaint or a question: the labels say which), and the intent
    rules given the sentiment model's verdict."""
    import numpy as np

    rows = []
    for ev, p in zip(evidence, proba, strict=True):
        rules = _rules_intent_given(ev, SENTIMENTS[int(np.argmax(p))])
        asks = float(ev.question is not None)
        rows.append([*p, *(asks * x for x in p), *(float(rules == c) for c in INTENTS)])
    return np.asarray(rows, dtype=float).reshape(len(rows), 2 * len(SENTIMENTS) + len(INTENTS))


def _new_vectorizer(n_texts: int):
    from sklearn.feature_extraction.text import CountVectorizer

    # Word pairs as well as words: "not helpful", "no one", "thank you" carry what single words miss.
    return CountVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, 2), min_df=2 if n_texts >= 200 else 1,
                           lowercase=False)


class _WordModels:
    """Two views of the words: a linear SVM on TF-IDF, and naive Bayes on presence, which is surer on few labels."""

    def __init__(self, counts, y):
        import numpy as np
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.naive_bayes import MultinomialNB
        from sklearn.svm import LinearSVC

        self.tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
        self.svm = LinearSVC(C=SVM_C, class_weight="balanced").fit(self.tfidf.transform(counts), y)
        self.nb = MultinomialNB(alpha=NB_ALPHA).fit((counts > 0).astype(np.float64), y)

    def columns(self, counts):
        import numpy as np

        log_p = self.nb.predict_log_proba((counts > 0).astype(np.float64))
        # Relative, clipped log-probabilities: naive Bayes is overconfident, its ranking is what helps.
        nb = np.maximum(log_p - log_p.max(axis=1, keepdims=True), -NB_CLIP) / NB_CLIP
        return np.hstack([self.svm.decision_function(self.tfidf.transform(counts)), nb])


def _inner_columns(counts, y, folds: int):
    """Word-model columns for the training texts themselves, each from models that did not see it (stacking)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    n_classes = len(set(y))
    out = np.zeros((counts.shape[0], 2 * n_classes))
    for fit_idx, pred_idx in StratifiedKFold(folds, shuffle=True, random_state=1).split(np.zeros(len(y)), y):
        out[pred_idx] = _WordModels(counts[fit_idx], y[fit_idx]).columns(counts[pred_idx])
    return out


def _new_combiner():
    from sklearn.linear_model import LogisticRegression

    # Balanced weights: a class people label rarely (advocacy, say) counts as much in the macro score.
    return LogisticRegression(C=COMBINER_C, class_weight="balanced", max_iter=2000)


def _fit_stack(counts, rules, y, folds: int, *, use_words: bool = True) -> dict:
    import numpy as np

    if not use_words:
        return {"words": None, "combiner": _new_combiner().fit(rules, y)}
    combiner = _new_combiner().fit(np.hstack([_inner_columns(counts, y, folds), rules]), y)
    return {"words": _WordModels(counts, y), "combiner": combiner}


def _stack_proba(part: dict, counts, rules, classes: tuple[str, ...]):
    """Probabilities with columns in the order of `classes` (every class is learned: each had enough labels)."""
    import numpy as np

    columns = rules if part["words"] is None else np.hstack([part["words"].columns(counts), rules])
    proba = part["combiner"].predict_proba(columns)
    order = [list(part["combiner"].classes_).index(c) for c in classes]
    return proba[:, order]


# --- the model -------------------------------------------------------------------------------------------------

class LearnedModel:
    """A trained model: per learned task, word models stacked with the rules' evidence."""

    def __init__(self, payload: dict):
        if payload.get("format") != FORMAT:
            raise ValueError(f"model file format {payload.get('format')!r}, this triage reads {FORMAT}; retrain")
        self.payload = payload
        self.version: int | None = payload.get("version")
        self.vectorizer = payload["vectorizer"]
        self.tasks: dict[str, dict] = payload["tasks"]  # task -> {"words", "combiner", "uses_sentiment"}

    @property
    def name(self) -> str:
        return f"learned model v{self.version}" if self.version is not None else "learned model"

    def learned(self, task: str) -> bool:
        return task in self.tasks

    def predict_proba(self, evidence: Sequence[Evidence]) -> dict[str, Any]:
        """Per learned task, probabilities with columns in the order of TASKS[task], one row per text."""
        import numpy as np

        counts = self.vectorizer.transform([_words_of(ev) for ev in evidence])
        rules = _rules_matrix(evidence)
        out: dict[str, Any] = {}
        if "sentiment" in self.tasks:
            out["sentiment"] = _stack_proba(self.tasks["sentiment"], counts, rules, SENTIMENTS)
        if "intent" in self.tasks:
            intent_rules = rules
            if self.tasks["intent"]["uses_sentiment"]:
                intent_rules = np.hstack([rules, _sentiment_columns(evidence, out["sentiment"])])
            out["intent"] = _stack_proba(self.tasks["intent"], counts, intent_rules, INTENTS)
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
        cue = f"{self.name} ({', '.join(t for t in TASKS if t in proba)})"
        neg, pos = SENTIMENTS.index("negative"), SENTIMENTS.index("positive")
        for row, (i, ev) in enumerate(zip(analysed, subset, strict=True)):
            t = ev.tags
            sentiment, s_conf, polarity = t.sentiment, t.sentiment_confidence, t.polarity
            intent, i_conf = t.intent, t.intent_confidence
            if "sentiment" in proba:
                p = proba["sentiment"][row]
                best = int(np.argmax(p))
                sentiment, s_conf, polarity = SENTIMENTS[best], float(p[best]), float(p[pos] - p[neg])
            if "intent" in proba:
                p = proba["intent"][row]
                best = int(np.argmax(p))
                intent, i_conf = INTENTS[best], float(p[best])
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


def _cross_validate(texts: list[str], rules, y, classes: tuple[str, ...], *, use_words: bool = True
                    ) -> tuple[dict[str, Any], Any]:
    """Score the whole recipe (vocabulary, word models, combiner) on labels it did not learn from."""
    import numpy as np
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    folds = _folds(list(y))
    oof = np.zeros((len(y), len(classes)))
    for fit_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
        vectorizer = _new_vectorizer(len(fit_idx)).fit([texts[i] for i in fit_idx])
        counts = vectorizer.transform(texts)
        part = _fit_stack(counts[fit_idx], rules[fit_idx], y[fit_idx], folds, use_words=use_words)
        oof[test_idx] = _stack_proba(part, counts[test_idx], rules[test_idx], classes)
    predicted = np.asarray(classes)[oof.argmax(axis=1)]
    per_class = f1_score(y, predicted, labels=list(classes), average=None, zero_division=0)
    scores = {"learned": True, "macro_f1": round(float(np.mean(per_class)), 4),
              "per_class": {c: round(float(f), 4) for c, f in zip(classes, per_class, strict=True)},
              "accuracy": round(float(np.mean(predicted == y)), 4), "folds": folds}
    return scores, oof


def fit(examples: Sequence[Example], *, min_per_class: int = 20) -> TrainResult:
    """Train every task that has at least `min_per_class` labels in each of its classes."""
    import numpy as np

    from triage.classifier import analyse

    examples = list(examples)
    counts = _counts(examples)
    scores: dict[str, dict[str, Any]] = {}
    learnable = {}
    for task in TASKS:
        short = [c for c, n in counts[task].items() if n < min_per_class]
        if short:
            scores[task] = {"learned": False, "reason": f"needs {min_per_class} labels per class; "
                            + ", ".join(f"{c} has {counts[task][c]}" for c in short)}
        else:
            learnable[task] = [e for e in examples if getattr(e, task) is not None]
    if not learnable:
        return TrainResult(None, len(examples), counts, scores, min_per_class)

    texts = list(dict.fromkeys(e.text for rows in learnable.values() for e in rows))
    evidence = {text: analyse(text) for text in texts}
    words = {text: _words_of(ev) for text, ev in evidence.items()}
    vectorizer = _new_vectorizer(len(texts)).fit(list(words.values()))
    tasks: dict[str, dict] = {}
    sentiment_oof: dict[str, Any] = {}
    for task, rows in learnable.items():
        task_texts = [e.text for e in rows]
        task_evidence = [evidence[t] for t in task_texts]
        y = np.asarray([getattr(e, task) for e in rows])
        rules = _rules_matrix(task_evidence)
        uses_sentiment = task == "intent" and "sentiment" in tasks
        if uses_sentiment:
            # Out-of-fold sentiment where the sentiment model learned from the text: intent must learn how far
            # to trust the sentiment model on texts it has not seen.
            full = _stack_proba(tasks["sentiment"], vectorizer.transform([words[t] for t in task_texts]),
                                _rules_matrix(task_evidence), SENTIMENTS)
            proba = np.asarray([sentiment_oof.get(t, full[i]) for i, t in enumerate(task_texts)])
            rules = np.hstack([rules, _sentiment_columns(task_evidence, proba)])
        use_words = task != "intent" or USE_WORDS_FOR_INTENT
        scores[task], oof = _cross_validate([words[t] for t in task_texts], rules, y, TASKS[task], use_words=use_words)
        part = _fit_stack(vectorizer.transform([words[t] for t in task_texts]), rules, y, _folds(list(y)),
                          use_words=use_words)
        part["uses_sentiment"] = uses_sentiment
        tasks[task] = part
        if task == "sentiment":
            sentiment_oof = {t: oof[i] for i, t in enumerate(task_texts)}
    model = LearnedModel({"format": FORMAT, "version": None, "vectorizer": vectorizer, "tasks": tasks,
                          "trained_at": utcnow().isoformat(), "counts": counts, "scores": scores})
    return TrainResult(model, len(examples), counts, scores, min_per_class)


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
