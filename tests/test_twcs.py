"""Real data: customer posts to 76 brands and the brands' replies (../shared/data/twcs_sample.csv).

The file is imported the way a lead would (customer posts become mentions, the brands' replies their
responses), and the report's median first-response time must equal one computed from the file alone.
The file is read from ../shared/data and never copied into the repository.
"""
from __future__ import annotations

import csv
import json
import statistics
from datetime import datetime

import pytest
from sqlalchemy import func, select

from tests.conftest import DATA
from triage.db import session_factory
from triage.intake import ingest
from triage.intake.importer import import_stream
from triage.models import Delivery, Mention, Response
from triage.reporting import reports
from triage.reporting.filters import Filters

TWCS = DATA / "twcs_sample.csv"
pytestmark = pytest.mark.skipif(not TWCS.exists(), reason=f"{TWCS} is absent: the real-data check needs it "
                                                           "(the shared data folder beside the project)")


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")


def _tweets() -> list[dict]:
    """The file's tweets; a fragment left by a broken line in the export (no author, no time) is not one."""
    with TWCS.open(encoding="utf-8", newline="") as f:
        return [r for r in csv.DictReader(f) if r["inbound"] in ("True", "False") and r["created_at"]]


def _reply_target(row: dict) -> str | None:
    value = row["in_response_to_tweet_id"]
    return str(int(float(value))) if value else None


def independent_median(tweets: list[dict]) -> tuple[float, int, int]:
    """(median seconds to the brand's first reply, customer posts, answered ones), from the file alone."""
    posted = {r["tweet_id"]: _time(r["created_at"]) for r in tweets if r["inbound"] == "True"}
    first: dict[str, float] = {}
    for r in tweets:
        target = _reply_target(r)
        if r["inbound"] == "False" and target in posted:
            seconds = (_time(r["created_at"]) - posted[target]).total_seconds()
            first[target] = min(first.get(target, seconds), seconds)
    return statistics.median(first.values()), len(posted), len(first)


def test_the_report_median_first_response_matches_the_file(db, make_source, settings, tmp_path):
    tweets = _tweets()
    brands = sorted({r["author_id"].lower() for r in tweets if r["inbound"] == "False"})
    assert len(brands) == 76
    source = make_source("Customer Support on Twitter", brand_handles=brands)
    export = tmp_path / "twcs.jsonl"
    with export.open("w", encoding="utf-8") as f:
        for r in tweets:
            f.write(json.dumps({"id": r["tweet_id"], "network": "x", "text": r["text"], "author": r["author_id"],
                                "posted_at": _time(r["created_at"]).isoformat(),
                                "in_reply_to": _reply_target(r)}) + "\n")
    # One delivery for the whole file: a brand reply is matched to the post it answers whichever comes first.
    with export.open("rb") as stream:
        summary = import_stream(session_factory(settings.database_url), source.id, stream, export.name,
                                batch_size=len(tweets))
    assert summary.errors == [] and summary.accepted == len(tweets)
    for delivery_id in summary.delivery_ids:
        ingest.process_delivery(db, delivery_id)
    db.commit()
    assert db.scalar(select(func.count()).select_from(Delivery).where(Delivery.processed_at.is_(None))) == 0

    median, posts, answered = independent_median(tweets)
    assert db.scalar(select(func.count()).select_from(Mention)) == posts
    assert db.scalar(select(func.count(func.distinct(Response.mention_id)))) == answered

    posted = [_time(r["created_at"]) for r in tweets if r["inbound"] == "True"]
    f = Filters(since=min(posted).date(), until=max(posted).date())
    figures = reports.report(db, f)["summary"]
    print(f"twcs: {posts:,} customer posts, {answered:,} answered by the brand; median first response "
          f"{median:.0f} s in the file, {figures['first_response_seconds']['median']} s in the report")
    assert (figures["mentions"], figures["answered"]) == (posts, answered)
    assert figures["first_response_seconds"]["median"] == pytest.approx(median, abs=0.05)
    assert figures["clock_started_at_ingest"] == 0  # every tweet has its time
