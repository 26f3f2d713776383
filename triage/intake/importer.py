"""Read CSV or JSON Lines exports from other tools into raw records, naming the row of every error."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from triage.intake import ingest
from triage.intake.posts import REQUIRED_FIELDS
from triage.models import Source

FIELDS = REQUIRED_FIELDS + ("author_name", "author_followers", "posted_at", "url", "in_reply_to", "language")
MAX_LINE_BYTES = 1_000_000
csv.field_size_limit(MAX_LINE_BYTES)


class ImportFileError(ValueError):
    """The file as a whole cannot be read (wrong format, missing columns): nothing is imported."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # where a person finds it in the file (1-based)
    record: dict[str, Any] | None
    error: str | None = None


def detect_format(name: str, head: bytes) -> str:
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "jsonl" if head.lstrip()[:1] == b"{" else "csv"


def read_rows(stream: IO[bytes], name: str = "") -> Iterator[Row]:
    """Rows of a CSV (with a header) or JSON Lines file; a broken row becomes a Row with an error."""
    head = stream.peek(512)[:512] if hasattr(stream, "peek") else b""
    fmt = detect_format(name, head)
    return _jsonl_rows(stream) if fmt == "jsonl" else _csv_rows(stream)


def _jsonl_rows(stream: IO[bytes]) -> Iterator[Row]:
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:
            yield Row(number, None, f"line is {len(raw):,} bytes, more than {MAX_LINE_BYTES:,}")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Row(number, None, f"not valid UTF-8 (byte {exc.start})")
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Row(number, None, f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        except RecursionError:  # the parser recurses per level; no post is nested this deep
            yield Row(number, None, "not valid JSON: nested too deeply")
            continue
        if not isinstance(record, dict):
            yield Row(number, None, "a line must hold one JSON object")
            continue
        yield Row(number, record)


def _csv_rows(stream: IO[bytes]) -> Iterator[Row]:
    # surrogateescape keeps a row with bad bytes readable, so only that row is refused.
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    try:
        yield from _csv_records(csv.DictReader(text))
    finally:
        text.detach()  # the caller owns the byte stream and closes it


def _csv_records(reader: csv.DictReader[str]) -> Iterator[Row]:
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ImportFileError("the CSV file is empty")
    missing = [f for f in REQUIRED_FIELDS if f not in header]
    if missing:
        raise ImportFileError(f"the CSV header lacks column(s) {', '.join(missing)} "
                              f"(it has: {', '.join(h for h in header if h)[:200]})")
    reader.fieldnames = header
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Row(reader.line_num, None, f"unreadable CSV: {exc}")
            continue
        if any(isinstance(v, str) and _has_surrogates(v) for v in values.values()):
            yield Row(reader.line_num, None, "not valid UTF-8")
            continue
        if None in values:
            yield Row(reader.line_num, None, "more fields than the header has columns")
            continue
        yield Row(reader.line_num, {k: v for k, v in values.items() if k in FIELDS and v not in (None, "")})


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


@dataclass
class ImportSummary:
    delivery_ids: list[int]
    accepted: int
    errors: list[str]  # "line N: message"


def import_stream(session_factory: Callable[[], Session], source_id: int, stream: IO[bytes], name: str = "", *,
                  batch_size: int = 500, on_batch: Callable[[list[int]], object] | None = None) -> ImportSummary:
    """Keep the file's valid rows as deliveries, one committed transaction per batch.

    `on_batch(delivery_ids)` is called after each commit (the caller enqueues them), so a huge file
    starts flowing into the queues before it is read to the end.
    """
    summary = ImportSummary([], 0, [])
    batch: list[Row] = []

    def flush() -> None:
        with session_factory() as session, session.begin():
            source = session.get(Source, source_id)
            if source is None:
                raise ImportFileError(f"there is no source {source_id} to import into")
            receipt = ingest.receive(session, source, [r.record for r in batch], batch_size=batch_size)
        summary.accepted += receipt.accepted
        summary.delivery_ids += receipt.delivery_ids
        summary.errors.extend(f"line {batch[e['index']].line}: {e['error']}" for e in receipt.errors)
        if on_batch and receipt.delivery_ids:
            on_batch(receipt.delivery_ids)
        batch.clear()

    for row in read_rows(stream, name):
        if row.error:
            summary.errors.append(f"line {row.line}: {row.error}")
            continue
        batch.append(row)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return summary
