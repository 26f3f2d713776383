"""What the brand's other systems know of a customer: import a CSV or JSON Lines export, or take a pushed batch.

Every row is checked at the door (`parse_record`): a bad one is named and skipped, the rest land, upserted on
(system, external_id) set-based, a batch per transaction, each fact keeping where and when it came from. An account
whose handle matches a record's exactly joins the record's customer when that is unambiguous: one that belongs to
another customer is left as a suggestion.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import IO, Any, cast

from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from triage.core.audit import record as audit
from triage.core.errors import Invalid
from triage.core.roles import LEADS, require
from triage.core.vocabulary import NETWORK_RE
from triage.db import utcnow
from triage.intake.posts import clean_text
from triage.models import Author, Customer, CustomerRecord, User

BATCH_SIZE, MAX_LINE_BYTES = 1000, 1_000_000
MAX_WHOLE, MAX_VALUE = 2**62, 1e12  # points and orders fit a BIGINT; a lifetime value past 1e12 is a typo
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
MAX_ATTRIBUTES, MAX_ATTRIBUTE_CHARS, MAX_HANDLES = 50, 1000, 20
FACTS = ("email", "name", "tier", "lifetime_value", "loyalty_points", "orders", "last_order_at")
FIELDS = ("system", "external_id", "handles", "attributes", *FACTS)
STORED = (*FACTS, "handles", "attributes", "provenance")  # what an upsert writes (with `updated_at`)
NETWORK_COLUMNS = ("x", "twitter", "mastodon", "bluesky", "reddit", "instagram", "facebook", "tiktok", "threads")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
csv.field_size_limit(MAX_LINE_BYTES)


class RecordError(ValueError):
    """One row cannot be used; the message says why (as 'file:line: reason' once placed)."""


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    linked: int = 0  # accounts newly linked to a customer
    refused: int = 0  # rows (or items) refused, named in `errors`
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"line" or "index", "error"}
    suggestions: list[dict[str, Any]] = field(default_factory=list)  # {"author_id", "customer_id", "record"}

    def counts(self) -> dict[str, int]:
        return {"added": self.added, "updated": self.updated, "linked": self.linked, "refused": self.refused,
                "suggested": len(self.suggestions)}


# Reading and checking ----------------------------------------------------------------------------------------------
def _text(name: str, value: Any, limit: int, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RecordError(f"missing '{name}'")
        return None
    if not isinstance(value, str):
        raise RecordError(f"'{name}' must be text")
    cleaned = clean_text(value.encode("utf-8", "replace").decode("utf-8"))  # a lone surrogate cannot be stored
    if not cleaned and required:
        raise RecordError(f"'{name}' is empty")
    if len(cleaned) > limit:
        raise RecordError(f"'{name}' is {len(cleaned):,} characters, more than the {limit:,} allowed")
    return cleaned or None


def _number(name: str, value: Any, *, whole: bool) -> float | int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str):
            value = value.strip().replace(",", "")
            value = int(value) if whole and value.lstrip("-").isdigit() else float(value)
    except ValueError:
        raise RecordError(f"'{name}' is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float)
                                                                         and not math.isfinite(value)):
        raise RecordError(f"'{name}' must be a finite number")
    if whole and value != int(value):
        raise RecordError(f"'{name}' must be a whole number")
    low, high = (0, MAX_WHOLE) if whole else (-MAX_VALUE, MAX_VALUE)
    if not low <= value <= high:
        raise RecordError(f"'{name}' must be between {low:,.0f} and {high:,.0f}")
    return int(value) if whole else float(value)


def _when(value: Any, now: datetime) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))  # not a string: AttributeError
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError, AttributeError):
        raise RecordError(f"'last_order_at' '{str(value)[:40]}' is not an ISO 8601 time") from None
    if not EARLIEST <= parsed <= now + timedelta(days=1):
        raise RecordError(f"'last_order_at' {parsed.date()} is not between 1990 and tomorrow")
    return parsed


def _json_object(name: str, value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise RecordError(f"'{name}' is not a JSON object") from None
    if not isinstance(value, dict):
        raise RecordError(f"'{name}' must be a JSON object")
    return value


def _handles(value: Any) -> dict[str, str]:
    handles: dict[str, str] = {}
    raw = _json_object("handles", value)
    if len(raw) > MAX_HANDLES:
        raise RecordError(f"at most {MAX_HANDLES} handles")
    for network, handle in raw.items():
        if not isinstance(network, str) or not NETWORK_RE.match(network):
            raise RecordError(f"'{str(network)[:40]}' is not a network name (a-z, 0-9, _ . -)")
        cleaned = (_text(f"handles.{network}", handle, 201) or "").lstrip("@").strip().lower()  # as authors are
        if len(cleaned) > 200:
            raise RecordError(f"'handles.{network}' is more than 200 characters")
        if cleaned:
            handles[network] = cleaned
    return handles


def _attributes(value: Any) -> dict[str, Any]:
    raw = _json_object("attributes", value)
    if len(raw) > MAX_ATTRIBUTES:
        raise RecordError(f"at most {MAX_ATTRIBUTES} attributes")
    out: dict[str, Any] = {}
    for key, item in raw.items():
        name = _text("attribute name", key, 64, required=True) or "?"  # `required`: never None
        if isinstance(item, str):
            item = _text(f"attributes.{name}", item, MAX_ATTRIBUTE_CHARS)
        elif isinstance(item, (int, float)) and not isinstance(item, bool) and not abs(item) <= 2**53:
            raise RecordError(f"'attributes.{name}' is out of range")  # NaN and infinity are out of it too
        elif not (item is None or isinstance(item, (bool, int, float))):
            raise RecordError(f"'attributes.{name}' must be text, a number, true/false or null")
        out[name] = item
    return out


def parse_record(raw: Any, *, system: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """One record checked and cleaned into the columns it will land in; raises `RecordError` saying why not."""
    if not isinstance(raw, dict):
        raise RecordError("a record must be a JSON object")
    unknown = sorted(str(k)[:40] for k in raw if k not in FIELDS)
    if unknown:
        raise RecordError(f"unknown field(s) {', '.join(unknown[:5])} (known: {', '.join(FIELDS)})")
    ident = raw.get("external_id")
    ident = str(ident) if isinstance(ident, int) and not isinstance(ident, bool) else ident
    row: dict[str, Any] = {
        "system": _text("system", raw.get("system") or system, 64, required=True),
        "external_id": _text("external_id", ident, 200, required=True),
        "name": _text("name", raw.get("name"), 200), "tier": _text("tier", raw.get("tier"), 64),
        "lifetime_value": _number("lifetime_value", raw.get("lifetime_value"), whole=False),
        "loyalty_points": _number("loyalty_points", raw.get("loyalty_points"), whole=True),
        "orders": _number("orders", raw.get("orders"), whole=True),
        "last_order_at": _when(raw.get("last_order_at"), now or utcnow()),
        "handles": _handles(raw.get("handles")), "attributes": _attributes(raw.get("attributes")),
    }
    row["email"] = _text("email", raw.get("email"), 320)
    if row["email"] is not None and not EMAIL_RE.match(row["email"]):
        raise RecordError(f"'email' '{row['email'][:60]}' is not an e-mail address")
    row["email"] = row["email"] and row["email"].lower()
    return row


Row = tuple[int, Any]  # a line of the file and its raw record, or the RecordError that refused it


def read_rows(stream: IO[bytes], name: str = "") -> Iterator[Row]:
    """Raw records of a CSV (with a header; see `_from_columns`) or JSON Lines file."""
    head = stream.peek(512)[:512] if hasattr(stream, "peek") else b""
    jsonl = name.lower().endswith((".jsonl", ".ndjson", ".json")) or (
        not name.lower().endswith(".csv") and head.lstrip()[:1] == b"{")
    return _jsonl_rows(stream) if jsonl else _csv_rows(stream)


def _jsonl_rows(stream: IO[bytes]) -> Iterator[Row]:
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            yield number, (json.loads(raw.decode("utf-8")) if len(raw) <= MAX_LINE_BYTES
                           else RecordError(f"line is more than {MAX_LINE_BYTES:,} bytes"))
        except UnicodeDecodeError:
            yield number, RecordError("not valid UTF-8")
        except (ValueError, RecursionError):  # a JSONDecodeError, or an integer past Python's digit limit
            yield number, RecordError("not valid JSON")


def _csv_rows(stream: IO[bytes]) -> Iterator[Row]:
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    try:
        reader = csv.DictReader(text)
        header = [h.strip().lstrip("\ufeff") for h in (reader.fieldnames or [])]
        if "external_id" not in header:
            raise Invalid("the CSV header must name an 'external_id' column")
        reader.fieldnames = header
        while True:
            try:
                row: Any = _from_columns(next(reader))
            except StopIteration:
                return
            except (csv.Error, RecordError) as exc:
                row = exc if isinstance(exc, RecordError) else RecordError(f"unreadable CSV: {exc}")
            yield reader.line_num, row
    finally:
        text.detach()  # the caller owns the byte stream


def _from_columns(values: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a record: network columns (x, mastodon...) are handles, unknown ones attributes."""
    record: dict[str, Any] = {}
    handles: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    if None in values:
        raise RecordError("more fields than the header has columns")
    if any("\ufffd" in (v or "") for v in values.values()):
        raise RecordError("not valid UTF-8")
    for column, value in values.items():
        if value is None or value == "":
            continue
        if column in FIELDS:
            record[column] = value
        elif column.lower() in NETWORK_COLUMNS:
            handles[column.lower()] = value
        elif column:
            attributes[column] = value
    for fact, extra in (("handles", handles), ("attributes", attributes)):
        if extra:
            record[fact] = {**_json_object(fact, record.get(fact)), **extra}
    return record


# Storing -----------------------------------------------------------------------------------------------------------
def _merge(old: dict[str, Any] | None, new: dict[str, Any], origin: str, at: str) -> dict[str, Any]:
    """`new`'s facts over `old`'s; a fact the row leaves empty keeps what the system said before."""
    merged = dict(old or {"handles": {}, "attributes": {}, "provenance": {}})
    merged["provenance"] = dict(merged.get("provenance") or {})
    for fact in (*FACTS, "handles", "attributes"):
        if new[fact] is not None and new[fact] != {}:
            merged[fact] = {**(merged.get(fact) or {}), **new[fact]} if isinstance(new[fact], dict) else new[fact]
            merged["provenance"][fact] = {"from": origin, "at": at}
    return merged


def store_batch(session: Session, rows: list[dict[str, Any]], origin: str, result: ImportResult, *,
                now: datetime) -> None:
    """Upsert checked rows on (system, external_id) in one statement, then link matching accounts (caller commits)."""
    table = cast(Table, CustomerRecord.__table__)
    keys = list(dict.fromkeys((r["system"], r["external_id"]) for r in rows))
    known = {(r.system, r.external_id): {c: getattr(r, c) for c in STORED}
             for r in session.execute(select(table).where(tuple_(table.c.system, table.c.external_id).in_(keys)))}
    pending: dict[tuple[str, str], dict[str, Any]] = {}
    at = now.isoformat()
    for row in rows:
        key = (row["system"], row["external_id"])
        pending[key] = _merge(pending.get(key) or known.get(key), row, origin, at)
    result.added += sum(1 for k in pending if k not in known)
    result.updated += sum(1 for k in pending if k in known)
    values = [{"system": s, "external_id": e, **{c: v.get(c) for c in STORED}, "created_at": now, "updated_at": now}
              for (s, e), v in sorted(pending.items())]  # a fixed order keeps concurrent upserts from deadlocking
    insert = (postgresql.insert(table) if session.get_bind().dialect.name == "postgresql" else sqlite.insert(table))
    updated = {c: insert.excluded[c] for c in (*STORED, "updated_at")}
    session.connection().execute(insert.on_conflict_do_update(index_elements=["system", "external_id"],
                                                              set_=updated), values)
    _link(session, [(k, v["handles"]) for k, v in pending.items() if v.get("handles")], result, now=now)


def _link(session: Session, handled: list[tuple[tuple[str, str], dict[str, str]]], result: ImportResult, *,
          now: datetime) -> None:
    """Each record's customer takes the accounts whose handle matches exactly, when that is unambiguous."""
    if not handled:
        return
    wanted = sorted({(n, h) for _, handles in handled for n, h in handles.items()})
    authors: dict[tuple[str, str], Author] = {}
    for start in range(0, len(wanted), 500):
        for author in session.scalars(select(Author).where(
                tuple_(Author.network, Author.handle).in_(wanted[start:start + 500]))):
            authors[(author.network, author.handle)] = author
    if not authors:
        return
    records = {(r.system, r.external_id): r for r in session.scalars(select(CustomerRecord).where(
        tuple_(CustomerRecord.system, CustomerRecord.external_id).in_([k for k, _ in handled])))}
    for key, handles in handled:
        matched = [authors[(n, h)] for n, h in sorted(handles.items()) if (n, h) in authors]
        record = records.get(key)
        if not matched or record is None:
            continue
        theirs = {a.customer_id for a in matched if a.customer_id is not None}
        customer_id = record.customer_id or (next(iter(theirs)) if len(theirs) == 1 else None)
        if customer_id is None and theirs:  # the accounts belong to different customers: a person decides
            result.suggestions += [{"author_id": a.id, "customer_id": a.customer_id, "record": list(key)}
                                   for a in matched]
            continue
        if customer_id is None:
            customer = Customer(display_name=record.name or matched[0].display_name or matched[0].handle,
                                created_at=now)
            session.add(customer)
            session.flush()
            customer_id = customer.id
        record.customer_id = customer_id
        for author in matched:
            if author.customer_id is None:
                author.customer_id = customer_id
                result.linked += 1
            elif author.customer_id != customer_id:
                result.suggestions.append({"author_id": author.id, "customer_id": customer_id, "record": list(key)})
    session.flush()


# The doors: a file, a push -----------------------------------------------------------------------------------------
def import_file(session_factory: Callable[[], Session], actor: User | None, stream: IO[bytes], name: str, *,
                system: str | None = None, batch_size: int = BATCH_SIZE,
                on_rows: Callable[[int], object] | None = None) -> ImportResult:
    """Import a file, one committed transaction per batch (a failing one is reported, the others stand), then audit.

    `on_rows(n)` is called as rows are read (a progress bar)."""
    require(actor, LEADS, "import customer records")
    result, now = ImportResult(), utcnow()
    batch: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
        saved = replace(result, suggestions=list(result.suggestions), errors=result.errors)
        try:
            with session_factory() as session, session.begin():
                store_batch(session, [r for _, r in batch], name, result, now=now)
        except Exception as exc:  # noqa: BLE001 - the batch is rolled back and named; the import goes on
            result.added, result.updated, result.linked = saved.added, saved.updated, saved.linked
            result.suggestions, result.refused = saved.suggestions, saved.refused + len(batch)
            result.errors.append({"line": batch[0][0], "error": f"{name}:{batch[0][0]}-{batch[-1][0]}: this batch "
                                  f"was not stored ({type(exc).__name__}); the others were"})
        batch.clear()

    for line, raw in read_rows(stream, name):
        if on_rows:
            on_rows(1)
        try:
            if isinstance(raw, RecordError):
                raise raw
            batch.append((line, parse_record(raw, system=system, now=now)))
        except RecordError as exc:
            result.refused += 1
            result.errors.append({"line": line, "error": f"{name}:{line}: {exc}"})
            continue
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    with session_factory() as session, session.begin():
        _audit(session, actor, system, name, result)
    return result


def push(session: Session, actor: User | None, items: Iterable[Any], *, system: str | None = None,
         batch_size: int = BATCH_SIZE) -> ImportResult:
    """Records pushed through the API, in the caller's transaction (the caller commits); errors by index."""
    require(actor, LEADS, "push customer records")
    result, now = ImportResult(), utcnow()
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            rows.append(parse_record(item, system=system, now=now))
        except RecordError as exc:
            result.refused += 1
            result.errors.append({"index": index, "error": str(exc)})
    for start in range(0, len(rows), batch_size):
        store_batch(session, rows[start:start + batch_size], "api", result, now=now)
    _audit(session, actor, system, "api", result)
    return result


def _audit(session: Session, actor: User | None, system: str | None, origin: str, result: ImportResult) -> None:
    counts: dict[str, Any] = result.counts()
    audit(session, actor, "customers imported",
          f"customer records from {origin[:200]}: {counts['added']} added, {counts['updated']} updated, "
          f"{counts['linked']} accounts linked, {counts['refused']} refused",
          system=system, file=origin[:200], **counts, suggestions=result.suggestions[:50])


__all__ = ["ImportResult", "RecordError", "import_file", "parse_record", "push", "read_rows", "store_batch"]
