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


SOURCE_FIELDS = ("source_name", "kind", "config", "brand_handles")


def queued_mention(db, text: str = "@northwind my order arrived broken, I want a refund", **overrides) -> Mention:
    """One mention; `source_name`, `kind`, `config` and `brand_handles` describe its source, the rest the post."""
    source = {k: overrides.pop(k) for k in SOURCE_FIELDS if k in overrides}
    return queued_mentions(db, record(text=text, **overrides), **source)[0]
