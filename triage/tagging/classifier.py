"""Tagging brand mentions: sentiment and intent, with the cues that explain each tag.

The front door of tagging: the newest learned model when one is active (`triage.tagging.learning`), else the rules
(`triage.tagging.rules`). Run as `python -m triage.tagging.classifier` to classify JSON Lines {"id", "text"} from
stdin to stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Literal, TextIO

from triage.core.vocabulary import INTENTS, SENTIMENTS
from triage.tagging.learning.model import LearnedModel
from triage.tagging.learning.store import active_model
from triage.tagging.rules import Evidence, Tags, analyse

__all__ = ["ACTIVE", "INTENTS", "SENTIMENTS", "Evidence", "Tags", "analyse", "classify", "classify_jsonl",
           "classify_many"]

ACTIVE: Literal["active"] = "active"  # classify with the newest trained model, if there is one
Model = Literal["active"] | LearnedModel | None
JSONL_BATCH = 500  # lines tagged together by `classify_jsonl`


def classify(text: str, *, model: Model = ACTIVE) -> Tags:
    """Tag one mention (with the active learned model when there is one; see `classify_many`)."""
    return classify_many((text,), model=model)[0]


def classify_many(texts: Iterable[str], *, model: Model = ACTIVE) -> list[Tags]:
    """Tag many mentions, in order.

    `model` is ACTIVE (the newest trained model, if any, else the rules), None (the rules alone) or a loaded
    `triage.tagging.learning.model.LearnedModel`.
    """
    evidence = [analyse(t) for t in texts]
    learned = _resolve(model)
    if learned is None or not evidence:
        return [e.tags for e in evidence]
    return learned.tag(evidence)


def _resolve(model: Model) -> LearnedModel | None:
    """The model to tag with; None: the rules."""
    if model is None or isinstance(model, LearnedModel):
        return model
    return active_model()  # ACTIVE


def _parse_line(line: str, lineno: int) -> tuple[object, str | None, str | None]:
    """Return (id, text, None) for a good record or (id or None, None, error message)."""
    rec_id = None
    try:
        rec = json.loads(line)
        if not isinstance(rec, dict):
            raise ValueError("line is not a JSON object")
        rec_id = rec.get("id")
        text = rec.get("text")
        if not isinstance(text, str):
            raise ValueError('missing "text" string' if text is None else '"text" is not a string')
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; deep nesting recurses
        if isinstance(exc, json.JSONDecodeError):
            why = f"invalid JSON ({exc.msg})"
        else:
            why = str(exc) if isinstance(exc, ValueError) else "invalid JSON (nested too deeply)"
        return rec_id, None, f"line {lineno}: {why}"
    return rec_id, text, None


def classify_jsonl(lines: Iterable[str], out: TextIO, *, model: Model = ACTIVE, batch_size: int = JSONL_BATCH) -> int:
    """Classify JSON Lines {"id", "text"} into `out`, one line per record, in order; return the number of bad lines.

    A bad line gets {"id": <id or null>, "error": "..."} and the run goes on; blank lines are not records.
    Records are tagged `batch_size` at a time, which a learned model needs to be fast.
    """
    learned = _resolve(model)  # once: every line of one run gets the same model
    errors = 0
    pending: list[tuple[object, str | None, str | None]] = []

    def flush() -> None:
        tagged = iter(classify_many([text for _, text, _ in pending if text is not None], model=learned))
        for rec_id, _, error in pending:
            record = {"id": rec_id, "error": error} if error else {"id": rec_id, **next(tagged).as_dict()}
            out.write(json.dumps(record) + "\n")
        pending.clear()

    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parsed = _parse_line(line, lineno)
        errors += parsed[2] is not None
        pending.append(parsed)
        if len(pending) >= batch_size:
            flush()
    flush()
    return errors


if __name__ == "__main__":
    # Undecodable bytes become U+FFFD so one bad line cannot abort the whole batch.
    sys.stdin.reconfigure(errors="replace")  # type: ignore[union-attr]
    classify_jsonl(sys.stdin, sys.stdout, batch_size=1 if sys.stdin.isatty() else JSONL_BATCH)
