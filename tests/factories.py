"""Test data: users of each role and mentions that are tagged and queued, through the real ingest."""
from __future__ import annotations

from sqlalchemy import select

from tests.conftest import record
from triage import ingest
from triage.defaults import ensure_source
from triage.models import Mention


def queued_mentions(db, *records_or_texts, source_name: str = "Factory", **source_fields) -> list[Mention]:
    """Ingest posts (texts or records) and return their mentions, tagged and queued, in the given order."""
    source = ensure_source(db, source_name, source_fields.pop("kind", "import"), **source_fields)
    records = [record(text=r) if isinstance(r, str) else r for r in records_or_texts]
    receipt = ingest.receive(db, source, records)
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id)
    db.commit()
    ids = [r["id"] for r in records]
    by_id = {m.external_id: m for m in db.scalars(select(Mention).where(Mention.external_id.in_(ids)))}
    return [by_id[i] for i in ids]


def queued_mention(db, text: str = "@northwind my order arrived broken, I want a refund", **overrides) -> Mention:
    return queued_mentions(db, record(text=text, **overrides))[0]
