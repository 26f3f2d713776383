"""Labelled examples: what one is, the tasks a label answers, and reading them from a labelled file.

A labelled file is JSON Lines {"text", "sentiment"?, "intent"?} or a CSV with such columns; the first bad line
refuses the whole file.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from triage.core.vocabulary import INTENTS, SENTIMENTS

TASKS: dict[str, tuple[str, ...]] = {"sentiment": SENTIMENTS, "intent": INTENTS}


class LabelFileError(ValueError):
    """A labelled file that cannot be used; the message names the line."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text; either label may be missing."""

    text: str
    sentiment: str | None = None
    intent: str | None = None


def label_counts(examples: Sequence[Example]) -> dict[str, dict[str, int]]:
    """Per task, how many of the examples carry each of its classes."""
    counts = {}
    for task, classes in TASKS.items():
        seen = Counter(getattr(e, task) for e in examples if getattr(e, task) is not None)
        counts[task] = {c: seen.get(c, 0) for c in classes}
    return counts


def _example(rec: dict[str, Any], where: str) -> Example:
    """A record {"text", "sentiment"?, "intent"?} checked: a text, and at least one label from its task's classes."""
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise LabelFileError(f'{where}: missing "text" string' if text is None else f'{where}: "text" must be a '
                             "non-empty string")
    labels: dict[str, str] = {}
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


def _csv_examples(lines: Iterable[str], name: str) -> Iterator[Example]:
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
        rec: dict[str, Any] = {c: row[i] for c, i in columns.items()}
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
