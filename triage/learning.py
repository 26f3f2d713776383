"""Learning from the team: train sentiment and intent models from labels, keep them, and tag with the newest.

Labels are people's corrections (stored by `workflow.relabel`) and imported labelled files. Per task, two
word models (a linear SVM on TF-IDF of words and word pairs, naive Bayes on their presence) give their
verdicts, and a logistic regression combines those with the rules' own evidence (polarity, failures named,
gratitude, questions, the rules' tags and, for intent, the learned sentiment) and with the post's form (a link, a
reply, a retweet, its length). The rules' evidence carries the model on posts unlike anything it learned from; the
words let it pick up how this brand's customers write. Two guards keep what one brand's labels taught from making
other posts worse: the combiner's intercept is fitted without the labels' class mix (CLASS_BALANCE), and on a post
whose words and word pairs the labels mostly never showed the model defers to the rules (DEFER_BELOW).
A task with fewer than `min_per_class` labels in any class is not learned: the rules keep tagging it.

Models live in `<instance>/models/`; `active.json` there names the active one, so tagging finds a new model
with one `stat` per batch and never asks the database.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
import pickle
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from triage.classifier import INTENTS, SENTIMENTS, Evidence, Tags, tidy_cues
from triage.config import Settings, load_settings
from triage.db import utcnow
from triage.intent import classify_intent
from triage.models import Label, ModelVersion

log = logging.getLogger(__name__)

TASKS: dict[str, tuple[str, ...]] = {"sentiment": SENTIMENTS, "intent": INTENTS}
FORMAT = 5  # bump when the features change: older model files are then refused, and retraining replaces them
POINTER = "active.json"
KEEP_PAYLOADS = 3  # model versions whose file stays in the database (a few MB each)
CV_FOLDS = 5
SVM_C = 0.3
NB_ALPHA = 0.5
NB_CLIP = 10.0
COMBINER_C = 0.3
# The combiner's intercept is fitted with each class's labels weighing alike. The mix of one brand's labels (an
# airline's 63% negative) is no guide to another brand's posts: a model that learned it as a prior tagged half of a
# tech brand's posts negative where a sixth were. Measured (airline labels only, scored on the twcs posts of
# intent_dev reweighted to 17% negative): learned sentiment 0.69 macro-F1 with the mix, 0.77 without (rules 0.74),
# for about 0.005 on the airline posts themselves. A learned intent reads the sentiment with the mix, as its labels,
# from the same posts, have it (intent macro-F1 0.68 -> 0.72 on the eval tool's split, three seeds).
CLASS_BALANCE = True
PRIOR_CAP = 0.9  # the rules are never taken as certain
# A post whose words and word pairs the labels mostly never showed is unlike what the model learned from: below
# DEFER_BELOW of them known the rules' verdict stands, above TRUST_ABOVE the model's, and in between a blend.
# A held-out airline post has a median of 71% known (10% of them under 55%); a post to another brand 60%.
# Measured with airline labels: other brands' sentiment 0.763 (0.3-0.6), 0.776 (0.35-0.7), 0.787 (0.4-0.7), against
# 0.747, 0.744 and 0.740 on the airline posts themselves.
DEFER_BELOW = 0.35
TRUST_ABOVE = 0.7

_SQUEEZE_RE = re.compile(r"(\w)\1{2,}")
_NUMBER_RE = re.compile(r"\d+")
# Words (with inner apostrophes), and "?" / "!" and emoji as tokens of their own.
TOKEN_PATTERN = r"[^\W\d_][\w']*|[?!]|[^\w\s.,;:'\"()\[\]{}<>/\\|&*+=~`^%$#@-]"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
_LOWER_WORD_RE = re.compile(r"[a-z']+")
_FIRST_PERSON = frozenset("i i'm im my me mine we our us".split())
_SECOND_PERSON = frozenset("you your yours you're u ur".split())


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

def _example(rec: dict, where: str) -> Example:
    """A record {"text", "sentiment"?, "intent"?} checked: a text, and at least one label from its task's classes."""
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
    return _example(rec, where)


def _csv_examples(lines: Iterable[str], name: str) -> Iterable[Example]:
    """A CSV with a header naming "text" and "sentiment" and/or "intent" columns (any case, any order); an empty
    cell is no label, and labels are read in any case ("Negative")."""
    reader = csv.reader(lines)
    header = [h.strip().lower() for h in next(reader, [])]
    if "text" not in header or not {"sentiment", "intent"} & set(header):
        raise LabelFileError(f'{name}: line 1: a CSV needs a header with a "text" column and a "sentiment" or '
                             '"intent" column')
    columns = {c: header.index(c) for c in ("text", *TASKS) if c in header}
    for row in reader:
        where = f"{name}: line {reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        rec = {c: row[i] for c, i in columns.items()}
        rec.update({t: rec[t].strip().lower() or None for t in TASKS if t in rec})
        yield _example(rec, where)


def read_labels(stream: IO[bytes], name: str) -> list[Example]:
    """All records of a labelled file, JSON Lines or CSV (by its name's ending, else by its first character); the
    first bad line raises LabelFileError naming the file and the line, and nothing is kept."""
    try:
        content = stream.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFileError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    if not content.strip():
        raise LabelFileError(f"{name}: no labelled records")
    lines = io.StringIO(content, newline="")
    suffix = name.lower().rpartition(".")[2]
    if suffix in ("jsonl", "ndjson", "json") or (suffix != "csv" and content.lstrip()[:1] in ("{", "[")):
        examples = [e for lineno, line in enumerate(lines, 1)
                    if (e := parse_label_line(line, f"{name}: line {lineno}")) is not None]
    else:
        try:
            examples = list(_csv_examples(lines, name))
        except csv.Error as exc:
            raise LabelFileError(f"{name}: not a readable CSV ({exc})") from None
    if not examples:
        raise LabelFileError(f"{name}: no labelled records")
    return examples


def read_label_file(path: Path) -> list[Example]:
    """All records of a labelled file (see read_labels)."""
    try:
        with path.open("rb") as f:
            return read_labels(f, str(path))
    except OSError as exc:
        raise LabelFileError(f"{path}: {exc.strerror or exc}") from None


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
        float(any(c.startswith("asks about failure") for c in cues)),
        float(any(c.startswith("problem resolved") for c in cues)),
        float("brand reply" in cues), float("shouting" in cues), float(t.language is None),
    ]
    return row


# How a post is written, which neither the rules nor the word models (they drop links and handles) look at:
# shared links and retweets lean to "other", replies to someone to a conversation, "I/my" to one's own problem.
# What each means for this brand's posts is left to the labels.
FORM_FEATURES = ("link", "handles", "reply", "retweet", "length", "exclamations", "first person", "second person")


def _form_row(ev: Evidence) -> list[float]:
    # String tests rather than regular expressions where they suffice: this runs on every post a model tags.
    text = ev.text
    words = _LOWER_WORD_RE.findall(ev.body.lower())
    return [
        float("://" in text or "www." in text), min(text.count("@"), 3) / 3, float(text.lstrip().startswith("@")),
        float(text.startswith("RT ") or " RT @" in text), min(len(words), 30) / 30, min(text.count("!"), 3) / 3,
        float(not _FIRST_PERSON.isdisjoint(words)), float(not _SECOND_PERSON.isdisjoint(words)),
    ]


def _evidence_matrix(evidence: Sequence[Evidence]):
    """Per text, the rules' evidence (RULE_FEATURES) then its form (FORM_FEATURES)."""
    import numpy as np

    rows = [_rule_row(ev) + _form_row(ev) for ev in evidence]
    return np.asarray(rows, dtype=float).reshape(len(evidence), len(RULE_FEATURES) + len(FORM_FEATURES))


def _rules_intent_given(ev: Evidence, sentiment: str) -> tuple[str, float]:
    """The intent rules (intent, confidence), told the learned sentiment instead of the rules' own."""
    if ev.sentiment is None or (sentiment == ev.sentiment.label and ev.tags.language is not None):
        # Not analysed, or told what the rules already concluded: their tags hold the answer. (Posts without words
        # are asked again: their tags' confidence was capped after the rules ran.)
        return ev.tags.intent, ev.tags.intent_confidence
    intent, confidence, _ = classify_intent(ev.text, replace(ev.sentiment, label=sentiment), ev.question)
    return intent, confidence


def _sentiment_columns(evidence: Sequence[Evidence], proba):
    """Intent's extra columns: the sentiment model's probabilities (in SENTIMENTS order), the same when the text
    asks something (a negative question may be a complaint or a question: the labels say which)."""
    import numpy as np

    asks = np.asarray([float(ev.question is not None) for ev in evidence]).reshape(-1, 1)
    return np.hstack([proba, proba * asks])


def _prior(evidence: Sequence[Evidence], task: str, sentiment_proba=None):
    """The rules' verdict as log-probabilities (columns in TASKS[task] order): where the combiner starts from.

    For intent, the rules are told the learned sentiment when there is one.
    """
    import numpy as np

    classes = TASKS[task]
    if task == "sentiment":
        verdicts = [(ev.tags.sentiment, ev.tags.sentiment_confidence) for ev in evidence]
    elif sentiment_proba is not None:
        told = [SENTIMENTS[b] for b in np.asarray(sentiment_proba).argmax(axis=1).tolist()]
        verdicts = [_rules_intent_given(ev, s) for ev, s in zip(evidence, told, strict=True)]
    else:
        verdicts = [(ev.tags.intent, ev.tags.intent_confidence) for ev in evidence]
    confidence = np.clip(np.asarray([c for _, c in verdicts], dtype=float), 1 / len(classes), PRIOR_CAP)
    rows = np.repeat(((1 - confidence) / (len(classes) - 1)).reshape(-1, 1), len(classes), axis=1)
    rows[np.arange(len(verdicts)), [classes.index(label) for label, _ in verdicts]] = confidence
    return np.log(rows)


def _grams(words: str) -> list[str]:
    # Word pairs as well as words: "not helpful", "no one", "thank you" carry what single words miss.
    tokens = _TOKEN_RE.findall(words)
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


class _Vocabulary:
    """The words and word pairs of the training texts (those in two texts or more, given 200 texts), a column
    each. Tagging needs only this and NumPy: loading scikit-learn would cost a second at every start."""

    def __init__(self, texts: Sequence[str]):
        seen = Counter(g for text in texts for g in set(_grams(text)))
        min_df = 2 if len(texts) >= 200 else 1
        self.index = {g: i for i, g in enumerate(sorted(g for g, n in seen.items() if n >= min_df))}

    def term(self, column: int) -> str:
        if "_terms" not in self.__dict__:
            self._terms = list(self.index)  # built in column order
        return self._terms[column]

    def explains(self):
        """A mask over the columns: the words and pairs worth showing a person as a reason (no plain words such
        as "my" or "the", no marks such as "?")."""
        import numpy as np

        if "_explains" not in self.__dict__:
            self._explains = np.zeros(len(self.index), dtype=bool)
            for term, column in self.index.items():
                self._explains[column] = all(w not in _PLAIN_WORDS and w[:1].isalpha() for w in term.split())
        return self._explains

    def counts(self, texts: Sequence[str]):
        """Texts x vocabulary, how often each text holds each column's word or pair; and per text, how many words
        and pairs it holds in all, known or not."""
        import numpy as np
        from scipy.sparse import csr_matrix

        index = self.index
        rows: list[int] = []
        columns: list[int] = []
        totals = np.empty(len(texts))
        for row, text in enumerate(texts):
            grams = _grams(text)
            totals[row] = len(grams)
            known = [index[g] for g in grams if g in index]
            columns += known
            rows += [row] * len(known)
        counts = csr_matrix((np.ones(len(columns)), (rows, columns)), shape=(len(texts), len(index)))
        counts.sum_duplicates()
        return counts, totals


@dataclass
class _Texts:
    """Texts as the word models read them: counts of words and word pairs, and how many the texts hold in all."""

    counts: Any  # sparse, texts x vocabulary
    totals: Any  # words and word pairs per text, known to the vocabulary or not

    @classmethod
    def of(cls, vocabulary: _Vocabulary, words: Sequence[str]) -> _Texts:
        return cls(*vocabulary.counts(words))

    def __getitem__(self, rows) -> _Texts:
        return _Texts(self.counts[rows], self.totals[rows])

    def coverage(self):
        """Per text, the share of its words and word pairs that the labelled texts hold (a column)."""
        import numpy as np

        known = np.asarray(self.counts.sum(axis=1)).ravel()
        return np.minimum(1.0, known / np.maximum(self.totals, 1.0)).reshape(-1, 1)


class _WordModels:
    """Two views of the words: a linear SVM on TF-IDF, and naive Bayes on presence, which is surer on few labels.

    Their verdicts are scaled by how much of a text they know: on a post made of words they never saw, they
    fall silent and the rules decide. scikit-learn fits them; what they learned is kept as arrays, so tagging
    is a few matrix products.
    """

    def __init__(self, texts: _Texts, y):
        import numpy as np
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.naive_bayes import MultinomialNB
        from sklearn.svm import LinearSVC

        counts = texts.counts
        self.idf = TfidfTransformer(sublinear_tf=True).fit(counts).idf_
        # A fixed seed for liblinear's shuffling: the same labels train the same model.
        svm = LinearSVC(C=SVM_C, class_weight="balanced", random_state=0).fit(self._tfidf(counts), y)
        self.svm_weights, self.svm_bias = svm.coef_.T, svm.intercept_
        nb = MultinomialNB(alpha=NB_ALPHA).fit(_presence(counts), y)
        self.nb_weights, self.nb_bias = nb.feature_log_prob_.T, nb.class_log_prior_
        self.known = (nb.feature_count_.sum(axis=0) > 0).astype(np.float64)

    def _tfidf(self, counts):
        """TF-IDF as scikit-learn's TfidfTransformer(sublinear_tf=True) computes it: 1 + log(count), times the
        word's idf, each row scaled to unit length."""
        import numpy as np

        x = counts.astype(np.float64)
        x.data = (1.0 + np.log(x.data)) * self.idf[x.indices]  # idf is at least 1: no row of words sums to 0
        row = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        x.data /= np.sqrt(np.bincount(row, weights=x.data ** 2, minlength=x.shape[0]))[row]
        return x

    def columns(self, texts: _Texts):
        import numpy as np

        counts = texts.counts
        coverage = np.minimum(1.0, (counts @ self.known) / np.maximum(texts.totals, 1.0)).reshape(-1, 1)
        log_p = _presence(counts) @ self.nb_weights + self.nb_bias  # naive Bayes, up to each row's constant
        # Relative, clipped log-probabilities: naive Bayes is overconfident, its ranking is what helps.
        nb = np.maximum(log_p - log_p.max(axis=1, keepdims=True), -NB_CLIP) / NB_CLIP
        verdicts = np.hstack([self._tfidf(counts) @ self.svm_weights + self.svm_bias, nb])
        return np.hstack([verdicts * coverage, coverage])


def _strongest(models: _WordModels, texts: _Texts, chosen, shown, *, per_text: int, floor: float) -> list[list[int]]:
    """Per text, up to `per_text` of its columns (words, pairs) that pushed the SVM hardest towards the class chosen
    for it, strongest first; only columns in `shown` (a mask over the vocabulary), pushing at least `floor`."""
    import numpy as np

    x = models._tfidf(texts.counts)
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    push = x.data * models.svm_weights[x.indices, np.asarray(chosen)[rows]]
    keep = (push >= floor) & shown[x.indices]
    rows, columns, push = rows[keep], x.indices[keep], push[keep]
    order = np.lexsort((-push, rows))
    rows, columns = rows[order], columns[order]
    starts = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, dtype=bool)
    rank = np.arange(len(rows)) - np.maximum.accumulate(np.where(starts, np.arange(len(rows)), 0))
    out: list[list[int]] = [[] for _ in range(x.shape[0])]
    for r, c in zip(rows[rank < per_text].tolist(), columns[rank < per_text].tolist(), strict=True):
        out[r].append(c)
    return out


# Words too common to explain anything to a reader, though a model may weigh them.
_PLAIN_WORDS = frozenset("""a an the and or but so to of in on at for from with by as is are was were be been am it its
this that these those i i'm im me my mine we us our you your u ur he she they them their his her do does did have has
had just get got""".split())


def _presence(counts):
    """1 where a text holds the column's word or pair."""
    import numpy as np

    present = counts.astype(np.float64)
    present.data[:] = 1.0
    return present


def _inner_columns(texts: _Texts, y, folds: int):
    """Word-model columns for the training texts themselves, each from models that did not see it (stacking)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    out = None
    for fit_idx, pred_idx in StratifiedKFold(folds, shuffle=True, random_state=1).split(np.zeros(len(y)), y):
        columns = _WordModels(texts[fit_idx], y[fit_idx]).columns(texts[pred_idx])
        if out is None:
            out = np.zeros((len(y), columns.shape[1]))
        out[pred_idx] = columns
    return out


class _Combiner:
    """Multinomial logistic regression that starts from the rules' verdict (a fixed offset) and learns only how
    far to move from it. Intercept and weights are both shrunk towards zero, so with little evidence, or on a
    post unlike the labels, the rules' verdict stands."""

    def __init__(self, c: float):
        self.c = c
        self.weights = self.bias = None

    def _logits(self, x, prior, mix: bool = False):
        return x @ self.weights + (self.mix_bias if mix else self.bias) + prior

    def fit(self, x, prior, y) -> _Combiner:
        import numpy as np

        n, k = len(y), prior.shape[1]
        onehot = np.zeros((n, k))
        onehot[np.arange(n), y] = 1.0
        self.weights, self.bias = self._solve(x, prior, onehot)
        self.mix_bias = self.bias
        if CLASS_BALANCE:
            # The evidence's weights are learned from the labels as they come; the intercept, where the label mix
            # settles as a prior, is then fitted again with each class's labels weighing alike.
            share = np.bincount(y, minlength=k) / n
            balanced = (share[y] * k) ** -1.0
            _, self.bias = self._solve(x, prior, onehot * (balanced * n / balanced.sum()).reshape(-1, 1),
                                       weights=self.weights)
        return self

    def _solve(self, x, prior, targets, weights=None):
        """Weights and bias (or the bias alone, given the weights) minimising the labels' weighted log-loss."""
        import numpy as np
        from scipy.optimize import minimize

        d, k = x.shape[1], prior.shape[1]
        row_weight = targets.sum(axis=1, keepdims=True)
        fixed = None if weights is None else x @ weights

        def loss(theta):
            if fixed is None:
                w, b = theta[: d * k].reshape(d, k), theta[d * k:]
                z = x @ w + b + prior
            else:
                b = theta
                z = fixed + b + prior
            z -= z.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
            p = np.exp(z - log_norm)
            value = -(targets * (z - log_norm)).sum() + (theta @ theta) / (2 * self.c)
            g = p * row_weight - targets
            grad = g.sum(axis=0) if fixed is not None else np.concatenate([(x.T @ g).ravel(), g.sum(axis=0)])
            return value, grad + theta / self.c

        size = k if fixed is not None else d * k + k
        found = minimize(loss, np.zeros(size), jac=True, method="L-BFGS-B", options={"maxiter": 500})
        if fixed is not None:
            return weights, found.x
        return found.x[: d * k].reshape(d, k), found.x[d * k:]

    def predict_proba(self, x, prior, mix: bool = False):
        """Probabilities without the label mix as a prior, or (`mix`) with it."""
        import numpy as np

        z = self._logits(x, prior, mix)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def _fit_stack(texts: _Texts, features, prior, y) -> dict:
    """Word models on the texts, and a combiner of their out-of-fold verdicts with the rules' evidence."""
    import numpy as np

    x = np.hstack([_inner_columns(texts, y, _folds(y)), features])
    return {"words": _WordModels(texts, y), "combiner": _Combiner(COMBINER_C).fit(x, prior, y)}


def _stack_proba(part: dict, texts: _Texts, features, prior, *, mix: bool = False):
    """Probabilities, columns in the order of the task's classes (`mix`: with the labels' mix as a prior)."""
    import numpy as np

    return part["combiner"].predict_proba(np.hstack([part["words"].columns(texts), features]), prior, mix)


def _deferring(part: dict, texts: _Texts, proba, prior):
    """The model's probabilities moved back towards the rules' verdict on posts made of words the labels never showed
    (see DEFER_BELOW): there the model knows nothing but what it learned of its own brand's posts."""
    import numpy as np

    trust = np.clip((texts.coverage() - DEFER_BELOW) / (TRUST_ABOVE - DEFER_BELOW), 0.0, 1.0)
    if trust.min() >= 1.0:
        return proba
    log_p = trust * np.log(np.maximum(proba, 1e-12)) + (1.0 - trust) * prior
    log_p -= log_p.max(axis=1, keepdims=True)
    p = np.exp(log_p)
    return p / p.sum(axis=1, keepdims=True)


# --- the model -------------------------------------------------------------------------------------------------

class LearnedModel:
    """A trained model: per learned task, word models stacked with the rules' evidence."""

    def __init__(self, payload: dict):
        if payload.get("format") != FORMAT:
            raise ValueError(f"model file format {payload.get('format')!r}, this triage reads {FORMAT}; retrain")
        self.payload = payload
        self.version: int | None = payload.get("version")
        self.vocabulary: _Vocabulary = payload["vocabulary"]
        self.tasks: dict[str, dict] = payload["tasks"]  # task -> {"words", "combiner", "uses_sentiment"}

    @property
    def name(self) -> str:
        return f"learned model v{self.version}" if self.version is not None else "learned model"

    def learned(self, task: str) -> bool:
        return task in self.tasks

    def predict_proba(self, evidence: Sequence[Evidence]) -> dict[str, Any]:
        """Per learned task, probabilities with columns in the order of TASKS[task], one row per text."""
        return self._predict(evidence)[1]

    def _predict(self, evidence: Sequence[Evidence]) -> tuple[_Texts, dict[str, Any]]:
        import numpy as np

        texts = _Texts.of(self.vocabulary, [_words_of(ev) for ev in evidence])
        seen = _evidence_matrix(evidence)
        out: dict[str, Any] = {}
        if "sentiment" in self.tasks:
            part, prior = self.tasks["sentiment"], _prior(evidence, "sentiment")
            x = np.hstack([part["words"].columns(texts), seen])
            out["sentiment"] = _deferring(part, texts, part["combiner"].predict_proba(x, prior), prior)
            if self.tasks.get("intent", {}).get("uses_sentiment"):
                # Intent learned from the same labels, with their mix: it reads the sentiment as it learned it.
                mixed = _deferring(part, texts, part["combiner"].predict_proba(x, prior, mix=True), prior)
        if "intent" in self.tasks:
            features, sentiment = seen, None
            if self.tasks["intent"]["uses_sentiment"]:
                sentiment = mixed
                features = np.hstack([seen, _sentiment_columns(evidence, sentiment)])
            prior = _prior(evidence, "intent", sentiment)
            out["intent"] = _deferring(self.tasks["intent"], texts,
                                       _stack_proba(self.tasks["intent"], texts, features, prior), prior)
        return texts, out

    def _taught(self, texts: _Texts, proba: dict[str, Any], *, per_text: int = 2,
                floor: float = 0.15) -> list[list[str]]:
        """Per text, the words or word pairs the labels taught that weigh most for its learned tags (each task's
        strongest first). A pair is shown rather than its word ("blinking amber"); plain words ("my", "the"),
        marks ("?") and pairs holding them are not shown."""
        vocabulary = self.vocabulary
        per_task = [_strongest(self.tasks[task]["words"], texts, p.argmax(axis=1), vocabulary.explains(),
                               per_text=per_text + 2, floor=floor) for task, p in proba.items()]
        out = []
        for columns in zip(*per_task, strict=True):
            shown: list[str] = []
            for column in itertools.chain.from_iterable(itertools.zip_longest(*columns)):
                if column is None:
                    continue
                term = vocabulary.term(column)
                words = set(term.split())
                overlap = [s for s in shown if words & set(s.split())]
                if not overlap and len(shown) < per_text:
                    shown.append(term)
                elif overlap and len(words) > 1 and all(o in words for o in overlap):
                    # The pair says more than its words: it takes the place of the first, the others go.
                    shown = [term if s == overlap[0] else s for s in shown if s == overlap[0] or s not in overlap]
            out.append(shown)
        return out

    def tag(self, evidence: Sequence[Evidence]) -> list[Tags]:
        """Tags for texts the rules have analysed; posts the rules set aside (not English) keep the rules' tags."""
        import numpy as np

        analysed = [i for i, ev in enumerate(evidence) if ev.sentiment is not None]
        result = [ev.tags for ev in evidence]
        if not analysed or not self.tasks:
            return result
        subset = [evidence[i] for i in analysed]
        texts, proba = self._predict(subset)
        taught = self._taught(texts, proba)
        cue = f"{self.name} ({', '.join(t for t in TASKS if t in proba)})"
        known = texts.coverage().ravel().tolist()
        picked = {}  # per task, each row's class and its probability, as Python lists (one NumPy call per task)
        for task, p in proba.items():
            best = p.argmax(axis=1)
            picked[task] = (best.tolist(), p[np.arange(len(best)), best].tolist())
        if "sentiment" in proba:
            p = proba["sentiment"]
            polarities = (p[:, SENTIMENTS.index("positive")] - p[:, SENTIMENTS.index("negative")]).tolist()
        for row, (i, ev) in enumerate(zip(analysed, subset, strict=True)):
            t = ev.tags
            sentiment, s_conf, polarity = t.sentiment, t.sentiment_confidence, t.polarity
            intent, i_conf = t.intent, t.intent_confidence
            if "sentiment" in picked:
                sentiment, s_conf = SENTIMENTS[picked["sentiment"][0][row]], picked["sentiment"][1][row]
                polarity = polarities[row]
            if "intent" in picked:
                intent, i_conf = INTENTS[picked["intent"][0][row]], picked["intent"][1][row]
            elif sentiment != t.sentiment:
                intent, i_conf = _rules_intent_given(ev, sentiment)  # the rules, told the better sentiment
            if t.language is None:  # emoji, links or handles only: any tag stays a guess
                s_conf, i_conf = min(s_conf, 0.4), min(i_conf, 0.3)
            words = (f"taught: {', '.join(chr(8220) + w + chr(8221) for w in taught[row])}",) if taught[row] else ()
            if known[row] < TRUST_ABOVE:  # the model deferred to the rules, partly or wholly: say so
                words += (f"unlike the labels ({known[row]:.0%} of words known): rules lead",)
            result[i] = replace(
                t, sentiment=sentiment, sentiment_confidence=round(s_conf, 3), polarity=round(polarity, 4),
                intent=intent, intent_confidence=round(i_conf, 3), cues=tidy_cues((cue, *words, *t.cues)),
            )
        return result

    def dumps(self) -> bytes:
        return pickle.dumps(self.payload, protocol=pickle.HIGHEST_PROTOCOL)

    def save(self, path: Path) -> None:
        _write_atomically(path, self.dumps())

    @classmethod
    def load(cls, path: Path) -> LearnedModel:
        """Read a model file (a pickle: load only files this install or someone you trust wrote)."""
        with Path(path).open("rb") as f:
            payload = pickle.load(f)  # noqa: S301 - the model store is the install's own
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


def _folds(y) -> int:
    return max(2, min(CV_FOLDS, min(Counter(list(y)).values())))


def _cross_validate(words: list[str], features, prior, y, task: str) -> tuple[dict[str, Any], Any]:
    """Score the whole recipe (vocabulary, word models, combiner) on labels it did not learn from; return the
    scores and the out-of-fold probabilities."""
    import numpy as np
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    classes = TASKS[task]
    folds = _folds(y)
    oof = np.zeros((len(y), len(classes)))
    oof_mix = np.zeros((len(y), len(classes)))
    for fit_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
        texts = _Texts.of(_Vocabulary([words[i] for i in fit_idx]), words)
        part = _fit_stack(texts[fit_idx], features[fit_idx], prior[fit_idx], y[fit_idx])
        oof[test_idx] = _stack_proba(part, texts[test_idx], features[test_idx], prior[test_idx])
        oof_mix[test_idx] = _stack_proba(part, texts[test_idx], features[test_idx], prior[test_idx], mix=True)
    predicted = oof.argmax(axis=1)
    per_class = f1_score(y, predicted, labels=list(range(len(classes))), average=None, zero_division=0)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)  # rows: the label; columns: the model's answer
    np.add.at(confusion, (y, predicted), 1)
    scores = {"learned": True, "macro_f1": round(float(np.mean(per_class)), 4),
              "per_class": {c: round(float(f), 4) for c, f in zip(classes, per_class, strict=True)},
              "accuracy": round(float(np.mean(predicted == y)), 4), "folds": folds, "confusion": confusion.tolist()}
    return scores, oof_mix


def fit(examples: Sequence[Example], *, min_per_class: int = 20) -> TrainResult:
    """Train every task that has at least `min_per_class` (3 or more) labels in each of its classes."""
    import numpy as np

    from triage.classifier import analyse

    min_per_class = max(3, min_per_class)  # cross-validation inside cross-validation needs three of each
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

    evidence = {text: analyse(text) for text in dict.fromkeys(e.text for rows in learnable.values() for e in rows)}
    words = {text: _words_of(ev) for text, ev in evidence.items()}
    vocabulary = _Vocabulary(list(words.values()))
    tasks: dict[str, dict] = {}
    sentiment_oof: dict[str, Any] = {}
    for task, rows in learnable.items():
        task_texts = [e.text for e in rows]
        task_evidence = [evidence[t] for t in task_texts]
        task_words = [words[t] for t in task_texts]
        y = np.asarray([TASKS[task].index(getattr(e, task)) for e in rows])
        features, sentiment = _evidence_matrix(task_evidence), None
        if task == "intent" and "sentiment" in tasks:
            # Out-of-fold sentiment where the sentiment model learned from the text: intent must learn how far
            # to trust the sentiment model on texts it has not seen.
            # The sentiment with the labels' mix: the intent labels come with the same mix.
            full = _stack_proba(tasks["sentiment"], _Texts.of(vocabulary, task_words), features,
                                _prior(task_evidence, "sentiment"), mix=True)
            sentiment = np.asarray([sentiment_oof.get(t, full[i]) for i, t in enumerate(task_texts)])
            features = np.hstack([features, _sentiment_columns(task_evidence, sentiment)])
        prior = _prior(task_evidence, task, sentiment)
        scores[task], oof = _cross_validate(task_words, features, prior, y, task)
        part = _fit_stack(_Texts.of(vocabulary, task_words), features, prior, y)
        part["uses_sentiment"] = sentiment is not None
        tasks[task] = part
        if task == "sentiment":
            sentiment_oof = {t: oof[i] for i, t in enumerate(task_texts)}
    model = LearnedModel({"format": FORMAT, "version": None, "vocabulary": vocabulary, "tasks": tasks,
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
    version.payload = result.model.dumps()  # for the other hosts' workers (follow_active)
    _write_atomically(path, version.payload)
    version.path = str(path)
    session.execute(update(ModelVersion).where(ModelVersion.id != version.id).values(active=False))
    kept = select(ModelVersion.id).order_by(ModelVersion.id.desc()).limit(KEEP_PAYLOADS)
    session.execute(update(ModelVersion).where(ModelVersion.id.not_in(kept), ModelVersion.payload.is_not(None))
                    .values(payload=None))
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


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _pointer(instance: Path) -> dict | None:
    try:
        return json.loads((models_dir(instance) / POINTER).read_text())
    except (OSError, ValueError):
        return None


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
    pointer = _pointer(instance)
    if pointer is not None and pointer.get("version") == version and Path(pointer.get("path", "")).is_file():
        return version
    payload = session.scalar(select(ModelVersion.payload).where(ModelVersion.id == version))
    if payload is None:  # trained before models were kept in the database: this host keeps what it has
        return version
    path = models_dir(instance) / f"model-{version}.joblib"
    _write_atomically(path, payload)
    activate(instance, version, path)
    log.info("now tagging with learned model v%s, fetched from the database", version)
    return version


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



# --- what leads see --------------------------------------------------------------------------------------------

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
    out = [{"label": classes[i], "taken_for": classes[j], "n": row[j], "share": row[j] / max(sum(row), 1)}
           for i, row in enumerate(confusion) for j in range(len(classes)) if i != j and row[j]]
    return sorted(out, key=lambda m: (-m["n"], -m["share"]))[:top]


def overview(session: Session, settings: Settings, *, history: int = 10) -> Overview:
    versions = list(session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc()).limit(history)))
    return Overview(active=active_version(session), versions=versions, waiting=labels_waiting(session),
                    label_counts=_counts(stored_examples(session)), min_per_class=settings.min_labels_per_class)
