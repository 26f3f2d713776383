"""Training: fit a model on labelled examples, each task scored by cross-validation on labels it did not learn from.

A task with fewer than `min_per_class` labels in any class is not learned: the rules keep tagging it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.db import utcnow
from triage.tagging.learning.examples import TASKS, Example, label_counts
from triage.tagging.learning.features import evidence_matrix, rules_prior, sentiment_columns, words_of
from triage.tagging.learning.model import FORMAT, LearnedModel
from triage.tagging.learning.stacking import Stack, fit_stack, folds, stack_proba
from triage.tagging.learning.words import Texts, Vocabulary
from triage.tagging.rules import analyse

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


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
    """One task's line: who tags it (learned or the rules), its figures and its labels per class."""
    per_class = ", ".join(f"{c} {counts.get(c, 0)}" for c in TASKS[task])
    if score.get("learned"):
        per_f1 = ", ".join(f"{c} {score['per_class'][c]:.2f}" for c in TASKS[task])
        return (f"{task}: learned, cross-validated macro-F1 {score['macro_f1']:.3f} ({per_f1}); "
                f"labels: {per_class}")
    return f"{task}: rules ({score.get('reason', 'not trained')}); labels: {per_class}"


def _cross_validate(words: list[str], features: NDArray[np.float64], prior: NDArray[np.float64], y: NDArray[np.intp],
                    task: str) -> tuple[dict[str, Any], NDArray[np.float64]]:
    """Score the whole recipe (vocabulary, word models, combiner) on labels it did not learn from; return the
    scores and the out-of-fold probabilities."""
    import numpy as np
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    classes = TASKS[task]
    n_folds = folds(y)
    oof = np.zeros((len(y), len(classes)))
    oof_mix = np.zeros((len(y), len(classes)))
    for fit_idx, test_idx in StratifiedKFold(n_folds, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
        texts = Texts.of(Vocabulary([words[i] for i in fit_idx]), words)
        part = fit_stack(texts[fit_idx], features[fit_idx], prior[fit_idx], y[fit_idx])
        oof[test_idx] = stack_proba(part, texts[test_idx], features[test_idx], prior[test_idx])
        oof_mix[test_idx] = stack_proba(part, texts[test_idx], features[test_idx], prior[test_idx], mix=True)
    predicted = oof.argmax(axis=1)
    per_class = f1_score(y, predicted, labels=list(range(len(classes))), average=None, zero_division=0)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)  # rows: the label; columns: the model's answer
    np.add.at(confusion, (y, predicted), 1)
    scores = {"learned": True, "macro_f1": round(float(np.mean(per_class)), 4),
              "per_class": {c: round(float(f), 4) for c, f in zip(classes, per_class, strict=True)},
              "accuracy": round(float(np.mean(predicted == y)), 4), "folds": n_folds, "confusion": confusion.tolist()}
    return scores, oof_mix


def fit(examples: Sequence[Example], *, min_per_class: int = 20) -> TrainResult:
    """Train every task that has at least `min_per_class` (3 or more) labels in each of its classes."""
    import numpy as np

    min_per_class = max(3, min_per_class)  # cross-validation inside cross-validation needs three of each
    examples = list(examples)
    counts = label_counts(examples)
    scores: dict[str, dict[str, Any]] = {}
    learnable: dict[str, list[Example]] = {}
    for task in TASKS:
        short = [c for c, n in counts[task].items() if n < min_per_class]
        if short:
            scores[task] = {"learned": False, "reason": f"needs {min_per_class} labels per class; "
                            + ", ".join(f"{c} has {counts[task][c]}" for c in short)}
        else:
            learnable[task] = [e for e in examples if getattr(e, task) is not None]
    if not learnable:
        return TrainResult(None, len(examples), counts, scores, min_per_class)

    evidence = {text: analyse(text) for text in dict.fromkeys(e.text for rows in learnable.values() for e in rows)}
    words = {text: words_of(ev) for text, ev in evidence.items()}
    vocabulary = Vocabulary(list(words.values()))
    tasks: dict[str, Stack] = {}
    sentiment_oof: dict[str, NDArray[np.float64]] = {}
    for task, rows in learnable.items():
        task_texts = [e.text for e in rows]
        task_evidence = [evidence[t] for t in task_texts]
        task_words = [words[t] for t in task_texts]
        y = np.asarray([TASKS[task].index(getattr(e, task)) for e in rows])
        features, sentiment = evidence_matrix(task_evidence), None
        if task == "intent" and "sentiment" in tasks:
            # Out-of-fold sentiment where the sentiment model learned from the text: intent must learn how far
            # to trust the sentiment model on texts it has not seen.
            # The sentiment with the labels' mix: the intent labels come with the same mix.
            full = stack_proba(tasks["sentiment"], Texts.of(vocabulary, task_words), features,
                               rules_prior(task_evidence, "sentiment"), mix=True)
            sentiment = np.asarray([sentiment_oof.get(t, full[i]) for i, t in enumerate(task_texts)])
            features = np.hstack([features, sentiment_columns(task_evidence, sentiment)])
        prior = rules_prior(task_evidence, task, sentiment)
        scores[task], oof = _cross_validate(task_words, features, prior, y, task)
        part = fit_stack(Texts.of(vocabulary, task_words), features, prior, y)
        part["uses_sentiment"] = sentiment is not None
        tasks[task] = part
        if task == "sentiment":
            sentiment_oof = {t: oof[i] for i, t in enumerate(task_texts)}
    model = LearnedModel({"format": FORMAT, "version": None, "vocabulary": vocabulary, "tasks": tasks,
                          "trained_at": utcnow().isoformat(), "counts": counts, "scores": scores})
    return TrainResult(model, len(examples), counts, scores, min_per_class)
