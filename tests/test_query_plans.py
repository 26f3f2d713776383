"""The queue page and claim-next read their order straight off partial indexes, on both backends,
so their cost does not grow with the history kept in the database (the benchmark measures it)."""
from __future__ import annotations

from sqlalchemy import text

from triage.db import is_postgres
from triage.models import Mention, User
from triage.work import queues as reads


def _plan(db, query) -> str:
    compiled = query.compile(dialect=db.get_bind().dialect, compile_kwargs={"literal_binds": True})
    if not is_postgres(db):
        rows = db.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        return "\n".join(str(r[-1]) for r in rows)
    # Tiny test tables: ask whether an index path gives this order, as the planner prefers at scale.
    for knob in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
        db.execute(text(f"SET LOCAL {knob} = off"))
    plan = "\n".join(r[0] for r in db.execute(text(f"EXPLAIN {compiled}")))
    db.rollback()
    return plan


def test_queue_page_reads_the_workable_ranking_index_without_sorting(db):
    from sqlalchemy import select

    query = reads.ordered(select(Mention.id).where(Mention.queue_id == 1, reads.IS_WORKABLE)).limit(50)
    plan = _plan(db, query)
    assert "ix_mentions_queue_rank" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_claim_next_reads_the_claimable_index_without_sorting(db):
    from sqlalchemy import select

    query = (select(Mention.id).where(Mention.queue_id == 1, reads.IS_CLAIMABLE)
             .order_by(Mention.priority.desc(), Mention.posted_at, Mention.id).limit(1))
    plan = _plan(db, query)
    assert "ix_mentions_claimable" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_all_open_list_reads_the_ranking_index(db):
    from sqlalchemy import select

    query = reads.ordered(select(Mention.id).where(reads.IS_WORKABLE)).limit(50)
    plan = _plan(db, query)
    assert "ix_mentions_rank" in plan and "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_counts_stop_at_the_cap(db, make_user):
    from tests.conftest import record
    from tests.factories import queued_mentions

    queued_mentions(db, *[record(text=f"@northwind how do I change seat {n}?") for n in range(5)])
    user = db.get(User, make_user("alex").id)
    assert reads.capped_count(db, reads.IS_WORKABLE, cap=3) == 3
    assert reads.view_counts(db, user)["all"] == 5
