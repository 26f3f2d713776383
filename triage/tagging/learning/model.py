"""A trained model: per learned task, word models stacked with the rules' evidence; tagging with it, and its file.

A model file is a pickle of the model's payload (format FORMAT). Its classes are named by where they live, so a
file written before they moved (`triage.learning`, the one-module `triage.tagging.learning`) is read through
LEGACY_CLASSES.
"""

from __future__ import annotations

import itertools
import os
import pickle
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.core.vocabulary import INTENTS, SENTIMENTS
from triage.tagging.learning.examples import TASKS
from triage.tagging.learning.features import (
    evidence_matrix,
    rules_intent_given,
    rules_prior,
    sentiment_columns,
    words_of,
)
from triage.tagging.learning.stacking import TRUST_ABOVE, Combiner, Stack, deferring, stack_proba
from triage.tagging.learning.words import Texts, Vocabulary, WordModels, strongest
from triage.tagging.rules import Evidence, Tags, tidy_cues

if TYPE_CHECKING:
    from numpy.typing import NDArray

FORMAT = 5  # bump when the features change: older model files are then refused, and retraining replaces them
# What model files written before the learning modules moved call the classes they hold.
LEGACY_CLASSES: dict[tuple[str, str], type] = {
    (module, name): cls
    for module in ("triage.learning", "triage.tagging.learning")
    for name, cls in (("_Vocabulary", Vocabulary), ("_WordModels", WordModels), ("_Combiner", Combiner))
}


class _ModelUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return LEGACY_CLASSES.get((module, name)) or super().find_class(module, name)


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file so that a reader sees the old one or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class LearnedModel:
    """A trained model: per learned task, word models stacked with the rules' evidence."""

    def __init__(self, payload: dict[str, Any]) -> None:
        if payload.get("format") != FORMAT:
            raise ValueError(f"model file format {payload.get('format')!r}, this triage reads {FORMAT}; retrain")
        self.payload = payload
        self.version: int | None = payload.get("version")
        self.vocabulary: Vocabulary = payload["vocabulary"]
        self.tasks: dict[str, Stack] = payload["tasks"]

    @property
    def name(self) -> str:
        """How cues name the model."""
        return f"learned model v{self.version}" if self.version is not None else "learned model"

    def learned(self, task: str) -> bool:
        """Whether the model tags `task` (else the rules do)."""
        return task in self.tasks

    def predict_proba(self, evidence: Sequence[Evidence]) -> dict[str, NDArray[Any]]:
        """Per learned task, probabilities with columns in the order of TASKS[task], one row per text."""
        return self._predict(evidence)[1]

    def _predict(self, evidence: Sequence[Evidence]) -> tuple[Texts, dict[str, NDArray[Any]]]:
        import numpy as np

        texts = Texts.of(self.vocabulary, [words_of(ev) for ev in evidence])
        seen = evidence_matrix(evidence)
        out: dict[str, NDArray[Any]] = {}
        mixed: NDArray[Any] | None = None
        if "sentiment" in self.tasks:
            part, prior = self.tasks["sentiment"], rules_prior(evidence, "sentiment")
            x = np.hstack([part["words"].columns(texts), seen])
            out["sentiment"] = deferring(texts, part["combiner"].predict_proba(x, prior), prior)
            if "intent" in self.tasks and self.tasks["intent"].get("uses_sentiment"):
                # Intent learned from the same labels, with their mix: it reads the sentiment as it learned it.
                mixed = deferring(texts, part["combiner"].predict_proba(x, prior, mix=True), prior)
        if "intent" in self.tasks:
            features, sentiment = seen, None
            if mixed is not None:  # the intent model reads the sentiment
                sentiment = mixed
                features = np.hstack([seen, sentiment_columns(evidence, sentiment)])
            prior = rules_prior(evidence, "intent", sentiment)
            out["intent"] = deferring(texts, stack_proba(self.tasks["intent"], texts, features, prior), prior)
        return texts, out

    def _taught(self, texts: Texts, proba: dict[str, NDArray[Any]], *, per_text: int = 2,
                floor: float = 0.15) -> list[list[str]]:
        """Per text, the words or word pairs the labels taught that weigh most for its learned tags (each task's
        strongest first). A pair is shown rather than its word ("blinking amber"); plain words ("my", "the"),
        marks ("?") and pairs holding them are not shown."""
        vocabulary = self.vocabulary
        per_task = [strongest(self.tasks[task]["words"], texts, p.argmax(axis=1), vocabulary.explains(),
                               per_text=per_text + 2, floor=floor) for task, p in proba.items()]
        out: list[list[str]] = []
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
        # Per task, each row's class and its probability, as Python lists (one NumPy call per task).
        picked: dict[str, tuple[list[int], list[float]]] = {}
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
                intent, i_conf = rules_intent_given(ev, sentiment)  # the rules, told the better sentiment
            if t.language is None:  # emoji, links or handles only: any tag stays a guess
                s_conf, i_conf = min(s_conf, 0.4), min(i_conf, 0.3)
            words: tuple[str, ...] = ()
            if taught[row]:
                words = (f"taught: {', '.join(chr(8220) + w + chr(8221) for w in taught[row])}",)
            if known[row] < TRUST_ABOVE:  # the model deferred to the rules, partly or wholly: say so
                words += (f"unlike the labels ({known[row]:.0%} of words known): rules lead",)
            result[i] = replace(
                t, sentiment=sentiment, sentiment_confidence=round(s_conf, 3), polarity=round(polarity, 4),
                intent=intent, intent_confidence=round(i_conf, 3), cues=tidy_cues((cue, *words, *t.cues)),
            )
        return result

    def dumps(self) -> bytes:
        """The model file's bytes."""
        return pickle.dumps(self.payload, protocol=pickle.HIGHEST_PROTOCOL)

    def save(self, path: Path) -> None:
        """Write the model file (atomically)."""
        write_atomically(path, self.dumps())

    @classmethod
    def load(cls, path: Path) -> LearnedModel:
        """Read a model file (a pickle: load only files this install or someone you trust wrote)."""
        with Path(path).open("rb") as f:
            payload = _ModelUnpickler(f).load()  # the model store is the install's own
        if not isinstance(payload, dict):
            raise ValueError("not a triage model file")
        return cls(payload)
