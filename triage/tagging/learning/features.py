"""What a model reads of a post besides its words: the rules' evidence and the post's form, as numbers, and the
rules' verdict as the log-probabilities a model starts from."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from triage.core.vocabulary import INTENTS, SENTIMENTS
from triage.tagging.intent import classify_intent
from triage.tagging.learning.examples import TASKS
from triage.tagging.rules import Evidence

if TYPE_CHECKING:
    from numpy.typing import NDArray

PRIOR_CAP = 0.9  # the rules are never taken as certain

_SQUEEZE_RE = re.compile(r"(\w)\1{2,}")
_NUMBER_RE = re.compile(r"\d+")
_LOWER_WORD_RE = re.compile(r"[a-z']+")
_FIRST_PERSON = frozenset("i i'm im my me mine we our us".split())
_SECOND_PERSON = frozenset("you your yours you're u ur".split())


def words_of(ev: Evidence) -> str:
    """The text as the word models read it: lower case, no links or handles, numbers as 0, no long letter runs."""
    # Handles and links are dropped (clean_for_lexicon) so a model does not learn one brand's name or one link.
    return _NUMBER_RE.sub("0", _SQUEEZE_RE.sub(r"\1\1", ev.body.lower().replace("\u2019", "'")))


RULE_FEATURES = (
    "polarity", "subjectivity", *(f"rules sentiment {s}" for s in SENTIMENTS), "sentiment confidence",
    *(f"rules intent {i}" for i in INTENTS), "intent confidence", "failures", "trouble", "gratitude", "praise",
    "sarcasm", "emoji", "question", "question mark", "asks about failure", "problem resolved", "brand reply",
    "shouting", "no words",
)


def rule_row(ev: Evidence) -> list[float]:
    """The rules' evidence on one post, in RULE_FEATURES order."""
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


def form_row(ev: Evidence) -> list[float]:
    """How one post is written, in FORM_FEATURES order."""
    # String tests rather than regular expressions where they suffice: this runs on every post a model tags.
    text = ev.text
    words = _LOWER_WORD_RE.findall(ev.body.lower())
    return [
        float("://" in text or "www." in text), min(text.count("@"), 3) / 3, float(text.lstrip().startswith("@")),
        float(text.startswith("RT ") or " RT @" in text), min(len(words), 30) / 30, min(text.count("!"), 3) / 3,
        float(not _FIRST_PERSON.isdisjoint(words)), float(not _SECOND_PERSON.isdisjoint(words)),
    ]


def evidence_matrix(evidence: Sequence[Evidence]) -> NDArray[Any]:
    """Per text, the rules' evidence (RULE_FEATURES) then its form (FORM_FEATURES)."""
    import numpy as np

    rows = [rule_row(ev) + form_row(ev) for ev in evidence]
    return np.asarray(rows, dtype=float).reshape(len(evidence), len(RULE_FEATURES) + len(FORM_FEATURES))


def rules_intent_given(ev: Evidence, sentiment: str) -> tuple[str, float]:
    """The intent rules (intent, confidence), told the learned sentiment instead of the rules' own."""
    if ev.sentiment is None or (sentiment == ev.sentiment.label and ev.tags.language is not None):
        # Not analysed, or told what the rules already concluded: their tags hold the answer. (Posts without words
        # are asked again: their tags' confidence was capped after the rules ran.)
        return ev.tags.intent, ev.tags.intent_confidence
    intent, confidence, _ = classify_intent(ev.text, replace(ev.sentiment, label=sentiment), ev.question)
    return intent, confidence


def sentiment_columns(evidence: Sequence[Evidence], proba: NDArray[Any]) -> NDArray[Any]:
    """Intent's extra columns: the sentiment model's probabilities (in SENTIMENTS order), the same when the text
    asks something (a negative question may be a complaint or a question: the labels say which)."""
    import numpy as np

    asks = np.asarray([float(ev.question is not None) for ev in evidence]).reshape(-1, 1)
    return np.hstack([proba, proba * asks])


def rules_prior(evidence: Sequence[Evidence], task: str, sentiment_proba: NDArray[Any] | None = None) -> NDArray[Any]:
    """The rules' verdict as log-probabilities (columns in TASKS[task] order): where the combiner starts from.

    For intent, the rules are told the learned sentiment when there is one.
    """
    import numpy as np

    classes = TASKS[task]
    if task == "sentiment":
        verdicts = [(ev.tags.sentiment, ev.tags.sentiment_confidence) for ev in evidence]
    elif sentiment_proba is not None:
        told = [SENTIMENTS[b] for b in np.asarray(sentiment_proba).argmax(axis=1).tolist()]
        verdicts = [rules_intent_given(ev, s) for ev, s in zip(evidence, told, strict=True)]
    else:
        verdicts = [(ev.tags.intent, ev.tags.intent_confidence) for ev in evidence]
    confidence = np.clip(np.asarray([c for _, c in verdicts], dtype=float), 1 / len(classes), PRIOR_CAP)
    rows = np.repeat(((1 - confidence) / (len(classes) - 1)).reshape(-1, 1), len(classes), axis=1)
    rows[np.arange(len(verdicts)), [classes.index(label) for label, _ in verdicts]] = confidence
    log_p: NDArray[Any] = np.log(rows)
    return log_p
