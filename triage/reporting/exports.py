"""Reports as files: any table of a report or its items as CSV, and the whole report as JSON (`triage report`).

Cells are written for spreadsheets: times in UTC ISO form, and a text that a spreadsheet would run as a
formula starts with an apostrophe (people's posts are untrusted).
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from triage.reporting.facts import WORKLOAD_ACTIONS
from triage.reporting.filters import DIMENSIONS, SLA_STATES, Filters, ReportError
from triage.reporting.items import ITEM_COLUMNS, items

FIGURE_COLUMNS = ("mentions", "answered", "resolved", "first_response_median_s", "first_response_p90_s",
                  "resolution_median_s", "resolution_p90_s", "first_response_sla_met", "first_response_sla_missed",
                  "first_response_sla_pending", "first_response_sla_attainment_pct", "resolution_sla_met",
                  "resolution_sla_missed", "resolution_sla_pending", "resolution_sla_attainment_pct",
                  "clock_started_at_ingest")
TABLES = DIMENSIONS + ("summary", "volume", "backlog", "workload")


def _flat(figures: dict[str, Any]) -> list[Any]:
    fr, res = figures["first_response_seconds"], figures["resolution_seconds"]
    sla = figures["sla"]
    return [figures["mentions"], figures["answered"], figures["resolved"], fr["median"], fr["p90"], res["median"],
            res["p90"], *[sla["first_response"][s] for s in SLA_STATES], figures["sla_attainment"],
            *[sla["resolution"][s] for s in SLA_STATES], figures["resolution_sla_attainment"],
            figures["clock_started_at_ingest"]]


def table_rows(data: dict[str, Any], table: str) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of one table of a report, as exported."""
    if table == "summary":
        return ["since", "until", *FIGURE_COLUMNS], [[data["since"], data["until"], *_flat(data["summary"])]]
    if table in DIMENSIONS:
        return ([table, "filter_value", *FIGURE_COLUMNS],
                [[r["label"], r["value"], *_flat(r)] for r in data["by"][table]])
    if table == "volume":
        intents, sentiments = data["volume"]["intent"], data["volume"]["sentiment"]
        header = ["day", *[f"intent_{s}" for s in intents["series"]],
                  *[f"sentiment_{s}" for s in sentiments["series"]]]
        rows = [[a["day"], *[a["counts"][s] for s in intents["series"]],
                 *[b["counts"][s] for s in sentiments["series"]]]
                for a, b in zip(intents["days"], sentiments["days"], strict=True)]
        return header, rows
    if table == "backlog":
        return ["day", "open_at_end_of_day", "arrived", "closed"], [
            [r["day"], r["open"], r["arrived"], r["closed"]] for r in data["backlog"]]
    if table == "workload":
        keys = ["label", "username", "team", "items", "answered", "first_response_median", "breached",
                *WORKLOAD_ACTIONS, "holding", "owning"]
        header = ["agent", "username", "team", "items", "answered", "first_response_median_s",
                  "first_response_sla_missed", *[f"{k}_in_range" for k in WORKLOAD_ACTIONS], "holding_now",
                  "owning_open_now"]
        return header, [[r[k] for k in keys] for r in data["workload"]]
    raise ReportError(f"there is no table '{table}'; tables are {', '.join(TABLES)}")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.1f}" if value != int(value) else str(int(value))
    text = str(value)
    # A cell a spreadsheet would run as a formula starts with an apostrophe (people's posts are untrusted).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(header: list[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """CSV text, a line at a time (for streaming responses)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(v) for v in row])
        yield buffer.getvalue()


def items_csv(session: Session, f: Filters, *, now: datetime | None = None) -> Iterator[str]:
    """Every item behind the report's filters, with every timestamp."""
    rows = ([item[c] for c in ITEM_COLUMNS] for item in items(session, f, now=now, limit=None))
    return csv_lines(list(ITEM_COLUMNS), rows)


def report_csv(data: dict[str, Any]) -> Iterator[str]:
    """The summary and every by-dimension table in one CSV (`triage report --format csv`)."""
    rows = [["all", "", "", *_flat(data["summary"])]]
    for dimension in DIMENSIONS:
        rows += [[dimension, r["label"], r["value"], *_flat(r)] for r in data["by"][dimension]]
    return csv_lines(["table", "group", "filter_value", *FIGURE_COLUMNS], rows)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def to_json(data: dict[str, Any]) -> dict[str, Any]:
    """The report as JSON-ready values (dates as ISO strings)."""
    out = {"since": data["since"], "until": data["until"], "filters": data["filters"], **data["summary"],
           "by": data["by"], "volume": data["volume"], "backlog": data["backlog"], "workload": data["workload"],
           "generated_at": data["generated_at"], "percentiles_estimated": data["estimated"]}
    return {k: _plain(v) for k, v in out.items()}


__all__ = ["FIGURE_COLUMNS", "TABLES", "csv_lines", "items_csv", "report_csv", "table_rows", "to_json"]
